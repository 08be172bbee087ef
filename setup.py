"""Build the Cython kernels: every kernels/*.pyx becomes multiscale._kernels.<name>.

OpenMP is used when the compiler accepts -fopenmp; otherwise a serial build is made
(prange then runs on one thread). MSIM_CYTHON_DEBUG=1 turns bounds checks on.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup


def _has_openmp() -> bool:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc.split()[0]) is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "t.c"
        src.write_text("#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n")
        r = subprocess.run([*cc.split(), "-fopenmp", str(src), "-o", str(Path(tmp) / "t")],
                           capture_output=True)
        return r.returncode == 0


DEBUG = os.environ.get("MSIM_CYTHON_DEBUG", "0") == "1"
OPENMP = os.environ.get("MSIM_NO_OPENMP", "0") != "1" and _has_openmp()
if not OPENMP:
    print("msim: building kernels WITHOUT OpenMP (serial)", file=sys.stderr)

flags = ["-O3"] + (["-fopenmp"] if OPENMP else [])
extensions = [
    Extension(
        f"multiscale._kernels.{pyx.stem}",
        [str(pyx)],
        include_dirs=[numpy.get_include(), "kernels"],
        extra_compile_args=flags,
        extra_link_args=["-fopenmp"] if OPENMP else [],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for pyx in sorted(Path("kernels").glob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["kernels"],
        compiler_directives={
            "language_level": 3,
            "boundscheck": DEBUG,
            "wraparound": DEBUG,
            "initializedcheck": DEBUG,
            "cdivision": not DEBUG,
        },
        quiet=True,
    ),
)
