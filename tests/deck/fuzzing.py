"""Hostile fuzzing of `msim validate` and `msim run` (msim issues 11 and 17).

Mutants are derived deterministically (one seed) from the decks in ``decks/`` and from small, valid EAM
(funcfl, setfl) and gmsh mesh files written here, then broken: type swaps, NaN/inf, huge and tiny numbers,
deleted and unknown keys, YAML tags, nested and recursive aliases, deep nesting, long lists, binary garbage,
truncation; for the data files wrong counts, truncated tables, absurd cut-offs and grid sizes, garbage.

Each mutant goes through the real CLI entry point (click's CliRunner on `multiscale.cli.cli`, the real
plugin registries) in this process, under an address-space limit and a per-case time limit. A case is
*bad* when it ends in a traceback, an internal error (exit 1), an exit 2 whose message does not name the
file (and, for the deck, the line), an error report longer than `MAX_REPORT` characters, or an exit 3
whose last-good state cannot be read.

The per-case limit is a budget of *CPU* seconds of this process (all its threads, user + system, by
``ITIMER_PROF``) plus a wall-clock cap (``ITIMER_REAL``, `WALL_FACTOR` x the budget by default) for a case
that blocks without computing. CPU time does not grow with the machine's load, so a case that times out
is slow or hung, not merely descheduled. A timed-out case is never a pass: its verdict is ``timeout`` and
`check` reports every one (deck mutation, CPU and wall seconds) and fails when there are more than the
caller's stated bound. Run as a script for the counts::

    PYTHONPATH=. python tests/deck/fuzzing.py --decks 1000 --eam 100 --mesh 60 --run
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import re
import resource
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
DECKS = ROOT / "decks"
SEED = 20261206
#: decks whose validation takes well under a second (the fast suite draws from these)
FAST_DECKS = ("wave1d", "wave1d_damped", "lj_melt", "crack2d_small", "indent2d_full_small")
#: every deck in decks/ (the slow suite)
ALL_DECKS = tuple(p.stem for p in sorted(DECKS.glob("*.yaml")))
#: longest acceptable error report [characters]
MAX_REPORT = 20_000
#: default wall-clock cap of a case as a multiple of its CPU budget (generous: the load average of the
#: shared test machine reaches 10-25 on 2 cores; measured at load 5 under `nice`: 1 CPU second took 4.6 s)
WALL_FACTOR = 20.0


# ------------------------------------------------------------------ cases
@dataclass
class Case:
    """One mutated input: a deck text plus the data files it names (name -> bytes)."""

    name: str
    deck: bytes
    files: dict[str, bytes] = field(default_factory=dict)
    what: str = ""


class _Timeout(BaseException):
    """Raised by the timers: a BaseException so that msim's own `except Exception` does not catch it.
    ``kind`` is "cpu" (the CPU budget ran out, SIGPROF) or "wall" (the wall-clock cap, SIGALRM)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


# ------------------------------------------------------------------ data files
def funcfl_text(nrho: int = 400, drho: float = 0.05, nr: int = 400, dr: float = 0.0125,
                cut: float = 4.95) -> str:
    """A small, smooth single-element DYNAMO funcfl file (Cu-like scales): F = −√ρ, Z(r) and ρ(r)
    decaying exponentials with a smooth cut-off."""
    rho = np.arange(nrho) * drho
    r = np.arange(nr) * dr
    cutf = np.where(r < cut, (1 - np.clip(r / cut, 0, 1)) ** 3, 0.0)
    F = -np.sqrt(rho)
    Z = 11.0 * np.exp(-1.2 * r) * cutf
    dens = 0.6 * np.exp(-1.5 * (r - 2.5)) * cutf

    def block(v: np.ndarray) -> str:
        return "\n".join(" ".join(f"{x:.16e}" for x in v[i:i + 5]) for i in range(0, len(v), 5))

    return (f"fuzz test funcfl\n29 63.55 3.615 fcc\n{nrho} {drho!r} {nr} {dr!r} {cut!r}\n"
            f"{block(F)}\n{block(Z)}\n{block(dens)}\n")


