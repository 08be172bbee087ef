"""What the results file holds of a model: its static groups and the fields of a frame.

`Fields(model, deck, statics)`: ``static()`` (layout: `output/hdf5.py`; masses in user units),
``frame() -> (atoms | None, nodes | None)`` the ``output.fields`` of the current state, ``nodal(what)``
quadrature-point strain/stress smoothed to the nodes, ``species()`` the atom type's name.
"""

from __future__ import annotations

import numpy as np

from .._lazy import lazy_module
from ..md.stress import stress_atoms
from ..output.hardy import node_fields as hardy_node_fields

sp = lazy_module("scipy.sparse")


class Fields:
    """Field extraction of one model (module docstring)."""

    def __init__(self, model, deck, statics: bool) -> None:  # noqa: ANN001
        self.model = model
        self.deck = deck
        self.statics = statics
        self._qp_to_nodes = None

    def species(self) -> str:
        """Name of the first atom type (`build.Model.type_names`: ``atoms.species`` of the deck, else the EAM
        potential's first element, else "X", ASE's and OVITO's name for an unknown element)."""
        if self.model.type_names:
            return str(self.model.type_names[0])
        cfg = self.deck.config.atoms
        if cfg is not None and getattr(cfg, "species", None):
            return str(cfg.species)
        elements = getattr(self.model.potential, "elements", None)
        return str(elements[0]) if elements else "X"

    def static(self) -> dict:
        """Static groups of the results file (layout: `output/hdf5.py`); masses in user units [mass]."""
        m, s = self.model, self.model.system
        st: dict = {}
        if m.atoms is not None:
            st["atoms"] = {"reference_positions": m.atoms.X, "ids": np.asarray(m.site_ids, np.int64),
                           "types": np.asarray(m.atom_types, np.int64),
                           "mass": np.asarray(m.type_masses, float)[m.atom_types],
                           "weight": np.asarray(s.atom_weight, float),
                           "pad": np.asarray(s.pad, np.int8),
                           "type_names": np.array(m.type_names),
                           "type_masses": np.array(m.type_masses, float),
                           "index": np.arange(m.atoms.n, dtype=np.int64)}   # vertex list of the XDMF
            box = m.atoms.box
            st["box"] = {"lo": np.asarray(box.lo, float), "hi": np.asarray(box.hi, float),
                         "periodic": np.asarray(box.periodic, np.int8)}
            if s.coupled:
                from ..diagnostics.stability import slaved_atoms
                tied = np.zeros(m.atoms.n, np.int8)
                tied[s.free[slaved_atoms(s.G, s.n_free, s.d)]] = 1
                st["atoms"]["tied_to_mesh"] = tied      # strong rows: u_a = Σ N_I U_I
                # β̄ m [mass]
                st["atoms"]["coupled_mass"] = m.units.mass_from_internal(np.asarray(s.atom_mass, float))
        # what the frames' "time" is: time [time] in dynamics, the load-stage index in quasi-statics
        st["run"] = {"kind": "quasistatic" if self.statics else "dynamics",
                     "integrator": str(getattr(self.deck.config.integrator, "type", ""))}
        if m.continuum is not None:
            mesh = m.continuum.mesh
            conn, types = {}, {}
            for i, blk in enumerate(mesh.blocks):
                name = f"block{i}_{blk.type}"
                conn[name] = np.asarray(blk.conn, np.int64)
                types[name] = blk.type
            st["mesh"] = {"nodes": mesh.nodes, "connectivity": conn, "element_types": types,
                          "alpha_qp": np.asarray(m.continuum.alpha_qp, float),
                          "lumped_mass": m.units.mass_from_internal(np.asarray(s.node_mass, float))}
            if mesh.node_sets:
                st["mesh"]["node_sets"] = {k: np.asarray(v, np.int64) for k, v in mesh.node_sets.items()}
        return st

    def frame(self) -> tuple[dict | None, dict | None]:
        """(atoms, nodes): {field: array} of the deck's ``output.fields`` for the current state (copies)."""
        m, s = self.model, self.model.system
        fields = self.deck.config.output.fields
        atoms = nodes = None
        if m.atoms is not None:
            a = m.atoms
            # position: wrapped into the periodic box; displacement: unwrapped x − X (continuous)
            table = {"position": a.wrapped_positions, "displacement": lambda: a.x - a.X,
                     "velocity": lambda: a.v,
                     "force": lambda: s.f_atoms, "energy": lambda: a.energies,
                     "weight": lambda: s.atom_weight,
                     # (n, d*d) [energy] = -(m v⊗v + W_a), LAMMPS stress/atom / nktv2p (md/stress.py)
                     "stress_atom": lambda: stress_atoms(a, mass=s.atom_mass)}
            atoms = {f: np.array(table[f]()) for f in fields if f in table}
        if m.continuum is not None:
            c = m.continuum
            table = {"position": lambda: c.nodes + c.U, "displacement": lambda: c.U, "velocity": lambda: c.V,
                     "force": lambda: s.f_nodes, "stress": lambda: self.nodal("stress"),
                     "strain": lambda: self.nodal("strain")}
            nodes = {f: np.array(table[f]()) for f in fields if f in table}
            # hardy_*: kernel averages of the atoms at the nodes (output/hardy.py)
            nodes.update(hardy_node_fields(m, fields, lambda: self.nodal("stress")))
        return atoms, nodes

    def nodal(self, what: str) -> np.ndarray:
        """Quadrature-point field smoothed to the nodes (volume-weighted shape-function average), (N, d*d).

        ``strain``: Green–Lagrange E = ½(FᵀF − I); ``stress`` [energy/length^d]: for linear materials their
        (small-strain, symmetric) stress C:ε, for nonlinear ones the Cauchy stress σ = P Fᵀ / det F.
        """
        c = self.model.continuum
        if self._qp_to_nodes is None:
            Nq = c.interpolation_matrix(c.qp_positions).tocsr()          # (nq, N)
            w = np.asarray(Nq.T @ c.qp_volumes).ravel()
            self._qp_to_nodes = (Nq.T @ sp.diags(c.qp_volumes), np.where(w > 0, w, 1.0))
        F = c.deformation_gradients()
        d = F.shape[1]
        if what == "strain":
            q = 0.5 * (np.einsum("qki,qkj->qij", F, F) - np.eye(d))
        else:
            P = c.evaluate_material(F)[0]
            if not getattr(c.material, "is_linear", False):
                P = np.einsum("qik,qjk->qij", P, F) / np.linalg.det(F)[:, None, None]
            q = P
        A, w = self._qp_to_nodes
        return np.asarray(A @ q.reshape(len(q), d * d)) / w[:, None]
