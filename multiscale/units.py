"""Unit systems (LAMMPS conventions). Only the deck/build layer converts; the engines work in one system.

Internal convention: masses are stored in *force-mass units* ``m_int = m_user * mvv2e`` so that
``a = f / m_int`` [length/time^2] and ``K = 1/2 m_int v^2`` [energy] need no further factor anywhere.

metal: length Å, energy eV, time ps, mass g/mol, temperature K, force eV/Å, pressure bar.
lj:    everything reduced (ε = σ = m = k_B = 1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UnitSystem:
    name: str
    mvv2e: float       #: mass*velocity^2 -> energy: m_int = m_user * mvv2e
    boltz: float       #: k_B [energy/temperature]
    nktv2p: float      #: energy/volume -> pressure unit
    length: str
    energy: str
    time: str
    mass: str
    temperature: str
    force: str
    pressure: str

    def mass_to_internal(self, m):  # noqa: ANN001 - float or ndarray
        return m * self.mvv2e

    def mass_from_internal(self, m):  # noqa: ANN001
        return m / self.mvv2e


METAL = UnitSystem("metal", mvv2e=1.0364269e-4, boltz=8.617343e-5, nktv2p=1.6021765e6,
                   length="Å", energy="eV", time="ps", mass="g/mol", temperature="K",
                   force="eV/Å", pressure="bar")
LJ = UnitSystem("lj", mvv2e=1.0, boltz=1.0, nktv2p=1.0, length="σ", energy="ε", time="τ",
                mass="m", temperature="ε/k_B", force="ε/σ", pressure="ε/σ³")

UNIT_SYSTEMS: dict[str, UnitSystem] = {"metal": METAL, "lj": LJ}


def get_units(name: str) -> UnitSystem:
    return UNIT_SYSTEMS[name]
