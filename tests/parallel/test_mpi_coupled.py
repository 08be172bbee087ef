"""`mpiexec -n 2 msim run` of COUPLED decks against the serial `msim run` of the same deck: the real command
line in subprocesses, results files compared. The replicated-data run (`parallel/replicated.py`) is asked
for explicitly (``--decompose replicated``); the default (``auto``) runs the decks the spatial path supports
on it (wave2d, the 3D smoke deck: `test_default_path_spatial`, the 1e-12 contract of issue 14 after 1 000
steps) and falls back to the replicated path with one line naming why (wave1d: 1D;
`test_default_path_fallback`, bitwise); a restart crosses paths and rank counts (`test_restart_across_paths`).

The serial reference is the ordinary run (`VelocityVerlet` on the whole `CoupledSystem`, one process, no
MPI); on 2 ranks each rank computes the pair forces of its block of atoms (`parallel.split_forces`: the
serial kernel on the list entries touching the block) and one Allgatherv of the owned rows gives every
rank all of them, everything else is replicated. Positions are compared as x = X + u relative to the
extent of the reference configuration (atoms; nodes: of the mesh), energies relative to the run's energy
scale (max over the thermo rows of |K_atoms| + |K_continuum| + |Π_atoms| + |Π_continuum| + |coupling|):
some decks sit at rest (patch2d: u ~ 1e-14 of round-off), where a relative difference of u itself or of a
1e-24 kinetic energy measures nothing. The split gives every rank the serial forces bit for bit, so
the 2-rank run is asserted to be the serial run bitwise (every difference 0).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from mpi_helpers import ROOT, mpirun, msim, ok, restarted, results, serial_and_two

DECKS = ROOT / "decks"
ENERGIES = ("kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum", "coupling",
            "external_work", "dissipated", "total", "total_modified")


def deck_variant(src: Path, tmp: Path, name: str, **changes: dict) -> Path:
    """A copy of deck ``src`` (sections updated one level deep) named ``name``."""
    d = yaml.safe_load(src.read_text())
    for sec, upd in changes.items():
        d[sec] = {**d.get(sec, {}), **upd}
    d.pop("expect", None)
    out = tmp / name
    out.write_text(yaml.safe_dump(d, sort_keys=False))
    return out


def _fields(path: Path) -> dict:
    from multiscale.output.reader import ResultsReader
    out = {}
    with ResultsReader(path) as r:
        out["steps"] = np.asarray(r.steps)
        for region in ("atoms", "nodes"):
            for f in ("displacement", "velocity"):
                out[f"{region}/{f}"] = np.asarray(r.field(region, f))
        out["thermo"] = {k: np.asarray(v) for k, v in r.thermo().items()}
    with h5py.File(path, "r") as f:
        out["X"] = f["static/atoms/reference_positions"][()]
        out["nodes"] = f["static/nodes/reference_positions"][()] if "static/nodes/reference_positions" in f \
            else f["static/mesh/nodes"][()]
    return out


def compare_coupled(a: Path, b: Path, tol: float) -> dict:
    """Largest differences between two coupled results files (module docstring); asserts ≤ tol."""
    fa, fb = _fields(a), _fields(b)
    assert np.array_equal(fa["steps"], fb["steps"]) and fa["steps"].size >= 2
    got = {}
    for region, ref in (("atoms", fb["X"]), ("nodes", fb["nodes"])):
        ext = float(np.max(np.ptp(ref, axis=0)))
        got[f"{region}.position"] = float(np.max(np.abs(fa[f"{region}/displacement"]
                                                        - fb[f"{region}/displacement"]))) / ext
        vs = float(np.max(np.abs(fb[f"{region}/velocity"])))
        dv = float(np.max(np.abs(fa[f"{region}/velocity"] - fb[f"{region}/velocity"])))
        got[f"{region}.velocity"] = dv / max(vs, 1e-300)
    ta, tb = fa["thermo"], fb["thermo"]
    assert np.array_equal(ta["step"], tb["step"])
    scale = float(np.max(sum(np.abs(tb[k]) for k in ENERGIES[:5])))
    for k in ENERGIES:
        got["thermo." + k] = float(np.max(np.abs(ta[k] - tb[k]))) / scale
    # velocities ≤ 1e3·tol of their maximum where the deck moves (a deck at rest has round-off velocities)
    moving = {r: float(np.max(np.abs(fb[f"{r}/velocity"]))) > 1e-8 for r in ("atoms", "nodes")}
    bad = {k: v for k, v in got.items() if not v <= (1e3 * tol if k.endswith("velocity") else tol)
           and (not k.endswith("velocity") or moving[k.split(".")[0]])}
    assert not bad, f"differences above {tol}: {bad} (all: {got})"
    return got


CASES = {
    "wave1d": (DECKS / "wave1d.yaml", 1000, {}),                     # projected constraints, harmonic chain
    "wave1d_damped": (DECKS / "wave1d_damped.yaml", 1000, {}),       # + the damping band
    "wave2d": (DECKS / "wave2d.yaml", 500, {}),                      # 2D LJ, projected, deck length
    "wave2d_strong": (DECKS / "wave2d.yaml", 500,
                      {"handshake": {"coupling": {"type": "strong"}}}),
    "patch2d": (DECKS / "patch2d.yaml", 400, {}),                    # ghost-force corrected, deck length
    # 3D: fcc Morse block, hex8 mesh, strong coupling, thermal core, fixed bottom (a load)
    "coupled3d": (Path(__file__).resolve().parent / "decks" / "coupled3d_smoke.yaml", 1000, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_coupled_one_vs_two_ranks(tmp_path: Path, case: str) -> None:
    """A coupled deck serially and on 2 ranks with ``--decompose replicated``: BITWISE the same positions,
    velocities and thermo energies (the split force evaluation gives every rank the serial forces,
    energies and virial bit for bit: `parallel.split_forces`), the same HDF5 layout and static data; the
    results file records the path."""
    src, steps, changes = CASES[case]
    deck = deck_variant(src, tmp_path, f"{case}.yaml", **changes)
    s, p = serial_and_two(deck, tmp_path, "--steps", str(steps), two=("--decompose", "replicated"))
    assert decomposition(p) == {"ranks": 2, "path": "replicated", "requested": "replicated",
                                "kind": "coupled dynamics"}
    assert decomposition(s) == {"ranks": 1, "path": "serial", "requested": "auto", "kind": "coupled dynamics"}
    got = compare_coupled(p, s, 0.0)
    print(case, got)
    assert all(v == 0.0 for v in got.values()), got
    with h5py.File(s, "r") as fs, h5py.File(p, "r") as fp:
        names_s, names_p = [], []
        fs.visit(names_s.append)
        fp.visit(names_p.append)
        assert names_s == names_p
        for g in [n for n in names_s if n.startswith("static/") and isinstance(fs[n], h5py.Dataset)]:
            assert np.array_equal(fs[g][()], fp[g][()]), g


def decomposition(path: Path) -> dict:
    """The results file's record of the run's path (root attribute ``decomposition``)."""
    import json
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs["decomposition"])


DEFAULT_SPATIAL = {"wave2d": DECKS / "wave2d.yaml",                                    # 2D LJ, projected
                   "coupled3d": Path(__file__).resolve().parent / "decks" / "coupled3d_smoke.yaml"}  # 3D strong, fixed


@pytest.mark.parametrize("case", list(DEFAULT_SPATIAL))
def test_default_path_spatial(tmp_path: Path, case: str) -> None:
    """``mpiexec -n 2 msim run DECK`` (no option) of a deck the spatial path supports: the run takes it —
    said on stderr by one line from rank 0 (without --quiet), recorded in the results file — and after
    1 000 steps agrees with the serial run to the issue's contract: positions and every thermo energy
    ≤ 1e-12 (relative to the extent / the energy scale), velocities ≤ 1e-9 of their largest value
    (round-off amplified, docs/parallel.md)."""
    deck = deck_variant(DEFAULT_SPATIAL[case], tmp_path, f"{case}.yaml")
    s, p = tmp_path / "s.h5", tmp_path / "p.h5"
    ok(msim(0, str(deck), "-o", str(s), "--steps", "1000"))
    run = mpirun(2, "-m", "multiscale.cli", "run", deck, "-o", p, "--steps", "1000", timeout=600)
    ok(run)
    lines = [ln for ln in run.stderr.splitlines() if "decomposition" in ln]
    assert len(lines) == 1 and lines[0].startswith("decomposition: spatial (the atoms in slabs"), run.stderr
    rec = {"ranks": 2, "path": "spatial", "requested": "auto", "kind": "coupled dynamics"}
    if case == "wave2d":        # built per rank (`run.spatial_rank`); the 3D deck (thermal start, fixed
        rec["build"] = "per rank"   # bottom) keeps the serial build (`parallel.rank_build.per_rank_refusal`)
    assert decomposition(p) == rec
    got = compare_coupled(p, s, 1e-12)
    print(case, got)
    assert any(v != 0.0 for v in got.values()), "bitwise the serial run: not the spatial path?"


def test_default_path_fallback(tmp_path: Path) -> None:
    """A deck the spatial path refuses (wave1d: 1D) runs replicated by default — bitwise the serial run —
    with ONE line on stderr (printed by rank 0 only, even with --quiet) naming the refused key and the
    refusal's message, and the results file records the fallback; ``--decompose spatial`` exits 2 with
    that refusal."""
    s, p = tmp_path / "s.h5", tmp_path / "p.h5"
    ok(msim(0, str(DECKS / "wave1d.yaml"), "-o", str(s), "--steps", "300"))
    run = msim(2, str(DECKS / "wave1d.yaml"), "-o", str(p), "--steps", "300")
    ok(run)
    notes = [ln for ln in run.stderr.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "replicated" in notes[0] and "refuses this deck at atoms: 1D is not supported" in notes[0], notes
    rec = decomposition(p)
    assert rec["path"] == "replicated" and rec["requested"] == "auto" and rec["spatial_refused_at"] == "atoms"
    assert rec["spatial_refusal"].startswith("1D is not supported"), rec
    got = compare_coupled(p, s, 0.0)
    assert all(v == 0.0 for v in got.values()), got
    bad = msim(2, str(DECKS / "wave1d.yaml"), "-o", str(tmp_path / "x.h5"), "--decompose", "spatial")
    assert bad.returncode == 2 and bad.stderr.count("1D is not supported") == 1, bad.stderr[-2000:]
    assert "Traceback" not in bad.stderr


def test_restart_across_paths(tmp_path: Path) -> None:
    """wave2d to step 200 on 2 ranks replicated (``--decompose replicated``), restarted on 2 ranks by
    default (spatial) to 300, restarted serially to 400: within the 1e-12 contract of a straight serial
    run (checkpoints are serial checkpoints on every path); the file records each leg's path."""
    import json
    deck = deck_variant(DECKS / "wave2d.yaml", tmp_path, "w.yaml", integrator={"steps": 400},
                        output={"every": 100, "thermo_every": 50, "checkpoint_every": 100})
    ref, out, ck = tmp_path / "ref.h5", tmp_path / "run.h5", tmp_path / "run.checkpoint.h5"
    ok(msim(0, str(deck), "-o", str(ref)))
    ok(msim(2, str(deck), "-o", str(out), "--steps", "200", "--decompose", "replicated"))
    ok(msim(2, str(deck), "-o", str(out), "--steps", "300", "--restart", str(ck)))
    ok(msim(0, str(deck), "-o", str(out), "--restart", str(ck)))
    got = compare_coupled(out, ref, 1e-12)
    print(got)
    with h5py.File(out, "r") as f:
        legs = [r["decomposition"] for r in json.loads(f.attrs["restarts"])]
    assert decomposition(out)["path"] == "replicated"
    assert [(leg["path"], leg["ranks"]) for leg in legs] == [("spatial", 2), ("serial", 1)], legs


