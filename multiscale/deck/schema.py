"""The deck's pydantic models (format version 1; `decks/README.md` is the user-facing reference).

All models are frozen and forbid unknown keys. Numbers are strict (a quoted ``"0.1"`` is not a number;
integers are accepted where floats are expected). Plugin sections (``type:`` + parameters) are validated
by the plugin's own ``Params`` model through `PluginSection`. Units: every length, time, energy, mass and
temperature is in the deck's unit system (``units:``), see `multiscale.units`.

Cross-field rules (dimension of vectors, ``steps`` vs ``time``, which sections need which) are in
`multiscale.deck.checks`, which reports them at the offending key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..md.lattice import LATTICE_KINDS
from ..registry import (
    BLENDS,
    COUPLINGS,
    LOADS,
    MATERIALS,
    MESHES,
    MINIMIZERS,
    POTENTIALS,
    SHAPES,
    THERMOSTATS,
    PluginParams,
    did_you_mean,
)
from .section import PluginSection, active

FORMAT_VERSION = 1

#: neighbour-list skin used when ``atoms.skin`` is not given [length of the unit system]
DEFAULT_SKIN = {"lj": 0.3, "metal": 2.0}

#: per-frame fields ``output.fields`` may name
OUTPUT_FIELDS = ("position", "displacement", "velocity", "force", "energy", "weight", "stress", "strain",
                 "stress_atom", "hardy_displacement", "hardy_velocity", "hardy_stress", "hardy_temperature")

PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]


class Section(BaseModel):
    """Base of msim's own deck sections."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


SpeciesName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]


class BasisSite(Section):
    """One site of ``atoms.lattice.basis``: an offset from every lattice site, and its atom type."""

    position: list[float] = Field(description="offset from each lattice site, in units of a, crystal frame "
                                              "(d,)")
    species: SpeciesName = Field(description="type name of the atoms on this site")


class LatticeConfig(Section):
    """``atoms.lattice``: a lattice (see `multiscale.md.lattice`)."""

    type: str = Field(description="chain (1D) | square, hex (2D) | sc, fcc, bcc, diamond, b2, l12 (3D)")
    a: float | Literal["relaxed"] = Field(
        description="spacing [length]: nearest-neighbour distance for chain/square/hex, cubic constant "
                    "for sc/fcc/bcc; 'relaxed' = the zero-stress spacing of the potential")
    orient: float | list[list[float]] | None = Field(
        None, description="2D: rotation [degrees]; 3D: Miller directions of lab x, y, z (3 x 3)")
    origin: list[float] | None = Field(None, description="shift of every site (d,) [length]")
    basis: list[BasisSite] | None = Field(
        None, min_length=1, description="motif decorating every site of a Bravais lattice: offsets [units of "
                                        "a] with a species each (e.g. sc + Cs at 0, Cl at ½,½,½)")

    @field_validator("type", mode="before")
    @classmethod
    def _kind(cls, v: Any) -> Any:
        kinds = tuple(LATTICE_KINDS)  # the lattices of multiscale/md/lattice.py (no registry)
        if isinstance(v, str) and v not in kinds and v.lower().replace("_", "") in kinds:
            v = v.lower().replace("_", "")          # B2, L12, L1_2, FCC: the usual spellings
        if isinstance(v, str) and v not in kinds:
            raise PydanticCustomError("unknown_plugin", "unknown lattice '{name}'; known: {known}",
                                      {"name": v, "known": ", ".join(kinds),
                                       "hint": did_you_mean(v, kinds) or ""})
        return v

    @field_validator("a", mode="before")
    @classmethod
    def _a(cls, v: Any) -> Any:
        ok = (isinstance(v, int | float) and not isinstance(v, bool) and v > 0) or v == "relaxed"
        if not ok:
            raise ValueError(f"expected a positive number or 'relaxed', got {v!r}")
        return v


class VelocityConfig(Section):
    """``atoms.velocity``: Maxwell–Boltzmann initial velocities (zero total momentum)."""

    temperature: NonNegFloat = Field(description="[temperature]")
    seed: Annotated[int, Field(ge=0)] | None = Field(
        None, description="random seed; default: derived from integrator.seed (multiscale/seeds.py)")


class NeighborConfig(Section):
    """``atoms.neighbor``: when the neighbour list is rebuilt (LAMMPS ``neigh_modify``), see
    `multiscale.md.neighbors.NeighborPolicy`. Steps count force evaluations since the last build."""

    every: PosInt = Field(1, description="consider a rebuild every this many steps")
    delay: Annotated[int, Field(ge=0)] = Field(0, description="no rebuild until this many steps after one")
    check: bool = Field(True, description="rebuild only if an atom moved more than skin/2 (false: always "
                        "rebuild on schedule; pairs may be missed, counted as dangerous builds)")


