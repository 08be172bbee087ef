"""Cross-field rules of a validated deck, each reported at the key that breaks it.

These need more than one field (the dimension of the lattice, which sections are present) and so are not
expressed in the per-section pydantic models. Checks that need built objects (handshake width against the
potential's cut-off plus skin, the region inside the mesh, stable time steps) belong to
`multiscale.build`, which reports them through `Deck.error`.
"""

from __future__ import annotations

from typing import Any

from ..md.lattice import rotation_matrix
from .load import Path
from .schema import DeckConfig, dimension

Problem = tuple[Path, str, "str | None"]  # (key path, message, hint)

#: keys whose list value is a point or a corner: must have d components
_POINT_KEYS = ("lo", "hi", "origin")


def _sections(config: DeckConfig) -> list[tuple[Path, str]]:
    present = [(("atoms",), "atoms"), (("continuum",), "continuum"), (("handshake",), "handshake")]
    return [(p, n) for p, n in present if getattr(config, n) is not None]


def _is_vector(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)


def _points(data: Any, path: Path, dim: int, out: list[Problem], why: str) -> None:
    """Every ``lo``/``hi``/``origin`` list under ``data`` has ``dim`` components, and hi > lo."""
    if isinstance(data, dict):
        for key, v in data.items():
            if key in _POINT_KEYS and _is_vector(v) and len(v) != dim:
                out.append((path + (key,), f"expected {dim} components (the deck is {dim}D{why}), "
                                           f"got {len(v)}", None))
        lo, hi = data.get("lo"), data.get("hi")
        if _is_vector(lo) and _is_vector(hi) and len(lo) == len(hi) == dim:
            bad = [i for i in range(dim) if not hi[i] > lo[i]]
            if bad:
                i = bad[0]
                out.append((path + ("hi",), f"hi must exceed lo in every component: hi[{i}] = {hi[i]} "
                                            f"<= lo[{i}] = {lo[i]}", None))
        for key, v in data.items():
            _points(v, path + (key,), dim, out, why)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            _points(v, path + (i,), dim, out, why)


def _engine_coupling(config: DeckConfig, data: dict[str, Any]) -> list[Problem]:
    """External-engine potentials (``supported_couplings``) give total forces and per-atom energies, not the
    bond-weighted energies of energy blending: only the listed coupling methods can use them."""
    from ..registry import POTENTIALS
    try:
        supported = getattr(POTENTIALS.get(config.potential.type), "supported_couplings", None)
    except Exception:  # noqa: BLE001 - unknown type: reported by the schema
        return []
    ctype = getattr(config.handshake.coupling, "type", None)
    if supported is None or ctype is None or ctype in supported:
        return []
    hs = data.get("handshake")
    raw = hs.get("coupling") if isinstance(hs, dict) else None
    path: Path = (("handshake", "coupling", "type") if isinstance(raw, dict) and "type" in raw
                  else ("handshake", "coupling") if raw is not None else ("handshake",))
    return [(path, f"potential `{config.potential.type}` is an external engine: it gives total forces and "
                   f"per-atom energies, not the bond-weighted energies that `{ctype}` blends in the "
                   "handshake",
             f"use coupling {{type: {supported[0]}}} (force-based blending; constraint strong, projected or "
             "none)")]


#: coupling methods whose forces are not the gradient of any energy (docstring of each method)
_NONCONSERVATIVE = ("force_blend",)
#: minimisers that move on forces alone (no line search on the energy)
_FORCE_MINIMIZERS = ("fire",)


def _nonconservative_statics(config: DeckConfig, data: dict[str, Any]) -> list[Problem]:
    """Quasi-statics with a non-conservative coupling needs a force-only minimiser: a line search on the
    reported Π (not the potential of the blended forces) would stop at a wrong state or not at all."""
    hs = config.handshake
    ctype = getattr(getattr(hs, "coupling", None), "type", None) if hs is not None else None
    itype = getattr(config.integrator, "type", None)
    if ctype not in _NONCONSERVATIVE or itype in (None, "verlet") or itype in _FORCE_MINIMIZERS:
        return []
    raw = data.get("integrator")
    path: Path = ("integrator", "type") if isinstance(raw, dict) and "type" in raw else ("integrator",)
    return [(path, f"coupling `{ctype}` gives forces that are not the gradient of an energy, so the "
                   f"line-search minimiser `{itype}` cannot be used for its quasi-statics",
             f"use integrator {{type: {_FORCE_MINIMIZERS[0]}, ...}}")]


