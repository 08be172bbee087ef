"""The ``msim`` command line: a thin layer over the Python API (`load_deck`, `Simulation`).

Exit status: 0 success; 2 a user mistake (`DeckError`: a deck, a file it names, a command-line value;
also click's own usage errors); 3 a numerical blow-up (`BlowUpError`: the message names the step, region
and quantity, and where the last good state was saved); 1 anything else (an internal error); 130
interrupted. Messages go to
stderr; a traceback only with ``--debug`` (or ``MSIM_DEBUG=1``). Never prompts.

Extra plugin modules (a user's own potentials, loads, ...) are imported before any deck is read when
named in ``MSIM_PLUGINS`` (comma- or colon-separated module names).
"""

from __future__ import annotations

import errno
import importlib
import os

# numpy's BLAS threads only compete with msim's own OpenMP kernels (whose thread count is explicit):
# one BLAS thread unless the user asks otherwise (measured: statics 7x slower with threaded OpenBLAS
# on a loaded 2-core machine). Must happen before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import BlowUpError, DeckError

_DEBUG = "msim.debug"


def _debug_requested(ctx: click.Context) -> bool:
    return bool(ctx.meta.get(_DEBUG)) or os.environ.get("MSIM_DEBUG", "") not in ("", "0")


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_DEBUG] = True


debug_option = click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug,
                            help="Show the full traceback on errors.")


def load_plugin_modules() -> None:
    """Import the built-in plugins and the modules named in ``MSIM_PLUGINS``."""
    from .plugins import load_all

    load_all()
    for name in os.environ.get("MSIM_PLUGINS", "").replace(":", ",").split(","):
        if name.strip():
            try:
                importlib.import_module(name.strip())
            except ImportError as exc:
                raise DeckError(f"cannot import plugin module '{name.strip()}' named in MSIM_PLUGINS: {exc}",
                                hint="check the module name and that it is on PYTHONPATH") from None


