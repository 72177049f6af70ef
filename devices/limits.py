"""Device limits: the allowed range of every setpoint of the line, as pint quantities.

A setpoint is named by its *path* ``<device>.<signal>`` (``furnace.temperature``,
``stirrer.speed``, ``feed_pump.flow_rate``). The same paths appear in the
``set`` messages of a plan, in the descriptors' data keys and in the errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import pint

from core import Q_, InputDataError, LimitError, unit_text

Range = tuple[pint.Quantity, pint.Quantity]


def format_quantity(q: pint.Quantity) -> str:
    """``450 degC``: the magnitude with up to 6 significant digits and the unit as parsable text."""
    return f"{float(q.magnitude):.6g} {unit_text(q.units)}"


@dataclass(frozen=True)
class DeviceLimits:
    """Allowed (low, high) range of each setpoint path; frozen.

    Attributes:
        ranges: path (``furnace.temperature``) -> (low, high) quantities of one dimension,
            bounds inclusive. A path without an entry has no limits.
    """

    ranges: Mapping[str, Range] = field(hash=False)

    def __post_init__(self) -> None:
        checked: dict[str, Range] = {}
        for path, pair in dict(self.ranges).items():
            try:
                low, high = pair
            except (TypeError, ValueError) as err:
                raise InputDataError(f"limits {path}: expected a (low, high) pair of quantities, got {pair!r}") from err
            low, high = Q_(low), Q_(high)
            if low.dimensionality != high.dimensionality:
                raise InputDataError(f"limits {path}: low {format_quantity(low)} and high {format_quantity(high)} have different dimensions")
            if low.to(high.units).magnitude > high.magnitude:
                raise InputDataError(f"limits {path}: low {format_quantity(low)} is above high {format_quantity(high)}; swap them")
            checked[path] = (low, high)
        object.__setattr__(self, "ranges", MappingProxyType(checked))

    def __contains__(self, path: str) -> bool:
        return path in self.ranges

    def bounds(self, path: str) -> Range | None:
        """The (low, high) pair of ``path``, or None where the path has no limits."""
        return self.ranges.get(path)

    def replace(self, **changes: Range) -> DeviceLimits:
        """A copy with some ranges changed; keyword names use ``__`` for the dot:
        ``limits.replace(furnace__temperature=(Q_(20, "degC"), Q_(180, "degC")))``."""
        ranges = dict(self.ranges)
        for key, pair in changes.items():
            ranges[key.replace("__", ".")] = pair
        return DeviceLimits(ranges)

    def with_ranges(self, ranges: Mapping[str, Range]) -> DeviceLimits:
        """A copy with the given paths' ranges replaced or added."""
        return DeviceLimits({**self.ranges, **ranges})

    def violation(self, path: str, value: pint.Quantity) -> str | None:
        """The message for ``value`` at ``path`` if it is outside the limits, else None.

        Raises:
            InputDataError: the value's dimension does not match the limits'.
        """
        pair = self.bounds(path)
        if pair is None:
            return None
        low, high = pair
        if not isinstance(value, pint.Quantity):
            raise InputDataError(f"{path}: {value!r} has no unit; give a quantity like {format_quantity(high)}")
        if value.dimensionality != low.dimensionality:
            raise InputDataError(
                f"{path}: {format_quantity(value)} has dimension {value.dimensionality}, "
                f"expected the dimension of {format_quantity(low)}"
            )
        magnitude = float(value.to(low.units).magnitude)
        shown = value.to(low.units)
        if magnitude != magnitude:  # NaN
            return f"{path}: {format_quantity(value)} is not a number"
        if magnitude < float(low.magnitude):
            return f"{path}: {format_quantity(shown)} is below the device limit {format_quantity(low)}"
        if magnitude > float(high.to(low.units).magnitude):
            return f"{path}: {format_quantity(shown)} is above the device limit {format_quantity(high.to(low.units))}"
        return None

    def check(self, path: str, value: pint.Quantity) -> pint.Quantity:
        """Return ``value`` if it lies inside the limits of ``path``.

        Raises:
            LimitError: outside the limits, e.g. ``furnace.temperature: 700 degC is above the device limit 650 degC``.
        """
        message = self.violation(path, value)
        if message is not None:
            raise LimitError(message)
        return value


#: No limits at all: the default of a device built without any (its line hands it the line's).
NO_LIMITS = DeviceLimits({})
