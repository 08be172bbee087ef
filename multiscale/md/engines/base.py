"""`ExternalPotential`: base of the msim potentials whose forces come from an external engine (LAMMPS,
an ASE calculator).

An engine returns the TOTAL forces f_a = −∂E/∂x_a and per-atom energies e_a (Σ e_a = E) of a whole
configuration; it has no notion of msim's site and bond weights (PHYSICS.md §2), and no radial functions
``pair``/``density``/``embedding``. What follows:

* ``compute`` accepts only unit weights (plain MD, and force-based blending, whose atoms are unweighted);
  any other weight is a ValueError. Energy-based couplings (strong, projected, penalty, ghost_corrected
  blend the atoms' energy with fractional bond weights in the handshake) are refused at validation
  (`multiscale.deck.checks`): ``supported_couplings``.

What couples how (every route; tests/md/engines/test_engine_couplings.py, tests/md/test_engine_lammps.py):

  ======================================  =====================================  ======================
  coupling                                native potentials (lj, morse, eam...)  lammps / ase engines
  ======================================  =====================================  ======================
  force_blend, constraint strong          yes                                    yes
  force_blend, constraint projected       yes                                    yes
  force_blend, constraint none            yes                                    yes
  strong / projected (energy blending)    yes                                    refused (exit 2)
  penalty (energy blending)               yes                                    refused (exit 2)
  ghost_corrected (energy blending)       yes                                    refused (exit 2)
  ======================================  =====================================  ======================

  Energy blending needs the gradient of Σ_a β̄_a e_a with fractional bond weights across the handshake
  (also for the narrowest, "sharp" handshake: a bond between a core atom and a pad still has a fractional
  weight); an engine's total forces are the gradient of the UNWEIGHTED Σ e_a only, so msim cannot
  differentiate the weighted energy. Force blending needs only total forces; its reported energy is
  re-weighted by the partition of unity (`multiscale.coupling.methods.force_blend`), so the handshake is
  not counted twice. Statics with force blending: ``fire`` only (it moves on forces; the reported Π is
  not the potential of the force-blended forces, so the line searches of ``lbfgs``/``precon_lbfgs`` have
  no consistent objective) — tests/fem/test_engine_interface_energy.py, decks/indent3d_ml_small.yaml.
  The continuum of an engine potential: ``cauchy_born`` (periodic cell evaluated by
  the engine; ``engine_w: polynomial`` for a W(E) fitted once to that cell, `cauchy_born_poly`) or
  ``linear`` (C from that cell), `multiscale.fem.materials.cauchy_born_engine`.
* The Cauchy–Born and default-C linear materials do not use radial functions for engines: they evaluate a
  periodic cell of the lattice with the engine itself (``periodic_cell``,
  `multiscale.fem.materials.cauchy_born_engine`). ``a: relaxed``, wave packets and the other lattice sums
  need radial functions: they raise `EngineHasNoRadialFunctions` (a ValueError), which the builder
  reports at the deck key.
* The stable-time-step estimate uses `max_frequency` (finite-difference on-site force constants of a
  perfect-lattice cluster evaluated by the engine itself) instead of φ''.

Subclasses implement ``_new_engine(x, box, types)`` returning an object with
``compute(x, forces, energies, virial=None) -> E``.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..box import Box
from ..potentials.base import Potential


class EngineHasNoRadialFunctions(ValueError):
    """An external-engine potential was asked for φ(r), ρ(r) or F(ρ)."""


class ExternalPotential(Potential):
    """Potential evaluated by an external engine, one persistent engine per atom region (see module doc)."""

    external = True
    #: several atom types are allowed (the flag AtomisticRegion checks); there are no radial functions
    many_body = True
    #: coupling methods whose atoms carry unit site and bond weights (force-based blending, with strong,
    #: projected or no kinematic constraints)
    supported_couplings: tuple[str, ...] = ("force_blend",)
    engine_name = "external engine"

    def __init__(self) -> None:
        self._engines: dict[int, tuple[weakref.ref, object]] = {}

    # ---- radial functions: none
    def _no_radial(self) -> EngineHasNoRadialFunctions:
        return EngineHasNoRadialFunctions(
            f"the {self.engine_name} potential has no radial functions (pair/density/embedding): "
            "`a: relaxed`, wave packets and other lattice sums need a native msim potential (the "
            "cauchy_born and linear materials evaluate a periodic cell with the engine instead)")

    def pair(self, r):  # noqa: ANN001, ANN201
        raise self._no_radial()

    def density(self, r):  # noqa: ANN001, ANN201
        raise self._no_radial()

    def embedding(self, rho):  # noqa: ANN001, ANN201
        raise self._no_radial()

    # ---- engines
    def _new_engine(self, x: np.ndarray, box: Box, types: np.ndarray | None):  # noqa: ANN202
        raise NotImplementedError

    def _engine(self, nlist, x: np.ndarray, types: np.ndarray | None):  # noqa: ANN001, ANN202
        key = id(nlist)
        hit = self._engines.get(key)
        if hit is not None and hit[0]() is nlist and getattr(hit[1], "n", len(x)) == len(x):
            return hit[1]
        eng = self._new_engine(x, nlist.box, types)
        self._engines[key] = (weakref.ref(nlist, lambda _r, k=key: self._engines.pop(k, None)), eng)
        return eng

    @staticmethod
    def check_weights(site_w, bond_w) -> None:  # noqa: ANN001
        """Unit weights only (see module docstring)."""
        if site_w is not None and np.any(np.asarray(site_w) != 1.0):
            raise ValueError("an external-engine potential computes unweighted forces: site weights must "
                             "all be 1 (use force-based blending: coupling `force_blend`)")
        if bond_w is not None and np.any(np.asarray(bond_w) != 1.0):
            raise ValueError("an external-engine potential cannot apply bond weights (energy blending); "
                             "use force-based blending: coupling `force_blend`")

    def compute(self, x, nlist, site_w, bond_w, forces, energies, n_threads=1, *,  # noqa: ANN001
                virial=None, atom_energies=True, types=None) -> float:  # noqa: ANN001
        """E [energy]; forces (n, d) and per-atom energies (n,) from the engine (see `Potential.compute`).
        ``nlist`` only identifies the region and its box: the engine keeps its own neighbour lists."""
        self.check_weights(site_w, bond_w)
        img = getattr(nlist, "image", None)
        if img is not None and img.shape == x.shape and img.any():
            # the region hands over x − image·L (msim's own wrapping at ITS rebuilds); the engine gets the
            # continuous positions and keeps its own images (a jump of a period would force a rebuild)
            x = x + img * nlist.period
        eng = self._engine(nlist, x, types)
        return eng.compute(x, forces, energies, virial)

    def evaluate(self, x: np.ndarray, box: Box, types: np.ndarray | None = None
                 ) -> tuple[float, np.ndarray, np.ndarray]:
        """(E, forces (n, d), energies (n,)) of one configuration with a throw-away engine."""
        eng = self._new_engine(np.ascontiguousarray(x, dtype=float), box, types)
        f = np.zeros_like(x, dtype=float)
        e = np.zeros(len(x))
        try:
            E = eng.compute(np.ascontiguousarray(x, dtype=float), f, e)
        finally:
            close = getattr(eng, "close", None)
            if close is not None:
                close()
        return E, f, e

    def max_frequency(self, lattice, mass: float, h: float | None = None) -> float:  # noqa: ANN001
        """Estimate of the largest lattice vibration frequency [1/time]: ω = √(2 λ_max(K_aa) / m), K_aa the
        on-site force-constant block of an atom of the perfect lattice (central differences of its force,
        cluster of radius 3 r_c + a around it). Exact for a nearest-neighbour chain (ω = 2√(k/m)); by
        Gershgorin an upper-bound-type estimate in general. ``mass`` in internal units."""
        d = lattice.dim
        R = 3.0 * self.cutoff + lattice.a
        X = lattice.sites_in_box(np.full(d, -R), np.full(d, R))
        c = int(np.argmin(np.sum(X * X, axis=1)))
        X = X[np.sum((X - X[c]) ** 2, axis=1) <= R * R]
        c = int(np.argmin(np.sum((X - X.mean(axis=0)) ** 2, axis=1)))
        box = Box(X.min(axis=0) - 1.0, X.max(axis=0) + 1.0, [False] * d)
        h = 1e-4 * lattice.a if h is None else h
        eng = self._new_engine(np.ascontiguousarray(X), box, None)
        f = np.zeros_like(X)
        e = np.zeros(len(X))
        K = np.zeros((d, d))
        try:
            for k in range(d):
                fk = []
                for s in (h, -h):
                    x = X.copy()
                    x[c, k] += s
                    eng.compute(x, f, e)
                    fk.append(f[c].copy())
                K[:, k] = -(fk[0] - fk[1]) / (2 * h)
        finally:
            close = getattr(eng, "close", None)
            if close is not None:
                close()
        lam = float(np.max(np.linalg.eigvalsh(0.5 * (K + K.T))))
        return float(np.sqrt(max(2.0 * lam, 1e-300) / mass))
