/* 2D pair and EAM kernels, one slab of owners at a time (included by kernels/pair_*.pyx and eam.pyx; see
   md_pair.pxd).

   The owner rows of a slab are processed in BATCHES of up to MSIM_B list entries (consecutive rows, in
   slab order; a row longer than MSIM_B goes alone, in pieces), in three passes:
     1. gather (scalar, (x, y) as one 2-lane vector): dx = x_j - x_i + shift, r2; entries with r2 < rc2
        are compacted into stack buffers, keeping their order;
     2. the pair function over the whole compacted batch: no branches, no stores to shared arrays, so the
        compiler vectorises it (2 lanes SSE2, 4 lanes AVX2); the options (per-atom energies, truncation
        mode, one element) are compile-time constants of specialised copies; the pair potentials' copy is
        unweighted, and the entries of the batch's weighted rows are then scaled, φ = w·φ, c = w·c
        (msim_wfix: the same products as the one-pass loop; per-atom energies are halved after it, in
        pass 3), so that batches mixing weighted and unweighted rows run the same pair function;
     3. accumulate, row after row and entry after entry in the original order: f_i += c dx, f_j -= c dx
        ((x, y) as one 2-lane vector: lane-wise the same IEEE operations), energies; the owner's sums
        are added to F[i], EN[i] at the end of its row.
   The arithmetic of every pair and the order of every sum are those of the one-pass loops (md_pair.pxd
   pair_loop, eam.pyx's generic passes): bitwise the same results, for any thread count. The modules are
   compiled with -ffp-contract=off, so the AVX2 clone (target_clones, chosen at load time on x86-64)
   computes bitwise the same numbers as the baseline one: no fused multiply-adds, and vector division /
   square root are correctly rounded like the scalar ones.
   Arrays: X, F (n, 2) row-major; OF (n+1,) row offsets; NB neighbours; SC shift codes into ST (., 3);
   OR owner order; BW bond weights or NULL; RW (n,) per-row flags or NULL: with BW, a row i with RW[i] == 0
   has every weight exactly 1 and its weights are not read (1.0 instead: w·x = x exactly, the same bits,
   without streaming the weights of the unweighted bulk of a coupled model); a row with RW[i] == 2 has
   every weight exactly 0 (a coupled model's pad-pad bonds) and is skipped: its entries would add
   0·φ and ±0·dx, which change no sum (up to the sign of an exactly zero sum); EN per-atom energies. */
#ifndef MSIM_PAIR2D_H
#define MSIM_PAIR2D_H
#include <math.h>
#include <stdint.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define MSIM_PAIR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default"), unused))
#else
#define MSIM_PAIR_CLONES __attribute__((unused))
#endif
#define MSIM_AI static inline __attribute__((always_inline))

#define MSIM_B 128     /* list entries per batch */

/* (x, y) pair as one 2-lane vector; unaligned loads/stores through memcpy */
typedef double msim_v2 __attribute__((vector_size(16)));

MSIM_AI msim_v2 msim_ld2(const double* p) { msim_v2 v; __builtin_memcpy(&v, p, 16); return v; }
MSIM_AI void msim_st2(double* p, msim_v2 v) { __builtin_memcpy(p, &v, 16); }

/* Per-batch scratch (on the stack of the slab function). */
typedef struct {
    int jb[MSIM_B];
    msim_v2 db[MSIM_B];
    double r2b[MSIM_B], wb[MSIM_B], cb[MSIM_B], pb[MSIM_B], xb[MSIM_B];
    long rowi[MSIM_B];
    int rowend[MSIM_B];
} msim_batch;

/* Pass 1: entries [e0, e1) of the owner at xi within rc2, appended to the batch from position m; returns
   the new count. SKIP0 (pair potentials, whose every term is weighted): with weights, entries of weight
   exactly 0 are left out too (they would add 0·φ and ±0 forces). */
