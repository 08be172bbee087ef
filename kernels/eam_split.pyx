# cython: language_level=3
"""EAM on half neighbour lists split into its three passes, for distributed (MPI) runs.

Same arithmetic and slab scheme as kernels/eam.pyx (LAMMPS spline evaluation; passes A and C by slabs,
bitwise independent of the thread count), but each pass is a separate call so that a distributed run
can communicate between them (multiscale/parallel/engine.py):

    densities  (pass A)  rho_i += rho(r_ij), rho_j += rho(r_ij) over the list entries
    [reverse communication of ghost densities, newton on]
    embedding  (pass B)  fp_a = F'(rho_a), e_a = F(rho_a) for the first ``n`` atoms (the owned ones)
    [forward communication of fp to the ghost atoms]
    forces     (pass C)  c = [fp_i rho'_j + fp_j rho'_i + phi'] / r;  f_i += c dx, f_j -= c dx;
                         each atom gets phi / 2 of energy (added to ``energies``)

kernels/eam.pyx runs A, B, C in one call (it cannot take the ghosts' fp from outside), hence this file;
the per-pair arithmetic is copied from its generic (any-d) loops, so that a decomposed run reproduces the
serial `EAMFile.compute` to round-off (summation order only). No site or bond weights (plain MD).

Tables (multiscale/md/potentials/eam_tables.py): frho (nel, nrho, 7), rhor (nel, nr, 7),
z2r (nel, nel, nr, 7); types (n,) int32. Units: metal (Å, eV).
"""

from cython.parallel cimport prange
from libc.math cimport sqrt


cdef inline long _rindex(double r, double rdr, long nr, double* p) noexcept nogil:
    """LAMMPS: p = r/dr + 1, m = min(int(p), nr-1), p = min(p - m, 1); returns the 0-based row m-1."""
    cdef double q = r * rdr + 1.0
    cdef long mm = <long>q
    mm = nr - 1 if mm > nr - 1 else mm
    q = q - mm
    p[0] = 1.0 if q > 1.0 else q
    return mm - 1


