"""`msim inspect`, `msim plot`, `msim export`: click commands the CLI attaches to its `msim` group.

    from multiscale.output.commands import inspect_cmd, plot_cmd, export_cmd
    msim.add_command(inspect_cmd); msim.add_command(plot_cmd); msim.add_command(export_cmd)

Each is a plain `click.Command` named inspect / plot / export. A user mistake (missing file, not an msim
file, unknown field or plot) exits with status 2 and the `DeckError` message (a `click.ClickException`
with exit_code 2, so the commands behave the same with or without the CLI's own DeckError mapping).
"""

from __future__ import annotations

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
def _pick(columns: dict[str, np.ndarray], wanted: tuple[str, ...], what: str, path: str) -> list[str]:
    names = [k for k in columns if k not in ("step", "time")]
    if not names:
        raise UserError(DeckError(f"no {what} in this file", file=path))
    for w in wanted:
        if w not in names:
            raise UserError(DeckError(f"no {what} column {w!r}", file=path,
                                      hint=f"available: {', '.join(names)}"))
    return list(wanted) or names


def _plot_energy(r: ResultsReader, fields: tuple[str, ...], path: str):  # noqa: ANN202
    import matplotlib.pyplot as plt
    th = r.thermo()
    names = _pick(th, fields, "energy ledger (thermo)", path)
    if not fields:  # the energy axis only: momentum components and the constraint residual are not energies
        names = [k for k in names if not k.startswith("momentum_") and k != "constraint_residual"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k in names:
        ax.plot(th["time"], th[k], lw=2.2 if k == "total" else 1.2, label=k)
    ax.set_xlabel(f"time [{_unit(r, 'time')}]")
    ax.set_ylabel(f"energy [{_unit(r, 'energy')}]")
    ax.legend(fontsize=8)
    ax.set_title("energy ledger")
    return fig


def _plot_observables(r: ResultsReader, fields: tuple[str, ...], path: str):  # noqa: ANN202
    import matplotlib.pyplot as plt
    ob = r.observables()
    names = _pick(ob, fields, "observables", path)
    force_depth = not fields and "indenter_force" in ob and "indenter_depth" in ob
    npanel = len(names) + force_depth
    fig, axes = plt.subplots(npanel, 1, figsize=(7, 2.6 * npanel), squeeze=False)
    for ax, k in zip(axes[:, 0], names, strict=False):
        v = ob[k].reshape(len(ob[k]), -1)
        for c in range(v.shape[1]):
            ax.plot(ob["time"], v[:, c], label=f"{k}[{c}]" if v.shape[1] > 1 else k)
        ax.set_ylabel(k)
        ax.legend(fontsize=8)
    axes[len(names) - 1, 0].set_xlabel(f"time [{_unit(r, 'time')}]")
    if force_depth:
        ax = axes[-1, 0]
        f = ob["indenter_force"].reshape(len(ob["indenter_force"]), -1)
        for c in range(f.shape[1]):
            ax.plot(ob["indenter_depth"], f[:, c], label=f"force[{c}]")
        ax.set_xlabel(f"indenter depth [{_unit(r, 'length')}]")
        ax.set_ylabel(f"indenter force [{_unit(r, 'force')}]")
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
    ax.set_xlabel("k a")
    ax.set_ylabel("reflected energy fraction R")
    ax.set_title("wave reflection through the handshake")
    ax.legend(fontsize=8)
    return fig


def _unit(r: ResultsReader, quantity: str) -> str:
    from multiscale.units import UNIT_SYSTEMS
    u = UNIT_SYSTEMS.get(str(r.provenance.get("units")))
    return getattr(u, quantity) if u is not None else "?"


@click.command("plot")
@click.argument("results", type=click.Path(dir_okay=False))
@click.argument("what", type=click.Choice(PLOTS))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="PNG file [default: RESULTS_WHAT.png].")
@click.option("-f", "--field", "fields", multiple=True, help="Only these columns (repeatable).")
def plot_cmd(results: str, what: str, output: str | None, fields: tuple[str, ...]) -> None:
    """Plot the energy ledger, the observables, or R against k·a (from `msim verify`) to a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(output) if output else Path(results).with_name(f"{Path(results).stem}_{what}.png")
    if what == "reflection":
        if not Path(results).is_file():
            raise UserError(DeckError("no such file", file=results))
        fig = _plot_reflection(results)
    else:
        with _open(results) as r:
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
        return slice(*parts)
    except (ValueError, TypeError):
        raise click.BadParameter(f"{spec!r} is not START:STOP[:STEP] or an index",
                                 param_hint="--frames") from None


@click.command("export")
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["extxyz", "xdmf", "vtu"]), required=True)
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
    with _open(results) as r:
        clean = r.clean
    if not clean:
        click.echo(f"warning: {results} was not closed cleanly; other tools can open it only after "
                   "`msim export ... --repair` (when no run is writing it)", err=True)
    src = Path(results)
    frames = _frames(frames_spec)
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
