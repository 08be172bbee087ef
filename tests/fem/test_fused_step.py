"""The fused explicit finite-element step (`ContinuumRegion.verlet_step`, `fem_forces.stencil_verlet_step`,
`verlet.kick_drift` / `acc_kick`, the 4/8-node vector d = 2 stencil kernel): the same numbers, bitwise, as
the separate kernels and as the integrator's general path, forces equal to −K U of the independently
assembled stiffness, and thread-count independence."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale._kernels import load
from multiscale.coupling.coupled import CoupledSystem
from multiscale.fem import ContinuumRegion
from multiscale.fem.materials.isotropic import Isotropic
from multiscale.integrate.verlet import VelocityVerlet
from multiscale.registry import MESHES

VERLET = load("verlet")
FEM = load("fem_forces")


def region(elem: str, n: int = 23, threads: int = 1, seed: int = 0) -> ContinuumRegion:
    G = MESHES.get("rectangle")
    mesh = G.build(G.Params(lo=[0, 0], hi=[float(n), float(n) - 4], size=1.0, element=elem))
    reg = ContinuumRegion(mesh, Isotropic(100.0, 0.3, 2), density=1.0, n_threads=threads)
    rng = np.random.default_rng(seed)
    reg.U[:] = 1e-2 * rng.normal(size=reg.U.shape)
    reg.V[:] = 1e-2 * rng.normal(size=reg.V.shape)
    return reg


def inverse_masses(reg: ContinuumRegion) -> np.ndarray:
    inv = np.repeat((1.0 / reg.lumped_mass)[:, None], reg.U.shape[1], axis=1)
    inv[:3, 1] = 0.0                     # a few fixed components
    return inv


@pytest.mark.parametrize("elem", ["quad4", "tri3"])
def test_verlet_step_bitwise_separate_kernels_and_forces_are_minus_K_U(elem, monkeypatch):
    a, b = region(elem), region(elem)
    inv = inverse_masses(a)
    for r in (a, b):
        r.compute()
    acc_a, acc_b = a.forces * inv, b.forces * inv
    K = a.stiffness_matrix()
    calls = []
    real = FEM.stencil_verlet_step
    monkeypatch.setattr(a._k, "stencil_verlet_step", lambda *args: calls.append(1) or real(*args))
    dt = 0.4 * a.stable_dt()
    for _ in range(7):
        Ea = a.verlet_step(acc_a, inv, 0.5 * dt, dt)
        VERLET.kick_acc(b.V, acc_b, 0.5 * dt, 1)
        VERLET.drift(b.U, b.V, dt, 1)
        Eb = b.compute()
        np.multiply(b.forces, inv, out=acc_b)
        VERLET.kick_acc(b.V, acc_b, 0.5 * dt, 1)
    for x, y in ((a.U, b.U), (a.V, b.V), (acc_a, acc_b), (a.forces, b.forces)):
        assert np.array_equal(x, y)
    assert Ea == Eb
    # independent reference: the assembled stiffness (scipy CSR) and the quadratic energy
    f_ref = -(K @ a.U.ravel())
    assert np.max(np.abs(a.forces.ravel() - f_ref)) <= 1e-12 * np.max(np.abs(f_ref))
    assert Ea == pytest.approx(0.5 * a.U.ravel() @ (K @ a.U.ravel()), rel=1e-12)
    # the structured quad4 mesh takes the one-pass kernel
    assert (len(calls) == 7) if elem == "quad4" else True


def test_vector_stencil_kernel_is_bitwise_the_scalar_one():
    reg = region("quad4", n=41)
    reg.compute()
    nodes, types, off = reg._stencil_parts[0]
    assert nodes.size == reg.mesh.n_nodes
    nbr = np.ascontiguousarray((nodes[:, None] + off[types]).astype(np.int32))
    o1, o2 = np.zeros_like(reg.forces), np.zeros_like(reg.forces)
    e1, e2 = np.zeros(64), np.zeros(64)
    FEM.stencil_forces(reg.U, nodes, types, off, reg._stencil_T, o1, e1, 1, 1)     # 8/4-node vectors
    FEM.stencil_forces(reg.U, nodes, types, nbr, reg._stencil_T, o2, e2, 0, 1)     # one node at a time
    assert np.array_equal(o1, o2) and np.array_equal(e1, e2)
    assert np.max(np.abs(o1)) > 0


def fe_integrator(threads: int, general: bool) -> VelocityVerlet:
    reg = region("quad4", n=30, threads=threads, seed=3)   # 31 nodes a row: chunks end inside rows
    system = CoupledSystem(continuum=reg)
    integ = VelocityVerlet(system, 0.3 * reg.stable_dt(), n_threads=threads)

    class Nothing:                         # an imposed-motion hook that imposes nothing: general path
        def impose(self, time, system) -> None:  # noqa: ANN001
            pass

    if general:
        integ.impose_hooks.append(Nothing())
    return integ


def test_integrator_fused_path_is_bitwise_the_general_path_and_thread_independent():
    runs = [fe_integrator(1, False), fe_integrator(1, True), fe_integrator(2, False)]
    for it in runs:
        it.step(25)
    ref = runs[0]
    s0 = ref.system
    for it in runs[1:]:
        s = it.system
        assert np.array_equal(s.continuum.U, s0.continuum.U)
        assert np.array_equal(s.continuum.V, s0.continuum.V)
        assert np.array_equal(it.acc_nodes, ref.acc_nodes)
        assert np.array_equal(s.f_nodes, s0.f_nodes)
        assert it.potential == ref.potential and it.time == ref.time
    # energy conservation of the fused run (linear forces: K + Π − Δt²/8 aᵀMa is exact for Verlet)
    it = fe_integrator(1, False)
    it.initialize()
    e0 = sum(it.system.kinetic()) + it.potential + it.verlet_correction()
    it.step(200)
    e1 = sum(it.system.kinetic()) + it.potential + it.verlet_correction()
    assert abs(e1 - e0) <= 1e-10 * abs(e0)
