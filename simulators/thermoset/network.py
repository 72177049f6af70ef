"""Physics both thermoset fidelities share: formulation, network Tg, miscibility, properties.

What is modelled, with its constants:

* **Formulation** by equivalents: per gram of blend the additive takes its mass
  fraction ``w``; resin (DGEBA, EEW 187 g/eq) and hardener (IPDA, AHEW 42.6 g/eq)
  share the rest so that amine N-H = ``r`` x (resin + reactive additive) epoxide
  equivalents. Volumes by ideal mixing of the component densities; the cured
  matrix is 3 % denser (cure shrinkage). Uncured viscosity at 25 degC by the
  Arrhenius (log-additive) mixing rule.
* **DiBenedetto equation** (Pascault-Williams form):
  ``(Tg - Tg0) / (Tg_inf - Tg0) = lambda*alpha / (1 - (1 - lambda)*alpha)`` with
  ``Tg0 = -40 degC``, ``lambda = 0.4``; ``Tg_inf = 160 degC`` for the neat
  stoichiometric network, and its inverse (the conversion at which a network
  vitrifies at a given temperature).
* **Fox equation** ``1/Tg = w/Tg_add + (1 - w)/Tg_matrix`` for the *dissolved*
  additive only (temperatures in K).
* **Flory-Huggins** interaction from the Hildebrand-Scatchard relation
  ``chi = V_add * (delta_add - delta_matrix)**2 / (R T)`` (lattice site = one
  additive molecule), raised as the network grows: ``chi_eff = chi * (1 + G*alpha)``
  with ``G = 12`` standing in for the network's elastic free energy and lost
  combinatorial entropy; equilibrium solubility of the additive in an infinite
  network from ``ln(1 - phi) + phi + chi_eff*phi**2 = 0`` (``phi`` the network's
  volume fraction in the swollen matrix).
* **Miller-Macosko** recursive network statistics (Macromolecules 9, 199 (1976))
  for an A_f epoxide mixture (DGEBA f=2, TGAP f=3, BGE f=1) with the B_4 amine:
  concentration of elastically effective network chains (mol/m3). The network's
  ``Tg_inf = Tg_lin + (160 degC - Tg_lin) (nu / nu_ref)**0.45`` with
  ``Tg_lin = 70 degC`` (zero crosslink density) and ``nu_ref`` the fully cured
  neat stoichiometric network, minus a **Fox-Flory** chain-end term
  ``1e4 K g/mol * c_end`` for dangling monofunctional (BGE) ends.
* **Thermo-oxidative degradation**: first-order damage ``dD/dt = k_deg (1 - D)``,
  Arrhenius ``E = 140 kJ/mol`` with ``k_deg(180 degC) = 2.4e-5 1/s``, lowering Tg
  by ``60 K * D`` and the crosslink density by ``(1 - 0.5 D)``.
* **Free volume** at 25 degC from the WLF picture: ``f = 0.025 + 4.8e-4 1/K * (T - Tg)``
  above Tg, iso-free-volume 0.025 (minus a small glassy term 2e-5 1/K) below.
* **Fracture toughness** ``K_IC`` around 0.75 MPa*m**0.5 for the neat network,
  falling with crosslink density (``nu**-0.3``), raised by dissolved plasticizer,
  and by separated soft domains with a log-normal optimum near 400 nm
  (cavitation/shear-banding toughening), lowered by degradation and lost when Tg
  approaches room temperature.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from core import SimulationError
from simulators.thermoset.chemistry import (
    HARDENER_AHEW,
    HARDENER_DENSITY,
    HARDENER_FUNCTIONALITY,
    HARDENER_VISCOSITY,
    RESIN_DENSITY,
    RESIN_EEW,
    RESIN_VISCOSITY,
    AdditiveProperties,
)

R_GAS = 8.314462618  # J/(mol*K)
T_ROOM = 298.15  # K
TG0 = 233.15  # K, Tg of the uncured blend (-40 degC)
TG_INF_NEAT = 433.15  # K, Tg_inf of stoichiometric DGEBA/IPDA (160 degC)
DIBENEDETTO_LAMBDA = 0.4
CHI_NETWORK_GAIN = 12.0  # G in chi_eff = chi * (1 + G alpha)
CURE_SHRINKAGE = 0.03
DEGRADATION_ENERGY = 140e3  # J/mol
DEGRADATION_RATE_180C = 2.4e-5  # 1/s
DEGRADATION_TG_LOSS = 60.0  # K at full damage
TG_LINEAR = 343.15  # K, Tg of the network extrapolated to zero crosslink density (70 degC)
TG_CROSSLINK_EXPONENT = 0.45  # Tg_inf = Tg_lin + (Tg_inf_neat - Tg_lin) (nu/nu_ref)**0.45
CHAIN_END_COEFFICIENT = 1.0e4  # K*g/mol, Fox-Flory chain-end term for dangling monofunctional ends
FREE_VOLUME_AT_TG = 0.025
FREE_VOLUME_EXPANSION = 4.8e-4  # 1/K, WLF alpha_f
FREE_VOLUME_GLASS = 2e-5  # 1/K
K_IC_NEAT = 0.75  # MPa*m**0.5


@dataclass(frozen=True)
class Formulation:
    """Composition of one gram of blend.

    Attributes:
        mass_resin, mass_hardener, mass_additive: g per g of blend.
        epoxide: epoxide equivalents (resin + reactive additive), mol/g.
        amine_hydrogen: amine N-H equivalents, mol/g.
        additive_epoxide_share: fraction of epoxide groups that sit on the additive.
        additive_volume_fraction: volume fraction of additive in the blend.
        matrix_density: density of the cured network (no non-reactive additive), g/cm3.
        viscosity: uncured blend viscosity at 25 degC, Pa*s.
    """

    mass_resin: float
    mass_hardener: float
    mass_additive: float
    epoxide: float
    amine_hydrogen: float
    additive_epoxide_share: float
    additive_volume_fraction: float
    matrix_density: float
    viscosity: float
    hardener_ratio: float
    additive: AdditiveProperties

    @property
    def reaction_mass(self) -> float:
        """Mass of the network formers per gram of blend (g/g)."""
        return self.mass_resin + self.mass_hardener + (self.mass_additive if self.additive.reactive else 0.0)


def formulate(additive: AdditiveProperties, fraction: float, ratio: float) -> Formulation:
    """Masses and equivalents of one gram of blend.

    Args:
        additive: the additive.
        fraction: mass fraction of additive in the blend (0-1).
        ratio: hardener ratio r = N-H / epoxide equivalents.

    Raises:
        SimulationError: no resin left (too much reactive additive for this ratio).
    """
    add_eq = fraction / additive.eew if additive.reactive else 0.0
    resin = (1.0 - fraction - HARDENER_AHEW * ratio * add_eq) / (1.0 + HARDENER_AHEW * ratio / RESIN_EEW)
    if resin <= 0.05:
        raise SimulationError(
            f"recipe['additive_fraction']: {fraction:.3g} of this reactive additive at hardener_ratio "
            f"{ratio:.3g} leaves {resin:.3g} g/g of resin; lower the additive fraction"
        )
    epoxide = resin / RESIN_EEW + add_eq
    amine = ratio * epoxide
    hardener = amine * HARDENER_AHEW
    vol = {"resin": resin / RESIN_DENSITY, "hardener": hardener / HARDENER_DENSITY, "additive": fraction / additive.density}
    total_volume = sum(vol.values())
    if additive.reactive:
        matrix_density = (1.0 + CURE_SHRINKAGE) / total_volume
    else:
        matrix_density = (1.0 + CURE_SHRINKAGE) * (resin + hardener) / (vol["resin"] + vol["hardener"])
    log_eta = (
        resin * math.log(RESIN_VISCOSITY) + hardener * math.log(HARDENER_VISCOSITY) + fraction * math.log(additive.viscosity)
    )
    return Formulation(
        mass_resin=resin,
        mass_hardener=hardener,
        mass_additive=fraction,
        epoxide=epoxide,
        amine_hydrogen=amine,
        additive_epoxide_share=add_eq / epoxide,
        additive_volume_fraction=vol["additive"] / total_volume,
        matrix_density=matrix_density,
        viscosity=math.exp(log_eta),
        hardener_ratio=ratio,
        additive=additive,
    )


def dibenedetto(alpha, tg_inf, tg0=TG0, lam=DIBENEDETTO_LAMBDA):
    """Tg (K) of a network at normalized conversion ``alpha`` (0-1)."""
    alpha = np.clip(alpha, 0.0, 1.0)
    return tg0 + (tg_inf - tg0) * lam * alpha / (1.0 - (1.0 - lam) * alpha)


def dibenedetto_inverse(tg, tg_inf, tg0=TG0, lam=DIBENEDETTO_LAMBDA):
    """Normalized conversion (0-1) at which the network's Tg equals ``tg`` (K)."""
    theta = np.clip((tg - tg0) / (tg_inf - tg0), 0.0, 1.0)
    return theta / (lam + theta * (1.0 - lam))