MSIM_AI int msim_gather2(const double* X, const int* NB, const unsigned short* SC, const double* ST,
                         const double* BW, const int HAS_BW, long e0, long e1, msim_v2 xi, double rc2,
                         int m, msim_batch* b, const int SKIP0) {
    for (long e = e0; e < e1; e++) {
        const int j = NB[e];
        const msim_v2 a = msim_ld2(X + 2 * (long)j) - xi + msim_ld2(ST + 3 * SC[e]);
        const double r2 = a[0] * a[0] + a[1] * a[1];
        b->jb[m] = j; b->db[m] = a; b->r2b[m] = r2;
        if (SKIP0 && HAS_BW && BW) {
            const double w = BW[e];
            b->wb[m] = w;
            m += (r2 < rc2) & (w != 0.0);
        } else {
            if (HAS_BW) b->wb[m] = BW ? BW[e] : 1.0;
            m += (r2 < rc2);
        }
    }
    return m;
}

/* Pass 3 for entries [k0, k1) of one owner: running sums ei, fi. HALF: the pair energies are halved here
   (the per-atom shares of the pair potentials, ½·(w·φ): after the weights, as in the one-pass loop). */
MSIM_AI void msim_accum2(const msim_batch* b, int k0, int k1, const int PER_ATOM, const int HALF, double* F,
                         double* EN, double* ei, msim_v2* fi) {
    double a = *ei;
    msim_v2 s = *fi;
    for (int k = k0; k < k1; k++) {
        const long j = b->jb[k];
        const double phi = HALF ? 0.5 * b->pb[k] : b->pb[k];
        const msim_v2 cd = b->cb[k] * b->db[k];
        if (PER_ATOM) EN[j] = EN[j] + phi;
        a = a + phi;
        s = s + cd;
        msim_st2(F + 2 * j, msim_ld2(F + 2 * j) - cd);
    }
    *ei = a; *fi = s;
}

/* The bond weights of entries [k0, k1) (one weighted row): φ = w·φ, c = w·c, the products of the one-pass
   loop (the pair pass itself never reads weights, so a batch mixing weighted and unweighted rows runs the
   same vectorised pair function as any other). */
MSIM_AI void msim_wfix(msim_batch* b, int k0, int k1) {
    for (int k = k0; k < k1; k++) {
        b->pb[k] = b->wb[k] * b->pb[k];
        b->cb[k] = b->wb[k] * b->cb[k];
    }
}

/* The bond weights of row i: NULL (all 1) when the row flags say so. */
#define MSIM_ROW_BW(i) ((RW && !RW[i]) ? (const double*)0 : BW)

/* Pass 1 for entries [e0, e1) of owner i: with the row's weights into wb when it has any (bw != NULL). */
#define MSIM_GATHER_ROW(BWI, E0, E1, XI, M0)                                                             \
    ((BWI) ? msim_gather2(X, NB, SC, ST, (BWI), 1, (E0), (E1), (XI), rc2, (M0), b, 1)                    \
           : msim_gather2(X, NB, SC, ST, (const double*)0, 0, (E0), (E1), (XI), rc2, (M0), b, 1))

/* The slab driver of a pair potential. PAIR(m) computes cb[k], pb[k] from r2b[k] for k < m, unweighted and
   unhalved; the weighted rows' entries are then scaled by their weights (msim_wfix) and the per-atom
   energies halved in pass 3. Rows are batched until the next one would overflow MSIM_B entries. */