def setfl_text(nrho: int = 400, drho: float = 0.05, nr: int = 400, dr: float = 0.0125, cut: float = 4.95,
               elements: tuple[str, ...] = ("Cu",)) -> str:
    rho = np.arange(nrho) * drho
    r = np.arange(nr) * dr
    cutf = np.where(r < cut, (1 - np.clip(r / cut, 0, 1)) ** 3, 0.0)
    out = ["fuzz test setfl", "", "", f"{len(elements)} {' '.join(elements)}",
           f"{nrho} {drho!r} {nr} {dr!r} {cut!r}"]
    for _ in elements:
        out.append("29 63.55 3.615 fcc")
        out += [f"{x:.16e}" for x in -np.sqrt(rho)]
        out += [f"{x:.16e}" for x in 0.6 * np.exp(-1.5 * (r - 2.5)) * cutf]
    rphi = r * 0.4 * (np.exp(-2 * 1.4 * (r - 2.55)) - 2 * np.exp(-1.4 * (r - 2.55))) * cutf  # Morse r·φ
    for a in range(len(elements)):
        for _b in range(a + 1):
            out += [f"{x:.16e}" for x in rphi]
    return "\n".join(out) + "\n"


def gmsh_text(nx: int = 6, ny: int = 3, lx: float = 12.0, ly: float = 6.0) -> str:
    """A gmsh 2.2 ASCII quad mesh of [0, lx] x [0, ly] with a physical line group 'left'."""
    nodes = [(i * lx / nx, j * ly / ny) for j in range(ny + 1) for i in range(nx + 1)]
    quads = [(j * (nx + 1) + i, j * (nx + 1) + i + 1, (j + 1) * (nx + 1) + i + 1, (j + 1) * (nx + 1) + i)
             for j in range(ny) for i in range(nx)]
    lines = [(j * (nx + 1), (j + 1) * (nx + 1)) for j in range(ny)]
    out = ["$MeshFormat", "2.2 0 8", "$EndMeshFormat", "$PhysicalNames", "2", '1 1 "left"', '2 2 "plate"',
           "$EndPhysicalNames", "$Nodes", str(len(nodes))]
    out += [f"{k + 1} {x!r} {y!r} 0" for k, (x, y) in enumerate(nodes)]
    out += ["$EndNodes", "$Elements", str(len(lines) + len(quads))]
    k = 1
    for a, b in lines:
        out.append(f"{k} 1 2 1 1 {a + 1} {b + 1}")
        k += 1
    for q in quads:
        out.append(f"{k} 3 2 2 2 " + " ".join(str(i + 1) for i in q))
        k += 1
    out.append("$EndElements")
    return "\n".join(out) + "\n"


EAM_DECK = """msim: 1
units: metal
title: fuzz EAM ({fmt})
potential: {{type: eam, file: {file}}}
atoms:
  lattice: {{type: fcc, a: 3.615}}
  region: {{type: box, lo: [0.0, 0.0, 0.0], hi: [14.46, 14.46, 14.46]}}
  boundary: [p, p, p]
  mass: 63.55
integrator: {{type: verlet, dt: 0.001, steps: 10}}
output: {{every: 5, thermo_every: 5}}
"""

MESH_DECK = """msim: 1
units: lj
title: fuzz mesh file
continuum:
  mesh: {type: file, path: plate.msh, dim: 2}
  material: {type: isotropic, E: 60.0, nu: 0.25}
  density: 1.0
loads:
  - {type: fixed, region: {type: box, lo: [-0.1, -0.1], hi: [0.1, 6.1]}}
integrator: {type: verlet, dt: 0.01, steps: 10}
output: {every: 5, thermo_every: 5}
"""


# ------------------------------------------------------------------ deck mutations
_SPECIAL = [math.nan, math.inf, -math.inf, 1e308, -1e308, 1e300, 1e30, 1e12, 1e-320, 0, 0.0, -1, -1e-9,
            10 ** 30, 2 ** 64, -(2 ** 63), "abc", "", "1.0", None, True, False, [], [1, 2, 3], [[1.0]],
            {}, {"a": 1}, [math.nan, math.inf], "\x00\x07", "é" * 50]

_TAGS = ["!!python/object/apply:os.system ['echo pwned']", "!!python/name:os.system", "!!binary aGVsbG8=",
         "!custom 3", "!!set {a, b}", "!!timestamp 2001-12-14", "!!omap [a: 1]", "!!float abc", "!!int 1.5",
         "!!str", "!!null x", "!!bool maybe", "!<tag:yaml.org,2002:python/tuple> [1, 2]", "!!map [1]"]


def _paths(data: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, prefix + (i,))
    return out


def _get(data: object, path: tuple) -> object:
    for p in path:
        data = data[p]  # type: ignore[index]
    return data


