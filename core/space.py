"""Frozen, self-validating value objects that describe a campaign's search space.

They are built by ``controller.config.campaign`` from a campaign file and consumed by
``optimizers`` (encoding), ``simulators`` (recipes) and ``devices`` (limits).
A *recipe* is ``dict[str, pint.Quantity | str]``: continuous parameters as
quantities, categorical parameters as the choice string, molecule parameters as
the canonical SMILES string.
"""

from __future__ import annotations

import functools

import math
from dataclasses import dataclass, field
from typing import Union

import pint

from core.errors import ConfigError, FieldIssue, InputDataError
from core.units import Q_, unit_text

# How a molecule parameter is shown to the model (see ``optimizers.featurize``).
FEATURIZATIONS = ("descriptors", "morgan", "both")


@dataclass(frozen=True)
class ContinuousParameter:
    """A bounded number with a unit.

    Attributes:
        name: parameter name, also the recipe key.
        low, high: bounds as pint quantities of the same dimension.
        unit: the unit in which tables, encodings and CSV columns express values.
    """

    name: str
    low: pint.Quantity
    high: pint.Quantity
    unit: str

    def __post_init__(self) -> None:
        where = f"parameters.{self.name}"
        if self.low.dimensionality != self.high.dimensionality:
            raise ConfigError(FieldIssue(where, f"low {self.low} and high {self.high} have different dimensions"))
        if Q_(1, self.unit).dimensionality != self.low.dimensionality:
            raise ConfigError(FieldIssue(f"{where}.unit", f"{self.unit!r} does not match the bounds' dimension {self.low.dimensionality}"))
        if not self.low_magnitude < self.high_magnitude:
            raise ConfigError(
                FieldIssue(where, f"low {self.low:~P} must be below high {self.high:~P}; swap them")
            )

    @property
    def kind(self) -> str:
        return "continuous"

    @functools.cached_property
    def low_magnitude(self) -> float:  # cached: a pint conversion costs about 0.1 ms, and encodings use it per column
        return float(self.low.to(self.unit).magnitude)

    def magnitude(self, value: object) -> float:
        """A recipe's value (a quantity, or a plain number meaning ``unit``) as a float in ``unit``.

        Raises:
            InputDataError: a quantity of the wrong dimension, or not a number at all.
        """
        if isinstance(value, pint.Quantity):
            try:
                return float(value.to(self.unit).magnitude)
            except pint.DimensionalityError as err:
                raise InputDataError(f"recipe {self.name!r}: {value} cannot be converted to {self.unit}") from err
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise InputDataError(f"recipe {self.name!r}: {value!r} is not a quantity in {self.unit}")

    @functools.cached_property
    def high_magnitude(self) -> float:
        return float(self.high.to(self.unit).magnitude)

    @property
    def column(self) -> str:
        """Column name in exported tables, with the unit: ``cure_temperature [degC]``."""
        text = unit_text(self.unit)
        return self.name if text == "dimensionless" else f"{self.name} [{text}]"

    def quantity(self, magnitude: float) -> pint.Quantity:
        return Q_(float(magnitude), self.unit)

    def contains(self, value: pint.Quantity) -> bool:
        m = float(value.to(self.unit).magnitude)
        return self.low_magnitude <= m <= self.high_magnitude


@dataclass(frozen=True)
class CategoricalParameter:
    """One of a finite set of labels (e.g. a stirrer blade type)."""

    name: str
    choices: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.choices) < 1:
            raise ConfigError(FieldIssue(f"parameters.{self.name}.choices", "needs at least one choice"))
        if len(set(self.choices)) != len(self.choices):
            raise ConfigError(FieldIssue(f"parameters.{self.name}.choices", f"duplicate choices in {list(self.choices)}"))

    @property
    def kind(self) -> str:
        return "categorical"

    @property
    def column(self) -> str:
        return self.name


@dataclass(frozen=True)
class MoleculeParameter:
    """A choice among molecules given as SMILES, featurized with rdkit by the optimizer.

    Attributes:
        choices: label -> canonical SMILES. Recipes carry the SMILES.
        featurization: what the model sees of a molecule: ``"descriptors"`` (rdkit 2D
            descriptors), ``"morgan"`` (Morgan fingerprint bits, Tanimoto kernel) or ``"both"``.
        descriptors: rdkit descriptor names (None: the optimizer's default set; the
            catalogue is ``optimizers.featurize.DESCRIPTORS``).
        morgan_radius, morgan_bits: Morgan fingerprint radius and length.
    """

    name: str
    choices: dict[str, str] = field(hash=False)
    featurization: str = "descriptors"
    descriptors: tuple[str, ...] | None = None
    morgan_radius: int = 2
    morgan_bits: int = 2048

    def __post_init__(self) -> None:
        if self.featurization not in FEATURIZATIONS:
            raise ConfigError(FieldIssue(f"parameters.{self.name}.featurization",
                                         f"{self.featurization!r} is not one of {list(FEATURIZATIONS)}"))
        if self.descriptors is not None:
            if isinstance(self.descriptors, str) or not all(isinstance(d, str) for d in self.descriptors):
                raise ConfigError(FieldIssue(f"parameters.{self.name}.descriptors", "must be a list of rdkit descriptor names"))
            object.__setattr__(self, "descriptors", tuple(self.descriptors))
        where = f"parameters.{self.name}.choices"
        if not self.choices:
            raise ConfigError(FieldIssue(where, "needs at least one molecule (label = \"SMILES\")"))
        canon = {label: canonical_smiles(smiles, f"{where}.{label}") for label, smiles in self.choices.items()}
        if len(set(canon.values())) != len(canon):
            raise ConfigError(FieldIssue(where, "two labels name the same molecule"))
        object.__setattr__(self, "choices", canon)

    @property
    def kind(self) -> str:
        return "molecule"

    @property
    def column(self) -> str:
        return self.name

    @property
    def smiles(self) -> tuple[str, ...]:
        return tuple(self.choices.values())

    def label_of(self, smiles: str) -> str:
        for label, s in self.choices.items():
            if s == smiles:
                return label
        raise KeyError(smiles)