def test_coupled_two_ranks_twice_bitwise(tmp_path: Path) -> None:
    """wave2d twice on 2 ranks (the default: the spatial path): bitwise-identical frames and thermo."""
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    for out in (a, b):
        ok(msim(2, str(DECKS / "wave2d.yaml"), "-o", str(out), "--steps", "200"))
    ra, rb = results(a), results(b)
    keys = [k for k in ra if k.startswith(("frames", "thermo")) and ra[k].dtype.kind == "f"]
    assert keys and sorted(ra) == sorted(rb)
    for k in keys:
        assert np.array_equal(ra[k], rb[k]), k


def test_coupled_restart_2to1(tmp_path: Path) -> None:
    """wave2d: 100 steps on 2 ranks replicated, checkpoint, restart on 1 rank to 200 = a straight serial
    run, bitwise."""
    deck = deck_variant(DECKS / "wave2d.yaml", tmp_path, "w.yaml", integrator={"steps": 200},
                        output={"every": 50, "thermo_every": 50, "checkpoint_every": 100})
    ref, out = restarted(deck, tmp_path, 2, 0, 100, "--decompose", "replicated")
    got = compare_coupled(out, ref, 0.0)
    print(got)
    assert all(v == 0.0 for v in got.values()), got


def test_coupled_engine_refused(tmp_path: Path) -> None:
    """What the replicated coupled run does not split — an external-engine potential (LAMMPS lj/cut in
    the core, engine Cauchy-Born mesh) — exits 2 on every rank with one message naming ``potential``, no
    traceback, no results file, within seconds (each rank's LAMMPS instance is on MPI_COMM_SELF: with
    MPI_COMM_WORLD the two ranks' instances waited for each other for ever). Coupled statics and EAM
    run: tests/parallel/test_mpi_coupled_statics.py."""
    out = tmp_path / "c.h5"
    p = msim(2, str(DECKS / "wave2d_lammps_cb.yaml"), "-o", str(out), timeout=120)
    assert p.returncode == 2, p.stderr[-3000:]
    err = p.stderr
    assert err.count("cannot run on 2 MPI ranks") == 1, err
    assert "potential" in err and "external engines" in err and "Traceback" not in err, err
    assert not out.exists()


