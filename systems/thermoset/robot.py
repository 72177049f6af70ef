"""The thermoset line as a :class:`core.system.RobotLine`: simulated twins for dry runs, the
line's EPICS devices over Channel Access otherwise, and the one plan that makes and
characterizes a film. Never imports botorch or the controller."""

from __future__ import annotations

from typing import Any, Mapping

from bluesky import RunEngine

from devices.records import steps_from_documents
from systems.thermoset import devices as thermoset
from systems.thermoset.devices.faults import LINE_DEVICES


class ThermosetLine:
    """Dispense -> mix -> cure -> characterize, on twins or EPICS devices."""

    default_limits = thermoset.DEFAULT_LIMITS
    fault_devices = LINE_DEVICES

    def fault_specs(self, specs: list[Mapping[str, Any]]) -> tuple:
        """``[[devices.faults]]`` -> ``FaultSpec`` s the twins inject (ConfigError names each problem)."""
        return thermoset.fault_specs_from_config(specs)

    def make_line(self, *, seed: int, speedup: float, limits: Any, faults: tuple = (), settings: Any = None) -> Any:
        """The twins (``transport = "sim"``) or the line's EPICS devices on the IOC at
        ``ioc_prefix`` (``"epics"``; its time scale is the IOC's, ``speedup`` does not apply)."""
        if getattr(settings, "transport", "sim") == "epics":
            from devices.epics.settings import apply_ca_environment
            from systems.thermoset.devices.epics import make_epics_line

            apply_ca_environment(settings.ca_addr_list, settings.ca_server_port)
            return make_epics_line(settings.ioc_prefix, limits=limits,
                                   connection_timeout=float(settings.connection_timeout.to("s").magnitude))
        return thermoset.make_sim_line(seed=seed, speedup=speedup, limits=limits, faults=faults)

    def plan(self, line: Any, recipe: Mapping[str, Any], *, sample_id: str, md: Mapping[str, Any],
             batch_mass: Any, watchdog_factor: float) -> Any:
        return thermoset.make_and_characterize(line, recipe, sample_id=sample_id, md=md, batch_mass=batch_mass,
                                               watchdog_factor=watchdog_factor)

    def check_recipe(self, recipe: Mapping[str, Any], limits: Any, *, batch_mass: Any) -> None:
        thermoset.check_recipe_limits(recipe, limits, batch_mass=batch_mass)

    def parameter_limits(self, limits: Any, *, batch_mass: Any) -> dict[str, tuple[Any, Any]]:
        return thermoset.parameter_limits(limits, batch_mass=batch_mass)

    def record(self, documents: list[tuple[str, dict]]) -> Any:
        return steps_from_documents(documents)

    def truth(self, recipe: Mapping[str, Any], *, seed: int, limits: Any, batch_mass: Any) -> dict[str, Any]:
        """Make the recipe once on a fresh simulated line; its hidden true properties (no noise)."""
        line = thermoset.make_sim_line(seed=seed, speedup=1e6, limits=limits)
        RE = RunEngine({}, context_managers=[])
        RE(thermoset.make_and_characterize(line, recipe, sample_id="truth-check", batch_mass=batch_mass))
        return dict(line.simulation.samples["truth-check"].truth.properties)
