"""Continuation: start a new run (a new deck) from the state of a step of an earlier run.

``msim run NEXT.yaml --from PREVIOUS.h5[:STEP]`` (Python: ``Simulation.run(start_from="PREVIOUS.h5:STEP")``).

Where the state comes from:

* a results file and a step (default: its last frame): the frame of that step. Atoms need
  ``displacement`` (x = X + u, to one rounding) or ``position`` (wrapped into a periodic box: on periodic
  axes x = X + the minimum image of position − X, with a warning when an atom needed it), mesh nodes
  ``displacement``; a run that continues in dynamics also needs
  the velocities (``velocity`` in ``output.fields``), unless the earlier run was quasi-static (at rest:
  velocities zero). A frame without them is refused with the fields it lacks.
* a checkpoint (``OUT.checkpoint.h5`` or ``OUT.lastgood.h5``): its exact state (x, v, U, V bitwise);
  a ``:STEP`` must then be the checkpoint's own step. It also holds its model's reference sites (atoms,
  mesh nodes; `run.checkpoints.MODEL_ENTRY`), compared like a results file's; one written by an earlier
  msim holds none, and its deck's model keys (`MODEL_KEYS`) are compared instead.

The model of the new deck must be the same as the earlier one's: same atom count and reference positions
(to 1e-9 of the model's size), the same species on every atom (results files), same mesh nodes and
connectivity; from a checkpoint, the deck's model keys (`MODEL_KEYS`; files by content, not by path).
Anything else (loads, integrator, temperature, output) may change; a changed potential section (compared
after validation, defaults filled in; from a checkpoint also potential file content) or changed atom
masses (the velocities are kept: the kinetic energy changes) are allowed with a warning
(`ContinuationWarning`).
The new run starts at step / stage 0, time 0, from that state; its loads' ``initialize`` runs first and
the state then replaces the fields it set; dofs fixed by the new deck start at rest. The new deck's
``atoms.velocity`` is not applied (the state's velocities are kept; a `ContinuationWarning` says so).

Provenance: the new results file's root attribute ``provenance`` is a JSON list, oldest first, of
``{"file", "step", "time", "start_time", "deck_sha256"}`` of every run it descends from (the earlier
file's own list plus the earlier file itself).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._lazy import lazy_module
from ..errors import DeckError

h5py = lazy_module("h5py")


@dataclass
class Origin:
    """The state a continuation starts from; arrays over all atoms (n, d) / nodes (N, d), or None."""

    x: np.ndarray | None
    v: np.ndarray | None
    U: np.ndarray | None
    V: np.ndarray | None
    reference: np.ndarray | None           # the earlier run's reference positions (n, d)
    mesh_nodes: np.ndarray | None
    connectivity: dict[str, np.ndarray] | None
    provenance: list[dict] = field(default_factory=list)
    species: np.ndarray | None = None      # (n,) the earlier run's species name of each atom (results files)
    potential: dict[str, str] | None = None    # the earlier run's potential section, flat {key: JSON}
    potential_of: str = "text"             # "text": as in its deck; "normalised": validated, defaults
                                           # filled in; "fingerprint": that + file digests (checkpoints)
    model: dict[str, str] | None = None    # a checkpoint's model keys (`MODEL_KEYS`), flat {key: JSON}
    mass: np.ndarray | None = None         # (n,) the earlier run's per-atom masses [mass] (results files)
    mass_keys: dict[str, str] | None = None  # a checkpoint's deck keys of the masses, flat {key: JSON}
    units: str | None = None               # the earlier run's unit system (results file attribute, checkpoint deck)
    notes: list[str] = field(default_factory=list)   # what the reading did that the user should know


def parse_spec(spec: str | Path) -> tuple[Path, int | None]:
    """``FILE`` or ``FILE:STEP`` -> (path, step or None). A path that exists as given is taken whole."""
    text = str(spec)
    if Path(text).exists():
        return Path(text), None
    m = re.fullmatch(r"(.*):(-?\d+)", text)
    if m:
        return Path(m.group(1)), int(m.group(2))
    return Path(text), None


def _is_checkpoint(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            if fh.read(23) == b"msim-checkpoint sha256 ":
                return True
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("msim_format")
    except OSError:
        return False
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    return fmt == "msim-checkpoint"


def read_origin(spec: str | Path, *, need_velocities: bool) -> Origin:
    """Read the state named by ``spec`` (see the module docstring). `DeckError` on any problem."""
    path, step = parse_spec(spec)
    if not path.is_file():
        raise DeckError(f"--from: no such file {path}", file=str(path))
    if _is_checkpoint(path):
        return _from_checkpoint(path, step)
    return _from_results(path, step, need_velocities)


def _from_checkpoint(path: Path, step: int | None) -> Origin:
    from .checkpoint import load_checkpoint

    st, meta = load_checkpoint(path, with_meta=True)
    from ..run.checkpoints import MODEL_ENTRY
    model = st.get(MODEL_ENTRY) if isinstance(st.get(MODEL_ENTRY), dict) else {}
    if st.get("kind") == "statics":
        at = int(st["next_stage"]) - 1
        x, U = st.get("x"), st.get("U")
        v = None if x is None else np.zeros_like(x)
        V = None if U is None else np.zeros_like(U)
        time = float(at)
    else:
        integ = st.get("integrator")
        if not isinstance(integ, dict) or "step" not in integ:
            raise DeckError("--from: the checkpoint holds no state of a run", file=str(path))
        at, time = int(integ["step"]), float(integ["time"])
        x, v, U, V = (integ.get(k) for k in ("x", "v", "U", "V"))
    if step is not None and step != at:
        raise DeckError(f"--from: the checkpoint holds step {at} only, not step {step}", file=str(path))
    prov = json.loads(meta.get("provenance", "[]"))
    prov.append({"file": str(path.resolve()), "step": at, "time": time, "start_time": None,
                 "deck_sha256": meta.get("deck_sha256")})
    try:
        fp = json.loads(meta.get("deck") or "{}")
    except (TypeError, ValueError):
        fp = {}
    pot = {k: v for k, v in fp.items() if k.startswith("potential.")} or None
    try:
        units = json.loads(fp["units"]) if "units" in fp else None
    except (TypeError, ValueError):
        units = None
    return Origin(x, v, U, V, model.get("reference_positions"), model.get("mesh_nodes"), None, prov,
                  potential=pot, potential_of="fingerprint", model=_model_keys(fp) if fp else None,
                  mass_keys=_mass_keys(fp) if fp else None, units=units if isinstance(units, str) else None)


#: deck keys that define the model (the atoms' sites, species and box, the mesh): a checkpoint holds no
#: reference positions or mesh, so a continuation from one compares these keys of the two decks instead
MODEL_KEYS = ("atoms.lattice", "atoms.region", "atoms.cells", "atoms.file", "atoms.format", "atoms.species",
              "atoms.boundary", "atoms.box_fit", "continuum.mesh")


def _model_keys(fingerprint: dict[str, str]) -> dict[str, str]:
    """The model keys of a deck fingerprint; a file-valued key whose content digest ("KEY (sha256)") is
    recorded is compared by that digest, not by how the deck spells its path."""
    out = {k: v for k, v in fingerprint.items()
           if any(k == p or k.startswith((p + ".", p + "[", p + " ")) for p in MODEL_KEYS)}
    return {k: v for k, v in out.items() if f"{k} (sha256)" not in out}


def _mass_keys(fingerprint: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in fingerprint.items() if k == "atoms.mass" or k.startswith("atoms.mass.")}


def check_units(origin: Origin, deck: object) -> None:
    """Refuse (`DeckError` at ``units``) a continuation from a state written in another unit system: its
    positions, velocities and masses are numbers in the earlier run's units (rev32 F2: an LJ argon run in
    metal units continued by the same deck in lj units started with 10⁴× the kinetic energy, no word)."""
    mine = str(deck.config.units)
    if origin.units is not None and origin.units != mine:
        raise deck.error("units", f"--from: the state was written in {origin.units} units, this deck is in "
                         f"{mine} units: its positions, velocities and masses would be read as {mine} "
                         "numbers", f"set `units: {origin.units}` (a continuation keeps the unit system)")


def check_checkpoint_model(origin: Origin, deck: object, source: str) -> None:
    """Refuse (`DeckError`) a continuation from a checkpoint whose deck's model keys (`MODEL_KEYS`, input
    file digests included) differ from ``deck``'s: found off the gallery, a B2 crystal continued from a
    checkpoint with `a` 3.26 -> 3.30 (periodic box 19.56 -> 19.8, the same atom count) ran without a word."""
    if origin.model is None:
        return
    from .checkpoint import deck_fingerprint, fingerprint_differences
    diff = fingerprint_differences(origin.model, _model_keys(deck_fingerprint(deck)), may_differ=())
    if diff:
        more = f" (and {len(diff) - 4} more)" if len(diff) > 4 else ""
        raise DeckError("--from: the deck's model does not match the checkpoint's: "
                        f"{'; '.join(diff[:4])}{more}", file=source,
                        hint="a continuation keeps the model (atoms, their species, mesh); it may change "
                             "loads, integrator, temperature and output")


def _from_results(path: Path, step: int | None, need_velocities: bool) -> Origin:
    import yaml

    from .reader import ResultsReader

    with ResultsReader(path) as r:
        if r.nframes == 0:
            raise DeckError("--from: the results file holds no frame", file=str(path))
        steps = r.steps
        if step is None:
            i = r.nframes - 1
        else:
            hit = np.flatnonzero(steps == step)
            if not hit.size:
                show = ", ".join(str(s) for s in steps[:10]) + (" …" if len(steps) > 10 else "")
                raise DeckError(f"--from: no frame at step {step} (frames at steps {show})", file=str(path))
            i = int(hit[-1])
        fr = r.frame(i)
        box = r.box(i)
        prov_attrs = r.provenance
        static = r.static()
    deck_text = str(prov_attrs.get("deck_text", ""))
    pot = None
    try:
        src = yaml.safe_load(deck_text) or {}
        integ = src.get("integrator") or {}
        src_statics = isinstance(integ, dict) and integ.get("type", "verlet") != "verlet"
        pot = _flat_potential(src)
    except (yaml.YAMLError, AttributeError):
        src_statics = False
    atoms_static = static.get("atoms") or {}
    mesh_static = static.get("mesh") or {}
    x = v = U = V = None
    missing: list[str] = []
    notes: list[str] = []
    X = atoms_static.get("reference_positions")
    if X is not None:
        a = fr["atoms"]
        if "displacement" in a:               # unwrapped: x = X + u (frames' positions are wrapped)
            x = X + a["displacement"]
        elif "position" in a:
            x, shifted = unwrap_positions(np.array(a["position"], float), np.asarray(X, float), box)
            if shifted:
                notes.append(f"the frame holds no atoms displacement: {shifted} atoms that crossed a "
                             "periodic face are taken at the image nearest their reference site (exact "
                             "for a solid, |u| < L/2; for a liquid the displacements restart from that "
                             "image)")
        else:
            missing.append("atoms position or displacement")
        if "velocity" in a:
            v = np.array(a["velocity"], float)
        elif src_statics or not need_velocities:
            v = np.zeros_like(X, dtype=float)
        else:
            missing.append("atoms velocity")
    if "nodes" in mesh_static:
        nd = fr["nodes"]
        if "displacement" in nd:
            U = np.array(nd["displacement"], float)
        elif "position" in nd:
            U = nd["position"] - mesh_static["nodes"]
        else:
            missing.append("nodes displacement")
        if "velocity" in nd:
            V = np.array(nd["velocity"], float)
        elif src_statics or not need_velocities:
            V = np.zeros_like(mesh_static["nodes"], dtype=float)
        else:
            missing.append("nodes velocity")
    if missing:
        raise DeckError(f"--from: the frame at step {fr['step']} lacks {', '.join(missing)} (a dynamics "
                        "continuation needs positions and velocities)", file=str(path),
                        hint="continue from the run's checkpoint (OUT.checkpoint.h5) instead, or write "
                             "`velocity` (and `displacement`) in output.fields")
    prov = list(json.loads(prov_attrs.get("provenance", "[]")))
    prov.append({"file": str(path.resolve()), "step": int(fr["step"]), "time": float(fr["time"]),
                 "start_time": prov_attrs.get("start_time"),
                 "deck_sha256": hashlib.sha256(deck_text.encode()).hexdigest()})
    conn = mesh_static.get("connectivity") if mesh_static else None
    mass = atoms_static.get("mass")
    norm = _normalised_potential(deck_text) if pot is not None else None
    return Origin(x, v, U, V, X, mesh_static.get("nodes"), conn, prov, species=_species(atoms_static),
                  potential=norm or pot, potential_of="normalised" if norm else "text",
                  mass=None if mass is None else np.asarray(mass, float),
                  units=str(prov_attrs["units"]) if prov_attrs.get("units") else None, notes=notes)


def unwrap_positions(x: np.ndarray, X: np.ndarray, box: tuple | None) -> tuple[np.ndarray, int]:
    """Wrapped frame positions x (n, d) → X + the minimum image of x − X on the periodic axes of ``box``
    ((lo, hi, periodic) as `ResultsReader.box`, or None: unchanged) [length]; also the number of atoms
    moved by a box length (rev32 F9: a wrapped position read as x gave displacements of ±L)."""
    if box is None or X is None or x.shape != X.shape:
        return x, 0
    lo, hi, per = box
    x = x.copy()
    moved = np.zeros(len(x), bool)
    for k in np.flatnonzero(np.asarray(per, bool)[: x.shape[1]]):
        L = float(hi[k] - lo[k])
        if not L > 0:
            continue
        d = x[:, k] - X[:, k]
        n = np.round(d / L)
        moved |= n != 0
        x[:, k] = X[:, k] + (d - n * L)
    return x, int(moved.sum())


def _species(atoms_static: dict) -> np.ndarray | None:
    """(n,) species name of each atom from a results file's (or `Simulation._static()`'s) atoms group."""
    names, types = atoms_static.get("type_names"), atoms_static.get("types")
    if names is None or types is None:
        return None
    names = np.array([n.decode() if isinstance(n, bytes) else str(n) for n in np.atleast_1d(names)], object)
    types = np.asarray(types, np.int64)
    if types.size and (types.min() < 0 or types.max() >= len(names)):
        return None
    return names[types]


def _flat_potential(deck_data: object) -> dict[str, str] | None:
    """The ``potential`` section of parsed deck YAML as flat {key path: JSON}, or None."""
    from .checkpoint import _flatten

    if not isinstance(deck_data, dict) or "potential" not in deck_data:
        return None
    out: dict[str, str] = {}
    _flatten(deck_data["potential"], "potential", out)
    return out


def _normalised_potential(deck_text: str) -> dict[str, str] | None:
    """The ``potential`` section of a deck's text validated by the deck schema, every default filled in, as
    flat {key path: JSON} (``epsilon: 1`` and ``epsilon: 1.0`` agree); None if the text does not validate
    (a deck of an older msim, or one naming files relative to a folder we do not know)."""
    from ..deck.deck import load_deck_text
    from .checkpoint import _flatten

    try:
        deck = load_deck_text(deck_text, "<earlier deck>")
    except Exception:  # noqa: BLE001 - any failure: fall back to the text as written
        return None
    out: dict[str, str] = {}
    _flatten(deck.config.model_dump(mode="json").get("potential"), "potential", out)
    return out or None


def potential_changes(origin: Origin, deck: object) -> list[str]:
    """``key: earlier -> now`` for each potential key (and, from a checkpoint, potential file digest) in
    which ``deck`` differs from the run that wrote ``origin``; empty when they agree or it is unknown."""
    import yaml

    from .checkpoint import deck_fingerprint, fingerprint_differences

    if origin.potential is None:
        return []
    if origin.potential_of == "fingerprint":
        now = {k: v for k, v in deck_fingerprint(deck).items() if k.startswith("potential.")}
    elif origin.potential_of == "normalised":
        now = _normalised_potential(deck.text) or {}
    else:
        try:
            now = _flat_potential(yaml.safe_load(deck.text)) or {}
        except yaml.YAMLError:
            return []
    return fingerprint_differences(origin.potential, now, may_differ=())


def mass_changes(origin: Origin, static: dict, deck: object) -> str | None:
    """A sentence naming how the atoms' masses of ``deck`` (``Simulation._static()``) differ from the run
    that wrote ``origin``, or None: per-atom masses from a results file, the deck's mass keys from a
    checkpoint. The velocities are kept, so the kinetic energy changes at step 0 (a review found a doubled
    mass continued without a word: kinetic energy 37.40 -> 74.81)."""
    atoms = static.get("atoms") or {}
    mine = atoms.get("mass")
    if origin.mass is not None and mine is not None:
        mine = np.asarray(mine, float)
        if mine.shape == origin.mass.shape and mine.size:
            rel = np.abs(mine - origin.mass) / np.maximum(np.abs(origin.mass), 1e-300)
            if float(rel.max()) > 1e-12:
                i = int(np.argmax(rel))
                return (f"the masses of {int(np.count_nonzero(rel > 1e-12))} atom(s) differ (atom {i}: "
                        f"{origin.mass[i]:.10g} there, {mine[i]:.10g} here)")
        return None
    if origin.mass_keys is not None:
        from .checkpoint import deck_fingerprint, fingerprint_differences
        diff = fingerprint_differences(origin.mass_keys, _mass_keys(deck_fingerprint(deck)), may_differ=())
        if diff:
            return "the atoms' masses differ: " + "; ".join(diff[:3])
    return None


def check_compatible(origin: Origin, static: dict, source: str) -> None:
    """Refuse (`DeckError`) an origin whose model differs from this run's (``Simulation._static()``)."""
    atoms = static.get("atoms")
    mesh = static.get("mesh")
    problems = []
    if (origin.x is None) != (atoms is None):
        problems.append("one model has atoms, the other has none")
    elif atoms is not None:
        X = atoms["reference_positions"]
        if origin.x.shape != X.shape:
            problems.append(f"atom count or dimension: {origin.x.shape[0]} atoms in {origin.x.shape[1]}D "
                            f"there, {X.shape[0]} in {X.shape[1]}D here")
        elif origin.reference is not None:
            scale = 1e-9 * (1.0 + float(np.max(np.abs(X))) if X.size else 1.0)
            dev = float(np.max(np.abs(origin.reference - X))) if X.size else 0.0
            if dev > scale:
                problems.append(f"atom reference positions differ by up to {dev:.3g}")
        # a results file written before one-species engine decks were named after the potential's
        # `elements` holds the placeholder name X: unknown species, not a different one (review rev25)
        if not problems and origin.species is not None and set(np.unique(origin.species)) != {"X"}:
            mine = _species(atoms)
            if mine is not None and mine.shape == origin.species.shape:
                # files written before funcfl EAM elements were named by symbol hold the atomic number
                from ..md.potentials.eam_tables import _element_name
                theirs = np.array([_element_name(str(s)) for s in origin.species], dtype=object)
                diff = np.flatnonzero(mine.astype(object) != theirs)
                if diff.size:
                    i = int(diff[0])
                    problems.append(f"the species of {diff.size} atom(s) differ (atom {i}: "
                                    f"{origin.species[i]} there, {mine[i]} here)")
    if (origin.U is None) != (mesh is None):
        problems.append("one model has a mesh, the other has none")
    elif mesh is not None:
        nodes = mesh["nodes"]
        if origin.U.shape != nodes.shape:
            problems.append(f"mesh: {origin.U.shape[0]} nodes there, {nodes.shape[0]} here")
        elif origin.mesh_nodes is not None:
            scale = 1e-9 * (1.0 + float(np.max(np.abs(nodes))))
            dev = float(np.max(np.abs(origin.mesh_nodes - nodes)))
            if dev > scale:
                problems.append(f"mesh node positions differ by up to {dev:.3g}")
            elif origin.connectivity is not None:
                mine = {k: np.asarray(v) for k, v in mesh["connectivity"].items()}
                theirs = {k: np.asarray(v) for k, v in origin.connectivity.items()}
                if mine.keys() != theirs.keys() or any(
                        mine[k].shape != theirs[k].shape or not np.array_equal(mine[k], theirs[k])
                        for k in mine):
                    problems.append("mesh connectivity differs")
    if problems:
        raise DeckError(f"--from: the deck's model does not match the state's: {'; '.join(problems)}",
                        file=source, hint="a continuation keeps the model (atoms, their species, "
                                          "mesh); it may change loads, integrator, temperature and output")


