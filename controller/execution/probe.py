"""Before a campaign records anything, its material system's parts run once on the middle of the
search space, so that a plugin that breaks its contract is refused with one line naming the
system and the part (:class:`core.PluginError`), before a store is touched:

- each simulator fidelity's model is built and run in this process (as the physics check of
  the campaign file does; the reference systems' simulators take 0.02 to 0.2 s) and must
  return the objective's property in a unit of its kind;
- the robot's plan for that recipe is walked, without a RunEngine and without moving
  anything (a plan only yields messages), up to its ``open_run``: a plan that ends without
  opening a run would make no documents, and so no record.

A recipe in the middle that breaks a linear constraint or a line limit is not probed (each run
is checked on its own). A plan that needs a response only a RunEngine gives before it opens its
run is left to the run itself, where a run without documents is refused the same way
(:class:`controller.execution.robot.RobotExecutor`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from controller.config.campaign import CampaignConfig
from core import LimitError, PluginError

__all__ = ["PROBE_MESSAGES", "probe_plan", "probe_simulators"]

#: Messages walked before a plan that has not opened its run yet is left to the run itself.
PROBE_MESSAGES = 10_000


def _middle(config: CampaignConfig) -> dict[str, Any] | None:
    """The recipe in the middle of the search space, or None when it breaks a linear constraint."""
    from optimizers.physics import midpoint_recipe

    recipe = midpoint_recipe(config.parameters)
    try:
        config.check_constraints(recipe)
    except LimitError:
        return None
    return recipe


def _shown(recipe: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:~g}" if hasattr(v, "units") else f"{k}={v}" for k, v in recipe.items())


def probe_simulators(config: CampaignConfig) -> None:
    """Run each simulator fidelity's model once on the middle recipe.

    Raises:
        PluginError: a model does not build, raises, or returns no objective property of the
            objective's dimension; the message names the system, the model and its fidelity.
    """
    from core import Q_
    from simulators import get_simulator

    recipe = _middle(config)
    if recipe is None:
        return
    prop, unit = config.objective.property, config.objective.unit
    for f in config.fidelities:
        if f.kind != "simulator":
            continue
        where = (f"material system {config.system!r}: simulator {f.model!r} (fidelities.{f.name})")
        try:
            result = get_simulator(f.model, field=f"fidelities.{f.name}.model").run(dict(recipe), seed=0)
        except Exception as err:  # noqa: BLE001 - whatever the lab's model raises is reported
            raise PluginError(f"{where} raised {type(err).__name__}: {err} on the middle of the search space "
                              f"({_shown(recipe)}); nothing was run or recorded") from err
        value = (getattr(result, "properties", None) or {}).get(prop)
        if getattr(value, "dimensionality", None) != Q_(1, unit).dimensionality:
            raise PluginError(f"{where} returned {prop} = {value!r} on the middle of the search space; the "
                              f"objective needs it as a quantity in {unit} (or a unit of its kind)")


def probe_plan(config: CampaignConfig, station: Any) -> None:
    """Walk the robot's plan for the middle recipe up to its ``open_run``, moving nothing.

    Only a station that runs the system's own plan on a line in this process is probed (a
    queue server runs its profile's plan).

    Raises:
        PluginError: the plan raises when built, is not a plan, yields something that is not a
            bluesky ``Msg``, or ends without opening a run.
    """
    from bluesky import Msg
    from bluesky.utils import ensure_generator

    line, robot = getattr(station, "line", None), config.robot
    recipe = _middle(config)
    if line is None or robot is None or recipe is None:
        return
    devices = config.devices
    try:
        robot.check_recipe(recipe, station.limits, batch_mass=devices.batch_mass)
    except LimitError:
        return  # the middle is not made on this line: each run is checked on its own
    where = f"material system {config.system!r}: robot.plan"
    try:
        made = robot.plan(line, recipe, sample_id=f"{config.name}-probe", md={}, batch_mass=devices.batch_mass,
                          watchdog_factor=devices.watchdog_factor)
    except LimitError:
        return
    except Exception as err:  # noqa: BLE001 - a plugin error of any kind is reported with its part
        raise PluginError(f"{where} raised {type(err).__name__}: {err} for the middle of the search space "
                          f"({_shown(recipe)})") from err
    try:
        plan = ensure_generator(made)
    except TypeError as err:
        raise PluginError(f"{where} returned {type(made).__name__} {made!r:.60}, not a plan (a generator of "
                          "bluesky Msg)") from err
    messages = 0
    try:
        while messages < PROBE_MESSAGES:
            msg = plan.send(None)
            messages += 1
            if not isinstance(msg, Msg):
                raise PluginError(f"{where} yielded {msg!r}, not a bluesky Msg; a plan yields messages "
                                  "(bluesky.plan_stubs), never values")
            if msg.command == "open_run":
                return
    except StopIteration:
        raise PluginError(f"{where} ended after {messages} message{'s' * (messages != 1)} without opening a "
                          "run, so it would make no documents and no record; open one with "
                          "bluesky.preprocessors.run_decorator (a run: start, descriptors, events, stop)") from None
    except PluginError:
        raise
    except Exception:  # noqa: BLE001 - it needed a response only a RunEngine gives: the run will tell
        return
    finally:
        with contextlib.suppress(Exception):
            plan.close()