#define MSIM_SLAB2(PAIR)                                                                                  \
    msim_batch bt;                                                                                       \
    msim_batch* b = &bt;                                                                                 \
    int wr0[MSIM_B], wr1[MSIM_B];      /* entry ranges of the batch's weighted rows */                   \
    long pp = p0;                                                                                        \
    while (pp < p1) {                                                                                    \
        int m = 0, nrow = 0, nw = 0;                                                                     \
        while (pp < p1 && nrow < MSIM_B) {                                                               \
            const long i = OR[pp];                                                                       \
            if (HAS_BW && RW && RW[i] == 2) { pp++; continue; }    /* all weights 0: nothing to add */   \
            const long e0 = OF[i], e1 = OF[i + 1];                                                       \
            const double* bwi = HAS_BW ? MSIM_ROW_BW(i) : (const double*)0;                              \
            if (e1 - e0 > MSIM_B - m) {                                                                  \
                if (nrow > 0) break;                                                                     \
                /* a row longer than a batch: alone, in pieces */                                        \
                const msim_v2 xi = msim_ld2(X + 2 * i);                                                  \
                double ei = 0.0;                                                                         \
                msim_v2 fi = {0.0, 0.0};                                                                 \
                for (long c0 = e0; c0 < e1; c0 += MSIM_B) {                                              \
                    const long c1 = c0 + MSIM_B < e1 ? c0 + MSIM_B : e1;                                 \
                    const int mm = MSIM_GATHER_ROW(bwi, c0, c1, xi, 0);                                  \
                    PAIR(mm)                                                                             \
                    if (bwi) msim_wfix(b, 0, mm);                                                        \
                    msim_accum2(b, 0, mm, PER_ATOM, PER_ATOM, F, EN, &ei, &fi);                          \
                }                                                                                        \
                EN[i] = EN[i] + ei;                                                                      \
                msim_st2(F + 2 * i, msim_ld2(F + 2 * i) + fi);                                           \
                pp++;                                                                                    \
                break;                                                                                   \
            }                                                                                            \
            const int m0 = m;                                                                            \
            m = MSIM_GATHER_ROW(bwi, e0, e1, msim_ld2(X + 2 * i), m);                                    \
            if (bwi) { wr0[nw] = m0; wr1[nw] = m; nw++; }                                                \
            b->rowi[nrow] = i;                                                                           \
            b->rowend[nrow] = m;                                                                         \
            nrow++;                                                                                      \
            pp++;                                                                                        \
        }                                                                                                \
        if (nrow == 0) continue;                                                                         \
        PAIR(m)                                                                                          \
        for (int w = 0; w < nw; w++) msim_wfix(b, wr0[w], wr1[w]);                                       \
        int k0 = 0;                                                                                      \
        for (int r = 0; r < nrow; r++) {                                                                 \
            const long i = b->rowi[r];                                                                   \
            double ei = 0.0;                                                                             \
            msim_v2 fi = {0.0, 0.0};                                                                     \
            msim_accum2(b, k0, b->rowend[r], PER_ATOM, PER_ATOM, F, EN, &ei, &fi);                       \
            k0 = b->rowend[r];                                                                           \
            EN[i] = EN[i] + ei;                                                                          \
            msim_st2(F + 2 * i, msim_ld2(F + 2 * i) + fi);                                               \
        }                                                                                                \
    }

#define MSIM_COMMON_ARGS const double* X, const long* OF, const int* NB, const unsigned short* SC,       \
    const long* OR, long p0, long p1, const double* ST, const double* BW, const unsigned char* RW, double* F, \
    double* EN, double rc2
#define MSIM_COMMON_CALL X, OF, NB, SC, OR, p0, p1, ST, BW, RW, F, EN, rc2

/* ---- Lennard-Jones (pair_lj.pyx _lj): mode 2 = force-shifted (smooth) truncation. */
MSIM_AI void msim_lj2_impl(MSIM_COMMON_ARGS, const int HAS_BW, const int PER_ATOM, const int SMOOTH,
                           double eps4, double eps48, double eps24, double sig2, double phic, double dphic,
                           double rc) {
#define MSIM_LJ_PAIR(M)                                                                                  \
    for (int k = 0; k < (M); k++) {                                                                      \
        const double r2 = b->r2b[k];                                                                     \
        const double r2inv = 1.0 / r2;                                                                   \
        const double s2 = sig2 * r2inv;                                                                  \
        const double s6 = s2 * s2 * s2;                                                                  \
        const double s12 = s6 * s6;                                                                      \
        double phi = eps4 * (s12 - s6) - phic;                                                           \
        double c = -(eps48 * s12 - eps24 * s6) * r2inv;                                                  \
        if (SMOOTH) {                                                                                    \
            const double r = sqrt(r2);                                                                   \
            phi = phi - (r - rc) * dphic;                                                                \
            c = c - dphic / r;                                                                           \
        }                                                                                                \
        b->cb[k] = c; b->pb[k] = phi;                                                                    \
    }
    MSIM_SLAB2(MSIM_LJ_PAIR)
#undef MSIM_LJ_PAIR
}