def _dynamics_only_in_statics(config: DeckConfig) -> list[Problem]:
    """A minimiser (statics) has no velocities: ``atoms.velocity`` and ``handshake.damping`` would be
    ignored without a word (a deck switched from ``verlet`` to ``fire`` keeping its temperature)."""
    itype = getattr(config.integrator, "type", None)
    if itype in (None, "verlet"):
        return []
    out: list[Problem] = []
    why = f"integrator `{itype}` is a minimiser (quasi-statics: no velocities, no time)"
    if config.atoms is not None and config.atoms.velocity is not None:
        out.append((("atoms", "velocity"), f"initial velocities are for dynamics; {why}, so they would be "
                                            "ignored", "remove `atoms.velocity`, or use `integrator.type: "
                                                       "verlet` for a run at temperature"))
    hs = config.handshake
    if hs is not None and getattr(hs, "damping", None) is not None:
        out.append((("handshake", "damping"), f"the damping band acts on velocities; {why}, so it would be "
                                               "ignored", "remove `handshake.damping`"))
    return out


#: ``output.fields`` written only for the atoms / only at the mesh nodes / only for a coupled model
_ATOM_FIELDS = ("energy", "weight", "stress_atom")
_NODE_FIELDS = ("stress", "strain")
_COUPLED_FIELDS = ("hardy_displacement", "hardy_velocity", "hardy_stress", "hardy_temperature")


def _fields_without_region(config: DeckConfig) -> list[Problem]:
    """Fields the deck names in ``output.fields`` that no region of this deck has: they were left out of
    the results file without a word (``strain`` in a pure MD deck). Only fields the deck writes itself
    (the default list holds ``energy``, which a pure continuum deck does not write)."""
    out_cfg = config.output
    if out_cfg is None or "fields" not in out_cfg.model_fields_set:
        return []
    atoms, cont = config.atoms is not None, config.continuum is not None
    out: list[Problem] = []
    for i, f in enumerate(out_cfg.fields):
        if f in _ATOM_FIELDS and not atoms:
            why = f"`{f}` is a field of the atoms; this deck has no atoms"
        elif f in _NODE_FIELDS and not cont:
            why = f"`{f}` is a field of the continuum (at the mesh nodes); this deck has no continuum" + (
                "; `stress_atom` is the atoms' stress" if f == "stress" else "")
        elif f in _COUPLED_FIELDS and not (atoms and cont):
            why = f"`{f}` averages the atoms at the mesh nodes of a coupled model; this deck has no " + (
                "continuum" if atoms else "atoms")
        else:
            continue
        out.append((("output", "fields", i), why + ", so it would not be written", "remove it from "
                                                                                   "`output.fields`"))
    return out


def _atoms_source(atoms: Any, dim: int | None) -> list[Problem]:
    """``atoms``: a lattice or a file (not both); what each needs (mass, species per sublattice)."""
    from ..md.lattice import Lattice
    out: list[Problem] = []
    if (atoms.lattice is None) == (atoms.file is None):
        out.append((("atoms",), "give the atoms either as `lattice:` (filling `region` or `cells`) or as "
                                "`file:` (a structure file), not " + ("both" if atoms.file else "neither"),
                    None))
        return out
    if atoms.file is not None:
        for key in ("cells", "box_fit"):
            if key in atoms.model_fields_set:
                out.append((("atoms", key), f"`{key}` fills a lattice; a structure `file` brings its own "
                                          "cell",
                            None))
        return out
    for key in ("format", "min_distance"):
        if getattr(atoms, key) is not None:
            out.append((("atoms", key), f"`{key}` applies to a structure `file`, not to a lattice", None))
    if atoms.mass is None:
        out.append((("atoms",), "give the atoms' mass: `mass: m`, one per type `mass: [m1, m2]` or "
                                "`mass: {Ni: 58.69, Al: 26.98}` [mass]", None))
    lat = atoms.lattice
    try:
        n_sub = Lattice(lat.type, 1.0, basis=None if lat.basis is None else
                        tuple(tuple(b.position) for b in lat.basis)).n_sublattices
    except ValueError as exc:
        return out + [(("atoms", "lattice", "basis"), str(exc), None)]
    if lat.basis is not None:
        if atoms.species is not None:
            out.append((("atoms", "species"), "the species come from `lattice.basis` (one per site); remove "
                                              "`species`", None))
        for i, b in enumerate(lat.basis):
            if dim is not None and len(b.position) != dim:
                out.append((("atoms", "lattice", "basis", i, "position"), f"expected {dim} components (the "
                            f"deck is {dim}D), got {len(b.position)}", None))
    elif n_sub > 1:
        from ..md.lattice import SUBLATTICE_NAMES
        names = SUBLATTICE_NAMES.get(lat.type, ())
        if not isinstance(atoms.species, list) or len(atoms.species) != n_sub:
            out.append((("atoms", "species") if atoms.species is not None else ("atoms",),
                        f"the {lat.type} lattice has {n_sub} sublattices ({', '.join(names)}): give one "
                        "species "
                        f"per sublattice, e.g. `species: [Ni, Al]`", None))
    elif isinstance(atoms.species, list) and len(atoms.species) != 1:
        out.append((("atoms", "species"), f"the {lat.type} lattice has one sublattice: give one species "
                                          f"(got {len(atoms.species)})", None))
    return out


