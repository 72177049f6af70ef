"""Startup module of a bluesky-queueserver RE Manager that runs a material system's robot plan.

Start RE Manager with it (see README.md, "Robot plans on a queue server")::

    start-re-manager --startup-module devices.qserver_profile.startup \
        --user-group-permissions devices/qserver_profile/user_group_permissions.yaml \
        --existing-plans-devices ~/.config/sdl/qserver_existing_plans_and_devices.yaml \
        --redis-addr localhost:6379 --zmq-control-addr tcp://127.0.0.1:60615

Environment variables read when the worker environment opens:

- ``SDL_QSERVER_PUBLISH``: the 0MQ proxy *input* the RunEngine publishes every document to
  with bluesky's ``Publisher`` (prefix ``b"sdl.documents"``, JSON: never pickle, so the
  controller's feed parses what arrives as data); default ``tcp://127.0.0.1:5567``.
  The controller subscribes to the proxy's output (``[devices] qserver_data``).
- ``SDL_LINE_SETTINGS``: optional path of a JSON line-settings file
  (:mod:`devices.qserver_profile.settings`), naming the material system; without it there
  is no line until a controller calls :func:`configure_sim_line` with its campaign's settings.

The line is built by the material system the settings name (loaded by reference, as a
campaign file names it: :func:`core.system.load_system`), so this profile knows no system.
What it exposes to the queue: the plan :func:`make_and_characterize` (JSON parameters; it runs
the system's own plan on the line of this namespace), the functions :func:`configure_sim_line`
and :func:`line_status` (``function_execute``), and the line's Ophyd devices by their names.
Every other name starts with ``_`` and is hidden by the permissions file.

No ``from __future__ import annotations`` here: the queue server reads the plan's
annotations from its signature and needs them as types, not strings.
"""

import json as _json
import logging as _logging
import os as _os
from typing import Optional

from bluesky import RunEngine as _RunEngine
from bluesky.callbacks.zmq import Publisher as _Publisher
from core import Q_ as _Q
from core import InputDataError as _InputDataError
from core import quantity_from_record as _from_record
from core.system import load_system as _load_system
from devices.qserver_profile import settings as _settings

#: Same prefix as the controller's live stream (``controller.ui.stream.DOCUMENT_PREFIX``).
_DOCUMENT_PREFIX = b"sdl.documents"
_DEFAULT_PUBLISH = "tcp://127.0.0.1:5567"
#: Batch mass of a plan item that names none: the campaign file's default.
_DEFAULT_BATCH_MASS = _Q(10.0, "g")
#: A device action may take this many times its expected duration (the campaign file's default).
_DEFAULT_WATCHDOG_FACTOR = 3.0
_log = _logging.getLogger("sdl.qserver_profile")


def _json_value(value):
    """``json.dumps``' fallback for documents: numpy arrays become lists, numpy scalars numbers
    (the same wire format as ``controller.execution.proxy.serialize_document``, which this
    profile cannot import: devices never import the controller)."""
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _serialize_document(doc) -> bytes:
    return _json.dumps(doc, default=_json_value, separators=(",", ":")).encode()


def _initial_settings() -> dict:
    path = _os.environ.get("SDL_LINE_SETTINGS")
    if not path:
        return dict(_settings.DEFAULT_SETTINGS)
    with open(path, encoding="utf-8") as handle:
        return _settings.validate_settings(_json.load(handle))


def _build(settings: dict):
    """The system's robot line and a fresh line for validated ``settings`` (None, None without a system)."""
    if settings["system"] is None:
        return None, None
    return _load_system(settings["system"], "line_settings.system").robot, _settings.line_from_settings(settings)


_state = {"settings": _initial_settings(), "exposed": ()}
_state["key"] = _settings.settings_key(_state["settings"])
_robot, line = _build(_state["settings"])


