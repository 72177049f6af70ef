"""Physics-based virtual experiments: recipe + process -> structure + properties.

The generic part names no material system: the simulator contract (:mod:`simulators.base`),
model lookup by name or reference (:mod:`simulators.registry`) and recorded tables as
lookups or emulators (:mod:`simulators.table`). The reference systems' models live in
``simulators.<system>`` and register themselves as entry points like any lab's own.

Pure Python (numpy, scipy, rdkit); never imports bluesky, ophyd, the controller,
devices or optimizers. ::

    from simulators import get_simulator
    result = get_simulator("mylab.coarse").run(recipe, seed=0)
"""

from simulators.base import ProcessStepRecord, SimulationResult, Simulator
from simulators.registry import available_models, get_simulator

__all__ = [
    "ProcessStepRecord",
    "SimulationResult",
    "Simulator",
    "available_models",
    "get_simulator",
]