#: the head of the scripts below: the deck (argv[1]) prepared on the replicated path of every rank
REPLICATED = """
import sys
import numpy as np
from multiscale.deck import load_deck
from multiscale.parallel.comm import get_comm
from multiscale.simulation import Simulation
comm = get_comm()
sim = Simulation.from_deck(load_deck(sys.argv[1]), threads=1, comm=comm)
sim.decompose = "replicated"     # the replicated path (the default, auto, may take the spatial one)
sim.prepare()
assert sim.decomposition.path == "replicated"
"""

REPLICA_SCRIPT = REPLICATED + """
sim.integrator.step(3)
sim.measure()                                   # equal replicas: passes
if comm.rank == 1:
    x = sim.model.atoms.x
    x[7, 0] = np.nextafter(x[7, 0], np.inf)     # one ulp on one rank
try:
    sim.measure()
except RuntimeError as exc:
    print(f"rank {comm.rank}: {exc}")
"""


def test_replicas_checked(tmp_path: Path) -> None:
    """One ulp of one atom's position changed on rank 1 only: the thermo row's replica check raises on
    BOTH ranks (a collective verdict), while equal replicas pass."""
    script = tmp_path / "replica.py"
    script.write_text(REPLICA_SCRIPT)
    p = mpirun(2, script, DECKS / "wave2d.yaml")
    assert p.returncode == 0, p.stderr[-3000:]
    for r in (0, 1):
        assert f"rank {r}: the replicated states of the ranks differ" in p.stdout, p.stdout + p.stderr


