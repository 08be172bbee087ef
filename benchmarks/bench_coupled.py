"""Coupled dynamics at the cost of its atoms (issue 13): overhead, set-up and scaling, one thread.

Decks (generated here, LJ units, lj/cut r_c = 2.5σ shifted, skin 0.3σ, projected coupling with cubic
blend, `slave_below` 0.01, as decks/wave2d.yaml):

- ``2d``: hex lattice (a relaxed) filling the box ±L (L = 148: ~74 000 atoms kept, ~62 000 in the core
  |x|, |y| < L − 18), handshake of width 8σ around the core box ±(L − 18), graded tri3 mesh on ±4L
  (2σ elements up to the atoms, growth 1.1, at most L/5), hole ±(L − 20). Two meshes (``--mesh2``):
  ``grid``, the ``rectangle`` generator's tensor-product grid (30 096 nodes at L = 148: its size grows
  along one axis at a time, so the 2σ columns above and beside the atoms run out to the domain's edge,
  e.g. 9 744 nodes beyond ±300 ≈ 2L, where the ring mesh below has 1 528; the 2σ core also
  runs 7σ past the kept atoms), and ``ring`` (`ring_mesh`: the same hole, 2σ up to the kept atoms, then
  the same size rule in every direction, square rings joined by triangles; 11 892 nodes), the mesh a
  user grades around an atomistic box.
- ``3d``: fcc lattice (a relaxed), box ±L (L = 25: ~127 000 atoms kept, ~51 000 with β̄ = 1 in the
  core ±19), handshake width 4σ, graded hex8 mesh on ±4L (2.5σ elements up to the atoms, growth 1.2,
  at most L/3), hole ±17.
- "atoms alone": the same lattice filling the box of the kept atoms (core + handshake + r_c + skin),
  no mesh: plain MD through the same `Simulation` / `VelocityVerlet`.

Both start from the same small random velocities (0.01 σ/τ per component, seed 1; for the coupled model
projected onto the constraints) and run without loads, so the two do the same force work; no
neighbour rebuild happens in the timed steps. Timed: CPU time (``time.process_time``) of
``Simulation.from_deck`` + ``prepare`` + the first force evaluation (set-up), and of ``--steps``
velocity-Verlet steps (per step). Coupled and atoms-alone alternate; medians of ``--repeat``.

``--sweep 2d|3d``: the same decks at several half-widths L (``--sweep-sizes2/3``), one child process per size
(peak memory per size): coupled / alone step and set-up ratios (the alternated chunks above), the atoms by
class (core β̄ = 1, handshake, pads), nodes, constraint rows, µs per handshake atom, and fits of the ratios
against the core size (free exponent, and the handshake's 1/d).

``--scaling``: the 2D coupled deck at half-widths L (default 30 60 120 240; ``--scaling-max`` adds 480,
~10⁶ atoms + nodes), p = slope of log(time per step) and of log(set-up) against log(atoms + nodes).

Usage::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_coupled.py [--repeat 3] [--steps 10]
        [--only 2d|3d|3d-user|3d-default] [--mesh2 grid ring] [--chunks 15] [--scaling]
        [--sizes 30 60 120 240]
        [--sweep 2d 3d [--sweep-sizes2 60 100 148 210 300 420 590] [--sweep-sizes3 15 20 25 30 35 40] [--raw]]

Measured 2026-12-06 on the shared 2-core machine (load average 11-15 throughout: single figures move by
±20 %; the ratios come from alternating runs in one process), CPU time:

  2D overhead (73 677 atoms, 62 543 in the core, 30 096 tri3 nodes; atoms alone 73 983):
    main 53204af (``--repeat 2``):  step 27.3 / 11.9 ms = 2.30,  set-up 17.6 / 0.14 s = 126
    this version (``--repeat 3``):  step 10.9 / 6.4 ms  = 1.69,  set-up 6.5 / 0.12 s  = 53
    what is left of a coupled step beyond the atoms' (cProfile, CPU): the FE forces of the 30 096 nodes
    (~0.85 ms), one pair of triangular solves with the 7 440 multipliers (~0.85 ms), node kick/drift,
    pads (~0.45 ms), the handshake gathers (~0.3 ms). Set-up: the mesh's own (``ContinuumRegion`` built
    and ``set_blend`` run twice: node stencils 2 × ~2.7 s, tributary α integrals) is most of it; bond
    and atom weights ~1.5 s.
  branch cpl3d (2026-12-06, load average 16-17, CPU time):
    2D (``--only 2d --repeat 3``): step 10.19 / 6.09 ms = 1.68,  set-up 1.60 / 0.11 s = 14.3
      (set-up 2D profile, CPU: bond weights ~1.0 s, lattice relaxation 0.2 s (also alone), the rest
      < 0.1 s each; node stencils 1.1 s -> 0.05 s, tributary α integrals 1.4 s -> 0.16 s)
    3D (``--only 3d --repeat 2 --steps 5``; 135 493 atoms, 51 911 with β̄ = 1, 101 626 hex8 nodes;
      alone 150 381 atoms): step 183.7 / 61.7 ms = 2.98,  set-up 54.8 / 0.42 s = 131,
      ru_maxrss 2.8 GB (main: set-up not finished after 7 CPU-min, > 6.8 GB).
      With the convex-core shortcut (``--repeat 1 --steps 3``): step 211.3 / 71.7 ms = 2.95, set-up
      53.3 / 0.52 s = 103. Left in the 3D set-up (cProfile, CPU, 57 s): bond weights 32 s (the 17-point
      scan and 52-step bisection of the segments near the two level sets; box signed distance 11 s of
      it), the sparse factorisation of the Gram matrix of the projected rows 10.7 s (its fill is most of
      the memory, and its solves most of the step overhead), locating the atoms in the hex8 elements
      5.7 s, tributary α integrals 2.7 s, atom weights 2.3 s.
  branch setup3d (2026-12-06, load average 20-24 throughout, CPU time): compiled handshake geometry
    (kernels/handshake_geom.pyx: bond weights bitwise the NumPy ones), one factorisation of one block of
    the constraints' Gram matrix, Newton per point in the element location:
    3D (``--only 3d --repeat 2 --steps 3``): set-up 17.66 / 0.38 s = 47.0 (coupled 17.00-18.31),
      ru_maxrss 1.84 GB (2.8 GB before); step 167.1 / 64.6 ms = 2.59 (per-step path unchanged here).
      Set-up split (cProfile, CPU, 17.1 s): bond weights 6.0 s (the compiled kernel 3.9 s for both
      directions of every pair, 32 s before; the cache keys, sort and bond vectors 2.1 s), constraint
      projector 5.2 s (SuperLU of ONE 15 768-row block 2.5 s; before, the whole 47 304-row matrix was
      factorised for the rank test and a block again: 15.3 s for this projector), locating the 76 668
      handshake and pad atoms in the hex8 elements 0.85 s (5.7 s), tributary α integrals 1.2 s, node
      stencils 1.0 s, atom weights 0.64 s.
    2D (``--only 2d --repeat 3 --steps 5``): set-up 0.96 / 0.12 s = 7.8 (coupled 0.96-1.01),
      step 8.67 / 5.11 ms = 1.70.
  branch step2d (2026-12-06, load average 15-24, CPU time; measured before setup3d's merge): the per-step coupler compiled
    (kernels/coupler.pyx: pads, pad forces, residual, block solve + correction, acceleration + kick in one
    pass), unit-weight rows of the 2D pair kernels not weighted, multiplier factor in METIS order with a
    fused 3-column solve:
    2D (``--only 2d --repeat 5 --steps 40``): step 7.36 / 4.82 ms = 1.53 (coupled 7.0-7.9, alone 4.7-6.2);
      main and this branch alternated in separate processes (3 + 3 runs, 3 x 40 steps each, load 15-17):
      main 1.68 / 2.07 / 1.83, this branch 1.51 / 1.57 / 1.42 (coupled 8.9-11.1 -> 7.2-9.4 ms).
      Left beyond the atoms' step (process-time breakdown, 20-step medians): FE forces of the 30 096
      nodes ~0.7 ms, the weighted rows of the pair kernel ~0.6 ms, residual + block solve + correction
      ~0.47 ms, round-off re-projection check ~0.17 ms, node kick/drift ~0.15 ms, pads ~0.2 ms.
    3D (``--only 3d --repeat 1 --steps 3``): step 122.7 / 82.6 ms = 1.49 (one run; was 2.95-2.98), set-up
      47.0 / 0.46 s = 103; the block factor's L 8.50M -> 5.39M entries (nested dissection), one
      3-column solve 54 -> 20 ms (SuperLU's own solve of the MMD factor: 141 ms).
    the same after rebasing onto main a8f5f6b (with setup3d's set-up), load 4-8:
    3D (``--only 3d --repeat 2 --steps 5``): step 105.8 / 60.8 ms = 1.74 (coupled 105.6-106.0, alone
      60.3-61.4), set-up 14.9 / 0.34 s = 44; (``--repeat 1 --steps 3``, load 6-8: 162.0 / 55.8 = 2.90,
      one noisy run); the multiplier correction (residual + 3-column solve + Gᵀλ) 20 ms per step (58 ms
      with the minimum-degree factor and the one-column loop).
    2D (``--only 2d --repeat 5 --steps 40``): step 7.97 / 4.65 ms = 1.72 (coupled 7.7-8.3, alone
      4.4-5.2, load 7.6); in one process, 5 x 40 steps alternated: 6.77 / 4.59 ms = 1.47 (load 4.6).
  branch step2d, second session (2026-12-06, load average 15-21, CPU time): the 2D pair kernels run one
  unweighted pair pass per batch and scale the weighted rows' entries after it (the same bits; weighted
  overhead of the pair call 0.51 -> 0.30 ms, isolated); irregular meshes take per-node stencils (the ring
  mesh's FE forces 1.82 -> 0.86 ms per step); the ``ring`` row.
    2D, one process per run, 10-step chunks of the three models alternated 15 times (medians), main and
    this branch alternated in separate processes (3 + 3 runs, load 19-21):
      grid: main 1.55 / 1.47 / 1.50, this branch 1.46 / 1.45 / 1.43 (coupled 7.1-7.6 -> 7.0-7.4 ms,
            alone 4.8-5.1 ms)
      ring: main 1.69 / 1.65 / 1.63, this branch 1.49 / 1.41 / 1.44
    the same after rebasing onto main 9c143e1 (load 11-14): grid main 1.50 / 1.50 / 1.53, this branch
      1.45 / 1.31 / 1.49; ring main 1.57 / 1.74 / 1.62, this branch 1.45 / 1.25 / 1.38 (the 1.31 / 1.25 run
      had a slow atoms-alone figure, 6.3 ms). Medians of the 6 + 6 runs: grid 1.50 -> 1.45, ring 1.64 -> 1.42.
    ``--only 2d --repeat 3 --steps 10 --chunks 15`` (load 13-14): grid 7.45 / 5.24 ms = 1.42, ring
      7.34 / 5.42 ms = 1.35 (set-up 0.96 / 0.11 s = 8.7 and 0.59 / 0.11 s = 5.3, the ring's read from VTU).
    ``--only 2d --repeat 5 --steps 40`` (load 15-16): grid 7.57 / 5.90 ms = 1.28, ring 8.22 / 5.94 ms = 1.38
      (alone 4.7-6.6 ms over the repeats: single runs are noise at this load; the alternation above is
      the figure to quote).
    Left beyond the atoms' step (cProfile, CPU, grid, load ~14): FE forces ~0.8 ms (0.50 ms isolated),
      multiplier block solve + correction ~0.37 ms, the two residuals (accelerations, round-off check)
      ~0.33 ms, pads ~0.2 ms, node kick/drift and copies ~0.2 ms, weighted pair rows ~0.1-0.3 ms.
  branch step2d, third session (2026-12-06, load average 10-14, CPU time): the multiplier solve's rows in
  two partial sums (kernels/lu_solve.pxd, 2D and 3D: round-off change; the 2D solve 0.181 -> 0.134 ms, min
  of 25 x 50 calls, main and this build alternated as separate processes), constraint residual and Gᵀλ
  two CSR rows at a time (bitwise; 0.084 -> 0.078 ms), d = 2 single stencil nodes two at a time (bitwise;
  the grid's indexed stencil nodes 0.229 -> 0.168 ms, relative 0.175 -> 0.160 ms), rows whose bond
  weights are all 0 (614 pad rows at L = 60) skipped by the 2D pair kernels (bitwise).
    2D (``--only 2d --repeat 1 --steps 10 --chunks 15``), main and this branch alternated in separate
    processes, 5 + 5 runs (load 10-14): grid main 1.425 / 1.430 / 1.489 / 1.519 / 1.400 (median 1.430),
      this branch 1.375 / 1.417 / 1.450 / 1.368 / 1.394 (median 1.394); ring main 1.456 / 1.490 / 1.432 /
      1.446 / 1.403 (1.446), this branch 1.356 / 1.472 / 1.399 / 1.408 / 1.431 (1.408).
    ``--only 2d --repeat 3 --steps 10 --chunks 15``, alternated (load 6.5-8.4): grid main 1.437 / 1.549,
      this branch 1.386 / 1.368 / 1.448; ring main 1.451 / 1.454, this branch 1.279 / 1.347 / 1.301.
  branch step2d, fourth session (2026-12-07, load average 13-24, CPU time): entries of bond weight
  exactly 0 in weighted rows left out of the 2D pair kernels' batches (7 868 of the 99 034 entries of the
  10 977 weighted rows; the 3D kernel already did this; bitwise), the pads' forces summed by rows of
  N_padᵀ (no scratch; 0.033 -> 0.027 ms), the mid-step pad update without the pads' velocities when
  nothing reads them before the end-of-step update (0.025 -> 0.017 ms); all bitwise main's arrays on
  this bench (L = 60, 200 steps) and decks/wave2d.yaml (300 steps). The weighted rows' cost over the
  unweighted call (paired in one process, medians of 40, main and this build alternated as separate
  processes, 3 + 3): main 0.60 / 0.52 / 0.66 ms, this branch 0.46 / 0.43 / 0.37 ms.
    Tried and dropped: the nodes' half-kick in the FE stencil loop for the 26 090 of 30 096 grid nodes
    away from the pads and constraints (FE forces + node kick 0.51 -> 0.64 ms, min of 25 x 20 calls: the
    kick's three extra streams in the stencil loop cost more than the separate pass), four partial sums
    per row in the multiplier solve (2D 0.134 -> 0.124 ms, 3-column loop unchanged: the solve is now
    bound by its gathers, not by the add chains).
    ``--only 2d --repeat 1 --steps 10 --chunks 15``, main and this branch alternated in separate
    processes, 5 + 5 runs (load 18-24): grid main 1.479 / 1.358 / 1.532 / 1.462 / 1.463 (median 1.463),
      this branch 1.400 / 1.412 / 1.506 / 1.572 / 1.601 (1.506); ring main 1.511 / 1.291 / 1.349 / 1.404 /
      1.371 (1.371), this branch 1.364 / 1.458 / 1.376 / 1.337 / 1.502 (1.376): at this load single runs
      move by ±10 %, ten times what the changes save (~0.1-0.15 ms of ~7.5 ms). Again after rebasing
      onto main 1a66c78, 10 + 10 runs (load 1.4-7): grid main median 1.468 (1.349-1.632), this branch
      1.453 (1.441-1.598); ring main 1.385 (1.338-1.460), this branch 1.349 (1.156-1.451).
  branch step2d3 (2026-12-07, load average 17-26, CPU time): the round-off check of G q made in the
  acceleration residual's pass over G (`coupler.residual_acc_q`: G a and G q in one pass, bitwise the two
  separate residuals), after the forces, when nothing but the drift moves the constrained dofs (no imposed
  motion, no velocity operators); a due correction is applied there (bitwise the old trajectory at steps
  without one; L = 60, 200 steps, 4 corrections: positions within 5.7e-14, velocities 6.2e-13, the same
  size as a 1-ulp change of one atom's start position gives: 5.7e-14 / 8.5e-13).
    In one process, the same model stepped in 10-step chunks with the check before / after the forces
    alternated (21 + 21 chunks, medians): grid 6.91 -> 6.75 ms (paired difference 0.18 ms), ring 6.97 ->
    6.79 ms (0.20 ms); 3D at L = 12 (``deck(3, 12)``, 11 + 11 chunks) 14.46 -> 14.00 ms (0.39 ms).
    ``--only 2d --repeat 1 --steps 10 --chunks 15``, main and this branch alternated in separate processes,
    4 + 4 runs (load 18-26): grid main 1.720 / 1.779 / 1.589 / 1.730 (median 1.725; coupled median 8.02 ms),
      this branch 1.554 / 1.715 / 1.711 / 1.645 (1.678; 7.62 ms); ring main 1.577 / 1.567 / 1.430 / 1.591
      (1.572; 7.27 ms), this branch 1.380 / 1.567 / 1.608 / 1.501 (1.534; 7.17 ms): the change (~0.2 ms of
      ~7 ms) is below the single-run noise at this load; the in-process pairs above are the figure.
    Checked and not changed: the bench mesh's material is the default ``linear`` (C from the potential),
      every element takes the stencil path (no nonlinear or per-point element; 512 general nodes through
      ``node_forces``, 0.005 ms); the FE cost is the 30 096 nodes' stencils (4 468 types, 1 MB of blocks:
      0.31 ms hot, 0.6-0.7 ms inside a step). The weighted pair rows already run in the main pair pass
      (``msim_wfix``): one vectorised whole-batch scaling instead of the per-row loops changed nothing
      (weighted - unit-flagged call 0.253 -> 0.242 ms, within noise; not kept).
  branch step3d (2026-12-06, load average 11-18, CPU time; the 3D per-step path): the 3D LJ pair kernel
    skips the weights of unit-weight rows and the entries of weight 0 (16 % of the 3D handshake's 5.5M
    list entries, pad-pad bonds; bitwise the same forces), and the round-off re-projection of G q also
    removes the drift of G v (the drift of G v, round-off of the multiplier solves, was what made G q
    cross its tolerance; each re-projection is a multiplier solve of ~18 ms): 41 coupled steps at L = 25,
    main 31 re-projections, 122.8 ms per step; this branch 5 (two solves each), 108.7 ms (load 13-14;
    L = 12: 369 of 400 -> 44 of 400). Main and this branch alternated in separate
    processes (``--only 3d --repeat 2 --steps 10``): main 1.705 / 1.709, branch 1.919 / 1.620 (coupled
    115-131 ms, alone 61-73 ms: the load moved single figures by ±15 %, more than the change).
    The 3D mesh: a tensor-product grid keeps every line of the fine core (2.5σ, 27 lines within ±L,
    13 of them inside the hole) out to ±4L, and grows only 1.2 up to L/3 = 8.3σ: 47 lines per axis,
    101 626 nodes for 135 493 atoms, the FE forces ~19 ms of a step. ``--only 3d-user`` is the same deck
    with the far field graded as a user would (growth 1.5 up to L: 35 lines, 40 678 nodes; the mesh
    within ±L unchanged; FE forces 12 instead of ~19 ms per step): main 1.764 / 1.763, branch
    1.655 / 1.541 (coupled 99-112 ms vs 108-117).
  branch step3d, second session (2026-12-06, load average 7-15, CPU time; the 3D per-step path): the
    multipliers through an augmented system that eliminates the strong rows locally
    (`projector._AugSolve`: 3 blocks of 10 838 unknowns, 5.73M factor entries instead of 15 768 rows and
    10.75M; multiplier correction 19.5 -> 12.2 ms in one process, multipliers within 4e-15 relative,
    residual |A lam - r| 1.8e-14 vs 2.5e-14; +1.1-1.6 s of set-up), the relative node stencils of the
    graded 3D grid visited type by type, 4 nodes of a type at once (15 561 types, 30 MB of blocks; FE
    forces 18.0 -> 14.6 ms in one process, bitwise). Main and this branch alternated in separate
    processes (``--repeat 2 --steps 10``, two runs each):
      3d:          main 1.879 / 1.573 (coupled 119.5 / 118.0 ms), branch 1.447 / 1.469 (101.9 / 97.3 ms);
                   a third pair (load 7-9): main 1.862 (126.8 ms), branch 1.386 (97.2 ms); set-up
                   12.99 / 12.76 s; after rebasing onto main 9c0df2a (step2d's solve), load 0.8-2.9:
                   main 1.665 / 1.443 (111.6 / 108.8 ms), branch 1.459 / 1.495 (95.3 / 104.1 ms), set-up
                   main 11.4 / 12.1 s, branch 12.5 / 13.3 s; correction 18.1 -> 11.5 ms in one process
      3d-user:     main 1.424 / 1.331 (103.4 / 112.9 ms), branch 1.345 / 1.317 (100.1 / 96.6 ms)
      3d-default:  main 1.393 / 1.665 (99.0 / 108.6 ms), branch 1.385 / 1.428 (103.7 / 97.0 ms)
    (alone 63-85 ms over all runs: single ratios move by ±15 %). ``3d-default`` (slave_below 1e-3, the
    physics default): 28 440 rows instead of 47 304, Gram factor 6.00M entries, correction 12.5 ms on
    main already; the augmented system gives nothing there (6.19M) and is not taken.
  branch step3d, third session (2026-12-07, load average 14-25, CPU time): the 3 904 per-quadrature-point
    handshake elements of the 3D deck (hex8, linear material) through a hex8 loop of fixed lengths
    (kernels/fem_forces.pyx ``_qp_linear_hex8``; the same sums in the same order: bitwise, 20-step 3D
    trajectories at L = 12 identical to main's): ``linear_qp`` 4.7 -> 1.9 ms in one process (main's .so
    and this one alternated, medians of 5 x 20 calls), 0.87-1.43 -> 0.34-0.37 ms at L = 12 (784
    elements, separate processes, 3 + 3). Tried and not kept: L's column indices as runs of consecutive
    columns in the augmented solve (2.87M entries in 93 336 runs; bitwise) made it slower, 13.0 -> 14.1 ms
    (U's rows, L's columns, have runs of 3.5 entries: with both as runs 14.7 -> 16.6 ms): the solve is
    bound by its row sums, not by the index traffic. Main and this branch alternated in separate
    processes (``--only 3d --repeat 2 --steps 10``, 5 + 5 runs, load 12-22): main 1.395 / 1.283 / 1.679 /
    1.324 / 1.522 (median 1.395; coupled 101.5 / 101.4 / 118.3 / 102.3 / 109.1 ms, median 102.3), branch
    1.112 / 1.407 / 1.475 / 1.496 / 1.419 (median 1.419; coupled 97.2 / 108.3 / 104.1 / 97.9 / 94.8 ms,
    median 97.9); two more pairs at load 2.5-5: main 1.388 / 1.585 (96.4 / 128.5 ms), branch 1.328 / 1.170
    (102.1 / 94.9 ms). Medians of the 7 + 7: ratio main 1.395, branch 1.407; coupled step 102.3 -> 97.9 ms.
    Single runs move by +-20 % (alone 63-105 ms), more than the ~3 ms gained.
  branch setup (2026-12-06, load average 12-21 throughout, CPU time): certified single-box shortcuts in
    the bond-weight kernel (kernels/handshake_geom.pyx; bond weights bitwise the same on the bench models
    and every deck with a handshake). main and this branch alternated in separate processes:
    3D (``--only 3d --repeat 2 --steps 3``): set-up main 13.72 / 0.37 s = 37.3, 14.03 / 0.38 s = 36.5;
      this branch 12.74 / 0.43 s = 29.5 (an earlier state of the branch, without the finite-box path:
      14.26 / 0.37 s = 38.2; single figures move by ~1 s at this load).
    2D (``--only 2d --repeat 3 --steps 5``): set-up main 0.82 / 0.11 s = 7.3, 0.95 / 0.11 s = 8.5; this
      branch 0.95 / 0.14 s = 6.6, 0.84 / 0.13 s = 6.7 (no change of the coupled set-up beyond the noise:
      the 2D kernel is ~0.13 s of it).
    The bond-weight kernel alone on the 3D bench's 5 504 640 pairs, main's and this build loaded in one
    process, alternating (load 10-14): 4.12 -> 3.19 s. Instructions (callgrind, a random 250 000 of
    those pairs, one kernel per process; no hardware counters here): 1.759e9 -> 1.320e9 (-25 %).
    (Two A/B scripts that loaded main's .so by path and then this tree's by import measured no
    difference; callgrind shows they ran the same instructions for both, i.e. main's code twice.)
    Shape evaluations on the 3D bench (counted with an instrumented build):
    scan samples 59.3 M -> ~13 M, bisection 34.2 M for 1.85 M roots (up to 52 each before, ~90 M, not
    counted), regula falsi + window checks 6.5 M, Gauss points 38.7 M before the skip of certain ones.
    Left in the 3D set-up (cProfile, CPU, load ~10, 13.7 s before): bond-weight kernel ~3.2 s, constraint
    projector 3.5 s (SuperLU 1.0 s, strict triangles 0.56 s, nested dissection 0.33 s), tributary α
    integrals 1.3 s (α at the sub-points 0.59 s), interpolation matrix 0.95 s (locate 0.78 s), node
    stencils 0.82 s, bond keys 0.27 s.
  branch setup, second session (2026-12-06, load average 6-14, CPU time): bond pairs with both atoms deep
    inside a convex core skip the bond-weight kernel and their bond vectors (``certain_unit``: 560 553 of
    658 019 2D pairs, 2 339 214 of 5 504 640 3D pairs have weight 1), the multiplier factor's strict
    triangles in one compiled transposing pass (kernels/sparse_setup.pyx) instead of two CSC -> CSR
    conversions and masks, point location tries the unique nearest centroid first; all bitwise the same
    (weights, factor arrays, elements and ξ). In-process A/B of the parts (main's code loaded by path,
    load 13-14): 3D projector 2.86 / 2.75 -> 2.76 / 2.42 s (2.97 / 2.94 -> 2.36 / 2.06 s in another
    run), 3D location of the 76 668 handshake + pad atoms 0.61 -> 0.41 s, 2D bond weights
    0.16 -> 0.10 s, 3D 3.7 -> 3.5 s.
    main and this branch alternated in separate processes:
    2D (``--only 2d --mesh2 grid --repeat 3 --steps 5``, load 11-13): set-up main 0.79 / 0.11 s = 7.2,
      0.93 / 0.13 s = 7.1; this branch 0.66 / 0.13 s = 5.2, 0.69 / 0.12 s = 5.7.
    3D (``--only 3d --repeat 2 --steps 3``, load 8-13): main 12.41 / 0.40 s = 31.0, 13.40 / 0.48 = 28.0;
      this branch 12.60 / 0.43 = 29.6, 13.10 / 0.42 = 31.4; again at load 6-8: main 12.69 / 0.46 = 27.5,
      11.72 / 0.39 = 30.4, this branch 11.69 / 0.40 = 29.0, 11.91 / 0.39 = 30.2. Medians of the coupled
      set-up over the 4 + 4 runs: 12.55 s (main) and 12.25 s (this branch): single figures spread over
      11.1-14.7 s, so the ~1.2 s that the parts save (measured in-process) does not show reliably.
  2D scaling (``--scaling --sizes 30 60 120 240`` and ``--sizes 480``, one run each):
    atoms+nodes   6 809 / 21 111 / 70 795 / 254 561 / 944 671
    step [ms]      0.89 /  4.01 / 11.00 /  29.99 / 147.87
    set-up [s]     1.10 /  2.84 /  5.72 /  10.72 /  30.88
    p (step) = 0.99 over 6.8e3-9.4e5 (0.93 over 2e4-1e6; successive 1.33, 0.83, 0.78, 1.22),
    p (set-up) = 0.65.
  Size sweep (branch scale, 2026-12-07, load average 10-25 throughout: single ratios move by ±10-15 %),
  ``--sweep 2d --repeat 2 --steps 10 --chunks 3`` (every fix of the branch) and ``--sweep 3d --repeat 1
  --steps 5 --chunks 5``: one child process per size, coupled and alone alternated in chunks, CPU time;
  "non-core" = handshake (0 < β̄ < 1) + pad atoms over all atoms; overhead = (coupled − alone) step time per
  handshake + pad atom (it also carries the mesh, whose nodes grow with the handshake here):
    2D  L  core atoms  non-core  nodes    step ratio  set-up ratio  overhead/hs atom  peak RSS coupled / both
       100     24 759    0.220   19 680     1.622       5.77          0.26 µs          174 / 245 MB
       148     62 543    0.151   30 096     1.406       6.61          0.20 µs          234 / 386 MB
       300    295 717    0.074   67 320     1.322       6.15          0.33 µs          411 / 770 MB
       590  1 216 403    0.039  142 728     1.124       4.06          0.22 µs         1028 / 2369 MB
      (an earlier run, part of the fixes, --repeat 2 --chunks 7: 60 / 100 / 148 / 210 / 300 / 590:
       step 1.93 / 1.56 / 1.51 / 1.35 / 1.25 / 1.17, set-up 4.5 / 6.2 / 6.9 / 6.1 / 6.1 / 3.6; its L = 420
       row, 0.46, was a glitch: re-run alone 1.08, set-up 5.1)
    3D  L  core atoms  non-core  nodes    step ratio  set-up ratio  overhead/hs atom  peak RSS
        15      4 631    0.838   42 750     1.83        23.1          0.49 µs           502 MB
        20     21 437    0.673   68 192     2.20        30.5          1.1 µs            831 MB
        25     51 911    0.617  101 626     1.45        34.1          0.43 µs          1292 MB
        30    113 491    0.500  143 964     1.49        33.8          0.53 µs          1364 MB
        35    194 509    0.479  175 932     1.61        25.5          0.67 µs          2668 MB
    Fits (ratio − 1 = A N_core^−q): 2D step q = 0.38-0.45 free (1.10 at 1.9-3.1 M core atoms), q = 1/2
    fixed 1.10 at 1.3-1.6 M; 2D set-up q = 0.1-0.2 free: a per-atom part remains, two-term model
    t = 1.83 µs N + 3.0 ms √N (alone 1.1 µs N): set-up ratio → 1.7, 2 at ~6·10⁷ core atoms. 3D: the step
    ratio does not fall over 52 k-195 k core atoms (overhead per handshake atom 0.43 → 0.67 µs): at L = 35
    the graded grid has 24 325 node-stencil types (47 MB of blocks), over `build_stencils`' caps (20 000
    types, the element stiffness' 22.6 MB), so all 175 932 nodes take the element path: FE forces 72-78 ms
    per step instead of 26-34 ms with the stencils (one process, caps lifted by hand; cProfile L = 25 -> 35:
    FE forces 16 -> 79 ms per step for 1.73x the nodes, multipliers 12 -> 33 ms for 2.1x the rows). With
    q = 1/3 fixed, 1.10 at ~1.3·10⁷ and set-up 2 at ~10⁹ core atoms. Largest 3D run: L = 35 (373 495 atoms,
    175 932 nodes, 2.67 GB peak, coupled set-up 28 s CPU); L ≈ 45 would fit in ~6 GB (RSS ∝ L³), not run.
  branch step4 (2026-12-07, load average 8-18, CPU time).
    2D at 1.2 M and 3.0 M core atoms (``--sweep 2d --sweep-sizes2 590 920 --repeat 3 --steps 10 --chunks 5``,
    one child process per size, 15 alternated chunks per size; two invocations, and a third of L = 920 with
    ``--repeat 2``):
      L = 590 (1 216 403 core atoms, 1 266 325 atoms, 142 728 nodes): step 76.6 / 67.3 ms = 1.139 (load 8),
        79.5 / 65.2 ms = 1.220 (paired chunk ratios 1.143-1.276, load 18); in ``--widths`` below 1.173
      L = 920 (3 030 085 core atoms, 3 105 367 atoms, 238 328 nodes, 50 276 rows; alone 3 103 573 atoms):
        step 177.9 / 160.0 ms = 1.112 (coupled 175.1-181.5, alone 157.1-162.1; load 10),
        175.6 / 156.9 ms = 1.120 (paired chunk ratios 1.109-1.152; load 16), 175.2 / 156.9 ms = 1.116
        (1.092-1.148, ``--repeat 2``, load 14): median 1.116; set-up 11.9 / 3.7 s = 3.2, 12.5 / 3.5 s = 3.5,
        11.9 / 3.7 s = 3.2; overhead 0.24-0.25 µs per handshake + pad atom; peak RSS coupled 1.97 GB,
        both models 5.1-5.9 GB.
    Handshake width (``--only 2d --widths 8 6 4 3 2.8 --repeat 2 --chunks 10 --steps 10``, all ten models
    alternated in one process, paired chunk ratios, n = 20, load 8-9): width 8 (the bench's) 1.679
    (1.607-1.844), 6: 1.669, 4: 1.508 (1.415-1.649), 3: 1.516, 2.8: 1.518 (coupled 7.22 -> 6.22 ms, alone
    4.25 -> 4.08 ms: the atoms-alone box shrinks with the handshake too). L = 590 (``--L2 590 --widths 8 4
    --repeat 2 --chunks 5``, load 14-18): 1.173 (1.055-1.202) -> 1.150 (1.126-1.177). 3D (``--only 3d
    --widths 4 3 2.8 --repeat 2 --chunks 5 --steps 5``, load 9-12): 1.860 (1.817-1.909) / 1.842 / 1.840
    (coupled 77.9 / 69.2 / 64.2 ms, alone 41.6 / 37.9 / 34.8 ms: 62 % of the 3D atoms are handshake + pads,
    so the alone model shrinks nearly as much as the coupled one). What the thinner handshakes cost in
    reflection and ghost forces: `benchmarks/handshake_width.py` (2-10x the reflection in 2D; not proposed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from multiscale.deck.deck import load_deck_text  # noqa: E402
from multiscale.plugins import load_all  # noqa: E402
from multiscale.simulation import Simulation  # noqa: E402

HEAD = """msim: 1
units: lj
title: bench_coupled
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
integrator: {type: verlet, dt: 0.005, steps: 10}
output: {every: 1000, thermo_every: 1000, fields: [displacement]}
"""


def _box(lo: float, hi: float, dim: int, typed: bool = False) -> str:
    kind = "type: box, " if typed else ""
    return f"{{{kind}lo: [{', '.join([f'{lo:g}'] * dim)}], hi: [{', '.join([f'{hi:g}'] * dim)}]}}"


def deck(dim: int, L: float, coupled: bool, mesh_file: str | None = None, grading: str = "bench",
         slave_below: float = 0.01, width: float | None = None) -> str:
    """Deck text: the coupled model of half-width L, or the same atoms alone. ``mesh_file``: the 2D coupled
    model on that mesh (`ring_mesh`) instead of the tensor-product grid. ``grading`` (3D): "bench" the
    row's grid (growth 1.2, far elements at most L/3), "user" the far field graded as a user would
    (growth 1.5, far elements up to L: 40 678 instead of 101 626 hex8 nodes at L = 25; the same grid
    within ±L). ``slave_below``: the coupling's (the rows' 0.01; ``--only 3d-default``: the physics
    default 1e-3, fewer strong rows). ``width``: the handshake width [σ] (default 8 in 2D, 4 in 3D); the core
    box, the mesh and its hole stay, the kept atoms (and the atoms-alone box) end r_c + skin past the
    handshake (`benchmarks/handshake_width.py` measures what a thinner handshake costs in accuracy)."""
    w_arg = width
    if dim == 2:
        lattice, width, core_size, growth, gap, hole_gap = "hex", 8.0, 2.0, 1.1, 18.0, 20.0
        element, mesh = "tri3", "rectangle"
        far = max(2.0, L / 5)
    else:
        lattice, width, core_size, growth, gap, hole_gap = "fcc", 4.0, 2.5, 1.2, 6.0, 8.0
        element, mesh = "hex8", "box"
        far = max(2.5, L / 3)
        if grading == "user":
            growth, far = 1.5, max(2.5, L)
    if w_arg is not None:
        width = float(w_arg)
    core = L - gap                      # the atomistic core box ±core
    reach = 2.5 + 0.3
    kept = core + width + reach         # the atoms the coupled model keeps
    # the coupled model's atoms must hold every site within the cut-off of a weighted handshake atom (the
    # build refuses missing pads): in 3D core + width + r_c = L + 0.5 > L; at L = 25 no lattice site lies
    # in that 0.5σ (the model is the one measured before), at L = 16, 20 there are (refused with ±L)
    region = max(L, core + width + 2.5) if coupled else kept
    text = HEAD + f"""atoms:
  lattice: {{type: {lattice}, a: relaxed}}
  region: {_box(-region, region, dim, typed=True)}
  mass: 1.0
  skin: 0.3
