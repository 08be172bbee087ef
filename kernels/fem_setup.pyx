# cython: language_level=3
"""Set-up kernels of the finite-element region (multiscale.fem.stencil): the node stencils' blocks and
neighbour tables, in the order and with the arithmetic of the NumPy code they replace (the same bits).

``stencil_blocks``: S[t, s] += α_e K_e[a, b] (d×d blocks) for the incidences of every type's
representative, in (type, incidence, b) order: what ``np.add.at(S, (t, s), α_e[:, None, None] *
Kb[g, a, :, b, :])`` does (one rounded product per entry, then added in index order). Compiled with
``-ffp-contract=off`` (no fused multiply-adds: the same roundings as NumPy).

``stencil_neighbours``: the neighbour table of the candidate nodes (node J of each incidence's local node
b written to its type's slot, the later write winning as in NumPy's fancy assignment), and whether each
node's topology matches its type's representative.

Set-up only (once per blend), single-threaded.
"""

from libc.stdint cimport int8_t, int64_t

cimport cython


@cython.boundscheck(False)
@cython.wraparound(False)
def stencil_blocks(double[:, :, :, ::1] S, const int64_t[::1] tk, const int64_t[::1] ek,
                   const int64_t[::1] ak, const int64_t[::1] slot, const int8_t[::1] mode,
                   const int64_t[::1] geom, const double[::1] alpha_e, const double[:, :, ::1] Ke):
    """S (nt, nslots, d, d) += the blocks of the mode-1 incidences q (tk (nq,) type, ek (nq,) element,
    ak (nq,) local node; slot (nq·nen,) the slot of local node b of incidence q at q·nen + b), each
    α_e Ke[geom[e], a·d + i, b·d + j], accumulated in the order q, b. mode (ne,) int8, geom (ne,),
    alpha_e (ne,), Ke (ng, nen·d, nen·d)."""
    cdef Py_ssize_t nq = tk.shape[0], q, t, e, g, a, b, s, i, j
    cdef int d = <int>S.shape[2]
    cdef int nen = <int>(Ke.shape[1] // d) if d > 0 else 0
    cdef double al
    if (ek.shape[0] != nq or ak.shape[0] != nq or slot.shape[0] != nq * nen or S.shape[3] != d
            or Ke.shape[2] != Ke.shape[1] or nen * d != Ke.shape[1] or geom.shape[0] != mode.shape[0]
            or alpha_e.shape[0] != mode.shape[0]):
        raise ValueError("stencil_blocks: shape mismatch")
    with nogil:
        for q in range(nq):
            e = ek[q]
            if mode[e] != 1:
                continue
            t = tk[q]
            a = ak[q]
            g = geom[e]
            al = alpha_e[e]
            for b in range(nen):
                s = slot[q * nen + b]
                for i in range(d):
                    for j in range(d):
                        S[t, s, i, j] = S[t, s, i, j] + al * Ke[g, a * d + i, b * d + j]


@cython.boundscheck(False)
@cython.wraparound(False)
def stencil_neighbours(int64_t[:, ::1] nbr, unsigned char[::1] keep, const int64_t[::1] cc,
                       const int64_t[::1] kc, const int64_t[::1] ec, const int64_t[::1] tc,
                       const int64_t[:, :, ::1] smap, const int64_t[:, ::1] conn):
    """For b = 0..nen−1, then every incidence r (cc (m,) candidate node, kc (m,) incidence index within
    the node, ec (m,) element, tc (m,) the node's type): nbr[cc, smap[tc, kc, b]] = conn[ec, b] (nbr
    (nc, nslots) filled with −1 by the caller); then keep[cc] = 0 where the slot holds another node."""
    cdef Py_ssize_t m = cc.shape[0], r, b, s
    cdef Py_ssize_t nen = conn.shape[1]
    if (kc.shape[0] != m or ec.shape[0] != m or tc.shape[0] != m or smap.shape[2] != nen
            or keep.shape[0] != nbr.shape[0]):
        raise ValueError("stencil_neighbours: shape mismatch")
    with nogil:
        for b in range(nen):
            for r in range(m):
                nbr[cc[r], smap[tc[r], kc[r], b]] = conn[ec[r], b]
        for b in range(nen):
            for r in range(m):
                if nbr[cc[r], smap[tc[r], kc[r], b]] != conn[ec[r], b]:
                    keep[cc[r]] = 0
