"""Shared vocabulary of the controller: errors, units and campaign value objects.

Every other package may import ``core``; ``core`` imports none of them. It exists
so that ``devices`` (which must not import botorch) and ``optimizers`` /
``simulators`` (which must not import bluesky, ophyd or the controller) share one
exception base, one pint registry and one definition of a parameter or fidelity.
"""

from core.constraints import LinearConstraint, parse_linear_constraint
from core.goals import OutcomeConstraint, parse_outcome_constraint
from core.errors import (
    DEVICE_FAULT_KINDS,
    ConfigError,
    DeviceError,
    DeviceFault,
    FieldIssue,
    InputDataError,
    LimitError,
    OptimizerError,
    PluginError,
    SDLError,
    SimulationError,
    StoreError,
)
from core.space import (
    CategoricalParameter,
    ContinuousParameter,
    Fidelity,
    MoleculeParameter,
    Objective,
    Parameter,
)
from core.units import Q_, parse_quantity, quantity_from_record, quantity_to_record, unit_text, ureg

__all__ = [
    "Q_",
    "CategoricalParameter",
    "DEVICE_FAULT_KINDS",
    "ConfigError",
    "ContinuousParameter",
    "DeviceError",
    "DeviceFault",
    "FieldIssue",
    "Fidelity",
    "InputDataError",
    "LimitError",
    "LinearConstraint",
    "MoleculeParameter",
    "Objective",
    "OutcomeConstraint",
    "OptimizerError",
    "Parameter",
    "PluginError",
    "SDLError",
    "SimulationError",
    "StoreError",
    "parse_linear_constraint",
    "parse_outcome_constraint",
    "parse_quantity",
    "quantity_from_record",
    "quantity_to_record",
    "unit_text",
    "ureg",
]