SPLIT_SCRIPT = REPLICATED + """
a = sim.model.atoms
assert a.split_forces is not None and a.split_forces.comm.size == 2
a.x += 0.02 * np.random.default_rng(3).standard_normal(a.x.shape)     # the same on both ranks
out = []
for virial in (False, True):
    for ae in (True, False):
        e1 = a.compute(virial=virial, atom_energies=ae)                  # split (collective)
        f1, en1, w1 = a.forces.copy(), a.energies.copy(), a.virial.copy()
        e0 = type(a).compute(a, virial=virial, atom_energies=ae)         # the serial evaluation
        same = [np.array_equal(f1, a.forces), np.array_equal(en1, a.energies), e1 == e0]
        if virial:
            same.append(np.array_equal(w1, a.virial) and np.any(w1 != 0))
        out.append(f"rank {comm.rank} virial={virial} atom_energies={ae}: {'bitwise' if all(same) else same}")
lines = comm.gather(out)
if comm.rank == 0:
    print("\\n".join(ln for rank_lines in lines for ln in rank_lines))
"""


@pytest.mark.parametrize("deck", [DECKS / "wave2d.yaml",
                                  Path(__file__).resolve().parent / "decks" / "coupled3d_smoke.yaml"])
def test_split_forces_bitwise_serial(tmp_path: Path, deck: Path) -> None:
    """`parallel.split_forces.SplitPairForces` on 2 ranks (installed by `setup_replicated`) against the
    serial `AtomisticRegion.compute` on the same perturbed positions, with and without the virial and the
    per-atom energy shares: forces, energies, E and virial bitwise equal on both ranks."""
    run_split_script(SPLIT_SCRIPT, deck, tmp_path)


