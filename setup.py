"""Build the Cython kernels: every kernels/*.pyx becomes multiscale._kernels.<name>.

OpenMP is used when the compiler accepts -fopenmp; otherwise a serial build is made
(prange then runs on one thread) and reported: at build time here, at run time by `msim --version` /
`msim validate` (multiscale._kernels.build_report, from kernels/openmp_info.pyx). MSIM_CYTHON_DEBUG=1 turns bounds checks on.
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
if OPENMP:
    print("msim: building kernels with OpenMP (-fopenmp)", file=sys.stderr)
else:
    # allowed (MSIM_NO_OPENMP=1, or a compiler without OpenMP) but reported: `msim --version` prints
    # "built WITHOUT OpenMP" and the thread-count tests fail on such a build.
    print("msim: WARNING: building kernels WITHOUT OpenMP (serial): --threads will have no effect and "
          "the thread tests will fail", file=sys.stderr)

flags = ["-O3"] + (["-fopenmp"] if OPENMP else [])
# The MD pair/EAM kernels carry AVX2 clones (target_clones in kernels/md_pair2d.h): no contraction into
# fused multiply-adds there, so every clone computes bitwise the same numbers; no errno from sqrt/exp so
# that the pair functions vectorise.
MD_FLAGS = ["-ffp-contract=off", "-fno-math-errno"]
MD_DEPENDS = ["kernels/md_pair.pxd", "kernels/md_pair2d.h"]
extensions = [
    Extension(
        f"multiscale._kernels.{pyx.stem}",
        [str(pyx)],
        include_dirs=[numpy.get_include(), "kernels"],
        depends=(MD_DEPENDS if pyx.stem.startswith("pair_") or pyx.stem == "eam"
                 else ["kernels/lu_solve.pxd"] if pyx.stem in ("trisolve", "coupler") else []),
        # handshake_geom, coupler, trisolve, fem_setup: the same roundings as the NumPy/SciPy code they
        # replace (no fused multiply-adds, also with -march flags that enable FMA)
        extra_compile_args=flags + (MD_FLAGS if pyx.stem.startswith("pair_")
                                    or pyx.stem in ("eam", "handshake_geom", "coupler", "trisolve",
                                                    "fem_setup") else []),
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