class AtomsConfig(Section):
    """``atoms``: the atomistic region: a lattice filling a region, or a structure file."""

    lattice: LatticeConfig | None = Field(None, description="the lattice filling `region` (or give `file`)")
    file: str | None = Field(None, min_length=1, description="instead of `lattice`: a structure file read "
                             "with "
                             "ase.io (extxyz, LAMMPS data, POSCAR, ...), relative to the deck's folder; "
                             "positions, cell, periodicity, species and masses come from the file "
                             "(multiscale/md/structure_file.py)")
    format: str | None = Field(None, min_length=1, description="ase.io format of `file` (extxyz, "
                               "lammps-data, vasp, ...); default: guessed from the file name")
    min_distance: PosFloat | None = Field(
        None, description="`file` only: two atoms (periodic images included) closer than this are an error "
                          "[length]; default 0.5")
    region: PluginSection(SHAPES) | None = Field(  # type: ignore[valid-type]
        None, description="region shape filled with lattice sites (or give `cells`); with `file`: optional, "
                          "every atom must lie inside it and a periodic axis must match the file's cell")
    cells: list[PosInt] | None = Field(
        None, description="instead of `region`: a box from 0 to cells[k] lattice periods along each lab "
                          "axis k (the period depends on the orientation, e.g. a·√3 along y for hex)")
    boundary: list[Literal["p", "f"]] | None = Field(
        None, description="per axis: p (periodic) or f (free); default all free")
    box_fit: Literal["exact", "snap"] = Field(
        "exact", description="a periodic length that is not a whole number of lattice periods: exact = "
                             "deck error; snap = move region hi to the nearest whole number (at least 1)")
    mass: PosFloat | list[PosFloat] | dict[SpeciesName, PosFloat] | None = Field(
        None, description="mass per atom, or one per type (list in type order, or {species: mass}) [mass]; "
                          "required with `lattice`; with `file`: default the file's masses")
    species: SpeciesName | list[SpeciesName] | None = Field(
        None, description="type names in the results (extxyz species, HDF5 type_names) and the potential's "
                          "elements: one name, or one per sublattice (b2: [corner, body centre], l12: "
                          "[face centres, corners]); with `file`: the names of LAMMPS data types 1, 2, ...; "
                          "default: the EAM potential's element, else X")
    skin: NonNegFloat = Field(description="neighbour-list skin [length]; default 0.3 (lj), 2.0 (metal)")
    neighbor: NeighborConfig | None = Field(None, description="rebuild policy; default (null): check at "
                                            "every step, rebuild when an atom moved more than skin/2")
    velocity: VelocityConfig | None = None


class SurfaceStressConfig(Section):
    """``continuum.surface_stress``: Gurtin–Murdoch surface stress of the potential on the mesh's free
    boundary faces (`multiscale.fem.surface_stress`, docs/physics.md "Surface stress of the continuum")."""

    faces: Literal["free"] | list[str] = Field(
        "free", description="'free': every boundary face except those under fixed / traction loads, those "
        "whose nodes are all held by a kinematic load (fixed, prescribed, kfield) and those with atoms within "
        "a lattice spacing / the cut-off beyond them (the interface to the core); or a list of the mesh's "
        "face-set names (each name once; boundary faces only; a face in two sets counts once)")
    source: Literal["potential"] = Field("potential", description="γ and τ from a periodic slab of the "
                                         "deck's potential (multiscale/md/surface_slab.py)")
    tol: PosFloat = Field(1e-5, description="accuracy of each τ component by finite differences "
                          "[energy/length^(d-1)]")
    elasticity: bool = Field(True, description="include the surface elasticity S (second derivative of "
                             "the slab's excess energy; false: first order, τ constant), carried by a boundary "
                             "layer of the continuum deep enough to keep C + S/depth positive definite "
                             "(multiscale/fem/surface_layer.py)")
    relax_atoms: bool = Field(False, description="coupled decks: the atoms under the selected free faces "
                              "start at the relaxed surface of the same slab (each atomic plane moved by the "
                              "slab's relaxation of that plane; atoms held by a fixed load stay on the "
                              "lattice), so the handshake and pad atoms there carry the relaxed surface "
                              "whose τ the continuum carries (multiscale/md/surface_sites.py)")


