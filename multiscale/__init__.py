"""msim: concurrent atomistic/continuum multiscale simulation.

Python API (mirrors the deck)::

    from multiscale import load_deck, Simulation
    sim = Simulation.from_deck(load_deck("decks/wave1d.yaml"))
    print(sim.summary())
    sim.run(output="wave1d.h5")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Simulation", "__version__", "load_deck"]


def __getattr__(name: str) -> Any:  # lazy: importing the package does not pull in every engine
    if name == "load_deck":
        from .deck import load_deck
        return load_deck
    if name == "Simulation":
        from .simulation import Simulation
        return Simulation
    raise AttributeError(f"module 'multiscale' has no attribute {name!r}")
