"""`MsimCalculator`: any msim potential as an ASE calculator (energy, free_energy, energies, forces, stress).

    from ase.build import bulk
    from multiscale.ase_calculator import MsimCalculator
    from multiscale.md.potentials import make_potential
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.calc = MsimCalculator(make_potential({"type": "eam_zhou", "element": "Cu"}))

Cells must be orthogonal (msim boxes are axis-aligned; a triclinic cell is refused); non-periodic axes are
free. A periodic cell shorter than 2 (cut-off + skin) along an axis (a small unit cell) is replicated for the
evaluation: energies are divided by the number of copies, forces and per-atom energies taken from the
first copy, the stress (intensive) is the same. Numbers are in the potential's units (metal: eV, Å, eV/Å³,
ASE's own). Stress σ = −W/V with the virial W = Σ_{a<b} r_ab ⊗ f_ab of the potential (ASE's sign: positive in
tension). Types: atomic number -> msim type through ``elements`` (default: one type).
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from .md.box import Box
from .md.neighbors import NeighborList


class MsimCalculator(Calculator):
    """ASE calculator over an msim `Potential` (see the module docstring).

    potential : msim potential object;  skin : neighbour skin [length];  elements : chemical symbols of the
    msim types in order (None: every atom is type 0);  n_threads : kernel threads
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, potential, skin: float = 0.3, elements: list[str] | None = None,  # noqa: ANN001
                 n_threads: int = 1, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        self.potential = potential
        self.skin = float(skin)
        self.elements = elements
        self.n_threads = int(n_threads)

    def _types(self, atoms) -> np.ndarray | None:  # noqa: ANN001
        syms = atoms.get_chemical_symbols()
        if self.elements is None:
            if len(set(syms)) > 1:
                raise ValueError("several elements in the cell: give MsimCalculator(..., elements=[...])")
            return None
        missing = sorted(set(syms) - set(self.elements))
        if missing:
            raise ValueError(f"elements {missing} are not in {self.elements}")
        return np.array([self.elements.index(s) for s in syms], dtype=np.int32)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:  # noqa: ANN001
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        cell = np.asarray(atoms.cell[:], float)
        if np.max(np.abs(cell - np.diag(np.diag(cell)))) > 1e-12 * max(np.max(np.abs(cell)), 1.0):
            raise ValueError("MsimCalculator needs an orthogonal cell (msim boxes are axis-aligned)")
        pbc = np.asarray(atoms.pbc, bool)
        L = np.diag(cell).copy()
        x = np.asarray(atoms.positions, float)
        n = len(x)
        need = 2.0 * (self.potential.cutoff + self.skin)
        reps = np.where(pbc, np.maximum(1, np.ceil(need / np.where(L > 0, L, 1.0) + 1e-12)), 1).astype(int)
        shifts = np.stack(np.meshgrid(*[np.arange(r) for r in reps], indexing="ij"), -1).reshape(-1, 3)
        ncopy = len(shifts)
        X = (x[None, :, :] + (shifts * L)[:, None, :]).reshape(-1, 3)   # copy 0 first
        lo = np.where(pbc, 0.0, X.min(axis=0) - 1.0)
        hi = np.where(pbc, L * reps, X.max(axis=0) + 1.0)
        box = Box(lo, hi, list(pbc))
        nl = NeighborList(box, self.potential.cutoff, self.skin, self.n_threads)
        X = np.ascontiguousarray(box.wrap(X))
        nl.build(X)
        f = np.zeros_like(X)
        e = np.zeros(len(X))
        W = np.zeros((3, 3))
        kw = {}
        types = self._types(atoms)
        if types is not None:
            kw["types"] = np.ascontiguousarray(np.tile(types, ncopy))
        E = self.potential.compute(X, nl, None, None, f, e, self.n_threads, virial=W, **kw)
        self.results["energy"] = self.results["free_energy"] = E / ncopy
        self.results["forces"] = f[:n].copy()
        self.results["energies"] = e[:n].copy()
        if np.all(pbc):
            stress = -W / float(np.prod(L * reps))
            self.results["stress"] = stress.ravel()[[0, 4, 8, 5, 2, 1]]
