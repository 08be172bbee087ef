"""3D nanoindentation of an fcc Cu block (EAM, metal units: Å, eV) by a rigid sphere, as coupled msim decks.

Block: ``nx × ny × nz`` cubic cells of fcc Cu (Zhou-Johnson-Wadley EAM, ``eam_zhou``), lattice constant
a₀ = the potential's zero-stress value (``a: relaxed``, ≈ 3.615 Å), cube axes along x, y, z, origin 0, so
the atomic planes lie at k·a₀/2 (k = 0 … 2n − 1) along each axis. The atom box is drawn a quarter spacing
(a₀/4) outside the sites; the continuum mesh covers the same box (every atom's cell: x, y from −a₀/4 to
(n − ¼)a₀, z from −a₀/4 to the top plane z_top = (nz − ½)a₀ plus a₀/4).

Indenter: rigid sphere of radius R [Å] and stiffness K [eV/Å³] (force K (R − r)² per atom), centred over
the middle of the top face, x_c = y_c = (n − ½)a₀/2, z_c = z_top + R − d, depths d [Å] in quasi-static
steps (statics, preconditioned L-BFGS).

Coupling: atoms are kept in the core box under the tip (``core_half_width`` to each side of x_c, y_c,
down to ``core_depth`` below the top plane, open above the surface) plus a handshake shell of ``width``
(≥ cut-off + skin); a graded ``box`` hex8 mesh (linear elasticity with the C of the EAM at
the lattice; small strains away from the tip), ``core_size`` elements in the core box +
shell, growing by ``growth`` to ``size``) covers the rest, the hole (no elements) being the core box
inset by one fine element. The mesh's bottom face (z = −a₀/4) is fixed; the sides and top are free.
`write_decks` writes ``indent3d.yaml`` and ``indent3d_small.yaml``;
``python -m multiscale.applications.indent3d [DIR]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FTOL = 1e-3             # eV/Å: largest free force at convergence


def lattice_constant() -> float:
    """a₀ [Å]: zero-stress fcc lattice constant of the Zhou EAM for Cu."""
    from ..md.potentials.eam_zhou import ZhouEAM
    from ..md.properties import zero_stress_lattice_constant
    return float(zero_stress_lattice_constant(ZhouEAM("Cu"), "fcc"))


def _r(x: float) -> float:
    return float(f"{x:.12g}")


@dataclass(frozen=True)
class Block:
    """Geometry of an nx × ny × nz cubic-cell fcc block [Å] (see the module docstring)."""

    nx: int
    ny: int
    nz: int
    a0: float

    @property
    def z_top(self) -> float:
        """Height of the top atomic plane [Å]."""
        return (self.nz - 0.5) * self.a0

    @property
    def center_xy(self) -> tuple[float, float]:
        """Lateral centre of the top face [Å]."""
        return (self.nx - 0.5) / 2.0 * self.a0, (self.ny - 0.5) / 2.0 * self.a0

    def box(self) -> tuple[list[float], list[float]]:
        """Box a quarter spacing clear of every site (atoms' region and mesh domain) [Å]."""
        q = 0.25 * self.a0
        return [-q, -q, -q], [(self.nx - 0.25) * self.a0, (self.ny - 0.25) * self.a0, self.z_top + q]


def coupled_deck(block: Block, depths: dict, title: str, radius: float, core_half_width: float,
                 core_depth: float, stiffness: float = 10.0, width: float = 8.5, core_size: float = 3.0,
                 size: float = 12.0, growth: float = 1.3, element: str = "hex8", material: str = "linear",
                 minimizer: str = "precon_lbfgs") -> dict:
    """Coupled deck dict (see the module docstring); lengths [Å], stiffness [eV/Å³]."""
    lo, hi = block.box()
    xc, yc = block.center_xy
    zt = block.z_top
    above = zt + 2.0 * radius
    core_lo = [xc - core_half_width, yc - core_half_width, zt - core_depth]
    core_hi = [xc + core_half_width, yc + core_half_width, above]
    fine_lo = [max(lo[i], core_lo[i] - width) for i in range(3)]
    fine_hi = [min(hi[0], core_hi[0] + width), min(hi[1], core_hi[1] + width), hi[2]]
    q = 0.25 * block.a0
    return {
        "msim": 1, "units": "metal", "title": title,
        "potential": {"type": "eam_zhou", "element": "Cu"},
        "atoms": {"lattice": {"type": "fcc", "a": "relaxed",
                              "orient": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "origin": [0.0, 0.0, 0.0]},
                  "region": {"type": "box", "lo": [_r(v) for v in lo], "hi": [_r(v) for v in hi]},
                  "boundary": ["f", "f", "f"], "mass": 63.546, "skin": 2.0},
        "continuum": {
            "mesh": {"type": "box", "element": element,
                     "lo": [_r(v) for v in lo], "hi": [_r(v) for v in hi], "size": size,
                     "core": {"lo": [_r(v) for v in fine_lo], "hi": [_r(v) for v in fine_hi]},
                     "core_size": core_size, "growth": growth,
                     "hole": {"lo": [_r(core_lo[i] + core_size) for i in range(3)],
                              "hi": [_r(core_hi[0] - core_size), _r(core_hi[1] - core_size),
                                     _r(above + 1.0)]}},
            "material": {"type": material}, "density": "derived"},
        "handshake": {"shape": {"type": "box", "lo": [_r(v) for v in core_lo],
                                "hi": [_r(v) for v in core_hi]},
                      "width": width, "blend": {"type": "cubic"}, "coupling": {"type": "strong"}},
        "loads": [
            {"type": "fixed", "label": "bottom",
             "region": {"type": "box", "lo": [_r(lo[0] - 10.0), _r(lo[1] - 10.0), _r(lo[2] - 10.0)],
                        "hi": [_r(hi[0] + 10.0), _r(hi[1] + 10.0), _r(lo[2] + 0.5 * q)]}},
            {"type": "indenter", "shape": "sphere", "radius": radius, "stiffness": stiffness,
             "center": [_r(xc), _r(yc), _r(zt + radius)], "depth_steps": depths}],
        "integrator": {"type": minimizer, "ftol": FTOL},
        "output": {"every": 1, "thermo_every": 1, "fields": ["displacement", "force"]},
    }


BIG = dict(n=(16, 16, 12), radius=20.0, core=(12.0, 10.0), size=12.0, core_size=4.0)
SMALL = dict(n=(8, 8, 6), radius=10.0, core=(6.0, 6.0), size=6.0, core_size=3.0)
BIG_DEPTHS = {"start": 0.0, "stop": 2.0, "step": 0.5}
SMALL_DEPTHS = {"start": 0.0, "stop": 1.0, "step": 0.5}


def deck_set(a0: float | None = None) -> dict[str, dict]:
    """The indent3d decks by file name (without expect blocks)."""
    a0 = lattice_constant() if a0 is None else a0
    out = {}
    for name, g, depths, what in (("indent3d.yaml", BIG, BIG_DEPTHS, "full size"),
                                  ("indent3d_small.yaml", SMALL, SMALL_DEPTHS, "reduced size")):
        nx, ny, nz = g["n"]
        out[name] = coupled_deck(
            Block(nx, ny, nz, a0), depths,
            f"indent3d ({what}): {nx} x {ny} x {nz}-cell fcc Cu block (Zhou EAM), "
            f"sphere R = {g['radius']:g} A, "
            "atoms under the tip, graded linear-elastic hex8 mesh (C of the EAM) elsewhere, bottom fixed",
            radius=g["radius"], core_half_width=g["core"][0], core_depth=g["core"][1], size=g["size"],
            core_size=g["core_size"])
    return out


# measured (msim run, ftol 1e-3 eV/Å, 1 thread) [eV/Å]: the load at the last depth
P_BIG_2 = 13.91374      # d = 2.0 Å, R = 20 Å (loads 1.161, 4.288, 8.743, 13.91 at d = 0.5 … 2;
#                         with 3 Å fine elements instead of 4 Å: 1.158, 4.259, 8.689, 13.82, build 2× slower)
P_SMALL_1 = 3.050700    # d = 1.0 Å, R = 10 Å (load 0.7690 at d = 0.5)
EXPECT = {
    "indent3d.yaml": {"observables.indenter.load.max": {"value": P_BIG_2, "rtol": 0.01},
                      "constraint_residual": {"max": 1e-10}},
    "indent3d_small.yaml": {"observables.indenter.load.max": {"value": P_SMALL_1, "rtol": 0.01},
                            "constraint_residual": {"max": 1e-10}},
}


def write_decks(directory: str | Path, expect: dict[str, dict] | None = None) -> list[Path]:
    """Write the decks of `deck_set` (plus ``expect`` blocks by file name, default `EXPECT`)."""
    from ._deckfiles import write_deck_set
    return write_deck_set(directory, deck_set(), EXPECT if expect is None else expect,
                          "multiscale.applications.indent3d")


if __name__ == "__main__":
    from ._deckfiles import main
    main(write_decks)