def _set(data: object, path: tuple, value: object) -> None:
    _get(data, path[:-1])[path[-1]] = value  # type: ignore[index]


def _scaled(v: object, f: float) -> object:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v * f
    if isinstance(v, list):
        return [_scaled(x, f) for x in v]
    return v


def _value_mutation(rng: random.Random, data: dict) -> tuple[dict, str]:
    data = copy.deepcopy(data)
    paths = [p for p in _paths(data) if p]
    path = rng.choice(paths)
    old = _get(data, path)
    r = rng.random()
    if r < 0.45:
        new = copy.deepcopy(rng.choice(_SPECIAL))
        _set(data, path, new)
        return data, f"{path}={new!r:.40}"
    if r < 0.7:
        f = rng.choice([10.0, 1e3, 1e6, 1e12, 1e-3, 1e-6, 1e-12, -1.0, 1e100, 1e300, 0.0])
        _set(data, path, _scaled(old, f))
        return data, f"{path}*={f}"
    if r < 0.8 and isinstance(path[-1], str):
        del _get(data, path[:-1])[path[-1]]
        return data, f"del {path}"
    if r < 0.88:
        parent = _get(data, path[:-1])
        if isinstance(parent, dict):
            parent[rng.choice(["typo", "dt", "type", "lo", "file", "radius"]) + "x"] = 1
            return data, f"extra key at {path[:-1]}"
    if r < 0.94:
        _set(data, path, [copy.deepcopy(old)] * rng.choice([2, 10_000]))
        return data, f"{path} as a list"
    _set(data, path, {"type": rng.choice(["box", "lj", "nope", "file", "eam"]), "file": "/etc/passwd",
                      "path": "/etc/passwd"})
    return data, f"{path} -> plugin section pointing at /etc/passwd"


def _text_mutation(rng: random.Random, text: str) -> tuple[bytes, str]:
    lines = text.splitlines()
    r = rng.random()
    value_lines = [i for i, ln in enumerate(lines) if re.match(r"^\s*[\w]+:\s*\S", ln)]
    if r < 0.15 and value_lines:
        i = rng.choice(value_lines)
        tag = rng.choice(_TAGS)
        lines[i] = re.sub(r"^(\s*[\w]+:\s*).*$", lambda m: m.group(1) + tag, lines[i])
        return ("\n".join(lines) + "\n").encode(), f"tag {tag} on line {i + 1}"
    if r < 0.25:
        levels = rng.choice([3, 6, 9, 12])
        bomb = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        bomb += [f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]" for k in range(1, levels)]
        where = rng.choice(["title", "expect", "loads"])
        body = re.sub(rf"^{where}:.*$", "", text, flags=re.M) if where in text else text
        out = "\n".join(bomb) + "\n" + body + f"\n{where}: *a{levels - 1}\n"
        return out.encode(), f"billion laughs, {levels} levels, at {where}"
    if r < 0.3:
        return (text + "\nloop: &l {a: *l}\n").encode(), "recursive alias"
    if r < 0.34:
        d = rng.choice([100, 2000, 50_000])
        return (text + "\ntitle2: " + "[" * d + "]" * d + "\n").encode(), f"nested {d} deep"
    if r < 0.4:
        n = rng.choice([1000, 10_000, 100_000])
        key = rng.choice(["loads", "expect", "output"])
        body = re.sub(rf"^{key}:.*(\n[ -].*)*", "", text, flags=re.M)
        return (body + f"\n{key}: [" + ", ".join(["{type: nope}"] * n) + "]\n").encode(), \
            f"{key}: {n} invalid items"
    if r < 0.5:
        raw = bytearray(text.encode())
        for _ in range(rng.randint(1, 20)):
            raw.insert(rng.randrange(len(raw) + 1), rng.randrange(256))
        return bytes(raw), "random bytes inserted"
    if r < 0.55:
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 64, 4096]))), "binary garbage"
    if r < 0.65:
        raw = text.encode()
        return raw[:rng.randrange(len(raw))], "truncated"
    if r < 0.7:
        return (text + "\nmerged: {<<: [1, 2]}\n" + "other: &m {a: 1}\nm2: {<<: *m, <<: *m}\n").encode(), \
            "bad merge keys"
    if r < 0.75:
        return ("\ufeff" + text.replace(": ", ":\t", 1) + "\n? [a, b]\n: 1\n").encode(), \
            "BOM, tab and a complex key"
    if r < 0.8:
        return (text + "\ntitle: " + "x" * 2_000_000 + "\n").encode(), "2 MB value"
    if r < 0.85:
        return (text + "\n---\nmsim: 1\n").encode(), "two documents"
    i = rng.randrange(len(lines)) if lines else 0
    lines.insert(i, rng.choice(["  : x", "- - -", "{", "]]", "&a", "*nope", "%YAML 1.1", "!!", "key: 'open",
                                "\t- x", "? x", "<<: *z"]))
    return ("\n".join(lines) + "\n").encode(), f"junk line at {i + 1}"


