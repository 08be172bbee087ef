"""``atoms.velocity`` (Maxwell–Boltzmann) drawn per rank: each rank gets its own rows of the serial draw
without the serial model (issue 14, the per-rank build; docs/parallel.md "Initial velocities per rank").

The serial build (`build._initial_velocities`, build.py) draws
``maxwell_boltzmann(s.atom_mass[s.free], d, T, k_B, seed=stream_seed(master, "velocity", seed))``
(`md.velocities.maxwell_boltzmann`): over the serial model's free atoms in free-id order, the atoms with mass
> 0 ("live") take, in that order, consecutive rows of ONE PCG64 stream of standard normals
(``rng.standard_normal((n_live, d))``), scaled by sqrt(k_B T / m); the mass-weighted mean velocity is removed
and the result scaled so that the kinetic temperature is T exactly.

`maxwell_boltzmann_rows` gives a rank the same values for the rows it owns (free id, coupled mass: the
`parallel.rank_sites.RankSites` ``free_id`` / ``mass``, or the band system's floored masses), holding no
array over all atoms:

1. **place in the stream** (`stream_positions`): the free ids are cut into chunks of ``chunk`` ids; each
   rank counts its live rows per chunk and ONE allreduce of the (n_free / chunk,) counts gives every chunk's
   live count and (exclusive cumulative sum) the number of live atoms before it. In a chunk whose atoms are
   all live (the usual case: every non-pad atom has β̄ > 0, so mass > 0) a row's place is that offset + its
   id's position in the chunk. In a chunk holding massless free atoms ("mixed") the massless ids below the
   row's id are subtracted: the massless ids of the mixed chunks are allgathered in batches of at most
   ``chunk`` ids (one allgather when the model has ≤ chunk of them): O(chunk) buffers, O(n_massless)
   communication in all;
2. **the raw draws** (`normal_rows`): the generator is streamed in blocks of ``chunk`` rows of d normals,
   each block's owned rows picked, until the last owned place (numpy's ``standard_normal`` fills in C order
   from the bit stream: blocks give the bits of one big draw, `tests/parallel/test_initial_velocity.py`).
   The ziggurat consumes a variable number of PCG64 outputs per normal, so the stream cannot be skipped
   ahead: a rank draws every normal up to its last owned place — O(n_free · d) generator work on the rank
   holding the largest places (measured: docs/parallel.md), O(chunk · d) memory;
3. momentum removal and the exact rescale from allreduced sums (Σ m v and Σ m, then Σ m |v|²): one
   allreduce each. The raw draws and the per-atom scaling are bitwise the serial ones; the sums are taken in
   another order than the serial BLAS dot product / pairwise sum, so the result is the serial one to
   round-off (measured ≤ 2 ulps-level relative: the test asserts ≤ 1e-15 of max |v|).

Collective: every rank calls with the same ``n_free``, ``dim``, ``temperature``, ``seed`` and ``chunk``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["maxwell_boltzmann_rows", "normal_rows", "stream_positions"]

#: free ids per chunk of the counts (and normals' rows per streamed block): 2¹⁶ → 0.5 MiB int64 mask buffer
CHUNK = 1 << 16


def _allreduce(comm, a: np.ndarray) -> np.ndarray:  # noqa: ANN001
    return comm.allreduce_array(a) if comm.size > 1 else np.array(a, copy=True)


def stream_positions(free_id: np.ndarray, mass: np.ndarray, n_free: int, comm,  # noqa: ANN001
                     chunk: int = CHUNK) -> tuple[np.ndarray, int]:
    """(pos (m,) int64, n_live): each owned row's place among the model's live atoms (mass > 0) in free-id
    order, −1 for rows that take no draw (pads: free id < 0, or mass ≤ 0); n_live the model's live count.
    Collective (module docstring, step 1). free_id (m,) int64 in [0, n_free) or −1; mass (m,) [internal
    mass]. Each free id must be owned by exactly one rank (checked: the ranks' free rows must add up to
    ``n_free``)."""
    free_id = np.asarray(free_id, np.int64).reshape(-1)
    mass = np.asarray(mass, float).reshape(-1)
    if free_id.shape != mass.shape:
        raise ValueError("free_id and mass must have one entry per row")
    chunk = int(chunk)
    if chunk < 1:
        raise ValueError("chunk must be a positive number of free ids")
    n_free = int(n_free)
    own_free = free_id >= 0
    if own_free.any() and int(free_id[own_free].max()) >= n_free:
        raise ValueError("free ids must lie in [0, n_free)")
    live = own_free & (mass > 0.0)
    nc = -(-n_free // chunk) if n_free else 0
    fl = free_id[live]
    counts = np.zeros(nc + 1, np.int64)                # per-chunk live counts, then the owned free rows
    if fl.size:
        counts[:nc] = np.bincount(fl // chunk, minlength=nc)
    counts[nc] = int(np.count_nonzero(own_free))
    counts = _allreduce(comm, counts)
    if int(counts[nc]) != n_free:
        raise ValueError(f"the ranks own {int(counts[nc])} free rows, the model has {n_free}: every free "
                         "atom must be owned by exactly one rank")
    per = counts[:nc]
    size = np.full(nc, chunk, np.int64)
    if nc:
        size[-1] = n_free - chunk * (nc - 1)
    start = np.zeros(nc, np.int64)
    if nc > 1:
        start[1:] = np.cumsum(per[:-1])
    pos = np.full(free_id.shape, -1, np.int64)
    rows = np.flatnonzero(live)
    c = fl // chunk
    pos[rows] = start[c] + (fl - c * chunk)            # all-live chunks: the id's place in the chunk
    dead = size - per                                  # massless free atoms per chunk (every rank knows)
    mixed = np.flatnonzero(dead > 0)
    if mixed.size:
        # a live row of a mixed chunk k: its place − the massless ids of chunk k below its id. The massless
        # ids of the mixed chunks are allgathered in batches of consecutive mixed chunks holding at most
        # `chunk` of them (O(chunk) buffers; one batch when the model has ≤ chunk massless atoms)
        def grouped(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """(order, chunk of each in that order): ids grouped by chunk, no sort when already ordered."""
            k = ids // chunk
            o = np.arange(k.size) if bool(np.all(k[1:] >= k[:-1])) else np.argsort(k, kind="stable")
            return o, k[o]
        by, cs = grouped(fl)
        dl = free_id[own_free & ~live]                 # this rank's massless free ids
        dby, dcs = grouped(dl)
        dl = dl[dby]
        i = 0
        while i < mixed.size:                          # the same batches on every rank
            j, tot = i, 0
            while j < mixed.size and (j == i or tot + int(dead[mixed[j]]) <= chunk):
                tot += int(dead[mixed[j]])
                j += 1
            k0, k1 = int(mixed[i]), int(mixed[j - 1]) + 1
            a, b = np.searchsorted(dcs, [k0, k1])
            mine = np.ascontiguousarray(dl[a:b])
            parts = comm.allgather(mine) if comm.size > 1 else [mine]
            D = np.sort(np.concatenate(parts))
            a, b = np.searchsorted(cs, [k0, k1])
            sel = rows[by[a:b]]
            if sel.size:
                f = free_id[sel]
                pos[sel] -= np.searchsorted(D, f) - np.searchsorted(D, (f // chunk) * chunk)
            i = j
    return pos, int(per.sum())


def normal_rows(pos: np.ndarray, dim: int, seed: int | np.random.Generator, chunk: int = CHUNK) -> np.ndarray:
    """(m, dim) rows ``pos`` of ``default_rng(seed).standard_normal((n, dim))`` for any n > max(pos) (rows of
    pos < 0: zeros), streamed in blocks of ``chunk`` rows (module docstring, step 2): bitwise the big draw's
    rows. O(max(pos) · dim) generator work, O(chunk · dim + m) memory. Not collective."""
    pos = np.asarray(pos, np.int64).reshape(-1)
    out = np.zeros((pos.size, int(dim)))
    sel = np.flatnonzero(pos >= 0)
    if not sel.size:
        return out
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    order = sel[np.argsort(pos[sel], kind="stable")]
    p = pos[order]
    last = int(p[-1])
    chunk = int(chunk)
    i = 0
    for b0 in range(0, last + 1, chunk):
        n = min(chunk, last + 1 - b0)
        z = rng.standard_normal((n, int(dim)))
        j = int(np.searchsorted(p, b0 + n, side="left"))
        out[order[i:j]] = z[p[i:j] - b0]
        i = j
    return out


def maxwell_boltzmann_rows(free_id: np.ndarray, mass: np.ndarray, n_free: int, dim: int, temperature: float,
                           boltz: float, seed: int | np.random.Generator, comm,  # noqa: ANN001
                           exact: bool = True, chunk: int = CHUNK) -> np.ndarray:
    """(m, dim) velocities [length/time] of this rank's rows: the rows ``free_id`` of the serial
    ``maxwell_boltzmann(mass_all_free, dim, temperature, boltz, seed, exact)`` (`md.velocities`), where
    ``mass_all_free`` (n_free,) is the model's coupled masses in free-id order. Rows with free id < 0
    (pads) or mass ≤ 0 get 0. Collective (module docstring).

    free_id (m,) int64: index among the model's non-pad atoms (`RankSites.free_id`), −1 for pads;
    mass (m,) coupled mass [internal mass] (`RankSites.mass`, or floored); n_free the model's non-pad atoms;
    temperature [K]; boltz k_B [energy/K]; seed: the velocity stream's seed
    (``seeds.stream_seed(master, "velocity", seed)``).
    """
    free_id = np.asarray(free_id, np.int64).reshape(-1)
    m = np.asarray(mass, float).reshape(-1)
    dim = int(dim)
    pos, nl = stream_positions(free_id, m, n_free, comm, chunk)
    v = np.zeros((free_id.size, dim))
    if nl == 0 or temperature <= 0:
        return v
    idx = np.flatnonzero(pos >= 0)
    ml = m[idx]
    # the serial expression per row: N(0,1) · sqrt(k_B T / m) (elementwise: the same bits); compact rows
    z = normal_rows(pos[idx], dim, seed, chunk)
    z *= np.sqrt(boltz * temperature / ml)[:, None]
    if nl > 1:
        pm = np.zeros(dim + 1)
        pm[:dim] = ml @ z
        pm[dim] = ml.sum()
        pm = _allreduce(comm, pm)
        z -= pm[:dim] / pm[dim]
    if exact and nl > 1:
        dof = dim * nl - dim
        K = 0.5 * float(_allreduce(comm, np.array([np.sum(ml * np.sum(z ** 2, axis=1))]))[0])
        T_now = 2.0 * K / (dof * boltz)
        if T_now > 0:
            z *= np.sqrt(temperature / T_now)
    v[idx] = z
    return v