class ContinuumConfig(Section):
    """``continuum``: the finite-element region."""

    mesh: PluginSection(MESHES) = Field(description="mesh generator or mesh file")  # type: ignore[valid-type]
    material: PluginSection(MATERIALS) = Field(  # type: ignore[valid-type]
        default="linear", validate_default=True,
        description="default: linear elasticity with C computed from the potential at the lattice")
    density: PosFloat | Literal["derived"] = Field(
        "derived", description="[mass/volume]; 'derived' = lattice mass / atomic volume")
    surface_stress: SurfaceStressConfig | None = Field(
        None, description="surface stress of the potential on the free faces (default: none)")


class DampingConfig(Section):
    """``handshake.damping``: damping band on the fine-scale velocity (docs/physics.md §5)."""

    gamma0: NonNegFloat = Field(description="dimensionless strength γ0 (≈ 0.3–1)")
    temperature: NonNegFloat = Field(0.0, description="band temperature [temperature]; 0 = pure damping")
    seed: Annotated[int, Field(ge=0)] | None = Field(
        None, description="random seed of the Langevin noise; default: derived from integrator.seed")
    fine_scale: Literal["smoothed", "mesh"] = Field(
        "smoothed", description="reference of the damped fine-scale velocity: the mesh velocity after one "
        "Jacobi sweep of the mesh Laplacian (also absorbs waves just above the mesh cut-off; γ0 ≈ 1) or the "
        "mesh velocity itself (γ0 ≈ 0.3)")


class HandshakeConfig(Section):
    """``handshake``: the overlap where atoms and elements coexist."""

    shape: PluginSection(SHAPES) = Field(description="the atomistic core (inner edge)")  # type: ignore[valid-type]
    width: PosFloat = Field(description="[length]; ≥ cut-off + skin and ≥ one element")
    blend: PluginSection(BLENDS) = Field("cubic", validate_default=True)  # type: ignore[valid-type]
    coupling: PluginSection(COUPLINGS) = Field("projected", validate_default=True)  # type: ignore[valid-type]
    damping: DampingConfig | None = None


