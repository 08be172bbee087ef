"""`msim inspect`, `msim plot`, `msim export`: click commands the CLI attaches to its `msim` group.

    from multiscale.output.commands import inspect_cmd, plot_cmd, export_cmd
    msim.add_command(inspect_cmd); msim.add_command(plot_cmd); msim.add_command(export_cmd)

Each is a plain `click.Command` named inspect / plot / export. A user mistake (missing file, not an msim
file, unknown field or plot) exits with status 2 and the `DeckError` message (a `click.ClickException`
with exit_code 2, so the commands behave the same with or without the CLI's own DeckError mapping).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import click
import numpy as np

from multiscale.errors import DeckError
from multiscale.output.reader import ResultsReader

PLOTS = ("energy", "observables", "reflection")


class UserError(click.ClickException):
    """A DeckError shown as msim formats it, exit status 2."""

    exit_code = 2

    def __init__(self, err: DeckError) -> None:
        super().__init__(err.message)
        self.err = err

    def show(self, file=None) -> None:  # noqa: ANN001
        click.echo(self.err.format(), err=True, file=file)


def _open(path: str) -> ResultsReader:
    try:
        return ResultsReader(path)
    except DeckError as err:
        raise UserError(err) from None


def _range(a: np.ndarray) -> str:
    return f"{a[0]:g} … {a[-1]:g}" if len(a) else "none"


# ---------------------------------------------------------------------------------------------- inspect
def _describe_static(tree: dict, indent: str = "  ") -> list[str]:
    out = []
    for k, v in tree.items():
        if isinstance(v, dict):
            out.append(f"{indent}{k}/")
            out += _describe_static(v, indent + "  ")
        elif isinstance(v, np.ndarray):
            out.append(f"{indent}{k} {v.shape} {v.dtype}")
        else:
            out.append(f"{indent}{k} = {v}")
    return out


def energy_summary(thermo: dict[str, np.ndarray]) -> list[str]:
    """Lines: first/last/min/max of each ledger term, and the drift and fluctuation of the total."""
    names = [k for k in thermo if k not in ("step", "time")]
    if not names or not len(thermo["step"]):
        return ["  (no thermo rows)"]
    lines = [f"  {'term':<22}{'first':>15}{'last':>15}{'min':>15}{'max':>15}"]
    for k in names:
        v = thermo[k]
        if v.ndim == 1:
            lines.append(f"  {k:<22}{v[0]:>15.7g}{v[-1]:>15.7g}{v.min():>15.7g}{v.max():>15.7g}")
    if "total" in thermo:
        tot = thermo["total"] + (thermo["dissipated"] if "dissipated" in thermo else 0.0)
        ref = abs(tot[0]) if tot[0] != 0 else max(np.abs(tot).max(), 1e-300)
        label = "total + dissipated" if "dissipated" in thermo else "total"
        lines.append(f"  {label}: relative change {(tot[-1] - tot[0]) / ref:.3e}, "
                     f"peak-to-peak {(tot.max() - tot.min()) / ref:.3e} (relative to |first|)")
    return lines


@click.command("inspect")
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--deck", "show_deck", is_flag=True, help="Also print the deck the run was started with.")
def inspect_cmd(results: str, show_deck: bool) -> None:
    """What is inside a results file: steps, fields, provenance, energy summary."""
    with _open(results) as r:
        p = r.provenance
        from multiscale.output.hdf5 import is_live
        if r.clean:
            state = "closed cleanly"
        elif is_live(results):
            state = "being written by a running msim (every completed step is readable)"
        else:
            state = ("NOT closed cleanly: the run was killed; every completed step is readable "
                     "(`msim export --repair` lets other tools open it)")
        click.echo(f"{results}: msim results, {state}")
        click.echo(f"  msim {p.get('msim_version')}, units {p.get('units')}, seed {p.get('seed', 'none')}, "
                   f"started {p.get('start_time')} on {p.get('host')}, restarts: {len(p['restarts'])}")
        import json as _json
        if p.get("decomposition"):      # the path over MPI ranks (`run.distributed.Decomposition.record`)
            dec = _json.loads(p["decomposition"])
            more = "".join(f"; restart {i + 1}: {r['decomposition']['path']} on {r['decomposition']['ranks']}"
                           for i, r in enumerate(p["restarts"]) if "decomposition" in r)
            why = f" (spatial refused at {dec['spatial_refused_at']})" if "spatial_refused_at" in dec else ""
            click.echo(f"  decomposition: {dec['path']} on {dec['ranks']} MPI rank(s), --decompose "
                       f"{dec['requested']}{why}{more}")
        for i, src in enumerate(reversed(_json.loads(p.get("provenance", "[]")))):
            click.echo(f"  {'continued from' if i == 0 else '  which continued'} {src['file']} at step "
                       f"{src['step']} (time {src['time']:g})")
        n = r.nframes
        click.echo(f"frames: {n} (steps {_range(r.steps)}, time {_range(r.times)})")
        for kind in ("atoms", "nodes"):
            for f in r.fields(kind):
                shape = r.h5[f"frames/{kind}/{f}"].shape[1:]
                click.echo(f"  {kind}/{f} {shape}")
        click.echo("static:")
        for line in _describe_static(r.static()):
            click.echo(line)
        th = r.thermo()
        click.echo(f"thermo: {len(th.get('step', []))} rows (steps {_range(th.get('step', np.zeros(0)))})")
        for line in energy_summary(th):
            click.echo(line)
        ob = r.observables()
        cols = [f"{k} {v.shape[1:]}" if v.ndim > 1 else k for k, v in ob.items() if k not in ("step", "time")]
        click.echo(f"observables: {len(ob.get('step', []))} rows: {', '.join(cols) or 'none'}")
        deck = p.get("deck_text", "")
        click.echo(f"deck: {len(deck.splitlines())} lines" + ("" if show_deck else " (--deck prints it)"))
        if show_deck:
            click.echo(deck)


# ---------------------------------------------------------------------------------------------- plot
#: thermo columns that are not energies (everything else in the ledger is an energy)
_NOT_ENERGY = {"constraint_residual": "length", "max_force": "force", "iterations": "count",
               "evaluations": "count", "converged": "1 = converged", "wall": "s",
               "temperature": "temperature"}
#: observable name (after the load's label) -> quantity
_OBS_QUANTITY = {"depth": "length", "extension": "length", "tip_x": "length", "tip_bond": "length",
                 "broken": "count", "broken_run": "count", "load": "force",
                 "energy": "energy", "mass": "mass", "contacts": "count", "open_ahead": "count",
                 "K": "stress_intensity", "K_over_KG": "1", "temperature": "temperature",
                 "constraint_residual": "length"}
_OBS_PREFIX = {"force_": "force", "reaction_": "force", "total_": "force", "displacement_": "length"}
#: load parameters of quasi-static runs, by preference (observable name after the label)
LOAD_PARAMETERS = ("depth", "K", "strain", "K_over_KG")


def _units(r: ResultsReader):  # noqa: ANN202
    from multiscale.units import UNIT_SYSTEMS
    return UNIT_SYSTEMS.get(str(r.provenance.get("units")))


def _dim(r: ResultsReader) -> int:
    st = r.h5["static"]
    for path in ("atoms/reference_positions", "mesh/nodes"):
        if path in st:
            ds = st[path]
            return ds.shape[1] if ds.ndim == 2 else 1
    return 3


def _quantity_unit(r: ResultsReader, quantity: str) -> str:
    u = _units(r)
    if quantity in ("count", "s", "1", "1 = converged", "load stage", "step"):
        return quantity
    if u is None:
        return "?"
    if quantity == "stress_intensity":          # stress √length, stress = energy / length^d
        return f"{u.energy}/{u.length}^{_dim(r) - 0.5:g}"
    if quantity == "momentum":                  # internal force-mass units: energy·time/length
        return f"{u.energy}·{u.time}/{u.length}"
    return getattr(u, quantity, "?")


def _unit(r: ResultsReader, quantity: str) -> str:
    return _quantity_unit(r, quantity)


def series_unit(r: ResultsReader, name: str, quasistatic: bool) -> str:
    """Unit of a thermo or observable column (by its name) in the file's unit system."""
    if name == "time":
        return "load stage" if quasistatic else _quantity_unit(r, "time")
    if name == "step":
        return "step"
    base = name.rsplit(".", 1)[-1]
    if base.startswith("momentum_"):
        return _quantity_unit(r, "momentum")
    if name in _NOT_ENERGY:
        return _quantity_unit(r, _NOT_ENERGY[name])
    if base.startswith("temperature_"):         # group temperatures (temperature_core, _continuum, ...)
        return _quantity_unit(r, "temperature")
    if "." not in name and name not in _OBS_QUANTITY:
        return _quantity_unit(r, "energy")      # the ledger's terms
    if base in _OBS_QUANTITY:
        return _quantity_unit(r, _OBS_QUANTITY[base])
    for prefix, q in _OBS_PREFIX.items():
        if base.startswith(prefix):
            return _quantity_unit(r, q)
    return "?"


