"""From a run's Bluesky documents to its record: the generic reader, then the spectrum.

:func:`devices.steps_from_documents` sorts every reading by its role, path and units. A
spectrum's two arrays come out of it as array quantities, and :func:`record_from_documents`
keeps them as such in the spectrum step's actuals: ``spectrometer.wavelength`` (nm) and
``spectrometer.intensity`` (its own unit, ``count``), each a pint quantity with a float numpy
magnitude of the whole spectrum. The record store keeps an array quantity whole
(``core.quantity_to_record`` writes ``{"value": [...], "unit": "nm"}`` and
``core.quantity_from_record`` reads it back as an array quantity), so a stored sample's steps
hold the same arrays; :func:`spectrum_of` reads them from either. The properties are read off
the spectrum: ``photoluminescence_peak_wavelength`` and ``emission_fwhm`` (nm, by
:func:`simulators.quantum_dots.spectrum_features` with a 5-pixel moving average) and the
structure feature ``mean_diameter`` (nm, by the sizing curve and the Stokes shift).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pint

from core import Q_
from devices import RobotRunRecord, steps_from_documents
from simulators.quantum_dots.optics import diameter_from_emission, spectrum_features
from systems.quantum_dots.plan import SPECTRUM_SMOOTHING

SPECTRUM_STEP = "spectrum"
WAVELENGTH, INTENSITY = "spectrometer.wavelength", "spectrometer.intensity"


def _is_array(value: Any) -> bool:
    return isinstance(value, pint.Quantity) and np.ndim(value.magnitude) > 0


def _as_array(q: pint.Quantity) -> pint.Quantity:
    """An array quantity with a float numpy magnitude, in its own unit."""
    return Q_(np.asarray(q.magnitude, dtype=float), q.units)


def spectrum_of(steps: Iterable[Any]) -> tuple[pint.Quantity, pint.Quantity]:
    """(wavelength, intensity) array quantities from a record's or a stored sample's steps.

    Raises:
        KeyError: no spectrum step, or it holds no spectrum.
    """
    for step in steps:
        name = step["name"] if isinstance(step, Mapping) else step.name
        actuals = step["actuals"] if isinstance(step, Mapping) else step.actuals
        if name == SPECTRUM_STEP and _is_array(actuals.get(WAVELENGTH)) and _is_array(actuals.get(INTENSITY)):
            return _as_array(actuals[WAVELENGTH]), _as_array(actuals[INTENSITY])
    raise KeyError(f"no {SPECTRUM_STEP!r} step with a spectrum")


def spectrum_properties(wavelength: pint.Quantity, intensity: pint.Quantity) -> tuple[dict, dict]:
    """(properties, structure) read off a measured spectrum (see the module docstring)."""
    peak, fwhm = spectrum_features(wavelength.to("nm").magnitude, intensity.magnitude, smoothing=SPECTRUM_SMOOTHING)
    properties = {"photoluminescence_peak_wavelength": Q_(peak, "nm"), "emission_fwhm": Q_(fwhm, "nm")}
    return properties, {"mean_diameter": Q_(diameter_from_emission(peak), "nm")}


def record_from_documents(documents: Iterable[tuple[Any, dict]]) -> RobotRunRecord:
    """The run's record: generic steps, the spectrum kept whole, the properties it gives."""
    base = steps_from_documents(documents)
    steps = []
    properties: dict[str, pint.Quantity] = dict(base.properties)
    structure: dict[str, pint.Quantity] = dict(base.structure)
    for step in base.steps:
        actuals = {path: _as_array(v) if _is_array(v) else v for path, v in step["actuals"].items()}
        steps.append({**step, "actuals": actuals})
        if step["name"] == SPECTRUM_STEP and _is_array(actuals.get(WAVELENGTH)) and _is_array(actuals.get(INTENSITY)):
            try:
                found, features = spectrum_properties(actuals[WAVELENGTH], actuals[INTENSITY])
            except ValueError:
                continue  # the plan refuses such a spectrum; a record of old documents may still hold one
            properties.update(found)
            structure.update(features)
    return dataclasses.replace(base, steps=steps, properties=properties, structure=structure)
