"""Nucleation and growth of CdSe dots in a hot flow reactor: the rate laws both fidelities share,
the closed-form growth law of the coarse one, and the population balance of the fine one.

The chemistry (LaMer picture): the Cd/Se precursor converts to "monomer" at a first-order
rate; the monomer builds up until the supersaturation ``S = C / Cs`` is high enough for a
burst of nucleation; the nuclei then grow, drawing the monomer down, which ends nucleation;
once the precursor is used up the monomer sinks to the solubility and the small dots
dissolve into the large ones (Ostwald ripening), which broadens the size distribution.

Rate laws (T in K; constants below; ``a`` = oleic acid, ``l`` = oleylamine volume fractions):

* precursor conversion ``k = 0.02 1/s exp(-90 kJ/mol / R (1/T - 1/543.15 K)) (1 + 1.5 l) / (1 + 2 a)``
  (the amine activates the precursor; oleate binds Cd and slows it);
* monomer solubility ``Cs = 0.1 mol/m**3 exp(-60 kJ/mol / R (1/T - 1/543.15 K)) (1 + 4 a)``
  (Cd oleate keeps monomer in solution);
* surface energy ``gamma = 0.1 J/m**2 (1 - 0.2 l - 0.1 a)`` (ligands bind the surface);
* classical nucleation ``J = 1e30 1/(m**3 s) exp(-16 pi gamma**3 v**2 / (3 (kT)**3 ln(S)**2))``,
  ``v`` the volume of one CdSe unit (``Vm / NA``, ``Vm = 32.9 cm**3/mol``), nuclei of 1.2x the
  critical radius ``r* = 2 gamma Vm / (R T ln S)``;
* growth, mixed reaction/diffusion control (Talapin et al., J. Phys. Chem. B 2001, 105, 12278)
  with the **Gibbs-Thomson** solubility of a dot of radius r:
  ``dr/dt = Vm kr delta / (r + delta) (C - Cs exp(2 gamma Vm / (r R T)))``,
  ``kr = 1e-5 m/s exp(-40 kJ/mol / R (1/T - 1/543.15 K))``, ``delta = D / kr = 2 nm``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulators.quantum_dots.recipe import QuantumDotRecipe

R_GAS = 8.314462618  # J/(mol K)
AVOGADRO = 6.02214076e23
BOLTZMANN = 1.380649e-23
MOLAR_VOLUME = 3.29e-5  # m**3/mol, CdSe (191.4 g/mol, 5.82 g/cm**3)
T_REF = 543.15  # K (270 degC)
K_GEN_REF, E_GEN = 0.02, 90e3  # 1/s, J/mol
AMINE_ACTIVATION, OLEATE_RETARDATION = 1.5, 2.0
CS_REF, H_SOLUTION, OLEATE_SOLUBILITY = 0.1, 60e3, 4.0  # mol/m**3, J/mol, per unit fraction
GAMMA_REF, GAMMA_AMINE, GAMMA_OLEATE = 0.1, 0.2, 0.1  # J/m**2, relative drops per unit fraction
J0 = 1e30  # 1/(m**3 s)
NUCLEUS_OVERSIZE = 1.2  # nuclei radius / critical radius
KR_REF, E_GROWTH = 1e-5, 40e3  # m/s, J/mol
DIFFUSION_LENGTH = 2e-9  # m, D / kr
NUCLEUS_SPREAD = 0.12  # relative sd of one nucleation event's nucleus sizes
MAX_CLASSES = 300  # the population balance merges neighbouring classes beyond this
#: Closed-form model: nucleation "bursts" where J reaches this rate.
BURST_RATE = 1e22  # 1/(m**3 s)
#: Closed-form model: the burst ends when the first nuclei have grown by this factor.
BURST_GROWTH = 1.3
#: Closed-form model: relative spread of the burst, and the self-similar LSW spread it ripens to.
BURST_SPREAD, RIPENED_SPREAD = 0.10, 0.22
DEPLETION = 0.9  # precursor conversion at which ripening starts (closed-form model)

#: One nucleation event's nuclei: 9 sizes over +-2 sd of its spread (normal weights); each class
#: stands for a bin of half the node spacing in sd (kept as its ``width``).
_NUCLEUS_NODES = np.linspace(-2.0, 2.0, 9)
_NUCLEUS_WEIGHTS = np.exp(-0.5 * _NUCLEUS_NODES**2) / np.exp(-0.5 * _NUCLEUS_NODES**2).sum()
_NUCLEUS_BIN = 0.5 * (_NUCLEUS_NODES[1] - _NUCLEUS_NODES[0])
_NORMAL_NODES = np.linspace(-4.0, 4.0, 61)
_NORMAL_WEIGHTS = np.exp(-0.5 * _NORMAL_NODES**2) / np.exp(-0.5 * _NORMAL_NODES**2).sum()
_NORMAL_BIN = 0.5 * (_NORMAL_NODES[1] - _NORMAL_NODES[0])


@dataclass(frozen=True)
class Rates:
    """Rate constants at one condition (SI units): ``conversion`` 1/s, ``solubility`` mol/m**3,
    ``gamma`` J/m**2, ``growth`` (kr) m/s, ``capillary`` = 2 gamma Vm / (R T) in m,
    ``nucleation_barrier`` = 16 pi gamma**3 v**2 / (3 (kT)**3) (dimensionless, times 1/ln(S)**2)."""

    conversion: float
    solubility: float
    gamma: float
    growth: float
    capillary: float
    nucleation_barrier: float


def rates(recipe: QuantumDotRecipe) -> Rates:
    t, a, l = recipe.temperature, recipe.oleic_acid, recipe.oleylamine
    arrhenius = lambda energy: math.exp(-energy / R_GAS * (1.0 / t - 1.0 / T_REF))  # noqa: E731
    gamma = GAMMA_REF * (1.0 - GAMMA_AMINE * l - GAMMA_OLEATE * a)
    unit_volume = MOLAR_VOLUME / AVOGADRO
    return Rates(
        conversion=K_GEN_REF * arrhenius(E_GEN) * (1.0 + AMINE_ACTIVATION * l) / (1.0 + OLEATE_RETARDATION * a),
        solubility=CS_REF * arrhenius(H_SOLUTION) * (1.0 + OLEATE_SOLUBILITY * a),
        gamma=gamma,
        growth=KR_REF * arrhenius(E_GROWTH),
        capillary=2.0 * gamma * MOLAR_VOLUME / (R_GAS * t),
        nucleation_barrier=16.0 * math.pi * gamma**3 * unit_volume**2 / (3.0 * (BOLTZMANN * t) ** 3),
    )


def transfer_coefficient(radius, k: Rates):
    """Growth transfer coefficient ``kr delta / (r + delta)`` (m/s) of dots of ``radius`` (m)."""
    return k.growth * DIFFUSION_LENGTH / (radius + DIFFUSION_LENGTH)


@dataclass(frozen=True)
class Ensemble:
    """What a model made: dot classes and bookkeeping.

    Attributes:
        diameters: nm, shape ``k``; ``numbers``: dots per m**3 in each class; ``widths``: the
            sd (nm) of the sizes each class stands for (a class is a bin of a continuous
            distribution).
        conversion: precursor converted, 0-1.
        monomer: monomer left, mol/m**3.
        nucleation_time: s from the inlet to the peak of nucleation.
        steps: time steps taken (0 for the closed form).
    """

    diameters: np.ndarray
    numbers: np.ndarray
    widths: np.ndarray
    conversion: float
    monomer: float
    nucleation_time: float
    steps: int

    def mean_and_dispersion(self) -> tuple[float, float]:
        """Volume-weighted mean diameter (nm) and relative standard deviation: what light
        sees (each dot absorbs by its volume), and steady while tiny dots dissolve."""
        w = self.numbers * self.diameters**3
        mean = float((w * self.diameters).sum() / w.sum())
        sd = math.sqrt(float((w * ((self.diameters - mean) ** 2 + self.widths**2)).sum() / w.sum()))
        return mean, sd / mean


def closed_form(recipe: QuantumDotRecipe) -> Ensemble:
    """The coarse growth law: burst nucleation, growth by mass balance, then LSW ripening.

    * The burst happens at the supersaturation ``Sb`` where ``J = 1e22 1/(m**3 s)`` and ends
      when the first nuclei have grown to ``rb = 1.5 rn``; the number of dots ``N`` is the one
      whose growth at ``Sb`` just eats the monomer supply:
      ``N = k P0 / (4 pi rb**2 kt(rb) (Sb Cs - Cs exp(capillary / rb)))``.
    * Every converted monomer goes into those dots: ``D = (6 Vm X P0 / (pi N))**(1/3)``,
      ``X = 1 - exp(-k t)``.
    * After 90 % conversion, reaction-limited (Wagner) coarsening
      ``r**2 = r0**2 + 64 gamma Cs Vm**2 kt(r0) / (81 R T) t`` (``kt`` the mixed-control
      transfer coefficient at the size ripening starts from), and the relative spread relaxes from
      the burst's 10 % to the self-similar 22 % as ``exp(-(r**2 - r0**2) / r0**2)``.
    The returned ensemble is a normal size distribution sampled at 61 sizes within 4 sd.
    """
    k = rates(recipe)
    p0, tau = recipe.precursor_concentration, recipe.residence_time
    ln_sb = math.sqrt(k.nucleation_barrier / math.log(J0 / BURST_RATE))
    r_nucleus = NUCLEUS_OVERSIZE * k.capillary / ln_sb
    r_burst = BURST_GROWTH * r_nucleus
    excess = k.solubility * (math.exp(ln_sb) - math.exp(k.capillary / r_burst))
    number = k.conversion * p0 / (4.0 * math.pi * r_burst**2 * float(transfer_coefficient(r_burst, k)) * excess)
    conversion = 1.0 - math.exp(-k.conversion * tau)
    radius = (3.0 * MOLAR_VOLUME * conversion * p0 / (4.0 * math.pi * number)) ** (1.0 / 3.0)
    radius = max(radius, r_nucleus)
    t_depleted = -math.log(1.0 - DEPLETION) / k.conversion
    ripening = max(tau - t_depleted, 0.0)
    spread = BURST_SPREAD
    if ripening > 0:
        growth = float(transfer_coefficient(radius, k))  # mixed control at the size ripening starts from
        rate = 64.0 * k.gamma * k.solubility * MOLAR_VOLUME**2 * growth / (81.0 * R_GAS * recipe.temperature)
        r0 = radius
        radius = math.sqrt(r0**2 + rate * ripening)
        spread = RIPENED_SPREAD - (RIPENED_SPREAD - BURST_SPREAD) * math.exp(-rate * ripening / r0**2)
        number *= (r0 / radius) ** 3
    d = 2e9 * radius
    diameters = np.maximum(d * (1.0 + spread * _NORMAL_NODES), 0.3)
    widths = np.full_like(diameters, d * spread * _NORMAL_BIN)
    burst = min(math.exp(ln_sb) * k.solubility / (k.conversion * p0), tau)  # monomer builds up to Sb
    return Ensemble(diameters, number * _NORMAL_WEIGHTS, widths, conversion, k.solubility, burst, 0)


def _merge_neighbours(radius: np.ndarray, number: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, ...]:
    """Halve the classes: merge each pair of neighbours in size into one with the same dots and
    volume, its width the pair's spread."""
    order = np.argsort(radius)
    r, n, w = radius[order], number[order], width[order]
    if r.size % 2:
        r, n, w = np.append(r, r[-1]), np.append(n, 0.0), np.append(w, 0.0)
    n2 = n[0::2] + n[1::2]
    keep = n2 > 0
    a, b, n2 = n[0::2][keep], n[1::2][keep], n2[keep]
    ra, rb, wa, wb = r[0::2][keep], r[1::2][keep], w[0::2][keep], w[1::2][keep]
    merged = np.cbrt((a * ra**3 + b * rb**3) / n2)
    spread = np.sqrt((a * wa**2 + b * wb**2) / n2 + a * b / n2**2 * (ra - rb) ** 2)
    return merged, n2, spread


