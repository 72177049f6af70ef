"""``thermoset.closed_form``: analytic low-fidelity model of the blend film (about 1 ms).

What is modelled (constants in ``network`` and ``kinetics`` unless stated):

* Cure: **nth-order isothermal kinetics** at the hold temperature for the hold
  time (no heat-up ramp, no exotherm), capped by vitrification at
  ``alpha_max(T) = DiBenedetto^-1(T + 25 K)`` (the textbook rule that cure
  stalls about 25 K above the cure temperature); beyond the cap 5 % of the
  chemical conversion still happens (slow diffusion-controlled creep in the glass).
* ``Tg_inf(r)``: quadratic **stoichiometry penalty** ``160 degC - a (r - 1)**2``
  with ``a = 360 K`` for amine deficit and ``110 K`` for amine excess, shifted by
  reactive additives linearly in their mass fraction (+120 K per unit for
  trifunctional TGAP, -220 K per unit for monofunctional BGE), floored at
  ``Tg0 + 30 K`` far from stoichiometry.
* ``Tg(alpha)`` by **DiBenedetto**; thermo-oxidative loss ``60 K * D`` with
  ``D = 1 - exp(-k_deg(T) t_hold)``.
* Miscibility: Hildebrand-Scatchard chi with a fixed matrix ``delta = 21 MPa**0.5``
  at the cure temperature, raised by conversion (``chi (1 + 12 alpha)``); the
  **Flory-Huggins equilibrium solubility** decides the dissolved part, which
  plasticizes by the **Fox equation**. Mixing quality is ignored. The reported
  ``chi_parameter`` is the Hildebrand-Scatchard chi at the cure temperature.
* Crosslink density ``nu_ref ((alpha**2 - alpha_gel**2)/(1 - alpha_gel**2)) (1 - 2.2 (r - 1)**2)``
  scaled by reactive additives (+3.5 per unit mass fraction trifunctional,
  -2.6 monofunctional), diluted by the non-reactive additive and degradation
  (``alpha_gel = 0.577``, ``nu_ref`` = Miller-Macosko value of the neat network).
* Domain size from a **coarsening scaling law** ``d = 150 nm (phi_sep/0.1)**(1/3)
  (a_T t_gel / 600 s)**(1/3)``, clipped to 20-3000 nm, with ``a_T`` the Arrhenius
  diffusion factor (65 kJ/mol) and ``t_gel`` the nth-order time to gelation.
* Free volume (WLF) and fracture toughness as in ``network``.
"""

from __future__ import annotations

import math

from core import Q_
from simulators.thermoset.base import MaterialState, Simulated, ThermosetSimulator
from simulators.thermoset.kinetics import NTH_ORDER_E, NTH_ORDER_K_REF, NTH_ORDER_N, arrhenius, nth_order_conversion
from simulators.thermoset.network import (
    DEGRADATION_TG_LOSS,
    R_GAS,
    chi_effective,
    chi_hildebrand,
    degradation_rate,
    dibenedetto,
    dibenedetto_inverse,
    equilibrium_solubility,
    formulate,
    fox,
    fracture_toughness,
    free_volume_fraction,
    mass_fraction_from_volume,
    reference_chains,
    TG0,
    TG_INF_NEAT,
)
from simulators.thermoset.recipe import ThermosetRecipe

MATRIX_SOLUBILITY_PARAMETER = 21.0  # MPa**0.5
VITRIFICATION_MARGIN = 25.0  # K
TG_PENALTY_DEFICIT, TG_PENALTY_EXCESS = 360.0, 110.0  # K
TG_SHIFT_PER_FRACTION = {1: -220.0, 2: 0.0, 3: 120.0}  # K per unit mass fraction, by epoxide functionality
NU_SHIFT_PER_FRACTION = {1: -2.6, 2: 0.0, 3: 3.5}
NU_STOICHIOMETRY_PENALTY = 2.2
GLASSY_CREEP = 0.05  # fraction of the chemical conversion beyond the cap still reached in the glass
TG_INF_FLOOR = 30.0  # K above Tg0
ALPHA_GEL = 1.0 / math.sqrt(3.0)
DOMAIN_PREFACTOR_NM = 150.0
DIFFUSION_ENERGY = 65e3  # J/mol


def _by_functionality(table: dict[int, float], f: int) -> float:
    return table[min(f, 3)] if f > 0 else 0.0


