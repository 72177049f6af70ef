"""Device faults of the thermoset line: what its simulated twins can be told to do wrong.

:data:`FAULT_RULES` says which (any kind on any device; a reading fault on a checked reading,
a ``stuck`` one only on a noisy reading, see :mod:`systems.thermoset.devices.readings`);
``fault_specs_from_config`` validates a campaign file's ``[[devices.faults]]`` list against
them. The specs only matter to the simulated twins
(:func:`systems.thermoset.devices.make_sim_line`); on hardware, faults come by themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from devices.faults import FaultRules, FaultSpec
from systems.thermoset.devices.readings import READINGS

#: Devices of the line, by their attribute (and ophyd) names.
LINE_DEVICES = ("resin_dispenser", "hardener_dispenser", "additive_dispenser", "mixer", "oven", "characterizer",
                "tracker", "ambient")
#: Which faults the twins inject. The tracker acts twice per sample (assign, locate), the
#: ambient sensor six times, the others once; a reading fault without ``signal`` corrupts the
#: device's main reading (``dispensed_mass``, ``mean_speed``, ``mean_hold_temperature``,
#: ``glass_transition_temperature``, ``room_temperature``).
FAULT_RULES = FaultRules.for_readings(LINE_DEVICES, READINGS)


def fault_spec(device: str, kind: str, probability: float, after_samples: int | None = None,
               signal: str | None = None, *, index: int = 0) -> FaultSpec:
    """One fault of the line, checked (see :meth:`devices.faults.FaultRules.spec`)."""
    return FAULT_RULES.spec(device, kind, probability, after_samples, signal, index=index)


def fault_specs_from_config(items: Sequence[Mapping[str, Any]] | None) -> tuple[FaultSpec, ...]:
    """Validate the campaign file's ``devices.faults`` list (of tables) into :class:`devices.FaultSpec` s.

    Raises:
        ConfigError: every problem of every entry at once, each naming ``devices.faults[<i>].<field>``.
    """
    return FAULT_RULES.from_config(items)


def allowed_signals(device: str, kind: str) -> tuple[str, ...]:
    """Readings of ``device`` that a fault of ``kind`` may corrupt (the first is the default)."""
    return FAULT_RULES.signals(device, kind)


__all__ = ["FAULT_RULES", "LINE_DEVICES", "allowed_signals", "fault_spec", "fault_specs_from_config"]