class MsimGroup(click.Group):
    """Translates exceptions of every subcommand into messages and exit statuses; every subcommand
    accepts ``--debug`` (added here when the command does not declare it)."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any("--debug" in getattr(p, "opts", ()) for p in cmd.params):
            cmd.params.append(click.Option(["--debug"], is_flag=True, expose_value=False, is_eager=True,
                                           callback=_set_debug, help="Show the full traceback on errors."))
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except DeckError as exc:
            if _debug_requested(ctx):
                traceback.print_exc()
            click.echo(exc.format(), err=True)
            ctx.exit(2)
        except BlowUpError as exc:
            if _debug_requested(ctx):
                traceback.print_exc()
            click.echo(f"error: {exc.headline}: {exc}", err=True)
            ctx.exit(3)
        except BrokenPipeError:  # `msim inspect OUT.h5 | head`
            sys.stderr.close()
            ctx.exit(0)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
            if _debug_requested(ctx):
                traceback.print_exc()
                click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
            else:
                click.echo(f"internal error: {type(exc).__name__}: {exc}\n"
                           "run with --debug for the traceback", err=True)
            ctx.exit(1)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from ._kernels import build_report

    click.echo(f"msim, version {__version__}")
    click.echo(build_report())
    ctx.exit(0)


@click.group(cls=MsimGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and how the kernels were built (OpenMP), then exit.")
@debug_option
def cli() -> None:
    """msim: concurrent atomistic/continuum multiscale simulation.

    A deck (YAML) describes the atomistic region, the continuum, the handshake between them, loads, the
    integrator and the output; see decks/README.md.
    """


_deck_arg = click.argument("deck", type=click.Path(dir_okay=False, path_type=Path))
def _set_allow_large(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        from .resources import allow_large

        ctx.with_resource(allow_large(True))


_allow_large_opt = click.option("--allow-large", is_flag=True, expose_value=False, callback=_set_allow_large,
                                help="Build and run models larger than this machine's memory (refused "
                                "by default, with the estimate).")
_threads_opt = click.option("--threads", type=click.IntRange(min=1), default=None,
                            help="OpenMP threads (default: the deck's integrator.threads, else 1); "
                            "results do not depend on it.")


def _load(deck_path: Path) -> Any:
    from .deck import load_deck

    load_plugin_modules()
    return load_deck(deck_path)


@cli.command()
@_deck_arg
@click.option("-o", "--output", type=click.Path(path_type=str), default=None,
              help="HDF5 results file (overrides the deck's output.file). Next to it the run writes "
              "STEM.xdmf (and STEM.mesh.xdmf), STEM.checkpoint.h5, STEM.lastgood.h5 after a blow-up, and "
              "NAME.lock while running.")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Run this many steps instead (quasi-static decks: this many load stages).")
@click.option("--stages", type=click.IntRange(min=1), default=None,
              help="Quasi-static decks: run only the first N load stages (at most the deck's).")
@_threads_opt
@_allow_large_opt
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.option("--restart", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Continue this run from its checkpoint (OUT.checkpoint.h5; give the same -o). The deck "
              "must be the one that wrote it, input files included (by content); only the output section's "
              "file, every, thermo_every, checkpoint_every and compression, the integrator's steps, time "
              "and threads, title and expect may change (e.g. more steps to extend the run). Anything else: "
              "exit 2 with the differing keys.")
@click.option("--from", "start_from", metavar="FILE[:STEP]", default=None,
              help="Start this (new) run from the state at STEP (default: the last frame) of an earlier "
              "results file, or from a checkpoint: a new deck may change loads, integrator, temperature, "
              "length, output, not the model (atoms, mesh). The new file records where it came from.")
@click.option("--decompose", type=click.Choice(["auto", "replicated", "spatial"]), default="auto",
              show_default=True,
              help="Under mpiexec (P > 1 ranks), coupled dynamics decks: 'auto' runs 'spatial' when the "
              "spatial decomposition supports the deck, else 'replicated' with one line on stderr naming "
              "the refused key; 'spatial' (the atoms decomposed in slabs, mesh and constraint solve "
              "replicated; 2D/3D, every coupling method, a pair potential or tabulated EAM, Langevin "
              "thermostat, damping band, fixed, prescribed, kfield, indenter, body-force and traction loads; "
              "equal to the serial run to round-off; a deck it refuses exits 2); 'replicated' (the whole model on every rank, forces split; bitwise the "
              "serial run). Plain-MD decks always run decomposed ('replicated' exits 2), quasi-static "
              "decks replicated ('spatial' exits 2); one rank: the serial run. The path is printed on "
              "stderr and recorded in the results file (root attribute 'decomposition'); "
              "`msim validate --ranks P` tells it in advance. docs/parallel.md.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing file at the output path. Without it msim refuses (exit 2) to "
              "overwrite any existing file, results of an earlier run or not. --restart continues its own "
              "results file and needs no --overwrite. The run's inputs (the deck, files it names, the "
              "checkpoint) are never overwritten, --overwrite or not.")
@debug_option
def run(deck: Path, output: str | None, steps: int | None, stages: int | None, threads: int | None,
        quiet: bool, restart: Path | None, start_from: str | None, overwrite: bool,
        decompose: str = "auto") -> None:
    """Run the simulation described by DECK.

    The output location is checked before the model is built (exit 2): not an input of the run, not
    one of the run's own companion files, writable, no existing file unless --overwrite. A full disk
    during the run stops it with exit status 1 and one line naming the file and the space needed; the
    results file keeps every complete step and the last checkpoint stays valid.

    Quasi-static decks write a checkpoint after every load stage (or every output.checkpoint_every
    stages); dynamics decks every output.checkpoint_every steps.

    Under `mpiexec -n P` (P > 1, needs msim[mpi]) dynamics decks run on a slab decomposition of the
    atoms: plain MD (Langevin included) always, coupled decks when the spatial decomposition supports
    them (--decompose auto, the default), else replicated (the whole model on every rank, the atoms' and
    the continuum's forces split; bitwise the serial run) with one line naming why; quasi-static decks
    (with or without a mesh) run replicated. Pair potentials or tabulated EAM; rank 0 writes the usual
    files; other decks are refused with exit 2 (docs/parallel.md).
    """
    from .parallel.comm import get_comm

    comm = get_comm()           # serial unless an MPI launcher started P > 1 ranks (no mpi4py import)
    if comm.size > 1:
        return _run_mpi(comm, deck, output, steps, threads, quiet, restart, start_from, overwrite, stages,
                        decompose)
    d = _load(deck)  # deck mistakes are reported before anything else is imported
    _check_continues(d, start_from, restart)
    from .output import paths
    from .output._lock import reserve

    out = paths.results_path(d, output)
    inputs = paths.deck_inputs(d)
    if start_from is not None:
        from .output.continuation import parse_spec
        inputs = {**inputs, "the --from file": parse_spec(start_from)[0]}
    paths.check_output(out, inputs=inputs, restart=restart, overwrite=overwrite)
    with reserve(out):    # no other msim run can take this file between these checks and the writing
        paths.check_output(out, inputs=inputs, restart=restart, overwrite=overwrite)
        from .simulation import Simulation

        # `--decompose spatial` on one rank: the spatial path (built per rank when it covers the deck)
        sim = _per_rank_simulation(comm, d, threads, decompose, restart, start_from)
        if sim is None:
            sim = Simulation.from_deck(d, threads=threads)
            sim.decompose = decompose
        paths.check_free_space(out, _start_bytes(sim, d))
        kw: dict[str, Any] = {"start_from": start_from} if start_from is not None else {}
        if stages is not None:
            kw["stages"] = stages
        try:
            result = sim.run(output=out, steps=steps, restart=restart,
                             progress="quiet" if quiet else "auto", **kw)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            msg = str(exc) if isinstance(exc, paths.DiskFullError) else \
                f"no space left on device writing {exc.filename or out} ({exc.strerror})"
            click.echo(f"error: {msg}", err=True)
            click.get_current_context().exit(1)
    where = result if isinstance(result, str | os.PathLike) else output
    if where is not None and not quiet:
        click.echo(f"results: {where}")


def _check_continues(d: Any, start_from: str | None, restart: Path | None, quiet: bool = False) -> None:
    """A deck with ``integrator.continues`` starts from an earlier run's state: without --from (or
    --restart of its own run) it would silently start from the deck's initial state instead."""
    name = getattr(d.config.integrator, "continues", None)
    if name is None:
        return
    earlier = d.resolve_file("integrator.continues", name)      # deck error if the named deck is missing
    if start_from is None and restart is None:
        raise d.error("integrator.continues",
                      f"this deck continues a run of {name}: it needs that run's state",
                      hint=f"run `msim run {earlier} -o EARLIER.h5` first, then this deck with "
                      "--from EARLIER.h5")
    if start_from is not None:
        from .output.continuation import parse_spec
        try:
            from .output.reader import ResultsReader
            with ResultsReader(parse_spec(start_from)[0]) as r:
                text = str(r.provenance.get("deck_text", ""))
        except Exception:  # noqa: BLE001 - a checkpoint or an unreadable file: --from itself reports it
            return
        if text and text != earlier.read_text() and not quiet:
            click.echo(f"warning: --from {start_from} was not written by {name} as it is now (the deck "
                       "named in integrator.continues): check that this is the run you meant", err=True)


