"""Energy ledger of a run (docs/physics.md §2, §6): every term, the total, the constraint residual, momentum.

    total = kinetic_atoms + kinetic_continuum + potential_atoms + potential_continuum + coupling
            − external_work
    conserved: total (no damping, no driving);  total + dissipated (with damping / a bath)
    total_modified = total + verlet_correction, verlet_correction = −(Δt²/8) aᵀ M a: velocity Verlet's exact
    discrete energy for linear forces (K + Π oscillates by O((ωΔt)²) around it without drifting). Damping
    changes v only, so total_modified + dissipated is conserved to round-off (linear forces).

Units: energies [energy], residual [length], momentum [mass·length/time] (internal mass units).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TERMS = ("kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum", "coupling",
         "external_work", "dissipated", "total", "total_plus_dissipated", "verlet_correction",
         "total_modified", "modified_plus_dissipated", "constraint_residual")


def ledger(integrator) -> dict:  # noqa: ANN001
    """One record of the current state of a `VelocityVerlet` (after a step or `initialize`).

    Returns a dict with the ``TERMS`` as floats plus ``momentum`` ((d,) array), ``step`` and ``time``.
    """
    s = integrator.system
    if not integrator._initialized:
        integrator.initialize()
    Ka, Kc = s.kinetic()
    e = s.energy
    total = (Ka + Kc + e["potential_atoms"] + e["potential_continuum"] + e["coupling"]
             - integrator.external_work)
    corr = integrator.verlet_correction()
    return {"step": integrator.step_count, "time": integrator.time,
            "kinetic_atoms": Ka, "kinetic_continuum": Kc,
            "potential_atoms": e["potential_atoms"], "potential_continuum": e["potential_continuum"],
            "coupling": e["coupling"], "external_work": integrator.external_work,
            "dissipated": integrator.dissipated, "total": total,
            "total_plus_dissipated": total + integrator.dissipated,
            "verlet_correction": corr, "total_modified": total + corr,
            "modified_plus_dissipated": total + corr + integrator.dissipated,
            "constraint_residual": integrator.constraint_residual(),
            "momentum": s.momentum()}


@dataclass
class EnergyLedger:
    """Collects `ledger` records and summarises the conservation figures.

    ``record(integrator)`` appends one record; ``summary()`` returns the net relative change of the
    conserved quantity (total + dissipated) between the first and last records, its peak-to-peak
    fluctuation (relative), the same two for the modified total (``modified_*``), the largest constraint
    residual and the largest momentum change.
    """

    records: list[dict] = field(default_factory=list)

    def record(self, integrator) -> dict:  # noqa: ANN001
        r = ledger(integrator)
        self.records.append(r)
        return r

    def series(self, key: str) -> np.ndarray:
        return np.array([r[key] for r in self.records])

    def summary(self) -> dict:
        if not self.records:
            raise ValueError("no ledger records")
        c = self.series("total_plus_dissipated")
        scale = max(abs(c[0]), np.max(np.abs(c)), 1e-300)
        cm = self.series("modified_plus_dissipated")
        p = np.array([r["momentum"] for r in self.records])
        mom_scale = max(float(np.max(np.abs(p))), 1e-300)
        return {"n_records": len(self.records),
                "net_relative_change": float((c[-1] - c[0]) / scale),
                "peak_to_peak_relative": float((c.max() - c.min()) / scale),
                "modified_net_relative_change": float((cm[-1] - cm[0]) / scale),
                "modified_peak_to_peak_relative": float((cm.max() - cm.min()) / scale),
                "max_constraint_residual": float(self.series("constraint_residual").max()),
                "momentum_change": float(np.max(np.abs(p - p[0]))),
                "momentum_change_relative": float(np.max(np.abs(p - p[0])) / mom_scale),
                "dissipated": float(self.records[-1]["dissipated"])}


def run_with_ledger(integrator, n_steps: int, n_records: int = 100) -> EnergyLedger:  # noqa: ANN001
    """Advance ``n_steps`` recording the ledger ``n_records`` times (plus the start); returns the ledger
    (``.summary()`` gives the drift, fluctuation, residual and momentum figures of `msim verify`)."""
    led = EnergyLedger()
    led.record(integrator)
    per = max(1, int(n_steps) // max(1, int(n_records)))
    done = 0
    while done < n_steps:
        k = min(per, n_steps - done)
        integrator.step(k)
        done += k
        led.record(integrator)
    return led
