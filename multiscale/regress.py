"""`msim regress DIR`: run every deck's ``expect:`` block and print a pass/fail table.

A deck's ``expect:`` maps figure names to bounds (``min``, ``max``, or ``value`` with ``rtol``/``atol``).
Figures are computed from the run's results file:

| figure | meaning |
| --- | --- |
| ``energy_drift`` | net relative change of total + dissipated energy, first to last thermo row |
| ``energy_fluctuation`` | its peak-to-peak, relative (same scale) |
| ``modified_energy_drift`` | the same for Verlet's modified total + dissipated (the exact invariant, |
| | also with a damping band, whose booked loss is O((ωΔt)²) off the plain total) |
| ``constraint_residual`` | largest max|G q| over the thermo rows [length] |
| ``momentum_drift`` | largest change of any total-momentum component, relative to √(2 M K_max) |
| ``steps`` | the last step written |
| ``thermo.<term>.<reduction>`` | a ledger term (e.g. ``thermo.kinetic_continuum.max``) |
| ``observables.<name>.<reduction>`` | a load observable (``observables.indenter.load.max``) or a thermo |
| | observable (``temperature``, ``temperature_core``, ...) |

``<reduction>``: ``first``, ``last``, ``min``, ``max``, ``mean`` (the average over the written rows:
thermal runs, a time average) or ``late_mean`` (the average over the second half of the rows: a time
average after equilibration, e.g. of a temperature).

The scale of the energy figures is the largest kinetic energy + |external work| + |dissipated| over the run
(the energy that moves), or Σ|potential terms| when nothing moves. Exit status 1 if any figure fails.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from .errors import DeckError

_REDUCE = {"first": lambda a: a[0], "last": lambda a: a[-1], "min": np.min, "max": np.max, "mean": np.mean,
           "late_mean": lambda a: np.mean(a[len(a) // 2:])}


def energy_scale(thermo: dict) -> float:
    """Energy scale of a run [energy]: the largest kinetic + |external work| + |dissipated| over the rows
    (the energy that moves; a crystal's cohesive energy would hide any drift), or, for a run where nothing
    moves, the largest Σ |potential terms|."""
    def total(keys: tuple[str, ...]) -> float:
        return float(np.max(sum(np.abs(np.asarray(thermo[k], float)) for k in keys if k in thermo)))
    moving = total(("kinetic_atoms", "kinetic_continuum", "external_work", "dissipated"))
    return moving if moving > 0 else total(("potential_atoms", "potential_continuum", "coupling"))


def figures_needed(expect: dict) -> list[str]:
    return sorted(expect)


def compute_figure(name: str, thermo: dict, obs: dict, steps: np.ndarray, total_mass: float = 0.0) -> float:
    """The value of figure ``name`` (see module docstring) from the thermo / observables tables."""
    if name in ("energy_drift", "energy_fluctuation", "modified_energy_drift"):
        key = "modified_plus_dissipated" if name == "modified_energy_drift" else "total_plus_dissipated"
        e = np.asarray(thermo[key], float)
        scale = max(energy_scale(thermo), 1e-300)
        if name != "energy_fluctuation":
            return float(abs(e[-1] - e[0]) / scale)
        return float((np.max(e) - np.min(e)) / scale)
    if name == "constraint_residual":
        return float(np.max(thermo["constraint_residual"]))
    if name == "momentum_drift":
        comps = [np.asarray(v, float) for k, v in sorted(thermo.items()) if k.startswith("momentum_")]
        p = np.stack(comps, axis=1)
        # momentum scale: √(2 M K_max), the momentum of the whole mass moving with the run's kinetic energy
        K = np.asarray(thermo.get("kinetic_atoms", 0.0)) + np.asarray(thermo.get("kinetic_continuum", 0.0))
        scale = max(float(np.sqrt(2.0 * total_mass * float(np.max(K)))), float(np.max(np.abs(p))), 1e-300)
        return float(np.max(np.abs(p - p[0])) / scale)
    if name == "steps":
        return float(steps[-1]) if len(steps) else 0.0
    for prefix, table in (("thermo.", thermo), ("observables.", obs)):
        if name.startswith(prefix):
            key, _, red = name[len(prefix):].rpartition(".")
            if red not in _REDUCE or key not in table:
                raise KeyError(name)
            return float(_REDUCE[red](np.asarray(table[key], float)))
    raise KeyError(name)


def check_bound(value: float, bound) -> bool:  # noqa: ANN001
    """True when ``value`` satisfies the `ExpectBound`."""
    if not math.isfinite(value):
        return False
    if bound.min is not None and value < bound.min:
        return False
    if bound.max is not None and value > bound.max:
        return False
    if bound.value is not None:
        tol = (bound.atol or 0.0) + (bound.rtol if bound.rtol is not None else 1e-6) * abs(bound.value)
        if abs(value - bound.value) > tol:
            return False
    return True


def _bound_text(b) -> str:  # noqa: ANN001
    parts = []
    if b.min is not None:
        parts.append(f">= {b.min:g}")
    if b.max is not None:
        parts.append(f"<= {b.max:g}")
    if b.value is not None:
        parts.append(f"= {b.value:g} (rtol {b.rtol if b.rtol is not None else 1e-6:g}"
                     + (f", atol {b.atol:g}" if b.atol else "") + ")")
    return " and ".join(parts)


def _total_mass(r, units) -> float:  # noqa: ANN001
    """Σ β̄_a m_a + Σ M^α_I [internal mass units] from a results file's static data (user units)."""
    m = 0.0
    st = r.static()
    if "atoms" in st:
        a = st["atoms"]
        m += units.mass_to_internal(float(np.sum(np.asarray(a["mass"]) * np.asarray(a["weight"]))))
    if "mesh" in st and "lumped_mass" in st["mesh"]:
        m += units.mass_to_internal(float(np.sum(st["mesh"]["lumped_mass"])))
    return m


def regress_deck(path: Path, workdir: Path, threads: int | None = None) -> list[tuple[str, float, str, bool]]:
    """Run one deck and check its expect block: rows (figure, value, bound text, passed)."""
    from .deck import load_deck
    from .output.reader import ResultsReader
    from .simulation import Simulation

    deck = load_deck(path)
    expect = deck.config.expect
    if not expect:
        return []
    sim = Simulation.from_deck(deck, threads=threads)
    out = sim.run(output=workdir / f"{path.stem}.h5", progress="quiet")
    with ResultsReader(out) as r:
        thermo, obs = r.thermo(), r.observables() if r.rows("observables") else {}
        steps = np.asarray(thermo["step"] if "step" in thermo else r.steps)
        total_mass = _total_mass(r, deck.units)
    rows = []
    for name in figures_needed(expect):
        b = expect[name]
        try:
            v = compute_figure(name, thermo, obs, steps, total_mass)
        except KeyError:
            raise deck.error(f"expect.{name}",
                             f"unknown figure '{name}' (see `msim regress --help`)") from None
        rows.append((name, v, _bound_text(b), check_bound(v, b)))
    return rows


@click.command("regress")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--threads", type=click.IntRange(min=1), default=None, help="OpenMP threads per run.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the results files in this folder (default: a temporary folder).")
def regress(directory: Path, threads: int | None, keep: Path | None) -> None:
    """Run every deck in DIRECTORY that has an `expect:` block; print a pass/fail table.

    Figures: energy_drift, energy_fluctuation, modified_energy_drift, constraint_residual, momentum_drift,
    steps, thermo.<term>.<first|last|min|max|mean|late_mean>,
    observables.<name>.<first|last|min|max|mean|late_mean> (late_mean: mean over the second half of the
    rows). Exit status 1 if any fails.
    """
    decks = sorted(p for p in directory.glob("*.yaml"))
    if not decks:
        raise DeckError(f"no *.yaml decks in {directory}")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        click.echo(f"{'deck':24s} {'figure':40s} {'value':>13s}  {'expected':28s} result")
        for p in decks:
            t0 = time.perf_counter()
            rows = regress_deck(p, work, threads)
            if not rows:
                continue
            wall = time.perf_counter() - t0
            for i, (name, v, btxt, ok) in enumerate(rows):
                failed += not ok
                label = f"{p.name} ({wall:.0f}s)" if i == 0 else ""
                click.echo(f"{label:24s} {name:40s} {v:13.4e}  {btxt:28s} {'pass' if ok else 'FAIL'}")
    if failed:
        click.echo(f"{failed} figure(s) failed", err=True)
        click.get_current_context().exit(1)
    click.echo("all figures pass")