def deck_cases(n: int, rng: random.Random, names: tuple[str, ...] = FAST_DECKS) -> list[Case]:
    sources = {nm: (DECKS / f"{nm}.yaml").read_text() for nm in names}
    datas = {nm: yaml.safe_load(t) for nm, t in sources.items()}
    out = []
    for k in range(n):
        nm = rng.choice(names)
        if rng.random() < 0.6:
            data, what = _value_mutation(rng, datas[nm])
            if rng.random() < 0.3:  # a second mutation
                data, what2 = _value_mutation(rng, data)
                what += "; " + what2
            text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=10 ** 9)
            out.append(Case(f"{nm}-{k}", text.encode(), what=what))
        else:
            raw, what = _text_mutation(rng, sources[nm])
            out.append(Case(f"{nm}-{k}", raw, what=what))
    return out


# ------------------------------------------------------------------ data-file mutations
def _eam_mutation(rng: random.Random, fmt: str) -> tuple[bytes, str]:
    make = funcfl_text if fmt == "funcfl" else setfl_text
    r = rng.random()
    if r < 0.25:
        kw = rng.choice([{"nrho": 0}, {"nrho": 1}, {"nrho": 3}, {"nr": 2}, {"nr": -5}, {"nrho": 10 ** 12},
                         {"nr": 10 ** 12}, {"dr": 0.0}, {"dr": -0.01}, {"drho": 0.0}, {"dr": 1e-320},
                         {"cut": 1e300}, {"cut": 0.0}, {"cut": -1.0}, {"cut": math.nan}, {"cut": math.inf},
                         {"cut": 1e6}, {"dr": 1e300}, {"drho": math.inf}])
        text = make()
        head = 2 if fmt == "funcfl" else 4
        lines = text.splitlines()
        w = lines[head].split()
        for key, v in kw.items():
            w[{"nrho": 0, "drho": 1, "nr": 2, "dr": 3, "cut": 4}[key]] = repr(v)
        lines[head] = " ".join(w)
        return ("\n".join(lines) + "\n").encode(), f"header {kw}"
    text = make()
    lines = text.splitlines()
    if r < 0.4:
        return ("\n".join(lines[:rng.randrange(len(lines))]) + "\n").encode(), "truncated"
    if r < 0.5:
        i = rng.randrange(5, len(lines))
        lines[i] = rng.choice(["nan", "inf", "-inf", "1e400", "abc", "1.0 2.0", "", "0x10", "1,5"])
        return ("\n".join(lines) + "\n").encode(), f"bad number on line {i + 1}"
    if r < 0.6:
        del lines[rng.randrange(5, len(lines))]
        return ("\n".join(lines) + "\n").encode(), "one number missing"
    if r < 0.65:
        lines.insert(rng.randrange(5, len(lines)), "0.0")
        return ("\n".join(lines) + "\n").encode(), "one number too many"
    if r < 0.72:
        head = 1 if fmt == "funcfl" else 3
        lines[head] = rng.choice(["", "29", "x y z", "0", "-1 Cu", "3 Cu", "1000000000 Cu", "nan nan"])
        return ("\n".join(lines) + "\n").encode(), f"bad line {head + 1}"
    if r < 0.8:
        raw = bytearray(text.encode())
        for _ in range(rng.randint(1, 30)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw), "random bytes"
    if r < 0.85:
        return b"", "empty"
    if r < 0.9:
        return bytes(rng.randrange(256) for _ in range(5000)), "binary garbage"
    if r < 0.95:
        return Path("/etc/passwd").read_bytes() if Path("/etc/passwd").exists() else b"root:x:0:0\n", \
            "/etc/passwd contents"
    scale = rng.choice([1e300, 1e-300, -1.0, 1e30])
    vals = [" ".join(f"{float(x) * scale!r}" for x in ln.split()) if i > 4 and "fcc" not in ln else ln
            for i, ln in enumerate(lines)]
    return ("\n".join(vals) + "\n").encode(), f"table values x{scale}"


