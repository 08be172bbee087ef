"""EAM tables with LAMMPS's exact interpolation: funcfl / setfl readers and the cubic splines.

Everything follows LAMMPS ``pair_eam.cpp`` / ``pair_eam_alloy.cpp`` (``read_file``, ``file2array``,
``array2spline``, ``interpolate`` and the evaluation in ``compute``), so that energies and forces agree
with LAMMPS to round-off. Spline rows hold 7 coefficients per grid interval (LAMMPS ``spline[m][0..6]``,
stored 0-based here: row m-1 is LAMMPS's m). Units: metal (Å, eV).

- ``frho`` (nel, nrho, 7): embedding F(ρ) of each element [eV];
- ``rhor`` (nel, nr, 7): density ρ(r) contributed BY an atom of each element;
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


def _floats(path: Path, lines: list[str], start: int, count: int) -> tuple[np.ndarray, int]:
    """Read ``count`` numbers starting at line ``start``; return them and the index of the next line."""
    vals: list[str] = []
    i = start
    while len(vals) < count:
        if i >= len(lines):
            raise DeckError(f"EAM file ended early (wanted {count} numbers from line {start + 1})",
                            file=str(path))
        vals.extend(lines[i].split())
        i += 1
    if len(vals) != count:
        raise DeckError(f"EAM file: line {i} does not end a block of {count} numbers", file=str(path),
                        line=i)
    return np.array(vals, dtype=float), i


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


def read_funcfl(path: str | Path) -> EAMTables:
    """Read a single-element DYNAMO funcfl file (e.g. ``Cu_u3.eam``) as LAMMPS ``pair_style eam`` does."""
    path = Path(path)
    lines = path.read_text().splitlines()
    try:
        head = lines[1].split()
        mass = float(head[1])
        nrho, drho, nr, dr, cut = lines[2].split()[:5]
        nrho, nr = int(nrho), int(nr)
        drho, dr, cut = float(drho), float(dr), float(cut)
    except (IndexError, ValueError) as exc:
        raise DeckError(f"not a funcfl EAM file (header): {exc}", file=str(path)) from None
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
        elements=[head[0]], masses=[mass], nr=nr_new, dr=dr, nrho=nrho_new, drho=drho, cutoff=cut,
        rhomax=rhomax, frho=interpolate_spline(frho, drho)[None],
        rhor=interpolate_spline(rhor, dr)[None], z2r=interpolate_spline(z2r, dr)[None, None])


def read_setfl(path: str | Path) -> EAMTables:
    """Read a DYNAMO setfl file (``*.eam.alloy``) the way LAMMPS ``pair_style eam/alloy`` does."""
    path = Path(path)
    lines = path.read_text().splitlines()
    try:
        words = lines[3].split()
        nel = int(words[0])
        elements = words[1:1 + nel]
        if len(elements) != nel:
            raise ValueError("element names missing on line 4")
        nrho, drho, nr, dr, cut = lines[4].split()[:5]
        nrho, nr = int(nrho), int(nr)
        drho, dr, cut = float(drho), float(dr), float(cut)
    except (IndexError, ValueError) as exc:
        raise DeckError(f"not a setfl EAM file (header): {exc}", file=str(path)) from None
    i = 5
    frho, rhor, masses = [], [], []
    for _ in range(nel):
        masses.append(float(lines[i].split()[1]))
        vals, i = _floats(path, lines, i + 1, nrho + nr)
        frho.append(interpolate_spline(vals[:nrho], drho))
        rhor.append(interpolate_spline(vals[nrho:], dr))
    z2r = np.zeros((nel, nel, nr, 7))
    for a in range(nel):
        for b in range(a + 1):
            vals, i = _floats(path, lines, i, nr)
            z2r[a, b] = z2r[b, a] = interpolate_spline(vals, dr)
    return EAMTables(elements=elements, masses=masses, nr=nr, dr=dr, nrho=nrho, drho=drho, cutoff=cut,
                     rhomax=(nrho - 1) * drho, frho=np.array(frho), rhor=np.array(rhor), z2r=z2r)


def tables_from_functions(element: str, mass: float, F, rho, phi, cutoff: float, rhomax: float,  # noqa: ANN001
                          nr: int = 5000, nrho: int = 5000) -> EAMTables:
    """Tabulate analytic F(ρ), ρ(r), φ(r) (vectorised callables) like a setfl file with nr/nrho points."""
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
