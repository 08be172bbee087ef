"""Periodic cells evaluated by an external engine: the energy and stress of a homogeneously deformed
crystal, for the Cauchy–Born continuum of an engine potential (`multiscale.fem.materials.cauchy_born_engine`).

A reference cell: an orthogonal box ``A = diag(L)`` (L (d,) the lattice's periods along the lab axes,
`Lattice.periods`) holding the lattice sites X (n, d) in it. For a deformation gradient F (d, d, det > 0)
the deformed cell has the columns of ``H = F A``; it is rotated into the engine's frame by the QR
factorisation ``H = Q R`` (R upper triangular with a positive diagonal): the rotated cell vectors are R's
columns, i.e. LAMMPS's restricted triclinic box (lx = R₀₀, xy = R₀₁, ly = R₁₁, xz = R₀₂, yz = R₁₂,
lz = R₂₂), and the atoms sit at ``Qᵀ F X``. The energy is rotation invariant; the engine's Cauchy stress
σ_rot is rotated back, ``σ = Q σ_rot Qᵀ``.

`energy_stress(F)` -> (E [energy] of the n atoms of the cell, σ (d, d) [energy/length^d], Cauchy stress,
tension positive). 2D cells: LAMMPS ``dimension 2`` (z periodic, unit thickness; only the xy tilt).
"""

from __future__ import annotations

import numpy as np

from .lammps_lib import NKTV2P, OwnsLammpsInstance, new_instance


def reference_cell(lattice, basis: bool = False) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """(L (d,) [length], X (n, d) [length]): the shortest orthogonal periodic box of ``lattice`` (its lab
    periods) and the sites in it. ValueError for a lattice with an irrational orientation (no period)
    or one that is not Bravais (a basis would need inner relaxation, which Cauchy–Born here omits) unless
    ``basis`` (the cell of the sites at their lattice positions: its stress at F = I, `run.summary.
    lattice_prestress`)."""
    if not basis:
        lattice.neighbor_vectors(0.5 * lattice.a)  # ValueError for a lattice with a basis (not Bravais)
    L = lattice.periods()
    if any(p is None for p in L):
        raise ValueError("the lattice orientation has no period along a lab axis: no periodic cell")
    L = np.array(L, float)
    X = lattice.sites_in_box(np.zeros(lattice.dim), L)
    n_expected = float(np.prod(L)) / float(lattice.volume_per_atom)
    if abs(len(X) - n_expected) > 1e-6 * n_expected:
        raise ValueError(f"periodic cell of {len(X)} sites, expected {n_expected:g}")
    return L, np.ascontiguousarray(X)