def run_split_script(text: str, deck: Path, tmp_path: Path, n_lines: int = 8, name: str = "split.py") -> str:
    """Run the check script ``text`` (written to ``tmp_path/name``) on ``deck`` under `mpiexec -n 2`; assert
    that it exits 0 and that its ``n_lines`` "rank ..." lines (the split-force scripts: 2 ranks x virial x
    atom energies) all end in "bitwise". Returns stdout."""
    script = tmp_path / name
    script.write_text(text)
    p = mpirun(2, script, deck)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("rank ")]
    assert len(lines) == n_lines and all(ln.endswith("bitwise") for ln in lines), p.stdout
    return p.stdout


SPLIT_CONTINUUM_SCRIPT = """
import sys
import numpy as np
from multiscale.deck import load_deck
from multiscale.parallel.comm import get_comm
from multiscale.parallel.replicated import ReplicatedComm
from multiscale.parallel.split_continuum import SplitContinuum
from multiscale.simulation import Simulation
comm = get_comm()
c = Simulation.from_deck(load_deck(sys.argv[1]), threads=1).model.continuum     # the serial model
split = SplitContinuum(c, ReplicatedComm(comm))
rng = np.random.default_rng(5)                  # the same displacements on every rank
scale = 1e-3 * float(np.max(np.ptp(c.nodes, axis=0)))
out = []
for trial in range(2):
    c.U[...] = scale * rng.standard_normal(c.U.shape)
    c.forces[...] = np.nan
    e1 = split.compute()                         # split (collective)
    f1 = c.forces.copy()
    c.forces[...] = np.nan
    e0 = type(c).compute(c)                      # the serial evaluation
    same = [np.array_equal(f1, c.forces), e1 == e0, bool(np.any(f1 != 0))]
    out.append(f"rank {comm.rank} trial {trial}: {'bitwise' if all(same) else same}")
lb = split.load_balance()
lines = comm.gather(out)
if comm.rank == 0:
    print("\\n".join(ln for rank_lines in lines for ln in rank_lines))
    print("LB", lb)
"""


