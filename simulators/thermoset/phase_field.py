"""Reaction-induced phase separation: a small 2D Cahn-Hilliard model.

What is modelled, with its constants:

* Composition field ``phi`` = local volume fraction of the (non-reactive)
  additive on a periodic ``n x n`` grid (default 64 x 64), one cell = 40 nm, so
  the box is about 2.6 um wide.
* **Flory-Huggins free energy** per lattice site (one additive molecule) in units
  of RT: ``f = phi ln(phi) + (1 - phi)/N ln(1 - phi) + chi phi (1 - phi)`` where
  the matrix degree of polymerization ``N`` and ``chi`` grow with conversion
  (supplied per step by the caller), plus a gradient term ``kappa/2 |grad phi|**2``
  with ``kappa = 1.2 chi`` cell**2 (the square-gradient coefficient of a polymer
  blend scales with chi; the interface is coarse-grained to about one cell and
  the physical length enters only through the 40 nm cell).
  Numerical guards: the logarithms continue linearly below 0.005 and a stiff
  barrier (200 RT per unit) pushes spectral over- and undershoots back into
  ``0 <= phi <= 1``.
* **Cahn-Hilliard dynamics** with the slow-mode mobility ``M = max(phi (1 - phi), 0.02)``:
  ``d phi / d tau = div(M grad mu)``, ``mu = f'(phi) - kappa lap(phi)``, solved
  by a stabilized semi-implicit Fourier-spectral scheme (Zhu, Chen, Shen & Tikare,
  Phys. Rev. E 60, 3564 (1999)) with linear stabilization ``A = 3.5 + chi/2`` on the
  ``k**2`` and ``M_max = 1/4`` on the ``k**4`` term, numpy FFTs.
* Dimensionless time ``tau`` comes from the caller (mobility integrated over the
  real cure history, so gelation and vitrification freeze the morphology).
* **Morphology read-out**: cells with ``phi > 0.5`` form the additive-rich phase;
  the characteristic length is ``2 pi / k1`` from the first moment ``k1`` of the
  radially averaged structure factor ``S(k)``, and the reported domain size is
  half of it (the domain diameter), in nm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CELL_SIZE_NM = 40.0
KAPPA_PER_CHI = 1.2  # kappa = 1.2 chi cell**2
STABILIZATION = 3.5
MOBILITY_MAX = 0.25
PHI_FLOOR = 5e-3  # below it (and above 1 - it) the logarithms continue linearly
MOBILITY_FLOOR = 0.02
BARRIER = 200.0  # RT per site per unit overshoot outside 0 <= phi <= 1
RICH_THRESHOLD = 0.5
MIN_RICH_CELL_FRACTION = 0.005


@dataclass(frozen=True)
class PhaseFieldResult:
    """Morphology at the end of the cure.

    Attributes:
        phi: final composition field, ``n x n``.
        separated: whether an additive-rich phase formed.
        domain_size_nm: mean domain diameter, nm (0 when one phase).
        matrix_volume_fraction: additive volume fraction dissolved in the matrix phase.
        rich_cell_fraction: area fraction of the additive-rich phase.
        steps: number of time steps taken.
    """

    phi: np.ndarray
    separated: bool
    domain_size_nm: float
    matrix_volume_fraction: float
    rich_cell_fraction: float
    steps: int


def _wavenumbers(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = 2.0 * np.pi * np.fft.fftfreq(n)
    kr = 2.0 * np.pi * np.fft.rfftfreq(n)
    kx, ky = np.meshgrid(k, kr, indexing="ij")
    return kx, ky, kx**2 + ky**2


def bulk_potential(phi: np.ndarray, chi: float, n_matrix: float) -> np.ndarray:
    """Flory-Huggins ``df/dphi`` per site in units of RT."""
    inside = np.clip(phi, 0.0, 1.0)
    barrier = BARRIER * (np.maximum(phi - 1.0, 0.0) + np.minimum(phi, 0.0))
    return _log_ext(phi) + 1.0 - (_log_ext(1.0 - phi) + 1.0) / n_matrix + chi * (1.0 - 2.0 * inside) + barrier


def _log_ext(x: np.ndarray) -> np.ndarray:
    """``ln(x)``, continued linearly below PHI_FLOOR so that over- and undershoots are pushed back."""
    return np.where(x > PHI_FLOOR, np.log(np.maximum(x, PHI_FLOOR)), np.log(PHI_FLOOR) + (x - PHI_FLOOR) / PHI_FLOOR)


def evolve(
    mean_fraction: float,
    dtau: np.ndarray,
    chi: np.ndarray,
    n_matrix: np.ndarray,
    noise: float,
    seed: int | None,
    n: int = 64,
) -> PhaseFieldResult:
    """Integrate the Cahn-Hilliard equation along a schedule.

    Args:
        mean_fraction: mean additive volume fraction (conserved), 0-1.
        dtau: dimensionless time steps, shape ``(n_steps,)``.
        chi: effective Flory-Huggins chi at each step, ``(n_steps,)``.
        n_matrix: matrix degree of polymerization (in additive sites) per step.
        noise: standard deviation of the initial composition noise.
        seed: seed of the initial noise (deterministic per seed).
        n: grid cells per side.

    Returns:
        The final morphology.
    """
    rng = np.random.default_rng(seed)
    phi = mean_fraction + noise * rng.standard_normal((n, n))
    phi += mean_fraction - phi.mean()
    phi = np.clip(phi, 0.0, 1.0)
    kx, ky, k2 = _wavenumbers(n)
    k4 = k2 * k2
    phi_hat = np.fft.rfft2(phi)
    for dt, c, nm in zip(dtau, chi, n_matrix):
        kappa = KAPPA_PER_CHI * max(c, 0.5)
        lap = np.fft.irfft2(-k2 * phi_hat, s=(n, n))
        mu_hat = np.fft.rfft2(bulk_potential(phi, c, nm) - kappa * lap)
        mob = np.maximum(phi * (1.0 - phi), MOBILITY_FLOOR)
        jx = mob * np.fft.irfft2(1j * kx * mu_hat, s=(n, n))
        jy = mob * np.fft.irfft2(1j * ky * mu_hat, s=(n, n))
        div_hat = 1j * kx * np.fft.rfft2(jx) + 1j * ky * np.fft.rfft2(jy)
        implicit = dt * ((STABILIZATION + 0.5 * c) * k2 + MOBILITY_MAX * kappa * k4)
        phi_hat = (phi_hat * (1.0 + implicit) + dt * div_hat) / (1.0 + implicit)
        phi = np.fft.irfft2(phi_hat, s=(n, n))
    return _morphology(phi, mean_fraction, len(dtau))


def _morphology(phi: np.ndarray, mean_fraction: float, steps: int) -> PhaseFieldResult:
    n = phi.shape[0]
    rich = phi > RICH_THRESHOLD
    rich_fraction = float(rich.mean())
    if rich_fraction < MIN_RICH_CELL_FRACTION:
        return PhaseFieldResult(phi, False, 0.0, float(mean_fraction), rich_fraction, steps)
    s = np.abs(np.fft.fft2(phi - phi.mean())) ** 2
    k = 2.0 * np.pi * np.fft.fftfreq(n)
    kmag = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    mask = kmag > 0
    k1 = float((kmag[mask] * s[mask]).sum() / s[mask].sum())
    wavelength_cells = 2.0 * np.pi / k1
    matrix = float(np.clip(phi[~rich].mean(), 0.0, 1.0)) if (~rich).any() else 0.0
    return PhaseFieldResult(phi, True, 0.5 * wavelength_cells * CELL_SIZE_NM, matrix, rich_fraction, steps)
