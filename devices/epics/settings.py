"""The ``[devices]`` keys that choose the line's transport, validated, and the Channel Access environment they set.

::

    [devices]
    transport = "epics"          # "sim" (default): in-process twins; "epics": devices over Channel Access
    ioc_prefix = "SDL:"          # PV prefix of the line's IOC
    ca_addr_list = "127.0.0.1"   # optional: EPICS_CA_ADDR_LIST (and EPICS_CA_AUTO_ADDR_LIST = NO)
    ca_server_port = 5064        # optional: EPICS_CA_SERVER_PORT
    connection_timeout = "10 s"  # how long to wait for every PV to connect

Without ``ca_addr_list`` / ``ca_server_port`` the usual ``EPICS_CA_*`` environment variables apply.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any

from core import ConfigError, FieldIssue, parse_quantity

TRANSPORTS = ("sim", "epics")
#: ``[devices]`` keys read here.
TRANSPORT_KEYS = ("transport", "ioc_prefix", "ca_addr_list", "ca_server_port", "connection_timeout")
DEFAULT_PREFIX = "SDL:"


def transport_settings(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldIssue]]:
    """Validate the transport keys of a ``[devices]`` table.

    Returns:
        (settings, issues): ``transport``, ``ioc_prefix``, ``ca_addr_list`` (str or None),
        ``ca_server_port`` (int or None), ``connection_timeout`` (a time quantity); and one
        :class:`core.FieldIssue` per bad field.
    """
    issues: list[FieldIssue] = []
    transport = raw.get("transport", "sim")
    if transport not in TRANSPORTS:
        issues.append(FieldIssue("devices.transport", f"{transport!r} is not a transport; use one of {', '.join(TRANSPORTS)}"))
        transport = "sim"
    prefix = raw.get("ioc_prefix", DEFAULT_PREFIX)
    if not isinstance(prefix, str) or not prefix.strip() or any(c.isspace() for c in prefix):
        issues.append(FieldIssue("devices.ioc_prefix", f"{prefix!r} must be a PV prefix without spaces, e.g. \"SDL:\""))
        prefix = DEFAULT_PREFIX
    addr_list = raw.get("ca_addr_list")
    if addr_list is not None:
        bad = [] if isinstance(addr_list, str) and addr_list.split() else [addr_list]
        bad += [a for a in (addr_list.split() if isinstance(addr_list, str) else []) if not _is_address(a)]
        if bad:
            issues.append(FieldIssue("devices.ca_addr_list", f"{addr_list!r} must be space-separated IPv4 addresses or "
                                                             "host names, each with an optional :port (\"10.0.0.5 10.0.0.6:5066\")"))
            addr_list = None
    port = raw.get("ca_server_port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        issues.append(FieldIssue("devices.ca_server_port", f"{port!r} must be a whole number from 1 to 65535"))
        port = None
    timeout = parse_quantity("10 s", "devices.connection_timeout", like="s")
    try:
        timeout = parse_quantity(raw.get("connection_timeout", "10 s"), "devices.connection_timeout", like="s")
        if not timeout.to("s").magnitude > 0:
            issues.append(FieldIssue("devices.connection_timeout", f"{raw.get('connection_timeout')!r} must be above 0 s"))
    except ConfigError as err:
        issues.extend(err.issues)
    if transport == "epics" and raw.get("faults"):
        issues.append(FieldIssue("devices.faults", "faults are injected by the in-process twins; with transport = \"epics\" "
                                                   "give them to the IOC that serves the line (its --fault option)"))
    return {"transport": transport, "ioc_prefix": prefix, "ca_addr_list": addr_list, "ca_server_port": port,
            "connection_timeout": timeout}, issues


def _is_address(text: str) -> bool:
    host, _, port = text.partition(":")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        return False
    try:
        ipaddress.IPv4Address(host)
        return True
    except ValueError:
        return bool(host) and all(part.isalnum() or part.replace("-", "").isalnum() for part in host.split("."))


def apply_ca_environment(addr_list: str | None, server_port: int | None) -> dict[str, str]:
    """Set the Channel Access client's environment from the campaign file (before the first PV search).

    ``addr_list`` sets ``EPICS_CA_ADDR_LIST`` and turns ``EPICS_CA_AUTO_ADDR_LIST`` off (search
    only there); ``server_port`` sets ``EPICS_CA_SERVER_PORT``. None leaves a variable as it is.

    Returns:
        The variables set.
    """
    changes: dict[str, str] = {}
    if addr_list:
        changes["EPICS_CA_ADDR_LIST"] = addr_list
        changes["EPICS_CA_AUTO_ADDR_LIST"] = "NO"
    if server_port is not None:
        changes["EPICS_CA_SERVER_PORT"] = str(server_port)
    os.environ.update(changes)
    return changes


__all__ = ["DEFAULT_PREFIX", "TRANSPORTS", "TRANSPORT_KEYS", "apply_ca_environment", "transport_settings"]
