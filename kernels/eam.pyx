# cython: language_level=3
"""Weighted EAM kernel on half neighbour lists, LAMMPS spline arithmetic.

    E = sum_a w_a F_a(rho_a) + sum_{a<b} w_ab phi_ab(r_ab),   rho_a = sum_b rho_{el(b)}(r_ab)

Entry e: owner i, neighbour j, dx = x_j - x_i + stab[scode[e]]. Three passes, each a function of this
module (the only copy of the EAM loops):
A ``densities`` (slabs):  rho_i += rho_{el(j)}(r), rho_j += rho_{el(i)}(r)
B ``embedding`` (atoms):  fp_i = w_i F'(rho_i), e_i = w_i F(rho_i) (LAMMPS's linear extrapolation beyond
                          rhomax)
C ``forces`` (slabs):     c = [fp_i rho'_{el(j)} + fp_j rho'_{el(i)} + w_e phi'] / r;  f_i += c dx,
                          f_j -= c dx; each atom gets w_e phi / 2 (per_atom) or the owner all of it
``compute`` runs A, B, C in one call (serial and threaded runs); a distributed run (multiscale/parallel/
engine.py) calls the passes itself and communicates between them (reverse rho, forward fp of the ghosts).
Single-element pairs evaluate rho' once (rho'_{el(i)} = rho'_{el(j)}, bitwise the same result).
Passes A and C use the slab scheme of md_pair.pxd (even slabs in parallel, then odd; each slab serial):
bitwise the same result for any thread count. In 2D without virial they run each slab through the
chunked loops of kernels/md_pair2d.h (same arithmetic and order) unless ``generic``.

Tables (multiscale/md/potentials/eam_tables.py): frho (nel, nrho, 7), rhor (nel, nr, 7) (funcfl/setfl:
rho_{el(b)}) or (nel*nel, nr, 7) (eam/fs: row s*nel + t = the density an atom of element s gives to an
atom of element t, LAMMPS pair_eam_fs), z2r (nel, nel, nr, 7); types (n,) int32 element index per atom.
Units: metal (Å, eV).
"""

import numpy as np
from cython.parallel cimport prange
from libc.math cimport sqrt

from md_pair cimport add_virial

_EMPTY1 = np.zeros(0)
_EMPTY2 = np.zeros((0, 0))


cdef inline long _rindex(double r, double rdr, long nr, double* p) noexcept nogil:
    """LAMMPS: p = r/dr + 1, m = min(int(p), nr-1), p = min(p - m, 1); returns the 0-based row m-1."""
    cdef double q = r * rdr + 1.0
    cdef long mm = <long>q
    mm = nr - 1 if mm > nr - 1 else mm
    q = q - mm
    p[0] = 1.0 if q > 1.0 else q
    return mm - 1


cdef extern from "md_pair2d.h" nogil:
    void msim_eam_rho2_slab(const double* X, const long* OF, const int* NB, const unsigned short* SC,
                            const long* OR, long p0, long p1, const double* ST, const int* TY,
                            const double* RH, long nr, long nel, double rdr, double cutsq, double* RHO)
    void msim_eam_force2_slab(const double* X, const long* OF, const int* NB, const unsigned short* SC,
                              const long* OR, long p0, long p1, const double* ST, const int* TY,
                              const double* RH, const double* Z2, long nr, long nel, double rdr,
                              double cutsq, const double* FP, const double* BW, int per_atom, double* F,
                              double* EN)