def _label(r: ResultsReader, name: str, quasistatic: bool) -> str:
    return f"{name} [{series_unit(r, name, quasistatic)}]"


def is_quasistatic(r: ResultsReader) -> bool:
    """True for runs of a minimiser (fire, lbfgs): their "time" is the load-stage index."""
    st = r.h5["static"]
    if "run" in st and "kind" in st["run"].attrs:
        kind = st["run"].attrs["kind"]
        return (kind.decode() if isinstance(kind, bytes) else str(kind)) == "quasistatic"
    return "iterations" in r.h5["thermo"]        # files written before /static/run existed


def load_parameter(columns: dict[str, np.ndarray]) -> str | None:
    """The column a quasi-static run is driven by (an indenter's depth, a K-field's K, a strain), if any."""
    for want in LOAD_PARAMETERS:
        for k in columns:
            if k.rsplit(".", 1)[-1] == want and columns[k].ndim == 1:
                return k
    return None


def _indenters(columns: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """(depth column, force column) of every indenter: `<label>.depth` with `<label>.load` (or the
    synthetic `<label>_depth` / `<label>_force`)."""
    out = []
    for k in columns:
        for sep in (".", "_"):
            if k.endswith(f"{sep}depth"):
                label = k[: -len("depth") - 1]
                force = next((f"{label}{sep}{c}" for c in ("load", "force") if f"{label}{sep}{c}" in columns),
                             None)
                if force is not None:
                    out.append((k, force))
    return out


def _pick(columns: dict[str, np.ndarray], wanted: tuple[str, ...], what: str, path: str) -> list[str]:
    names = [k for k in columns if k not in ("step", "time")]
    if not names:
        raise UserError(DeckError(f"no {what} in this file", file=path))
    for w in wanted:
        if w not in names:
            raise UserError(DeckError(f"no {what} column {w!r}", file=path,
                                      hint=f"available: {', '.join(names)}"))
    return list(wanted) or names


def _x_axis(r: ResultsReader, table: dict[str, np.ndarray], qs: bool) -> tuple[np.ndarray, str, str | None]:
    """(x values, axis label, column name) of a table: time in dynamics; in quasi-statics the load
    parameter (from the observables, matched by step) or, without one, the load-stage index."""
    if qs:
        ob = r.observables()
        lp = load_parameter(ob)
        if lp is not None:
            x = _align(table["step"], ob["step"], ob[lp])
            if x is not None:
                return x, _label(r, lp, qs), lp
        return table["time"], "load stage", None
    return table["time"], f"time [{_unit(r, 'time')}]", None


def _align(steps: np.ndarray, src_steps: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """`values` (rows at `src_steps`) at `steps`; None if some step is missing."""
    idx = np.searchsorted(src_steps, steps)
    if len(src_steps) == 0 or np.any(idx >= len(src_steps)) or np.any(src_steps[np.minimum(
            idx, len(src_steps) - 1)] != steps):
        return None
    return values[idx]


#: sums of the ledger (their drift is the check), plotted on their own panel
TOTALS = ("total", "total_plus_dissipated", "total_modified", "modified_plus_dissipated", "energy")


def _plot_energy(r: ResultsReader, fields: tuple[str, ...], path: str):  # noqa: ANN202
    """Energy terms as changes from their first value, against time (dynamics) or the load parameter
    (quasi-statics): the exchanged terms on one panel, the totals on their own (so a small drift is not
    flattened by the kinetic/potential exchange); terms that stay exactly zero are listed, not drawn. Other
    chosen columns (-f) get their own panel with their own unit."""
    import matplotlib.pyplot as plt
    th = r.thermo()
    qs = is_quasistatic(r)
    names = _pick(th, fields, "energy ledger (thermo)", path)
    energy_unit = _unit(r, "energy")
    is_energy = {k: series_unit(r, k, qs) == energy_unit and "." not in k for k in names}
    zero = []
    if not fields:
        names = [k for k in names if is_energy[k]]
        zero = [k for k in names if not np.any(th[k])]
        names = [k for k in names if k not in zero]
    groups: dict[str, list[str]] = {}
    for k in names:
        g = ("totals" if k in TOTALS else "terms") if is_energy[k] else series_unit(r, k, qs)
        groups.setdefault(g, []).append(k)
    order = {"terms": 0, "totals": 1}
    groups = dict(sorted(groups.items(), key=lambda kv: order.get(kv[0], 2)))
    x, xlabel, _ = _x_axis(r, th, qs)
    n = max(len(groups), 1)
    fig, axes = plt.subplots(n, 1, figsize=(7, 4.5 if n == 1 else 3.2 * n), squeeze=False)
    for ax, (group, cols) in zip(axes[:, 0], groups.items(), strict=False):
        for k in cols:
            v = th[k]
            if group in ("terms", "totals"):
                ax.plot(x, v - v[0], lw=2.2 if k in ("total", "energy") else 1.2,
                        label=f"{k} (start {v[0]:.7g})")
            else:
                ax.plot(x, v, label=k)
        if group in ("terms", "totals"):
            ax.set_ylabel(f"E − E(start) [{energy_unit}]")
            ax.set_title("energy terms: change from the start" if group == "terms"
                         else "totals: change from the start")
        else:
            ax.set_ylabel(f"{', '.join(cols)} [{group}]" if len(cols) < 3 else f"[{group}]")
        ax.legend(fontsize=8)
        ax.set_xlabel(xlabel)
    note = textwrap.wrap("zero throughout: " + ", ".join(zero), 120) if zero else []
    if note:
        fig.text(0.01, 0.005, "\n".join(note), fontsize=7, color="0.4", va="bottom")
    fig.tight_layout(rect=(0, 0.025 * len(note) * 4.5 / fig.get_figheight(), 1, 1))
    return fig


def _plot_observables(r: ResultsReader, fields: tuple[str, ...], path: str):  # noqa: ANN202
    """One panel per observable (units on both axes) against time, or against the load parameter in
    quasi-statics; plus a force–depth panel for every indenter."""
    import matplotlib.pyplot as plt
    ob = r.observables()
    qs = is_quasistatic(r)
    names = _pick(ob, fields, "observables", path)
    x, xlabel, xname = _x_axis(r, ob, qs)
    pairs = _indenters(ob) if not fields else []
    skip = {xname} | {c for p in pairs for c in p}
    panels = [k for k in names if k not in skip or fields]
    npanel = len(panels) + len(pairs)
    fig, axes = plt.subplots(npanel, 1, figsize=(7, max(3.0, 2.6 * npanel)), squeeze=False)
    for ax, (depth, force) in zip(axes[: len(pairs), 0], pairs, strict=True):
        f = ob[force].reshape(len(ob[force]), -1)
        for c in range(f.shape[1]):
            ax.plot(ob[depth], f[:, c], "o-", ms=3, label=force if f.shape[1] == 1 else f"{force}[{c}]")
        ax.set_xlabel(_label(r, depth, qs))
        ax.set_ylabel(_label(r, force, qs))
        ax.set_title(f"force–depth: {depth.rsplit('.', 1)[0].rsplit('_', 1)[0]}")
        ax.legend(fontsize=8)
    for ax, k in zip(axes[len(pairs):, 0], panels, strict=True):
        v = ob[k].reshape(len(ob[k]), -1)
        for c in range(v.shape[1]):
            ax.plot(x, v[:, c], "o-" if qs else "-", ms=3, label=f"{k}[{c}]" if v.shape[1] > 1 else k)
        ax.set_ylabel(_label(r, k, qs))
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _series(r: ResultsReader, name: str, path: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of a thermo or observables column `name`."""
    for table in ("observables", "thermo"):
        cols = r.table(table)
        if name in cols and name not in ("step", "time"):
            return cols["step"], cols[name]
    for table in ("thermo", "observables", "frames"):
        if r.rows(table) and name in ("step", "time"):
            n = r.rows(table)
            return r.h5[f"{table}/step"][:n], r.h5[f"{table}/{name}"][:n]
    avail = sorted({k for t in ("thermo", "observables") for k in r.table(t)})
    raise UserError(DeckError(f"no series {name!r} in this file", file=path,
                              hint=f"series: {', '.join(avail) or 'none'}"))


def _plot_xy(r: ResultsReader, xname: str, yname: str, path: str):  # noqa: ANN202
    """Any two series against each other (rows matched by step)."""
    import matplotlib.pyplot as plt
    qs = is_quasistatic(r)
    xs, xv = _series(r, xname, path)
    ys, yv = _series(r, yname, path)
    common = np.intersect1d(xs, ys)
    if not len(common):
        raise UserError(DeckError(f"{xname!r} and {yname!r} share no step", file=path))
    xv = xv[np.searchsorted(xs, common)]
    yv = yv[np.searchsorted(ys, common)].reshape(len(common), -1)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c in range(yv.shape[1]):
        ax.plot(xv, yv[:, c], "o-" if len(common) < 50 else "-", ms=3,
                label=yname if yv.shape[1] == 1 else f"{yname}[{c}]")
    ax.set_xlabel(_label(r, xname, qs))
    ax.set_ylabel(_label(r, yname, qs))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _plot_reflection(path: str):  # noqa: ANN202
    import matplotlib.pyplot as plt

    from multiscale.output.reflection import read_reflection
    try:
        ka, R, labels = read_reflection(path)
    except DeckError as err:
        raise UserError(err) from None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for j, lab in enumerate(labels):
        ax.semilogy(ka, np.maximum(R[:, j], 1e-300), "o-", ms=3, label=lab)
    ax.set_xlabel("k a [1]")
    ax.set_ylabel("reflected energy fraction R [1]")
    ax.set_title("wave reflection through the handshake")
    ax.legend(fontsize=8)
    return fig


@click.command("plot")
@click.argument("results", type=click.Path(dir_okay=False))
@click.argument("what")
@click.argument("y", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="PNG file [default: RESULTS_WHAT.png].")
@click.option("-f", "--field", "fields", multiple=True, help="Only these columns (repeatable).")
def plot_cmd(results: str, what: str, y: str | None, output: str | None, fields: tuple[str, ...]) -> None:
    """Plot to a PNG: WHAT = energy (changes of the ledger terms from the start), observables (each against
    time, or against the load parameter of a quasi-static run, plus force–depth for every indenter),
    reflection (R against k·a, from `msim verify`), or two series `msim plot FILE X Y` (any thermo or
    observables columns, e.g. `indenter.depth indenter.load`)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if y is None and what not in PLOTS:
        raise UserError(DeckError(f"unknown plot {what!r}", file=results,
                                  hint=f"give one of {', '.join(PLOTS)}, or two series: msim plot FILE X Y"))
    stem = f"{what}_vs_{y}" if y is not None else what
    stem = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in stem)
    out = Path(output) if output else Path(results).with_name(f"{Path(results).stem}_{stem}.png")
    if y is None and what == "reflection":
        if not Path(results).is_file():
            raise UserError(DeckError("no such file", file=results))
        fig = _plot_reflection(results)
    else:
        with _open(results) as r:
            if y is not None:
                fig = _plot_xy(r, what, y, results)
            else:
                fig = (_plot_energy if what == "energy" else _plot_observables)(r, fields, results)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    click.echo(f"wrote {out}")


# ---------------------------------------------------------------------------------------------- export
def _frames(spec: str | None) -> slice:
    if not spec:
        return slice(None)
    try:
        parts = [int(p) if p else None for p in spec.split(":")]
        if len(parts) == 1:
            return slice(parts[0], None if parts[0] == -1 else parts[0] + 1)
        if len(parts) == 3 and parts[2] == 0:
            raise click.BadParameter(f"{spec!r}: the step cannot be 0", param_hint="--frames")
        return slice(*parts)
    except (ValueError, TypeError):
        raise click.BadParameter(f"{spec!r} is not START:STOP[:STEP] or an index",
                                 param_hint="--frames") from None


@click.command("export")
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["extxyz", "xdmf", "vtu"]), required=True,
              help="extxyz (ASE, OVITO), xdmf (ParaView) or vtu (one file per frame and part, with a .pvd).")
