"""The 2D nanoindentation benchmark of ``docs/problems/indent2d.md`` as msim decks (full atomistic and
coupled).

Film (LJ reduced units, ε = σ = m = 1): ``nx`` atoms per close-packed row, ``ny`` rows; atom (i, j) at
x = (i + (j mod 2)/2)·a₀, y = j·a₀√3/2 with a₀ the zero-stress spacing of the 12-6 LJ shifted at 2.5σ
(`multiscale.md.properties.zero_stress_lattice_constant`); the three bottom rows fixed; a rigid cylinder of
radius R = 10σ, K = 10 ε/σ³, centre x_c = (nx − 0.5)/2·a₀, y_c = y_top + R − d, y_top = (ny − 1)·a₀√3/2.

msim's ``hex`` lattice with origin 0 has the sites i·a₁ + j·a₂, a₁ = (a₀, 0), a₂ = (a₀/2, a₀√3/2): the same
rows as the problem's (i + (j mod 2)/2) layout. The atom box is drawn a quarter spacing outside the sites
so that each row holds exactly ``nx`` atoms.

The coupled deck keeps atoms only in a box under the tip (``core_half_width`` to each side of x_c, down
to ``core_depth`` below the top row, open above the surface) plus a handshake shell of ``width``; the
graded mesh covers the material every atom's cell tiles (x from −a₀/4 to (nx − ¼)a₀, y from the top of
the fixed rows, 2.5·a₀√3/2, to the top cells' edge (ny − ½)·a₀√3/2); its bottom edge is fixed (the
fixed rows' continuum image), the other edges are free; the hole (no elements) is the core box inset by
one fine element. `write_decks` writes the four decks; `python -m multiscale.applications.indent2d`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

R_INDENTER = 10.0       # σ
K_INDENTER = 10.0       # ε/σ³
FTOL = 1e-6             # ε/σ


def lattice_spacing() -> float:
    """a₀ [σ]: zero-stress nearest-neighbour distance of the hex LJ crystal (r_c = 2.5σ, shifted)."""
    from ..md.potentials.lj import LennardJones
    from ..md.properties import zero_stress_lattice_constant
    return float(zero_stress_lattice_constant(LennardJones(1.0, 1.0, 2.5, "shift"), "hex"))


@dataclass(frozen=True)
class Film:
    """Geometry of an nx × ny film [σ] (see the module docstring)."""

    nx: int
    ny: int
    a0: float

    @property
    def h(self) -> float:
        """Row spacing a₀√3/2 [σ]."""
        return self.a0 * math.sqrt(3.0) / 2.0

    @property
    def y_top(self) -> float:
        return (self.ny - 1) * self.h

    @property
    def x_center(self) -> float:
        return (self.nx - 0.5) / 2.0 * self.a0

    def sites(self) -> np.ndarray:
        """Reference positions (nx·ny, 2) in the problem's order (j slow, i fast) [σ]."""
        j, i = np.meshgrid(np.arange(self.ny), np.arange(self.nx), indexing="ij")
        return np.stack([(i + (j % 2) / 2) * self.a0, j * self.h], axis=-1).reshape(-1, 2)

    def atom_box(self) -> tuple[list[float], list[float]]:
        """Box holding exactly the film's sites, a quarter spacing clear of every site [σ]."""
        return [-0.25 * self.a0, -0.25 * self.h], [(self.nx - 0.25) * self.a0, (self.ny - 0.75) * self.h]

    def fixed_box(self) -> dict:
        """Region holding the rows j = 0, 1, 2 (and the mesh's bottom edge at 2.5 h)."""
        return {"type": "box", "lo": [-10.0, -10.0], "hi": [_r(self.nx * self.a0 + 10.0), _r(2.6 * self.h)]}

    def mesh_box(self) -> tuple[list[float], list[float]]:
        return [-0.25 * self.a0, 2.5 * self.h], [(self.nx - 0.25) * self.a0, (self.ny - 0.5) * self.h]


def _r(x: float) -> float:
    return float(f"{x:.12g}")


def _common(film: Film, depths: dict, title: str, minimizer: str = "fire") -> dict:
    lo, hi = film.atom_box()
    return {
        "msim": 1, "units": "lj", "title": title,
        "potential": {"type": "lj", "epsilon": 1.0, "sigma": 1.0, "cutoff": 2.5, "truncation": "shift"},
        "atoms": {"lattice": {"type": "hex", "a": "relaxed", "orient": 0.0, "origin": [0.0, 0.0]},
                  "region": {"type": "box", "lo": [_r(v) for v in lo], "hi": [_r(v) for v in hi]},
                  "boundary": ["f", "f"], "mass": 1.0, "skin": 0.3},
        "loads": [
            {"type": "fixed", "label": "bottom", "region": film.fixed_box()},
            {"type": "indenter", "shape": "cylinder", "radius": R_INDENTER, "stiffness": K_INDENTER,
             "center": [_r(film.x_center), _r(film.y_top + R_INDENTER)], "depth_steps": depths}],
        "integrator": {"type": minimizer, "ftol": FTOL},
        "output": {"every": 1, "thermo_every": 1, "fields": ["displacement", "force"]},
    }


