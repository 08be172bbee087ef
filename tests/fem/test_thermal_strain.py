"""Thermal-expansion matching (msim issue 16): the ``thermal_strain`` material, the measured thermal strain.

The figure of issue 16: a coupled 2D LJ crystal at T = 0.1 ε/k_B (the lattice expands 0.88 %), the whole body
on its thermally expanded lattice, outer ring of the mesh fixed: the time-averaged mean stress with the
matched continuum should be ≤ 2 % of the one the unmatched (zero-temperature) continuum produces
(benchmarks/thermal_expansion.py; unmatched = the same base material without the thermal strain).

Measured (2026-12-06, 2 000 + 6 000 steps, block errors of 8 blocks):

| continuum | σ far field | σ core | σ_H (blended) |
| --- | --- | --- | --- |
| linear, unmatched | +0.864 ± 0.002 | +0.490 ± 0.013 | +0.672 |
| ``thermal_strain`` on ``linear`` | −0.011 ± 0.002 | −0.011 ± 0.014 | −0.043 |
| Cauchy–Born, unmatched | +0.596 ± 0.006 | +0.358 ± 0.014 | +0.446 |
| ``thermal_strain`` on ``cauchy_born`` | −0.200 ± 0.005 | −0.122 ± 0.015 | −0.210 |

The old residual (−0.21, ratio 0.49) was the Cauchy–Born mesh expanding a second time: its nodes are
thermalised (≈ 0.7 T) and ⟨P(F)⟩ of the anharmonic W is compressive at ⟨F⟩ = (1+ε_th) I, while ε_th,
measured on the whole periodic crystal, already holds the long-wave modes' share (the material's docstring).
With the harmonic base (``base: linear``, which the benchmark uses) the far field and the core are matched
to 1.3 % and 2 % (± 3 %) of the unmatched stress. The blended handshake estimator (β̄-weighted per-atom
virial + dynamical-mass kinetic term over Σβ̄Ω, plus the α-weighted continuum; the full virial of H with the
continuum's ∫ α P Fᵀ and the nodes' kinetic term gives −0.040 ± 0.005) keeps −0.043 = 6.3 % of the
unmatched: the issue's 2 % is NOT met in H. What sets it is how much of the H atoms' motion the constraints
leave free: with strong coupling (every atom of H on the mesh, no fine-scale motion) the same matched model
gives σ_H = +0.138 (tension; far field +0.034 ± 0.002, core +0.029 ± 0.014), with projected coupling (the
fine-scale motion free) −0.043 (compression). Reading: the free fine-scale modes of a weighted atom carry
the full thermal pressure whatever its weight (the configuration integral of a β̄-scaled Hessian has the
same ∂ ln Z/∂ε: the amplitudes grow as 1/β̄ while the virial is scaled by β̄), so the atoms' thermal
pressure in H follows their free share θ, not the β̄ the partition of unity assigns them, and the α-weighted
continuum's built-in thermal stress is added on top. Strong (θ ≈ 0) leaves H short of thermal pressure,
projected (θ near 1) gives it too much. The remedy this points to is built: ``handshake: free_share``, a
continuum thermal strain ε_th (1 − θ_q) varying across H with the atoms' free share θ (docs/physics.md §10,
tests/fem/test_thermal_share.py). Measured, it overshoots: σ_H = +0.041 ± 0.005 (6.1 % of the unmatched;
far field +0.011 ± 0.002, 1.3 %), against −0.043 for the uniform strain — the quasi-harmonic count
over-predicts the low-β̄ atoms' thermal pressure, so the issue's 2 % in H is met by neither.
The cause of that overshoot is the mass metric of θ: the configurational (virial) part of a partly
constrained atom's thermal pressure follows the stiffness; ``handshake: quasi_harmonic`` computes each
handshake atom's thermal stress from the quasi-harmonic covariance of the constrained blended model
(multiscale/coupling/thermal_qh.py, tests/fem/test_thermal_qh.py) and meets the issue's figure in the mean:
σ_H = +0.0128 ± 0.0008 over seeds 4–11, 1.91 % ± 0.12 % of the unmatched (far field 0.3 %); with the converged
crystal reference 1.60 % ± 0.12 %, and with ``anharmonic: true`` (bonds' effective temperatures, the crystal's
φ(T) from MD at prepare) 1.25 % ± 0.12 % (mean + 2 s.e. 1.49 %; far field 0.21 %).
The slow test asserts: ε_th ≥ 0.5 %, far field ≤ 2 % of the unmatched (uniform and quasi_harmonic), σ_H ≤ 10 %
for the uniform strain, and for quasi_harmonic with ``anharmonic: true`` the mean σ_H of seeds 4, 5, 6 plus
one standard error ≤ 2 % of the unmatched, on the tension side of the uniform strain's compression.
ε_th is measured in the test by periodic NVT MD of the same potential (an independent atomistic
calculation; nothing is taken from a coupled run).
"""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.fem.materials.cauchy_born import CauchyBorn
from multiscale.fem.materials.linear import Linear
from multiscale.fem.materials.thermal_strain import ThermalStrain, measure_thermal_strain
from multiscale.md.lattice import Lattice
from multiscale.md.potentials.lj import LennardJones
from multiscale.md.properties import zero_stress_lattice_constant


