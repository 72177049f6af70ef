"""The flow line as a :class:`core.system.RobotLine`: simulated twins for dry runs, the plan that
makes and measures one batch, and how its documents become a record. Never imports the
controller or botorch."""

from __future__ import annotations

from typing import Any, Mapping

from core import ConfigError, FieldIssue
from systems.quantum_dots.faults import LINE_DEVICES, fault_specs_from_config
from systems.quantum_dots.plan import synthesize_and_measure
from systems.quantum_dots.recipes import DEFAULT_LIMITS, check_recipe_limits, parameter_limits
from systems.quantum_dots.record import record_from_documents
from systems.quantum_dots.truth import TRUTH_GRID


class QuantumDotLine:
    """Syringe pumps -> heated coil -> inline PL spectrometer, on twins.

    ``batch_mass`` (a campaign's ``devices.batch_mass``) means nothing to a flow line and is
    ignored; the amount made is the reactor's flow for the run's flush.
    """

    default_limits = DEFAULT_LIMITS
    fault_devices = LINE_DEVICES

    def fault_specs(self, specs: list[Mapping[str, Any]]) -> tuple:
        return fault_specs_from_config(specs)

    def make_line(self, *, seed: int, speedup: float, limits: Any, faults: tuple = (), settings: Any = None) -> Any:
        """The twins; the line has no EPICS devices yet (``devices.transport`` must be ``"sim"``)."""
        transport = getattr(settings, "transport", "sim")
        if transport != "sim":
            raise ConfigError(FieldIssue("devices.transport", f"{transport!r}: the quantum-dot flow line has only "
                                                              "simulated twins; use \"sim\""))
        from systems.quantum_dots.twins import make_sim_line

        return make_sim_line(seed=seed, speedup=speedup, limits=limits, faults=faults)

    def plan(self, line: Any, recipe: Mapping[str, Any], *, sample_id: str, md: Mapping[str, Any],
             batch_mass: Any, watchdog_factor: float) -> Any:
        return synthesize_and_measure(line, recipe, sample_id=sample_id, md=md, watchdog_factor=watchdog_factor)

    def check_recipe(self, recipe: Mapping[str, Any], limits: Any, *, batch_mass: Any = None) -> None:
        """Raise ``core.LimitError`` for a recipe whose ligands add up to more than 100 % or
        whose setpoints are beyond ``limits``."""
        check_recipe_limits(recipe, limits)

    def parameter_limits(self, limits: Any, *, batch_mass: Any = None) -> dict[str, tuple[Any, Any]]:
        return parameter_limits(limits)

    def record(self, documents: list[tuple[str, dict]]) -> Any:
        return record_from_documents(documents)

    def truth(self, recipe: Mapping[str, Any], *, seed: int, limits: Any = None, batch_mass: Any = None) -> dict[str, Any]:
        """The hidden true properties of ``recipe`` made on the simulated line of ``seed``: its
        pumps' biases, its coil and its thermocouple offset, but no batch jitter and no detector."""
        from core import Q_
        from simulators.quantum_dots.optics import spectrum_features
        from systems.quantum_dots.twins import SimulatedFlowLab

        setpoints = check_recipe_limits(recipe, limits or DEFAULT_LIMITS)
        lab = SimulatedFlowLab(seed=seed)
        flows = {path.split(".")[0]: lab.real_flow(path.split(".")[0], float(q.to("mL/min").magnitude), jitter=False)
                 for path, q in setpoints.items() if path.endswith("_pump.flow_rate")}
        batch = lab.truth_of(lab.conditions(flows, float(setpoints["reactor.temperature"].to("degC").magnitude)))
        peak, fwhm = spectrum_features(TRUTH_GRID, batch.intensity)
        return {"photoluminescence_peak_wavelength": Q_(peak, "nm"), "emission_fwhm": Q_(fwhm, "nm"),
                "mean_diameter": Q_(batch.mean_diameter, "nm"), "size_dispersion": Q_(batch.dispersion, "dimensionless")}