"""
    if coupled and mesh_file is not None:
        text += f"""continuum:
  mesh: {{type: file, path: {mesh_file}}}
"""
    elif coupled:
        text += f"""continuum:
  mesh:
    type: {mesh}
    element: {element}
    lo: [{', '.join([f'{-4 * L:g}'] * dim)}]
    hi: [{', '.join([f'{4 * L:g}'] * dim)}]
    size: {far:g}
    core: {_box(-L, L, dim)}
    core_size: {core_size:g}
    growth: {growth:g}
    hole: {_box(-(L - hole_gap), L - hole_gap, dim)}
"""
    if coupled:
        text += f"""handshake:
  shape: {_box(-core, core, dim, typed=True)}
  width: {width:g}
  blend: {{type: cubic}}
  coupling: {{type: projected, slave_below: {slave_below:g}}}
"""
    return text


def ring_mesh(path: str, L: float) -> int:
    """The 2D bench mesh graded the way a user grades a mesh around an atomistic box (the ``ring`` rows):
    square rings of nodes, the same hole ±(L − 20), 2σ elements up to the first ring past the kept atoms
    (half-width L − 18 + 8 + 2.8), then the element size of the grid's rule h = min(L/5, 2 + 0.1·d) at
    distance d from there, out to ±4L; consecutive rings are joined by triangles (a "zipper" on the
    rings' arc-length parameter). Unlike the tensor-product grid of the ``rectangle`` generator, the size
    grows in every direction, not along one axis only (the grid keeps 2σ columns out to the domain's
    edge). Written with meshio (VTU) to ``path``; returns the number of nodes."""
    import meshio
    cs, growth, size = 2.0, 1.1, max(2.0, L / 5)
    hole, outer = L - 20.0, 4.0 * L
    fine = hole + cs * np.ceil((L - 18.0 + 8.0 + 2.8 - hole) / cs)
    radii = [hole]
    while radii[-1] < fine - 1e-9:
        radii.append(radii[-1] + cs)
    while radii[-1] < outer - 1e-9:
        h = min(size, cs + (growth - 1.0) * (radii[-1] - fine))
        radii.append(outer if radii[-1] + 1.5 * h > outer else radii[-1] + h)
    corners = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0]])
    pts, rings, n0 = [], [], 0
    for k, r in enumerate(radii):
        h = radii[k + 1] - r if k + 1 < len(radii) else r - radii[k - 1]
        ns = max(1, int(round(2.0 * r / h)))
        s = np.arange(4 * ns) / ns                       # arc parameter in [0, 4): side q = floor(s)
        q = np.floor(s).astype(int)
        xy = r * (corners[q] + (s - q)[:, None] * (corners[q + 1] - corners[q]))
        rings.append((n0, s))
        pts.append(xy)
        n0 += len(s)
    tris = []
    for (a0, sa), (b0, sb) in zip(rings[:-1], rings[1:], strict=True):
        na, nb, i, j = len(sa), len(sb), 0, 0
        while i < na or j < nb:
            ta = sa[i + 1] if i + 1 < na else 4.0
            tb = sb[j + 1] if j + 1 < nb else 4.0
            if i < na and (j == nb or ta <= tb):
                tris.append((a0 + i, a0 + (i + 1) % na, b0 + j % nb))
                i += 1
            else:
                tris.append((a0 + i % na, b0 + (j + 1) % nb, b0 + j))
                j += 1
    X = np.concatenate(pts)
    X3 = np.column_stack([X, np.zeros(len(X))])          # VTU points are 3D (z = 0: read back as 2D)
    meshio.write(path, meshio.Mesh(X3, [("triangle", np.array(tris, dtype=np.int64))]))
    return len(X)


def setup(text: str) -> tuple[float, Simulation]:
    """CPU seconds of from_deck + prepare + velocities + the first force evaluation; the simulation."""
    t0 = time.process_time()
    sim = Simulation.from_deck(load_deck_text(text))
    sim.prepare()
    s = sim.model.system
    rng = np.random.default_rng(1)
    s.atoms.v[s.free] = 0.01 * rng.standard_normal((s.n_free, s.d))
    sim.integrator.project_state()
    sim.integrator.initialize()
    return time.process_time() - t0, sim


def per_step(sim: Simulation, steps: int) -> float:
    t0 = time.process_time()
    sim.integrator.step(steps)
    return (time.process_time() - t0) / steps


def counts(sim: Simulation) -> tuple[int, int, int]:
    s = sim.model.system
    core = int(np.sum(s.atom_weight >= 1.0)) if s.coupled else s.n_atoms
    return s.n_atoms, core, s.n_nodes


def overhead(dim: int, L: float, repeat: int, steps: int, mesh_file: str | None = None,
             chunks: int = 0, grading: str = "bench", slave_below: float = 0.01) -> dict:
    """Set-up and per-step CPU times of the coupled model and the atoms alone. ``chunks`` > 0: both models
    are kept and ``chunks`` runs of ``steps`` steps of each alternate in this process (medians over all
    chunks: the load of a shared machine hits both alike); 0: one run per model and repeat."""
    res = {"setup_c": [], "setup_a": [], "step_c": [], "step_a": []}
    info = {}
    for _ in range(repeat):
        sims = {}
        for coupled in (True, False):
            ts, sim = setup(deck(dim, L, coupled, mesh_file if coupled else None, grading, slave_below))
            sim.integrator.step(1)                      # warm-up (first-call allocations)
            key = "c" if coupled else "a"
            res[f"setup_{key}"].append(ts)
            info[key] = counts(sim)
            if coupled and "detail" not in info:       # the sweep's columns (first repeat)
                w, sy = sim.model.system.atom_weight, sim.model.system
                info["rss_c"] = _maxrss_mb()
                info["detail"] = {"atoms": int(sy.n_atoms), "core": int(np.sum(w >= 1.0)),
                                  "handshake": int(np.sum((w > 0.0) & (w < 1.0))),
                                  "pads": int(np.sum(w <= 0.0)),
                                  "constrained": int(len(sy.constrained)), "nodes": int(sy.n_nodes),
                                  "rows": int(sy.G.shape[0]) if sy.G is not None else 0}
            if chunks:
                sims[key] = sim
            else:
                res[f"step_{key}"].append(per_step(sim, steps))
                _count_reprojections(info, key, sim)
            del sim
        for _ in range(chunks):
            for key, sim in sims.items():
                res[f"step_{key}"].append(per_step(sim, steps))
        for key, sim in sims.items():
            _count_reprojections(info, key, sim)
        del sims
    med = {k: statistics.median(v) for k, v in res.items()}
    spread = {k: (min(v), max(v)) for k, v in res.items()}
    out = {"med": med, "spread": spread, "info": info, "steps": res}
    if "reproj" in info:
        out["reproj"] = (info.pop("reproj"), info.pop("reproj_steps"))
    return out


def widths_overhead(dim: int, L: float, widths: list[float], repeat: int, steps: int,
                    chunks: int) -> list[dict]:
    """The bench deck of half-width L at several handshake widths (``--widths``): for each width the
    coupled model and its atoms alone (the kept atoms' box, which shrinks with the width), all 2 × len(widths)
    models kept and ``chunks`` runs of ``steps`` steps of each alternated in this process, per repeat
    (medians over all chunks; the load hits every model alike). Returns per width: counts (atoms, core
    β̄ = 1, handshake, pads, rows, nodes, atoms alone), the step medians and ranges, the ratio, the paired
    per-chunk ratios' median and range, and the set-up medians."""
    rec = {w: {"step_c": [], "step_a": [], "ratio": [], "setup_c": [], "setup_a": []} for w in widths}
    info = {}
    for _ in range(repeat):
        sims = {}
        for w in widths:
            for coupled in (True, False):
                ts, sim = setup(deck(dim, L, coupled, width=w))
                sim.integrator.step(1)
                rec[w]["setup_c" if coupled else "setup_a"].append(ts)
                sims[(w, coupled)] = sim
                if coupled and w not in info:
                    sy = sim.model.system
                    wt = sy.atom_weight
                    info[w] = {"atoms": int(sy.n_atoms), "core": int(np.sum(wt >= 1.0)),
                               "handshake": int(np.sum((wt > 0.0) & (wt < 1.0))),
                               "pads": int(np.sum(wt <= 0.0)),
                               "rows": int(sy.G.shape[0]), "nodes": int(sy.n_nodes)}
                elif not coupled:
                    info[w]["alone"] = int(sim.model.system.n_atoms)
        for _ in range(chunks):
            for w in widths:
                tc = per_step(sims[(w, True)], steps)
                ta = per_step(sims[(w, False)], steps)
                rec[w]["step_c"].append(tc)
                rec[w]["step_a"].append(ta)
                rec[w]["ratio"].append(tc / ta)
        del sims
    out = []
    for w in widths:
        r = rec[w]
        med = {k: statistics.median(v) for k, v in r.items()}
        out.append(dict(info[w], width=w, **med, ratio_of_medians=med["step_c"] / med["step_a"],
                        step_c_range=(min(r["step_c"]), max(r["step_c"])),
                        step_a_range=(min(r["step_a"]), max(r["step_a"])),
                        ratio_range=(min(r["ratio"]), max(r["ratio"])), n=len(r["ratio"])))
    return out


def _count_reprojections(info: dict, key: str, sim: Simulation) -> None:
    """Add the coupled run's round-off re-projections (warm-up step included) and steps to ``info``."""
    if key == "c" and hasattr(sim.integrator, "n_reprojections"):
        info["reproj"] = info.get("reproj", 0) + sim.integrator.n_reprojections
        info["reproj_steps"] = info.get("reproj_steps", 0) + sim.integrator.step_count


def scaling(sizes: list[float], steps: int, repeat: int) -> None:
    rows = []
    for L in sizes:
        tss, tps = [], []
        for _ in range(repeat):
            ts, sim = setup(deck(2, L, True))
            sim.integrator.step(1)
            tps.append(per_step(sim, steps))
            tss.append(ts)
            n = sim.model.system.n_atoms + sim.model.system.n_nodes
            del sim
        rows.append((L, n, statistics.median(tss), statistics.median(tps)))
        print(f"  L = {L:5g}: atoms+nodes {n:8d}   set-up {rows[-1][2]:8.2f} s   "
              f"step {rows[-1][3] * 1e3:9.2f} ms", flush=True)
    if len(rows) < 2:
        return
    n = np.log([r[1] for r in rows])
    for col, name in ((3, "time per step"), (2, "set-up")):
        p = np.polyfit(n, np.log([r[col] for r in rows]), 1)[0]
        loc = [np.log(rows[k + 1][col] / rows[k][col]) / np.log(rows[k + 1][1] / rows[k][1])
               for k in range(len(rows) - 1)]
        print(f"  p ({name}) = {p:.3f}   (successive: {', '.join(f'{x:.2f}' for x in loc)})")


def sweep_one(dim: int, L: float, steps: int, chunks: int, repeat: int) -> dict:
    """One size of the ``--sweep``: set-up and step CPU times of the coupled model and the atoms alone
    (`overhead`, ``chunks`` alternated chunks of ``steps`` steps per repeat, medians), the model's counts
    (atoms, core β̄ = 1, handshake 0 < β̄ < 1, pads β̄ ≤ 0, constrained atoms, constraint rows, nodes) and
    peak memory (ru_maxrss, MB) after the coupled model's set-up and after both models. Run in a fresh
    process per size (``--sweep`` does) so that the peak memory is this size's. A small coupled model of
    the family is set up first, untimed: the first set-up of a process also pays the lazy imports and
    registries (~0.5-1 s), which the main rows' medians over repeats leave out too."""
    setup(deck(dim, 30.0 if dim == 2 else 12.0, True))
    r = overhead(dim, L, repeat, steps, None, chunks)
    info = dict(r["info"]["detail"], dim=dim, L=L, atoms_alone=int(r["info"]["a"][0]),
                rss_coupled_mb=r["info"]["rss_c"], rss_both_mb=_maxrss_mb(), load=os.getloadavg()[0])
    info.update(r["med"])
    info.update({f"{k}_range": v for k, v in r["spread"].items()})
    pairs = [c / a for c, a in zip(r["steps"]["step_c"], r["steps"]["step_a"], strict=True)]
    info.update(ratio_paired=statistics.median(pairs), ratio_paired_range=(min(pairs), max(pairs)))
    return info


def _fit_target(ncore: np.ndarray, ratio: np.ndarray, target: float) -> tuple[float, float, float]:
    """Fit ratio − 1 = A·N_core^(−q) (least squares in log-log over the sizes with ratio > 1); returns
    (A, q, N_core at which the fitted ratio reaches ``target``; nan if it does not fall)."""
    ok = ratio > 1.0
    if ok.sum() < 2:
        return float("nan"), float("nan"), float("nan")
    slope, logA = np.polyfit(np.log(ncore[ok]), np.log(ratio[ok] - 1.0), 1)
    q = -slope
    n_t = np.exp((logA - np.log(target - 1.0)) / q) if q > 0 else float("nan")
    return float(np.exp(logA)), float(q), float(n_t)


def sweep(dim: int, sizes: list[float], steps: int, chunks: int, repeat: int,
          raw: bool = False) -> list[dict]:
    """The size sweep of one model family (the bench decks at half-widths ``sizes``): one child process per
    size (`sweep_one`), then the table (ratios, handshake fraction, µs per handshake atom per step, peak
    memory) and the fits of the ratios against the core size (`_fit_target`); ``raw``: also each size's
    record (JSON: spreads of the chunks)."""
    import json
    import subprocess
    rows = []
    for L in sizes:
        cmd = [sys.executable, __file__, "--sweep-one", str(dim), f"{L:g}", "--steps", str(steps),
               "--chunks", str(chunks), "--repeat", str(repeat)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = [x for x in out.stdout.splitlines() if x.startswith("SWEEP ")]
        if out.returncode != 0 or not line:
            print(f"  L = {L:g}: failed (exit {out.returncode})\n{out.stderr[-2000:]}", flush=True)
            break
        r = json.loads(line[0][6:])
        rows.append(r)
        if raw:
            print("  " + line[0], flush=True)
        hs = r["atoms"] - r["core"]
        print(f"  L {L:5g}: atoms {r['atoms']:8d} core {r['core']:8d} (non-core {hs / r['atoms']:.3f}: "
              f"handshake {r['handshake']}, pads {r['pads']}), nodes {r['nodes']:7d}, rows {r['rows']:7d}; "
              f"alone {r['atoms_alone']:8d}\n"
              f"      step {r['step_c'] * 1e3:8.2f} / {r['step_a'] * 1e3:8.2f} ms = "
              f"{r['step_c'] / r['step_a']:.3f}"
              f"  per atom {(r['step_c'] / r['atoms']) / (r['step_a'] / r['atoms_alone']):.3f}"
              f"  (c - a)/(handshake + pads) {(r['step_c'] - r['step_a']) / hs * 1e6:.3f} us;"
              f"  set-up {r['setup_c']:7.2f} / {r['setup_a']:6.2f} s = {r['setup_c'] / r['setup_a']:.2f};"
              f"  peak RSS coupled {r['rss_coupled_mb']:.0f} MB, both {r['rss_both_mb']:.0f} MB;"
              f"  paired chunk ratios {r['ratio_paired']:.3f} ({r['ratio_paired_range'][0]:.3f}-"
              f"{r['ratio_paired_range'][1]:.3f});"
              f"  load {r['load']:.1f}", flush=True)
    if len(rows) >= 2:
        nc = np.array([r["core"] for r in rows], float)
        ntot = np.array([r["atoms"] + r["nodes"] for r in rows], float)
        for name, num, den, targets in (("step", "step_c", "step_a", (1.10,)),
                                        ("set-up", "setup_c", "setup_a", (2.0,))):
            ratio = np.array([r[num] / r[den] for r in rows])
            for t in targets:
                A, q, n_t = _fit_target(nc, ratio, t)
                print(f"  {dim}D {name} ratio - 1 = {A:.3g} N_core^{-q:+.3f};  ratio {t:g} at "
                      f"N_core = {n_t:.3g}")
                # the handshake's share of the core: perimeter / area (2D), surface / volume (3D)
                ok = ratio > 1.0
                if ok.sum() >= 1:
                    qf = 1.0 / dim
                    A = float(np.exp(np.mean(np.log(ratio[ok] - 1.0) + qf * np.log(nc[ok]))))
                    print(f"  {dim}D {name} ratio - 1 = {A:.3g} N_core^{-qf:+.3f} (exponent fixed):  "
                          f"ratio {t:g} at "
                          f"N_core = {(A / (t - 1.0)) ** (1.0 / qf):.3g}")
            p = np.polyfit(np.log(ntot), np.log([r[num] for r in rows]), 1)[0]
            print(f"  {dim}D coupled {name} time ∝ (atoms + nodes)^{p:.3f}")
    return rows


def _maxrss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--only", choices=("2d", "3d", "3d-user", "3d-default"),
                    help="one row (3d-user: the 3D deck with the far field graded as a user would; "
                         "3d-default: the 3D deck with slave_below at the physics default 1e-3)")
    ap.add_argument("--L2", type=float, default=148.0, help="2D half-width")
    ap.add_argument("--L3", type=float, default=25.0, help="3D half-width")
    ap.add_argument("--mesh2", nargs="+", choices=("grid", "ring"), default=["grid", "ring"],
                    help="2D meshes: the tensor-product grid of the rectangle generator and/or `ring_mesh`")
    ap.add_argument("--chunks", type=int, default=0,
                    help="alternate this many runs of --steps steps of the coupled model and the atoms alone "
                         "in one process (per repeat; medians over the chunks)")
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--no-overhead", action="store_true")
    ap.add_argument("--sizes", type=float, nargs="+", default=[30.0, 60.0, 120.0, 240.0])
    ap.add_argument("--scaling-max", action="store_true", help="add L = 480 (~1e6 atoms + nodes)")
    ap.add_argument("--sweep", choices=("2d", "3d"), nargs="+",
                    help="size sweep of the bench decks (one child process per size, --sweep-sizes2/3): "
                         "coupled / alone step and set-up ratios, handshake fraction, peak memory, fits")
    ap.add_argument("--sweep-sizes2", type=float, nargs="+", default=[60.0, 100.0, 148.0, 210.0, 300.0,
                                                                       420.0, 590.0])
    ap.add_argument("--sweep-sizes3", type=float, nargs="+", default=[15.0, 20.0, 25.0, 30.0, 35.0, 40.0])
    ap.add_argument("--raw", action="store_true", help="--sweep: print each size's record too")
    ap.add_argument("--sweep-one", nargs=2, metavar=("DIM", "L"), help=argparse.SUPPRESS)
    ap.add_argument("--widths", type=float, nargs="+",
                    help="handshake widths [σ]: the --only 2d|3d bench deck (grid mesh) at each width, "
                         "coupled "
                         "and alone, all models alternated in chunks in one process (--chunks, default 5)")
    a = ap.parse_args()
    load_all()
    if a.sweep_one:
        import json
        r = sweep_one(int(a.sweep_one[0]), float(a.sweep_one[1]), a.steps, a.chunks, a.repeat)
        print("SWEEP " + json.dumps(r), flush=True)
        return
    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f}", flush=True)
    if a.widths:
        dim = 3 if a.only == "3d" else 2
        rows = widths_overhead(dim, a.L3 if dim == 3 else a.L2, a.widths, a.repeat, a.steps, a.chunks or 5)
        for r in rows:
            print(f"{dim}D width {r['width']:g}: atoms {r['atoms']} (core {r['core']}, "
                  f"handshake {r['handshake']}, "
                  f"pads {r['pads']}), rows {r['rows']}, nodes {r['nodes']}; alone {r['alone']}\n"
                  f"    step coupled {r['step_c'] * 1e3:.2f} ms ({r['step_c_range'][0] * 1e3:.2f}-"
                  f"{r['step_c_range'][1] * 1e3:.2f}), alone {r['step_a'] * 1e3:.2f} ms "
                  f"({r['step_a_range'][0] * 1e3:.2f}-{r['step_a_range'][1] * 1e3:.2f}); ratio of medians "
                  f"{r['ratio_of_medians']:.3f}, paired chunk ratios median {r['ratio']:.3f} "
                  f"({r['ratio_range'][0]:.3f}-{r['ratio_range'][1]:.3f}, n = {r['n']}); set-up "
                  f"{r['setup_c']:.2f} / {r['setup_a']:.2f} s", flush=True)
        print(f"load average {os.getloadavg()[0]:.1f}  peak RSS {_maxrss_mb():.0f} MB", flush=True)
        return
    if not a.no_overhead and not a.sweep:
        import tempfile
        tmp = tempfile.TemporaryDirectory()
        cases = [(2, a.L2, m) for m in a.mesh2] + [(3, a.L3, "grid"), (3, a.L3, "user"),
                                                   (3, a.L3, "default")]
        names = {"user": "3d-user", "default": "3d-default"}
        for dim, L, mesh in cases:
            row = names.get(mesh, f"{dim}d")
            if (a.only and a.only != row) or (not a.only and row == "3d-default"):
                continue                    # 3d-default only on request (a row of its own)
            mesh_file = None
            if mesh == "ring":
                mesh_file = str(Path(tmp.name) / "ring.vtu")
                ring_mesh(mesh_file, L)
            r = overhead(dim, L, a.repeat, a.steps, mesh_file, a.chunks,
                         "user" if mesh == "user" else "bench", 1e-3 if mesh == "default" else 0.01)
            m, sp, info = r["med"], r["spread"], r["info"]
            print(f"{dim}D ({mesh})  coupled: {info['c'][0]} atoms ({info['c'][1]} core), "
                  f"{info['c'][2]} nodes;  alone: {info['a'][0]} atoms")
            sc, sa = sp["step_c"], sp["step_a"]
            print(f"    step  coupled {m['step_c'] * 1e3:8.2f} ms  alone {m['step_a'] * 1e3:8.2f} ms  ratio "
                  f"{m['step_c'] / m['step_a']:.3f}   (coupled {sc[0] * 1e3:.1f}-{sc[1] * 1e3:.1f}, "
                  f"alone {sa[0] * 1e3:.1f}-{sa[1] * 1e3:.1f})")
            sc, sa = sp["setup_c"], sp["setup_a"]
            print(f"    setup coupled {m['setup_c']:8.2f} s   alone {m['setup_a']:8.2f} s   ratio "
                  f"{m['setup_c'] / m['setup_a']:.3f}   (coupled {sc[0]:.2f}-{sc[1]:.2f}, "
                  f"alone {sa[0]:.2f}-{sa[1]:.2f})", flush=True)
            if "reproj" in r:
                print(f"    round-off re-projections of the coupled runs: {r['reproj'][0]} in "
                      f"{r['reproj'][1]} steps", flush=True)
            print(f"    peak memory of the process so far (ru_maxrss) {_maxrss_mb():.0f} MB", flush=True)
            print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    for which in a.sweep or []:
        dim = int(which[0])
        print(f"{dim}D size sweep (--repeat {a.repeat}, --chunks {a.chunks} of --steps {a.steps}):",
              flush=True)
        sweep(dim, a.sweep_sizes2 if dim == 2 else a.sweep_sizes3, a.steps, max(a.chunks, 1), a.repeat, a.raw)
        print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    if a.scaling:
        sizes = list(a.sizes) + ([480.0] if a.scaling_max else [])
        print("2D coupled scaling (medians of", a.repeat, "):", flush=True)
        scaling(sizes, a.steps, a.repeat)
        print(f"load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
