"""Model name -> simulator class, the one place the controller asks for a simulator."""

from __future__ import annotations

from core import ConfigError, FieldIssue
from simulators.base import Simulator


def _models() -> dict[str, type[Simulator]]:
    from simulators.thermoset import ClosedFormThermoset, KineticsPhaseFieldThermoset

    return {cls.name: cls for cls in (ClosedFormThermoset, KineticsPhaseFieldThermoset)}


def available_models() -> list[str]:
    """Registered model names, sorted (e.g. ``thermoset.closed_form``)."""
    return sorted(_models())


def get_simulator(model: str, *, field: str = "fidelities.<name>.model", **options) -> Simulator:
    """Build a simulator by its registry name.

    Args:
        model: e.g. ``"thermoset.closed_form"`` or ``"thermoset.kinetics_phase_field"``.
        field: dotted config field named in errors (the caller knows the fidelity name).
        **options: keyword options of the model's constructor.

    Raises:
        ConfigError: unknown model name (the message lists the available models), or
            an option the model does not accept.
    """
    models = _models()
    if model not in models:
        raise ConfigError(FieldIssue(field, f"unknown simulator model {model!r}; available: {sorted(models)}"))
    cls = models[model]
    try:
        return cls(**options)
    except (TypeError, ValueError) as err:
        raise ConfigError(FieldIssue(f"{field.rsplit('.', 1)[0]}.options", f"{model}: {err}")) from err
