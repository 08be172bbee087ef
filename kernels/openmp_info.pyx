# cython: language_level=3
"""What the compiled kernels were built with: OpenMP or not, and how many threads a parallel region gets.

Every kernel module is compiled with the same flags (setup.py), so this module answers for all of them.
`team_size(n)` opens a real `prange(num_threads=n)` region and returns the number of threads that ran in
it: a serial build (no OpenMP) returns 1 for any n, so tests of thread-count invariance can tell whether
they ran on more than one thread at all.
"""

from cython.parallel cimport prange

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define MSIM_OPENMP 1
    static int msim_max_threads(void) { return omp_get_max_threads(); }
    static int msim_num_threads(void) { return omp_get_num_threads(); }
    static int msim_openmp_version(void) { return _OPENMP; }
    #else
    #define MSIM_OPENMP 0
    static int msim_max_threads(void) { return 1; }
    static int msim_num_threads(void) { return 1; }
    static int msim_openmp_version(void) { return 0; }
    #endif
    """
    int MSIM_OPENMP
    int msim_max_threads() nogil
    int msim_num_threads() nogil
    int msim_openmp_version() nogil


def openmp_enabled():
    """True if the kernels were compiled with OpenMP."""
    return bool(MSIM_OPENMP)


def openmp_version():
    """The _OPENMP date macro of the compiler (e.g. 201511), 0 for a serial build."""
    return msim_openmp_version()


def max_threads():
    """omp_get_max_threads() (1 for a serial build)."""
    return msim_max_threads()


def team_size(int n_threads):
    """Number of threads that actually ran a ``prange(num_threads=n_threads)`` region (1 if serial)."""
    cdef int i, seen = 0
    cdef int counts[256]
    if n_threads < 1 or n_threads > 256:
        raise ValueError("team_size: n_threads must be in 1..256")
    for i in range(256):
        counts[i] = 0
    with nogil:
        for i in prange(n_threads, num_threads=n_threads, schedule="static", chunksize=1):
            counts[i] = msim_num_threads()
    for i in range(n_threads):
        if counts[i] > seen:
            seen = counts[i]
    return seen
