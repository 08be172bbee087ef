"""The continuum's internal forces split over the MPI ranks of a replicated-data run: `SplitContinuum`.

In a coupled run on P ranks (`parallel.replicated`, `run.distributed`) every rank holds the whole
`fem.continuum.ContinuumRegion` (mesh, U, V). `ContinuumRegion.compute` is NODE-centred: the kernels
``fem_forces.node_forces`` (general nodes: Σ over the node's incident elements in a fixed order, of the
element-stiffness rows α_e Ke U_e or of precomputed element rows) and ``fem_forces.stencil_forces``
(stencil nodes of structured regions) compute each listed node's force from U alone, in chunks of 256
listed nodes whose energies ½ U_I·f_I are summed per chunk (``en_chunk``). The element rows they read
(``linear_qp`` for the elements of non-uniform α, or ``gradients`` + material + ``stress_forces`` for a
nonlinear material) are per element, also from U alone.

So the split divides the NODES, and it is bitwise the serial evaluation for any P:

* every node list (the general nodes, each stencil part) is cut into P blocks of whole chunks of 256
  (chunk blocks ``[c_r, c_{r+1})``, ``c_r = ⌊r·n_chunks/P⌋``): rank r runs the serial kernel on its block,
  which starts at a multiple of 256, so its chunks ARE the serial chunks c_r…c_{r+1}−1 and every node's
  force is the serial one bit for bit (the per-node sum order is fixed by the incidence list);
* the element rows: rank r evaluates the elements of the block's element list (``qp_elems``, or
  ``act_elems`` for a nonlinear material) that are incident to its nodes, plus its own block
  ``[⌊r·m/P⌋, ⌊(r+1)·m/P⌋)`` of that list (whose per-element energies it contributes); elements on the
  boundary between two ranks' nodes are evaluated on both (counted in ``stats["elements"]``);
* ONE ``Allgatherv`` of a packed buffer per evaluation: each rank's node forces (m_r·d doubles), its
  chunk energies and its block of per-element energies; every rank scatters them into the full arrays
  (precomputed index arrays). The energy is then formed exactly as the serial ``compute`` forms it:
  Σ_blocks [np.sum(per-element energies) + np.sum(chunk energies of the general nodes)] + Σ_parts
  np.sum(chunk energies), over the full (gathered) arrays, in the serial order: **bitwise** the serial E.

So the nodal forces are assembled by gathering whole per-node sums (each node's force is computed by one
rank in the serial order), not by adding per-rank partial sums: no reduction, nothing depends on P. Cost
per evaluation: the node/element kernels over ≈ 1/P of the nodes (+ the boundary elements on both
ranks), one Allgatherv of N·d + n_chunks + m doubles (N nodes, m elements with per-element energies),
and the scatter of the received buffer (two fancy-index copies of N·d doubles).

Not split (left as the serial code does it): the fused continuum-alone step (`verlet_step`: a continuum
without atoms is not a coupled run). ``last_energy_densities`` (the material's W per quadrature point,
read by the force-blended coupling) would only be current on each rank's elements: `supports` refuses
such methods (the continuum stays replicated there). Collective: every rank must call ``compute`` at the
same points, like `parallel.split_forces.SplitPairForces`.
"""

from __future__ import annotations

import time

import numpy as np

CHUNK = 256      # the node kernels' energy chunk (fem_forces.node_forces / stencil_forces)


def _blocks(m: int, P: int) -> np.ndarray:
    return (np.arange(P + 1, dtype=np.int64) * m) // P


