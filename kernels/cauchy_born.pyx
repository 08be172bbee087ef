# cython: language_level=3
"""Cauchy–Born lattice sums per quadrature point (the hot loop of multiscale.fem.materials.cauchy_born).

For every deformation gradient F_q (m, d, d) and the fixed reference bond list R_b (nb, d) [length]:

    r_b = F_q R_b,  r_b = |r_b|,  ρ̄ = Σ_b ρ(r_b)
    E_q = ½ Σ_b φ(r_b) + 𝓕(ρ̄)                                   [energy]
    ∂E_q/∂F_ij = Σ_b [½ φ'(r_b) + 𝓕'(ρ̄) ρ'(r_b)] r_b,i R_b,j / r_b     [energy]

Bonds with r_b ≥ cutoff contribute nothing (the potential's ``pair``/``density`` are 0 there). Each point
is independent and summed serially over b in list order, so ``prange`` over points gives bitwise the same
result for any thread count. d = 1, 2, 3. ``mult``: every sum over b is multiplied by it at the end (exact
for 2): pass half of a centrosymmetric bond list (one of each ±R_b) with mult = 2, or the whole list with 1.

Radial functions: COPIES of the formulas of the MD kernels (kernels/pair_lj.pyx ``_lj``,
pair_morse.pyx ``_morse``, pair_harmonic.pyx ``_spring``, eam.pyx ``_rindex`` and its spline
arithmetic), kept here so this file does not depend on those kernels' internals; they take r² and r and
return φ and φ'/r. Pair kinds and parameter vectors ``par``:

  KIND_LJ = 0        [eps, sigma², phi(rc) shift, mode (0 cut | 1 shift | 2 smooth), phi'(rc), rc]
  KIND_MORSE = 1     [D, alpha, r0, shift]
  KIND_HARMONIC = 2  [k, r0]

EAM (single element): LAMMPS spline tables ``rhor`` (nr, 7), ``z2r`` (nr, 7) (r·φ), ``frho`` (nrho, 7)
(see multiscale/md/potentials/eam_tables.py), linear extrapolation of 𝓕 beyond rhomax.
"""

from cython.parallel cimport prange
from libc.math cimport exp, sqrt

cdef enum:
    KIND_LJ = 0
    KIND_MORSE = 1
    KIND_HARMONIC = 2



cdef int _check_shapes(const double[:, :, ::1] F, const double[:, ::1] R, double[::1] E,
                       double[:, :, ::1] dE) except -1:
    """Shared argument check of the two entry points: F (m, d, d), R (nb ≥ 1, d), E (m,), dE (m, d, d)."""
    cdef Py_ssize_t m = F.shape[0], d = R.shape[1]
    if F.shape[1] != d or F.shape[2] != d or E.shape[0] != m or dE.shape[0] != m \
            or dE.shape[1] != d or dE.shape[2] != d:
        raise ValueError("shape mismatch: F (m, d, d), R (nb, d), E (m,), dE (m, d, d)")
    if R.shape[0] == 0:
        raise ValueError("empty bond list")
    return 0

cdef inline void _pair(int kind, double r2, double r, const double* p, double* phi,
                       double* dphi_r) noexcept nogil:
    """φ(r) and φ'(r)/r of a pair potential inside its cut-off (copies of the MD kernels' formulas)."""
    cdef double r2inv, s2, s6, s12, e1
    if kind == KIND_LJ:
        r2inv = 1.0 / r2
        s2 = p[1] * r2inv
        s6 = s2 * s2 * s2
        s12 = s6 * s6
        phi[0] = 4.0 * p[0] * (s12 - s6) - p[2]
        dphi_r[0] = -p[0] * (48.0 * s12 - 24.0 * s6) * r2inv
        if p[3] == 2.0:
            phi[0] = phi[0] - (r - p[5]) * p[4]
            dphi_r[0] = dphi_r[0] - p[4] / r
    elif kind == KIND_MORSE:
        e1 = exp(-p[1] * (r - p[2]))
        phi[0] = p[0] * (e1 * e1 - 2.0 * e1) - p[3]
        dphi_r[0] = -2.0 * p[0] * p[1] * (e1 * e1 - e1) / r
    else:
        phi[0] = 0.5 * p[0] * (r - p[1]) * (r - p[1])
        dphi_r[0] = p[0] * (r - p[1]) / r


cdef inline void _bond(const double* Fq, const double* Rb, Py_ssize_t d, double* rv,
                       double* r2) noexcept nogil:
    """rv = F R_b (d,), r2 = |rv|²."""
    cdef Py_ssize_t i, j
    cdef double s, t = 0.0
    for i in range(d):
        s = 0.0
        for j in range(d):
            s = s + Fq[i * d + j] * Rb[j]
        rv[i] = s
        t = t + s * s
    r2[0] = t


