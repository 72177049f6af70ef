"""``thermoset.kinetics_phase_field``: cure kinetics + phase-field model of the film (~0.02-0.3 s).

What is modelled (constants in ``network``, ``kinetics`` and ``phase_field``
unless stated):

* **Mixing**: blend viscosity by the log-additive rule; mixing quality
  ``Q = 1 - exp(-N / N_c)`` with ``N`` = speed x time revolutions and
  ``N_c = 2500 rev * sqrt(eta / 1 Pa s)``; poor mixing leaves a local
  stoichiometry scatter ``r (1 + eps)``, ``sd(eps) = 0.25 (1 - Q)``, integrated by
  3-point Gauss-Hermite quadrature (one kinetics node per local ratio), and
  composition noise ``0.01 + 0.04 (1 - Q)`` in the phase field. Viscous heating
  ``6 K (eta / 3.6 Pa s)(speed / 2000 rpm)**2 (1 - exp(-t / 5 min))``.
* **Network**: ``Tg_inf`` of each local ratio from the **Miller-Macosko**
  elastically effective chain density at full conversion (``network``), so
  off-stoichiometry, TGAP (trifunctional) and BGE (chain stopper) act through
  the network topology; BGE also adds Fox-Flory chain ends.
* **Cure**: **Kamal-Sourour/Horie** autocatalytic kinetics with WLF diffusion
  control and vitrification over the real oven program (5 K/min ramp from
  25 degC, hold, 5 K/min cool-down), the film's exotherm and thermal lag, and
  thermo-oxidative damage above about 165 degC (``kinetics``).
* **Reaction-induced phase separation**: a 2D **Cahn-Hilliard** field
  (``phase_field``) driven along the cure: matrix solubility parameter
  ``delta_m(alpha) = delta_m0 + 0.8 alpha MPa**0.5`` (hydroxyls formed by the
  epoxy-amine addition; ``delta_m0`` the volume average of the Fedors values of
  resin and hardener), ``chi_eff = chi (1 + 12 alpha)``, matrix chain length
  ``N = N0 (1 + alpha/alpha_gel)/(1 - alpha/alpha_gel)`` (capped at 1000 sites),
  and mobility ``0.6 1/s`` at 100 degC x Arrhenius (65 kJ/mol) x ``10**-2``
  across gelation x the WLF vitrification factor, so gelation and vitrification
  freeze the morphology. Only the additive left dissolved in the matrix
  plasticizes (**Fox**); the domain size comes from the structure factor.
* Reported ``chi_parameter``: the Hildebrand-Scatchard chi at the cure
  temperature against the fully cured matrix (without the network gain).
"""

from __future__ import annotations

import math

import numpy as np

from core import Q_
from simulators.thermoset.base import MaterialState, Simulated, ThermosetSimulator
from simulators.thermoset.chemistry import (
    DGEBA_SMILES,
    HARDENER_DENSITY,
    HARDENER_FUNCTIONALITY,
    IPDA_SMILES,
    RESIN_DENSITY,
    RESIN_EEW,
    estimate_solubility_parameter,
)
from simulators.thermoset.kinetics import (
    COOL_RATE,
    RAMP_RATE,
    CureNode,
    ThermalProfile,
    solve_cure,
    wlf_log_shift,
)
from simulators.thermoset.network import (
    DEGRADATION_TG_LOSS,
    R_GAS,
    T_ROOM,
    chi_effective,
    chi_hildebrand,
    dibenedetto,
    equilibrium_solubility,
    formulate,
    fox,
    fracture_toughness,
    free_volume_fraction,
    limiting_conversions,
    mass_fraction_from_volume,
    network_tg_inf,
    reference_chains,
    topology,
)
from simulators.thermoset.phase_field import evolve
from simulators.thermoset.recipe import ThermosetRecipe

