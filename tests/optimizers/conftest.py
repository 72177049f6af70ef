"""Fixtures of the optimizer tests."""

from __future__ import annotations

import pathlib
import sys

import pytest
import torch

# tests/ is not a package and pytest runs with --import-mode=importlib, so the shared
# helpers module is made importable by name here (conftest loads before the tests).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from optimizer_testing import make_thermoset_space  # noqa: E402


# One thread: the CI machine has two shared cores, and oversubscribed BLAS threads
# make small GP fits many times slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


@pytest.fixture
def thermoset_space():
    return make_thermoset_space()
