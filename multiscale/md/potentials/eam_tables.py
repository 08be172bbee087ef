"""EAM tables with LAMMPS's exact interpolation: funcfl / setfl readers and the cubic splines.

Everything follows LAMMPS ``pair_eam.cpp`` / ``pair_eam_alloy.cpp`` (``read_file``, ``file2array``,
``array2spline``, ``interpolate`` and the evaluation in ``compute``), so that energies and forces agree
with LAMMPS to round-off. Spline rows hold 7 coefficients per grid interval (LAMMPS ``spline[m][0..6]``,
stored 0-based here: row m-1 is LAMMPS's m). Units: metal (Å, eV).

- ``frho`` (nel, nrho, 7): embedding F(ρ) of each element [eV];
- ``rhor`` (nel, nr, 7): density ρ(r) contributed BY an atom of each element (funcfl, setfl); for eam/fs
  (nel*nel, nr, 7): row s*nel + t = the density an atom of element s gives to an atom of element t;
- ``z2r`` (nel, nel, nr, 7): r·φ(r) [eV·Å] of each element pair (symmetric).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DeckError

#: funcfl pair term: z2r = 27.2 * 0.529 * Z_i(r) Z_j(r) (Hartree·Bohr -> eV·Å), as in LAMMPS
FUNCFL_ZCONV = 27.2 * 0.529


@dataclass
class EAMTables:
    """Spline tables on uniform grids: r = (m-1)·dr, ρ = (m-1)·drho (LAMMPS 1-based m)."""

    elements: list[str]
    masses: list[float]          #: g/mol per element
    nr: int
    dr: float
    nrho: int
    drho: float
    cutoff: float                #: [Å]
    rhomax: float
    frho: np.ndarray
    rhor: np.ndarray
    z2r: np.ndarray
    #: per element, the header's ``a lattice`` (funcfl line 2, setfl element lines): (a [Å], kind lower
    #: case) or None when absent or unreadable; informational (``a: relaxed`` starts its search there)
    lattices: list | None = None


#: largest table an EAM file may declare (points per table); real files have 500-10 000
MAX_POINTS = 10_000_000
#: largest cut-off an EAM file may declare [Å] (real files: 4-10 Å)
MAX_CUTOFF = 100.0
#: largest EAM file read [bytes]
MAX_FILE_BYTES = 1 << 30


def _read_lines(path: Path, kind: str) -> list[str]:
    """The lines of a text file; a binary or non-text file is refused without quoting any of it."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DeckError(f"{kind} file is {size} bytes, more than any EAM file ({MAX_FILE_BYTES})",
                            file=str(path))
        raw = path.read_bytes()
    except OSError as exc:
        raise DeckError(f"cannot read the {kind} file: {exc.strerror}", file=str(path)) from None
    if b"\x00" in raw:
        raise DeckError(f"not a {kind} file: it holds binary data", file=str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DeckError(f"not a {kind} file: it is not text (not UTF-8/ASCII)", file=str(path)) from None
    return text.splitlines()


def _header(path: Path, lines: list[str], i: int, kind: str) -> tuple[int, float, int, float, float]:
    """``Nrho drho Nr dr cutoff`` on line ``i`` (0-based), checked; quotes nothing of the file."""
    what = f"not a {kind} EAM file: line {i + 1} should hold 'Nrho drho Nr dr cutoff'"
    try:
        w = lines[i].split()
        nrho_s, drho_s, nr_s, dr_s, cut_s = w[:5]
        nrho, nr = int(nrho_s), int(nr_s)
        drho, dr, cut = float(drho_s), float(dr_s), float(cut_s)
    except (IndexError, ValueError):
        raise DeckError(what, file=str(path), line=i + 1) from None
    bad = []
    if not 5 <= nrho <= MAX_POINTS:
        bad.append(f"Nrho = {nrho} (5 to {MAX_POINTS})")
    if not 5 <= nr <= MAX_POINTS:
        bad.append(f"Nr = {nr} (5 to {MAX_POINTS})")
    for name, v in (("drho", drho), ("dr", dr)):
        if not (np.isfinite(v) and 1e-100 < v < 1e100):
            bad.append(f"{name} = {v:g} (a finite positive spacing)")
    if not (np.isfinite(cut) and 0.0 < cut <= MAX_CUTOFF):
        bad.append(f"cutoff = {cut:g} Å (0 to {MAX_CUTOFF:g})")
    elif not bad and cut > 1.05 * (nr - 1) * dr + 10 * dr:
        bad.append(f"cutoff = {cut:g} Å beyond the tables' last radius (Nr-1)·dr = {(nr - 1) * dr:g} Å")
    if bad:
        raise DeckError(f"{kind} EAM file: impossible header on line {i + 1}: " + "; ".join(bad),
                        file=str(path), line=i + 1)
    return nrho, drho, nr, dr, cut


def _floats(path: Path, lines: list[str], start: int, count: int) -> tuple[np.ndarray, int]:
    """Read ``count`` numbers starting at line ``start`` (0-based); return them and the index of the next
    line. Errors name the file's line; a bad token is quoted (at most 20 characters)."""
    out = np.empty(count)
    got = 0
    i = start
    while got < count:
        if i >= len(lines):
            raise DeckError(f"EAM file ended early: wanted {count} numbers from line {start + 1}, "
                            f"found {got}", file=str(path), line=len(lines))
        words = lines[i].split()
        if got + len(words) > count:
            raise DeckError(f"EAM file: line {i + 1} does not end a block of {count} numbers (from line "
                            f"{start + 1}): wrong Nrho/Nr in the header, or numbers missing or extra",
                            file=str(path), line=i + 1)
        for w in words:
            try:
                v = float(w)
            except ValueError:
                raise DeckError(f"EAM file: not a number on line {i + 1}: {w[:20]!r}", file=str(path),
                                line=i + 1) from None
            if not np.isfinite(v) or abs(v) > 1e100:
                raise DeckError(f"EAM file: the value {w[:20]} on line {i + 1} is not a finite table value",
                                file=str(path), line=i + 1)
            out[got] = v
            got += 1
        i += 1
    return out, i


def _mass(path: Path, lines: list[str], i: int, kind: str) -> float:
    """The mass on line ``i``: ``Z mass a lattice``."""
    try:
        mass = float(lines[i].split()[1])
    except (IndexError, ValueError):
        raise DeckError(f"not a {kind} EAM file: line {i + 1} should hold 'Z mass a lattice'",
                        file=str(path), line=i + 1) from None
    if not (np.isfinite(mass) and 0.0 < mass < 1e6):
        raise DeckError(f"{kind} EAM file: atomic mass {mass:g} on line {i + 1} is not a positive mass "
                        "[g/mol]", file=str(path), line=i + 1)
    return mass


def _header_lattice(line: str) -> tuple[float, str] | None:
    """``Z mass a lattice`` -> (a [Å], lattice kind lower case), None when a is not a positive number."""
    w = line.split()
    try:
        a = float(w[2])
    except (IndexError, ValueError):
        return None
    return (a, w[3].lower() if len(w) > 3 else "") if np.isfinite(a) and a > 0 else None


def interpolate_spline(f: np.ndarray, delta: float) -> np.ndarray:
    """LAMMPS ``PairEAM::interpolate``: (n,) samples -> (n, 7) spline coefficients."""
    n = f.size
    s = np.zeros((n, 7))
    s[:, 6] = f
    s[0, 5] = s[1, 6] - s[0, 6]
    s[1, 5] = 0.5 * (s[2, 6] - s[0, 6])
    s[n - 2, 5] = 0.5 * (s[n - 1, 6] - s[n - 3, 6])
    s[n - 1, 5] = s[n - 1, 6] - s[n - 2, 6]
    m = np.arange(2, n - 2)
    s[m, 5] = ((s[m - 2, 6] - s[m + 2, 6]) + 8.0 * (s[m + 1, 6] - s[m - 1, 6])) / 12.0
    m = np.arange(0, n - 1)
    s[m, 4] = 3.0 * (s[m + 1, 6] - s[m, 6]) - 2.0 * s[m, 5] - s[m + 1, 5]
    s[m, 3] = s[m, 5] + s[m + 1, 5] - 2.0 * (s[m + 1, 6] - s[m, 6])
    s[n - 1, 4] = 0.0
    s[n - 1, 3] = 0.0
    s[:, 2] = s[:, 5] / delta
    s[:, 1] = 2.0 * s[:, 4] / delta
    s[:, 0] = 3.0 * s[:, 3] / delta
    return s


def _regrid(values: np.ndarray, file_delta: float, delta: float, n: int) -> np.ndarray:
    """LAMMPS funcfl ``file2array``: 4-point Lagrange interpolation of file samples onto n new points."""
    nf = values.size
    out = np.empty(n)
    sixth = 1.0 / 6.0
    for m in range(1, n + 1):
        r = (m - 1) * delta
        p = r / file_delta + 1.0
        k = int(p)
        k = min(k, nf - 2)
        k = max(k, 2)
        p -= k
        p = min(p, 2.0)
        c1 = -sixth * p * (p - 1.0) * (p - 2.0)
        c2 = 0.5 * (p * p - 1.0) * (p - 2.0)
        c3 = -0.5 * p * (p + 1.0) * (p - 2.0)
        c4 = sixth * p * (p * p - 1.0)
        out[m - 1] = c1 * values[k - 2] + c2 * values[k - 1] + c3 * values[k] + c4 * values[k + 1]
    return out


def _element_name(word: str) -> str:
    """A funcfl file names its element by atomic number (``29`` in ``Cu_u3.eam``): the chemical symbol
    (``Cu``) for 1 … 118, so results and exports carry the element (the word itself otherwise)."""
    try:
        z = int(word)
    except ValueError:
        return word
    from ase.data import chemical_symbols
    return chemical_symbols[z] if 1 <= z < len(chemical_symbols) else word


def read_funcfl(path: str | Path) -> EAMTables:
    """Read a single-element DYNAMO funcfl file (e.g. ``Cu_u3.eam``) as LAMMPS ``pair_style eam`` does.
    Malformed files raise `DeckError` at the file's line (header values, counts, numbers checked)."""
    path = Path(path)
    lines = _read_lines(path, "funcfl")
    if len(lines) < 4:
        raise DeckError("not a funcfl EAM file: fewer than 4 lines", file=str(path), line=len(lines) or None)
    mass = _mass(path, lines, 1, "funcfl")
    head = lines[1].split()
    nrho, drho, nr, dr, cut = _header(path, lines, 2, "funcfl")
    vals, _ = _floats(path, lines, 3, nrho + 2 * nr)
    frho_f, zr_f, rhor_f = vals[:nrho], vals[nrho:nrho + nr], vals[nrho + nr:]
    rmax = (nr - 1) * dr
    rhomax = (nrho - 1) * drho
    nr_new = int(rmax / dr + 0.5)
    nrho_new = int(rhomax / drho + 0.5)
    frho = _regrid(frho_f, drho, drho, nrho_new)
    rhor = _regrid(rhor_f, dr, dr, nr_new)
    zr = _regrid(zr_f, dr, dr, nr_new)
    z2r = FUNCFL_ZCONV * zr * zr
    return EAMTables(
        elements=[_element_name(head[0])], masses=[mass], nr=nr_new, dr=dr, nrho=nrho_new, drho=drho, cutoff=cut,
        rhomax=rhomax, frho=interpolate_spline(frho, drho)[None],
        rhor=interpolate_spline(rhor, dr)[None], z2r=interpolate_spline(z2r, dr)[None, None],
        lattices=[_header_lattice(lines[1])])


def read_setfl(path: str | Path) -> EAMTables:
    """Read a DYNAMO setfl file (``*.eam.alloy``) the way LAMMPS ``pair_style eam/alloy`` does.
    Malformed files raise `DeckError` at the file's line (header values, counts, numbers checked)."""
    return _read_alloy(Path(path), "setfl")


def read_fs(path: str | Path) -> EAMTables:
    """Read a Finnis–Sinclair file (``*.eam.fs``) the way LAMMPS ``pair_style eam/fs`` does: the setfl
    layout, except that each element's block holds F(ρ) then Nelements density functions ρ_{s,t}(r)
    (t = 1..N), the density an atom of element s gives to an atom of element t (LAMMPS ``file2array``:
    ``type2rhor[i][j] = map[i]*N + map[j]``, used as ``rho[i] += rhor[type2rhor[jtype][itype]]``).
    ``rhor`` is then (N*N, nr, 7) with row s*N + t. Malformed files raise `DeckError` at the file's line."""
    return _read_alloy(Path(path), "eam/fs")


def _read_alloy(path: Path, kind: str) -> EAMTables:
    """setfl (``kind`` "setfl") or Finnis–Sinclair (``kind`` "eam/fs") file."""
    fs = kind == "eam/fs"
    lines = _read_lines(path, kind)
    if len(lines) < 6:
        raise DeckError(f"not a {kind} EAM file: fewer than 6 lines", file=str(path), line=len(lines) or None)
    try:
        words = lines[3].split()
        nel = int(words[0])
        elements = words[1:1 + nel]
        if not 1 <= nel <= 100 or len(elements) != nel:
            raise ValueError
    except (IndexError, ValueError):
        raise DeckError(f"not a {kind} EAM file: line 4 should hold 'Nelements Element1 Element2 ...'",
                        file=str(path), line=4) from None
    nrho, drho, nr, dr, cut = _header(path, lines, 4, kind)
    n_dens = nel if fs else 1                    # density functions per element block
    need = nel * (nrho + n_dens * nr) + nel * (nel + 1) // 2 * nr
    words_total = sum(len(ln.split()) for ln in lines[5:])
    if words_total < need:
        raise DeckError(f"{kind} EAM file: the header asks for {need} table values, the file has at most "
                        f"{words_total}", file=str(path), line=5)
    i = 5
    frho, rhor, masses, lattices = [], [], [], []
    for _ in range(nel):
        if i >= len(lines):
            raise DeckError(f"{kind} EAM file ended early", file=str(path), line=len(lines))
        masses.append(_mass(path, lines, i, kind))
        lattices.append(_header_lattice(lines[i]))
        vals, i = _floats(path, lines, i + 1, nrho + n_dens * nr)
        frho.append(interpolate_spline(vals[:nrho], drho))
        for t in range(n_dens):
            rhor.append(interpolate_spline(vals[nrho + t * nr:nrho + (t + 1) * nr], dr))
    z2r = np.zeros((nel, nel, nr, 7))
    for a in range(nel):
        for b in range(a + 1):
            vals, i = _floats(path, lines, i, nr)
            z2r[a, b] = z2r[b, a] = interpolate_spline(vals, dr)
    return EAMTables(elements=elements, masses=masses, nr=nr, dr=dr, nrho=nrho, drho=drho, cutoff=cut,
                     rhomax=(nrho - 1) * drho, frho=np.array(frho), rhor=np.array(rhor), z2r=z2r,
                     lattices=lattices)


def tables_from_functions(element: str, mass: float, F, rho, phi, cutoff: float, rhomax: float,  # noqa: ANN001
                          nr: int = 5000, nrho: int = 5000) -> EAMTables:
    """Tabulate analytic F(ρ), ρ(r), φ(r) (vectorised callables) like a setfl file with nr/nrho points."""
    from ...resources import check

    check(8.0 * 7 * (3 * nr + nrho) * 2, f"EAM tables of {nr} x {nrho} points", key="potential")
    dr = cutoff / (nr - 1)
    drho = rhomax / (nrho - 1)
    r = np.arange(nr) * dr
    rr = np.arange(nrho) * drho
    z2 = r * phi(np.where(r > 0, r, dr))
    z2[0] = 0.0 if not np.isfinite(z2[0]) else z2[0]
    return EAMTables(elements=[element], masses=[mass], nr=nr, dr=dr, nrho=nrho, drho=drho, cutoff=cutoff,
                     rhomax=(nrho - 1) * drho, frho=interpolate_spline(F(rr), drho)[None],
                     rhor=interpolate_spline(rho(r), dr)[None], z2r=interpolate_spline(z2, dr)[None, None])


# --- vectorised NumPy evaluation, identical arithmetic to the kernel -----------------------------------

def _r_index(t: EAMTables, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = r * (1.0 / t.dr) + 1.0
    m = np.minimum(p.astype(np.int64), t.nr - 1)
    p = np.minimum(p - m, 1.0)
    return m - 1, p


def eval_radial(t: EAMTables, spline: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Value and derivative of a radial spline (nr, 7) at r (any shape); 0 at r >= cutoff."""
    r = np.asarray(r, dtype=float)
    m, p = _r_index(t, r)
    c = spline[m]
    val = ((c[..., 3] * p + c[..., 4]) * p + c[..., 5]) * p + c[..., 6]
    der = (c[..., 0] * p + c[..., 1]) * p + c[..., 2]
    inside = r < t.cutoff
    return np.where(inside, val, 0.0), np.where(inside, der, 0.0)


def eval_pair(t: EAMTables, a: int, b: int, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """φ(r) [eV] and φ'(r) [eV/Å] of element pair (a, b) from the r·φ spline; 0 at r >= cutoff."""
    r = np.asarray(r, dtype=float)
    z2, z2p = eval_radial(t, t.z2r[a, b], r)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = z2 / r
        dphi = z2p / r - phi / r
    inside = r < t.cutoff
    return np.where(inside, phi, 0.0), np.where(inside, dphi, 0.0)


def eval_embedding(t: EAMTables, a: int, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F(ρ) [eV] and F'(ρ) of element a, with LAMMPS's linear extrapolation beyond rhomax."""
    rho = np.asarray(rho, dtype=float)
    p = rho * (1.0 / t.drho) + 1.0
    m = np.maximum(1, np.minimum(np.trunc(p).astype(np.int64), t.nrho - 1))
    p = np.minimum(p - m, 1.0)
    c = t.frho[a][m - 1]
    fp = (c[..., 0] * p + c[..., 1]) * p + c[..., 2]
    F = ((c[..., 3] * p + c[..., 4]) * p + c[..., 5]) * p + c[..., 6]
    F = np.where(rho > t.rhomax, F + fp * (rho - t.rhomax), F)
    return F, fp


# --- exact second derivatives of the interpolating splines (elastic constants) --------------------------
# Within grid interval m the value is the cubic ((c3 p + c4) p + c5) p + c6 in p = x/δ + 1 − m and the
# derivative ((c0 p + c1) p + c2) with c0 = 3 c3/δ, c1 = 2 c4/δ, c2 = c5/δ (``interpolate_spline``), so
# the second derivative is (2 c0 p + c1)/δ, exact inside the interval (the splines are C¹ only: at a grid
# point the two sides differ, and the value of the interval the point starts is returned, as for the
# value and the first derivative).

def eval_radial_d2(t: EAMTables, spline: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Second derivative of a radial spline (nr, 7) at r (any shape); 0 at r >= cutoff."""
    r = np.asarray(r, dtype=float)
    m, p = _r_index(t, r)
    c = spline[m]
    d2 = (2.0 * c[..., 0] * p + c[..., 1]) / t.dr
    return np.where(r < t.cutoff, d2, 0.0)


def eval_pair_d2(t: EAMTables, a: int, b: int, r: np.ndarray) -> np.ndarray:
    """φ''(r) [eV/Å²] of element pair (a, b): φ = z2/r, φ'' = z2''/r − 2 z2'/r² + 2 z2/r³."""
    r = np.asarray(r, dtype=float)
    z2, z2p = eval_radial(t, t.z2r[a, b], r)
    z2pp = eval_radial_d2(t, t.z2r[a, b], r)
    with np.errstate(divide="ignore", invalid="ignore"):
        d2 = z2pp / r - 2.0 * z2p / r ** 2 + 2.0 * z2 / r ** 3
    return np.where(r < t.cutoff, d2, 0.0)


def eval_embedding_d2(t: EAMTables, a: int, rho: np.ndarray) -> np.ndarray:
    """F''(ρ) of element a (0 beyond rhomax, where LAMMPS extrapolates linearly)."""
    rho = np.asarray(rho, dtype=float)
    p = rho * (1.0 / t.drho) + 1.0
    m = np.maximum(1, np.minimum(np.trunc(p).astype(np.int64), t.nrho - 1))
    p = np.minimum(p - m, 1.0)
    c = t.frho[a][m - 1]
    d2 = (2.0 * c[..., 0] * p + c[..., 1]) / t.drho
    return np.where(rho > t.rhomax, 0.0, d2)
