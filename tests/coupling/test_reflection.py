"""Wave reflection at the handshake, 1D harmonic chain m = k = a = 1 (issue 5 figures, docs/physics.md §6)."""

import pytest

from multiscale.diagnostics.reflection import reflection_1d

METHODS = [("strong", {}), ("projected", {}), ("force_blend", {}), ("ghost_corrected", {})]


@pytest.mark.parametrize("blend", ["linear", "cubic", "quintic"])
@pytest.mark.parametrize("method,params", METHODS, ids=[m for m, _ in METHODS])
def test_elements_as_small_as_the_spacing_reproduce_the_chain(blend, method, params):
    """h = a: the coupled model IS the uniform chain (integral partition of unity). Measured R = 2.8e-18 …
    2.95e-18 (round-off of the energy split) for every method and blend: asserted ≤ 3e-17 (README
    "R ≈ 3e-18", 10x headroom); energy change measured ≤ 7e-12, asserted ≤ 1e-10."""
    r = reflection_1d(16.0, h=1.0, width=16.0, blend=blend, method=method, method_params=params)
    assert r.R <= 3e-17, r
    if method != "force_blend":
        assert abs(r.energy_change_relative) < 1e-10
    assert r.max_constraint_residual < 1e-13


def test_penalty_h_equal_a_cubic():
    """Penalty: atoms and nodes are glued only by κ, R falls like κ⁻² (κ = 100: 4e-9)."""
    r = reflection_1d(16.0, h=1.0, width=16.0, blend="cubic", method="penalty",
                      method_params={"kappa": 100.0}, dt=0.1)
    assert r.R <= 1e-8, r
    assert abs(r.energy_change_relative) < 1e-9


@pytest.mark.slow
@pytest.mark.parametrize("blend", ["linear", "cubic", "quintic"])
def test_penalty_h_equal_a_stiff(blend):
    """Penalty with κ = 1000 (Δt = 0.03): R ≤ 1e-8 for every blend."""
    r = reflection_1d(16.0, h=1.0, width=16.0, blend=blend, method="penalty",
                      method_params={"kappa": 1000.0}, dt=0.03)
    assert r.R <= 1e-8, r


#: README table "Reflected energy fraction R" (h = 4a, projected, default slave_below): (width, blend) ->
#: {column: figure}. Each cell is asserted within a factor 3 either way (a drift by 10x fails).
README_TABLE = {
    (32.0, "cubic"): {"16h": 6.7e-6, "8h": 5.8e-6, "4h": 1.9e-5},
    (32.0, "quintic"): {"16h": 1.7e-5, "8h": 1.6e-6, "4h": 3.3e-5, "1.9h_damped": 0.022, "h_damped": 9.1e-6},
    (64.0, "cubic"): {"16h": 3.5e-7, "8h": 2.9e-7, "4h": 4.7e-6},
    (64.0, "quintic"): {"16h": 1.0e-7, "8h": 2.5e-8, "4h": 8.8e-7},
}
#: cells run in the default suite (~5 s each on an idle core); the others are slow tests
FAST = {(32.0, "cubic", "16h"), (32.0, "cubic", "8h"), (64.0, "cubic", "16h"), (64.0, "cubic", "8h"),
        (64.0, "quintic", "16h"), (64.0, "quintic", "8h")}
HEADROOM = 3.0
WAVELENGTH = {"16h": 64.0, "8h": 32.0, "4h": 16.0, "1.9h_damped": 7.6, "h_damped": 4.0}
CELLS = [pytest.param(w, blend, col, fig, id=f"{w:g}a-{blend}-{col}",
                      marks=() if (w, blend, col) in FAST else pytest.mark.slow)
         for (w, blend), row in README_TABLE.items() for col, fig in row.items()]


@pytest.mark.parametrize("width,blend,col,figure", CELLS)
def test_readme_reflection_table(width, blend, col, figure):
    """Every cell of the README's reflection table (damped cells: band γ0 = 1, smoothed reference)."""
    gamma0 = 1.0 if col.endswith("damped") else None
    r = reflection_1d(WAVELENGTH[col], h=4.0, width=width, blend=blend, method="projected", gamma0=gamma0)
    assert figure / HEADROOM <= r.R <= figure * HEADROOM, (r.R, figure)
    assert abs(r.energy_change_relative) < 1e-10, r


def test_strong_plateaus_above_projected():
    """Strong (per-atom) multipliers slave every handshake atom to the interpolant: R ≥ 1e-4 at λ = 8h."""
    rs = reflection_1d(32.0, h=4.0, width=32.0, blend="cubic", method="strong")
    rp = reflection_1d(32.0, h=4.0, width=32.0, blend="cubic", method="projected")
    assert rs.R > 1e-4 and rp.R < rs.R / 10


