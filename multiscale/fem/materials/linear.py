"""``linear``: anisotropic linear elasticity; C computed by default from the potential (Cauchy–Born)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ...registry import MATERIALS, PluginParams
from .base import LinearMaterial
from .lattice_sums import bond_vectors, born_constants


@MATERIALS.register("linear")
class Linear(LinearMaterial):
    """W = ½ ε:C:ε with the full Voigt tensor C [energy/length^d]. Default: the Born constants of the
    deck's potential at the reference lattice, so atoms and continuum share stiffness and impedance."""

    class Params(PluginParams):
        C: list[list[float]] | None = Field(
            None, description="Voigt stiffness (1x1, 3x3 or 6x6) [energy/length^d]; default: from the "
            "potential at the reference lattice (Cauchy–Born)")

    @classmethod
    def from_potential(cls, potential, lattice) -> Linear:  # noqa: ANN001
        """C = ∂²W/∂E∂E of the lattice sum of ``potential`` at ``lattice`` (see `lattice_sums`); for an
        external-engine potential, finite differences of the engine's periodic-cell stress
        (`cauchy_born_engine.cached_elastic_constants`)."""
        if getattr(potential, "external", False):
            from .cauchy_born_engine import cached_elastic_constants
            return cls(cached_elastic_constants(potential, lattice)[0])
        R = bond_vectors(lattice, potential.cutoff)
        return cls(born_constants(potential, R, lattice.volume_per_atom))

    @classmethod
    def from_params(cls, params: Params, *, dim: int, potential=None, lattice=None) -> Linear:  # noqa: ANN001
        if params.C is not None:
            mat = cls(np.array(params.C, float))
        else:
            if potential is None or lattice is None:
                raise ValueError("material 'linear' without C needs the deck's potential and lattice")
            mat = cls.from_potential(potential, lattice)
        if mat.dim != dim:
            raise ValueError(f"material C is {mat.dim}D but the mesh is {dim}D")
        return mat