def fox(mass_fraction, tg_additive, tg_matrix):
    """Fox equation: Tg (K) of a matrix holding a dissolved mass fraction of additive."""
    return 1.0 / (mass_fraction / tg_additive + (1.0 - mass_fraction) / tg_matrix)


def chi_hildebrand(molar_volume: float, delta_additive: float, delta_matrix, temperature):
    """Flory-Huggins chi per additive molecule (dimensionless).

    Args:
        molar_volume: additive molar volume, cm3/mol (= lattice site).
        delta_additive, delta_matrix: solubility parameters, MPa**0.5.
        temperature: K.
    """
    return molar_volume * (delta_additive - delta_matrix) ** 2 / (R_GAS * temperature)  # cm3*MPa = J


def chi_effective(chi, alpha):
    """Interaction raised by network growth: ``chi * (1 + G alpha)``."""
    return chi * (1.0 + CHI_NETWORK_GAIN * np.asarray(alpha))


def equilibrium_solubility(chi_eff: float) -> float:
    """Volume fraction of additive an infinite network holds at equilibrium with pure additive.

    Flory-Huggins with a one-site solvent and an infinite network: the additive's
    chemical potential ``ln(1 - phi) + phi + chi*phi**2`` vanishes; fully miscible
    for ``chi <= 0.5``.
    """
    if chi_eff <= 0.5:
        return 1.0
    def mu(p: float) -> float:
        return math.log1p(-p) + p + chi_eff * p * p

    # mu ~ (chi - 1/2) p**2 - p**3/3 near 0, so it is positive just above the trivial root.
    low = min(1.5 * (chi_eff - 0.5), 0.5)
    if mu(1.0 - 1e-15) > 0:  # pragma: no cover - only for absurd chi
        return 0.0
    return 1.0 - brentq(mu, low, 1.0 - 1e-15, xtol=1e-14)