def rotated_cell(F: np.ndarray, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Q (d, d) rotation, R (d, d) upper triangular, positive diagonal) with F diag(L) = Q R."""
    F = np.asarray(F, float)
    if not np.linalg.det(F) > 0:
        raise ValueError(f"deformation gradient with det F = {np.linalg.det(F):.3g} <= 0")
    Q, R = np.linalg.qr(F * L[None, :])
    s = np.sign(np.diag(R))
    return Q * s[None, :], R * s[:, None]


class LammpsCell(OwnsLammpsInstance):
    """One persistent LAMMPS instance holding the periodic cell (see the module docstring).

    units : LAMMPS unit system;  pair_lines : ``pair_style`` / ``pair_coeff`` commands;  ntypes : LAMMPS
    atom types;  L (d,), X (n, d) : reference cell (`reference_cell`);  types : (n,) msim types (0-based)
    """

    def __init__(self, units: str, pair_lines: list[str], ntypes: int, L: np.ndarray, X: np.ndarray,
                 types: np.ndarray | None = None) -> None:
        n, d = X.shape
        if d not in (2, 3):
            raise ValueError(f"a LAMMPS cell needs a 2D or 3D lattice (this one is {d}D)")
        self.units, self.L, self.X, self.n, self.d = units, np.asarray(L, float), X, n, d
        lmp = self.lmp = new_instance()
        zhi = "-0.5 0.5" if d == 2 else f"0 {float(L[2])!r}"
        t = np.zeros(n, dtype=np.int64) if types is None else np.asarray(types, np.int64)
        for c in ["units " + units, "atom_style atomic", "atom_modify map array sort 0 0",
                  f"dimension {d}", "boundary p p p",
                  f"region msim_cell prism 0 {float(L[0])!r} 0 {float(L[1])!r} {zhi} 0 0 0 units box",
                  f"create_box {ntypes} msim_cell"]:
            lmp.command(c)
        x3 = np.zeros((n, 3))
        x3[:, :d] = X
        lmp.create_atoms(n, list(range(1, n + 1)), [int(v) + 1 for v in t], x3.ravel().tolist())
        if lmp.get_natoms() != n:
            raise RuntimeError("LAMMPS lost atoms of the periodic cell")
        lmp.command("mass * 1.0")
        for c in pair_lines:
            lmp.command(c)
        for c in ["neighbor 0.5 bin", "neigh_modify every 1 delay 0 check yes",
                  "compute msim_vir all pressure NULL virial",
                  "thermo_style custom step pe c_msim_vir[1]", "thermo_modify norm no", "run 0"]:
            lmp.command(c)
        self.evaluations = 0

    def energy_stress(self, F: np.ndarray) -> tuple[float, np.ndarray]:
        """(E [energy] of the cell's n atoms, Cauchy stress σ (d, d) [energy/length^d]) at F (d, d)."""
        d, lmp = self.d, self.lmp
        Q, R = rotated_cell(F, self.L)
        hi = np.zeros(3)
        hi[:d] = np.diag(R)
        lo = np.zeros(3)
        if d == 2:
            lo[2], hi[2] = -0.5, 0.5
            xy, yz, xz = float(R[0, 1]), 0.0, 0.0
        else:
            xy, yz, xz = float(R[0, 1]), float(R[1, 2]), float(R[0, 2])
        tilt = f" xy final {xy!r}" + ("" if d == 2 else f" xz final {xz!r} yz final {yz!r}")
        lmp.command("change_box all " + " ".join(f"{ax} final {float(lo[k])!r} {float(hi[k])!r}"
                                                for k, ax in enumerate("xyz"[:d])) + tilt + " units box")
        xv = lmp.numpy.extract_atom("x", nelem=self.n, dim=3)
        ids = lmp.numpy.extract_atom("id", nelem=self.n)
        xr = self.X @ (Q.T @ np.asarray(F, float)).T          # rows: Qᵀ F X
        xv[:, :d] = xr[ids - 1]
        lmp.command("run 0 post no")
        self.evaluations += 1
        E = float(lmp.get_thermo("pe"))
        p = lmp.numpy.extract_compute("msim_vir", 0, 1)      # pxx pyy pzz pxy pxz pyz [pressure]
        P = np.array([[p[0], p[3], p[4]], [p[3], p[1], p[5]], [p[4], p[5], p[2]]])[:d, :d]
        sig_rot = -P / NKTV2P[self.units]
        return E, Q @ sig_rot @ Q.T


class AseCell:
    """The periodic cell as an ``ase.Atoms`` with the calculator attached (3D; any cell shape)."""

    def __init__(self, calc, numbers: np.ndarray, L: np.ndarray, X: np.ndarray) -> None:  # noqa: ANN001
        from ase import Atoms

        n, d = X.shape
        if d != 3:
            raise ValueError("an ASE periodic cell needs a 3D lattice")
        self.L, self.X, self.n, self.d = np.asarray(L, float), X, n, d
        self.atoms = Atoms(numbers=numbers, positions=X, cell=np.diag(self.L), pbc=True)
        self.atoms.calc = calc
        self.evaluations = 0

    def energy_stress(self, F: np.ndarray) -> tuple[float, np.ndarray]:
        """(E [energy], Cauchy stress σ (3, 3) [energy/length³]) at F (3, 3)."""
        F = np.asarray(F, float)
        if not np.linalg.det(F) > 0:
            raise ValueError(f"deformation gradient with det F = {np.linalg.det(F):.3g} <= 0")
        self.atoms.set_cell((F * self.L[None, :]).T, scale_atoms=False)
        self.atoms.set_positions(self.X @ F.T, apply_constraint=False)
        self.evaluations += 1
        E = float(self.atoms.get_potential_energy())
        return E, np.asarray(self.atoms.get_stress(voigt=False), float)

    def close(self) -> None:
        pass