@pytest.mark.parametrize("fine_scale, gamma0, figure", [("smoothed", 1.0, 4.1e-5), ("mesh", 0.3, 2.2e-5)])
def test_damping_band_absorbs_waves_the_mesh_cannot_carry(fine_scale, gamma0, figure):
    """λ = h: without damping the wave reflects totally; with the 32a cubic band R = 4.1e-5 (smoothed, γ0 = 1:
    the README table's "λ = h, damped" cell) and 2.2e-5 (mesh, γ0 = 0.3), asserted within a factor 3, and
    modified total + dissipated energy is conserved to round-off."""
    r0 = reflection_1d(4.0, h=4.0, width=32.0, blend="cubic", method="projected")
    assert r0.R > 0.99
    r = reflection_1d(4.0, h=4.0, width=32.0, blend="cubic", method="projected", gamma0=gamma0,
                      damping_fine_scale=fine_scale)
    assert figure / HEADROOM <= r.R <= figure * HEADROOM, (r.R, figure)
    assert r.dissipated > 0.95 * r.E_incident  # K + Π vs Verlet's modified energy: O((ωΔt)²)
    assert abs(r.energy_change_relative) < 1e-9


def test_just_above_the_mesh_cutoff():
    """λ = 1.9h (ω above the mesh cut-off 2c/h): damping the velocity relative to the SMOOTHED mesh velocity
    (γ0 = 1) absorbs it: R = 0.019 ≤ 5 % (the issue's target; reference computation 0.14). Damping relative to
    the raw mesh velocity holds the wave on the evanescent mesh response: 0.16 at γ0 = 0.3, worse when
    stronger (0.24 at γ0 = 1)."""
    r = reflection_1d(7.6, h=4.0, width=32.0, blend="cubic", method="projected", gamma0=1.0)
    assert 0.019 / HEADROOM <= r.R <= 0.05, r      # README table "λ = 1.9h, damped", 32a cubic: 0.019
    assert abs(r.energy_change_relative) < 1e-9
    rm = reflection_1d(7.6, h=4.0, width=32.0, blend="cubic", method="projected", gamma0=0.3,
                       damping_fine_scale="mesh")
    assert rm.R > 3 * r.R, (rm.R, r.R)


def test_smoothed_band_passes_long_waves():
    """The smoothed reference differs from the mesh velocity by O((kh)²) for long waves: with the band on
    (γ0 = 1) R stays ≤ 1e-5 at λ = 16h and 8h (measured 1.4e-6, 9.6e-6)."""
    for lam in (64.0, 32.0):
        r = reflection_1d(lam, h=4.0, width=32.0, blend="cubic", method="projected", gamma0=1.0)
        assert r.R <= 1e-5, (lam, r.R)


@pytest.mark.parametrize("blend", ["cubic", "quintic"])
def test_light_edge_atoms_are_tied_by_default(blend):
    """Undamped 1.9h packet, 64a band: with nothing tied the quintic run blows up (R ≈ 5e6) and the cubic one
    gains 4 % energy; the default slave_below = 1e-3 keeps the modified energy to round-off (the packet
    then reflects totally, as it must: the mesh cannot carry it)."""
    r = reflection_1d(7.6, h=4.0, width=64.0, blend=blend, method="projected")
    assert abs(r.energy_change_relative) < 1e-9, r
    assert 0.99 < r.R < 1.01


@pytest.mark.slow
@pytest.mark.parametrize("width,blend,wavelength,ratio",
                         [(64.0, "cubic", 32.0, 1.195), (32.0, "quintic", 32.0, 0.567)],
                         ids=["64a-cubic-8h", "32a-quintic-8h"])
def test_slave_below_changes_long_wave_reflection_little(width, blend, wavelength, ratio):
    """The two extreme cells of the projected-coupling docstring: R(slave_below = 1e-3) / R(0) measured
    1.195 and 0.567 (the other cells at λ = 8h, 16h, 32a/64a, cubic/quintic lie between); asserted within ±10 % of those ratios."""
    kw = {"h": 4.0, "width": width, "blend": blend, "method": "projected"}
    r_tied = reflection_1d(wavelength, **kw)
    r_free = reflection_1d(wavelength, method_params={"slave_below": 0.0}, **kw)
    assert abs(r_tied.R / r_free.R / ratio - 1) < 0.1, (r_tied.R, r_free.R)
