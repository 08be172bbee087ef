# cython: language_level=3
"""Weighted EAM kernel on half neighbour lists, LAMMPS spline arithmetic.

    E = sum_a w_a F_a(rho_a) + sum_{a<b} w_ab phi_ab(r_ab),   rho_a = sum_b rho_{el(b)}(r_ab)

Entry e: owner i, neighbour j, dx = x_j - x_i + stab[scode[e]]. Three passes:
A (slabs):  rho_i += rho_{el(j)}(r), rho_j += rho_{el(i)}(r)
B (atoms):  fp_i = w_i F'(rho_i), e_i = w_i F(rho_i) (LAMMPS's linear extrapolation beyond rhomax)
C (slabs):  c = [fp_i rho'_{el(j)} + fp_j rho'_{el(i)} + w_e phi'] / r;  f_i += c dx, f_j -= c dx;
            each atom gets w_e phi / 2
Single-element pairs evaluate rho' once (rho'_{el(i)} = rho'_{el(j)}, bitwise the same result).
Passes A and C use the slab scheme of md_pair.pxd (even slabs in parallel, then odd; each slab serial):
bitwise the same result for any thread count.

Tables (multiscale/md/potentials/eam_tables.py): frho (nel, nrho, 7), rhor (nel, nr, 7) (funcfl/setfl:
rho_{el(b)}) or (nel*nel, nr, 7) (eam/fs: row s*nel + t = the density an atom of element s gives to an
atom of element t, LAMMPS pair_eam_fs), z2r (nel, nel, nr, 7); types (n,) int32 element index per atom.
"""

from cython.parallel cimport prange
from libc.math cimport sqrt

from md_pair cimport add_virial, zero_outputs


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


