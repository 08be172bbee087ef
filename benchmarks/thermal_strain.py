"""Measured thermal strain of the 2D LJ hex crystal (ε = σ = m = 1, cut-off 2.5 shifted) at temperature T
(msim issue 16): periodic Langevin NVT, zero-pressure secant (multiscale/fem/materials/thermal_strain.py).

    PYTHONPATH=. python benchmarks/thermal_strain.py T [n_avg]

Prints ε_th ± its standard error and the pressure at each lattice parameter tried; the number goes into a
deck's ``continuum.material: {type: thermal_strain, strain: ε_th}``. Measured: T = 0.1 → ε_th = 0.00879 ±
0.00004 (20 000 steps per point, 256 atoms; pressure at a₀ 0.878 ε/σ²).
"""
import sys
import time

from multiscale.fem.materials.thermal_strain import measure_thermal_strain
from multiscale.md.properties import zero_stress_lattice_constant
from multiscale.plugins import load_all
from multiscale.registry import POTENTIALS

if __name__ == "__main__":
    load_all()
    T = float(sys.argv[1])
    n_avg = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    cls = POTENTIALS.get("lj")
    pot = cls.from_params(cls.Params(epsilon=1.0, sigma=1.0, cutoff=2.5, truncation="shift"))
    a0 = zero_stress_lattice_constant(pot, "hex")
    t0 = time.time()
    m = measure_thermal_strain(pot, "hex", a0, 1.0, T, n_avg=n_avg)
    print(f"T = {T}: a0 = {a0:.6f}, strain = {m.strain:.6f} ± {m.error:.6f}, B = {m.bulk_modulus:.4f}, "
          f"wall {time.time() - t0:.0f} s")
    for e, p, s in zip(m.strains, m.pressures, m.pressure_errors, strict=True):
        print(f"  eps = {e:+.6f}  P = {p:+.6f} ± {s:.6f}")
