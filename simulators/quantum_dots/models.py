"""The two fidelities of the CdSe flow synthesis, as :class:`simulators.Simulator` s.

Both validate the recipe, make an ensemble of dots (``kinetics``), and read its emission
spectrum (``optics``) the way the inline spectrometer's record does: peak and FWHM.

Known disagreement (the tests hold it): the coarse model's Brus gap is too high for small dots,
so its ``photoluminescence_peak_wavelength`` is **shorter** than the fine model's, by
100-180 nm where the fine model makes dots under 4 nm, 15-60 nm at 5-6 nm, 3-15 nm at 7-8 nm,
and within a few nm either way beyond 8 nm. Brus's gap also falls far more steeply with
size, which inflates the size-broadening part of the linewidth: its ``emission_fwhm`` is
**wider**, by 15-50 nm below 7 nm and by less for larger dots, and it narrows with size so
much faster than the fine model's that it hardly ranks recipes the same way (the fine model's
linewidth is set mostly by focusing and ripening, which the coarse size law, with its fixed
10 % burst spread relaxing to 22 % after depletion, does not resolve). Sizes and peaks
correlate closely (r = 0.99 and 0.98 over the campaign box). So the coarse fidelity is a good
guide to colour and size and a poor one to linewidth: a multi-fidelity model must learn that.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from core import Q_, InputDataError, SimulationError
from simulators.base import ProcessStepRecord, SimulationResult, Simulator
from simulators.quantum_dots.kinetics import Ensemble, closed_form, population_balance
from simulators.quantum_dots.optics import brus_gap, emission_spectrum, sizing_curve_gap, spectrum_features
from simulators.quantum_dots.recipe import QuantumDotRecipe, validate_recipe

#: Wavelength grid the simulators read their spectra on (nm): wide enough for Brus's blue dots.
MODEL_GRID = np.arange(120.0, 1000.0 + 0.25, 0.5)


class QuantumDotSimulator(Simulator):
    """Template of the ``quantum_dots.*`` models: validate, make the ensemble, read its spectrum."""

    gap: ClassVar = staticmethod(sizing_curve_gap)

    def run(self, recipe, seed: int | None = None) -> SimulationResult:
        """Simulate one run of the flow reactor; see :class:`simulators.Simulator`.

        Args:
            recipe: the five keys of :data:`simulators.quantum_dots.recipe.PHYSICAL_RANGES`.
            seed: accepted for the contract; both models are deterministic.
        """
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise InputDataError(f"seed must be an int or None, got {seed!r}")
        validated = validate_recipe(recipe)
        try:
            with np.errstate(over="ignore", under="ignore"):
                ensemble = self._ensemble(validated)
                spectrum = emission_spectrum(MODEL_GRID, ensemble.diameters, ensemble.numbers, gap=type(self).gap,
                                             widths_nm=ensemble.widths)
                peak, fwhm = spectrum_features(MODEL_GRID, spectrum)
                mean, dispersion = ensemble.mean_and_dispersion()
        except (ValueError, ArithmeticError, FloatingPointError) as err:
            raise SimulationError(f"{self.name} failed for this recipe: {err}") from err
        if not all(math.isfinite(v) for v in (peak, fwhm, mean, dispersion)):
            raise SimulationError(f"{self.name} produced a non-finite result for this recipe")
        return self._result(validated, ensemble, mean, dispersion, peak, fwhm)

    def _ensemble(self, recipe: QuantumDotRecipe) -> Ensemble:
        raise NotImplementedError

    def _result(self, r: QuantumDotRecipe, e: Ensemble, mean: float, dispersion: float, peak: float,
                fwhm: float) -> SimulationResult:
        device = f"simulator:{self.name}"
        flow = {"residence_time": Q_(r.residence_time, "s"),
                "precursor_concentration": Q_(r.precursor_concentration / 1000.0, "mol/L"),
                "oleic_acid_fraction": Q_(100.0 * r.oleic_acid, "percent"),
                "oleylamine_fraction": Q_(100.0 * r.oleylamine, "percent")}
        heat = {"temperature": Q_(r.temperature, "K").to("degC"), "residence_time": Q_(r.residence_time, "s")}
        steps: list[ProcessStepRecord] = [
            {"name": "flow", "device": device, "setpoints": dict(flow), "actuals": dict(flow)},
            {"name": "react", "device": device, "setpoints": dict(heat),
             "actuals": {**heat, "precursor_conversion": Q_(e.conversion, "dimensionless")}},
        ]
        dots = float(e.numbers[e.diameters >= 1.2].sum())  # 1/m**3
        structure = {
            "mean_diameter": Q_(mean, "nm"),
            "size_dispersion": Q_(dispersion, "dimensionless"),
            "particle_concentration": Q_(dots / 6.02214076e23 * 1e9 / 1000.0, "nmol/L"),
            "precursor_conversion": Q_(e.conversion, "dimensionless"),
        }
        properties = {"photoluminescence_peak_wavelength": Q_(peak, "nm"), "emission_fwhm": Q_(fwhm, "nm")}
        diagnostics = {"nucleation_time": Q_(e.nucleation_time, "s"), "time_steps": e.steps,
                       "dot_classes": int(e.diameters.size), "monomer_left": Q_(e.monomer / 1000.0, "mol/L")}
        return SimulationResult(self.name, self.version, steps, structure, properties, diagnostics)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))


class BrusQuantumDots(QuantumDotSimulator):
    """Coarse: closed-form burst-nucleation growth law, LSW ripening, Brus gap (about 2 ms)."""

    name = "quantum_dots.brus"
    version = "1.0.0"
    gap = staticmethod(brus_gap)

    def _ensemble(self, recipe: QuantumDotRecipe) -> Ensemble:
        return closed_form(recipe)


class PopulationBalanceQuantumDots(QuantumDotSimulator):
    """Fine: LaMer nucleation and Gibbs-Thomson growth as a population balance, sizing-curve gap
    (about 5-40 ms).

    Args:
        steps: base time steps of the population balance (more: slower, a little more exact).
    """

    name = "quantum_dots.population_balance"
    version = "1.0.0"

    def __init__(self, steps: int = 250):
        if isinstance(steps, bool) or not isinstance(steps, int) or not 50 <= steps <= 5000:
            raise ValueError(f"steps {steps!r} must be an int in 50 - 5000")
        self.steps = steps

    def _ensemble(self, recipe: QuantumDotRecipe) -> Ensemble:
        return population_balance(recipe, steps=self.steps)
