"""Per-atom stress (virial + kinetic), the LAMMPS ``compute stress/atom`` convention.

msim's convention (output field ``stress_atom``), for atom a with mass m_a and velocity v_a::

    S_a = -( m_a v_a (x) v_a  +  W_a ),       W_a = 1/2 sum_b r_ab (x) f_ab     (r_ab = x_a - x_b,
                                                                             f_ab = force on a due to b)

an (n, d*d) array (row-major d x d tensor per atom, the same layout as the nodal ``stress`` field),
in ENERGY units of the deck's unit system (stress x volume: eV in metal units, epsilon in lj units).
``S_a`` is exactly LAMMPS's ``compute stress/atom NULL`` (components xx, yy, zz, xy, xz, yz) divided by
LAMMPS's ``nktv2p`` (1 in lj units, 1.6021765e6 bar Å³/eV in metal units). Sign: positive = tension
(a stretched crystal has S > 0), so sum_a S_a / V is the Cauchy stress sigma = -P of the box.

For EAM the pair force f_ab includes the embedding terms (F'(rho_a) rho'(r) + F'(rho_b) rho'(r)) and
the bond is split half and half between its atoms, as LAMMPS's ``pair eam`` tallies it. The per-atom
virial comes from the potential's own force kernel (the half-list slab loop of ``kernels/md_pair.pxd``
and ``kernels/eam.pyx``, nogil, bitwise independent of the thread count): it is evaluated only when
asked for (at output frames), not in the time step.

Weights: in a coupled run the virial carries the same bond/site weights as the energy (so
sum_a W_a = the region's weighted global virial `AtomisticRegion.compute(virial=True)`) and the kinetic
term uses the dynamical mass (beta_bar_a m_a; 0 for pad atoms). In plain MD all weights are 1.
"""

from __future__ import annotations

import numpy as np


def virial_atoms(region, n_threads: int | None = None) -> np.ndarray:  # noqa: ANN001
    """Per-atom virial W_a (n, d*d) [energy] of ``region.x`` (an `AtomisticRegion`), weights included.

    Uses the region's neighbour list as it is (the one of its last ``compute``, valid for ``region.x``;
    the rebuild policy is not stepped, so asking for stresses never changes a trajectory). Does not
    touch the region's forces or energies.
    """
    n, d = region.x.shape
    if region.nlist.x_build is None:
        region.rebuild()
    W = np.zeros((n, d * d))
    f = np.zeros((n, d))
    e = np.zeros(n)
    kw: dict = {"virial_atoms": W}
    if region.types is not None:
        kw["types"] = region.types
    x = region.nlist.wrapped(region.x)
    nt = region.n_threads if n_threads is None else int(n_threads)
    region.potential.compute(x, region.nlist, region.site_w, region.bond_w, f, e, nt, **kw)
    return W


def kinetic_tensor(mass: np.ndarray, v: np.ndarray) -> np.ndarray:
    """m_a v_a (x) v_a, (n, d*d) [energy] (mass in internal force-mass units, `multiscale.units`)."""
    m = np.asarray(mass, float)
    v = np.asarray(v, float)
    n, d = v.shape
    return (m[:, None, None] * v[:, :, None] * v[:, None, :]).reshape(n, d * d)


def stress_atoms(region, mass: np.ndarray | None = None, n_threads: int | None = None) -> np.ndarray:  # noqa: ANN001
    """S_a = -(m_a v_a (x) v_a + W_a), (n, d*d) [energy] (module docstring: convention, units, sign).

    mass : (n,) dynamical masses [internal]; default ``region.mass``.
    """
    m = region.mass if mass is None else mass
    return -(kinetic_tensor(m, region.v) + virial_atoms(region, n_threads))


def to_voigt(S: np.ndarray) -> np.ndarray:
    """(n, 9) row-major 3D tensors -> (n, 6) in LAMMPS's order xx, yy, zz, xy, xz, yz."""
    S = np.asarray(S, float)
    return S[:, [0, 4, 8, 1, 2, 5]]
