"""The LAMMPS-owning objects (`LammpsEngine`, `LammpsCell`) share one `close` / `__del__`
(`lammps_lib.OwnsLammpsInstance`): `close` frees the instance once and is safe to call again, and a
collected object frees its instance (checked through LAMMPS's own ``close``)."""

from __future__ import annotations

import gc

import numpy as np

from multiscale.md.box import Box
from multiscale.md.engines.cell import LammpsCell
from multiscale.md.engines.lammps_engine import LammpsEngine
from multiscale.md.engines.lammps_lib import OwnsLammpsInstance

LJ = ["pair_style lj/cut 2.5", "pair_coeff * * 1.0 1.0"]


def _cell() -> LammpsCell:
    a = 2.0 ** (2.0 / 3.0)                  # fcc, 3 x 3 x 3 cubic cells (box > cut-off + skin)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    X = a * np.array([b + [i, j, k] for i in range(3) for j in range(3) for k in range(3) for b in basis])
    return LammpsCell("lj", LJ, 1, np.full(3, 3 * a), X)


def _engine() -> LammpsEngine:
    x = 1.1 * np.array([[i, j, k] for i in range(4) for j in range(4) for k in range(4)], float)
    box = Box(np.full(3, -5.0), np.full(3, 5.0), (False, False, False))
    return LammpsEngine("lj", box, x, None, 1, LJ, 0.3)


def test_close_frees_once_and_is_idempotent():
    for make in (_cell, _engine):
        obj = make()
        assert isinstance(obj, OwnsLammpsInstance)
        lmp = obj.lmp
        calls = []
        real = lmp.close
        lmp.close = lambda calls=calls, real=real: (calls.append(1), real())[1]
        obj.close()
        n = len(calls)                   # LAMMPS's close may re-enter itself: count ≥ 1
        assert obj.lmp is None and n >= 1
        obj.close()                      # second call: nothing left to free
        assert len(calls) == n


def test_collected_object_frees_its_instance():
    for make in (_cell, _engine):
        obj = make()
        calls = []
        real = obj.lmp.close
        obj.lmp.close = lambda calls=calls, real=real: (calls.append(1), real())[1]
        del obj
        gc.collect()
        assert len(calls) >= 1
