"""Fixtures of the devices tests: a recipe, a fresh RunEngine, a simulated line."""

from __future__ import annotations

import pytest
from bluesky import RunEngine
from devices_helpers import FAST, make_recipe


@pytest.fixture
def recipe():
    return make_recipe()


@pytest.fixture
def RE():
    engine = RunEngine({}, call_returns_result=False)
    yield engine
    if engine.state != "idle":
        engine.halt()


@pytest.fixture
def line():
    from devices import make_sim_line

    return make_sim_line(seed=0, speedup=FAST)

