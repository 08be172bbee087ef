"""The damping band's smoothed reference velocity (multiscale.coupling.smoothing): one Jacobi sweep of
the mesh Laplacian keeps constants, kills the mesh's shortest waves, and leaves long waves to O((kh)²)."""

import sys
from pathlib import Path

import numpy as np
import pytest

from multiscale.coupling.smoothing import jacobi_smoother
from multiscale.fem.continuum import ContinuumRegion
from multiscale.fem.materials.isotropic import Isotropic

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fem"))
from helpers import mesh_for  # noqa: E402


@pytest.mark.parametrize("element", ["bar2", "tri3", "quad4", "tet4", "hex8"])
def test_laplacian_and_smoother_invariants(element):
    mesh = mesh_for(element, n=4, distort=0.2, seed=3)
    d = mesh.dim
    reg = ContinuumRegion(mesh, Isotropic(1.0, 0.25, d), density=1.0)
    L = reg.laplacian_matrix()
    assert abs(L - L.T).max() < 1e-13
    assert np.abs(L @ np.ones(L.shape[0])).max() < 1e-12           # constants in the null space
    X = mesh.nodes
    lin = X @ np.arange(1.0, d + 1)
    f = L @ lin                                                      # ∫∇N_I·∇(linear) = boundary terms only
    interior = np.all((X > 1e-9) & (X < 3 - 1e-9), axis=1)
    assert np.abs(f[interior]).max() < 1e-12
    S = jacobi_smoother(L)
    assert np.abs(S @ np.ones(S.shape[0]) - 1).max() < 1e-14       # momentum: rigid motion is not fine-scale
    ev = np.linalg.eigvals(S.toarray())
    assert ev.real.min() > -1e-12 and ev.real.max() < 1 + 1e-12


def test_uniform_chain_symbol():
    """Uniform bar2 mesh: interior rows of S are (1, 2, 1)/4 — zero at kh = π, 1 − (kh)²/4 for long waves."""
    mesh = mesh_for("bar2", n=12)
    reg = ContinuumRegion(mesh, Isotropic(1.0, 0.0, 1), density=1.0)
    S = jacobi_smoother(reg.laplacian_matrix()).toarray()
    assert np.allclose(S[5, 4:7], [0.25, 0.5, 0.25], atol=1e-15) and abs(S[5]).sum() == pytest.approx(1.0)
    alt = (-1.0) ** np.arange(13)
    assert np.abs((S @ alt)[1:-1]).max() < 1e-15
