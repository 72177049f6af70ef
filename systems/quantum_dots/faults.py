"""Device faults the quantum-dot line's twins can inject in a dry run (``[[devices.faults]]``).

The same table as every line's (``device``, ``kind``, ``probability``, ``after_samples``,
``signal``; see :mod:`devices.faults`), for this line's devices. Kinds: ``timeout`` (the
action never finishes by itself), ``fail`` (it finishes with failure), ``disconnect``
(``set``/``trigger`` raise at once) on any device, and ``nan_reading`` (the spectrum's
``intensity`` comes back NaN) on the spectrometer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from devices.faults import ACTION_KINDS, FaultRules, FaultSpec

LINE_DEVICES = ("collector", "ambient", "precursor_pump", "oleic_acid_pump", "oleylamine_pump", "solvent_pump",
                "reactor", "spectrometer")
#: Which faults the twins inject.
FAULT_RULES = FaultRules(LINE_DEVICES, kinds=(*ACTION_KINDS, "nan_reading"), readings={"spectrometer": ("intensity",)},
                         line="the flow line")


def fault_specs_from_config(items: Sequence[Mapping[str, Any]] | None) -> tuple[FaultSpec, ...]:
    """Validate ``[[devices.faults]]`` into :class:`devices.FaultSpec` s (every problem at once)."""
    return FAULT_RULES.from_config(items)


__all__ = ["FAULT_RULES", "LINE_DEVICES", "fault_specs_from_config"]