def _incident(bd, nodes: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """The elements (sorted, unique, int64) of element block ``bd`` incident to ``nodes``."""
    ptr, ent, nen = bd.ptr.astype(np.int64), bd.ent, bd.conn.shape[1]
    if not nodes.size:
        return np.zeros(0, np.int64)
    start, cnt = ptr[nodes], ptr[nodes + 1] - ptr[nodes]
    tot = int(cnt.sum())
    if not tot:
        return np.zeros(0, np.int64)
    first = np.cumsum(cnt) - cnt
    pos = np.repeat(start - first, cnt) + np.arange(tot, dtype=np.int64)
    return np.unique(ent[pos].astype(np.int64) // nen)


class SplitContinuum:
    """`fem.continuum.ContinuumRegion.compute` split over the ranks of ``comm`` by nodes (module
    docstring). `install` replaces the region's ``compute`` (same effect: fills ``forces`` (N, d) with
    −∂E/∂U and returns E [energy]), bitwise the serial evaluation on every rank.

    cont : the ContinuumRegion (every rank's copy of the same mesh and U); comm : `parallel.comm.MPIComm`,
    `SerialComm` or `parallel.replicated.ReplicatedComm` (rank, size, and comm/MPI for P > 1).

    ``stats``: seconds in the kernels (``t_force``), in the barrier before the gather (``t_wait``, only
    with ``measure_wait``), in the Allgatherv + scatter (``t_gather``), in the planning (``t_plan``),
    bytes received, evaluations, this rank's nodes and evaluated element-list entries (``nodes``,
    ``elements``) and the serial counts (``nodes_serial``, ``elements_serial``)."""

    @staticmethod
    def supports(cont, method=None) -> bool:  # noqa: ANN001
        """True when ``cont`` is a `ContinuumRegion` with the serial node-centred ``compute`` and the
        coupling ``method`` reads nothing of the continuum but its forces and energy."""
        from ..coupling.methods.force_blend import ForceBlendCoupling
        from ..fem.continuum import ContinuumRegion
        if not isinstance(cont, ContinuumRegion) or type(cont).compute is not ContinuumRegion.compute:
            return False
        if getattr(cont, "surface", None) is not None:   # continuum.surface_stress: not split (serial term)
            return False
        return not isinstance(method, ForceBlendCoupling)

    def __init__(self, cont, comm) -> None:  # noqa: ANN001
        self.cont, self.comm = cont, comm
        self._key = None
        self._pending: float | None = None        # E of a prefetched evaluation (`prefetch`)
        self._U_pref = np.empty_like(cont.U)
        self.stats = {"t_force": 0.0, "t_gather": 0.0, "t_wait": 0.0, "t_plan": 0.0, "bytes": 0,
                      "evaluations": 0, "nodes": 0, "elements": 0, "nodes_serial": 0, "elements_serial": 0}
        #: benchmarks: a barrier before the gather, its time in ``stats["t_wait"]``
        self.measure_wait = False

    def install(self) -> SplitContinuum:
        self.cont.compute = self.compute
        self.cont.split = self
        return self

    # ------------------------------------------------------------------ plan
    def _plan(self) -> None:
        """The rank blocks of every node list and element list, the send layout and the unpacking
        indices (once per blend: ``set_blend`` makes new α arrays and node lists)."""
        t0 = time.perf_counter()
        c, P, r = self.cont, self.comm.size, self.comm.rank
        d = c.U.shape[1]
        gen = c._general                                        # builds the stencils of this blend
        parts = list(enumerate(c._stencil_parts[::-1])) if c._stencil is not None else []
        # node lists: (name, nodes (int32), chunk bounds (P+1), position bounds (P+1))
        lists = [("gen", gen)] + [(f"part{rel}", p[0]) for rel, p in parts]
        self._lists = []
        for _, nodes in lists:
            M = int(nodes.size)
            cb = _blocks((M + CHUNK - 1) // CHUNK, P)
            pb = np.minimum(cb * CHUNK, M)
            self._lists.append((nodes, cb, pb))
        g_cb, g_pb = self._lists[0][1], self._lists[0][2]
        self._gen_r = np.ascontiguousarray(gen[g_pb[r]: g_pb[r + 1]])
        self._parts_r = []
        for (rel, (nodes, types, nbr)), (_, _cb, pb) in zip(parts, self._lists[1:], strict=True):
            lo, hi = int(pb[r]), int(pb[r + 1])
            self._parts_r.append((rel, np.ascontiguousarray(nodes[lo:hi]), np.ascontiguousarray(types[lo:hi]),
                                  nbr if rel else np.ascontiguousarray(nbr[lo:hi])))
        # element lists per block: the elements whose rows / energies the serial compute evaluates
        linear = c.material.is_linear
        self._elems_r, self._eb = [], []
        n_el = n_el_serial = 0
        for bd in c._blocks:
            el = (bd.qp_elems if linear else bd.act_elems).astype(np.int64)
            eb = _blocks(el.size, P)
            if el.size:
                inlist = np.zeros(bd.ne, bool)
                inlist[el] = True
                inc = _incident(bd, self._gen_r.astype(np.int64))
                mine = np.union1d(inc[inlist[inc]], el[eb[r]: eb[r + 1]]).astype(np.int64)
            else:
                mine = np.zeros(0, np.int64)
            self._elems_r.append((el, np.ascontiguousarray(mine)))
            self._eb.append(eb)
            n_el += mine.size
            n_el_serial += el.size
        # send layout of rank s: [forces of its gen nodes, of its part nodes (rows of d) | chunk energies
        # of gen (once per element block), of each part | its block of each element list's energies]
        nb = len(c._blocks)

        def sizes(s: int) -> tuple[int, int, int]:
            nf = sum(int(pb[s + 1] - pb[s]) for _, _, pb in self._lists) * d
            ne = nb * int(g_cb[s + 1] - g_cb[s]) + sum(int(cb[s + 1] - cb[s]) for _, cb, _ in self._lists[1:])
            nw = sum(int(eb[s + 1] - eb[s]) for eb in self._eb)
            return nf, ne, nw
        self._sizes = [sizes(s) for s in range(P)]
        counts = np.array([sum(z) for z in self._sizes], np.int64)
        self._counts, self._displs = counts, np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._counts_l, self._displs_l = self._counts.tolist(), self._displs.tolist()
        self._send = np.empty(int(counts[r]))
        self._recv = np.empty(int(counts.sum()))
        # unpacking: the node forces, the chunk energies of every list, the element energies
        f_node, f_pos, e_pos, w_pos = [], [], [[] for _ in range(nb + len(parts))], [[] for _ in range(nb)]
        for s in range(P):
            o = int(self._displs[s])
            for nodes, _, pb in self._lists:
                m = int(pb[s + 1] - pb[s])
                f_node.append(nodes[pb[s]: pb[s + 1]].astype(np.int64))
                f_pos.append(o + np.arange(m * d, dtype=np.int64))
                o += m * d
            k = int(g_cb[s + 1] - g_cb[s])
            for b in range(nb):
                e_pos[b].append(o + np.arange(k, dtype=np.int64))
                o += k
            for j, (_, cb, _) in enumerate(self._lists[1:]):
                k = int(cb[s + 1] - cb[s])
                e_pos[nb + j].append(o + np.arange(k, dtype=np.int64))
                o += k
            for b, eb in enumerate(self._eb):
                k = int(eb[s + 1] - eb[s])
                w_pos[b].append(o + np.arange(k, dtype=np.int64))
                o += k
        nodes_all = np.concatenate(f_node) if f_node else np.zeros(0, np.int64)
        f_flat = (nodes_all[:, None] * d + np.arange(d)).ravel()
        if f_flat.size != c.forces.size or np.unique(f_flat).size != f_flat.size:
            raise RuntimeError("the continuum's node lists do not partition its nodes")
        # forces (flat) = recv[_f_src]: the node lists partition the nodes, so one take unpacks them
        self._f_src = np.empty(f_flat.size, np.int64)
        self._f_src[f_flat] = np.concatenate(f_pos) if f_pos else np.zeros(0, np.int64)
        self._e_pos = [np.concatenate(p) for p in e_pos]
        self._w_pos = [np.concatenate(p) for p in w_pos]
        self._en_local = np.zeros(max([int(cb[r + 1] - cb[r]) for _, cb, _ in self._lists] + [1]))
        self._key = self._plan_key()
        st = self.stats
        st["nodes"] = int(self._gen_r.size + sum(p[1].size for p in self._parts_r))
        st["nodes_serial"] = int(sum(n.size for n, _, _ in self._lists))
        st["elements"], st["elements_serial"] = int(n_el), int(n_el_serial)
        st["t_plan"] += time.perf_counter() - t0

    def _plan_key(self) -> tuple:
        c = self.cont
        return (id(c.alpha_qp), id(getattr(c, "_st", None)), c._stencil_built)

    # ------------------------------------------------------------------ evaluation
    def compute(self) -> float:
        """`ContinuumRegion.compute` on this rank's nodes, then one Allgatherv (collective); returns E.
        After a `prefetch` (the atoms' split carried this evaluation in its own gather) at the same U,
        its result is returned without communication."""
        c = self.cont
        if self._pending is not None:
            E, self._pending = self._pending, None
            # the same verdict on every rank: U is replicated
            if self._key == self._plan_key() and c._stencil_built and np.array_equal(self._U_pref, c.U):
                return E
        self._local()
        t1 = time.perf_counter()
        if self.measure_wait and self.comm.size > 1:
            self.comm.comm.Barrier()
            tw = time.perf_counter()
            self.stats["t_wait"] += tw - t1
            t1 = tw
        if self.comm.size > 1:
            MPI = self.comm.MPI
            self.comm.comm.Allgatherv(self._send, [self._recv, self._counts_l, self._displs_l, MPI.DOUBLE])
        else:
            self._recv[:] = self._send
        E = self._finish()
        self.stats["t_gather"] += time.perf_counter() - t1
        self.stats["bytes"] += int((self._counts.sum() - self._counts[self.comm.rank]) * 8)
        self.stats["evaluations"] += 1
        return E

    def prefetch(self) -> np.ndarray:
        """This rank's part of the next evaluation at the current U, packed (its send buffer): for a
        partner split (`parallel.split_forces.SplitPairForces.partner`) that carries it in its own
        Allgatherv, puts every rank's buffer at ``recv_buffer()[displs[s]:…]`` and calls `finish_prefetch`;
        the next `compute` at the same U returns that result (one collective per step instead of two)."""
        self._local()
        np.copyto(self._U_pref, self.cont.U)
        return self._send

    def recv_buffer(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(receive buffer, counts (P,), displacements (P,)) of the packed evaluation, in doubles."""
        return self._recv, self._counts, self._displs

    def finish_prefetch(self) -> None:
        """Unpack the received buffer (forces, E) of a `prefetch`; the next `compute` returns E."""
        t0 = time.perf_counter()
        self._pending = self._finish()
        self.stats["t_gather"] += time.perf_counter() - t0
        self.stats["bytes"] += int((self._counts.sum() - self._counts[self.comm.rank]) * 8)
        self.stats["evaluations"] += 1

    def _local(self) -> None:
        """The kernels on this rank's nodes and elements; packs the send buffer."""
        c = self.cont
        if self._key is None or self._key != self._plan_key() or not c._stencil_built:
            self._plan()
        t0 = time.perf_counter()
        k, nt, U, d = c._k, c.n_threads, c.U, c.U.shape[1]
        send, en = self._send, self._en_local
        nf, ne_, nw = self._sizes[self.comm.rank]
        gen = self._gen_r
        o_e = nf
        o_w = nf + ne_
        for b, (bd, we) in enumerate(zip(c._blocks, c._we, strict=True)):
            nen = bd.conn.shape[1]
            rows = c._fe[bd.row_offset:bd.row_offset + bd.ne * nen]
            fe = rows.reshape(bd.ne, nen, d)
            q0, q1 = bd.qp_offset, bd.qp_offset + bd.ne * bd.nqe
            wq = c._wq[q0:q1]
            el, mine = self._elems_r[b]
            if c.material.is_linear:
                if mine.size:
                    k.linear_qp(U, bd.conn, mine, bd.geom, bd.dN, wq, c.material.C, fe, we, nt)
            elif mine.size:
                F, Pk, W = c._F[q0:q1], c._P[q0:q1], c._Wq[q0:q1]
                k.gradients(U, bd.conn, mine, bd.geom, bd.dN, F, nt)
                qs = (mine[:, None] * bd.nqe + np.arange(bd.nqe)).ravel()
                Pk[qs], W[qs] = c.evaluate_material(F[qs], qs + q0)
                k.stress_forces(Pk, W, wq, bd.conn, mine, bd.geom, bd.dN, fe, we, nt)
            Ke = bd.Ke if bd.Ke is not None else c._no_ke
            k.node_forces(U, bd.conn32, bd.ptr, bd.ent, bd.mode, bd.geom32, Ke, bd.alpha_e, rows, c.forces,
                          en, gen, int(b > 0), nt)
            m = (gen.size + CHUNK - 1) // CHUNK
            send[o_e:o_e + m] = en[:m]
            o_e += m
            eb = self._eb[b]
            lo, hi = int(eb[self.comm.rank]), int(eb[self.comm.rank + 1])
            send[o_w:o_w + hi - lo] = we[el[lo:hi]]
            o_w += hi - lo
        if self._parts_r:
            S = c._stencil_T
            for rel, nodes, types, nbr in self._parts_r:
                if nodes.size:
                    k.stencil_forces(U, nodes, types, nbr, S, c.forces, en, rel, nt)
                m = (nodes.size + CHUNK - 1) // CHUNK
                send[o_e:o_e + m] = en[:m]
                o_e += m
        # this rank's node forces, in the layout order: gen nodes, then each part's
        o = 0
        for nodes in [gen] + [p[1] for p in self._parts_r]:
            m = nodes.size * d
            np.take(c.forces, nodes, axis=0, out=send[o:o + m].reshape(-1, d))
            o += m
        self.stats["t_force"] += time.perf_counter() - t0

    def _finish(self) -> float:
        """Every rank's node forces from the received buffer into ``forces``; E summed as the serial
        ``compute`` sums it."""
        c, recv = self.cont, self._recv
        np.take(recv, self._f_src, out=c.forces.reshape(-1))
        E = 0.0
        nb = len(c._blocks)
        for b, (bd, we) in enumerate(zip(c._blocks, c._we, strict=True)):
            el = self._elems_r[b][0]
            if el.size:
                we[el] = recv[self._w_pos[b]]
            if bd.qp_elems.size or not c.material.is_linear:
                E += float(np.sum(we))
            if bd.ke_elems.size:
                E += float(np.sum(recv[self._e_pos[b]]))
        for j in range(len(self._parts_r)):                     # parts in the serial order
            if self._lists[1 + j][0].size:
                E += float(np.sum(recv[self._e_pos[nb + j]]))
        return E

    def load_balance(self) -> dict:
        """Collective: nodes and evaluated elements per rank (elements include those on both ranks)."""
        mine = (self.stats["nodes"], self.stats["elements"])
        parts = self.comm.allgather(mine) if self.comm.size > 1 else [mine]
        return {"nodes": [p[0] for p in parts], "elements": [p[1] for p in parts],
                "nodes_serial": self.stats["nodes_serial"], "elements_serial": self.stats["elements_serial"],
                "node_lists": len(self._lists) if self._key is not None else 0}


__all__ = ["SplitContinuum"]