def check(config: DeckConfig, data: dict[str, Any]) -> list[Problem]:
    """All cross-field problems of a deck that passed the schema (``data`` is the raw deck)."""
    out: list[Problem] = []
    present = {n for _, n in _sections(config)}
    if not present & {"atoms", "continuum"}:
        out.append(((), "the deck describes no region: give `atoms`, `continuum`, or both "
                        "(with a `handshake`)", None))
    if "handshake" in present:
        for need in ("atoms", "continuum"):
            if need not in present:
                out.append((("handshake",), "a handshake couples two regions, but there is no "
                                            f"`{need}` section", None))
    elif {"atoms", "continuum"} <= present:
        out.append((("continuum",), "`atoms` and `continuum` are both given but there is no `handshake` "
                                    "section to couple them", None))
    if "atoms" in present and config.potential is None:
        out.append((("atoms",), "an atomistic region needs a `potential` section", None))
    if "handshake" in present and config.potential is not None:
        out.extend(_engine_coupling(config, data))

    integ = config.integrator
    out.extend(_nonconservative_statics(config, data))
    out.extend(_dynamics_only_in_statics(config))
    out.extend(_fields_without_region(config))
    if getattr(integ, "type", None) == "verlet":
        if integ.steps is not None and integ.time is not None:
            out.append((("integrator", "time"), "give either `steps` or `time`, not both", None))
        elif integ.steps is None and integ.time is None:
            out.append((("integrator",), "give the run length: `steps: N` or `time: T`", None))

    dim = dimension(config)
    atoms = config.atoms
    if atoms is not None:
        out.extend(_atoms_source(atoms, dim))
    if dim is None:
        return out
    if atoms is not None and atoms.lattice is not None:
        orient = atoms.lattice.orient
        opath: Path = ("atoms", "lattice", "orient")
        if orient is not None:
            if dim == 1:
                out.append((opath, "a 1D chain has no orientation; remove `orient`", None))
            elif dim == 2 and not isinstance(orient, int | float):
                out.append((opath, "in 2D, orient is one angle [degrees]", None))
            elif dim == 3:
                if isinstance(orient, int | float):
                    out.append((opath, "in 3D, orient is three crystal directions "
                                       "[[h,k,l], [h,k,l], [h,k,l]] for lab x, y, z", None))
                else:
                    try:
                        rotation_matrix(3, orient)
                    except ValueError as exc:
                        out.append((opath, str(exc), None))
        if (atoms.region is None) == (atoms.cells is None) and atoms.lattice is not None:
            out.append((("atoms",), "give the atomistic region either as `region:` (a shape) or as "
                                    "`cells: [n, ...]` (whole lattice periods per axis), not "
                        + ("both" if atoms.region is not None else "neither"), None))
        if atoms.cells is not None and len(atoms.cells) != dim:
            out.append((("atoms", "cells"), f"expected {dim} entries (one per axis), got {len(atoms.cells)}",
                        None))
        if atoms.boundary is not None and len(atoms.boundary) != dim:
            out.append((("atoms", "boundary"), f"expected {dim} entries (one per axis, p or f), "
                                               f"got {len(atoms.boundary)}", None))
    why = (f": {atoms.lattice.type} lattice" if atoms is not None and atoms.lattice is not None
           else ": a structure file" if atoms is not None else ": from continuum.mesh.lo")
    _points(data, (), dim, out, why)
    return out
