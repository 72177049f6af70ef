"""Recipes and cached runs shared by the simulator tests."""

from __future__ import annotations

import functools

from core import Q_
from simulators import get_simulator
from simulators.thermoset import ADDITIVE_LIBRARY

MODELS = ("thermoset.closed_form", "thermoset.kinetics_phase_field")
CLOSED_FORM, PHASE_FIELD = MODELS


def make_recipe(
    additive: str = "dibutyl_phthalate",
    fraction: float = 0.0,
    ratio: float = 1.0,
    speed: float = 1000.0,
    mix_time: float = 5.0,
    temperature: float = 150.0,
    cure_time: float = 6.0,
) -> dict:
    """A recipe in the units of ``docs/interfaces.md``: %, -, rpm, min, degC, h."""
    return {
        "additive": ADDITIVE_LIBRARY[additive],
        "additive_fraction": Q_(fraction, "percent"),
        "hardener_ratio": Q_(ratio, "dimensionless"),
        "mixing_speed": Q_(speed, "rpm"),
        "mixing_time": Q_(mix_time, "min"),
        "cure_temperature": Q_(temperature, "degC"),
        "cure_time": Q_(cure_time, "h"),
    }


@functools.lru_cache(maxsize=None)
def run(model: str, seed: int = 0, **kwargs):
    """Cached result of ``model`` on ``make_recipe(**kwargs)`` (results are frozen)."""
    return get_simulator(model).run(make_recipe(**kwargs), seed=seed)


def tg(model: str, **kwargs) -> float:
    """Glass transition temperature in degC."""
    return run(model, **kwargs).properties["glass_transition_temperature"].to("degC").magnitude


def structure(model: str, key: str, unit: str = "", **kwargs) -> float:
    return run(model, **kwargs).structure[key].to(unit or "dimensionless").magnitude
