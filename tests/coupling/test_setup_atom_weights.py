"""The coupled set-up computes the atom weights β̄_a once: `build_model` passes `Handshake.classify`'s
weights of the kept sites to `CoupledSystem`, which must be bit for bit what
``handshake.atom_weights(atoms.X, cell)`` gives for the kept atoms alone (the former second computation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from multiscale.coupling.coupled import CoupledSystem
from multiscale.deck.deck import load_deck
from multiscale.simulation import Simulation

DECKS = Path(__file__).resolve().parents[2] / "decks"


@pytest.mark.parametrize("name", ["wave2d.yaml", "indent3d_small.yaml"])
def test_build_atom_weights_are_those_of_the_kept_atoms(name):
    model = Simulation.from_deck(load_deck(DECKS / name)).model
    s, hs = model.system, model.handshake
    ref = hs.atom_weights(model.atoms.X, model.lattice.primitive_vectors)
    assert ref.dtype == s.atom_weight.dtype and ref.tobytes() == s.atom_weight.tobytes()
    assert 0 < np.count_nonzero((ref > 0) & (ref < 1)) < ref.size   # a real handshake band


def test_coupled_system_rejects_atom_weights_of_the_wrong_shape():
    model = Simulation.from_deck(load_deck(DECKS / "wave2d.yaml")).model
    with pytest.raises(ValueError, match="atom_weight must have shape"):
        CoupledSystem(model.atoms, model.continuum, model.handshake, model.method,
                      cell=model.lattice.primitive_vectors, atom_weight=model.system.atom_weight[:-1])


@pytest.mark.parametrize("name", ["wave2d.yaml", "indent3d_small.yaml"])
def test_atom_weights_are_pointwise(name):
    """β̄ of a site is a function of the site alone, bit for bit: the weights of random subsets and
    permutations of the model's atoms are those of the whole call at the same atoms (a rank's own sites
    must reproduce the serial weights, parallel/rank_sites.py; with OpenBLAS's dgemv the last rows mod 4
    were rounded by another kernel: 16 sites differed in 40 such calls on wave2d)."""
    model = Simulation.from_deck(load_deck(DECKS / name)).model
    hs, cell, X = model.handshake, model.lattice.primitive_vectors, model.atoms.X
    w = hs.atom_weights(X, cell)
    rng = np.random.default_rng(7)
    for _ in range(12):
        idx = np.sort(rng.choice(len(X), int(rng.integers(1, len(X))), replace=False))
        assert hs.atom_weights(X[idx], cell).tobytes() == w[idx].tobytes()
        perm = rng.permutation(len(X))
        assert hs.atom_weights(X[perm], cell).tobytes() == w[perm].tobytes()