cdef void _densities(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
                     const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
                     const double[:, ::1] stab, const int[::1] types, const double[:, :, ::1] rhor,
                     long nel, double rdr, double cutsq, double[::1] rho, int n_threads,
                     bint generic, bint zero=True) noexcept nogil:
    """Pass A: rho (n,) from scratch (n = x.shape[0] > 0), both atoms of every entry (Newton's third
    law by slabs). nel: number of elements (rhor has nel rows: setfl; nel*nel rows: eam/fs)."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, e, j, pp, q, s
    cdef Py_ssize_t nslab = slab_start.shape[0] - 1
    cdef long nr = rhor.shape[1], m
    # rhor row of the pair (source s, target t): s*SS + t*SD (setfl/funcfl: s; eam/fs: s*nel + t)
    cdef long SS = nel if rhor.shape[0] != nel else 1
    cdef long SD = 1 if rhor.shape[0] != nel else 0
    cdef const double* ST = &stab[0, 0]    # image shift vector of entry e: ST[3 scode[e] + k]
    cdef const double* RH = &rhor[0, 0, 0]        # row (s, t, m): RH + 7 * ((s * SS + t * SD) * nr + m)
    cdef const double* X = &x[0, 0]
    cdef const int* NB = &neigh[0] if neigh.shape[0] > 0 else NULL
    cdef const unsigned short* SC = &scode[0] if scode.shape[0] > 0 else NULL
    cdef const int* TY = &types[0]
    cdef double* RHO = &rho[0]
    cdef const double* sh
    cdef const double* xj
    cdef const double* ci
    cdef const double* cj
    cdef double xi0, xi1, xi2, dx0, dx1, dx2, r2, p, acc, rj
    cdef int ti, tj, phase
    # the 2D chunked loop indexes setfl rows only: eam/fs with several elements runs the generic loop
    cdef bint fast2 = SD == 0 and d == 2 and not generic
    if zero:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            rho[i] = 0.0
    for phase in range(2):
        for q in prange((nslab - phase + 1) // 2, num_threads=n_threads, schedule="dynamic"):
            s = phase + 2 * q
            if fast2:
                msim_eam_rho2_slab(X, &offsets[0], NB, SC, &order[0], slab_start[s], slab_start[s + 1], ST,
                                   TY, RH, nr, nel, rdr, cutsq, RHO)
                continue
            for pp in range(slab_start[s], slab_start[s + 1]):
                i = order[pp]
                xi0 = x[i, 0]
                xi1 = x[i, 1] if d > 1 else 0.0
                xi2 = x[i, 2] if d > 2 else 0.0
                acc = 0.0
                p = 0.0
                ti = TY[i]
                for e in range(offsets[i], offsets[i + 1]):
                    j = NB[e]
                    sh = ST + 3 * SC[e]
                    xj = X + d * j
                    dx0 = xj[0] - xi0 + sh[0]
                    dx1 = 0.0
                    dx2 = 0.0
                    if d > 1:
                        dx1 = xj[1] - xi1 + sh[1]
                    if d > 2:
                        dx2 = xj[2] - xi2 + sh[2]
                    r2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
                    if r2 < cutsq:
                        m = _rindex(sqrt(r2), rdr, nr, &p)
                        tj = TY[j]
                        cj = RH + 7 * ((tj * SS + ti * SD) * nr + m)
                        rj = ((cj[3] * p + cj[4]) * p + cj[5]) * p + cj[6]
                        acc = acc + rj
                        if tj != ti:
                            ci = RH + 7 * ((ti * SS + tj * SD) * nr + m)
                            rj = ((ci[3] * p + ci[4]) * p + ci[5]) * p + ci[6]
                        RHO[j] = RHO[j] + rj
                RHO[i] = RHO[i] + acc


cdef void _embedding(const double[::1] rho, const int[::1] types, const double[:, :, ::1] frho,
                     double rdrho, double rhomax, const double[::1] site_w, double[::1] fp,
                     double[::1] energies, Py_ssize_t n, int n_threads) noexcept nogil:
    """Pass B for atoms 0..n-1: fp = w F'(rho), energies = w F(rho); site_w of length 0 = all 1."""
    cdef Py_ssize_t j
    cdef long nrho = frho.shape[1], m
    cdef bint has_sw = site_w.shape[0] > 0
    cdef const double* FR = &frho[0, 0, 0]        # row (el, m): FR + 7 * (el * nrho + m)
    cdef const double* ci
    cdef double acc, qq, fpi, F, wi
    cdef int tj
    for j in prange(n, num_threads=n_threads, schedule="static"):
        acc = rho[j]
        tj = types[j]
        qq = acc * rdrho + 1.0
        m = <long>qq
        if m > nrho - 1:
            m = nrho - 1
        if m < 1:
            m = 1
        qq = qq - m
        if qq > 1.0:
            qq = 1.0
        m = m - 1
        ci = FR + 7 * (tj * nrho + m)
        fpi = (ci[0] * qq + ci[1]) * qq + ci[2]
        F = ((ci[3] * qq + ci[4]) * qq + ci[5]) * qq + ci[6]
        if acc > rhomax:
            F = F + fpi * (acc - rhomax)
        wi = site_w[j] if has_sw else 1.0
        fp[j] = wi * fpi
        energies[j] = wi * F