def eam_cases(n: int, rng: random.Random) -> list[Case]:
    out = []
    for k in range(n):
        fmt = rng.choice(["funcfl", "setfl"])
        fname = "pot.eam" if fmt == "funcfl" else "pot.eam.alloy"
        raw, what = _eam_mutation(rng, fmt)
        deck = EAM_DECK.format(fmt=fmt, file=fname)
        if rng.random() < 0.1:
            deck = EAM_DECK.format(fmt=fmt, file=rng.choice(["/etc/passwd", "/etc/shadow", "/dev/zero", "/",
                                                              "/proc/self/environ", "pot.eam.alloy"]))
            what = "file: " + deck.split("file: ")[1].split("}")[0]
        out.append(Case(f"eam-{fmt}-{k}", deck.encode(), {fname: raw}, what))
    return out


def _mesh_mutation(rng: random.Random) -> tuple[bytes, str]:
    text = gmsh_text()
    lines = text.splitlines()
    i_nodes = lines.index("$Nodes")
    i_el = lines.index("$Elements")
    r = rng.random()
    if r < 0.2:
        return ("\n".join(lines[:rng.randrange(len(lines))]) + "\n").encode(), "truncated"
    if r < 0.3:
        lines[i_nodes + 1] = rng.choice(["0", "-3", "1000000000000", "abc", "5"])
        return ("\n".join(lines) + "\n").encode(), f"node count {lines[i_nodes + 1]}"
    if r < 0.4:
        lines[i_el + 1] = rng.choice(["0", "-3", "1000000000000", "abc", "5"])
        return ("\n".join(lines) + "\n").encode(), f"element count {lines[i_el + 1]}"
    if r < 0.5:
        j = rng.randrange(i_nodes + 2, i_el - 1)
        w = lines[j].split()
        w[rng.randrange(1, 3)] = rng.choice(["nan", "inf", "1e308", "-1e308", "1e-320", "abc"])
        lines[j] = " ".join(w)
        return ("\n".join(lines) + "\n").encode(), f"node line {j + 1}: {lines[j]}"
    if r < 0.6:
        j = rng.randrange(i_el + 2, len(lines) - 1)
        w = lines[j].split()
        w[-1] = rng.choice(["0", "-1", "999", "1000000000000", "x"])
        lines[j] = " ".join(w)
        return ("\n".join(lines) + "\n").encode(), f"element line {j + 1}: {lines[j]}"
    if r < 0.65:  # every node on one point: degenerate elements
        lines = [re.sub(r"^(\d+) \S+ \S+ 0$", r"\1 1.0 1.0 0", ln) for ln in lines]
        return ("\n".join(lines) + "\n").encode(), "all nodes coincide"
    if r < 0.75:
        raw = bytearray(text.encode())
        for _ in range(rng.randint(1, 30)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw), "random bytes"
    if r < 0.8:
        return b"", "empty"
    if r < 0.85:
        return bytes(rng.randrange(256) for _ in range(3000)), "binary garbage"
    if r < 0.9:
        return text.replace("2.2 0 8", rng.choice(["9.9 0 8", "2.2 1 8", "4.1 0 8", "x"])).encode(), \
            "bad format line"
    if r < 0.95:  # only line elements: no 2D cells
        keep = [ln for ln in lines if not re.match(r"^\d+ 3 ", ln)]
        keep[keep.index("$Elements") + 1] = "3"
        return ("\n".join(keep) + "\n").encode(), "no 2D cells"
    return Path("/etc/passwd").read_bytes() if Path("/etc/passwd").exists() else b"root:x:0:0\n", "passwd"


def mesh_cases(n: int, rng: random.Random) -> list[Case]:
    out = []
    for k in range(n):
        raw, what = _mesh_mutation(rng)
        deck = MESH_DECK
        if rng.random() < 0.1:
            deck = deck.replace("plate.msh", rng.choice(["/etc/passwd", "/dev/zero", "/", "nope.msh"]))
            what = "path: " + deck.split("path: ")[1].split("}")[0]
        out.append(Case(f"mesh-{k}", deck.encode(), {"plate.msh": raw}, what))
    return out