class VerletConfig(PluginParams):
    """``integrator`` with ``type: verlet``: velocity-Verlet dynamics for atoms and nodes."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    dt: PosFloat = Field(description="time step [time]")
    steps: PosInt | None = Field(None, description="number of steps (or give `time`)")
    time: PosFloat | None = Field(None, description="end time [time] (or give `steps`)")
    thermostat: PluginSection(THERMOSTATS) | None = None  # type: ignore[valid-type]
    threads: PosInt | None = Field(None, description="OpenMP threads; default 1 (`msim run --threads N` "
                                   "overrides); results do not depend on it")
    seed: Annotated[int, Field(ge=0)] = Field(0, description="master random seed: seeds every random stream (initial velocities, "
                      "Langevin thermostat, damping-band noise) whose own `seed` is not given")
    allow_unstable_dt: bool = Field(False, description="run even when dt is not below the stable time-step "
                                    "estimate (otherwise a deck error at integrator.dt)")
    continues: str | None = Field(None, description="this deck continues an earlier run: the deck (file, "
                                  "relative to this deck) whose results `msim run --from FILE` must give the "
                                  "start state; `msim run` without --from (or --restart) exits 2 at "
                                  "integrator.continues, --from results of another deck give a warning")


class _Integrators:
    """``verlet`` (dynamics) plus every MINIMIZERS entry (statics), as one registry for the deck."""

    kind = "integrator"

    def _all(self) -> dict[str, Any]:
        return {"verlet": _VerletPlugin, **dict(active(MINIMIZERS).items())}

    def get(self, name: str) -> Any:
        return self._all()[name]

    def names(self) -> list[str]:
        return sorted(self._all())

    def __contains__(self, name: object) -> bool:
        return name in self._all()


class _VerletPlugin:
    Params = VerletConfig


INTEGRATORS = _Integrators()


class OutputConfig(Section):
    """``output``: what is written, where and how often."""

    file: str | None = Field(None, description="HDF5 file (relative to the working directory); "
                                                "`msim run -o` overrides it")
    every: PosInt = Field(100, description="steps between frames")
    thermo_every: PosInt = Field(10, description="steps between energy-ledger lines")
    fields: list[Literal[OUTPUT_FIELDS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["displacement", "velocity", "energy"])
    checkpoint_every: PosInt | None = Field(None, description="steps between checkpoints (quasi-static "
                                            "decks: load stages; default there: every stage)")
    compression: Literal["gzip", "lzf"] | None = None


class ExpectBound(Section):
    """One regression figure: bounds and/or a reference value."""

    min: float | None = None
    max: float | None = None
    value: float | None = None
    rtol: NonNegFloat | None = None
    atol: NonNegFloat | None = None

    @model_validator(mode="after")
    def _something(self) -> ExpectBound:
        if self.min is None and self.max is None and self.value is None:
            raise ValueError("give at least one of min, max, value")
        return self


class DeckConfig(Section):
    """The whole deck. ``atoms``, ``continuum``, ``handshake`` are optional: pure MD, pure FE, or coupled."""

    msim: int = Field(description="the deck format version: start the deck with `msim: 1`")
    units: Literal["metal", "lj"] = Field(description="unit system (LAMMPS conventions)")
    title: str | None = None
    potential: PluginSection(POTENTIALS) | None = None  # type: ignore[valid-type]
    atoms: AtomsConfig | None = None
    continuum: ContinuumConfig | None = None
    handshake: HandshakeConfig | None = None
    loads: list[PluginSection(LOADS)] = Field(default_factory=list)  # type: ignore[valid-type]
    integrator: PluginSection(INTEGRATORS, default_type="verlet")  # type: ignore[valid-type]
    output: OutputConfig = Field(default_factory=OutputConfig)
    expect: dict[str, ExpectBound] = Field(default_factory=dict)

    @field_validator("msim", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        if v != FORMAT_VERSION or isinstance(v, bool):
            raise ValueError(f"unsupported deck format version {v!r}; "
                             f"this msim reads version {FORMAT_VERSION}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _default_skin(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("atoms"), dict) \
                and "skin" not in data["atoms"] and data.get("units") in DEFAULT_SKIN:
            data = {**data, "atoms": {**data["atoms"], "skin": DEFAULT_SKIN[data["units"]]}}
        return data


#: every number in a deck is zero or has a magnitude in [NUMBER_MIN, NUMBER_MAX]: finite, and far from
#: the ends of double precision so that squares, inverses and products of parameters cannot overflow
NUMBER_MIN = 1e-100
NUMBER_MAX = 1e100
#: largest integer magnitude (counts, steps, seeds fit a signed 64-bit integer)
INT_MAX = 2 ** 63 - 1


def number_problems(data: Any, path: tuple = ()) -> list[tuple[tuple, str, str | None]]:
    """(key path, message, hint) of every number in the raw deck ``data`` that no parameter accepts:
    NaN, ±inf, magnitudes above `NUMBER_MAX` or (non-zero) below `NUMBER_MIN`, integers beyond 64 bits.
    A schema-wide rule: it covers msim's own sections and every plugin's ``Params`` alike."""
    out: list[tuple[tuple, str, str | None]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            out += number_problems(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += number_problems(v, path + (i,))
    elif isinstance(data, bool):
        pass
    elif isinstance(data, int):
        if abs(data) > INT_MAX:
            out.append((path, f"the integer {data:.3g} is too large (at most {INT_MAX})", None))
    elif isinstance(data, float):
        if data != data or data in (float("inf"), float("-inf")):
            shown = ".nan" if data != data else ("-.inf" if data < 0 else ".inf")
            out.append((path, f"expected a finite number, got {shown}", "every number in a deck must be "
                        "finite (NaN and infinity are not parameters)"))
        elif abs(data) > NUMBER_MAX or (data != 0.0 and abs(data) < NUMBER_MIN):
            out.append((path, f"the number {data:g} is out of range: give 0 or a magnitude between "
                        f"{NUMBER_MIN:g} and {NUMBER_MAX:g}", "change the unit system or the value"))
    return out


def dimension(config: DeckConfig) -> int | None:
    """Spatial dimension d of the deck: from the lattice, else from the mesh's ``lo`` or ``dim``; None if
    unknown."""
    if config.atoms is not None:
        if config.atoms.lattice is None:
            return 3 if config.atoms.file is not None else None   # structure files are 3D
        kind = config.atoms.lattice.type
        if kind in LATTICE_KINDS:
            from ..md.lattice import Lattice
            return Lattice(kind, 1.0).dim
    if config.continuum is not None:
        lo = getattr(config.continuum.mesh, "lo", None)
        if isinstance(lo, list | tuple):
            return len(lo)
        dim = getattr(config.continuum.mesh, "dim", None)  # a mesh file with `dim:`
        if isinstance(dim, int) and not isinstance(dim, bool):
            return dim
    return None