class ClosedFormThermoset(ThermosetSimulator):
    """Analytic model: nth-order cure, DiBenedetto, Fox, equilibrium miscibility."""

    name = "thermoset.closed_form"
    version = "1.0.0"

    def _simulate(self, recipe: ThermosetRecipe, seed: int) -> Simulated:
        add = recipe.additive
        form = formulate(add, recipe.additive_fraction, recipe.hardener_ratio)
        r, w, temp, hold = recipe.hardener_ratio, recipe.additive_fraction, recipe.cure_temperature, recipe.cure_time
        f_add = add.epoxide_functionality if add.reactive else 0
        penalty = TG_PENALTY_DEFICIT if r < 1.0 else TG_PENALTY_EXCESS
        tg_inf = TG_INF_NEAT - penalty * (r - 1.0) ** 2 + _by_functionality(TG_SHIFT_PER_FRACTION, f_add) * w
        tg_inf = max(tg_inf, TG0 + TG_INF_FLOOR)  # the quadratic is a near-stoichiometry expansion

        alpha_vit = float(dibenedetto_inverse(temp + VITRIFICATION_MARGIN, tg_inf))
        alpha_chem = nth_order_conversion(temp, hold)
        alpha = min(alpha_chem, alpha_vit + GLASSY_CREEP * max(alpha_chem - alpha_vit, 0.0))
        damage = 1.0 - math.exp(-float(degradation_rate(temp)) * hold)
        tg_network = float(dibenedetto(alpha, tg_inf)) - DEGRADATION_TG_LOSS * damage

        chi = chi_hildebrand(add.molar_volume, add.solubility_parameter, MATRIX_SOLUBILITY_PARAMETER, temp)
        phi0 = form.additive_volume_fraction if not add.reactive else 0.0
        solubility = equilibrium_solubility(float(chi_effective(chi, alpha)))
        phi_dissolved = min(phi0, solubility)
        separated = phi0 - phi_dissolved
        matrix_phi = phi_dissolved / (1.0 - separated) if separated < 1.0 else 0.0
        w_dissolved = mass_fraction_from_volume(matrix_phi, add.density, form.matrix_density) if not add.reactive else 0.0
        tg = float(fox(w_dissolved, add.tg, tg_network))

        domain = 0.0
        if separated > 1e-3:
            k = float(arrhenius(NTH_ORDER_K_REF, NTH_ORDER_E, temp))
            n = NTH_ORDER_N
            t_gel = ((1.0 - ALPHA_GEL) ** (-(n - 1.0)) - 1.0) / ((n - 1.0) * k)
            t_sep = min(t_gel, hold)
            a_t = math.exp(-DIFFUSION_ENERGY / R_GAS * (1.0 / temp - 1.0 / 373.15))
            domain = DOMAIN_PREFACTOR_NM * (separated / 0.1) ** (1 / 3) * (a_t * t_sep / 600.0) ** (1 / 3)
            domain = min(max(domain, 20.0), 3000.0)

        nu_ref = reference_chains()
        growth = max(alpha**2 - ALPHA_GEL**2, 0.0) / (1.0 - ALPHA_GEL**2)
        stoich = max(1.0 - NU_STOICHIOMETRY_PENALTY * (r - 1.0) ** 2, 0.05)
        reactive = max(1.0 + _by_functionality(NU_SHIFT_PER_FRACTION, f_add) * w, 0.05)
        nu = nu_ref * growth * stoich * reactive * (1.0 - phi0) * (1.0 - 0.5 * damage)

        k_ic = fracture_toughness(nu, nu_ref, w_dissolved, add.tg, separated, domain, damage, tg)
        state = MaterialState(
            degree_of_cure=alpha,
            crosslink_density=nu,
            domain_size=domain,
            free_volume_fraction=float(free_volume_fraction(tg)),
            chi=float(chi),
            solubility_parameter=add.solubility_parameter,
            dissolved_fraction=w_dissolved,
            separated_fraction=separated,
            degradation=damage,
            tg=tg,
            fracture_toughness=k_ic,
        )
        temp_q = Q_(temp, "K").to("degC")
        return Simulated(
            state=state,
            mix_actuals={"speed": Q_(recipe.mixing_speed, "rpm"), "time": Q_(recipe.mixing_time, "min")},
            cure_setpoints={"temperature": temp_q, "time": Q_(hold / 3600.0, "h")},
            cure_actuals={"temperature": temp_q, "time": Q_(hold / 3600.0, "h")},
            diagnostics={"tg_inf": Q_(tg_inf, "K").to("degC"), "vitrification_limit": alpha_vit},
        )