def densities(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
              const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
              const double[:, ::1] stab, const int[::1] types, const double[:, :, ::1] rhor, double rdr,
              double cutsq, double[::1] rho, int n_threads=1):
    """Pass A: rho (n,) [density units] from scratch, both atoms of every entry (Newton's third law)."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, e, j, pp, q, s
    cdef Py_ssize_t nslab = slab_start.shape[0] - 1
    cdef long nr = rhor.shape[1], m
    cdef const double* ST = &stab[0, 0]
    cdef const double* RH = &rhor[0, 0, 0]
    cdef const double* X = &x[0, 0] if n > 0 else NULL
    cdef const int* NB = &neigh[0] if neigh.shape[0] > 0 else NULL
    cdef const unsigned short* SC = &scode[0] if scode.shape[0] > 0 else NULL
    cdef const int* TY = &types[0] if n > 0 else NULL
    cdef double* RHO = &rho[0] if n > 0 else NULL
    cdef const double* sh
    cdef const double* xj
    cdef const double* ci
    cdef const double* cj
    cdef double xi0, xi1, xi2, dx0, dx1, dx2, r2, p, acc, rj
    cdef int ti, tj, phase
    if n == 0:
        return 0
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            rho[i] = 0.0
        for phase in range(2):
            for q in prange((nslab - phase + 1) // 2, num_threads=n_threads, schedule="dynamic"):
                s = phase + 2 * q
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
                            cj = RH + 7 * (tj * nr + m)
                            rj = ((cj[3] * p + cj[4]) * p + cj[5]) * p + cj[6]
                            acc = acc + rj
                            if tj != ti:
                                ci = RH + 7 * (ti * nr + m)
                                rj = ((ci[3] * p + ci[4]) * p + ci[5]) * p + ci[6]
                            RHO[j] = RHO[j] + rj
                    RHO[i] = RHO[i] + acc
    return 0


def embedding(const double[::1] rho, const int[::1] types, const double[:, :, ::1] frho, double rdrho,
              double rhomax, double[::1] fp, double[::1] energies, Py_ssize_t n, int n_threads=1):
    """Pass B for atoms 0..n-1: fp = F'(rho), energies = F(rho) [eV] (LAMMPS's linear extrapolation
    beyond rhomax). Entries from n on are left alone."""
    cdef Py_ssize_t j
    cdef long nrho = frho.shape[1], m
    cdef const double* FR = &frho[0, 0, 0]
    cdef const double* ci
    cdef double acc, qq, fpi, F
    cdef int tj
    with nogil:
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
            fp[j] = fpi
            energies[j] = F
    return 0


def forces(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
           const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
           const double[:, ::1] stab, const int[::1] types, const double[:, :, ::1] rhor,
           const double[:, :, :, ::1] z2r, double rdr, double cutsq, const double[::1] fp,
           double[:, ::1] f, double[::1] energies, int n_threads=1):
    """Pass C: forces f (n, d) [eV/Å] from scratch; energies (n,) get + phi/2 per pair (not zeroed:
    holds the embedding energies of pass B). fp (n,) must hold F'(rho) of every atom, ghosts included."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, e, j, pp, q, s, k
    cdef Py_ssize_t nslab = slab_start.shape[0] - 1
    cdef long nr = rhor.shape[1], m
    cdef long nel = rhor.shape[0]
    cdef const double* ST = &stab[0, 0]
    cdef const double* RH = &rhor[0, 0, 0]
    cdef const double* Z2 = &z2r[0, 0, 0, 0]
    cdef const double* X = &x[0, 0] if n > 0 else NULL
    cdef const int* NB = &neigh[0] if neigh.shape[0] > 0 else NULL
    cdef const unsigned short* SC = &scode[0] if scode.shape[0] > 0 else NULL
    cdef const int* TY = &types[0] if n > 0 else NULL
    cdef const double* FP = &fp[0] if n > 0 else NULL
    cdef double* FO = &f[0, 0] if n > 0 else NULL
    cdef double* EN = &energies[0] if n > 0 else NULL
    cdef const double* sh
    cdef const double* xj
    cdef const double* ci
    cdef const double* cj
    cdef const double* cz
    cdef double* fj
    cdef double xi0, xi1, xi2, dx0, dx1, dx2, r2, r, p, fpi, ei, rhoip, rhojp, z2, z2p, phi, phip
    cdef double c, f0, f1, f2, recip, eh
    cdef int ti, tj, phase
    if n == 0:
        return 0
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            for k in range(d):
                f[i, k] = 0.0
        for phase in range(2):
            for q in prange((nslab - phase + 1) // 2, num_threads=n_threads, schedule="dynamic"):
                s = phase + 2 * q
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
                        if r2 < cutsq:
                            tj = TY[j]
                            r = sqrt(r2)
                            m = _rindex(r, rdr, nr, &p)
                            ci = RH + 7 * (ti * nr + m)
                            cz = Z2 + 7 * ((ti * nel + tj) * nr + m)
                            rhoip = (ci[0] * p + ci[1]) * p + ci[2]
                            if tj != ti:
                                cj = RH + 7 * (tj * nr + m)
                                rhojp = (cj[0] * p + cj[1]) * p + cj[2]
                            else:
                                rhojp = rhoip
                            z2p = (cz[0] * p + cz[1]) * p + cz[2]
                            z2 = ((cz[3] * p + cz[4]) * p + cz[5]) * p + cz[6]
                            recip = 1.0 / r
                            phi = z2 * recip
                            phip = z2p * recip - phi * recip
                            c = (fpi * rhojp + FP[j] * rhoip + phip) * recip
                            eh = 0.5 * phi
                            ei = ei + eh
                            EN[j] = EN[j] + eh
                            fj = FO + d * j
                            f0 = f0 + c * dx0
                            fj[0] = fj[0] - c * dx0
                            if d > 1:
                                f1 = f1 + c * dx1
                                fj[1] = fj[1] - c * dx1
                            if d > 2:
                                f2 = f2 + c * dx2
                                fj[2] = fj[2] - c * dx2
                    EN[i] = EN[i] + ei
                    f[i, 0] = f[i, 0] + f0
                    if d > 1:
                        f[i, 1] = f[i, 1] + f1
                    if d > 2:
                        f[i, 2] = f[i, 2] + f2
    return 0