cdef inline void _add_outer(double* A, double c, const double* rv, const double* Rb,
                            Py_ssize_t d) noexcept nogil:
    """A (d×d, row-major) += c rv ⊗ R_b."""
    cdef Py_ssize_t i, j
    for i in range(d):
        for j in range(d):
            A[i * d + j] = A[i * d + j] + c * rv[i] * Rb[j]


cdef inline void _pair_sum(const double* Fq, const double* RR, Py_ssize_t nb, Py_ssize_t d, int kind,
                           const double* p, double rc, double mult, double* Eq,
                           double* dEq) noexcept nogil:
    """One point: E_q and ∂E_q/∂F (d×d row-major). Locals live on this call's stack (thread-private)."""
    cdef double rv[3]
    cdef double A[9]
    cdef double r2, r, phi = 0.0, dphi_r = 0.0, e = 0.0
    cdef Py_ssize_t b, k
    for k in range(d * d):
        A[k] = 0.0
    for b in range(nb):
        _bond(Fq, RR + b * d, d, rv, &r2)
        r = sqrt(r2)
        if r < rc:
            _pair(kind, r2, r, p, &phi, &dphi_r)
            e = e + 0.5 * phi
            _add_outer(A, 0.5 * dphi_r, rv, RR + b * d, d)
    Eq[0] = mult * e
    for k in range(d * d):
        dEq[k] = mult * A[k]


cdef void _pair_point(const double* Fq, const double* RR, Py_ssize_t nb, Py_ssize_t d, int kind,
                      const double* p, double rc, double mult, double* Eq, double* dEq) noexcept nogil:
    """`_pair_sum` with a literal d, so that the C compiler unrolls the d-loops (same arithmetic)."""
    if d == 2:
        _pair_sum(Fq, RR, nb, 2, kind, p, rc, mult, Eq, dEq)
    elif d == 3:
        _pair_sum(Fq, RR, nb, 3, kind, p, rc, mult, Eq, dEq)
    else:
        _pair_sum(Fq, RR, nb, 1, kind, p, rc, mult, Eq, dEq)


def pair_energy_stress(const double[:, :, ::1] F, const double[:, ::1] R, int kind,
                       const double[::1] par, double rc, double mult, double[::1] E,
                       double[:, :, ::1] dE, int n_threads=1):
    """Pair potentials: E (m,) [energy] and dE = ∂E/∂F (m, d, d) [energy] (outputs, overwritten) for
    F (m, d, d), bonds R (nb, d) [length], cut-off rc [length], bond multiplicity mult (1 or 2);
    kind/par as in the module docstring."""
    cdef Py_ssize_t m = F.shape[0], d = R.shape[1], nb = R.shape[0], q
    cdef const double* p = &par[0]
    cdef const double* RR = &R[0, 0]
    _check_shapes(F, R, E, dE)
    if d < 1 or d > 3 or kind < 0 or kind > 2:
        raise ValueError("d must be 1..3 and kind 0..2")
    if m == 0:
        return 0
    with nogil:
        for q in prange(m, num_threads=n_threads, schedule="static"):
            _pair_point(&F[q, 0, 0], RR, nb, d, kind, p, rc, mult, &E[q], &dE[q, 0, 0])
    return 0


cdef inline long _rindex(double r, double rdr, long nr, double* p) noexcept nogil:
    """LAMMPS: p = r/dr + 1, m = min(int(p), nr-1), p = min(p - m, 1); returns the 0-based row m-1
    (copy of eam.pyx ``_rindex``)."""
    cdef double q = r * rdr + 1.0
    cdef long mm = <long>q
    if mm > nr - 1:
        mm = nr - 1
    q = q - mm
    if q > 1.0:
        q = 1.0
    p[0] = q
    return mm - 1