cdef void _densities2(const double* X, const long* OF, const int* NB, const unsigned short* SC,
                      const long* OR, const long[::1] slab_start, const double* ST, const int* TY,
                      const double* RH, long nr, long nel, double rdr, double cutsq, double* RHO,
                      int n_threads) noexcept nogil:
    """Pass A in 2D (X (n, 2) row-major): the slab scheme of the generic pass A, each slab by the chunked
    loop of kernels/md_pair2d.h (same arithmetic and order: bitwise the same densities)."""
    cdef Py_ssize_t nslab = slab_start.shape[0] - 1, q, s
    cdef int phase
    for phase in range(2):
        for q in prange((nslab - phase + 1) // 2, num_threads=n_threads, schedule="dynamic"):
            s = phase + 2 * q
            msim_eam_rho2_slab(X, OF, NB, SC, OR, slab_start[s], slab_start[s + 1], ST, TY, RH, nr, nel, rdr,
                               cutsq, RHO)


cdef void _forces2(const double* X, const long* OF, const int* NB, const unsigned short* SC,
                   const long* OR, const long[::1] slab_start, const double* ST, const int* TY,
                   const double* RH, const double* Z2, long nr, long nel, double rdr, double cutsq,
                   const double* FP, const double* BW, bint per_atom, double* FO, double* EN,
                   int n_threads) noexcept nogil:
    """Pass C in 2D without virial (X, FO (n, 2) row-major; BW NULL = all bond weights 1): the slab
    scheme of the generic pass C, each slab by the chunked loop of kernels/md_pair2d.h (bitwise the
    same)."""
    cdef Py_ssize_t nslab = slab_start.shape[0] - 1, q, s
    cdef int phase
    for phase in range(2):
        for q in prange((nslab - phase + 1) // 2, num_threads=n_threads, schedule="dynamic"):
            s = phase + 2 * q
            msim_eam_force2_slab(X, OF, NB, SC, OR, slab_start[s], slab_start[s + 1], ST, TY, RH, Z2, nr, nel,
                                 rdr, cutsq, FP, BW, per_atom, FO, EN)


def compute(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
            const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
            const double[:, ::1] stab, const double[::1] bond_w, double[:, ::1] forces,
            double[::1] energies, double[:, ::1] virial, const int[::1] types, const double[::1] site_w,
            const double[:, :, ::1] frho, const double[:, :, ::1] rhor, const double[:, :, :, ::1] z2r,
            double rdr, double rdrho, double cutsq, double rhomax, double[::1] rho, double[::1] fp,
            bint per_atom=True, int n_threads=1, bint generic=False):
    """site_w, bond_w, virial may have length 0 (all weights 1 / no virial). rho, fp: (n,) outputs
    (densities, w_i F'(rho_i)). virial: (n, d*d) per-atom. per_atom False: each pair's energy goes to its
    owner (same total, fewer stores). 2D without virial: passes A and C run the specialised loops
    _densities2 / _forces2 unless ``generic`` (the reference, used by the tests)."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, e, j, pp, q, s
    cdef Py_ssize_t nslab = slab_start.shape[0] - 1
    cdef long nr = rhor.shape[1], nrho = frho.shape[1], m
    cdef bint has_sw = site_w.shape[0] > 0
    cdef bint has_bw = bond_w.shape[0] > 0
    cdef bint has_v = virial.shape[0] > 0
    cdef const double* ST = &stab[0, 0]    # image shift vector of entry e: ST[3 scode[e] + k]
    cdef double xi0, xi1, xi2, dx0, dx1, dx2, r2, r, p, acc, qq, fpi, F, ei, rhoip, rhojp
    cdef double z2, z2p, phi, phip
    cdef double c, f0, f1, f2, w, recip, wi, eh, rj
    cdef int ti, tj, phase
    cdef long nel = frho.shape[0]
    # rhor rows: setfl/funcfl (nel rows): the density an atom of element s gives, row s; eam/fs (nel*nel
    # rows): the density an atom of element s gives to an atom of element t, row s*nel + t. Row of the
    # pair (source s, target t): s*SS + t*SD. The 2D fast loops (md_pair2d.h) index setfl rows only: eam/fs
    # with several elements runs the generic loops.
    cdef long SS = nel if rhor.shape[0] != nel else 1
    cdef long SD = 1 if rhor.shape[0] != nel else 0
    cdef const double* RH = &rhor[0, 0, 0]        # row (s, t, m): RH + 7 * ((s * SS + t * SD) * nr + m)
    cdef const double* Z2 = &z2r[0, 0, 0, 0]      # row (a, b, m): Z2 + 7 * ((a * nel + b) * nr + m)
    cdef const double* FR = &frho[0, 0, 0]        # row (el, m): FR + 7 * (el * nrho + m)
    cdef const double* ci
    cdef const double* cj
    cdef const double* cz
    cdef const double* X = &x[0, 0]           # raw pointers into the C-contiguous arrays (measured faster
    cdef double* FO = &forces[0, 0]           # than memoryview indexing; same arithmetic)
    cdef double* EN = &energies[0]
    cdef double* RHO = &rho[0]
    cdef const double* FP = &fp[0]
    cdef const int* NB = &neigh[0]
    cdef const unsigned short* SC = &scode[0]
    cdef const int* TY = &types[0]
    cdef const double* sh
    cdef const double* xj
    cdef double* fj
    cdef bint fast2 = SD == 0 and d == 2 and n > 0 and not has_v and not generic
    if rhor.shape[0] != nel and rhor.shape[0] != nel * nel:
        raise ValueError("rhor must hold nel (setfl) or nel*nel (eam/fs) density tables")
    with nogil:
        zero_outputs(forces, energies, virial, n_threads)
        for i in prange(n, num_threads=n_threads, schedule="static"):
            rho[i] = 0.0
        # ---- A: densities (Newton's third law by slabs)
        if fast2:
            _densities2(X, &offsets[0], NB, SC, &order[0], slab_start, ST, TY, RH, nr, nel, rdr, cutsq, RHO,
                        n_threads)
        for phase in range(0 if fast2 else 2):
            for q in prange((nslab - phase + 1) // 2, num_threads=n_threads, schedule="dynamic"):
                s = phase + 2 * q
                for pp in range(slab_start[s], slab_start[s + 1]):
                    i = order[pp]
                    xi0 = x[i, 0]
                    xi1 = x[i, 1] if d > 1 else 0.0
                    xi2 = x[i, 2] if d > 2 else 0.0
                    acc = 0.0
                    p = 0.0
                    ti = types[i]
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
                    rho[i] = rho[i] + acc
        # ---- B: embedding energy and derivative
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
        # ---- C: forces (Newton's third law by slabs)
        if fast2:
            _forces2(X, &offsets[0], NB, SC, &order[0], slab_start, ST, TY, RH, Z2, nr, nel, rdr, cutsq,
                     FP, &bond_w[0] if has_bw else NULL, per_atom, FO, EN, n_threads)
        for phase in range(0 if fast2 else 2):
            for q in prange((nslab - phase + 1) // 2, num_threads=n_threads, schedule="dynamic"):
                s = phase + 2 * q
                for pp in range(slab_start[s], slab_start[s + 1]):
                    i = order[pp]
                    xi0 = x[i, 0]
                    xi1 = x[i, 1] if d > 1 else 0.0
                    xi2 = x[i, 2] if d > 2 else 0.0
                    ti = types[i]
                    fpi = fp[i]
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
                                w = bond_w[e]
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
                    energies[i] = energies[i] + ei
                    forces[i, 0] = forces[i, 0] + f0
                    if d > 1:
                        forces[i, 1] = forces[i, 1] + f1
                    if d > 2:
                        forces[i, 2] = forces[i, 2] + f2
    return 0
