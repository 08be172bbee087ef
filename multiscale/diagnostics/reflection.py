"""Reflection of wave packets at the handshake, R(k) (docs/physics.md §6), for the 1D coupled chain.

Set-up (all in the chain's units, defaults m = k = a = 1): atoms on X = j a, X ≤ w + pads; the atomistic
core is X ≤ 0 (halfspace), the handshake 0 ≤ X ≤ w, bar2 elements of length h from X = 0 to the right end.
A one-directional packet (`multiscale.loads.wave_packet`) of wavelength λ and width σ = max(8λ/6, 60a)
starts 7σ left of the handshake and travels right. The run lasts until the reflected and transmitted
parts are both ≥ 7σ clear of H; the ends are far enough that nothing returns. Then

    R = E_back / E_incident,   E_back = Σ over atoms with X < −2a of (½ M v² + weighted site energy)

Regions are built by the factories ``make_atoms(X (n, 1), mass, k, a, reach)`` and
``make_continuum(nodes (N, 1), EA, rho)``; the defaults build the engine's AtomisticRegion (harmonic
nearest-neighbour springs) and ContinuumRegion (bar2, linear material).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..coupling.coupled import CoupledSystem
from ..coupling.damping import DampingBand
from ..coupling.handshake import Handshake
from ..coupling.methods import get_method
from ..integrate.verlet import VelocityVerlet
from ..loads.wave_packet import chain_dispersion, lattice_packet


@dataclass
class ReflectionResult:
    """R and the bookkeeping of one packet run (energies [energy], times [time])."""

    R: float
    wavelength: float
    E_incident: float
    E_back: float
    E_final: float
    dissipated: float
    energy_change_relative: float  #: of the modified total + dissipated (exact invariant, linear)
    max_constraint_residual: float
    steps: int
    dt: float
    n_atoms: int
    n_nodes: int
    floored_atoms: int


def _halfspace_1d():  # noqa: ANN202
    from ..geometry.halfspace import HalfSpaceShape

    return HalfSpaceShape([0.0], [1.0])


def default_make_atoms(X, mass, k, a, reach):  # noqa: ANN001, ANN201
    """The engine's AtomisticRegion: harmonic nearest-neighbour springs (cut-off 1.5a), free ends."""
    from ..md.box import Box
    from ..md.potentials.harmonic import HarmonicSprings
    from ..md.system import AtomisticRegion

    pot = HarmonicSprings(k=k, r0=a, cutoff=1.5 * a)
    box = Box(X.min(axis=0) - 10 * a, X.max(axis=0) + 10 * a, [False])
    return AtomisticRegion(X, np.full(len(X), float(mass)), pot, box, skin=max(reach - pot.cutoff, 0.0))


def default_make_continuum(nodes, EA, rho):  # noqa: ANN001, ANN201
    """The engine's ContinuumRegion: bar2 elements, linear material C = EA, density rho [mass/length]."""
    from ..fem.continuum import ContinuumRegion
    from ..fem.materials.linear import Linear
    from ..fem.mesh import ElementBlock, Mesh

    N = len(nodes)
    conn = np.stack([np.arange(N - 1), np.arange(1, N)], axis=1)
    mesh = Mesh(nodes, [ElementBlock("bar2", conn)])
    return ContinuumRegion(mesh, Linear(np.array([[float(EA)]])), rho)


def build_chain_system(*, h: float = 4.0, width: float = 32.0, blend: str = "cubic",
                       method="projected", method_params: dict | None = None, left: float = 1000.0,
                       right: float = 1000.0, a: float = 1.0, m: float = 1.0, k: float = 1.0,
                       mass_floor: float = 0.0, reach: float | None = None,
                       make_atoms=None, make_continuum=None) -> CoupledSystem:  # noqa: ANN001
    """The 1D coupled chain: atoms from −left to the handshake's end (+ pads), mesh from 0 to w + right."""
    make_atoms = make_atoms or default_make_atoms
    make_continuum = make_continuum or default_make_continuum
    reach = 1.6 * a if reach is None else reach
    hs = Handshake(_halfspace_1d(), width, blend)
    j_lo = -int(np.ceil(left / a))
    j_hi = int(np.ceil((width + 2 * a + reach) / a))
    Xc = (np.arange(j_lo, j_hi + 1) * a)[:, None]
    cls = hs.classify(Xc, np.array([[a]]), reach)
    atoms = make_atoms(np.ascontiguousarray(Xc[cls.keep]), m, k, a, reach)
    n_el = int(np.ceil((width + right) / h))
    nodes = (np.arange(n_el + 1) * h)[:, None]
    cont = make_continuum(nodes, k * a, m / a)
    meth = get_method(method, **(method_params or {}))
    return CoupledSystem(atoms, cont, hs, meth, cell=np.array([[a]]), mass_floor=mass_floor)