@pytest.mark.parametrize("deck", [DECKS / "wave2d.yaml",                     # tri3, linear, node stencils
                                  DECKS / "wave1d.yaml",                     # 1D bars
                                  Path(__file__).resolve().parent / "decks" / "coupled3d_smoke.yaml",  # hex8
                                  DECKS / "indent2d_small.yaml",             # Cauchy-Born (nonlinear)
                                  DECKS / "thermal2d.yaml"])                 # per-point material state
def test_split_continuum_bitwise_serial(tmp_path: Path, deck: Path) -> None:
    """`parallel.split_continuum.SplitContinuum` on 2 ranks against the serial `ContinuumRegion.compute`
    at random displacements (twice): every node force and E bitwise equal on both ranks; together the
    ranks compute each node once, each about half of them (whole chunks of 256 nodes per node list)."""
    import ast
    stdout = run_split_script(SPLIT_CONTINUUM_SCRIPT, deck, tmp_path, 4, "split_continuum.py")
    lb = ast.literal_eval(stdout.split("LB ", 1)[1].strip())
    print(deck.name, lb)
    assert sum(lb["nodes"]) == lb["nodes_serial"] > 0
    # whole chunks of 256 nodes per node list (general nodes, stencil parts) on each rank
    assert max(lb["nodes"]) <= lb["nodes_serial"] / 2 + 256 * lb["node_lists"], lb
    assert min(lb["nodes"]) > 0


FUSED_SCRIPT = REPLICATED + """
a, c = sim.model.atoms, sim.model.continuum
assert a.split_forces.partner is c.split and c.split.comm.size == 2
rng = np.random.default_rng(9)
scale = 1e-3 * float(np.max(np.ptp(c.nodes, axis=0)))
out = []
for change in (False, True):
    c.U[...] = scale * rng.standard_normal(c.U.shape)          # the same on every rank
    a.compute()                         # the continuum's evaluation rides on this gather (prefetch)
    if change:                          # U changed in between: the prefetched result must not be used
        c.U[::7] += scale
    n0 = c.split.stats["evaluations"]
    e1 = c.compute()
    own = c.split.stats["evaluations"] - n0          # 0: the prefetched result; 1: evaluated again
    f1 = c.forces.copy()
    c.forces[...] = np.nan
    e0 = type(c).compute(c)                          # the serial evaluation at this U
    same = np.array_equal(f1, c.forces) and e1 == e0 and own == int(change)
    out.append(f"rank {comm.rank} change={change}: {'bitwise' if same else (e1, e0, own)}")
lines = comm.gather(out)
if comm.rank == 0:
    print("\\n".join(ln for rank_lines in lines for ln in rank_lines))
"""


def test_fused_gather_prefetch(tmp_path: Path) -> None:
    """The continuum's evaluation carried by the atoms' Allgatherv (`SplitPairForces.partner`): the next
    `ContinuumRegion.compute` returns it (no second collective) and it is the serial one bitwise; when U
    changed after the atoms' evaluation the prefetched result is discarded and the continuum evaluated
    again (bitwise the serial one at the new U), on both ranks."""
    run_split_script(FUSED_SCRIPT, DECKS / "wave2d.yaml", tmp_path, 4, "fused.py")


def test_validate_under_mpiexec() -> None:
    """``mpiexec -n 2 msim validate DECK``: the rank count is the launcher's; rank 0 alone prints the
    summary and the path the run would take (wave2d: spatial), once; exit 0."""
    p = mpirun(2, "-m", "multiscale.cli", "validate", DECKS / "wave2d.yaml")
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("decomposition: spatial (the atoms in slabs along x") == 1, p.stdout
    assert p.stdout.count("on 2 MPI ranks, coupled dynamics, --decompose auto") == 1, p.stdout
    assert p.stdout.count(": OK") == 1, p.stdout