@click.option("-o", "--output", type=click.Path(), help="Output path [default: next to RESULTS].")
@click.option("--frames", "frames_spec", help="Frame index or START:STOP[:STEP] (extxyz, vtu).")
@click.option("--repair", is_flag=True,
              help="Clear the 'open for write' flags a killed run leaves (only when no run writes the file).")
def export_cmd(results: str, fmt: str, output: str | None, frames_spec: str | None, repair: bool) -> None:
    """Export results to extxyz (ASE, OVITO), XDMF (ParaView) or VTU files."""
    from multiscale.output.hdf5 import repair as repair_file
    if repair and Path(results).is_file():
        try:
            if repair_file(results):
                click.echo(f"{results}: cleared the open-for-write flags left by a killed run")
        except RuntimeError as exc:
            raise UserError(DeckError(str(exc), file=results)) from None
        except ValueError:
            pass                                   # not HDF5: the reader below says so
    frames = _frames(frames_spec)
    with _open(results) as r:
        clean, n_frames = r.clean, r.nframes
    if not clean:
        click.echo(f"warning: {results} was not closed cleanly; other tools can open it only after "
                   "`msim export ... --repair` (when no run is writing it)", err=True)
    if frames_spec and fmt != "xdmf" and n_frames and not len(range(n_frames)[frames]):
        raise click.BadParameter(f"{frames_spec!r} selects none of the {n_frames} frames of {results} "
                                 f"(indices 0 … {n_frames - 1}, or -1 for the last)", param_hint="--frames")
    src = Path(results)
    try:
        if fmt == "extxyz":
            from multiscale.output.extxyz import write_extxyz
            paths = [write_extxyz(src, output or src.with_suffix(".extxyz"), frames=frames)]
        elif fmt == "xdmf":
            from multiscale.output.xdmf import write_xdmf
            paths = write_xdmf(src, output)
        else:
            from multiscale.output.vtu import write_vtu
            paths = write_vtu(src, output or src.with_suffix(""), frames=frames)
    except DeckError as err:
        raise UserError(err) from None
    for p in paths[:3]:
        click.echo(f"wrote {p}")
    if len(paths) > 3:
        click.echo(f"... and {len(paths) - 3} more files")


# the names `multiscale.cli` looks up (OPTIONAL_COMMANDS: module, attribute)
inspect = inspect_cmd
plot = plot_cmd
export = export_cmd
