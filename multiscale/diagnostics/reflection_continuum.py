"""Reflection of a wave packet sent from the CONTINUUM into the handshake, R(k) (docs/physics.md §6),
1D chain.

Same coupled chain as `multiscale.diagnostics.reflection` (`build_chain_system`): atoms X ≤ w (+ pads),
handshake 0 ≤ X ≤ w, bar2 mesh of element length h from X = 0 to the right end. Away from H (α = 1) the
lumped bar2 mesh is itself a chain of spacing h, node mass ρh = m h / a and spring EA/h = k a / h, so its
dispersion is ``chain_dispersion(h, m h / a, [k a / h])`` and `lattice_packet` builds an exactly
one-directional packet on the NODES (needs λ ≳ 4h for the mesh to carry it). The packet (wavelength λ,
width σ = max(8λ/6, 60a)) starts 7σ right of H travelling left; the run lasts until the reflected and
transmitted parts are both ≥ 7σ clear of H. Then

    R = E_back / E_incident,
    E_back = Σ_{nodes X_I > w + 2h} ½ M_I V_I² + Σ_{elements with both nodes > w + 2h} ½ (EA/h) (ΔU)²

(lumped nodal masses; there α = 1, so the element energies are unweighted). Units: the chain's (m, k, a).
"""

from __future__ import annotations

import numpy as np

from ..integrate.verlet import VelocityVerlet
from ..loads.wave_packet import chain_dispersion, lattice_packet
from .reflection import ReflectionResult, build_chain_system, run_packet


def reflection_1d_from_continuum(wavelength: float, *, h: float = 4.0, width: float = 32.0,
                                 blend: str = "cubic", method="projected",  # noqa: ANN001
                                 method_params: dict | None = None, dt: float = 0.25,
                                 sigma: float | None = None, a: float = 1.0, m: float = 1.0,
                                 k: float = 1.0) -> ReflectionResult:
    """Reflected energy fraction R of a packet of wavelength λ [length] sent from the mesh into H.

    h : element length [length];  width : handshake width [length];  blend : linear | cubic | quintic;
    method : coupling name (COUPLINGS) or instance, method_params its parameters;  dt : time step [time];
    sigma : envelope width [length] (default max(8λ/6, 60a));  a, m, k : lattice spacing, atom mass,
    spring stiffness. Returns a `ReflectionResult` (E_back = energy back in the continuum beyond w + 2h).
    """
    kw = 2.0 * np.pi / wavelength
    if kw * h >= 0.95 * np.pi:
        raise ValueError(f"λ = {wavelength:g} is not carried by elements of length {h:g} (needs λ > 2.1h)")
    sigma = max(8.0 * wavelength / 6.0, 60.0 * a) if sigma is None else sigma
    c = a * np.sqrt(k / m)
    vg_min = min(c * np.cos(0.5 * kw * a), c * np.cos(0.5 * kw * h))
    T = (14.0 * sigma + 2.0 * width) / vg_min
    span = c * T + 3.0 * sigma
    system = build_chain_system(h=h, width=width, blend=blend, method=method, method_params=method_params,
                                left=span, right=span + 7.0 * sigma, a=a, m=m, k=k)
    integ = VelocityVerlet(system, dt)
    cont = system.continuum
    Xn = cont.nodes[:, 0]
    order = np.argsort(Xn)
    u0, v0, _ = lattice_packet(Xn[order], h, kw, sigma, width + 7.0 * sigma, 1e-2 * a, dt,
                               chain_dispersion(h, m * h / a, [k * a / h]), direction=-1)
    cont.U[order, 0] = u0
    cont.V[order, 0] = v0
    system.update_pads()
    E0, E0m, E1, E1m, res, n_steps = run_packet(integ, T, dt)
    # energy back in the mesh far from H (α = 1): lumped kinetic + unweighted bar2 element energies
    xs, U, V = Xn[order], cont.U[order, 0], cont.V[order, 0]
    Ms = system.node_mass[order]
    far = xs > width + 2.0 * h
    el = far[:-1] & far[1:]
    Eb = float(np.sum(0.5 * Ms[far] * V[far] ** 2)
               + np.sum(0.5 * (k * a) / np.diff(xs)[el] * np.diff(U)[el] ** 2))
    return ReflectionResult(R=Eb / E0, wavelength=wavelength, E_incident=E0, E_back=Eb, E_final=E1,
                            dissipated=integ.dissipated,
                            energy_change_relative=(E1m + integ.dissipated - E0m) / E0m,
                            max_constraint_residual=res, steps=n_steps, dt=dt, n_atoms=system.n_atoms,
                            n_nodes=system.n_nodes, floored_atoms=len(system.floored))