MIXING_REVOLUTIONS = 2500.0  # rev at 1 Pa*s
MIXING_SCATTER = 0.25
VISCOUS_HEATING = 6.0  # K at 3.6 Pa*s and 2000 rpm
GAUSS_HERMITE = ((-math.sqrt(3.0), 1.0 / 6.0), (0.0, 2.0 / 3.0), (math.sqrt(3.0), 1.0 / 6.0))
DELTA_NETWORK_GAIN = 0.8  # MPa**0.5 at full conversion
MOBILITY_100C = 0.6  # 1/s (phase-field time per real second)
DIFFUSION_ENERGY = 65e3  # J/mol
GEL_MOBILITY_DECADES = 2.0
GEL_WIDTH = 0.03
N_MATRIX_CAP = 1000.0


class KineticsPhaseFieldThermoset(ThermosetSimulator):
    """High-fidelity model: Kamal-Sourour ODE, Miller-Macosko network, Cahn-Hilliard RIPS.

    Args:
        grid: phase-field cells per side (the box is ``grid x 40 nm``).
        max_steps: most phase-field time steps per sample.
        max_dtau: largest dimensionless phase-field step.
        ramp_rate: oven heat-up rate, K/min.
    """

    name = "thermoset.kinetics_phase_field"
    version = "1.0.0"

    def __init__(self, grid: int = 64, max_steps: int = 500, max_dtau: float = 2.0, ramp_rate: float = RAMP_RATE * 60.0):
        from core import ConfigError, FieldIssue

        issues = []
        if not (isinstance(grid, int) and 16 <= grid <= 256):
            issues.append(FieldIssue("options.grid", f"{grid!r} must be an int in 16 - 256 cells"))
        if not (isinstance(max_steps, int) and 10 <= max_steps <= 20000):
            issues.append(FieldIssue("options.max_steps", f"{max_steps!r} must be an int in 10 - 20000"))
        if not (0 < float(max_dtau) <= 4.0):
            issues.append(FieldIssue("options.max_dtau", f"{max_dtau!r} must be in (0, 4]"))
        if not (0.1 <= float(ramp_rate) <= 50.0):
            issues.append(FieldIssue("options.ramp_rate", f"{ramp_rate!r} K/min must be in 0.1 - 50 K/min"))
        if issues:
            raise ConfigError(issues)
        self.grid = grid
        self.max_steps = max_steps
        self.max_dtau = float(max_dtau)
        self.ramp_rate = float(ramp_rate)

    def _simulate(self, recipe: ThermosetRecipe, seed: int) -> Simulated:
        add = recipe.additive
        r = recipe.hardener_ratio
        form = formulate(add, recipe.additive_fraction, r)

        # Mixing: quality from revolutions against viscosity; scatter of local stoichiometry.
        revolutions = recipe.mixing_speed * recipe.mixing_time
        quality = 1.0 - math.exp(-revolutions / (MIXING_REVOLUTIONS * math.sqrt(form.viscosity)))
        scatter = MIXING_SCATTER * (1.0 - quality)
        mix_heating = VISCOUS_HEATING * (form.viscosity / 3.6) * (recipe.mixing_speed / 2000.0) ** 2
        mix_heating *= 1.0 - math.exp(-recipe.mixing_time / 5.0)
        quadrature = GAUSS_HERMITE if scatter > 1e-3 else ((0.0, 1.0),)
        nodes = []
        for eps, weight in quadrature:
            r_local = float(np.clip(r * (1.0 + scatter * eps), 0.3, 2.5))
            nodes.append(CureNode(r_local, weight, network_tg_inf(topology(form, r_local), r_local)))
        weights = np.array([nd.weight for nd in nodes])

        # Miscibility picture for the kinetics: equilibrium solubility in the cured network.
        phi0 = 0.0 if add.reactive else form.additive_volume_fraction
        temp = recipe.cure_temperature
        delta_m0 = _matrix_delta(form)
        chi_final = chi_hildebrand(add.molar_volume, add.solubility_parameter, delta_m0 + DELTA_NETWORK_GAIN, temp)
        phi_eq = min(phi0, equilibrium_solubility(float(chi_effective(chi_final, 1.0))))
        w_ode = mass_fraction_from_volume(phi_eq / (1.0 - (phi0 - phi_eq)), add.density, form.matrix_density) if phi0 > 0 else 0.0

        profile = ThermalProfile(temp, recipe.cure_time, ramp_rate=self.ramp_rate / 60.0, cool_rate=COOL_RATE)
        traj = solve_cure(profile, nodes, form.epoxide, w_ode, add.tg)
        alpha_nodes = traj.conversion[:, -1]
        alpha_mean = float(weights @ alpha_nodes)
        damage = float(traj.damage[-1])

        # Reaction-induced phase separation along the cure history.
        alpha_gel = _gel_conversion(form, r)
        pf = None
        if phi0 > 1e-4:
            pf = self._phase_field(traj, weights, form, add, phi0, delta_m0, alpha_gel, w_ode, nodes, quality, seed)
        if pf is None or not pf.separated:
            matrix_phi, separated, domain = phi0, 0.0, 0.0
        else:
            matrix_phi = pf.matrix_volume_fraction
            separated = max(phi0 - matrix_phi * (1.0 - pf.rich_cell_fraction), 0.0)
            domain = pf.domain_size_nm
        w_dissolved = mass_fraction_from_volume(matrix_phi, add.density, form.matrix_density) if phi0 > 0 else 0.0

        tg_network = np.array([float(dibenedetto(a, nd.tg_inf)) for a, nd in zip(alpha_nodes, nodes)])
        tg_nodes = tg_network - DEGRADATION_TG_LOSS * damage
        tg = float(weights @ fox(w_dissolved, add.tg, tg_nodes))

        chains = []
        for a, nd in zip(alpha_nodes, nodes):
            x_e, x_a = limiting_conversions(a, nd.ratio)
            chains.append(float(topology(form, nd.ratio).chains(x_e, x_a)))
        nu = float(weights @ np.array(chains)) * (1.0 - 0.5 * damage)
        nu_ref = reference_chains()
        k_ic = fracture_toughness(nu, nu_ref, w_dissolved, add.tg, separated, domain, damage, tg)

        state = MaterialState(
            degree_of_cure=alpha_mean,
            crosslink_density=nu,
            domain_size=domain,
            free_volume_fraction=float(free_volume_fraction(tg)),
            chi=float(chi_final),
            solubility_parameter=add.solubility_parameter,
            dissolved_fraction=w_dissolved,
            separated_fraction=separated,
            degradation=damage,
            tg=tg,
            fracture_toughness=k_ic,
        )
        hold = [(a, b) for name, a, b in profile.segments() if name == "hold"]
        in_hold = (traj.t >= hold[0][0]) & (traj.t <= hold[0][1]) if hold else np.ones_like(traj.t, dtype=bool)
        mean_alpha_t = weights @ traj.conversion
        gel_index = np.argmax(mean_alpha_t >= alpha_gel) if mean_alpha_t[-1] >= alpha_gel else None
        cure_actuals = {
            "temperature": Q_(float(traj.sample_temperature[in_hold].mean()), "K").to("degC"),
            "peak_temperature": Q_(float(traj.sample_temperature.max()), "K").to("degC"),
            "time": Q_(recipe.cure_time / 3600.0, "h"),
            "ramp_time": Q_(profile.ramp_time / 60.0, "min"),
            "cool_time": Q_(profile.cool_time / 60.0, "min"),
        }
        if gel_index is not None:
            cure_actuals["gel_time"] = Q_(float(traj.t[gel_index]) / 60.0, "min")
        diagnostics = {
            "mixing_quality": quality,
            "stoichiometry_scatter": scatter,
            "tg_inf": Q_(float(weights @ np.array([nd.tg_inf for nd in nodes])), "K").to("degC"),
            "gel_conversion": alpha_gel,
            "phase_field_steps": 0 if pf is None else pf.steps,
        }
        return Simulated(
            state=state,
            mix_actuals={
                "speed": Q_(recipe.mixing_speed, "rpm"),
                "time": Q_(recipe.mixing_time, "min"),
                "temperature": Q_(T_ROOM + mix_heating, "K").to("degC"),
                "viscosity": Q_(form.viscosity, "Pa*s"),
                "mixing_quality": Q_(quality, "dimensionless"),
            },
            cure_setpoints={
                "temperature": Q_(temp, "K").to("degC"),
                "time": Q_(recipe.cure_time / 3600.0, "h"),
                "ramp_rate": Q_(self.ramp_rate, "K/min"),
                "cool_rate": Q_(COOL_RATE * 60.0, "K/min"),
            },
            cure_actuals=cure_actuals,
            diagnostics=diagnostics,
        )

    def _phase_field(self, traj, weights, form, add, phi0, delta_m0, alpha_gel, w_ode, nodes, quality, seed):
        alpha = np.clip(weights @ traj.conversion, 0.0, 1.0)
        temp = traj.sample_temperature
        delta_m = delta_m0 + DELTA_NETWORK_GAIN * alpha
        chi = chi_effective(chi_hildebrand(add.molar_volume, add.solubility_parameter, delta_m, temp), alpha)
        n0 = _matrix_sites(form, add.molar_volume)
        ratio = np.clip(alpha / alpha_gel, 0.0, 0.999)
        n_matrix = np.minimum(n0 * (1.0 + ratio) / (1.0 - ratio), N_MATRIX_CAP)
        n_matrix = np.where(alpha >= alpha_gel, N_MATRIX_CAP, n_matrix)
        tg_inf = float(weights @ np.array([nd.tg_inf for nd in nodes]))
        tg_mix = fox(w_ode, add.tg, dibenedetto(alpha, tg_inf))
        gel = 1.0 / (1.0 + np.exp(-(alpha - alpha_gel) / GEL_WIDTH))
        mobility = (
            MOBILITY_100C
            * np.exp(-DIFFUSION_ENERGY / R_GAS * (1.0 / temp - 1.0 / 373.15))
            * 10.0 ** (-GEL_MOBILITY_DECADES * gel)
            / (1.0 + 10.0 ** (-wlf_log_shift(temp, tg_mix)))
        )
        tau = np.concatenate([[0.0], np.cumsum(0.5 * (mobility[1:] + mobility[:-1]) * np.diff(traj.t))])
        total = float(tau[-1])
        n_steps = int(min(max(math.ceil(total / self.max_dtau), 10), self.max_steps))
        edges = np.linspace(0.0, total, n_steps + 1)
        mid = 0.5 * (edges[1:] + edges[:-1])
        # Beyond max_steps * max_dtau the history is compressed: late coarsening is
        # slowed rather than the step made unstable.
        dtau = np.minimum(np.diff(edges), self.max_dtau)
        return evolve(
            phi0,
            dtau,
            np.interp(mid, tau, chi),
            np.interp(mid, tau, n_matrix),
            noise=0.01 + 0.04 * (1.0 - quality),
            seed=seed,
            n=self.grid,
        )