cdef void _forces(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
                  const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
                  const double[:, ::1] stab, const int[::1] types, const double[:, :, ::1] rhor,
                  const double[:, :, :, ::1] z2r, double rdr, double cutsq, const double[::1] fp,
                  const double[::1] bond_w, bint per_atom, double[:, ::1] forces, double[::1] energies,
                  double[:, ::1] virial, int n_threads, bint generic, bint zero=True) noexcept nogil:
    """Pass C: forces (n, d) and virial (n, d*d, or length 0) from scratch (zero False: added to the
    given values); energies (n,) get the pair
    energies added (they hold the embedding energies of pass B). fp (n,): w F'(rho) of every atom."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, e, j, pp, q, s, k
    cdef Py_ssize_t nslab = slab_start.shape[0] - 1
    cdef long nr = rhor.shape[1], m
    cdef long nel = z2r.shape[0]
    cdef long SS = nel if rhor.shape[0] != nel else 1
    cdef long SD = 1 if rhor.shape[0] != nel else 0
    cdef bint has_bw = bond_w.shape[0] > 0
    cdef bint has_v = virial.shape[0] > 0
    cdef const double* ST = &stab[0, 0]
    cdef const double* RH = &rhor[0, 0, 0]
    cdef const double* Z2 = &z2r[0, 0, 0, 0]      # row (a, b, m): Z2 + 7 * ((a * nel + b) * nr + m)
    cdef const double* X = &x[0, 0]           # raw pointers into the C-contiguous arrays (measured faster
    cdef double* FO = &forces[0, 0]           # than memoryview indexing; same arithmetic)
    cdef double* EN = &energies[0]
    cdef const double* FP = &fp[0]
    cdef const int* NB = &neigh[0] if neigh.shape[0] > 0 else NULL
    cdef const unsigned short* SC = &scode[0] if scode.shape[0] > 0 else NULL
    cdef const int* TY = &types[0]
    cdef const double* BW = &bond_w[0] if has_bw else NULL
    cdef const double* sh
    cdef const double* xj
    cdef const double* ci
    cdef const double* cj
    cdef const double* cz
    cdef double* fj
    cdef double xi0, xi1, xi2, dx0, dx1, dx2, r2, r, p, fpi, ei, rhoip, rhojp, z2, z2p, phi, phip
    cdef double c, f0, f1, f2, w, recip, eh
    cdef int ti, tj, phase
    cdef bint fast2 = SD == 0 and d == 2 and not has_v and not generic
    if zero:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            for k in range(d):
                forces[i, k] = 0.0
            if has_v:
                for k in range(d * d):
                    virial[i, k] = 0.0
    for phase in range(2):
        for q in prange((nslab - phase + 1) // 2, num_threads=n_threads, schedule="dynamic"):
            s = phase + 2 * q
            if fast2:
                msim_eam_force2_slab(X, &offsets[0], NB, SC, &order[0], slab_start[s], slab_start[s + 1], ST,
                                     TY, RH, Z2, nr, nel, rdr, cutsq, FP, BW, per_atom, FO, EN)
                continue
            for pp in range(slab_start[s], slab_start[s + 1]):
                i = order[pp]
                xi0 = x[i, 0]
                xi1 = x[i, 1] if d > 1 else 0.0
                xi2 = x[i, 2] if d > 2 else 0.0
                ti = TY[i]
                fpi = FP[i]
                ei = 0.0
                p = 0.0
                f0 = 0.0
                f1 = 0.0
                f2 = 0.0
                for e in range(offsets[i], offsets[i + 1]):
                    j = NB[e]
                    sh = ST + 3 * SC[e]
                    xj = X + d * j
                    dx0 = xj[0] - xi0 + sh[0]
                    dx1 = 0.0
                    dx2 = 0.0
                    if d > 1:
                        dx1 = xj[1] - xi1 + sh[1]
                    if d > 2:
                        dx2 = xj[2] - xi2 + sh[2]
                    r2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
                    if r2 < cutsq:   # well predicted: rows hold the entries within the cut-off first
                        tj = TY[j]
                        r = sqrt(r2)
                        m = _rindex(r, rdr, nr, &p)
                        ci = RH + 7 * ((ti * SS + tj * SD) * nr + m)
                        cz = Z2 + 7 * ((ti * nel + tj) * nr + m)
                        rhoip = (ci[0] * p + ci[1]) * p + ci[2]
                        if tj != ti:
                            cj = RH + 7 * ((tj * SS + ti * SD) * nr + m)
                            rhojp = (cj[0] * p + cj[1]) * p + cj[2]
                        else:
                            rhojp = rhoip
                        z2p = (cz[0] * p + cz[1]) * p + cz[2]
                        z2 = ((cz[3] * p + cz[4]) * p + cz[5]) * p + cz[6]
                        recip = 1.0 / r
                        phi = z2 * recip
                        phip = z2p * recip - phi * recip
                        if has_bw:
                            w = BW[e]
                            c = (fpi * rhojp + FP[j] * rhoip + w * phip) * recip
                            phi = w * phi
                        else:
                            c = (fpi * rhojp + FP[j] * rhoip + phip) * recip
                        if per_atom:
                            eh = 0.5 * phi
                            ei = ei + eh
                            EN[j] = EN[j] + eh
                        else:
                            ei = ei + phi
                        fj = FO + d * j
                        f0 = f0 + c * dx0
                        fj[0] = fj[0] - c * dx0
                        if d > 1:
                            f1 = f1 + c * dx1
                            fj[1] = fj[1] - c * dx1
                        if d > 2:
                            f2 = f2 + c * dx2
                            fj[2] = fj[2] - c * dx2
                        if has_v:
                            add_virial(virial, i, d, -0.5 * c, dx0, dx1, dx2)
                            add_virial(virial, j, d, -0.5 * c, dx0, dx1, dx2)
                EN[i] = EN[i] + ei
                FO[d * i] = FO[d * i] + f0
                if d > 1:
                    FO[d * i + 1] = FO[d * i + 1] + f1
                if d > 2:
                    FO[d * i + 2] = FO[d * i + 2] + f2


def densities(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
              const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
              const double[:, ::1] stab, const int[::1] types, const double[:, :, ::1] rhor, double rdr,
              double cutsq, double[::1] rho, int n_threads=1, long nel=-1, bint generic=False,
              bint zero=True):
    """Pass A: rho (n,) [density units] from scratch, both atoms of every entry (Newton's third law).
    nel: number of elements (default rhor.shape[0]: setfl/funcfl tables; give it for eam/fs tables).
    zero False: the entries' densities are added to the given rho (a second list over the same atoms:
    the distributed engine's boundary entries, multiscale/parallel/engine.py)."""
    if x.shape[0] == 0:
        return 0
    if nel < 0:
        nel = rhor.shape[0]
    if rhor.shape[0] != nel and rhor.shape[0] != nel * nel:
        raise ValueError("rhor must hold nel (setfl) or nel*nel (eam/fs) density tables")
    with nogil:
        _densities(x, offsets, neigh, scode, order, slab_start, stab, types, rhor, nel, rdr, cutsq, rho,
                   n_threads, generic, zero)
    return 0


def embedding(const double[::1] rho, const int[::1] types, const double[:, :, ::1] frho, double rdrho,
              double rhomax, double[::1] fp, double[::1] energies, Py_ssize_t n, int n_threads=1,
              const double[::1] site_w=_EMPTY1):
    """Pass B for atoms 0..n-1: fp = w F'(rho), energies = w F(rho) [eV] (LAMMPS's linear extrapolation
    beyond rhomax; site_w (n,) or length 0 = all weights 1). Entries from n on are left alone."""
    with nogil:
        _embedding(rho, types, frho, rdrho, rhomax, site_w, fp, energies, n, n_threads)
    return 0


def forces(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
           const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
           const double[:, ::1] stab, const int[::1] types, const double[:, :, ::1] rhor,
           const double[:, :, :, ::1] z2r, double rdr, double cutsq, const double[::1] fp,
           double[:, ::1] f, double[::1] energies, int n_threads=1, const double[::1] bond_w=_EMPTY1,
           bint per_atom=True, double[:, ::1] virial=_EMPTY2, bint generic=False, bint zero=True):
    """Pass C: forces f (n, d) [eV/Å] from scratch (zero False: added to the given f and virial, as
    ``densities``); energies (n,) get the pair energies added (not
    zeroed: they hold the embedding energies of pass B), phi/2 to each atom (per_atom) or all of it to
    the pair's owner. fp (n,) must hold w F'(rho) of every atom, ghosts included. bond_w (m,) or length
    0 (all 1); virial (n, d*d) per-atom output or length 0."""
    if x.shape[0] == 0:
        return 0
    with nogil:
        _forces(x, offsets, neigh, scode, order, slab_start, stab, types, rhor, z2r, rdr, cutsq, fp, bond_w,
                per_atom, f, energies, virial, n_threads, generic, zero)
    return 0


def compute(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
            const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
            const double[:, ::1] stab, const double[::1] bond_w, double[:, ::1] forces,
            double[::1] energies, double[:, ::1] virial, const int[::1] types, const double[::1] site_w,
            const double[:, :, ::1] frho, const double[:, :, ::1] rhor, const double[:, :, :, ::1] z2r,
            double rdr, double rdrho, double cutsq, double rhomax, double[::1] rho, double[::1] fp,
            bint per_atom=True, int n_threads=1, bint generic=False):
    """Passes A, B, C in one call. site_w, bond_w, virial may have length 0 (all weights 1 / no virial).
    rho, fp: (n,) outputs (densities, w_i F'(rho_i)). virial: (n, d*d) per-atom. per_atom False: each
    pair's energy goes to its owner (same total, fewer stores). 2D without virial: passes A and C run the
    chunked loops of md_pair2d.h unless ``generic`` (the reference, used by the tests)."""
    cdef Py_ssize_t n = x.shape[0]
    cdef long nel = frho.shape[0]
    if rhor.shape[0] != nel and rhor.shape[0] != nel * nel:
        raise ValueError("rhor must hold nel (setfl) or nel*nel (eam/fs) density tables")
    if n == 0:
        return 0
    with nogil:
        _densities(x, offsets, neigh, scode, order, slab_start, stab, types, rhor, nel, rdr, cutsq, rho,
                   n_threads, generic)
        _embedding(rho, types, frho, rdrho, rhomax, site_w, fp, energies, n, n_threads)
        _forces(x, offsets, neigh, scode, order, slab_start, stab, types, rhor, z2r, rdr, cutsq, fp, bond_w,
                per_atom, forces, energies, virial, n_threads, generic)
    return 0