def odd_cases(n: int, rng: random.Random, names: tuple[str, ...] = FAST_DECKS,
              region_factors: tuple[float, ...] = (1e2, 1e3, 1e4, 1e6)) -> list[Case]:
    """Odd but mostly valid decks: the time step x10 / x100, regions and meshes scaled up to 10^8-10^12
    atoms or elements, one number scaled by a large or small factor. Meant for `msim run`."""
    datas = {nm: yaml.safe_load((DECKS / f"{nm}.yaml").read_text()) for nm in names}
    out = []
    for k in range(n):
        nm = rng.choice(names)
        data = copy.deepcopy(datas[nm])
        r = rng.random()
        integ = data.get("integrator", {})
        if r < 0.3 and "dt" in integ:
            f = rng.choice([10.0, 100.0, 1e3])
            integ["dt"] *= f
            what = f"dt x{f:g}"
            if rng.random() < 0.7:  # past the stable-dt refusal: the run must reach the blow-up path
                integ["allow_unstable_dt"] = True
                what += ", allow_unstable_dt"
        elif r < 0.55:
            f = rng.choice(region_factors)
            for sec in ("atoms", "continuum"):
                if sec in data:
                    reg = data[sec].get("region") or data[sec].get("mesh")
                    if isinstance(reg, dict) and "hi" in reg:
                        reg["hi"] = _scaled(reg["hi"], f)
            what = f"regions' hi x{f:g}"
        else:
            paths = [p for p in _paths(data) if p and isinstance(_get(data, p), int | float)
                     and not isinstance(_get(data, p), bool) and p[0] not in ("msim", "output", "expect")]
            path = rng.choice(paths)
            f = rng.choice([10.0, 1e3, 1e6, 1e30, 1e-3, 1e-6, 1e-30])
            _set(data, path, _scaled(_get(data, path), f))
            what = f"{path} x{f:g}"
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=10 ** 9)
        out.append(Case(f"odd-{nm}-{k}", text.encode(), what=what))
    return out


def all_cases(n_decks: int, n_eam: int, n_mesh: int, seed: int = SEED,
              names: tuple[str, ...] = FAST_DECKS, n_odd: int = 0) -> list[Case]:
    rng = random.Random(seed)
    return deck_cases(n_decks, rng, names) + eam_cases(n_eam, rng) + mesh_cases(n_mesh, rng) + \
        odd_cases(n_odd, rng, names)


# ------------------------------------------------------------------ running
@dataclass
class Outcome:
    case: Case
    command: str
    exit_code: int | None
    output: str
    seconds: float        #: wall-clock seconds [s]
    verdict: str          #: ok | traceback | exit1 | unlocated | too_long | timeout | lastgood
    cpu_seconds: float = 0.0   #: CPU seconds of this process (all threads) and its reaped children [s]
    timed_out: str = ""   #: "" or the limit that stopped the case: "cpu" (budget) or "wall" (cap)


