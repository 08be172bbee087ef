"""Tabulated EAM (funcfl / setfl / eam/fs: `md.potentials.eam.TabulatedEAM`, `eam_zhou`) split over the MPI
ranks of a replicated-data run: `SplitEAMForces`.

The same split as `parallel.split_forces.SplitPairForces` (every rank holds the whole `AtomisticRegion`;
rank r owns the atom block ``[bounds[r], bounds[r+1])``; it keeps the serial half-list entries with at
least one owned atom, in the serial order, bond weights filtered alike), with the EAM's two passes
separated by one exchange — the kernels of `kernels/eam.pyx`, called one by one exactly as
``eam.compute`` calls them in sequence:

1. **density pass** (``eam.densities``) over the kept entries: every entry touching an owned atom is
   kept and visited in the serial order, so the density ρ_a of every OWNED atom receives the same terms
   in the same order as in the serial pass — bitwise the serial ρ_a (the other atoms' ρ are partial);
2. **one Allgatherv of the owned densities** (n doubles in all): every rank holds the serial ρ (n,);
3. **embedding** (``eam.embedding``) of all n atoms from that ρ: w_a F(ρ_a), w_a F'(ρ_a) — a function of
   each atom's own ρ_a, so bitwise the serial values on every rank (O(n), replicated; gathering F'
   instead would save nothing: the same n doubles);
4. **force pass** (``eam.forces``) over the kept entries with the full F': every owned atom's force and
   energy (embedding + pair halves) receive the serial terms in the serial order — bitwise;
5. the Allgatherv of the owned rows of forces, per-atom energies (and per-atom virials with
   ``virial=True``) of `SplitPairForces.compute`.

So every rank holds the serial forces, per-atom energies, energy, virial and densities
(``potential.rho``, read by the Hardy fields) bit for bit, for any P. Cost per evaluation: both kernel
passes over ≈ 1/P of the list (+ the cross-block entries on both ranks), O(n) embedding, two Allgathervs
(n + n·(d+1) doubles). Not split: the neighbour-list build and its filtering (as for pair potentials).
"""

from __future__ import annotations

import time

import numpy as np

from ..md.potentials.pairbase import kernel_args, list_args
from .split_forces import SplitPairForces, _allgather_rows

_EMPTY1 = np.zeros(0)
_EMPTY2 = np.zeros((0, 0))


class SplitEAMForces(SplitPairForces):
    """`SplitPairForces` for a tabulated EAM potential (module docstring): density pass, Allgatherv of the
    owned densities, embedding of every atom, force pass, Allgatherv of the owned rows. Collective.

    Extra attributes: ``rho`` (n,) the densities of all atoms after an evaluation (the serial ones)."""

    @staticmethod
    def supports(potential) -> bool:  # noqa: ANN001
        """True for tabulated EAM (`TabulatedEAM`: funcfl, setfl, eam/fs files and `eam_zhou`)."""
        from ..md.potentials.eam import TabulatedEAM
        return isinstance(potential, TabulatedEAM)

    def __init__(self, atoms, comm) -> None:  # noqa: ANN001
        super().__init__(atoms, comm)
        n = atoms.n
        self._rho_local = np.zeros(n)        # this rank's density pass (owned rows exact)
        self.rho = np.zeros(n)               # gathered: the serial densities
        self._fp = np.zeros(n)               # w F'(ρ) of every atom
        self._types0 = np.zeros(n, np.int32)

    def _kernel(self, x: np.ndarray, kw: dict) -> float:
        a, pot = self.atoms, self.atoms.potential
        t = pot.tables
        k = pot._k
        n = a.n
        types = np.ascontiguousarray(kw.get("types", self._types0), dtype=np.int32)
        per_atom = bool(kw.get("atom_energies", True))
        w_atoms = kw.get("virial_atoms")
        x, bw, vir = kernel_args(x, self.list, self._bw, self._f, self._e, None, w_atoms)
        sw = _EMPTY1 if a.site_w is None else np.ascontiguousarray(a.site_w, dtype=float)
        args = list_args(self.list)
        rdr, cutsq = 1.0 / t.dr, t.cutoff ** 2            # the same arguments as TabulatedEAM.compute
        k.densities(x, *args, types, t.rhor, rdr, cutsq, self._rho_local, a.n_threads, t.frho.shape[0])
        t0 = time.perf_counter()
        _allgather_rows(self.comm, self._rho_local[self.lo:self.hi], self.rho, self.bounds)
        t_comm = time.perf_counter() - t0
        self.stats["bytes"] += (n - (self.hi - self.lo)) * 8
        k.embedding(self.rho, types, t.frho, 1.0 / t.drho, t.rhomax, self._fp, self._e, n, a.n_threads, sw)
        k.forces(x, *args, types, t.rhor, t.z2r, rdr, cutsq, self._fp, self._f, self._e, a.n_threads, bw,
                 per_atom, vir if w_atoms is not None else _EMPTY2)
        pot.rho = self.rho
        return t_comm


__all__ = ["SplitEAMForces"]
