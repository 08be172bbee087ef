"""Temperature profile of a coupled 2D LJ crystal (msim issue 16): binned, time-averaged kinetic temperature
by distance from the atomistic core (core | handshake thirds | pads), with and without the damping band's bath.

    PYTHONPATH=. python benchmarks/temperature_profile.py "{type: projected, slave_below: 0.01}" 0.02 bath 4000 4000

args: coupling (YAML flow map), T [ε/k_B], none | damp | bath (no band / band at 0 / band at T),
equilibration steps, averaging steps (sampled every 10),
optional "core" (a Langevin thermostat at T, damp 1, on the core atoms as well).
The last bin holds the pad atoms (β̄ = 0: no mass, positions and velocities interpolated from the mesh); the
"flat (no pad)" figure is the flatness over core and handshake bins only. Atoms start at 2T (half goes to potential energy), the mesh at rest.
Prints T_bin / T with the atoms' own masses ("physical"), with the dynamical masses β̄ m ("dynamical") and
the equipartition temperature of the constrained dynamics ("equipart.", `equipartition_mass`),
the flatness max|T_k − T̄|/T̄ and the group temperatures (multiscale/diagnostics/temperature.py).
"""
import sys
import time

import numpy as np

from multiscale.deck import load_deck_text
from multiscale.diagnostics.temperature import (
    TemperatureProfile,
    atom_distance,
    equipartition_mass,
    group_temperatures,
)
from multiscale.simulation import Simulation

DECK = """\
msim: 1
units: lj
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: relaxed}}
  region: {{type: box, lo: [-{R}, -{R}], hi: [{R}, {R}]}}
  mass: 1.0
  skin: 1.0
  velocity: {{temperature: {T0}, seed: 3}}
continuum:
  mesh: {{type: rectangle, element: tri3, lo: [-{M}, -{M}], hi: [{M}, {M}], size: {h}, hole: {{lo: [-{c}, -{c}], hi: [{c}, {c}]}}}}
handshake:
  shape: {{type: box, lo: [-{c2}, -{c2}], hi: [{c2}, {c2}]}}
  width: {w}
  blend: {{type: cubic}}
  coupling: {coupling}
  {damping}
integrator: {{type: verlet, dt: 0.01, steps: 10, seed: 4{thermostat}}}
output: {{every: 1000000, thermo_every: 1000000}}
"""

def make(coupling, T, bath, gamma0=0.5, c=4.0, w=6.0, h=2.0, M=24.0, core=False):
    damping = f"damping: {{gamma0: {gamma0}, temperature: {T if bath else 0.0}}}" if bath is not None else ""
    c2 = c + 2.0
    thermostat = (f", thermostat: {{type: langevin, temperature: {T}, damp: 1.0, "
                  f"region: {{type: box, lo: [-{c2}, -{c2}], hi: [{c2}, {c2}]}}}}" if core else "")
    txt = DECK.format(R=c + w + 4.0, T0=2 * T, M=M, h=h, c=c, c2=c2, w=w, coupling=coupling, damping=damping,
                      thermostat=thermostat)
    return Simulation.from_deck(load_deck_text(txt, "thermal.yaml"))

def run(coupling, T, bath, n_eq, n_avg, every=10, **kw):
    sim = make(coupling, T, bath, **kw)
    sim.prepare()
    integ, s = sim.integrator, sim.model.system
    if not getattr(integ, "_initialized", False):
        integ.initialize()
    boltz = sim.model.units.boltz
    dist = atom_distance(s)
    w = s.handshake.width
    edges = np.array([-1.0, 1e-9, w / 3, 2 * w / 3, w + 1e-9, dist.max() + 1])
    prof_p = TemperatureProfile(dist, s.atoms.mass, edges, boltz, s.d)
    prof_d = TemperatureProfile(dist, s.atom_mass, edges, boltz, s.d)
    prof_e = TemperatureProfile(dist, equipartition_mass(s, integ.projector), edges, boltz, s.d)
    t0 = time.time()
    integ.step(n_eq)
    for k in range(n_avg // every):
        integ.step(every)
        prof_p.sample(s.atoms.v); prof_d.sample(s.atoms.v); prof_e.sample(s.atoms.v)
    return sim, prof_p, prof_d, prof_e, time.time() - t0

if __name__ == "__main__":
    coupling = sys.argv[1]; T = float(sys.argv[2])
    bath = {"none": None, "damp": False, "bath": True}[sys.argv[3]]
    n_eq, n_avg = int(sys.argv[4]), int(sys.argv[5])
    core = len(sys.argv) > 6 and sys.argv[6] == "core"
    sim, pp, pd, pe, dt = run(coupling, T, bath, n_eq, n_avg, core=core)
    s = sim.model.system
    print(f"{coupling} T={T} bath={sys.argv[3]} n_atoms={s.n_atoms} nodes={s.n_nodes} wall={dt:.1f}s")
    print("edges", pp.edges, "counts", pp.count)
    Tp = pp.temperature()[:-1]
    w = pp.count[:-1]
    Tm = float(np.sum(w * Tp) / np.sum(w))
    print("T physical ", np.round(pp.temperature() / T, 4), "flat", round(pp.flatness(), 4), "mean/T", round(pp.mean() / T, 4),
          "| flat (no pad)", round(float(np.max(np.abs(Tp - Tm)) / Tm), 4), "mean/T (no pad)", round(Tm / T, 4))
    print("T dynamical", np.round(pd.temperature() / T, 4), "flat", round(pd.flatness(), 4))
    print("T equipart.", np.round(pe.temperature() / T, 4), "flat", round(pe.flatness(), 4), "mean/T", round(pe.mean() / T, 4))
    print(group_temperatures(s, sim.model.units.boltz))
