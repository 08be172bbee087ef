"""Memory of the handshake's replicated part built from the band's atoms (`parallel.band_system.BandSystem`)
against the serial `CoupledSystem` + `VelocityVerlet` it replaces, on the 2D bench model.

    .venv/bin/python benchmarks/mem_band_system.py --bench2d 300 --which serial
    .venv/bin/python benchmarks/mem_band_system.py --bench2d 300 --which band

The model: the 2D deck of benchmarks/bench_coupled.py (``--bench2d L``; 300: 319 487 LJ atoms, 67 320 tri3
nodes, projected). The serial model is built first (`Simulation.from_deck`: the band's input arrays are
taken from it, as the per-rank classification will give them); then ONE of the two is built again, fresh,
in this process (``--which``; run each in its own process): ``serial`` — `CoupledSystem` (atom weights,
pads, masses, the continuum's blend, N_c, N_pad, G, the atoms region's bond-weight set-up) and the
`VelocityVerlet` on it (projector, inverse masses, the local solve); ``band`` — `BandSystem` (the continuum's
blend, the same handshake objects, the projector) from the band's arrays. Printed, MiB: the build's own peak
(VmHWM reset through /proc/self/clear_refs before it, minus VmRSS before it), the memory it leaves in use
(VmRSS after ``malloc_trim(0)`` minus before), and the bytes of the NumPy arrays and sparse matrices reachable
from the built objects that are not reachable from the regions (each array once): the objects' own arrays,
the projector's (its factorisation and per-step solve arrays) counted first;
plus CPU seconds of the build (process CPU time).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parallel"))

from mem_mpi_coupled_spatial import MiB, array_bytes, reset_peak, status  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench2d", type=float, default=300.0, metavar="L")
    ap.add_argument("--which", choices=["serial", "band"], required=True)
    args = ap.parse_args()
    from bench_coupled import deck as bench_deck
    from test_band_system import band_arrays, fresh_method

    from multiscale.coupling.coupled import CoupledSystem
    from multiscale.deck import load_deck
    from multiscale.integrate.verlet import VelocityVerlet
    from multiscale.parallel.band_system import BandSystem
    from multiscale.simulation import Simulation

    tmp = Path(tempfile.mkdtemp(prefix="memband_"))
    deck_path = tmp / "bench2d.yaml"
    deck_path.write_text(bench_deck(2, args.bench2d, True))
    sim = Simulation.from_deck(load_deck(deck_path), threads=1)
    m = sim.model
    s0 = m.system
    ba = band_arrays(s0)
    meth = fresh_method(s0.method)
    cell = m.lattice.primitive_vectors
    libc = ctypes.CDLL("libc.so.6")
    gc.collect()
    libc.malloc_trim(0)
    rss0, _ = status()
    reset_peak()
    c0 = time.process_time()
    if args.which == "serial":
        s = CoupledSystem(m.atoms, m.continuum, m.handshake, meth, cell=cell, atom_weight=s0.atom_weight)
        vv = VelocityVerlet(s, 0.005)
        built = [("projector", vv.projector), ("system", s), ("integrator", vv)]
    else:
        bs = BandSystem(m.continuum, m.handshake, meth, cell, ba["X"], ba["gid"], ba["free_id"], ba["beta"],
                        ba["pad"], ba["mass"], ba["n_atoms"], ba["n_free"])
        built = [("projector", bs.projector), ("band", bs)]
    cpu = time.process_time() - c0
    _, hwm = status()
    gc.collect()
    libc.malloc_trim(0)
    rss1, _ = status()
    # arrays of the built objects only: the regions (atoms, continuum, handshake, the serial model) first
    roots = [("regions", [m.atoms, m.continuum, m.handshake, s0, ba, sim])] + built
    own = array_bytes(roots)
    b = int(ba["gid"].size)
    print(f"bench2d L={args.bench2d:g}: {s0.n_atoms} atoms ({s0.n_free} free), {s0.n_nodes} nodes, band {b} "
          f"atoms ({int(ba['pad'].sum())} pads), G rows {0 if s0.G is None else s0.G.shape[0]}")
    print(f"{args.which}: build peak +{hwm - rss0:.1f} MiB, in use after +{rss1 - rss0:.1f} MiB, arrays "
          + ", ".join(f"{k} {v / MiB:.1f}" for k, v in own.items() if k != "regions")
          + f" MiB; CPU {cpu:.2f} s")


if __name__ == "__main__":
    main()