def _matrix_delta(form) -> float:
    """Volume-averaged Fedors solubility parameter of resin, hardener (and reactive additive), MPa**0.5."""
    parts = [
        (form.mass_resin / RESIN_DENSITY, estimate_solubility_parameter(DGEBA_SMILES).magnitude),
        (form.mass_hardener / HARDENER_DENSITY, estimate_solubility_parameter(IPDA_SMILES).magnitude),
    ]
    if form.additive.reactive:
        parts.append((form.mass_additive / form.additive.density, form.additive.solubility_parameter))
    volume = sum(v for v, _ in parts)
    return sum(v * d for v, d in parts) / volume


def _matrix_sites(form, additive_molar_volume: float) -> float:
    """Mean volume of an unreacted matrix molecule in additive lattice sites (N0)."""
    # Technical DGEBA (EEW 187 g/eq) has two epoxides per molecule, M = 374 g/mol.
    moles = form.mass_resin / (2.0 * RESIN_EEW) + form.amine_hydrogen / HARDENER_FUNCTIONALITY
    volume = form.mass_resin / RESIN_DENSITY + form.mass_hardener / HARDENER_DENSITY
    return (volume / moles) / additive_molar_volume


def _gel_conversion(form, ratio: float) -> float:
    """Normalized gel conversion by Flory-Stockmayer: x_A x_B (f_A,w - 1)(f_B - 1) = 1."""
    top = topology(form)
    branching = sum(share * (f - 1) for f, share in top.epoxide_shares.items())
    if branching <= 0:
        return 1.0
    x_epoxide = math.sqrt(ratio / (branching * (HARDENER_FUNCTIONALITY - 1)))
    return min(x_epoxide / min(1.0, ratio), 1.0)
