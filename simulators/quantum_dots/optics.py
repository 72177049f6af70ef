"""Optics of CdSe dots: band gap against size, emission spectra, and reading a spectrum.

Two gap-size relations, and the one known difference between them:

* :func:`brus_gap` - the **Brus effective-mass equation** (infinite barrier):
  ``E = Eg + hbar**2 pi**2 / (2 R**2) (1/me + 1/mh) - 1.786 e**2 / (4 pi eps0 epsr R)``
  with ``Eg = 1.74 eV``, ``me = 0.13``, ``mh = 0.45``, ``epsr = 10.6``. Its parabolic bands
  and infinite walls **overestimate the gap of small dots**: 0.97 eV too high at 3 nm
  diameter (absorption at 383 nm instead of 548 nm), 0.43 eV at 4 nm, 0.09 eV at 6 nm,
  0.01 eV at 8 nm.
* :func:`sizing_curve_gap` - the **empirical sizing curve** of Yu, Qu, Guo and Peng
  (Chem. Mater. 2003, 15, 2854): ``D = 1.6122e-9 L**4 - 2.6575e-6 L**3 + 1.6242e-3 L**2
  - 0.4277 L + 41.57`` (D in nm, L the first-exciton absorption peak in nm), inverted
  numerically; it is monotonic over 360-760 nm (1.2-21 nm diameter).

Emission sits below absorption by a size-dependent **Stokes shift**
``0.010 eV + 0.10 eV nm**2 / D**2`` (about 20 meV at 3 nm). One dot emits a band of
**homogeneous width** 60 meV (FWHM, Gaussian at room temperature); an ensemble's
spectrum is the sum of its dots' bands, weighted by what each absorbs (its volume).
"""

from __future__ import annotations

import math

import numpy as np

HC_EV_NM = 1239.841984  # h c in eV nm
EG_BULK = 1.74  # eV, CdSe at 300 K
ELECTRON_MASS, HOLE_MASS = 0.13, 0.45  # effective masses / m0
DIELECTRIC = 10.6
HBAR2_PI2_2M0 = 0.376  # hbar**2 pi**2 / (2 m0) in eV nm**2
COULOMB_EV_NM = 1.43996  # e**2 / (4 pi eps0) in eV nm
STOKES_OFFSET, STOKES_CONFINEMENT = 0.010, 0.10  # eV, eV nm**2
HOMOGENEOUS_FWHM = 0.060  # eV
SMALLEST_EMITTER = 1.2  # nm: below, clusters that do not emit band-edge light

_SIZING_L = np.linspace(360.0, 760.0, 801)
_SIZING_D = 1.6122e-9 * _SIZING_L**4 - 2.6575e-6 * _SIZING_L**3 + 1.6242e-3 * _SIZING_L**2 - 0.4277 * _SIZING_L + 41.57


def brus_gap(diameter_nm):
    """First-exciton energy (eV) of a CdSe dot by the Brus equation; ``diameter_nm`` scalar or array."""
    r = np.asarray(diameter_nm, dtype=float) / 2.0
    return EG_BULK + HBAR2_PI2_2M0 * (1 / ELECTRON_MASS + 1 / HOLE_MASS) / r**2 - 1.786 * COULOMB_EV_NM / (DIELECTRIC * r)


def sizing_curve_gap(diameter_nm):
    """First-exciton energy (eV) of a CdSe dot by the Yu et al. (2003) sizing curve; clipped to 1.2-21 nm."""
    d = np.clip(np.asarray(diameter_nm, dtype=float), _SIZING_D[0], _SIZING_D[-1])
    return HC_EV_NM / np.interp(d, _SIZING_D, _SIZING_L)


def sizing_curve_diameter(absorption_peak_nm: float) -> float:
    """Diameter (nm) of a CdSe dot whose first-exciton absorption peak is at ``absorption_peak_nm``."""
    lam = min(max(float(absorption_peak_nm), _SIZING_L[0]), _SIZING_L[-1])
    return float(np.interp(lam, _SIZING_L, _SIZING_D))


def stokes_shift(diameter_nm):
    """Energy (eV) by which emission lies below the first-exciton absorption."""
    d = np.asarray(diameter_nm, dtype=float)
    return STOKES_OFFSET + STOKES_CONFINEMENT / d**2


def diameter_from_emission(peak_nm: float) -> float:
    """Diameter (nm) whose emission peak is ``peak_nm`` by the sizing curve and the Stokes shift
    (fixed-point on the size-dependent shift)."""
    d = 4.0
    for _ in range(30):
        d = sizing_curve_diameter(HC_EV_NM / (HC_EV_NM / float(peak_nm) + float(stokes_shift(d))))
    return d


