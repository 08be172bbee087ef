/* 2D pair kernels, one slab of owners at a time (included by kernels/pair_*.pyx; see md_pair.pxd).

   Each owner row is processed in chunks of MSIM_CH entries, in three passes:
     1. gather (scalar): dx = x_j - x_i + shift, r2; entries with r2 < rc2 are compacted into stack
        buffers, keeping their order;
     2. the pair function over the compacted buffer: no branches, no stores to shared arrays, so the
        compiler vectorises it (2 lanes SSE2, 4 lanes AVX2);
     3. accumulate (scalar): f_i += c dx, f_j -= c dx, energies, in the original entry order.
   The arithmetic of every pair and the order of every sum are those of the one-pass loops (md_pair.pxd
   pair_loop and the former _lj2/_morse2/_spring2): bitwise the same results, for any thread count.
   The modules are compiled with -ffp-contract=off, so the AVX2 clone (target_clones, chosen at load time
   on x86-64) computes bitwise the same numbers as the baseline one: no fused multiply-adds, and vector
   division / square root are correctly rounded like the scalar ones.
   Arrays: X, F (n, 2) row-major; OF (n+1,) row offsets; NB neighbours; SC shift codes into ST (., 3);
   OR owner order; BW bond weights or NULL; EN per-atom energies. */
#ifndef MSIM_PAIR2D_H
#define MSIM_PAIR2D_H
#include <math.h>
#include <stdint.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define MSIM_PAIR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default"), unused))
#else
#define MSIM_PAIR_CLONES __attribute__((unused))
#endif

#define MSIM_CH 64
#define MSIM_COMMA ,

/* Pass 1: compacted entries of row i, entries [e0, e1) (e1 - e0 <= MSIM_CH) within rc2. */
static inline int msim_gather2(const double* X, const int* NB, const unsigned short* SC, const double* ST,
                               const double* BW, long e0, long e1, double xi0, double xi1, double rc2,
                               int* jb, double* d0, double* d1, double* r2b, double* wb) {
    int m = 0;
    for (long e = e0; e < e1; e++) {
        const int j = NB[e];
        const double* sh = ST + 3 * SC[e];
        const double a0 = X[2 * (long)j] - xi0 + sh[0];
        const double a1 = X[2 * (long)j + 1] - xi1 + sh[1];
        const double r2 = a0 * a0 + a1 * a1;
        jb[m] = j; d0[m] = a0; d1[m] = a1; r2b[m] = r2;
        wb[m] = BW ? BW[e] : 1.0;
        m += (r2 < rc2);
    }
    return m;
}

/* Pass 3 of one chunk. */
static inline void msim_accum2(int m, const int* jb, const double* d0, const double* d1, const double* cb,
                               const double* pb, int per_atom, double* F, double* EN, double* ei,
                               double* f0, double* f1) {
    double a = *ei, b0 = *f0, b1 = *f1;
    for (int k = 0; k < m; k++) {
        const long j = jb[k];
        const double c = cb[k], phi = pb[k];
        if (per_atom) EN[j] = EN[j] + phi;
        a = a + phi;
        b0 = b0 + c * d0[k];
        b1 = b1 + c * d1[k];
        F[2 * j] = F[2 * j] - c * d0[k];
        F[2 * j + 1] = F[2 * j + 1] - c * d1[k];
    }
    *ei = a; *f0 = b0; *f1 = b1;
}

/* The slab driver: PAIR(k) computes cb[k], pb[k] from r2b[k] (and wb[k]) for k < m. */
#define MSIM_PAIR2_SLAB(NAME, ARGS, PAIR)                                                               \
MSIM_PAIR_CLONES static void NAME(const double* X, const long* OF, const int* NB, const unsigned short* SC, \
        const long* OR, long p0, long p1, const double* ST, const double* BW, double* F, double* EN,     \
        int per_atom, double rc2 ARGS) {                                                                \
    int jb[MSIM_CH];                                                                                    \
    double d0[MSIM_CH], d1[MSIM_CH], r2b[MSIM_CH], wb[MSIM_CH], cb[MSIM_CH], pb[MSIM_CH];               \
    for (long pp = p0; pp < p1; pp++) {                                                                 \
        const long i = OR[pp];                                                                          \
        const double xi0 = X[2 * i], xi1 = X[2 * i + 1];                                                \
        double ei = 0.0, f0 = 0.0, f1 = 0.0;                                                            \
        const long e1 = OF[i + 1];                                                                      \
        for (long e0 = OF[i]; e0 < e1; e0 += MSIM_CH) {                                                 \
            const long ee = e0 + MSIM_CH < e1 ? e0 + MSIM_CH : e1;                                      \
            const int m = msim_gather2(X, NB, SC, ST, BW, e0, ee, xi0, xi1, rc2, jb, d0, d1, r2b, wb);  \
            for (int k = 0; k < m; k++) { PAIR }                                                        \
            msim_accum2(m, jb, d0, d1, cb, pb, per_atom, F, EN, &ei, &f0, &f1);                         \
        }                                                                                               \
        EN[i] = EN[i] + ei;                                                                             \
        F[2 * i] = F[2 * i] + f0;                                                                       \
        F[2 * i + 1] = F[2 * i + 1] + f1;                                                               \
    }                                                                                                   \
}