def _lj():
    return LennardJones(epsilon=1.0, sigma=1.0, cutoff=2.5, truncation="shift")


def test_thermal_strain_material_is_stress_free_at_the_expanded_lattice():
    """P(F) = P_CB(F/(1+ε))/(1+ε): zero at F = (1+ε) I, the CB stress of the unexpanded crystal at F = I
    with the sign reversed to first order, and W, P consistent (finite differences, 1e-6)."""
    pot = _lj()
    a0 = zero_stress_lattice_constant(pot, "hex")
    lat = Lattice("hex", a0)
    cb = CauchyBorn(pot, lat)
    eps = 0.006
    ts = ThermalStrain(cb, eps)
    P, _ = ts.evaluate(((1 + eps) * np.eye(2))[None])
    P_cb, _ = cb.evaluate(((1 + eps) * np.eye(2))[None])
    assert np.max(np.abs(P)) < 1e-10 * np.max(np.abs(P_cb))
    P1, _ = ts.evaluate(np.eye(2)[None])
    P_cb_c, _ = cb.evaluate((np.eye(2) / (1 + eps))[None])
    assert np.allclose(P1, P_cb_c / (1 + eps), rtol=1e-12, atol=0)
    assert P1[0, 0, 0] < 0 < P_cb[0, 0, 0]              # unexpanded mesh: compression; CB at (1+ε): tension
    F = np.array([[1.004, 0.002], [-0.001, 0.997]])
    _, W0 = ts.evaluate(F[None])
    Pn = np.zeros((2, 2))
    h = 1e-6
    for i in range(2):
        for j in range(2):
            dF = np.zeros((2, 2))
            dF[i, j] = h
            Pn[i, j] = (ts.evaluate((F + dF)[None])[1][0] - ts.evaluate((F - dF)[None])[1][0]) / (2 * h)
    assert np.allclose(ts.evaluate(F[None])[0][0], Pn, atol=1e-6 * np.max(np.abs(Pn)))
    assert np.isfinite(W0).all()
    lin = ThermalStrain(Linear(cb.C), eps)
    assert np.max(np.abs(lin.evaluate(((1 + eps) * np.eye(2))[None])[0])) < 1e-12


def _bench():
    from fem.thermal_bench import thermal_bench
    return thermal_bench()


@pytest.mark.slow
@pytest.mark.timeout(3600)      # minutes of CPU; the default 900 s is for hangs
def test_matched_continuum_removes_the_thermal_stress_at_the_seam():
    """T = 0.1: ε_th measured by periodic NVT MD (≥ 0.5 %; measured 0.00879 ± 0.00004); mean stress of the
    continuum between the handshake and the fixed ring with the matched continuum ≤ 2 % of the unmatched
    one (measured 1.3 %), the blended handshake stress ≤ 10 % (measured 6.3 %: module docstring); with
    ``handshake: quasi_harmonic`` over seeds 4, 5, 6 the far field ≤ 2 % each and the mean σ_H ≤ 2 % of the
    unmatched within two standard errors, ≤ 2.5 % in any case (measured +0.0130 ± 0.0020: 1.9 % ± 0.3 %)."""
    T = 0.1
    pot = _lj()
    a0 = zero_stress_lattice_constant(pot, "hex")
    m = measure_thermal_strain(pot, "hex", a0, 1.0, T, n_avg=20000)
    assert m.strain >= 0.005, m
    bench = _bench()
    unmatched = bench.run(T, m.strain, False, 2000, 6000)
    matched = bench.run(T, m.strain, True, 2000, 6000)
    assert unmatched["sigma_far"] > 0.5 and unmatched["sigma_h"] > 0.3, unmatched
    assert abs(matched["T_core"] - 1.0) < 0.03 and abs(unmatched["T_core"] - 1.0) < 0.03
    far = abs(matched["sigma_far"]) / unmatched["sigma_far"]
    assert far <= 0.02, (far, matched, unmatched, m)
    ratio = abs(matched["sigma_h"]) / unmatched["sigma_h"]
    assert ratio <= 0.10, (ratio, matched, unmatched, m)
    # quasi_harmonic (docs/physics.md §10): the 2 % in H, mean of three seeds with its standard error
    qh = [bench.run(T, m.strain, True, 2000, 6000, handshake="quasi_harmonic+anharmonic", seed=sd)
          for sd in (4, 5, 6)]
    for r in qh:
        assert abs(r["sigma_far"]) / unmatched["sigma_far"] <= 0.02, (r, unmatched)
    sh = np.array([r["sigma_h"] for r in qh])
    mean, se = float(sh.mean()), float(sh.std(ddof=1) / np.sqrt(len(sh)))
    ratio_qh = abs(mean) / unmatched["sigma_h"]
    # with `anharmonic: true` (1.25 % ± 0.12 % over seeds 4–11; seeds 4–6: 1.30 % ± 0.30 %): mean + 1 s.e.
    # ≤ 2 % (before: within 2 s.e. of 2 % and ≤ 2.5 % hard)
    assert ratio_qh + se / unmatched["sigma_h"] <= 0.02, (ratio_qh, se, qh, unmatched)
    # the uniform strain's compression removed (measured −0.043 → +0.013)
    assert matched["sigma_h"] + 3 * matched["sigma_h_err"] < 0, matched
    assert mean > matched["sigma_h"] + 0.03, (sh, matched)
