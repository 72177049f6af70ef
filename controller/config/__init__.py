"""The campaign file -> a validated, frozen :class:`CampaignConfig`, one module per section.

``campaign`` assembles the sections: ``space`` (system, objective, parameters,
fidelities), ``optimizer``, ``devices`` (the line, its limits, the retry policy),
``scheduler``, ``control`` and ``backtest``. Nothing here imports the loop, the
executors or the user interfaces.
"""

from controller.config.campaign import DEFAULT_STORE, CampaignConfig, config_from_dict, load_config
from controller.config.optimizer import STRATEGIES, physics_for

__all__ = ["DEFAULT_STORE", "STRATEGIES", "CampaignConfig", "config_from_dict", "load_config", "physics_for"]
