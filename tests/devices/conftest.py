"""Fixtures of the devices tests: a fresh RunEngine and the toy line of :mod:`toy_line`."""

from __future__ import annotations

import pytest
from bluesky import RunEngine
from toy_line import make_toy_line


@pytest.fixture
def toy_line():
    return make_toy_line()


@pytest.fixture
def RE():
    engine = RunEngine({}, call_returns_result=False, context_managers=[])
    yield engine
    if engine.state != "idle":
        engine.halt()
