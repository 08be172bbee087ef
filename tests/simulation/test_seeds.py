"""`integrator.seed` seeds every random stream: initial velocities, the Langevin thermostat and the noise of
a damping band with a temperature. A stream with its own `seed` keeps it; the streams are independent."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.build import build_model
from multiscale.deck import load_deck_text
from multiscale.seeds import stream_seed

DECK = """msim: 1
units: lj
potential: {{type: harmonic, k: 1.0, r0: 1.0, cutoff: 1.5}}
atoms:
  lattice: {{type: chain, a: 1.0}}
  region: {{type: box, lo: [0.0], hi: [200.0]}}
  mass: 1.0
  skin: 0.3
  velocity: {{temperature: 0.01{vseed}}}
continuum:
  mesh: {{type: bar, lo: [100.0], hi: [400.0], size: 4.0}}
handshake:
  shape: {{type: box, lo: [-1.0], hi: [100.0]}}
  width: 32.0
  damping: {{gamma0: 1.0, temperature: 0.01{dseed}}}
integrator:
  type: verlet
  dt: 0.1
  steps: 10
  thermostat: {{type: langevin, temperature: 0.01, damp: 1.0{tseed}}}
{master}"""


def _streams(master: int | None = None, vseed: int | None = None, tseed: int | None = None,
             dseed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    text = DECK.format(master="" if master is None else f"  seed: {master}\n",
                       vseed="" if vseed is None else f", seed: {vseed}",
                       tseed="" if tseed is None else f", seed: {tseed}",
                       dseed="" if dseed is None else f", seed: {dseed}")
    m = build_model(load_deck_text(text, "seeds.yaml"))
    v = m.atoms.v.copy()
    from multiscale.parallel.streams import keyed_normal
    th = m.thermostat._noise(np.arange(50), 1)
    band = keyed_normal(m.damping.seed, 0, np.arange(50), 1, stream=2)
    return v, th, band


def test_master_seed_changes_every_stream_and_reproduces():
    a, b, a2 = _streams(1), _streams(2), _streams(1)
    for x, y, x2 in zip(a, b, a2):
        assert np.array_equal(x, x2)            # same master: bitwise the same
        assert not np.allclose(x, y)            # another master: every stream changes
    assert np.array_equal(_streams(None)[0], _streams(0)[0])   # default master = 0


def test_a_stream_with_its_own_seed_ignores_the_master():
    for key in ("vseed", "tseed", "dseed"):
        i = ("vseed", "tseed", "dseed").index(key)
        one, two = _streams(1, **{key: 5}), _streams(2, **{key: 5})
        assert np.array_equal(one[i], two[i])
        assert all(not np.allclose(one[j], two[j]) for j in range(3) if j != i)


def test_streams_are_distinct_and_seeds_are_valid():
    seeds = {stream_seed(7, s) for s in ("velocity", "thermostat", "damping")}
    assert len(seeds) == 3 and all(0 <= s < 2**63 for s in seeds)
    with pytest.raises(KeyError):
        stream_seed(7, "nonexistent")


def test_negative_master_seed_is_a_deck_error():
    from multiscale.errors import DeckError
    with pytest.raises(DeckError) as e:
        build_model(load_deck_text(DECK.format(master="  seed: -1\n", vseed="", tseed="", dseed=""), "s.yaml"))
    assert "integrator.seed" in e.value.format()
