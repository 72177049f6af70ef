"""Simulator lookup: a campaign file names a model by entry point (group ``sdl.simulators``,
e.g. ``"mylab.coarse"``) or by reference (``"mylab.sims:Coarse"``). There is no list
of models here: a lab's package registers its own, and the reference systems register theirs
in this project's ``pyproject.toml`` exactly as an outside package would."""

from __future__ import annotations

import functools

from core import ConfigError, FieldIssue
from core.system import SIMULATORS_GROUP, installed, load_reference
from simulators.base import Simulator


def available_models() -> list[str]:
    """Installed model names, sorted (e.g. ``mylab.coarse``); references are not listed."""
    return installed(SIMULATORS_GROUP)


def is_known_model(model: str) -> bool:
    """True for an installed model name or a ``module:attribute`` reference (not imported here)."""
    return isinstance(model, str) and (":" in model or model in available_models())


def get_simulator(model: str, *, field: str = "fidelities.<name>.model", **options) -> Simulator:
    """Build a simulator by its name or reference.

    Args:
        model: e.g. ``"mylab.coarse"`` or ``"mylab.sims:Coarse"``.
        field: dotted config field named in errors (the caller knows the fidelity name).
        **options: keyword options of the model's constructor.

    Raises:
        ConfigError: unknown model (the message lists the installed ones), a reference that
            does not import, something that is not a simulator, or an option it does not accept.
    """
    factory = _factory(model, field)
    try:
        sim = factory(**options)
    except (TypeError, ValueError) as err:
        raise ConfigError(FieldIssue(f"{field.rsplit('.', 1)[0]}.options", f"{model}: {err}")) from err
    if not callable(getattr(sim, "run", None)):
        raise ConfigError(FieldIssue(field, f"{model!r} is a {type(sim).__name__}, not a simulator (it has no run())"))
    return sim


@functools.lru_cache(maxsize=64)
def _factory(model: str, field: str):
    """The model's class or factory, found once per process: looking an entry point up scans
    every installed distribution (about 15 ms), and a worker builds a simulator per sample."""
    return load_reference(model, SIMULATORS_GROUP, field, "simulator model")