def _agree(comm: Any, fn: Any) -> Any:
    """Run ``fn()`` on every rank; if it failed on any, exit on EVERY rank with the first failing rank's
    status (2 deck error, 3 blow-up, 1 internal), the message printed once (by rank 0). For the set-up
    steps that every rank does alike (deck, model, the distributed-run check)."""
    err: tuple[int, str] | None = None
    out = None
    try:
        out = fn()
    except DeckError as exc:
        err = (2, exc.format())
    except BlowUpError as exc:
        err = (3, f"error: {exc.headline}: {exc}")
    except Exception as exc:  # noqa: BLE001 - reported once, then every rank stops
        err = (1, f"internal error: {type(exc).__name__}: {exc}\n" + traceback.format_exc())
    errs = comm.allgather(err)
    first = next((e for e in errs if e is not None), None)
    if first is not None:
        if comm.rank == 0:
            click.echo(first[1], err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        click.get_current_context().exit(first[0])
    return out


def _run_mpi(comm: Any, deck: Path, output: str | None, steps: int | None, threads: int | None,
             quiet: bool, restart: Path | None, start_from: str | None, overwrite: bool,
             stages: int | None, decompose: str = "auto") -> None:
    """``mpiexec -n P msim run DECK`` (docs/parallel.md): the set-up on every rank with one verdict
    (`_agree`: a deck that cannot run distributed exits 2 on every rank, the message printed once), then
    the run under `parallel.comm.run_guarded` (a failure on one rank stops all). Rank 0 checks and
    reserves the output, writes the results, checkpoints and progress."""
    import contextlib

    from .output import paths
    from .output._lock import reserve
    from .parallel.comm import run_guarded

    if comm.rank != 0:     # the replicated minimiser warns on every rank alike: print it once
        import warnings

        from .errors import DeckWarning, NotConvergedWarning
        warnings.filterwarnings("ignore", category=NotConvergedWarning)
        warnings.filterwarnings("ignore", category=DeckWarning)    # e.g. the held rows' (run.prepare): once

    def setup() -> tuple[Any, Path, dict]:
        d = _load(deck)
        _check_continues(d, start_from, restart, quiet=comm.rank != 0)   # the warning from rank 0 only
        out = paths.results_path(d, output)
        inputs = paths.deck_inputs(d)
        if start_from is not None:
            from .output.continuation import parse_spec
            inputs = {**inputs, "the --from file": parse_spec(start_from)[0]}
        if comm.rank == 0:
            paths.check_output(out, inputs=inputs, restart=restart, overwrite=overwrite)
        return d, out, inputs

    d, out, inputs = _agree(comm, setup)
    with reserve(out) if comm.rank == 0 else contextlib.nullcontext():
        def build() -> Any:
            from .simulation import Simulation

            if comm.rank == 0:
                paths.check_output(out, inputs=inputs, restart=restart, overwrite=overwrite)
            sim = _per_rank_simulation(comm, d, threads, decompose, restart, start_from)
            if sim is not None:     # the spatial path built per rank: no rank builds the serial model
                sim.check_time_step()
                if comm.rank == 0:
                    paths.check_free_space(out, _start_bytes(sim, d))
                return sim
            sim = Simulation.from_deck(d, threads=threads, comm=comm)
            sim.decompose = decompose
            sim.check_distributable()
            if not sim.statics and sim.model.continuum is not None and decompose != "replicated":
                sim.prepare()   # the choice (auto) and the spatial path's refusals with one verdict
            sim.choose_decomposition()
            # deck checks of the run with one verdict (rank 0 decides): the message once, exit 2, on
            # every path (rev30 F8 / F6: inside `run_guarded` each rank printed it, then MPI_Abort)
            sim.check_time_step()
            if restart is not None:
                sim.check_restart(out, restart, steps, stages)
            if comm.rank == 0:
                paths.check_free_space(out, _start_bytes(sim, d))
            return sim

        sim = _agree(comm, build)
        _log_decomposition(sim.decomposition, quiet, comm.rank)
        kw: dict[str, Any] = {"start_from": start_from} if start_from is not None else {}
        if stages is not None:
            kw["stages"] = stages
        def go() -> BlowUpError | None:
            try:
                sim.run(output=out, steps=steps, restart=restart, progress="quiet" if quiet else "auto", **kw)
            except BlowUpError as exc:
                if getattr(exc, "collective", False):   # the guard's verdict, reached by every rank together
                    return exc
                raise
            return None

        blown = run_guarded(comm, go)   # any other failure on any rank: message, MPI_Abort of every rank
        comm.barrier()                  # rank 0 has closed the results file (and saved OUT.lastgood.h5)
    if blown is not None:
        if comm.rank == 0:
            click.echo(f"error: {blown.headline}: {blown}", err=True)
        click.get_current_context().exit(3)
    if comm.rank == 0 and not quiet:
        click.echo(f"results: {out}")


def _per_rank_simulation(comm: Any, d: Any, threads: int | None, decompose: str, restart: Any,
                         start_from: Any) -> Any:
    """The `run.spatial_rank.RankSimulation` of a coupled dynamics deck on the spatial path when
    `parallel.rank_build.per_rank_refusal` accepts it (no rank builds the serial model), else None (the
    serial build: today's paths). The spatial path: ``--decompose spatial``, or ``auto`` on P > 1 ranks (the
    per-rank build covers only decks `parallel.coupled_spatial.spatial_refusal` accepts; what it can tell
    only once built, `parallel.rank_build.PerRankRefused`, falls back to the serial build too)."""
    if decompose == "replicated" or (decompose == "auto" and comm.size == 1):
        return None
    cfg = d.config
    if cfg.atoms is None or cfg.continuum is None or cfg.handshake is None:
        return None
    from .parallel.rank_build import PerRankRefused, per_rank_refusal
    if per_rank_refusal(d, comm.size, restart=restart is not None, start_from=start_from is not None) is not None:
        return None
    from .run.spatial_rank import RankSimulation
    try:
        return RankSimulation(d, comm, threads, decompose)
    except PerRankRefused:
        return None


def _log_decomposition(dec: Any, quiet: bool, rank: int) -> None:
    """The path of a run on P ranks, one line on rank 0's stderr (`run.distributed.Decomposition.
    describe`): always when ``auto`` fell back to replicated (never a silently different path), else
    unless --quiet."""
    if rank == 0 and (dec.refusal is not None or not quiet):
        click.echo(("note: " if dec.refusal is not None else "") + dec.describe(), err=True)


def _start_bytes(sim: Any, deck: Any) -> int:
    """Bytes the start of the run needs (static data, first frame, a checkpoint); 0 without a model."""
    from .output.paths import start_bytes

    system = getattr(getattr(sim, "model", None), "system", None)
    if system is None:
        return 0
    out = deck.config.output
    return start_bytes(int(system.n_atoms), int(system.n_nodes), int(system.d), out.fields,
                       bool(out.checkpoint_every))


@cli.command()
@_deck_arg
@_threads_opt
@_allow_large_opt
@click.option("--ranks", type=click.IntRange(min=1), default=None,
              help="Also say how `mpiexec -n RANKS msim run` would run the deck: its path (serial, "
              "replicated or spatial, and why an automatic choice is not spatial), or exit 2 with the "
              "deck error that refuses it. Default: the number of ranks `msim validate` was started on "
              "(`mpiexec -n P msim validate DECK`: rank 0 checks, the other ranks do nothing).")
@click.option("--decompose", type=click.Choice(["auto", "replicated", "spatial"]), default="auto",
              show_default=True, help="With --ranks: the `msim run --decompose` value to check.")
@debug_option
def validate(deck: Path, threads: int | None, ranks: int | None = None, decompose: str = "auto") -> None:
    """Check DECK and build the model without stepping; print what to check before a long run."""
    from .parallel.comm import launched_with_mpi
    if launched_with_mpi():       # `mpiexec -n P msim validate`: rank 0 checks for P ranks
        from .parallel.comm import get_comm
        comm = get_comm()
        if comm.rank != 0:
            return
        ranks = comm.size if ranks is None else ranks
    d = _load(deck)
    name = getattr(d.config.integrator, "continues", None)
    if name is not None:
        d.resolve_file("integrator.continues", name)      # deck error if the named deck is missing
    from ._kernels import build_report
    from .simulation import Simulation

    sim = Simulation.from_deck(d, threads=threads)
    click.echo(sim.summary())
    click.echo(build_report())
    sim.check_loads()      # the loads' selections and vectors, as the run's prepare (deck errors, exit 2)
    note = sim.held_row_note()     # rev32 F14: rows the run drops as held, said before it
    if note:
        click.echo(f"note          {note}")
    sim.check_time_step()  # a deck error (exit 2) after the summary, unless integrator.allow_unstable_dt
    if ranks is not None and ranks > 1:
        click.echo(_validate_ranks(sim, d, ranks, decompose))
    click.echo(f"{deck}: OK")


def _validate_ranks(sim: Any, d: Any, ranks: int, decompose: str) -> str:
    """`msim validate --ranks P`: the line `msim run` on P ranks would log (`run.distributed.
    Decomposition.describe`), from one process: the same checks as the run (`check_distributable`, the
    choice, a forced spatial path's refusal; deck errors, exit 2), with the serial model prepared."""
    from .run.distributed import check_distributable, choose_decomposition
    check_distributable(sim.model, d, sim.statics, ranks)
    coupled_dyn = not sim.statics and sim.model.continuum is not None
    integ = None
    if coupled_dyn and decompose != "replicated":
        sim.prepare()
        integ = sim.integrator
    dec = choose_decomposition(sim.model, d, sim.statics, ranks, decompose, integ)
    if coupled_dyn and dec.path == "spatial" and decompose == "spatial":
        from .parallel.coupled_spatial import spatial_refusal
        why = spatial_refusal(sim.model, integ, ranks)
        if why is not None:
            raise d.error(why[0], why[1])
    if coupled_dyn and dec.path == "spatial":     # a fresh run: built per rank when the deck qualifies
        from dataclasses import replace

        from .parallel.rank_build import per_rank_refusal
        if per_rank_refusal(d, ranks) is None:
            dec = replace(dec, per_rank=True)
    return dec.describe()


@cli.command()
@_deck_arg
@debug_option
def show(deck: Path) -> None:
    """Print DECK with every default filled in (YAML)."""
    import yaml

    d = _load(deck)
    click.echo(f"# {deck} with every default filled in", nl=True)
    click.echo(yaml.safe_dump(d.with_defaults(), sort_keys=False, default_flow_style=None,
                              allow_unicode=True), nl=False)


def _register_commands(group: click.Group) -> None:
    """Add the commands other modules define. Every one is required: an import failure is an error of
    the installation and propagates (no command silently disappears)."""
    from .output.commands import export_cmd, inspect_cmd, plot_cmd
    from .regress import regress
    from .verify import verify

    for cmd in (inspect_cmd, plot_cmd, export_cmd, verify, regress):
        group.add_command(cmd)


_register_commands(cli)


def _show_msim_warnings() -> None:
    """msim's own warnings (`errors.NotConvergedWarning`) as one ``warning: ...`` line on stderr, not
    Python's file:line form; other libraries' warnings keep theirs."""
    import warnings

    from .errors import ContinuationWarning, DeckWarning, NotConvergedWarning

    python_show = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        if issubclass(category, NotConvergedWarning | ContinuationWarning | DeckWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            python_show(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``msim``)."""
    _show_msim_warnings()
    cli.main(args=argv, prog_name="msim")


if __name__ == "__main__":  # pragma: no cover
    main()