def imposed_jumps(origin: Origin, model: object) -> list[str]:
    """One sentence per load of ``model`` that imposes positions (``prescribed``, ``kfield``: the loads whose
    ``impose`` moves atoms or nodes) and puts its dofs, at the new run's time 0, somewhere other than where
    ``origin`` has them: the continued run starts every load at t = 0 / stage 0, so such a load moves its
    atoms by that jump in its first step (review rev33 R2: a pull continued with the same deck sent its grip
    from 0.2 σ back to 0.01 σ, kinetic energy 2.3 → 23.8, exit 0, no word). Each load is evaluated on copies
    (the model and the load are untouched); the tolerance is 1e-9 of the model's size, as the model checks.
    """
    import copy

    from ..loads.base import Load
    atoms, cont = getattr(model, "atoms", None), getattr(model, "continuum", None)
    out = []
    for k, ld in enumerate(getattr(model, "loads", None) or []):
        if type(ld).impose is Load.impose:
            continue
        am, nm = ld.fixed_dofs()
        if am is None and nm is None:
            continue
        trial = copy.deepcopy(ld)
        proxy = copy.copy(model)
        worst, what = 0.0, ""
        if atoms is not None and origin.x is not None:
            a = copy.copy(atoms)
            a.x, a.v = np.array(origin.x, float), np.array(origin.v if origin.v is not None else atoms.v, float)
            proxy.atoms = a
        if cont is not None and origin.U is not None:
            c = copy.copy(cont)
            c.U = np.array(origin.U, float)
            c.V = np.array(origin.V if origin.V is not None else cont.V, float)
            proxy.continuum = c
        trial.impose(0.0, proxy)
        if am is not None and atoms is not None and origin.x is not None:
            d = np.where(am, np.abs(proxy.atoms.x - origin.x), 0.0)
            if d.size and float(d.max()) > worst:
                worst, i = float(d.max()), int(np.argmax(d.max(axis=1)))
                what = f"atom {i} by {worst:.4g}"
            size = float(np.max(np.abs(atoms.X))) if atoms.X.size else 0.0
        else:
            size = 0.0
        if nm is not None and cont is not None and origin.U is not None:
            d = np.where(nm, np.abs(proxy.continuum.U - origin.U), 0.0)
            if d.size and float(d.max()) > worst:
                worst, i = float(d.max()), int(np.argmax(d.max(axis=1)))
                what = f"node {i} by {worst:.4g}"
            size = max(size, float(np.max(np.abs(cont.mesh.nodes))))
        if worst > 1e-9 * (1.0 + size):
            out.append(f"loads[{k}] ('{ld.name}') puts its dofs at time 0 up to {worst:.4g} away from the state's "
                       f"positions ({what}): a continued run starts every load at t = 0 (stage 0), so its "
                       "first step moves them by that much; to continue a load where it stopped, use "
                       "--restart, or shift the load in the new deck")
    return out