MSIM_PAIR_CLONES static void msim_lj2_slab(const double* X, const long* OF, const int* NB,
        const unsigned short* SC, const long* OR, long p0, long p1, const double* ST, const double* BW,
        const unsigned char* RW,
        double* F, double* EN, int per_atom, double rc2, double eps4, double eps48, double eps24,
        double sig2, int mode, double phic, double dphic, double rc) {
#define MSIM_LJ_CASE(W, P, S) \
    msim_lj2_impl(MSIM_COMMON_CALL, W, P, S, eps4, eps48, eps24, sig2, phic, dphic, rc)
    const int sm = mode == 2;
    if (BW) {
        if (per_atom) { if (sm) MSIM_LJ_CASE(1, 1, 1); else MSIM_LJ_CASE(1, 1, 0); }
        else          { if (sm) MSIM_LJ_CASE(1, 0, 1); else MSIM_LJ_CASE(1, 0, 0); }
    } else {
        if (per_atom) { if (sm) MSIM_LJ_CASE(0, 1, 1); else MSIM_LJ_CASE(0, 1, 0); }
        else          { if (sm) MSIM_LJ_CASE(0, 0, 1); else MSIM_LJ_CASE(0, 0, 0); }
    }
#undef MSIM_LJ_CASE
}

/* ---- Morse (pair_morse.pyx _morse). */
MSIM_AI void msim_morse2_impl(MSIM_COMMON_ARGS, const int HAS_BW, const int PER_ATOM, double D,
                              double alpha, double r0, double shift, double m2da) {
#define MSIM_MORSE_PAIR(M)                                                                               \
    for (int k = 0; k < (M); k++) {                                                                      \
        const double r = sqrt(b->r2b[k]);                                                                \
        const double t = exp(-alpha * (r - r0));                                                         \
        double phi = D * (t * t - 2.0 * t) - shift;                                                      \
        double c = m2da * (t * t - t) / r;                                                               \
        b->cb[k] = c; b->pb[k] = phi;                                                                    \
    }
    MSIM_SLAB2(MSIM_MORSE_PAIR)
#undef MSIM_MORSE_PAIR
}

MSIM_PAIR_CLONES static void msim_morse2_slab(const double* X, const long* OF, const int* NB,
        const unsigned short* SC, const long* OR, long p0, long p1, const double* ST, const double* BW,
        const unsigned char* RW,
        double* F, double* EN, int per_atom, double rc2, double D, double alpha, double r0, double shift,
        double m2da) {
#define MSIM_MORSE_CASE(W, P) msim_morse2_impl(MSIM_COMMON_CALL, W, P, D, alpha, r0, shift, m2da)
    if (BW) { if (per_atom) MSIM_MORSE_CASE(1, 1); else MSIM_MORSE_CASE(1, 0); }
    else    { if (per_atom) MSIM_MORSE_CASE(0, 1); else MSIM_MORSE_CASE(0, 0); }
#undef MSIM_MORSE_CASE
}

/* ---- Harmonic spring (pair_harmonic.pyx _spring). */
MSIM_AI void msim_spring2_impl(MSIM_COMMON_ARGS, const int HAS_BW, const int PER_ATOM, double hk,
                               double kk, double r0) {
#define MSIM_SPRING_PAIR(M)                                                                              \
    for (int k = 0; k < (M); k++) {                                                                      \
        const double r = sqrt(b->r2b[k]);                                                                \
        const double t = r - r0;                                                                         \
        double phi = hk * t * t;                                                                         \
        double c = kk * t / r;                                                                           \
        b->cb[k] = c; b->pb[k] = phi;                                                                    \
    }
    MSIM_SLAB2(MSIM_SPRING_PAIR)
#undef MSIM_SPRING_PAIR
}

MSIM_PAIR_CLONES static void msim_spring2_slab(const double* X, const long* OF, const int* NB,
        const unsigned short* SC, const long* OR, long p0, long p1, const double* ST, const double* BW,
        const unsigned char* RW,
        double* F, double* EN, int per_atom, double rc2, double hk, double kk, double r0) {
#define MSIM_SPRING_CASE(W, P) msim_spring2_impl(MSIM_COMMON_CALL, W, P, hk, kk, r0)
    if (BW) { if (per_atom) MSIM_SPRING_CASE(1, 1); else MSIM_SPRING_CASE(1, 0); }
    else    { if (per_atom) MSIM_SPRING_CASE(0, 1); else MSIM_SPRING_CASE(0, 0); }
#undef MSIM_SPRING_CASE
}

