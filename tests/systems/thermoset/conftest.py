"""Fixtures of the devices tests: a recipe, a fresh RunEngine, a simulated line."""

from __future__ import annotations

import pathlib
import sys

import pytest
from bluesky import RunEngine

# tests/ is not a package and pytest runs with --import-mode=importlib, so the shared
# helpers module is made importable by name here (conftest loads before the tests).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from devices_helpers import FAST, make_recipe  # noqa: E402


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
    from systems.thermoset.devices import make_sim_line

    return make_sim_line(seed=0, speedup=FAST)