def _write(case: Case, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in case.files.items():
        (folder / name).write_bytes(raw)
    deck = folder / "deck.yaml"
    deck.write_bytes(case.deck)
    return deck


def _on_cpu(_signum, _frame):  # noqa: ANN001, ANN202
    raise _Timeout("cpu")


def _on_wall(_signum, _frame):  # noqa: ANN001, ANN202
    raise _Timeout("wall")


def cpu_now() -> float:
    """CPU seconds [s] used so far by this process (every thread, user + system) and by its children
    that have been waited for."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def invoke(args: list[str], timeout: float, wall_cap: float | None = None
           ) -> tuple[int | None, str, BaseException | None, str]:
    """Run ``msim ARGS`` in-process under a CPU budget of ``timeout`` seconds (process CPU time of every
    thread, ``ITIMER_PROF``) and a wall-clock cap ``wall_cap`` (default `WALL_FACTOR` x ``timeout``,
    ``ITIMER_REAL``). Returns (exit code, stdout+stderr, uncaught exception, timed out: "" | "cpu" |
    "wall"). A kernel running without the GIL is stopped when it returns to Python (every step)."""
    from click.testing import CliRunner

    from multiscale.cli import cli

    wall_cap = WALL_FACTOR * timeout if wall_cap is None else wall_cap
    runner = CliRunner()
    old_prof = signal.signal(signal.SIGPROF, _on_cpu)
    old_alrm = signal.signal(signal.SIGALRM, _on_wall)
    signal.setitimer(signal.ITIMER_PROF, timeout)
    signal.setitimer(signal.ITIMER_REAL, wall_cap)
    try:
        res = runner.invoke(cli, args, catch_exceptions=True)
    except _Timeout as t:
        return None, "", None, t.kind
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, old_prof)
        signal.signal(signal.SIGALRM, old_alrm)
    out = res.output + (res.stderr if hasattr(res, "stderr") and res.stderr_bytes is not None else "")
    exc = res.exception if res.exception is not None and not isinstance(res.exception, SystemExit) else None
    if isinstance(exc, _Timeout):
        return None, out, None, exc.kind
    return res.exit_code, out, exc, ""


def judge(case: Case, folder: Path, code: int | None, out: str, exc: BaseException | None,
          timed_out: str | bool) -> str:
    if timed_out:
        return "timeout"
    if exc is not None or "Traceback" in out:
        return "traceback"
    if code == 1:
        return "exit1"
    if len(out) > MAX_REPORT:
        return "too_long"
    if code == 2:
        first = next((ln for ln in out.splitlines() if ln.startswith("error:")), "")
        deck = str(folder / "deck.yaml")
        data = [str(folder / n) for n in case.files] + \
            re.findall(r"(?:file|path): (/[^\s,}]+)", case.deck.decode("utf-8", "replace"))
        ok = bool(re.match(rf"error: {re.escape(deck)}:\d+", first)) or \
            any(first.startswith(f"error: {d}") for d in data) or \
            ("Usage:" in out and "Error:" in out) or \
            first.startswith(("error: --steps ", "error: --stages "))   # names the option the harness gave
        return "ok" if ok else "unlocated"
    if code == 3:
        m = re.search(r"saved in (\S+\.h5)", out)
        if m is None:
            return "lastgood"
        try:
            from multiscale.output.checkpoint import load_checkpoint
            load_checkpoint(m.group(1))
        except Exception:  # noqa: BLE001
            return "lastgood"
        return "ok"
    return "ok" if code == 0 else f"exit{code}"


def run_case(case: Case, folder: Path, command: str = "validate", steps: int = 3,
             timeout: float = 20.0, wall_cap: float | None = None) -> Outcome:
    """One `msim validate` / `msim run` of ``case`` with a CPU budget ``timeout`` [s] and a wall cap
    ``wall_cap`` [s] (see `invoke`)."""
    deck = _write(case, folder)
    args = [command, str(deck)]
    if command == "run":
        args += ["-o", str(folder / "out.h5"), "--steps", str(steps), "--quiet"]
    t0, c0 = time.perf_counter(), cpu_now()
    code, out, exc, timed_out = invoke(args, timeout, wall_cap)
    dt, dc = time.perf_counter() - t0, cpu_now() - c0
    if exc is not None:
        out += f"\n[uncaught {type(exc).__name__}: {exc}]"
    return Outcome(case, command, code, out, dt, judge(case, folder, code, out, exc, timed_out), dc,
                   timed_out)


class memory_limit:  # noqa: N801 - used as a context manager
    """Soft address-space limit of this process (restored on exit): a runaway allocation becomes a
    MemoryError instead of taking the machine down."""

    def __init__(self, extra_bytes: int = 3 << 30) -> None:
        self.extra = extra_bytes

    def __enter__(self) -> memory_limit:
        self.old = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as f:
            vsz = int(f.read().split()[0]) * resource.getpagesize()
        hard = self.old[1]
        soft = vsz + self.extra if hard == resource.RLIM_INFINITY else min(hard, vsz + self.extra)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        return self

    def __exit__(self, *exc: object) -> None:
        resource.setrlimit(resource.RLIMIT_AS, self.old)


def fuzz(cases: list[Case], workdir: Path, *, run: bool = False, steps: int = 3, timeout: float = 20.0,
         run_timeout: float = 20.0, log=None,  # noqa: ANN001
         wall_factor: float = WALL_FACTOR) -> list[Outcome]:
    """Validate every case; with ``run``, also `msim run --steps` the cases that validated. ``timeout``
    and ``run_timeout`` are CPU budgets [s] of one validate / run; the wall cap is ``wall_factor`` x the
    budget."""
    import warnings

    outcomes = []
    with memory_limit(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, case in enumerate(cases):
            folder = workdir / f"c{k:05d}"
            o = run_case(case, folder, "validate", timeout=timeout, wall_cap=wall_factor * timeout)
            outcomes.append(o)
            if log is not None and o.verdict != "ok":
                log(o)
            if run and o.verdict == "ok" and o.exit_code == 0:
                o2 = run_case(case, folder, "run", steps=steps, timeout=run_timeout,
                              wall_cap=wall_factor * run_timeout)
                outcomes.append(o2)
                if log is not None and o2.verdict != "ok":
                    log(o2)
    return outcomes


#: verdicts that fail a fuzz run outright (a ``timeout`` is bounded separately, see `check`)
BAD = frozenset({"traceback", "exit1", "unlocated", "too_long", "lastgood"})


def describe(o: Outcome) -> str:
    """One line naming an outcome: verdict, command, case, its mutation, exit code, CPU and wall
    seconds and the tail of its output."""
    tail = " | ".join(o.output.strip().splitlines()[-3:])[:400]
    lim = f" (stopped by the {o.timed_out} limit)" if o.timed_out else ""
    return (f"{o.verdict}{lim} {o.command} {o.case.name} [{o.case.what[:100]}] exit={o.exit_code} "
            f"cpu={o.cpu_seconds:.1f}s wall={o.seconds:.1f}s: {tail}")


def check(outcomes: list[Outcome], max_timeouts: int) -> str:
    """Fail (AssertionError) when any outcome is bad or more than ``max_timeouts`` timed out; return the
    report of the timed-out cases ("" when none) for the caller to show. A timed-out case is never
    counted as a pass: its verdict is ``timeout``, not ``ok``, whatever the verdict function says."""
    bad = [o for o in outcomes if o.verdict in BAD]
    slow = [o for o in outcomes if o.timed_out or o.verdict == "timeout"]
    assert all(o.verdict == "timeout" for o in slow), [describe(o) for o in slow]
    report = "\n".join(describe(o) for o in slow)
    assert not bad, f"{len(bad)} of {len(outcomes)} endings are bad:\n" \
        + "\n".join(describe(o) for o in bad) + (f"\nand {len(slow)} timed out:\n{report}" if slow else "")
    assert len(slow) <= max_timeouts, \
        f"{len(slow)} of {len(outcomes)} cases timed out (bound {max_timeouts}):\n{report}"
    return report


def tally(outcomes: list[Outcome]) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    for o in outcomes:
        kind = o.case.name.split("-")[0] if o.case.name.startswith(("eam", "mesh", "odd")) else "deck"
        out.setdefault(f"{o.command} {kind}", Counter())[o.verdict] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decks", type=int, default=300)
    ap.add_argument("--eam", type=int, default=60)
    ap.add_argument("--mesh", type=int, default=40)
    ap.add_argument("--odd", type=int, default=0, help="odd-but-valid decks (dt x10, huge regions, ...)")
    ap.add_argument("--steps", type=int, default=3, help="steps of `msim run`")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--all-decks", action="store_true", help="mutate every deck in decks/, not only the fast")
    ap.add_argument("--run", action="store_true", help="also `msim run --steps 3` what validates")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/msim-fuzz"))
    ap.add_argument("--timeout", type=float, default=20.0, help="CPU seconds per validate / run")
    ap.add_argument("--wall-factor", type=float, default=WALL_FACTOR, help="wall cap / CPU budget")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    names = ALL_DECKS if a.all_decks else FAST_DECKS
    cases = all_cases(a.decks, a.eam, a.mesh, a.seed, names, a.odd)
    import shutil
    shutil.rmtree(a.workdir, ignore_errors=True)

    def log(o: Outcome) -> None:
        tail = " | ".join(o.output.strip().splitlines()[-2:])[:300]
        print(f"{o.verdict:10s} {o.command:8s} {o.case.name:24s} exit={o.exit_code} {o.seconds:5.1f}s "
              f"cpu {o.cpu_seconds:5.1f}s "
              f"[{o.case.what[:80]}] {tail}", flush=True)

    t0 = time.perf_counter()
    outcomes = fuzz(cases, a.workdir, run=a.run, steps=a.steps, log=log if a.v else None, timeout=a.timeout,
                    run_timeout=a.timeout, wall_factor=a.wall_factor)
    for key, c in sorted(tally(outcomes).items()):
        print(f"{key:16s} {sum(c.values()):5d} cases: " + ", ".join(f"{v} {n}" for v, n in c.most_common()))
    top = sorted(outcomes, key=lambda o: -o.cpu_seconds)[:3]
    print("most CPU: " + "; ".join(f"{o.command} {o.case.name} [{o.case.what[:60]}] "
                                   f"cpu {o.cpu_seconds:.1f} s wall {o.seconds:.1f} s" for o in top))
    print(f"{time.perf_counter() - t0:.1f} s wall, {sum(o.cpu_seconds for o in outcomes):.1f} s CPU")


if __name__ == "__main__":
    main()