def emission_spectrum(wavelength_nm, diameters_nm, weights, gap=sizing_curve_gap,
                      homogeneous_fwhm: float = HOMOGENEOUS_FWHM, widths_nm=None) -> np.ndarray:
    """Photoluminescence of an ensemble on a wavelength grid, per nm, peak normalised to 1.

    Args:
        wavelength_nm: the grid, shape ``n``.
        diameters_nm, weights: the ensemble, shape ``k`` each (dots per class, any scale).
        gap: the gap-size relation (:func:`sizing_curve_gap` or :func:`brus_gap`).
        homogeneous_fwhm: one dot's band, eV.
        widths_nm: the diameter sd each class stands for (a class is a bin of a continuous
            distribution), shape ``k`` or None; widens its band by that sd times the gap's slope.

    Returns:
        Intensity, shape ``n`` (zeros where nothing emits).
    """
    lam = np.asarray(wavelength_nm, dtype=float)
    d = np.asarray(diameters_nm, dtype=float)
    width = np.zeros_like(d) if widths_nm is None else np.broadcast_to(np.asarray(widths_nm, dtype=float), d.shape)
    w = np.asarray(weights, dtype=float) * d**3 * (d >= SMALLEST_EMITTER)
    if not np.any(w > 0):
        return np.zeros_like(lam)
    keep = w > 0
    d, w, width = d[keep], w[keep], width[keep]
    centre = gap(d) - stokes_shift(d)
    sigma = np.full_like(d, homogeneous_fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0))))
    if np.any(width > 0):
        slope = (gap(d * 1.01) - gap(d * 0.99)) / (0.02 * d)  # eV/nm
        sigma = np.sqrt(sigma**2 + (width * slope) ** 2)
    energy = HC_EV_NM / lam
    near = (energy > centre.min() - 7 * sigma.max()) & (energy < centre.max() + 7 * sigma.max())
    per_ev = np.zeros_like(lam)
    e = energy[near][:, None]
    per_ev[near] = (w / sigma * np.exp(-0.5 * ((e - centre) / sigma) ** 2)).sum(axis=1)
    per_nm = per_ev * HC_EV_NM / lam**2
    if not per_nm.max() > 0:
        return per_nm
    return per_nm / per_nm.max()


def spectrum_features(wavelength_nm, intensity, smoothing: int = 1) -> tuple[float, float]:
    """Peak wavelength and full width at half maximum (both nm) of a spectrum.

    The peak is the maximum refined by a parabola through it and its neighbours; the half-maximum
    crossings are interpolated linearly between pixels. ``smoothing`` > 1 first takes a moving
    average over that many pixels (for a noisy measured spectrum). Works on any increasing grid.

    Raises:
        ValueError: fewer than 5 points, no positive signal, or a peak at the edge of the grid.
    """
    lam = np.asarray(wavelength_nm, dtype=float)
    y = np.asarray(intensity, dtype=float)
    if lam.ndim != 1 or lam.shape != y.shape or lam.size < 5:
        raise ValueError(f"a spectrum needs matching 1-D axes of 5 or more points, got {lam.shape} and {y.shape}")
    if smoothing > 1:
        y = np.convolve(y, np.ones(smoothing) / smoothing, mode="same")
    i = int(np.argmax(y))
    top = float(y[i])
    if not top > 0 or not np.isfinite(top):
        raise ValueError("the spectrum has no positive signal")
    if i == 0 or i == lam.size - 1:
        raise ValueError(f"the peak lies at the edge of the grid ({lam[i]:.1f} nm)")
    y0, y1, y2 = y[i - 1], y[i], y[i + 1]
    denom = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    shift = min(max(shift, -0.5), 0.5)
    peak = float(lam[i] + shift * (lam[i + 1] - lam[i - 1]) / 2.0)
    half = top / 2.0
    left = i
    while left > 0 and y[left] > half:
        left -= 1
    right = i
    while right < lam.size - 1 and y[right] > half:
        right += 1
    if y[left] > half or y[right] > half:
        raise ValueError("the band does not fall to half its maximum inside the grid")
    x_left = lam[left] + (half - y[left]) * (lam[left + 1] - lam[left]) / (y[left + 1] - y[left])
    x_right = lam[right - 1] + (half - y[right - 1]) * (lam[right] - lam[right - 1]) / (y[right] - y[right - 1])
    return peak, float(x_right - x_left)