/* ---- EAM passes A (densities) and C (forces) in 2D (kernels/eam.pyx _densities / _forces: same
   arithmetic and sum order, bitwise the same). Tables: RH rows (el, m) at RH + 7 (el nr + m), Z2 rows
   (a, b, m) at Z2 + 7 ((a nel + b) nr + m); TY (n,) element per atom; one-element potentials (nel == 1)
   never read TY. */

/* LAMMPS: p = r/dr + 1, m = min(int(p), nr-1), p = min(p - m, 1); returns the 0-based row m-1. */
MSIM_AI long msim_rindex(double r, double rdr, long nr, double* p) {
    double q = r * rdr + 1.0;
    long mm = (long)q;
    mm = mm > nr - 1 ? nr - 1 : mm;
    q = q - mm;
    *p = q > 1.0 ? 1.0 : q;
    return mm - 1;
}

/* Pass A, batched like MSIM_SLAB2: pb[k] = rho the owner gets from entry k, xb[k] = rho the neighbour
   gets; accumulation acc += pb[k], RHO[j] += xb[k] in entry order, RHO[i] += acc at the row's end. */
MSIM_AI void msim_eam_rho2_impl(const double* X, const long* OF, const int* NB, const unsigned short* SC,
        const long* OR, long p0, long p1, const double* ST, const int* TY, const double* RH, long nr,
        long nel, double rdr, double rc2, double* RHO, const int NEL1) {
    const double* BW = (const double*)0;
#define MSIM_RHO_PAIR(M)                                                                                 \
    for (int k = 0; k < (M); k++) {                                                                      \
        double p;                                                                                        \
        const long row = msim_rindex(sqrt(b->r2b[k]), rdr, nr, &p);                                      \
        const int tj = NEL1 ? 0 : TY[b->jb[k]];                                                          \
        const int tk = NEL1 ? 0 : tib[k];                                                                \
        const double* cj = RH + 7 * (tj * nr + row);                                                     \
        const double rj = ((cj[3] * p + cj[4]) * p + cj[5]) * p + cj[6];                                 \
        b->pb[k] = rj;                                                                                   \
        if (!NEL1 && tj != tk) {                                                                         \
            const double* ci = RH + 7 * (tk * nr + row);                                                 \
            b->xb[k] = ((ci[3] * p + ci[4]) * p + ci[5]) * p + ci[6];                                    \
        } else {                                                                                         \
            b->xb[k] = rj;                                                                               \
        }                                                                                                \
    }
    msim_batch bt;
    msim_batch* b = &bt;
    int tib[MSIM_B];          /* the owner's element of each batch entry */
    long pp = p0;
    while (pp < p1) {
        int m = 0, nrow = 0;
        long c0 = -1, c1 = -1, i_long = -1;        /* a row longer than a batch: its next piece */
        while (pp < p1 && nrow < MSIM_B) {
            const long i = OR[pp];
            const long e0 = OF[i], e1 = OF[i + 1];
            if (e1 - e0 > MSIM_B - m) {
                if (nrow > 0) break;
                i_long = i; c0 = e0; c1 = e1;
                pp++;
                break;
            }
            const int m0 = m;
            m = msim_gather2(X, NB, SC, ST, BW, 0, e0, e1, msim_ld2(X + 2 * i), rc2, m, b, 0);
            const int ti = NEL1 ? 0 : TY[i];
            for (int k = m0; k < m; k++) tib[k] = ti;
            b->rowi[nrow] = i;
            b->rowend[nrow] = m;
            nrow++;
            pp++;
        }
        if (i_long >= 0) {        /* alone, in pieces */
            const msim_v2 xi = msim_ld2(X + 2 * i_long);
            const int ti = NEL1 ? 0 : TY[i_long];
            double acc = 0.0;
            for (long q0 = c0; q0 < c1; q0 += MSIM_B) {
                const long q1 = q0 + MSIM_B < c1 ? q0 + MSIM_B : c1;
                const int mm = msim_gather2(X, NB, SC, ST, BW, 0, q0, q1, xi, rc2, 0, b, 0);
                for (int k = 0; k < mm; k++) tib[k] = ti;
                m = mm;
                MSIM_RHO_PAIR(m)
                for (int k = 0; k < m; k++) {
                    acc = acc + b->pb[k];
                    RHO[b->jb[k]] = RHO[b->jb[k]] + b->xb[k];
                }
            }
            RHO[i_long] = RHO[i_long] + acc;
            continue;
        }
        MSIM_RHO_PAIR(m)
        int k0 = 0;
        for (int r = 0; r < nrow; r++) {
            const long i = b->rowi[r];
            double acc = 0.0;
            for (int k = k0; k < b->rowend[r]; k++) {
                acc = acc + b->pb[k];
                RHO[b->jb[k]] = RHO[b->jb[k]] + b->xb[k];
            }
            k0 = b->rowend[r];
            RHO[i] = RHO[i] + acc;
        }
    }
#undef MSIM_RHO_PAIR
}

