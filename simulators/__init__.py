"""Physics-based virtual experiments: recipe + process -> structure + properties.

Pure Python (numpy, scipy, rdkit); never imports bluesky, ophyd, the controller,
devices or optimizers. ::

    from simulators import get_simulator
    result = get_simulator("thermoset.closed_form").run(recipe, seed=0)
"""

from simulators.base import ProcessStepRecord, SimulationResult, Simulator
from simulators.registry import available_models, get_simulator
from simulators.thermoset import (
    ADDITIVE_LIBRARY,
    ClosedFormThermoset,
    KineticsPhaseFieldThermoset,
    estimate_solubility_parameter,
    molecular_descriptors,
)

__all__ = [
    "ADDITIVE_LIBRARY",
    "ClosedFormThermoset",
    "KineticsPhaseFieldThermoset",
    "ProcessStepRecord",
    "SimulationResult",
    "Simulator",
    "available_models",
    "estimate_solubility_parameter",
    "get_simulator",
    "molecular_descriptors",
]