cdef inline void _eam_sum(const double* Fq, const double* RR, Py_ssize_t nb, Py_ssize_t d,
                          const double* RH, const double* Z2, const double* FR, long nr, long nrho,
                          double rdr, double rdrho, double rc, double rhomax, double mult,
                          double* Eq, double* dEq) noexcept nogil:
    """One point of the EAM sum: A = Σ ½φ'/r r⊗R, B = Σ ρ'/r r⊗R, dE = A + 𝓕'(ρ̄) B (stack locals)."""
    cdef double rv[3]
    cdef double A[9]
    cdef double B[9]
    cdef double r2, r, p = 0.0, recip, z2, z2p, phi, phip, rhob = 0.0, fp, Femb, e = 0.0, qq
    cdef const double* c
    cdef Py_ssize_t b, k
    cdef long mm
    for k in range(d * d):
        A[k] = 0.0
        B[k] = 0.0
    for b in range(nb):
        _bond(Fq, RR + b * d, d, rv, &r2)
        r = sqrt(r2)
        if r < rc:
            mm = _rindex(r, rdr, nr, &p)
            recip = 1.0 / r
            c = RH + 7 * mm
            rhob = rhob + (((c[3] * p + c[4]) * p + c[5]) * p + c[6])
            _add_outer(B, ((c[0] * p + c[1]) * p + c[2]) * recip, rv, RR + b * d, d)
            c = Z2 + 7 * mm
            z2p = (c[0] * p + c[1]) * p + c[2]
            z2 = ((c[3] * p + c[4]) * p + c[5]) * p + c[6]
            phi = z2 * recip
            phip = z2p * recip - phi * recip
            e = e + 0.5 * phi
            _add_outer(A, 0.5 * phip * recip, rv, RR + b * d, d)
    rhob = mult * rhob
    e = mult * e
    # embedding (as eam.pyx pass B): LAMMPS index clamp, linear extrapolation beyond rhomax
    qq = rhob * rdrho + 1.0
    mm = <long>qq
    if mm > nrho - 1:
        mm = nrho - 1
    if mm < 1:
        mm = 1
    qq = qq - mm
    if qq > 1.0:
        qq = 1.0
    c = FR + 7 * (mm - 1)
    fp = (c[0] * qq + c[1]) * qq + c[2]
    Femb = ((c[3] * qq + c[4]) * qq + c[5]) * qq + c[6]
    if rhob > rhomax:
        Femb = Femb + fp * (rhob - rhomax)
    Eq[0] = e + Femb
    for k in range(d * d):
        dEq[k] = mult * A[k] + fp * (mult * B[k])


cdef void _eam_point(const double* Fq, const double* RR, Py_ssize_t nb, Py_ssize_t d, const double* RH,
                     const double* Z2, const double* FR, long nr, long nrho, double rdr, double rdrho,
                     double rc, double rhomax, double mult, double* Eq, double* dEq) noexcept nogil:
    """`_eam_sum` with a literal d (unrolled d-loops, same arithmetic)."""
    if d == 2:
        _eam_sum(Fq, RR, nb, 2, RH, Z2, FR, nr, nrho, rdr, rdrho, rc, rhomax, mult, Eq, dEq)
    elif d == 3:
        _eam_sum(Fq, RR, nb, 3, RH, Z2, FR, nr, nrho, rdr, rdrho, rc, rhomax, mult, Eq, dEq)
    else:
        _eam_sum(Fq, RR, nb, 1, RH, Z2, FR, nr, nrho, rdr, rdrho, rc, rhomax, mult, Eq, dEq)


def eam_energy_stress(const double[:, :, ::1] F, const double[:, ::1] R, const double[:, ::1] rhor,
                      const double[:, ::1] z2r, const double[:, ::1] frho, double rdr, double rdrho,
                      double rc, double rhomax, double mult, double[::1] E, double[:, :, ::1] dE,
                      int n_threads=1):
    """Single-element EAM: E (m,) and dE (m, d, d) [energy] (outputs) for F (m, d, d), bonds R (nb, d);
    tables rhor, z2r (nr, 7), frho (nrho, 7); rdr = 1/dr, rdrho = 1/drho; cut-off rc [length]; bond
    multiplicity mult (1 or 2)."""
    cdef Py_ssize_t m = F.shape[0], d = R.shape[1], nb = R.shape[0], q
    cdef long nr = rhor.shape[0], nrho = frho.shape[0]
    cdef const double* RR = &R[0, 0]
    cdef const double* RH = &rhor[0, 0]
    cdef const double* Z2 = &z2r[0, 0]
    cdef const double* FR = &frho[0, 0]
    _check_shapes(F, R, E, dE)
    if d < 1 or d > 3 or z2r.shape[0] != nr or rhor.shape[1] != 7 or z2r.shape[1] != 7 \
            or frho.shape[1] != 7 or nr < 2 or nrho < 2:
        raise ValueError("d must be 1..3; spline tables (n, 7) with rhor and z2r of the same length")
    if m == 0:
        return 0
    with nogil:
        for q in prange(m, num_threads=n_threads, schedule="static"):
            _eam_point(&F[q, 0, 0], RR, nb, d, RH, Z2, FR, nr, nrho, rdr, rdrho, rc, rhomax, mult,
                       &E[q], &dE[q, 0, 0])
    return 0
