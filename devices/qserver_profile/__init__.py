"""A material system's simulated line as a bluesky-queueserver startup profile.

- :mod:`devices.qserver_profile.startup`: the startup module RE Manager loads
  (``start-re-manager --startup-module devices.qserver_profile.startup``); it builds the
  line of whichever material system the settings name, loaded by reference.
- :mod:`devices.qserver_profile.settings`: the simulated line's settings as JSON.
- ``user_group_permissions.yaml`` (:data:`PERMISSIONS_FILE`): what the ``primary`` group may run.

Never imports ``controller`` (the controller imports this) nor any material system.
"""

from pathlib import Path

from devices.qserver_profile.settings import (
    DEFAULT_SETTINGS,
    fault_record,
    line_from_settings,
    line_settings_record,
    settings_key,
    validate_settings,
)

#: The startup module's import name, for ``start-re-manager --startup-module``.
STARTUP_MODULE = "devices.qserver_profile.startup"
#: The user-group permissions file beside this module.
PERMISSIONS_FILE = Path(__file__).with_name("user_group_permissions.yaml")

__all__ = ["DEFAULT_SETTINGS", "PERMISSIONS_FILE", "STARTUP_MODULE", "fault_record", "line_from_settings", "line_settings_record",
           "settings_key", "validate_settings"]
