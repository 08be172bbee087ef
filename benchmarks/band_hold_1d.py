"""Does the damping band's bath hold T on the coupled 1D chain of tests/coupling/test_thermal_band.py?
(msim issue 16: "target T held within 2 % over ≥ 10⁵ steps".) One seed per call (run several in parallel):

    PYTHONPATH=. python benchmarks/band_hold_1d.py [T] [seed] [n_steps] [n_blocks]

prints the core's kinetic temperature / T over steps 5 000 … n_steps in n_blocks blocks, their mean and
standard error, and the number of cut-off crossings (bonds longer than r_c = 1.5, second neighbours closer
than r_c, sampled every 500 steps). Atoms and mesh nodes start at 2T (zero displacement).
The slow test tests/coupling/test_thermal_band.py::test_band_holds_temperature_over_1e5_steps takes the mean
of the seeds 5–10 and the seeds' scatter as its error bar.

Measured 2026-12-06 (load average ≈ 8):

* T = 0.01 (an earlier test temperature): the chain heats to ≈ 16 T after 10⁵ steps; the integrator creates
  70–460 k_B T per 1 000 steps and handshake bonds cross the cut-off thousands of times: the truncated
  harmonic chain is not harmonic at this T in H, where the blend weight softens the bonds. Root cause, not
  the bath (tests/coupling/test_band_bath_fdt.py).
* T = 1e-4 (no crossing), core T / T over steps 5 000–100 000, 5 blocks of 19 000 steps each:
  seed 5: 1.001 1.044 1.049 1.028 1.009 → 1.026 ± 0.009 (block error)
  seed 6: 1.051 1.023 1.039 1.001 0.974 → 1.018 ± 0.014
  seed 7: 0.999 1.064 1.067 0.986 0.980 → 1.019 ± 0.019
  seed 8: 1.085 1.031 0.995 1.059 1.091 → 1.052 ± 0.018
  seed 9: 1.038 1.012 1.024 0.966 0.991 → 1.006 ± 0.013
  seed 10: 0.991 1.007 0.935 0.988 1.066 → 0.997 ± 0.021
  mean of the six 1.020, seed scatter 0.019 → 1.020 ± 0.008 (before the noise was keyed by atom id, the
  same model gave 0.976 (seed 5) and 1.003 (seed 6): the eight together 1.012 ± 0.008). A run's block
  errors understate the run-to-run scatter: the long waves live in the mesh, where the band (fine-scale
  velocity only) barely damps them, so each run keeps its initial share of them for most of 10⁵ steps.
  The issue's 2 % is met by the point estimate (1.020) but not resolved by its error bar (the six
  keyed-noise runs sit 2.6σ above 1, the eight 1.5σ; no cause of a bias is known: the bath's
  fluctuation–dissipation balance is exact, tests/coupling/test_temperature_profile.py); more seeds (or a
  bath on the long waves) are needed. Broken on purpose (bath at 1.1 T): seed 5 gives 1.117.
"""
import sys

import numpy as np

sys.path.insert(0, "tests/coupling")
import test_thermal_band as t  # noqa: E402

if __name__ == "__main__":
    T = float(sys.argv[1]) if len(sys.argv) > 1 else 1e-4
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    nb = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    Ts, crossed = t.hold_run(T, seed, n_steps=n)
    b = t.block_means(Ts, nb)
    print(f"T {T} seed {seed} steps {n}: blocks {np.round(b, 4).tolist()} mean {Ts.mean():.4f} "
          f"± {b.std(ddof=1) / np.sqrt(nb):.4f} crossings {crossed}")
