"""The thermoset blend film (DGEBA/IPDA with one additive), the reference material system.

Its physics lives in ``simulators.thermoset`` (two fidelities) and its synthesis line in
:mod:`systems.thermoset.devices` (dispense, mix, cure, characterize; simulated twins and EPICS
devices, built on the generic machinery of ``devices``; ``python -m systems.thermoset.ioc``
serves the twins over Channel Access); this module declares them to the controller as one :class:`core.system.MaterialSystem`,
registered in ``pyproject.toml`` as the entry point ``thermoset_blend``.
"""

from __future__ import annotations

from core.system import MOLECULE, MaterialSystem, PhysicalRange
from simulators.thermoset import ClosedFormThermoset, KineticsPhaseFieldThermoset
from simulators.thermoset.recipe import PHYSICAL_RANGES
from systems.thermoset.robot import ThermosetLine

system = MaterialSystem(
    name="thermoset_blend",
    description="DGEBA/IPDA film with one additive: cure kinetics, network Tg, phase separation",
    parameters={"additive": MOLECULE,
                **{key: PhysicalRange(unit, low, high) for key, (unit, low, high, _) in PHYSICAL_RANGES.items()}},
    properties={"glass_transition_temperature": PhysicalRange("degC", -150.0, 400.0),
                "fracture_toughness": PhysicalRange("MPa*m**0.5", 0.0, 20.0)},
    simulators={cls.name: cls for cls in (ClosedFormThermoset, KineticsPhaseFieldThermoset)},
    robot=ThermosetLine(),
)

__all__ = ["ThermosetLine", "system"]