MSIM_PAIR_CLONES static void msim_eam_rho2_slab(const double* X, const long* OF, const int* NB,
        const unsigned short* SC, const long* OR, long p0, long p1, const double* ST, const int* TY,
        const double* RH, long nr, long nel, double rdr, double cutsq, double* RHO) {
    if (nel == 1) msim_eam_rho2_impl(X, OF, NB, SC, OR, p0, p1, ST, TY, RH, nr, nel, rdr, cutsq, RHO, 1);
    else          msim_eam_rho2_impl(X, OF, NB, SC, OR, p0, p1, ST, TY, RH, nr, nel, rdr, cutsq, RHO, 0);
}

/* Pass C: a pair potential whose pair function reads the tables, F'(rho) of both atoms and the owner's
   element (tib). */
MSIM_AI void msim_eam_force2_impl(const double* X, const long* OF, const int* NB, const unsigned short* SC,
        const long* OR, long p0, long p1, const double* ST, const int* TY, const double* RH,
        const double* Z2, long nr, long nel, double rdr, double rc2, const double* FP, const double* BW,
        double* F, double* EN, const int HAS_BW, const int PER_ATOM, const int NEL1) {
    int tib[MSIM_B];          /* the owner's element of each batch entry */
    double fpb[MSIM_B];       /* the owner's F'(rho) of each batch entry */
#define MSIM_EAM_PAIR(M)                                                                                 \
    for (int k = 0; k < (M); k++) {                                                                      \
        double p, rhojp, c, phi;                                                                         \
        const int ti = NEL1 ? 0 : tib[k];                                                                \
        const int tj = NEL1 ? 0 : TY[b->jb[k]];                                                          \
        const double r = sqrt(b->r2b[k]);                                                                \
        const long row = msim_rindex(r, rdr, nr, &p);                                                    \
        const double* ci = RH + 7 * (ti * nr + row);                                                     \
        const double* cz = Z2 + 7 * ((ti * nel + tj) * nr + row);                                        \
        const double rhoip = (ci[0] * p + ci[1]) * p + ci[2];                                            \
        if (!NEL1 && tj != ti) {                                                                         \
            const double* cj = RH + 7 * (tj * nr + row);                                                 \
            rhojp = (cj[0] * p + cj[1]) * p + cj[2];                                                     \
        } else {                                                                                         \
            rhojp = rhoip;                                                                               \
        }                                                                                                \
        const double z2p = (cz[0] * p + cz[1]) * p + cz[2];                                              \
        const double z2 = ((cz[3] * p + cz[4]) * p + cz[5]) * p + cz[6];                                 \
        const double recip = 1.0 / r;                                                                    \
        phi = z2 * recip;                                                                                \
        const double phip = z2p * recip - phi * recip;                                                   \
        if (HAS_BW) {                                                                                    \
            c = (fpb[k] * rhojp + FP[b->jb[k]] * rhoip + b->wb[k] * phip) * recip;                       \
            phi = b->wb[k] * phi;                                                                        \
        } else {                                                                                         \
            c = (fpb[k] * rhojp + FP[b->jb[k]] * rhoip + phip) * recip;                                  \
        }                                                                                                \
        b->cb[k] = c;                                                                                    \
        b->pb[k] = PER_ATOM ? 0.5 * phi : phi;                                                           \
    }
    msim_batch bt;
    msim_batch* b = &bt;
    long pp = p0;
    while (pp < p1) {
        int m = 0, nrow = 0;
        while (pp < p1 && nrow < MSIM_B) {
            const long i = OR[pp];
            const long e0 = OF[i], e1 = OF[i + 1];
            const int ti = NEL1 ? 0 : TY[i];
            const double fpi = FP[i];
            if (e1 - e0 > MSIM_B - m) {
                if (nrow > 0) break;
                /* a row longer than a batch: alone, in pieces */
                const msim_v2 xi = msim_ld2(X + 2 * i);
                double ei = 0.0;
                msim_v2 fi = {0.0, 0.0};
                for (long c0 = e0; c0 < e1; c0 += MSIM_B) {
                    const long c1 = c0 + MSIM_B < e1 ? c0 + MSIM_B : e1;
                    const int mm = msim_gather2(X, NB, SC, ST, BW, HAS_BW, c0, c1, xi, rc2, 0, b, 0);
                    for (int k = 0; k < mm; k++) { tib[k] = ti; fpb[k] = fpi; }
                    MSIM_EAM_PAIR(mm)
                    msim_accum2(b, 0, mm, PER_ATOM, 0, F, EN, &ei, &fi);
                }
                EN[i] = EN[i] + ei;
                msim_st2(F + 2 * i, msim_ld2(F + 2 * i) + fi);
                pp++;
                break;
            }
            const int m0 = m;
            m = msim_gather2(X, NB, SC, ST, BW, HAS_BW, e0, e1, msim_ld2(X + 2 * i), rc2, m, b, 0);
            for (int k = m0; k < m; k++) { tib[k] = ti; fpb[k] = fpi; }
            b->rowi[nrow] = i;
            b->rowend[nrow] = m;
            nrow++;
            pp++;
        }
        if (nrow == 0) continue;
        MSIM_EAM_PAIR(m)
        int k0 = 0;
        for (int r = 0; r < nrow; r++) {
            const long i = b->rowi[r];
            double ei = 0.0;
            msim_v2 fi = {0.0, 0.0};
            msim_accum2(b, k0, b->rowend[r], PER_ATOM, 0, F, EN, &ei, &fi);
            k0 = b->rowend[r];
            EN[i] = EN[i] + ei;
            msim_st2(F + 2 * i, msim_ld2(F + 2 * i) + fi);
        }
    }
#undef MSIM_EAM_PAIR
}

