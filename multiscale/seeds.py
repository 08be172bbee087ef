"""Seeds of msim's random streams, all derived from one master seed (``integrator.seed``).

A deck has three random streams: the initial Maxwell–Boltzmann velocities (``atoms.velocity``), the
Langevin thermostat (``integrator.thermostat``) and the noise of a damping band with a temperature
(``handshake.damping``). Each takes its own ``seed`` when the deck gives one; otherwise its seed is
derived from the master seed and the stream's name with numpy's `SeedSequence` (``spawn_key`` = stream
number), so that changing ``integrator.seed`` changes every stream that has no seed of its own, and the
streams of one deck are statistically independent of each other.
"""

from __future__ import annotations

import numpy as np

#: stream name -> spawn key (never renumber: that would change every seeded run)
STREAMS = {"velocity": 0, "thermostat": 1, "damping": 2}


def stream_seed(master: int, stream: str, explicit: int | None = None) -> int:
    """The seed (a non-negative integer < 2**63) of ``stream``: ``explicit`` when given, else derived from
    ``master`` (a non-negative integer)."""
    if explicit is not None:
        return int(explicit)
    if stream not in STREAMS:
        raise KeyError(f"unknown random stream {stream!r}; known: {', '.join(STREAMS)}")
    ss = np.random.SeedSequence(entropy=int(master), spawn_key=(STREAMS[stream],))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))