def _expose_devices() -> None:
    """The line's Ophyd devices as names of this namespace (the queue's device list); a
    rebuilt line's devices replace the previous line's."""
    for name in _state["exposed"]:
        globals().pop(name, None)
    devices = dict(getattr(line, "devices", {}) or {}) if line is not None else {}
    globals().update(devices)
    _state["exposed"] = tuple(devices)


_expose_devices()

RE = _RunEngine({})
# A failed run is recorded with its fault by the controller; the engine's own traceback only buries it.
RE.log.setLevel(_logging.CRITICAL)
_publisher = _Publisher(_os.environ.get("SDL_QSERVER_PUBLISH", _DEFAULT_PUBLISH), prefix=_DOCUMENT_PREFIX,
                        serializer=_serialize_document)
RE.subscribe(_publisher)


def configure_sim_line(settings: dict, rebuild: bool = False) -> dict:
    """Rebuild the simulated line with a campaign's settings, unless it already has them.

    Parameters
    ----------
    settings : dict
        Line settings record: system, seed, speedup, limits, faults.
    rebuild : bool, optional
        Build a fresh line even if it has these settings (a controller starting a campaign:
        the same seed then gives the same lots, noise and faults as a local run).

    Returns
    -------
    dict
        ``{"key", "rebuilt"}``: the settings' key, and whether the line was rebuilt.
    """
    global line, _robot
    record = _settings.validate_settings(settings)
    key = _settings.settings_key(record)
    if key == _state["key"] and not rebuild:
        return {"key": key, "rebuilt": False}
    _robot, line = _build(record)
    _state.update(settings=record, key=key)
    _expose_devices()
    _log.info("simulated line rebuilt with settings %s", key)
    return {"key": key, "rebuilt": True}


def line_status() -> dict:
    """The line's settings key and settings, the samples it made, and the faults it injected.

    Returns
    -------
    dict
        ``{"key", "settings", "samples", "injected_faults"}``.
    """
    simulation = getattr(line, "simulation", None)
    injected = len(getattr(getattr(simulation, "faults", None), "log", []) or [])
    return {"key": _state["key"], "settings": _state["settings"],
            "samples": len(getattr(simulation, "samples", {}) or {}), "injected_faults": injected}


def make_and_characterize(
    recipe: dict,
    sample_id: str,
    md: Optional[dict] = None,
    batch_mass: Optional[dict] = None,
    watchdog_factor: float = _DEFAULT_WATCHDOG_FACTOR,
    line_settings: Optional[str] = None,
):
    """Make one sample from a recipe on the configured line and characterize it (the
    material system's own plan).

    Parameters
    ----------
    recipe : dict
        Parameter name to ``{"value", "unit"}`` record, or text (a SMILES).
    sample_id : str
        The sample's id, given to the line's tracker and recorded in the start document.
    md : dict, optional
        Extra start metadata (campaign, fidelity, attempt, suggestion).
    batch_mass : dict, optional
        Batch mass as ``{"value", "unit"}``; default 10 g (a line that makes no batches ignores it).
    watchdog_factor : float, optional
        A device action may take this many times its expected duration.
    line_settings : str, optional
        The settings key the controller configured; the plan refuses to run on a line
        configured otherwise (e.g. after the environment was reopened).
    """
    if line_settings is not None and line_settings != _state["key"]:
        raise _InputDataError(
            f"the line is configured with settings {_state['key']}, the controller expects {line_settings}; "
            "call configure_sim_line with the campaign's settings first")
    if line is None:
        raise _InputDataError("no line is configured (the settings name no material system); "
                              "call configure_sim_line with the campaign's settings first")
    quantities = {name: _from_record(value) for name, value in dict(recipe).items()}
    mass = _from_record(batch_mass) if batch_mass is not None else _DEFAULT_BATCH_MASS
    return (yield from _robot.plan(line, quantities, sample_id=sample_id, md=md or {}, batch_mass=mass,
                                   watchdog_factor=watchdog_factor))
