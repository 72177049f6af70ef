"""The "real" physics of the dry-run line: what the simulators know, and one effect neither has.

The dots are made as the fine model makes them (``simulators.quantum_dots``: population
balance, sizing-curve gap), at the conditions the line really ran (the fluid's temperature,
the real residence time and composition from the pumps' real flows). On top, their
**surface trap emission**: undercoordinated surface atoms emit a broad band
(:data:`TRAP_FWHM` 0.35 eV) :data:`TRAP_SHIFT` 0.45 eV below the band edge. Its share of the
light grows with the surface per volume (``3 nm / D``) and falls with ligand coverage,
oleylamine more than oleic acid (``1 / (1 + l / 0.12) / (1 + a / 0.4)``), and with the
annealing a hotter reactor gives; it is at most 50 %. The band's red shoulder widens the
measured FWHM, so the ligand blend matters far more on the line than in either model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulators.quantum_dots.kinetics import population_balance
from simulators.quantum_dots.optics import HC_EV_NM, emission_spectrum, spectrum_features
from simulators.quantum_dots.recipe import QuantumDotRecipe

TRAP_SHIFT, TRAP_FWHM = 0.12, 0.20  # eV
TRAP_SCALE, TRAP_MAX = 1.2, 0.6
AMINE_COVERAGE, OLEATE_COVERAGE = 0.12, 0.4  # ligand fraction that halves the bare surface
#: Grid of the true spectrum (nm), finer and wider than any detector.
TRUTH_GRID = np.arange(300.0, 1000.0 + 0.1, 0.25)


@dataclass(frozen=True)
class TrueBatch:
    """What one steady run of the reactor really made.

    Attributes:
        wavelength, intensity: the emission on :data:`TRUTH_GRID` (nm; peak 1).
        mean_diameter: nm (volume weighted); dispersion: relative sd.
        conversion: precursor converted, 0-1. trap_fraction: share of the light from traps.
        peak, fwhm: of the true spectrum, nm.
    """

    wavelength: np.ndarray
    intensity: np.ndarray
    mean_diameter: float
    dispersion: float
    conversion: float
    trap_fraction: float
    peak: float
    fwhm: float


def trap_fraction(diameter_nm: float, oleic: float, amine: float, temperature_k: float) -> float:
    """Share of the emitted light that comes from surface traps (0 - 0.5)."""
    bare = 1.0 / (1.0 + amine / AMINE_COVERAGE) / (1.0 + oleic / OLEATE_COVERAGE)
    anneal = math.exp(-max(temperature_k - 473.15, 0.0) / 150.0)
    return min(TRAP_MAX, TRAP_SCALE * (3.0 / max(diameter_nm, 1.0)) * bare * anneal)


def true_batch(conditions: QuantumDotRecipe) -> TrueBatch:
    """The dots and the emission of one steady run at ``conditions`` (the real ones, model units)."""
    ensemble = population_balance(conditions)
    mean, dispersion = ensemble.mean_and_dispersion()
    lam = TRUTH_GRID
    band = emission_spectrum(lam, ensemble.diameters, ensemble.numbers, widths_nm=ensemble.widths)
    peak_band, _ = spectrum_features(lam, band)
    trap_centre = HC_EV_NM / peak_band - TRAP_SHIFT
    sigma = TRAP_FWHM / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    trap = np.exp(-0.5 * ((HC_EV_NM / lam - trap_centre) / sigma) ** 2) * HC_EV_NM / lam**2
    share = trap_fraction(mean, conditions.oleic_acid, conditions.oleylamine, conditions.temperature)
    light = (1.0 - share) * band / np.trapezoid(band, lam) + share * trap / np.trapezoid(trap, lam)
    light = light / light.max()
    peak, fwhm = spectrum_features(lam, light)
    return TrueBatch(lam, light, mean, dispersion, ensemble.conversion, share, peak, fwhm)
