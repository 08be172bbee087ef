"""One sample per registered potential (parameters + a suitable spacing) for the registry-driven tests.

A newly registered potential without an entry here makes `test_every_potential_has_a_sample` fail.
"""

from __future__ import annotations

from multiscale.md.potentials import make_potential
from multiscale.units import LJ, METAL

from .refcodes import lammps_potential_dir

#: name -> (params dict, units, nearest-neighbour spacing [length], relative jitter)
SAMPLES = {
    "lj": ({"type": "lj", "truncation": "smooth"}, LJ, 1.12, 0.08),
    "morse": ({"type": "morse", "D": 0.3429, "alpha": 1.3588, "r0": 2.866, "cutoff": 5.0,
               "truncation": "shift"}, METAL, 2.75, 0.06),
    "harmonic": ({"type": "harmonic", "k": 1.0, "r0": 1.0, "cutoff": 1.3}, LJ, 1.0, 0.08),
    "eam": (None, METAL, 2.55, 0.06),   # Cu_u3.eam from the LAMMPS wheel
    "eam_zhou": ({"type": "eam_zhou", "element": "Cu"}, METAL, 2.55, 0.06),
}


def sample_potential(name: str):  # noqa: ANN201
    params, units, a, jitter = SAMPLES[name]
    if name == "eam":
        params = {"type": "eam", "file": str(lammps_potential_dir() / "Cu_u3.eam")}
    return make_potential(params, units), a, jitter
