"""The one place a campaign's strategy is built: the loop, backtests and explanations all call
:func:`build_strategy`, so the model they see is the same."""

from __future__ import annotations

from typing import Any

from controller.config.campaign import CampaignConfig
from controller.config.optimizer import MF_SWITCHES, physics_for

PHYSICS_SUFFIX = "+physics"  # a backtest method with the campaign's [optimizer] physics on top


def build_strategy(config: CampaignConfig, method: str | None = None, seed: int | None = None) -> Any:
    """The ``optimizers`` strategy for a campaign.

    Args:
        config: the validated campaign.
        method: None for the campaign's own strategy with its ``[optimizer] physics``; else a
            strategy name, optionally ending in ``+physics`` for the campaign's physics on top.
            The campaign's ``initial_design`` applies only to its own strategy.
        seed: overrides the campaign's seed (backtests pair seeds across methods).

    Raises:
        ConfigError / OptimizerError: settings the optimizer refuses (before anything runs).
    """
    from optimizers import SearchSpace, make_strategy

    if method is None:
        base, physics = config.optimizer.strategy, physics_for(config)
    else:
        base = method.removesuffix(PHYSICS_SUFFIX)
        physics = physics_for(config) if method.endswith(PHYSICS_SUFFIX) else None
    own = base == config.optimizer.strategy
    design = (config.optimizer.initial_design or None) if own else None
    options: dict[str, Any] = {"physics": physics} if physics is not None else {}
    if own and base == "multi_fidelity":
        options.update({key: True for key in MF_SWITCHES if getattr(config.optimizer, key)})
        options["kernel"] = config.optimizer.kernel
    space = SearchSpace(config.parameters, config.fidelities, config.objectives or (config.objective,),
                        linear_constraints=config.linear_constraints, outcome_constraints=config.outcome_constraints)
    return make_strategy(base, space, seed=config.seed if seed is None else seed, initial_design=design, **options)