def mass_fraction_from_volume(phi_additive: float, additive_density: float, matrix_density: float) -> float:
    """Mass fraction of additive in a phase with additive volume fraction ``phi_additive``."""
    m_add = phi_additive * additive_density
    return m_add / (m_add + (1.0 - phi_additive) * matrix_density)


def degradation_rate(temperature):
    """First-order thermo-oxidative damage rate (1/s) at ``temperature`` (K)."""
    return DEGRADATION_RATE_180C * np.exp(-DEGRADATION_ENERGY / R_GAS * (1.0 / np.asarray(temperature) - 1.0 / 453.15))


def miller_macosko_chains(
    conversion_epoxide,
    conversion_amine,
    epoxide_shares: dict[int, float],
    amine_per_gram: float,
    functional_per_gram: dict[int, float],
    density: float,
):
    """Elastically effective network chains by Miller-Macosko recursion.

    Args:
        conversion_epoxide: epoxide conversion x_A (array or float).
        conversion_amine: amine N-H conversion x_B = x_A / r.
        epoxide_shares: functionality f -> fraction of epoxide groups on f-functional molecules.
        amine_per_gram: amine N-H equivalents, mol/g (IPDA is B_4).
        functional_per_gram: f -> moles of f-functional epoxide molecules per gram.
        density: g/cm3 of the network phase.

    Returns:
        Concentration of elastically effective chains, mol/m3 (same shape as the input).
    """
    xa = np.asarray(conversion_epoxide, dtype=float)
    xb = np.asarray(conversion_amine, dtype=float)
    a = np.zeros_like(xa)  # P(F_A^out): looking out of an epoxide arm, finite
    b = np.zeros_like(xb)  # P(F_B^out): looking out of an N-H arm, finite
    fb = HARDENER_FUNCTIONALITY
    for _ in range(400):
        a_in = sum(share * a ** (f - 1) for f, share in epoxide_shares.items())
        b_new = 1.0 - xb + xb * a_in
        a_new = 1.0 - xa + xa * b_new ** (fb - 1)
        if np.max(np.abs(a_new - a)) < 1e-10 and np.max(np.abs(b_new - b)) < 1e-10:
            a, b = a_new, b_new
            break
        a, b = a_new, b_new
    chains = np.zeros_like(xa)
    amine_molecules = amine_per_gram / fb
    pinf = 1.0 - b
    for m in range(3, fb + 1):
        chains = chains + amine_molecules * math.comb(fb, m) * pinf**m * b ** (fb - m) * m / 2.0
    for f, moles in functional_per_gram.items():
        if f < 3:
            continue
        pinf_a = 1.0 - a
        for m in range(3, f + 1):
            chains = chains + moles * math.comb(f, m) * pinf_a**m * a ** (f - m) * m / 2.0
    return chains * density * 1e6  # mol/g * g/cm3 -> mol/m3