/* Lennard-Jones (pair_lj.pyx _lj): mode 2 = force-shifted (smooth) truncation. */
MSIM_PAIR2_SLAB(msim_lj2_slab,
    MSIM_COMMA double eps4 MSIM_COMMA double eps48 MSIM_COMMA double eps24 MSIM_COMMA double sig2
    MSIM_COMMA int mode MSIM_COMMA double phic MSIM_COMMA double dphic MSIM_COMMA double rc,
    {
        const double r2 = r2b[k];
        const double r2inv = 1.0 / r2;
        const double s2 = sig2 * r2inv;
        const double s6 = s2 * s2 * s2;
        const double s12 = s6 * s6;
        double phi = eps4 * (s12 - s6) - phic;
        double c = -(eps48 * s12 - eps24 * s6) * r2inv;
        if (mode == 2) {
            const double r = sqrt(r2);
            phi = phi - (r - rc) * dphic;
            c = c - dphic / r;
        }
        if (BW) { phi = wb[k] * phi; c = wb[k] * c; }
        if (per_atom) phi = 0.5 * phi;
        cb[k] = c; pb[k] = phi;
    })

/* Morse (pair_morse.pyx _morse). */
MSIM_PAIR2_SLAB(msim_morse2_slab,
    MSIM_COMMA double D MSIM_COMMA double alpha MSIM_COMMA double r0 MSIM_COMMA double shift
    MSIM_COMMA double m2da,
    {
        const double r = sqrt(r2b[k]);
        const double t = exp(-alpha * (r - r0));
        double phi = D * (t * t - 2.0 * t) - shift;
        double c = m2da * (t * t - t) / r;
        if (BW) { phi = wb[k] * phi; c = wb[k] * c; }
        if (per_atom) phi = 0.5 * phi;
        cb[k] = c; pb[k] = phi;
    })

/* Harmonic spring (pair_harmonic.pyx _spring). */
MSIM_PAIR2_SLAB(msim_spring2_slab,
    MSIM_COMMA double hk MSIM_COMMA double kk MSIM_COMMA double r0,
    {
        const double r = sqrt(r2b[k]);
        const double t = r - r0;
        double phi = hk * t * t;
        double c = kk * t / r;
        if (BW) { phi = wb[k] * phi; c = wb[k] * c; }
        if (per_atom) phi = 0.5 * phi;
        cb[k] = c; pb[k] = phi;
    })

#endif

#ifndef MSIM_EAM2D_H
#define MSIM_EAM2D_H
/* EAM passes A (densities) and C (forces) in 2D, one slab at a time, chunked like the pair kernels
   above (kernels/eam.pyx _densities2 / _forces2: same arithmetic and sum order, bitwise the same).
   Tables: RH rows (el, m) at RH + 7 (el nr + m), Z2 rows (a, b, m) at Z2 + 7 ((a nel + b) nr + m);
   TY (n,) element per atom; one-element potentials (nel == 1) never read TY. */

/* LAMMPS: p = r/dr + 1, m = min(int(p), nr-1), p = min(p - m, 1); returns the 0-based row m-1. */
static inline long msim_rindex(double r, double rdr, long nr, double* p) {
    double q = r * rdr + 1.0;
    long mm = (long)q;
    mm = mm > nr - 1 ? nr - 1 : mm;
    q = q - mm;
    *p = q > 1.0 ? 1.0 : q;
    return mm - 1;
}

