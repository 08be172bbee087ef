# cython: language_level=3
"""Weighted EAM kernel on half neighbour lists with their transpose, LAMMPS spline arithmetic.

    E = sum_a w_a F_a(rho_a) + sum_{a<b} w_ab phi_ab(r_ab),   rho_a = sum_b rho_{el(b)}(r_ab)

Entry e: owner i, neighbour j, dx = x_j - x_i + s_e L.
A (owners):  rho_i = sum_own rho_{el(j)}(r);  store re[e] = rho_{el(i)}(r) (i's density at j)
B (atoms):   rho_j += sum_rev re[e];  fp_j = w_j F'(rho_j), e_j = w_j F(rho_j) (LAMMPS extrapolation
             beyond rhomax)
C (owners):  c_e = [fp_i rho'_{el(j)} + fp_j rho'_{el(i)} + w_e phi'] / r;  f_i += c_e dx;
             e_i += w_e phi / 2 (stored per entry)
D (atoms):   f_j -= c_e dx, e_j += w_e phi / 2 over the transpose (md_pair.gather_reverse)
Every atom's rows are written by one thread per pass in a fixed order: thread-count independent.

Tables (multiscale/md/potentials/eam_tables.py): frho (nel, nrho, 7), rhor (nel, nr, 7),
z2r (nel, nel, nr, 7); types (n,) int32 element index per atom.
"""

from cython.parallel cimport prange
from libc.math cimport sqrt

from md_pair cimport add_virial, gather_reverse


cdef inline long _rindex(double r, double rdr, long nr, double* p) noexcept nogil:
    """LAMMPS: p = r/dr + 1, m = min(int(p), nr-1), p = min(p - m, 1); returns the 0-based row m-1."""
    cdef double q = r * rdr + 1.0
    cdef long mm = <long>q
    if mm > nr - 1:
        mm = nr - 1
    q = q - mm
    if q > 1.0:
        q = 1.0
    p[0] = q
    return mm - 1


def compute(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
            const signed char[:, ::1] shifts, const long[::1] rev_offsets, const int[::1] rev_owner,
            const int[::1] rev_entry, const double[::1] period, const double[::1] bond_w,
            double[::1] fe, double[::1] pe, double[:, ::1] forces, double[::1] energies,
            double[:, ::1] virial, const int[::1] types, const double[::1] site_w,
            const double[:, :, ::1] frho, const double[:, :, ::1] rhor, const double[:, :, :, ::1] z2r,
            double rdr, double rdrho, double cutsq, double rhomax, double[::1] rho, double[::1] fp,
            int n_threads=1):
    """site_w, bond_w, virial may have length 0 (all weights 1 / no virial). fe, pe: (m,) scratch;
    rho, fp: (n,) outputs (densities, w_i F'(rho_i)). virial: (n, d*d) per-atom."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, e, j, t, k
    cdef long nr = rhor.shape[1], nrho = frho.shape[1], m
    cdef bint has_sw = site_w.shape[0] > 0
    cdef bint has_bw = bond_w.shape[0] > 0
    cdef bint has_v = virial.shape[0] > 0
    cdef double per0 = period[0]
    cdef double per1 = period[1] if d > 1 else 0.0
    cdef double per2 = period[2] if d > 2 else 0.0
    cdef double dx0, dx1, dx2, r2, r, p, acc, q, fpi, F, ei, rhoip, rhojp, z2, z2p, phi, phip
    cdef double c, f0, f1, f2, w, recip, wi
    cdef int ti, tj
    with nogil:
        # ---- A: own densities, per-entry density given to the neighbour
        for i in prange(n, num_threads=n_threads, schedule="guided"):
            acc = 0.0
            p = 0.0
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
                    m = _rindex(sqrt(r2), rdr, nr, &p)
                    tj = types[j]
                    acc = acc + ((rhor[tj, m, 3] * p + rhor[tj, m, 4]) * p + rhor[tj, m, 5]) * p \
                        + rhor[tj, m, 6]
                    if tj == ti:
                        fe[e] = ((rhor[tj, m, 3] * p + rhor[tj, m, 4]) * p + rhor[tj, m, 5]) * p \
                            + rhor[tj, m, 6]
                    else:
                        fe[e] = ((rhor[ti, m, 3] * p + rhor[ti, m, 4]) * p + rhor[ti, m, 5]) * p \
                            + rhor[ti, m, 6]
                else:
                    fe[e] = 0.0
            rho[i] = acc
        # ---- B: complete densities, embedding energy and derivative
        for j in prange(n, num_threads=n_threads, schedule="guided"):
            acc = rho[j]
            for t in range(rev_offsets[j], rev_offsets[j + 1]):
                acc = acc + fe[rev_entry[t]]
            rho[j] = acc
            tj = types[j]
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
            fpi = (frho[tj, m, 0] * q + frho[tj, m, 1]) * q + frho[tj, m, 2]
            F = ((frho[tj, m, 3] * q + frho[tj, m, 4]) * q + frho[tj, m, 5]) * q + frho[tj, m, 6]
            if acc > rhomax:
                F = F + fpi * (acc - rhomax)
            wi = site_w[j] if has_sw else 1.0
            fp[j] = wi * fpi
            energies[j] = wi * F
        # ---- C: pair forces of the owners
        for i in prange(n, num_threads=n_threads, schedule="guided"):
            ti = types[i]
            fpi = fp[i]
            ei = 0.0
            p = 0.0
            f0 = 0.0
            f1 = 0.0
            f2 = 0.0
            if has_v:
                for k in range(d * d):
                    virial[i, k] = 0.0
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
                    m = _rindex(r, rdr, nr, &p)
                    rhoip = (rhor[ti, m, 0] * p + rhor[ti, m, 1]) * p + rhor[ti, m, 2]
                    rhojp = (rhor[tj, m, 0] * p + rhor[tj, m, 1]) * p + rhor[tj, m, 2]
                    z2p = (z2r[ti, tj, m, 0] * p + z2r[ti, tj, m, 1]) * p + z2r[ti, tj, m, 2]
                    z2 = ((z2r[ti, tj, m, 3] * p + z2r[ti, tj, m, 4]) * p + z2r[ti, tj, m, 5]) * p \
                        + z2r[ti, tj, m, 6]
                    recip = 1.0 / r
                    phi = z2 * recip
                    phip = z2p * recip - phi * recip
                    w = bond_w[e] if has_bw else 1.0
                    c = (fpi * rhojp + fp[j] * rhoip + w * phip) * recip
                    fe[e] = c
                    pe[e] = 0.5 * w * phi
                    ei = ei + 0.5 * w * phi
                    f0 = f0 + c * dx0
                    f1 = f1 + c * dx1
                    f2 = f2 + c * dx2
                    if has_v:
                        add_virial(virial, i, d, -0.5 * c, dx0, dx1, dx2)
                else:
                    fe[e] = 0.0
                    pe[e] = 0.0
            energies[i] += ei
            forces[i, 0] = f0
            if d > 1:
                forces[i, 1] = f1
            if d > 2:
                forces[i, 2] = f2
        # ---- D: reverse contributions
        gather_reverse(x, shifts, rev_offsets, rev_owner, rev_entry, period, fe, pe, forces, energies,
                       virial, n_threads)
    return 0
