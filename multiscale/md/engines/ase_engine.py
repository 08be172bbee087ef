"""`AseEngine`: an ASE calculator as the force engine of one msim region (one persistent ``ase.Atoms``
with the calculator attached).

Box: periodic msim axes are periodic cell vectors (diag(hi − lo), positions wrapped into the cell); free
axes are non-periodic (``pbc`` False). 2D regions are embedded at z = 0 with a non-periodic z axis.
Numbers are taken in the deck's units (ASE's eV and Å are msim's ``metal``). Per-atom energies are the
calculator's ``energies`` property; a calculator without it is refused.
"""

from __future__ import annotations

import numpy as np

from ..box import Box


class AseEngine:
    """Forces and per-atom energies of n atoms from an ASE calculator.

    calc : ase Calculator instance (owned by this engine);  box : msim `Box` (d = 2 or 3);
    x : (n, d) initial positions;  numbers : (n,) atomic numbers given to ASE
    """

    def __init__(self, calc, box: Box, x: np.ndarray, numbers: np.ndarray) -> None:  # noqa: ANN001
        from ase import Atoms

        n, d = x.shape
        if d not in (2, 3):
            raise ValueError(f"an ASE calculator needs a 2D or 3D region (this one is {d}D)")
        if "energies" not in getattr(calc, "implemented_properties", ()):
            raise ValueError(f"the ASE calculator {type(calc).__name__} has no per-atom energies "
                             "(`energies`), which msim's energy ledger needs")
        self.n, self.d, self.box = n, d, box
        cell = np.eye(3)
        pbc = [False] * 3
        for k in range(d):
            cell[k, k] = box.hi[k] - box.lo[k]
            pbc[k] = bool(box.periodic[k])
        self._pos = np.zeros((n, 3))
        self._pos[:, :d] = x
        self.atoms = Atoms(numbers=np.asarray(numbers), positions=self._pos, cell=cell, pbc=pbc)
        self.atoms.calc = calc
        self._lo = np.zeros(3)
        self._lo[:d] = box.lo

    def compute(self, x: np.ndarray, forces: np.ndarray, energies: np.ndarray,
                virial: np.ndarray | None = None) -> float:
        """Energy of positions x (n, d); fills forces (n, d), energies (n,), virial (d, d) if given
        (W = −σ V from the calculator's stress, periodic 3D cells only)."""
        d = self.d
        self._pos[:, :d] = self.box.wrap(x) - self._lo[:d]
        self.atoms.set_positions(self._pos, apply_constraint=False)
        E = float(self.atoms.get_potential_energy())
        forces[...] = self.atoms.get_forces()[:, :d]
        energies[...] = self.atoms.get_potential_energies()
        if virial is not None:
            if d != 3 or not all(self.atoms.pbc):
                raise ValueError("a virial from an ASE calculator needs a periodic 3D cell")
            sigma = self.atoms.get_stress(voigt=False)
            virial[...] = -sigma * self.atoms.get_volume()
        return E
