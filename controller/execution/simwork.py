"""Work done in simulator worker processes.

Recipes cross the process boundary as JSON-able dicts (``{"value", "unit"}``) so
quantities are rebuilt in the worker's own registry; pickled pint objects would
belong to the parent's registry.
"""

from __future__ import annotations

import time
from typing import Any

from controller.execution.protocol import SimulationOutcome
from controller.records.samples import from_jsonable, to_jsonable
from core import SDLError, SimulationError


def run_simulation(model: str, recipe: dict[str, Any], seed: int) -> SimulationOutcome:
    """Run one simulation (``recipe`` JSON-able) and return its JSON-able outcome."""
    from simulators import get_simulator

    start = time.time()
    try:
        result = get_simulator(model).run(from_jsonable(recipe), seed=seed)
    except SDLError:
        raise
    except Exception as err:  # a fault of this sample, recorded with it: say which model raised what
        raise SimulationError(f"simulator {model!r} raised {type(err).__name__}: {err}") from err
    end = time.time()
    return SimulationOutcome(
        model=result.model,
        model_version=result.model_version,
        steps=to_jsonable([dict(step) for step in result.steps]),
        structure=to_jsonable(result.structure),
        properties=to_jsonable(result.properties),
        start_time=start,
        end_time=end,
    )
