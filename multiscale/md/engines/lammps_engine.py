"""`LammpsEngine`: one persistent LAMMPS instance that computes total forces and per-atom energies of the
atoms of one msim region.

Set-up (once): the region's box (periodic axes ``p`` with msim's bounds; free axes shrink-wrapped ``s``, so
atoms can go anywhere), one LAMMPS atom per msim atom with id = index + 1 and type = msim type + 1, atom
sorting off (so LAMMPS's local index stays msim's index in a serial run; checked every call), the user's
``pair_style`` / ``pair_coeff`` lines, LAMMPS's own neighbour list (``neighbor SKIN bin``, rebuilt when an
atom moved more than skin/2: ``every 1 delay 0 check yes``), ``compute pe/atom`` reduced in the thermo
output every step so that LAMMPS tallies per-atom energies on every step.

Each call: positions are written into LAMMPS's own ``x`` array (a NumPy view) as ``x − img·L``, with the
image counts ``img`` LAMMPS itself chose when it last wrapped its atoms (at its own neighbour rebuilds):
between rebuilds the positions are continuous, exactly as in a LAMMPS run, so an atom crossing a periodic
face does not force a rebuild (wrapping every call into the box did: an atom crossing the face jumps a
period, and LAMMPS's displacement check then rebuilt its lists at almost every step of an 8 000-atom
crystal — the bridge cost 1.71× LAMMPS alone, 1.18–1.22× after; benchmarks/bench_engine.py). Positions more
than half a period outside the box are wrapped by msim first. Then ``run 1 pre no post no`` with no
integrator fix: exactly one force evaluation (``pre no`` skips the set-up force evaluation; with
reneighbouring when LAMMPS's check asks for it), and forces / per-atom energies are read from NumPy views
of LAMMPS's ``f`` and the ``pe/atom`` vector.
2D decks use ``dimension 2`` (z periodic, unit thickness); 1D decks are not supported.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ..box import Box
from .lammps_lib import NKTV2P, OwnsLammpsInstance, abandon, new_instance

#: LAMMPS's pressure conversion factor nktv2p per unit system (pressure = virial/V · nktv2p)


def lammps_force_cutoff(units: str, dim: int, ntypes: int, pair_lines: list[str]) -> float:
    """The force cut-off [length] LAMMPS uses for a pair style: the communication cut-off reported by
    ``info communication`` for a one-atom periodic probe with zero neighbour skin."""
    lmp = new_instance()
    ok = False
    try:
        L = 50.0
        for c in [f"units {units}", "atom_style atomic", f"dimension {dim}", "boundary p p p",
                  f"region msim_box block 0 {L} 0 {L} {'-0.5 0.5' if dim == 2 else f'0 {L}'}",
                  f"create_box {ntypes} msim_box", "create_atoms 1 single 1.0 1.0 0.0", "mass * 1.0",
                  *pair_lines, "neighbor 0.0 bin", "run 0"]:
            lmp.command(c)
        fd, path = tempfile.mkstemp(prefix="msim_lammps_info_", suffix=".txt")
        os.close(fd)
        try:
            lmp.command(f"info communication out overwrite {path}")
            with open(path) as fh:
                text = fh.read()
        finally:
            os.unlink(path)
        ok = True
        for line in text.splitlines():
            if line.strip().startswith("Communication cutoff"):
                return float(line.split("=")[1].split()[0])
        raise RuntimeError("LAMMPS did not report a communication cut-off")
    finally:
        if ok:
            lmp.close()
        else:            # a LAMMPS error (missing file, bad coefficients): closing it would crash
            abandon(lmp)


#: LAMMPS errors that mean the atoms flew apart or out of the box (a numerical blow-up, not a set-up error)
_FLOWN_AWAY = ("Too many neighbor bins", "Out of range atoms", "Lost atoms", "Non-numeric atom coords",
               "Atom coordinates are not finite")

class LammpsEngine(OwnsLammpsInstance):
    """Forces and per-atom energies of n atoms from a persistent LAMMPS instance.

    Parameters
    ----------
    units : LAMMPS unit system name ("metal", "lj")
    box : msim `Box` of the region (d = 2 or 3)
    x : (n, d) initial positions [length]
    types : (n,) int msim atom types (0-based) or None (all 0)
    ntypes : number of LAMMPS atom types
    pair_lines : LAMMPS commands defining the interaction (``pair_style ...``, ``pair_coeff ...``)
    skin : LAMMPS neighbour skin [length]
    """

    def __init__(self, units: str, box: Box, x: np.ndarray, types: np.ndarray | None, ntypes: int,
                 pair_lines: list[str], skin: float) -> None:
        n, d = x.shape
        if d not in (2, 3):
            raise ValueError(f"the LAMMPS engine needs a 2D or 3D region (this one is {d}D)")
        self.units, self.box, self.n, self.d = units, box, n, d
        self._virial_mode = False
        self._pre = "no"
        lmp = self.lmp = new_instance()
        xw = np.zeros((n, 3))
        xw[:, :d] = box.wrap(x)
        lo, hi, bnd = np.zeros(3), np.zeros(3), []
        for k in range(3):
            if k < d and box.periodic[k]:
                lo[k], hi[k] = box.lo[k], box.hi[k]
                bnd.append("p")
            elif k < d:
                lo[k], hi[k] = (x[:, k].min() - 1.0, x[:, k].max() + 1.0) if n else (-1.0, 1.0)
                bnd.append("s")
            else:  # 2D: LAMMPS's z axis, periodic, unit thickness
                lo[k], hi[k] = -0.5, 0.5
                bnd.append("p")
        t = np.zeros(n, dtype=np.int64) if types is None else np.asarray(types, dtype=np.int64)
        if n and (t.min() < 0 or t.max() >= ntypes):
            raise ValueError(f"atom types must lie in 0 .. {ntypes - 1} (the potential has {ntypes} "
                             "element(s))")
        for c in [f"units {units}", "atom_style atomic", "atom_modify map array sort 0 0",
                  f"dimension {d}", "boundary " + " ".join(bnd),
                  "region msim_box block " + " ".join(repr(float(v)) for v in np.c_[lo, hi].ravel()),
                  f"create_box {ntypes} msim_box"]:
            lmp.command(c)
        lmp.create_atoms(n, list(range(1, n + 1)), [int(v) + 1 for v in t], xw.ravel().tolist())
        if lmp.get_natoms() != n:
            raise RuntimeError(f"LAMMPS kept {lmp.get_natoms()} of {n} atoms")
        lmp.command("mass * 1.0")  # LAMMPS integrates nothing here; msim owns the masses
        for c in pair_lines:
            lmp.command(c)
        for c in [f"neighbor {float(skin)!r} bin", "neigh_modify every 1 delay 0 check yes",
                  "compute msim_pa all pe/atom", "compute msim_esum all reduce sum c_msim_pa",
                  "compute msim_vir all pressure NULL virial",
                  "thermo_style custom step pe c_msim_esum", "thermo_modify norm no", "thermo 1",
                  "run 0"]:
            lmp.command(c)
        self._ids = np.arange(1, n + 1)
        # periodic images: LAMMPS's position of atom i is x_i − img_i·L (img from LAMMPS's own wrapping at its
        # neighbour rebuilds), so positions stay continuous between rebuilds, as in a LAMMPS run
        self._L = np.array([box.hi[k] - box.lo[k] if box.periodic[k] else 0.0 for k in range(d)])
        self._per = np.asarray(box.periodic, bool)[:d]
        self._img = np.zeros((n, d))
        self._sync_images(x)

    def _sync_images(self, x: np.ndarray) -> None:
        """Image counts (n, d) of the positions LAMMPS holds now relative to msim's x (periodic axes)."""
        if self._per.any():
            xv = self.lmp.numpy.extract_atom("x", nelem=self.n, dim=3)
            k = self._per
            self._img[:, k] = np.round((x[:, k] - xv[:, :self.d][:, k]) / self._L[k])

    # ------------------------------------------------------------------
    def _views(self) -> tuple[np.ndarray, np.ndarray]:
        # re-taken every call: LAMMPS reallocates its per-atom arrays when the ghost count grows
        xv = self.lmp.numpy.extract_atom("x", nelem=self.n, dim=3)
        fv = self.lmp.numpy.extract_atom("f", nelem=self.n, dim=3)
        return xv, fv

    def compute(self, x: np.ndarray, forces: np.ndarray, energies: np.ndarray,
                virial: np.ndarray | None = None) -> float:
        """Energy [energy] of positions x (n, d); fills forces (n, d), energies (n,) and virial (d, d)
        (``W = Σ r_ij ⊗ f_ij``, LAMMPS's convention) when given."""
        lmp, d = self.lmp, self.d
        want_vir = virial is not None
        if want_vir != self._virial_mode:
            lmp.command("thermo_style custom step pe c_msim_esum"
                        + (" c_msim_vir[1]" if want_vir else ""))
            lmp.command("thermo_modify norm no")
            self._virial_mode = want_vir
            self._pre = "yes"  # the new thermo computes need LAMMPS's init (pre no would use stale ones)
        xv, _ = self._views()
        if self._per.any():
            xd = xv[:, :d]
            np.subtract(x, self._img * self._L, out=xd)
            k = self._per
            lo, hi = np.asarray(self.box.lo)[:d][k], np.asarray(self.box.hi)[:d][k]
            if (np.any(xd[:, k].min(axis=0) < lo - 0.5 * self._L[k])
                    or np.any(xd[:, k].max(axis=0) > hi + 0.5 * self._L[k])):
                xd[...] = self.box.wrap(x)   # jumped far out (LAMMPS wraps by one period only)
        else:
            xv[:, :d] = x
        try:
            lmp.command(f"run 1 pre {self._pre} post no")
        except Exception as exc:
            if any(m in str(exc) for m in _FLOWN_AWAY):
                # atoms flown far apart or out of the box (a blow-up): a numeric error, so the run loop's
                # blow-up routing (`run.blowup.route`) can stop with exit 3 and the last good state
                raise RuntimeError(f"LAMMPS could not evaluate the forces: {str(exc).splitlines()[0]}") \
                    from exc
            raise
        self._pre = "no"
        ids = lmp.numpy.extract_atom("id", nelem=self.n)
        if not np.array_equal(ids, self._ids):
            raise RuntimeError("LAMMPS reordered or lost atoms (serial run with sorting off expected)")
        xv, fv = self._views()
        forces[...] = fv[:, :d]
        if self._per.any():  # LAMMPS rewraps its atoms at its neighbour rebuilds: keep the images in step
            k = self._per
            self._img[:, k] = np.round((x[:, k] - xv[:, :d][:, k]) / self._L[k])
        pa = lmp.numpy.extract_compute("msim_pa", 1, 1)  # LMP_STYLE_ATOM, LMP_TYPE_VECTOR
        energies[...] = pa[: self.n]
        E = float(lmp.get_thermo("pe"))
        if want_vir:
            p = lmp.numpy.extract_compute("msim_vir", 0, 1)  # LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR
            bl, bh = np.asarray(lmp.extract_box()[0]), np.asarray(lmp.extract_box()[1])
            vol = float(np.prod((bh - bl)[:d]))
            W = np.array([[p[0], p[3], p[4]], [p[3], p[1], p[5]], [p[4], p[5], p[2]]])
            W *= vol / NKTV2P[self.units]
            virial[...] = W[:d, :d]
        return E
