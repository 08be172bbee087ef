"""Results that survive and that people can look at.

- `hdf5.ResultsWriter` streams frames / thermo / observables to an HDF5 file that a SIGKILL cannot break;
  `reader.ResultsReader` reads it back (layout in `hdf5.py`'s docstring).
- `checkpoint.save_checkpoint` / `load_checkpoint`: atomic, bitwise checkpoints (RNG states included).
- `xdmf.write_xdmf` (ParaView), `extxyz.write_extxyz` (ASE, OVITO), `vtu.write_vtu` (VTK) exports.
- `progress.Progress`: rich bar / log lines / quiet.
- `commands`: the `inspect`, `plot`, `export` click commands.
"""

from __future__ import annotations

from multiscale.output.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from multiscale.output.hdf5 import ResultsWriter, is_clean, is_live, repair
from multiscale.output.progress import Progress
from multiscale.output.reader import ResultsReader
from multiscale.output.reflection import read_reflection, write_reflection

__all__ = ["ResultsWriter", "ResultsReader", "is_clean", "is_live", "repair",
           "write_reflection", "read_reflection",
           "save_checkpoint", "load_checkpoint", "checkpoint_path", "Progress",
           "write_xdmf", "write_extxyz", "write_vtu"]


def __getattr__(name: str):  # noqa: ANN202 - lazy: the exporters import meshio
    if name == "write_xdmf":
        from multiscale.output.xdmf import write_xdmf
        return write_xdmf
    if name == "write_extxyz":
        from multiscale.output.extxyz import write_extxyz
        return write_extxyz
    if name == "write_vtu":
        from multiscale.output.vtu import write_vtu
        return write_vtu
    raise AttributeError(name)