def full_deck(film: Film, depths: dict, title: str, minimizer: str = "precon_lbfgs") -> dict:
    """Fully atomistic deck (nx·ny atoms); L-BFGS preconditioned with the reference stiffness (5-20
    iterations per stage up to the first load drop, against 300-600 for LAMMPS's cg on the 80 × 40 film)."""
    return _common(film, depths, title, minimizer)


def coupled_deck(film: Film, depths: dict, title: str, core_half_width: float, core_depth: float,
                 width: float = 6.0, core_size: float = 1.0, size: float = 8.0, growth: float = 1.1,
                 coupling: str = "strong", material: str = "cauchy_born",
                 minimizer: str = "precon_lbfgs") -> dict:
    """Coupled deck: atoms in the core box under the tip + handshake shell, graded tri3 mesh elsewhere.
    precon_lbfgs (stiffness of the whole coupled system, `integrate/precon.py`): 20 iterations per stage on
    average on the 400 × 200 film, against 1 300-1 800 for plain L-BFGS. Mesh: 1σ elements at the
    handshake growing by 1.1 to 8σ; the
    coarser 2σ / 1.25 / 16σ mesh is 0.43 % stiffer than the full film (vs 0.17 %) and nucleates one depth
    step early (d = 5.1 vs 5.2); a larger atomistic core (40σ) does not change that, the mesh does."""
    deck = _common(film, depths, title, minimizer)
    xc, yt = film.x_center, film.y_top
    above = yt + 2 * R_INDENTER
    core_lo, core_hi = [xc - core_half_width, yt - core_depth], [xc + core_half_width, above]
    mlo, mhi = film.mesh_box()
    fine_lo = [core_lo[0] - width, core_lo[1] - width]
    fine_hi = [core_hi[0] + width, mhi[1]]
    deck["continuum"] = {
        "mesh": {"type": "rectangle", "element": "tri3",
                 "lo": [_r(v) for v in mlo], "hi": [_r(v) for v in mhi],
                 "size": size, "core": {"lo": [_r(v) for v in fine_lo], "hi": [_r(v) for v in fine_hi]},
                 "core_size": core_size, "growth": growth,
                 "hole": {"lo": [_r(core_lo[0] + core_size), _r(core_lo[1] + core_size)],
                          "hi": [_r(core_hi[0] - core_size), _r(above + 1.0)]}},
        "material": {"type": material}, "density": "derived"}
    deck["handshake"] = {"shape": {"type": "box", "lo": [_r(v) for v in core_lo],
                                   "hi": [_r(v) for v in core_hi]},
                         "width": width, "blend": {"type": "cubic"}, "coupling": {"type": coupling}}
    return deck


FULL_DEPTHS = {"start": 0.0, "stop": 6.0, "step": 0.1}


def deck_set(a0: float | None = None) -> dict[str, dict]:
    """The four indent2d decks by file name (without expect blocks)."""
    a0 = lattice_spacing() if a0 is None else a0
    big, small = Film(400, 200, a0), Film(80, 40, a0)
    small_depths = SMALL_DEPTHS
    return {
        "indent2d_full.yaml": full_deck(big, FULL_DEPTHS, "indent2d benchmark "
                                        "(docs/problems/indent2d.md), fully atomistic: 400 x 200 hex LJ film, "
                                        "cylinder R = 10, depth 0..6"),
        "indent2d.yaml": coupled_deck(big, FULL_DEPTHS, "indent2d benchmark "
                                      "(docs/problems/indent2d.md), coupled: atoms under the tip, "
                                      "Cauchy-Born tri3 mesh elsewhere",
                                      core_half_width=CORE_BIG[0], core_depth=CORE_BIG[1]),
        "indent2d_full_small.yaml": full_deck(small, small_depths, "indent2d at reduced size (80 x 40 "
                                              "atoms), fully atomistic"),
        "indent2d_small.yaml": coupled_deck(small, small_depths, "indent2d at reduced size (80 x 40 atoms' "
                                            "film), coupled", core_half_width=CORE_SMALL[0],
                                            core_depth=CORE_SMALL[1]),
    }


# elastic range: the curve does not depend on the step there
SMALL_DEPTHS = {"start": 0.0, "stop": 2.0, "step": 0.5}
# full atomistic 80 × 40 film at d = 2.0 (0.1 steps, FIRE or L-BFGS, ftol 1e-6) [ε/σ]
P_FULL_SMALL_2 = 50.50141
EXPECT = {
    "indent2d_full_small.yaml": {"observables.indenter.load.max": {"value": P_FULL_SMALL_2, "rtol": 1e-4}},
    "indent2d_small.yaml": {"observables.indenter.load.max": {"value": P_FULL_SMALL_2, "rtol": 0.02},
                            "constraint_residual": {"max": 1e-10}},
}
CORE_BIG = (25.0, 25.0)
CORE_SMALL = (15.0, 15.0)


def write_decks(directory: str | Path, expect: dict[str, dict] | None = None) -> list[Path]:
    """Write the decks of `deck_set` (plus ``expect`` blocks by file name, default `EXPECT`)."""
    from ._deckfiles import write_deck_set
    return write_deck_set(directory, deck_set(), EXPECT if expect is None else expect,
                          "multiscale.applications.indent2d")


if __name__ == "__main__":
    from ._deckfiles import main
    main(write_decks)