def run_packet(integ, T: float, dt: float) -> tuple[float, float, float, float, float, int]:  # noqa: ANN001
    """Project the initial packet onto the constraints and run it for time T [time].

    Returns (E0, E0 modified, E_final, E_final modified, max constraint residual, steps) [energy, length].
    """
    system = integ.system
    integ.project_state()
    integ.initialize()
    Ka, Kc = system.kinetic()
    E0 = Ka + Kc + integ.potential
    E0m = E0 + integ.verlet_correction()
    n_steps = int(np.ceil(T / dt))
    res = 0.0
    chunk = max(1, n_steps // 20)
    done = 0
    while done < n_steps:
        nst = min(chunk, n_steps - done)
        integ.step(nst)
        done += nst
        res = max(res, integ.constraint_residual())
    Ka, Kc = system.kinetic()
    E1 = Ka + Kc + integ.potential
    return E0, E0m, E1, E1 + integ.verlet_correction(), res, n_steps


def reflection_1d(wavelength: float, *, h: float = 4.0, width: float = 32.0, blend: str = "cubic",
                  method="projected", method_params: dict | None = None, gamma0: float | None = None,
                  damping_mass: str = "coupled", damping_fine_scale: str = "smoothed", dt: float = 0.25,
                  sigma: float | None = None,
                  a: float = 1.0, m: float = 1.0, k: float = 1.0, mass_floor: float = 0.0,
                  make_atoms=None, make_continuum=None) -> ReflectionResult:  # noqa: ANN001
    """Reflected energy fraction R of a packet of wavelength λ [length] sent from the atoms into H.

    h : element length;  width : handshake width;  blend : linear | cubic | quintic;
    method : coupling name (COUPLINGS) or instance, method_params its parameters;
    gamma0 : damping band strength (None = no damping), ω0 = 2√(k/m); damping_mass, damping_fine_scale:
    see `DampingBand`;  dt : time step;
    sigma : envelope width (default max(8λ/6, 60a)).  Returns a `ReflectionResult`.
    """
    kw = 2.0 * np.pi / wavelength
    sigma = max(8.0 * wavelength / 6.0, 60.0 * a) if sigma is None else sigma
    c = a * np.sqrt(k / m)
    vg_a = c * np.cos(0.5 * kw * a)
    vg_min = vg_a
    if kw * h < 0.95 * np.pi:
        vg_min = min(vg_min, c * np.cos(0.5 * kw * h))
    T = (14.0 * sigma + 2.0 * width) / vg_min
    span = c * T + 3.0 * sigma
    system = build_chain_system(h=h, width=width, blend=blend, method=method, method_params=method_params,
                                left=span, right=span, a=a, m=m, k=k, mass_floor=mass_floor,
                                make_atoms=make_atoms, make_continuum=make_continuum)
    ops = []
    if gamma0 is not None:
        ops.append(DampingBand(gamma0, 2.0 * np.sqrt(k / m), mass=damping_mass,
                               fine_scale=damping_fine_scale))
    integ = VelocityVerlet(system, dt, velocity_ops=ops)
    # packet on the free atoms (equally spaced), centred 7σ left of H
    idx = system.free
    X = system.atoms.X[idx, 0]
    order = np.argsort(X)
    u0, v0, _ = lattice_packet(X[order], a, kw, sigma, -7.0 * sigma, 1e-2 * a, dt,
                               chain_dispersion(a, m, [k]))
    system.atoms.x[idx[order], 0] = X[order] + u0
    system.atoms.v[idx[order], 0] = v0
    E0, E0m, E1, E1m, res, n_steps = run_packet(integ, T, dt)
    back = idx[X < -2.0 * a]
    Eb = float(np.sum(0.5 * system.atom_mass[back] * system.atoms.v[back, 0] ** 2)
               + np.sum(system.atoms.energies[back]))
    return ReflectionResult(R=Eb / E0, wavelength=wavelength, E_incident=E0, E_back=Eb, E_final=E1,
                            dissipated=integ.dissipated,
                            energy_change_relative=(E1m + integ.dissipated - E0m) / E0m,
                            max_constraint_residual=res, steps=n_steps, dt=dt, n_atoms=system.n_atoms,
                            n_nodes=system.n_nodes, floored_atoms=len(system.floored))


def reflection_sweep_1d(wavelengths, **kw) -> list[ReflectionResult]:  # noqa: ANN001
    """`reflection_1d` for each wavelength [length] (same keywords); R against k = 2π/λ."""
    return [reflection_1d(float(lam), **kw) for lam in wavelengths]


def reflection_table(methods=("strong", "projected"), blends=("linear", "cubic", "quintic"),  # noqa: ANN001
                     widths=(16.0, 32.0, 64.0), h: float = 4.0, gamma0: float = 1.0, **kw) -> list[dict]:
    """The issue-5 table: R at λ = 16h, 8h, 4h, 1.9h (undamped and damped) and h (damped, γ0).
    Extra keywords go to `reflection_1d` (e.g. the region factories)."""
    rows = []
    for meth in methods:
        for blend in blends:
            for w in widths:
                row = {"method": meth, "blend": blend, "width": w}
                for name, lam, g in (("16h", 16 * h, None), ("8h", 8 * h, None), ("4h", 4 * h, None),
                                     ("1.9h", 1.9 * h, None), ("1.9h_damped", 1.9 * h, gamma0),
                                     ("h_damped", h, gamma0)):
                    row[name] = reflection_1d(lam, h=h, width=w, blend=blend, method=meth, gamma0=g, **kw).R
                rows.append(row)
    return rows


if __name__ == "__main__":  # python -m multiscale.diagnostics.reflection
    cols = ("16h", "8h", "4h", "1.9h", "1.9h_damped", "h_damped")
    print("| method | blend | width | " + " | ".join(f"λ={c}" for c in cols) + " |")
    print("|---" * (3 + len(cols)) + "|")
    for r in reflection_table():
        vals = [f"{r[c]:.1e}" for c in cols]
        print(f"| {r['method']} | {r['blend']} | {r['width']:g}a | " + " | ".join(vals) + " |", flush=True)