Parameter = Union[ContinuousParameter, CategoricalParameter, MoleculeParameter]


def canonical_smiles(smiles: str, field_name: str) -> str:
    """Canonical SMILES via rdkit; raises ConfigError naming the field if invalid."""
    try:
        from rdkit import Chem, RDLogger
    except ImportError as err:  # pragma: no cover - rdkit is a core dependency
        raise ConfigError(FieldIssue(field_name, "rdkit is needed for molecule parameters: pip install rdkit")) from err
    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) and smiles.strip() else None
    if mol is None:
        raise ConfigError(FieldIssue(field_name, f"{smiles!r} is not a valid SMILES string"))
    return Chem.MolToSmiles(mol)


#: ``table``: answered by a recorded table (``sdl backtest``), neither simulated nor made.
FIDELITY_KINDS = ("simulator", "robot", "table")
#: the most synthesis stations one robot fidelity may declare
MAX_STATIONS = 64


@dataclass(frozen=True)
class Fidelity:
    """One level of experiment the optimizer can choose.

    Attributes:
        name: e.g. ``closed_form``, ``kinetics_phase_field``, ``robot``.
        kind: ``"simulator"``, ``"robot"`` or ``"table"`` (backtests on recorded data).
        cost: cost units charged per sample (the budget is in the same units).
        value: position on the fidelity axis in (0, 1]; the target fidelity is 1.
        target: True for the fidelity the campaign optimizes (the robot).
        model: simulator model name (``kind == "simulator"``), e.g. ``mylab.coarse`` or ``mylab.sims:Coarse``.
        expected_duration: how long one sample takes (robot), or None.
        stations: how many samples of this fidelity can be made at once (robot: the
            lab's synthesis stations, each its own line running its own sample).
    """

    name: str
    kind: str
    cost: float
    value: float
    target: bool = False
    model: str | None = None
    expected_duration: pint.Quantity | None = None
    stations: int = 1

    def __post_init__(self) -> None:
        where = f"fidelities.{self.name}"
        if isinstance(self.stations, bool) or not isinstance(self.stations, int) or not 1 <= self.stations <= MAX_STATIONS:
            raise ConfigError(FieldIssue(f"{where}.stations", f"{self.stations!r} must be a whole number from 1 to {MAX_STATIONS}"))
        if self.stations > 1 and self.kind != "robot":
            raise ConfigError(FieldIssue(f"{where}.stations", f"only a robot fidelity has stations; {self.name!r} is {self.kind!r}"))
        if self.kind not in FIDELITY_KINDS:
            raise ConfigError(FieldIssue(f"{where}.kind", f"{self.kind!r} is not one of {', '.join(map(repr, FIDELITY_KINDS))}"))
        if not self.cost > 0:
            raise ConfigError(FieldIssue(f"{where}.cost", f"{self.cost} must be > 0 cost units"))
        if not 0 < self.value <= 1:
            raise ConfigError(FieldIssue(f"{where}.value", f"{self.value} must be in (0, 1]; the target is 1"))


@dataclass(frozen=True)
class Objective:
    """The property to optimize.

    Attributes:
        property: property name as returned by simulators and the characterizer.
        unit: unit of the objective in tables and the optimizer.
        direction: ``"maximize"`` or ``"minimize"``.
        threshold: the worst acceptable value, in ``unit`` (None: none stated). With several
            objectives it is the hypervolume reference point; a sample worse than it adds
            nothing to the front.
    """

    property: str
    unit: str
    direction: str = "maximize"
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.direction not in ("maximize", "minimize"):
            raise ConfigError(FieldIssue("objective.direction", f"{self.direction!r} is not one of 'maximize', 'minimize'"))
        if self.threshold is not None and not math.isfinite(float(self.threshold)):
            raise ConfigError(FieldIssue("objective.threshold", f"{self.threshold!r} must be a finite number"))

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b`` in this objective's direction."""
        return a * self.sign > b * self.sign

    @property
    def sign(self) -> float:
        """+1 to maximize, -1 to minimize: the optimizer always maximizes ``sign * value``."""
        return 1.0 if self.direction == "maximize" else -1.0
