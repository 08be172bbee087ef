"""The interface every interatomic potential plugin implements.

Energy model (docs/physics.md §2), with per-atom site weights ``w_a`` (= β̄_a) and per-bond weights ``w_ab``::

    E = Σ_a w_a F(ρ_a)  +  Σ_{a<b} w_ab φ(r_ab),      ρ_a = Σ_b ρ(r_ab)     (F ≡ 0 for pair potentials)

With all weights 1 this is plain MD. Forces are the exact negative gradient of E, embedding terms included.

A potential also exposes its radial functions as vectorised NumPy callables so that other parts of msim
(Cauchy–Born continuum, elastic constants, surface energies, statics) use the SAME potential object:
``pair(r) -> (φ, dφ/dr)``, and for many-body potentials ``density(r) -> (ρ, dρ/dr)`` and
``embedding(rho) -> (F, dF/dρ)``. Single-species only for these (type 0).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Potential(ABC):
    """Base class. Subclasses register with ``@POTENTIALS.register(name)`` and carry a ``Params`` model.

    Attributes
    ----------
    cutoff : float [length]   largest interaction range
    many_body : bool          True when an embedding term exists (EAM)
    """

    cutoff: float
    many_body: bool = False

    @classmethod
    @abstractmethod
    def from_params(cls, params, units, deck_dir=None) -> Potential:  # noqa: ANN001
        """Build from the validated parameter model, in the deck's unit system (`multiscale.units`)."""

    @abstractmethod
    def pair(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """φ(r) [energy] and φ'(r) [energy/length] for r of any shape (0 beyond the cut-off)."""

    def density(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ρ(r) and ρ'(r); zero for pair potentials."""
        z = np.zeros_like(np.asarray(r, float))
        return z, z

    def embedding(self, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """F(ρ) [energy] and F'(ρ); zero for pair potentials."""
        z = np.zeros_like(np.asarray(rho, float))
        return z, z

    @abstractmethod
    def compute(self, x: np.ndarray, nlist, site_w: np.ndarray | None, bond_w: np.ndarray | None,  # noqa: ANN001
                forces: np.ndarray, energies: np.ndarray, n_threads: int = 1) -> float:
        """Weighted energy and forces of a configuration.

        x : (n, d) float64 [length], current positions (C-contiguous)
        nlist : `multiscale.md.neighbors.NeighborList`, built for x with this potential's cut-off
        site_w : (n,) float64 or None (= all 1)
        bond_w : (n_entries,) float64 aligned with the neighbour-list entries, or None (= all 1)
        forces : (n, d) float64 output [energy/length], overwritten
        energies : (n,) float64 output [energy], overwritten: atom a's weighted share of E
                   (embedding w_a F(ρ_a) plus half of each weighted bond), so Σ energies = E
        Returns E [energy].

        Optional keywords every msim potential accepts: ``virial`` ((d, d) output [energy],
        W = Σ_{a<b} r_ab ⊗ f_ab), ``atom_energies`` (False: faster, ``energies`` then only partitions E
        by pair owner); many-body potentials also take ``types`` ((n,) int element indices).
        """
