"""What every simulator is and returns.

A simulator is a pure function of a recipe (and a seed) dressed as a small,
picklable object so that it can run in a process pool: it holds only its
options, never open files, threads or devices, and it never sleeps.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypedDict

import pint

from core import Q_, InputDataError


class ProcessStepRecord(TypedDict):
    """One simulated process step.

    Keys:
        name: the step, e.g. ``"anneal"``.
        device: ``"simulator:<model>"``.
        setpoints: what the recipe asked for, as quantities.
        actuals: what the simulated process did, as quantities.
    """

    name: str
    device: str
    setpoints: dict[str, pint.Quantity]
    actuals: dict[str, pint.Quantity]


@dataclass(frozen=True)
class SimulationResult:
    """Outcome of one virtual experiment (Process -> Structure -> Property).

    Attributes:
        model: registry name of the simulator, e.g. ``mylab.coarse``.
        model_version: version of the model's physics; changes when its numbers change.
        steps: the simulated process steps with setpoints and actuals.
        structure: structure features as quantities (e.g. ``grain_size`` in nm,
            ``crystalline_fraction``).
        properties: properties as quantities (e.g. ``hardness`` in GPa).
        diagnostics: model internals worth keeping with the sample (quantities or
            plain numbers); not part of the optimization data.
    """

    model: str
    model_version: str
    steps: list[ProcessStepRecord]
    structure: dict[str, pint.Quantity]
    properties: dict[str, pint.Quantity]
    diagnostics: dict[str, Any] = field(default_factory=dict)


class Simulator(ABC):
    """A physics model that turns a recipe into structure and properties.

    Subclasses set the class attributes ``name`` (registry name) and ``version``
    and implement :meth:`run`. Instances must be picklable and deterministic for
    a given seed.
    """

    name: ClassVar[str]
    version: ClassVar[str]

    @abstractmethod
    def run(self, recipe: dict[str, pint.Quantity | str], seed: int | None = None) -> SimulationResult:
        """Simulate one sample.

        Args:
            recipe: parameter name -> quantity (or SMILES / choice string).
            seed: seed of any stochastic part; the same seed gives the same result.

        Raises:
            core.InputDataError: the recipe is malformed (the message names the key).
            core.SimulationError: the model could not compute a result.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r})"


def recipe_magnitude(recipe: dict, key: str, unit: str, low: float, high: float, shown: str = "") -> float:
    """``recipe[key]`` as a float in ``unit``, checked against a model's physical range.

    Args:
        shown: ``"percent"`` to state the range in % (the magnitude stays a fraction).

    Raises:
        InputDataError: the key is missing, the value is not a quantity (or a number, for a
            dimensionless parameter), has another dimension, or lies outside ``[low, high]``;
            the message names the key and the allowed range.
    """
    if shown == "percent":
        allowed = f"allowed {low * 100:g} - {high * 100:g} %"
    else:
        allowed = f"allowed {low:g} - {high:g}{'' if unit == 'dimensionless' else ' ' + unit}"
    if key not in recipe:
        raise InputDataError(f"recipe is missing {key!r} ({allowed}); it has {sorted(recipe)}")
    value = recipe[key]
    if isinstance(value, bool) or not isinstance(value, (pint.Quantity, int, float)):
        raise InputDataError(f"recipe[{key!r}]: {value!r} is not a quantity; give e.g. Q_(1, {unit!r}) ({allowed})")
    if not isinstance(value, pint.Quantity):
        if unit != "dimensionless":
            raise InputDataError(f"recipe[{key!r}]: {value!r} has no unit; give a quantity in {unit!r} ({allowed})")
        value = Q_(float(value), "dimensionless")
    try:
        m = float(value.to(unit).magnitude)
    except pint.DimensionalityError as err:
        raise InputDataError(f"recipe[{key!r}]: {value} has dimension {value.dimensionality}, "
                             f"expected a unit like {unit!r} ({allowed})") from err
    if not math.isfinite(m) or not low <= m <= high:
        raise InputDataError(f"recipe[{key!r}]: {value} is outside the physical range the model accepts ({allowed})")
    return m