def population_balance(recipe: QuantumDotRecipe, steps: int = 250, nucleation_fraction: float = 0.03) -> Ensemble:
    """The fine model: precursor, monomer and a Lagrangian population of dot classes in time.

    Each time step: the precursor converts (exactly, first order); nucleation at the
    current supersaturation adds nine classes around 1.2 r* (relative spread 12 %); every
    class grows or shrinks by the Gibbs-Thomson growth law with the monomer taken
    **implicitly** (the stiff monomer balance is stable at any step); the monomer is then
    recomputed from the exact mass balance, and classes below 0.25 nm radius dissolve. Past
    300 classes, neighbours in size merge pairwise (keeping their dots and volume).

    The base grid has ``steps`` geometric steps from 10 ms (or tau / 1000) to tau; a step
    is cut so that one nucleation step takes at most ``nucleation_fraction`` of the monomer
    and no shrinking class loses more than 30 % of its radius. About 250-600 steps, 5-40 ms.
    """
    k = rates(recipe)
    tau = recipe.residence_time
    total = precursor = recipe.precursor_concentration
    monomer = 0.0
    radius = np.empty(0)
    number = np.empty(0)
    width = np.empty(0)  # m, the radius sd each class stands for
    speed: np.ndarray | None = None
    grid = np.concatenate([[0.0], np.geomspace(min(0.01, tau / 1000.0), tau, steps)])
    spread = 1.0 + NUCLEUS_SPREAD * _NUCLEUS_NODES
    four_thirds_pi = 4.0 / 3.0 * math.pi
    t, node, taken, peak_rate, peak_time = 0.0, 0, 0, 0.0, 0.0
    while t < tau * (1.0 - 1e-12):
        dt = grid[node + 1] - t
        supersaturation = monomer / k.solubility
        rate = 0.0
        if supersaturation > 1.5:
            ln_s = math.log(supersaturation)
            rate = J0 * math.exp(-k.nucleation_barrier / ln_s**2)
            critical = k.capillary / ln_s
            r_nucleus = NUCLEUS_OVERSIZE * critical
            per_nucleus = four_thirds_pi * r_nucleus**3 / MOLAR_VOLUME
            if rate * per_nucleus * dt > nucleation_fraction * monomer:
                dt = max(nucleation_fraction * monomer / (rate * per_nucleus), 1e-4)
        if speed is not None and radius.size:
            shrinking = speed < 0
            if shrinking.any():
                dt = min(dt, max(0.3 * float(np.min(radius[shrinking] / -speed[shrinking])),
                                 (grid[node + 1] - grid[node]) / 6.0))
        taken += 1
        converted = precursor * -math.expm1(-k.conversion * dt)
        precursor -= converted
        nucleated = 0.0
        if rate > 0.0:
            new = rate * dt
            available = 0.5 * max(monomer + converted - k.solubility, 0.0)
            if new * per_nucleus > available:
                new = available / per_nucleus
            if new * per_nucleus > 1e-7 * total:
                radii = np.maximum(r_nucleus * spread, 1.02 * critical)
                counts = new * _NUCLEUS_WEIGHTS
                if radius.size + radii.size > MAX_CLASSES:
                    radius, number, width = _merge_neighbours(radius, number, width)
                    speed = None
                radius = np.concatenate([radius, radii])
                number = np.concatenate([number, counts])
                width = np.concatenate([width, np.full(radii.size, _NUCLEUS_BIN * NUCLEUS_SPREAD * r_nucleus)])
                nucleated = float((counts * four_thirds_pi * radii**3).sum()) / MOLAR_VOLUME
                if new / dt > peak_rate:
                    peak_rate, peak_time = new / dt, t
        if radius.size:
            kt = transfer_coefficient(radius, k)
            saturation = k.solubility * np.exp(k.capillary / radius)
            uptake = number * 4.0 * math.pi * radius**2 * kt
            implicit = (monomer + converted - nucleated + dt * float((uptake * saturation).sum())) / (1.0 + dt * float(uptake.sum()))
            speed = kt * MOLAR_VOLUME * (implicit - saturation)
            radius = radius + dt * speed
            alive = radius > 0.25e-9
            if not alive.all():
                radius, number, width, speed = radius[alive], number[alive], width[alive], speed[alive]
            monomer = max(total - precursor - float((number * radius**3).sum()) * four_thirds_pi / MOLAR_VOLUME, 0.0)
        else:
            monomer = monomer + converted - nucleated
        t += dt
        if t >= grid[node + 1] * (1.0 - 1e-12):
            node += 1
    return Ensemble(2e9 * radius, number, 2e9 * width, 1.0 - precursor / total, monomer, peak_time, taken)