MSIM_PAIR_CLONES static void msim_eam_rho2_slab(const double* X, const long* OF, const int* NB,
        const unsigned short* SC, const long* OR, long p0, long p1, const double* ST, const int* TY,
        const double* RH, long nr, long nel, double rdr, double cutsq, double* RHO) {
    int jb[MSIM_CH];
    double d0[MSIM_CH], d1[MSIM_CH], r2b[MSIM_CH], wb[MSIM_CH], rjb[MSIM_CH], rib[MSIM_CH];
    for (long pp = p0; pp < p1; pp++) {
        const long i = OR[pp];
        const double xi0 = X[2 * i], xi1 = X[2 * i + 1];
        const int ti = nel == 1 ? 0 : TY[i];
        double acc = 0.0;
        const long e1 = OF[i + 1];
        for (long e0 = OF[i]; e0 < e1; e0 += MSIM_CH) {
            const long ee = e0 + MSIM_CH < e1 ? e0 + MSIM_CH : e1;
            const int m = msim_gather2(X, NB, SC, ST, (const double*)0, e0, ee, xi0, xi1, cutsq, jb, d0, d1,
                                       r2b, wb);
            for (int k = 0; k < m; k++) {
                double p;
                const long row = msim_rindex(sqrt(r2b[k]), rdr, nr, &p);
                const int tj = nel == 1 ? 0 : TY[jb[k]];
                const double* cj = RH + 7 * (tj * nr + row);
                const double rj = ((cj[3] * p + cj[4]) * p + cj[5]) * p + cj[6];
                rjb[k] = rj;
                if (tj != ti) {
                    const double* ci = RH + 7 * (ti * nr + row);
                    rib[k] = ((ci[3] * p + ci[4]) * p + ci[5]) * p + ci[6];
                } else {
                    rib[k] = rj;
                }
            }
            for (int k = 0; k < m; k++) {
                acc = acc + rjb[k];
                RHO[jb[k]] = RHO[jb[k]] + rib[k];
            }
        }
        RHO[i] = RHO[i] + acc;
    }
}

MSIM_PAIR_CLONES static void msim_eam_force2_slab(const double* X, const long* OF, const int* NB,
        const unsigned short* SC, const long* OR, long p0, long p1, const double* ST, const int* TY,
        const double* RH, const double* Z2, long nr, long nel, double rdr, double cutsq, const double* FP,
        const double* BW, int per_atom, double* F, double* EN) {
    int jb[MSIM_CH];
    double d0[MSIM_CH], d1[MSIM_CH], r2b[MSIM_CH], wb[MSIM_CH], cb[MSIM_CH], pb[MSIM_CH];
    for (long pp = p0; pp < p1; pp++) {
        const long i = OR[pp];
        const double xi0 = X[2 * i], xi1 = X[2 * i + 1];
        const int ti = nel == 1 ? 0 : TY[i];
        const double fpi = FP[i];
        double ei = 0.0, f0 = 0.0, f1 = 0.0;
        const long e1 = OF[i + 1];
        for (long e0 = OF[i]; e0 < e1; e0 += MSIM_CH) {
            const long ee = e0 + MSIM_CH < e1 ? e0 + MSIM_CH : e1;
            const int m = msim_gather2(X, NB, SC, ST, BW, e0, ee, xi0, xi1, cutsq, jb, d0, d1, r2b, wb);
            for (int k = 0; k < m; k++) {
                double p, rhojp, c, phi;
                const int tj = nel == 1 ? 0 : TY[jb[k]];
                const double r = sqrt(r2b[k]);
                const long row = msim_rindex(r, rdr, nr, &p);
                const double* ci = RH + 7 * (ti * nr + row);
                const double* cz = Z2 + 7 * ((ti * nel + tj) * nr + row);
                const double rhoip = (ci[0] * p + ci[1]) * p + ci[2];
                if (tj != ti) {
                    const double* cj = RH + 7 * (tj * nr + row);
                    rhojp = (cj[0] * p + cj[1]) * p + cj[2];
                } else {
                    rhojp = rhoip;
                }
                const double z2p = (cz[0] * p + cz[1]) * p + cz[2];
                const double z2 = ((cz[3] * p + cz[4]) * p + cz[5]) * p + cz[6];
                const double recip = 1.0 / r;
                phi = z2 * recip;
                const double phip = z2p * recip - phi * recip;
                if (BW) {
                    c = (fpi * rhojp + FP[jb[k]] * rhoip + wb[k] * phip) * recip;
                    phi = wb[k] * phi;
                } else {
                    c = (fpi * rhojp + FP[jb[k]] * rhoip + phip) * recip;
                }
                cb[k] = c;
                pb[k] = per_atom ? 0.5 * phi : phi;
            }
            msim_accum2(m, jb, d0, d1, cb, pb, per_atom, F, EN, &ei, &f0, &f1);
        }
        EN[i] = EN[i] + ei;
        F[2 * i] = F[2 * i] + f0;
        F[2 * i + 1] = F[2 * i + 1] + f1;
    }
}
#endif