MSIM_PAIR_CLONES static void msim_eam_force2_slab(const double* X, const long* OF, const int* NB,
        const unsigned short* SC, const long* OR, long p0, long p1, const double* ST, const int* TY,
        const double* RH, const double* Z2, long nr, long nel, double rdr, double cutsq, const double* FP,
        const double* BW, int per_atom, double* F, double* EN) {
#define MSIM_EAM_CASE(W, P, N) msim_eam_force2_impl(X, OF, NB, SC, OR, p0, p1, ST, TY, RH, Z2, nr, nel, rdr, \
                                                    cutsq, FP, BW, F, EN, W, P, N)
    if (nel == 1) {
        if (BW) { if (per_atom) MSIM_EAM_CASE(1, 1, 1); else MSIM_EAM_CASE(1, 0, 1); }
        else    { if (per_atom) MSIM_EAM_CASE(0, 1, 1); else MSIM_EAM_CASE(0, 0, 1); }
    } else {
        if (BW) { if (per_atom) MSIM_EAM_CASE(1, 1, 0); else MSIM_EAM_CASE(1, 0, 0); }
        else    { if (per_atom) MSIM_EAM_CASE(0, 1, 0); else MSIM_EAM_CASE(0, 0, 0); }
    }
#undef MSIM_EAM_CASE
}

#endif
