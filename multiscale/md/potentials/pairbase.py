"""Shared plumbing of the pair-potential plugins: argument checks and the call into a pair kernel."""

from __future__ import annotations

import numpy as np

from .base import Potential

_EMPTY1 = np.zeros(0)
_EMPTY2 = np.zeros((0, 0))


def kernel_args(x: np.ndarray, nlist, bond_w, forces, energies, virial, virial_atoms=None):  # noqa: ANN001, ANN201
    """Validate shapes and return (x, bond_w_or_empty, per-atom virial scratch or empty (0,0)).

    virial_atoms : optional (n, d*d) C-contiguous output: the per-atom virial is written there
    (`multiscale.md.stress`) instead of into a scratch array."""
    n, d = x.shape
    if forces.shape != (n, d) or energies.shape != (n,):
        raise ValueError(f"forces must be ({n}, {d}) and energies ({n},)")
    if not (forces.flags.c_contiguous and energies.flags.c_contiguous):
        raise ValueError("forces and energies must be C-contiguous")
    if nlist.offsets.size != n + 1:
        raise ValueError("neighbour list was built for a different number of atoms")
    if bond_w is None:
        bw = _EMPTY1
    else:
        bw = np.ascontiguousarray(bond_w, dtype=float)
        if bw.shape != (nlist.n_entries,):
            raise ValueError(f"bond_w must have one weight per neighbour-list entry ({nlist.n_entries})")
    if virial_atoms is not None:
        if virial_atoms.shape != (n, d * d) or not virial_atoms.flags.c_contiguous:
            raise ValueError(f"virial_atoms must be C-contiguous ({n}, {d * d})")
        vir = virial_atoms
    else:
        vir = np.empty((n, d * d)) if virial is not None else _EMPTY2
    return np.ascontiguousarray(x, dtype=float), bw, vir


def finish_virial(vir_atoms: np.ndarray, virial, d: int) -> None:  # noqa: ANN001
    """Sum the per-atom virials (fixed order, thread-independent) into virial (d, d) [energy]."""
    if virial is not None:
        virial[...] = vir_atoms.sum(axis=0).reshape(d, d)


def list_args(nlist) -> tuple:  # noqa: ANN001
    """The half-list arrays a kernel needs: offsets, neighbors, shift_code, order, slab_start,
    shift_table."""
    return (nlist.offsets, nlist.neighbors, nlist.shift_code, nlist.order, nlist.slab_start,
            nlist.shift_table)


class PairPotential(Potential):
    """Base of the pair potentials: subclasses set ``self._k`` (kernel module) and define
    ``_kernel_params()`` (the trailing scalar arguments of their kernel's ``compute``)."""

    many_body = False
    #: ``compute`` takes ``bond_w_rows`` (per-row flags: unit-weight rows not read, zero-weight rows skipped)
    takes_bond_w_rows = True
    #: ``compute(accumulate=True)`` adds to the given forces/energies (kernel ``zero=False``; 2D/3D, no
    #: virial)
    accumulates = False

    def _kernel_params(self) -> tuple:
        raise NotImplementedError

    def compute(self, x, nlist, site_w, bond_w, forces, energies, n_threads=1, virial=None,  # noqa: ANN001
                atom_energies=True, virial_atoms=None, bond_w_rows=None, accumulate=False):  # noqa: ANN001
        """See `Potential.compute`. Site weights do not enter a pair potential (no embedding term).

        virial : optional (d, d) output [energy], ``W = sum_{a<b} r_ab (x) f_ab`` (r_ab = x_a - x_b,
        f_ab the force on a due to b), weighted like the energy.
        atom_energies : False = faster; ``energies`` then only partitions E by pair owner (same sum).
        virial_atoms : optional (n, d*d) output [energy], per-atom virial
        ``W_a = 1/2 sum_b r_ab (x) f_ab`` (see `multiscale.md.stress`); sums to ``virial``.
        bond_w_rows : optional (n,) uint8, 0 for a row (owner atom) whose bond weights are all exactly 1:
        the 2D kernels then do not read them (the same bits; see `AtomisticRegion.compute`); 2 for a row whose
        weights are all exactly 0 (pad-pad bonds): the 2D kernels skip it (other kernels treat 2 as 1).
        accumulate : add to ``forces``/``energies`` instead of overwriting them (only where the class sets
        ``accumulates``; the distributed engine's boundary entries). The returned sum is then of all
        ``energies``.
        """
        x, bw, vir = kernel_args(x, nlist, bond_w, forces, energies, virial, virial_atoms)
        kw = {}
        if bond_w_rows is not None and bw.size:
            if bond_w_rows.shape != (x.shape[0],) or bond_w_rows.dtype != np.uint8:
                raise ValueError(f"bond_w_rows must be uint8 of shape ({x.shape[0]},)")
            kw["row_w"] = bond_w_rows
        if accumulate:
            if not self.accumulates:
                raise ValueError(f"{type(self).__name__}: compute(accumulate=True) is not supported")
            kw["zero"] = False
        self._k.compute(x, *list_args(nlist), bw, forces, energies, vir, *self._kernel_params(),
                        bool(atom_energies), int(n_threads), **kw)
        finish_virial(vir, virial, x.shape[1])
        return float(energies.sum())
