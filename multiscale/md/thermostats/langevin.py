"""Force-style Langevin thermostat (as LAMMPS ``fix langevin``, Gaussian noise), reproducible from a seed.

Each step every thermostatted atom gets the extra force ``f = -(m/damp) v + sqrt(2 m k_B T / (damp dt)) ξ``
with ξ ~ N(0, 1) per component. ξ of atom a at step s is `multiscale.parallel.streams.keyed_normal` of
(seed, s, gid_a) (stream 1, the stream of `streams.langevin_forces`): a pure function of the atom's global
id and the step, so the trajectory does not depend on the order in which atoms are stored nor on how they are
split over ranks (issues 14 and 16). The global ids are ``ids`` (the model's ``site_ids``, set by the
builder); without them the atom's index in the region is its id. Different steps use different mixed keys,
so successive steps' noise is independent (the old Philox ``counter=s`` in the lowest word replayed step s's
stream shifted by one block and heated 2D LJ to 1.42 T; tests/md/test_dynamics.py checks T and the
step-to-step correlation). The state to checkpoint is only the step counter (``get_state`` / ``set_state``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from ...registry import THERMOSTATS, PluginParams


@THERMOSTATS.register("langevin")
class Langevin:
    """Parameters: temperature [temperature], damp [time] (relaxation time m/γ), seed, k_B [energy/temp].

    ``mask`` (n,) bool restricts it to some atoms (None = all atoms with mass > 0). ``ids`` (n,) int: the
    atoms' global ids keying the noise (None = the atom index 0..n-1).
    """

    class Params(PluginParams):
        type: Literal["langevin"] = "langevin"
        temperature: float = Field(ge=0, description="target temperature [temperature]")
        damp: float = Field(gt=0, description="relaxation time m/γ [time]")
        seed: int | None = Field(None, ge=0, description="random seed; default: derived from the master "
                                 "seed integrator.seed (multiscale/seeds.py)")
        region: dict[str, Any] | None = Field(None, description="optional shape section: only atoms whose "
                                              "reference position is inside are thermostatted")

    def __init__(self, temperature: float, damp: float, boltz: float, seed: int = 0,
                 mask: np.ndarray | None = None, region=None, ids: np.ndarray | None = None) -> None:  # noqa: ANN001
        self.temperature = float(temperature)
        self.damp = float(damp)
        self.boltz = float(boltz)
        self.seed = int(seed)
        self.mask = mask
        self.region = region
        self.ids = None if ids is None else np.asarray(ids, dtype=np.int64)
        self.step = 0
        self.dt: float | None = None  #: time step of the `forces` hook (set by the builder/integrator)
        self._t_prev: float | None = None

    @classmethod
    def from_params(cls, params, units, deck_dir=None, *, master_seed: int = 0):  # noqa: ANN001, ANN206
        """From the deck section; the noise seed is ``params.seed`` or, when absent, the thermostat stream
        of ``master_seed`` (``integrator.seed``)."""
        from ...seeds import stream_seed
        region = None
        if params.region is not None:
            from ...geometry import make_shape
            region = make_shape(params.region)
        return cls(params.temperature, params.damp, units.boltz,
                   stream_seed(master_seed, "thermostat", params.seed), region=region)

    def _noise(self, ids: np.ndarray, d: int) -> np.ndarray:
        """(len(ids), d) standard normals of the current step, keyed by global id."""
        from ...parallel.streams import keyed_normal
        return keyed_normal(self.seed, self.step, ids, d, stream=1)

    def add_forces(self, v: np.ndarray, mass: np.ndarray, forces: np.ndarray, dt: float,
                   mask: np.ndarray | None = None, ids: np.ndarray | None = None) -> np.ndarray:
        """Add the Langevin force to ``forces`` (n, d) in place for velocities v (n, d), internal masses
        (n,), step dt [time]; advances the step counter by one. ``ids`` (n,) global ids of these atoms
        (default ``self.ids``, else 0..n-1): a distributed run passes its owned atoms' ids. Returns the
        thermostat force (n, d)."""
        mask = self.mask if mask is None else mask
        n, d = v.shape
        if ids is None:
            ids = self.ids if self.ids is not None else np.arange(n)
        if len(ids) != n:
            raise ValueError(f"{len(ids)} global ids for {n} atoms")
        xi = self._noise(ids, d)
        self.step += 1
        m = np.asarray(mass, float)
        on = m > 0 if mask is None else (np.asarray(mask, bool) & (m > 0))
        gamma = np.where(on, m / self.damp, 0.0)
        sig = np.sqrt(2.0 * gamma * self.boltz * self.temperature / dt)
        f = -gamma[:, None] * v + sig[:, None] * xi
        forces += f
        return f

    def forces(self, system, t: float, f_atoms: np.ndarray, f_nodes: np.ndarray) -> None:  # noqa: ANN001
        """Force hook for `multiscale.integrate.verlet.VelocityVerlet`: atoms of a CoupledSystem, with the
        coupled masses ``system.atom_mass``.

        Set ``self.dt`` to the integrator's step. If it is not set, dt is taken from the difference of
        successive hook times t, and the very first call (no previous time) adds no force.
        """
        atoms = system.atoms
        t_prev, self._t_prev = self._t_prev, float(t)
        if atoms is None:
            return
        if self.dt is None:
            if t_prev is None or not t > t_prev:
                return
            self.dt = float(t) - t_prev
        mass = getattr(system, "atom_mass", atoms.mass)
        mask = self.mask
        if mask is None and self.region is not None:
            mask = self.mask = self.region.contains(atoms.X)
        self.add_forces(atoms.v, mass, f_atoms, self.dt, mask)

    def get_state(self) -> dict:
        return {"step": np.array(self.step, dtype=np.int64)}

    def set_state(self, state: dict) -> None:
        self.step = int(state["step"])
