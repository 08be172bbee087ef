"""Every registered load: a Params model that forbids unknown keys, accepts its own ``type`` key, and a
``from_params`` constructor; the package imports every load module."""

from __future__ import annotations

import pydantic
import pytest

import multiscale.loads  # noqa: F401  (registration)
from multiscale.loads.base import Load
from multiscale.registry import LOADS

MINIMAL = {
    "fixed": {"region": {"type": "box", "lo": [0, 0], "hi": [1, 1]}},
    "prescribed": {"region": {"type": "box", "lo": [0, 0], "hi": [1, 1]}, "velocity": [0.0, 1.0]},
    "traction": {"face_set": "xhi", "traction": [1.0, 0.0]},
    "body_force": {"acceleration": [0.0, -1.0]},
    "indenter": {"radius": 10.0, "stiffness": 10.0, "center": [0.0, 0.0]},
    "kfield": {"tip": [0.0, 0.0], "K": 1.0, "boundary": {"type": "box", "lo": [0, 0], "hi": [1, 1]}},
}


def test_all_loads_registered():
    assert set(MINIMAL) <= set(LOADS.names())


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_params_forbid_unknown_keys_and_build(name):
    cls = LOADS.get(name)
    assert issubclass(cls, Load)
    p = cls.Params(type=name, **MINIMAL[name])
    load = cls.from_params(p)
    assert load.name == name and load.n_stages >= 1
    with pytest.raises(pydantic.ValidationError):
        cls.Params(**MINIMAL[name], not_a_field=1)
    labelled = cls(**MINIMAL[name], label="mine")
    assert labelled.name == "mine"
