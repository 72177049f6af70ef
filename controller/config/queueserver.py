"""``[devices]``' queue-server fields: who runs the robot's plans and where RE Manager and its documents are."""

from __future__ import annotations

import re
from typing import Any
from core import FieldIssue


EXECUTORS = ("local", "queueserver")

DEFAULT_CONTROL = "tcp://127.0.0.1:60615"

DEFAULT_INFO = "tcp://127.0.0.1:60625"

DEFAULT_DATA_IN = "tcp://127.0.0.1:5567"

DEFAULT_DATA = "tcp://127.0.0.1:5568"

DEFAULT_REDIS = "127.0.0.1:6379"

_ADDRESS = re.compile(r"^tcp://(?P<host>[^\s:/]+|\[[0-9a-fA-F:]+\]|\*):(?P<port>\d{1,5})$")

def address_issue(field_name: str, value: Any, example: str) -> FieldIssue | None:
    """A problem with a ``tcp://HOST:PORT`` address, or None."""
    match = _ADDRESS.match(value) if isinstance(value, str) else None
    if match is None:
        return FieldIssue(field_name, f"{value!r} is not a 0MQ tcp address; give tcp://HOST:PORT, e.g. {example}")
    if not 1 <= int(match["port"]) <= 65535:
        return FieldIssue(field_name, f"port {match['port']} is outside 1 to 65535")
    return None

def executor_settings(raw: dict[str, Any]) -> tuple[dict[str, Any], list[FieldIssue]]:
    """``[devices]``' ``executor``, ``qserver_control`` and ``qserver_data``, validated.

    Returns:
        The three values (defaults filled in) and the problems found, each naming its field.
    """
    values = {
        "executor": raw.get("executor", "local"),
        "qserver_control": raw.get("qserver_control", DEFAULT_CONTROL),
        "qserver_data": raw.get("qserver_data", DEFAULT_DATA),
    }
    issues = []
    if values["executor"] not in EXECUTORS:
        issues.append(FieldIssue("devices.executor", f"{values['executor']!r} is not one of {', '.join(EXECUTORS)} "
                                                     "(local: a RunEngine in this process; queueserver: RE Manager)"))
    if values["executor"] == "queueserver" and raw.get("dry_run", True) is False:
        # the profile builds the simulated twins: a "real" campaign there would move nothing real
        issues.append(FieldIssue("devices.executor", "\"queueserver\" is not supported in a real campaign "
                                                     "(dry_run = false) yet: the queue server's startup profile runs "
                                                     "the simulated twins only; use executor = \"local\" (a RunEngine "
                                                     "in the controller), or dry_run = true"))
    elif values["executor"] == "queueserver" and raw.get("transport", "sim") != "sim":
        issues.append(FieldIssue("devices.executor", f"the queue server's startup profile runs the simulated twins; "
                                                     f"transport = {raw.get('transport')!r} needs executor = \"local\""))
    for key, example in (("qserver_control", DEFAULT_CONTROL), ("qserver_data", DEFAULT_DATA)):
        issue = address_issue(f"devices.{key}", values[key], example)
        if issue is None and "*" in values[key]:
            issue = FieldIssue(f"devices.{key}", f"{values[key]!r}: the controller connects, so give a host, not '*'")
        if issue is not None:
            issues.append(issue)
    return values, issues
