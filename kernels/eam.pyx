# cython: language_level=3
"""Weighted EAM kernel on full neighbour lists, LAMMPS spline arithmetic.

    E = sum_a w_a F_a(rho_a) + sum_{a<b} w_ab phi_ab(r_ab),   rho_a = sum_b rho_{el(b)}(r_ab)

Pass 1: rho_i (each atom its own entries), fp_i = w_i F'(rho_i), e_i = w_i F(rho_i)
(linear extrapolation beyond rhomax as in LAMMPS). Pass 2: forces
f_i = sum_j [fp_i rho'_{el(j)} + fp_j rho'_{el(i)} + w_ij phi'] (x_j - x_i)/r, pair energy
e_i += 1/2 sum_j w_ij phi. Every atom writes only its own rows: thread-count independent.

Tables (see multiscale/md/potentials/eam_tables.py): frho (nel, nrho, 7), rhor (nel, nr, 7),
z2r (nel, nel, nr, 7); types (n,) int32 element index per atom.
"""

from cython.parallel cimport prange
from libc.math cimport sqrt


cdef inline void _rindex(double r, double rdr, long nr, long* m, double* p) noexcept nogil:
    cdef double q = r * rdr + 1.0
    cdef long mm = <long>q
    if mm > nr - 1:
        mm = nr - 1
    q = q - mm
    if q > 1.0:
        q = 1.0
    m[0] = mm - 1
    p[0] = q


def compute(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
            const signed char[:, ::1] shifts, const double[::1] period, const int[::1] types,
            const double[::1] site_w, const double[::1] bond_w,
            const double[:, :, ::1] frho, const double[:, :, ::1] rhor, const double[:, :, :, ::1] z2r,
            double rdr, double rdrho, double cutsq, double rhomax,
            double[::1] rho, double[::1] fp, double[:, ::1] forces, double[::1] energies,
            double[:, ::1] virial, int n_threads=1):
    """site_w, bond_w, virial may have length 0 (all weights 1 / no virial). rho, fp: (n,) scratch
    (on return: densities and w_i F'(rho_i)). virial: (n, d*d) per-atom."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, e, j
    cdef long nr = rhor.shape[1], nrho = frho.shape[1], m
    cdef bint has_sw = site_w.shape[0] > 0
    cdef bint has_bw = bond_w.shape[0] > 0
    cdef bint has_v = virial.shape[0] > 0
    cdef double per0 = period[0]
    cdef double per1 = period[1] if d > 1 else 0.0
    cdef double per2 = period[2] if d > 2 else 0.0
    cdef double dx0, dx1, dx2, r2, r, p, acc, wi, q, fpi, F, ei, rhoip, rhojp, z2, z2p, phi, phip
    cdef double psip, c, f0, f1, f2, w, recip
    cdef double v00, v01, v02, v11, v12, v22
    cdef int ti, tj
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="guided"):
            acc = 0.0
            ti = types[i]
            for e in range(offsets[i], offsets[i + 1]):
                j = neigh[e]
                dx0 = x[j, 0] - x[i, 0] + shifts[e, 0] * per0
                dx1 = 0.0
                dx2 = 0.0
                if d > 1:
                    dx1 = x[j, 1] - x[i, 1] + shifts[e, 1] * per1
                if d > 2:
                    dx2 = x[j, 2] - x[i, 2] + shifts[e, 2] * per2
                r2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
                if r2 < cutsq:
                    m = 0
                    p = 0.0
                    _rindex(sqrt(r2), rdr, nr, &m, &p)
                    tj = types[j]
                    acc = acc + ((rhor[tj, m, 3] * p + rhor[tj, m, 4]) * p + rhor[tj, m, 5]) * p \
                        + rhor[tj, m, 6]
            rho[i] = acc
            q = acc * rdrho + 1.0
            m = <long>q
            if m > nrho - 1:
                m = nrho - 1
            if m < 1:
                m = 1
            q = q - m
            if q > 1.0:
                q = 1.0
            m = m - 1
            fpi = (frho[ti, m, 0] * q + frho[ti, m, 1]) * q + frho[ti, m, 2]
            F = ((frho[ti, m, 3] * q + frho[ti, m, 4]) * q + frho[ti, m, 5]) * q + frho[ti, m, 6]
            if acc > rhomax:
                F = F + fpi * (acc - rhomax)
            wi = site_w[i] if has_sw else 1.0
            fp[i] = wi * fpi
            energies[i] = wi * F
        for i in prange(n, num_threads=n_threads, schedule="guided"):
            ti = types[i]
            fpi = fp[i]
            ei = 0.0
            f0 = 0.0
            f1 = 0.0
            f2 = 0.0
            v00 = 0.0
            v01 = 0.0
            v02 = 0.0
            v11 = 0.0
            v12 = 0.0
            v22 = 0.0
            for e in range(offsets[i], offsets[i + 1]):
                j = neigh[e]
                dx0 = x[j, 0] - x[i, 0] + shifts[e, 0] * per0
                dx1 = 0.0
                dx2 = 0.0
                if d > 1:
                    dx1 = x[j, 1] - x[i, 1] + shifts[e, 1] * per1
                if d > 2:
                    dx2 = x[j, 2] - x[i, 2] + shifts[e, 2] * per2
                r2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
                if r2 < cutsq:
                    tj = types[j]
                    r = sqrt(r2)
                    m = 0
                    p = 0.0
                    _rindex(r, rdr, nr, &m, &p)
                    rhoip = (rhor[ti, m, 0] * p + rhor[ti, m, 1]) * p + rhor[ti, m, 2]
                    rhojp = (rhor[tj, m, 0] * p + rhor[tj, m, 1]) * p + rhor[tj, m, 2]
                    z2p = (z2r[ti, tj, m, 0] * p + z2r[ti, tj, m, 1]) * p + z2r[ti, tj, m, 2]
                    z2 = ((z2r[ti, tj, m, 3] * p + z2r[ti, tj, m, 4]) * p + z2r[ti, tj, m, 5]) * p \
                        + z2r[ti, tj, m, 6]
                    recip = 1.0 / r
                    phi = z2 * recip
                    phip = z2p * recip - phi * recip
                    w = bond_w[e] if has_bw else 1.0
                    psip = fpi * rhojp + fp[j] * rhoip + w * phip
                    ei = ei + w * phi
                    c = psip * recip
                    f0 = f0 + c * dx0
                    f1 = f1 + c * dx1
                    f2 = f2 + c * dx2
                    if has_v:
                        c = -0.5 * c
                        v00 = v00 + c * dx0 * dx0
                        v01 = v01 + c * dx0 * dx1
                        v02 = v02 + c * dx0 * dx2
                        v11 = v11 + c * dx1 * dx1
                        v12 = v12 + c * dx1 * dx2
                        v22 = v22 + c * dx2 * dx2
            energies[i] = energies[i] + 0.5 * ei
            forces[i, 0] = f0
            if d > 1:
                forces[i, 1] = f1
            if d > 2:
                forces[i, 2] = f2
            if has_v:
                if d == 1:
                    virial[i, 0] = v00
                elif d == 2:
                    virial[i, 0] = v00
                    virial[i, 1] = v01
                    virial[i, 2] = v01
                    virial[i, 3] = v11
                else:
                    virial[i, 0] = v00
                    virial[i, 1] = v01
                    virial[i, 2] = v02
                    virial[i, 3] = v01
                    virial[i, 4] = v11
                    virial[i, 5] = v12
                    virial[i, 6] = v02
                    virial[i, 7] = v12
                    virial[i, 8] = v22
    return 0
