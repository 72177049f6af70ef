"""``[optimizer]``: the strategy, its initial design and what the model takes from a simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from core import (
    ConfigError,
    FieldIssue,
    Fidelity,
    Objective,
    Parameter,
    SDLError,
)


STRATEGIES = ("multi_fidelity", "single_fidelity", "random", "sobol")

@dataclass(frozen=True)
class OptimizerSettings:
    """How suggestions are made.

    Attributes:
        strategy: one of ``multi_fidelity``, ``single_fidelity``, ``random``, ``sobol``.
        initial_design: fidelity name -> number of space-filling samples before the model.
        physics: what the model takes from a simulator (``optimizers.physics``): ``"none"``,
            ``"features"`` (its structure features as extra inputs), ``"prior_mean"`` (its
            prediction as the GP's prior mean) or ``"sim_input"`` (its prediction as an input).
        physics_model: the simulator asked (default: the cheapest simulator fidelity's model).
        physics_features: structure features used in ``features`` mode (None: all it returns).
        check_cheap_data: multi-fidelity only: while the cheap fidelities make the model's
            leave-one-out predictions of the target runs worse than the target runs alone do,
            take single-fidelity steps at the target and recommend from the target runs
            (``optimizers.trust``). Off by default: on the benchmark cells it did not pay.
        adaptive_start: multi-fidelity only: the initial design keeps at most two target runs and
            puts the first at the recipe the cheap data rates best so far; then the acquisition decides.
        kernel: multi-fidelity only: the GP's kernel (``optimizers.model.KERNELS``): ``linear_truncated``
            (default, BoTorch's ``SingleTaskMultiFidelityGP``), ``linear_truncated_scaled`` (the same with the
            dimension-scaled lengthscale prior on its shared part) or ``product``.
    """

    strategy: str = "multi_fidelity"
    initial_design: dict[str, int] = field(default_factory=dict, hash=False)
    physics: str = "none"
    physics_model: str | None = None
    physics_features: tuple[str, ...] | None = None
    check_cheap_data: bool = False
    adaptive_start: bool = False
    kernel: str = "linear_truncated"

#: Switches of the multi-fidelity strategy (``[optimizer] NAME = true``), passed on as strategy options.
MF_SWITCHES = ("check_cheap_data", "adaptive_start")

def parse_optimizer(raw: Any, fidelities: list[Fidelity] | None) -> OptimizerSettings:
    if not isinstance(raw, dict):
        raise ConfigError(FieldIssue("optimizer", "must be a table"))
    issues = []
    known = {"strategy", "initial_design", "physics", "physics_model", "physics_features", "kernel", *MF_SWITCHES}
    extra = set(raw) - known
    issues += [FieldIssue(f"optimizer.{k}", f"unknown field; allowed: {', '.join(sorted(known))}") for k in sorted(extra)]
    strategy = raw.get("strategy", "multi_fidelity")
    if strategy not in STRATEGIES:
        issues.append(FieldIssue("optimizer.strategy", f"{strategy!r} is not one of {list(STRATEGIES)}"))
    design = raw.get("initial_design", {})
    names = [f.name for f in fidelities or ()]
    if not isinstance(design, dict):
        issues.append(FieldIssue("optimizer.initial_design", "must be a table of fidelity = count"))
        design = {}
    for fid, count in design.items():
        if fidelities is not None and fid not in names:
            issues.append(FieldIssue(f"optimizer.initial_design.{fid}", f"unknown fidelity {fid!r}; allowed: {names}"))
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            issues.append(FieldIssue(f"optimizer.initial_design.{fid}", f"{count!r} must be a non-negative integer"))
    physics, physics_model, physics_features = _physics_settings(raw, strategy, fidelities, issues)
    switches = {}
    for key in MF_SWITCHES:
        value = switches[key] = raw.get(key, False)
        if not isinstance(value, bool):
            issues.append(FieldIssue(f"optimizer.{key}", f"{value!r} must be true or false"))
        elif key in raw and strategy != "multi_fidelity":
            issues.append(FieldIssue(f"optimizer.{key}", f"only used with strategy = \"multi_fidelity\", not {strategy!r}"))
    kernel = _kernel(raw, strategy, issues)
    if issues:
        raise ConfigError(issues)
    return OptimizerSettings(strategy=strategy, initial_design=dict(design), physics=physics,
                             physics_model=physics_model, physics_features=physics_features, kernel=kernel, **switches)

def _kernel(raw: dict, strategy: str, issues: list[FieldIssue]) -> str:
    """``optimizer.kernel``: the multi-fidelity GP's kernel, one of ``optimizers.model.KERNELS``."""
    from optimizers.model import KERNELS

    kernel = raw.get("kernel", KERNELS[0])
    if kernel not in KERNELS:
        issues.append(FieldIssue("optimizer.kernel", f"{kernel!r} is not one of {list(KERNELS)}"))
        return KERNELS[0]
    if "kernel" in raw and strategy != "multi_fidelity":
        issues.append(FieldIssue("optimizer.kernel", f"only used with strategy = \"multi_fidelity\", not {strategy!r}"))
    return kernel

PHYSICS_MODES = ("none", "features", "prior_mean", "sim_input")

def _physics_settings(raw: dict, strategy: str, fidelities: list[Fidelity] | None, issues: list[FieldIssue]):
    """``optimizer.physics*``: the mode, the simulator (default the cheapest simulator fidelity's) and features."""
    physics = raw.get("physics", "none")
    if physics not in PHYSICS_MODES:
        issues.append(FieldIssue("optimizer.physics", f"{physics!r} is not one of {list(PHYSICS_MODES)}"))
        return "none", None, None
    model = raw.get("physics_model")
    features = raw.get("physics_features")
    if physics == "none":
        for key in ("physics_model", "physics_features"):
            if key in raw:
                issues.append(FieldIssue(f"optimizer.{key}", "only used with physics = \"features\", \"prior_mean\" or \"sim_input\""))
        return "none", None, None
    if strategy not in ("multi_fidelity", "single_fidelity"):
        issues.append(FieldIssue("optimizer.physics", f"{physics!r} needs a model-based strategy "
                                                      f"('multi_fidelity' or 'single_fidelity'), not {strategy!r}"))
    if model is None:
        sims = sorted((f for f in fidelities or () if f.kind == "simulator"), key=lambda f: (f.cost, f.value))
        if fidelities is not None and not sims:
            issues.append(FieldIssue("optimizer.physics_model", "no simulator fidelity to default to; name a simulator "
                                                                "model (an installed name or a module:attribute reference)"))
        model = sims[0].model if sims else None
    elif not isinstance(model, str):
        issues.append(FieldIssue("optimizer.physics_model", f"{model!r} must be a simulator model name"))
        model = None
    else:
        from simulators.registry import available_models, is_known_model

        if not is_known_model(model):
            issues.append(FieldIssue("optimizer.physics_model", f"unknown simulator {model!r}; installed: "
                                                                f"{available_models()} (or a module:attribute reference)"))
            model = None
    if features is not None:
        if physics != "features":
            issues.append(FieldIssue("optimizer.physics_features", f"only used with physics = \"features\", not {physics!r}"))
            features = None
        elif not isinstance(features, list) or not features or not all(isinstance(x, str) for x in features):
            issues.append(FieldIssue("optimizer.physics_features", f"{features!r} must be a non-empty list of structure "
                                                                   "feature names, e.g. [\"degree_of_cure\"]"))
            features = None
        else:
            features = tuple(features)
    return physics, model, features

def check_physics(optimizer: OptimizerSettings, parameters: list[Parameter], objective: Objective) -> None:
    """The physics simulator must return the chosen features and predict the objective (run once on the box's middle)."""
    if optimizer.physics == "none" or optimizer.physics_model is None:
        return
    from optimizers.physics import available_features
    from simulators import get_simulator

    try:
        structure, properties = available_features(get_simulator(optimizer.physics_model,
                                                                 field="optimizer.physics_model"), parameters)
    except SDLError as err:
        raise ConfigError(FieldIssue("optimizer.physics_model", f"{optimizer.physics_model} cannot run this search "
                                                                f"space's middle recipe: {err}")) from err
    except Exception as err:  # noqa: BLE001 - a lab's model failing in its own way is reported the same
        raise ConfigError(FieldIssue("optimizer.physics_model", f"{optimizer.physics_model} raised "
                                                                f"{type(err).__name__} on this search space's middle "
                                                                f"recipe: {err}")) from err
    issues = []
    if optimizer.physics_features is not None:
        bad = [f for f in optimizer.physics_features if f not in structure]
        if bad:
            issues.append(FieldIssue("optimizer.physics_features", f"{bad} not returned by {optimizer.physics_model}; "
                                                                   f"allowed: {structure}"))
    if optimizer.physics in ("prior_mean", "sim_input") and objective.property not in properties:
        issues.append(FieldIssue("optimizer.physics", f"{optimizer.physics_model} does not predict "
                                                      f"{objective.property!r} (it predicts {properties})"))
    if issues:
        raise ConfigError(issues)

def physics_for(config):
    """The ``optimizers.physics.PhysicsFeatures`` a campaign's strategy gets (None without physics)."""
    opt = config.optimizer
    if opt.physics == "none":
        return None
    from optimizers.physics import simulator_physics
    from simulators import get_simulator

    sim = get_simulator(opt.physics_model, field="optimizer.physics_model")
    return simulator_physics(sim, opt.physics, config.objective, opt.physics_features)