@dataclass(frozen=True)
class NetworkTopology:
    """Inputs of the Miller-Macosko recursion for one formulation (per gram of blend)."""

    epoxide_shares: dict[int, float]
    functional_per_gram: dict[int, float]
    amine_per_gram: float
    chain_ends_per_gram: float
    network_mass: float
    density: float

    def chains(self, conversion_epoxide, conversion_amine):
        """Elastically effective chains per volume of *blend*, mol/m3."""
        return miller_macosko_chains(
            conversion_epoxide, conversion_amine, self.epoxide_shares, self.amine_per_gram, self.functional_per_gram, self.density
        )


def topology(formulation: Formulation, ratio: float | None = None) -> NetworkTopology:
    """Network statistics inputs; ``ratio`` overrides the hardener ratio (local stoichiometry).

    A local ratio ``r' = r (1 + eps)`` changes the amine per gram at constant epoxide.
    """
    add = formulation.additive
    ratio = formulation.hardener_ratio if ratio is None else ratio
    shares = {2: 1.0 - formulation.additive_epoxide_share}
    moles = {2: formulation.mass_resin / RESIN_EEW / 2.0}
    ends = 0.0
    if add.reactive:
        f = add.epoxide_functionality
        shares[f] = shares.get(f, 0.0) + formulation.additive_epoxide_share
        moles[f] = moles.get(f, 0.0) + formulation.mass_additive / add.molar_mass
        if f == 1:
            ends = formulation.mass_additive / add.molar_mass
    return NetworkTopology(
        epoxide_shares=shares,
        functional_per_gram=moles,
        amine_per_gram=ratio * formulation.epoxide,
        chain_ends_per_gram=ends,
        network_mass=formulation.reaction_mass,
        density=formulation.matrix_density,
    )


def limiting_conversions(alpha, ratio):
    """Epoxide and amine conversions at normalized conversion ``alpha`` of the limiting group."""
    alpha = np.asarray(alpha, dtype=float)
    x_epoxide = alpha * min(1.0, ratio)
    return x_epoxide, x_epoxide / ratio


@functools.lru_cache(maxsize=1)
def reference_chains() -> float:
    """Elastically effective chains of the fully cured neat stoichiometric network, mol/m3."""
    from simulators.thermoset.chemistry import ADDITIVE_LIBRARY, additive_properties

    neat = formulate(additive_properties(ADDITIVE_LIBRARY["dibutyl_phthalate"]), 0.0, 1.0)
    return float(topology(neat).chains(1.0, 1.0))


def network_tg_inf(top: NetworkTopology, ratio: float) -> float:
    """Tg_inf (K) of a network from its fully cured crosslink density (Miller-Macosko) and chain ends."""
    x_e, x_a = limiting_conversions(1.0, ratio)
    nu = float(top.chains(x_e, x_a)) / top.network_mass  # per volume of network
    x = max(nu / reference_chains(), 0.0)
    tg = TG_LINEAR + (TG_INF_NEAT - TG_LINEAR) * x**TG_CROSSLINK_EXPONENT
    return tg - CHAIN_END_COEFFICIENT * top.chain_ends_per_gram / top.network_mass


def free_volume_fraction(tg, temperature=T_ROOM):
    """WLF free-volume fraction at ``temperature`` for a material with glass transition ``tg`` (K)."""
    d = temperature - tg
    return np.where(d > 0, FREE_VOLUME_AT_TG + FREE_VOLUME_EXPANSION * d, FREE_VOLUME_AT_TG + FREE_VOLUME_GLASS * d)


def fracture_toughness(
    crosslink_density: float,
    reference_crosslink_density: float,
    dissolved_mass_fraction: float,
    additive_tg: float,
    separated_volume_fraction: float,
    domain_size_nm: float,
    damage: float,
    tg: float,
) -> float:
    """Mode-I fracture toughness K_IC in MPa*m**0.5 (see module docstring)."""
    nu = max(crosslink_density, 0.2 * reference_crosslink_density)
    k = K_IC_NEAT * (reference_crosslink_density / nu) ** 0.3
    ductility = float(np.clip(2.0 * (230.0 - additive_tg) / 60.0, -1.0, 1.5))
    k *= 1.0 + ductility * dissolved_mass_fraction
    if separated_volume_fraction > 0 and domain_size_nm > 0:
        k *= 1.0 + 3.0 * separated_volume_fraction * math.exp(-0.5 * math.log(domain_size_nm / 400.0) ** 2)
    k *= 1.0 - 0.5 * damage
    glassy = 1.0 / (1.0 + math.exp(-(tg - T_ROOM - 20.0) / 10.0))
    return k * (0.3 + 0.7 * glassy)
