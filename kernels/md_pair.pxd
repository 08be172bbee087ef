# cython: language_level=3
"""Shared half-list loop of the pair-potential kernels (cimported by kernels/pair_*.pyx and eam.pyx).

Energy ``E = sum_{a<b} w_ab phi(r_ab)``, each pair once in the half list (entry e: owner i, neighbour j,
dx = x_j - x_i + stab[scode[e]]). Newton's third law: c = w phi'(r)/r, f_i += c dx, f_j -= c dx, each atom gets
w phi / 2 of energy and -c/2 dx (x) dx of per-atom virial.

Cut-off test: the neighbour list puts each row's entries within the potential's cut-off first, then the
skin entries (kernels/cellscan.pyx), so ``r < rc`` is a well-predicted branch even in a hot, disordered
system (measured: a branch-free select, which evaluates the skin entries too, was slower).

Races and thread-count independence: owners are processed by SLABS of cells along the last axis
(``order``, ``slab_start`` from the neighbour list). A pair's neighbour lies in the owner's slab or the
next one, so the even slabs run in parallel, then the odd slabs; each slab runs serially in a fixed order
on one thread. Every atom therefore receives its contributions in the same order for any thread count:
bitwise identical results.

Specialised copies of this loop (same slab scheme, raw pointers, parameters in registers; used when no
per-atom virial is requested): pair_lj._lj3 (3D), pair_lj._lj2, pair_morse._morse2,
pair_harmonic._spring2 (2D), the 2D passes of eam (kernels/md_pair2d.h). Their ``compute(..., generic=True)``
runs the generic loop instead (the reference of tests/md/test_kernels2d.py: bitwise the same forces).
Measured (benchmarks/bench_md2d.py, 40 000-atom 2D LJ): the function-pointer loop spends 2.2x the CPU
time of pair_lj._lj2 (the pair function is called through a pointer inside the OpenMP region, so it is
never inlined, and every component goes through a ``d`` branch).
"""

from cython.parallel cimport prange

# pair function: given r^2, parameters p, returns phi and phi'(r)/r through the pointers;
# returns 0 beyond the cut-off (then nothing is added)
ctypedef int (*pairfn_t)(double r2, const double* p, double* phi, double* dphi_r) noexcept nogil


cdef inline void add_virial(double[:, ::1] virial, Py_ssize_t i, Py_ssize_t d, double c, double dx0,
                            double dx1, double dx2) noexcept nogil:
    """virial[i] += c * dx (x) dx (d x d, row-major)."""
    if d == 1:
        virial[i, 0] += c * dx0 * dx0
    elif d == 2:
        virial[i, 0] += c * dx0 * dx0
        virial[i, 1] += c * dx0 * dx1
        virial[i, 2] += c * dx1 * dx0
        virial[i, 3] += c * dx1 * dx1
    else:
        virial[i, 0] += c * dx0 * dx0
        virial[i, 1] += c * dx0 * dx1
        virial[i, 2] += c * dx0 * dx2
        virial[i, 3] += c * dx1 * dx0
        virial[i, 4] += c * dx1 * dx1
        virial[i, 5] += c * dx1 * dx2
        virial[i, 6] += c * dx2 * dx0
        virial[i, 7] += c * dx2 * dx1
        virial[i, 8] += c * dx2 * dx2


cdef inline void zero_outputs(double[:, ::1] forces, double[::1] energies, double[:, ::1] virial,
                              int n_threads) noexcept nogil:
    cdef Py_ssize_t n = forces.shape[0], d = forces.shape[1], i, k
    cdef bint has_v = virial.shape[0] > 0
    for i in prange(n, num_threads=n_threads, schedule="static"):
        energies[i] = 0.0
        for k in range(d):
            forces[i, k] = 0.0
        if has_v:
            for k in range(d * d):
                virial[i, k] = 0.0


cdef inline int pair_loop(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
                          const unsigned short[::1] scode, const long[::1] order,
                          const long[::1] slab_start, const double[:, ::1] stab,
                          const double[::1] bond_w, double[:, ::1] forces, double[::1] energies,
                          double[:, ::1] virial, pairfn_t fn, const double* p, bint per_atom,
                          int n_threads) noexcept nogil:
    """bond_w / virial may have length 0 (= all weights 1 / no virial). virial: (n, d*d).
    per_atom: energies[a] = half of each of a's bonds; otherwise the owner of each pair takes its whole
    energy (one store per owner instead of one per pair; the sum is the same E)."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, e, j, pp, q, s
    cdef Py_ssize_t nslab = slab_start.shape[0] - 1
    cdef bint has_w = bond_w.shape[0] > 0
    cdef bint has_v = virial.shape[0] > 0
    cdef double xi0, xi1, xi2, dx0, dx1, dx2, f0, f1, f2, ei, phi, dphi_r, w, c, eh
    cdef const double* ST = &stab[0, 0]    # image shift vector of entry e: ST[3 scode[e] + k]
    cdef int phase
    zero_outputs(forces, energies, virial, n_threads)
    for phase in range(2):
        for q in prange((nslab - phase + 1) // 2, num_threads=n_threads, schedule="dynamic"):
            s = phase + 2 * q
            for pp in range(slab_start[s], slab_start[s + 1]):
                i = order[pp]
                xi0 = x[i, 0]
                xi1 = x[i, 1] if d > 1 else 0.0
                xi2 = x[i, 2] if d > 2 else 0.0
                ei = 0.0
                phi = 0.0      # assigned here so that prange makes them thread-private
                dphi_r = 0.0
                f0 = 0.0
                f1 = 0.0
                f2 = 0.0
                for e in range(offsets[i], offsets[i + 1]):
                    j = neigh[e]
                    dx0 = x[j, 0] - xi0 + ST[3 * scode[e]]
                    dx1 = 0.0
                    dx2 = 0.0
                    if d > 1:
                        dx1 = x[j, 1] - xi1 + ST[3 * scode[e] + 1]
                    if d > 2:
                        dx2 = x[j, 2] - xi2 + ST[3 * scode[e] + 2]
                    if fn(dx0 * dx0 + dx1 * dx1 + dx2 * dx2, p, &phi, &dphi_r):
                        w = bond_w[e] if has_w else 1.0
                        c = w * dphi_r
                        if per_atom:
                            eh = 0.5 * w * phi
                            ei = ei + eh
                            energies[j] = energies[j] + eh
                        else:
                            ei = ei + w * phi
                        f0 = f0 + c * dx0
                        forces[j, 0] = forces[j, 0] - c * dx0
                        if d > 1:
                            f1 = f1 + c * dx1
                            forces[j, 1] = forces[j, 1] - c * dx1
                        if d > 2:
                            f2 = f2 + c * dx2
                            forces[j, 2] = forces[j, 2] - c * dx2
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
