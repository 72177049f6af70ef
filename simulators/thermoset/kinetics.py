"""Cure kinetics of the epoxy-amine network: analytic nth-order and Kamal-Sourour ODE.

What is modelled, with its constants:

* **Thermal profile** of an oven cure: heat-up from 25 degC at 5 K/min, an
  isothermal hold, cool-down at 5 K/min to 30 degC. The film follows the oven
  with a lumped (Newton) time constant of 30 s and heats itself by the reaction
  exotherm (102 kJ per mol epoxide, heat capacity 1.9 J/(g K)).
* **Kamal-Sourour autocatalytic kinetics** in Horie's stoichiometric form for
  epoxide conversion ``x`` at hardener ratio ``r``:
  ``dx/dt = (k1 + k2 x)(1 - x)(r - x) * f_d``, Arrhenius ``k1`` (E1 = 58 kJ/mol,
  1.5e-4 1/s at 100 degC) and ``k2`` (E2 = 52 kJ/mol, 2.0e-3 1/s at 100 degC).
  Off-stoichiometry limits ``x`` to ``min(1, r)``.
* **Diffusion control / vitrification** by the Rabinowitch combination
  ``f_d = 1 / (1 + k_c/k_D)`` with ``k_D = 2e-2 1/s * 10**(17.44 d / (51.6 + |d|))``,
  ``d = T - Tg(x)`` (WLF universal constants), ``Tg(x)`` from DiBenedetto and Fox.
* **Thermo-oxidative damage** integrated along the profile (see ``network``).
* **nth-order isothermal kinetics** (closed form): ``d alpha/dt = k (1 - alpha)**n``,
  ``n = 1.6``, ``E = 55 kJ/mol``, ``k(100 degC) = 9e-4 1/s``, so
  ``alpha(t) = 1 - (1 + (n - 1) k t)**(-1/(n - 1))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from core import SimulationError
from simulators.thermoset.network import R_GAS, degradation_rate, dibenedetto, fox

T_START = 298.15  # K
T_END = 303.15  # K, the cool-down stops at 30 degC
RAMP_RATE = 5.0 / 60.0  # K/s
COOL_RATE = 5.0 / 60.0  # K/s
THERMAL_TIME_CONSTANT = 30.0  # s
REACTION_ENTHALPY = 102e3  # J per mol epoxide
HEAT_CAPACITY = 1.9  # J/(g K)
T_KINETIC_REF = 373.15  # K
K1_REF, E1 = 1.5e-4, 58e3  # 1/s at 100 degC, J/mol
K2_REF, E2 = 2.0e-3, 52e3
K_DIFFUSION_AT_TG = 2e-2  # 1/s
WLF_C1, WLF_C2 = 17.44, 51.6  # -, K
NTH_ORDER_N, NTH_ORDER_E, NTH_ORDER_K_REF = 1.6, 55e3, 9e-4


def arrhenius(k_ref: float, energy: float, temperature):
    """Rate constant at ``temperature`` (K) from its value at 100 degC and activation energy (J/mol)."""
    return k_ref * np.exp(-energy / R_GAS * (1.0 / np.asarray(temperature) - 1.0 / T_KINETIC_REF))


def wlf_log_shift(temperature, tg):
    """log10 of the WLF shift factor, continued symmetrically below Tg."""
    d = np.asarray(temperature) - np.asarray(tg)
    return WLF_C1 * d / (WLF_C2 + np.abs(d))


def nth_order_conversion(temperature: float, time: float) -> float:
    """Isothermal nth-order conversion (0-1) after ``time`` s at ``temperature`` K."""
    k = float(arrhenius(NTH_ORDER_K_REF, NTH_ORDER_E, temperature))
    n = NTH_ORDER_N
    return 1.0 - (1.0 + (n - 1.0) * k * time) ** (-1.0 / (n - 1.0))


@dataclass(frozen=True)
class ThermalProfile:
    """Oven temperature program: ramp, hold, cool.

    Attributes:
        setpoint: hold temperature, K.
        hold: hold time, s.
        ramp_rate, cool_rate: K/s.
    """

    setpoint: float
    hold: float
    ramp_rate: float = RAMP_RATE
    cool_rate: float = COOL_RATE

    @property
    def ramp_time(self) -> float:
        return max(self.setpoint - T_START, 0.0) / self.ramp_rate

    @property
    def cool_time(self) -> float:
        return max(self.setpoint - T_END, 0.0) / self.cool_rate

    def segments(self) -> list[tuple[str, float, float]]:
        """``(name, t_start, t_end)`` in s for the non-empty segments."""
        t1 = self.ramp_time
        t2 = t1 + self.hold
        t3 = t2 + self.cool_time
        return [(n, a, b) for n, a, b in (("ramp", 0.0, t1), ("hold", t1, t2), ("cool", t2, t3)) if b > a]

    def oven(self, t):
        """Oven temperature (K) at time ``t`` (s)."""
        t = np.asarray(t, dtype=float)
        start = min(T_START, self.setpoint)
        t1 = self.ramp_time
        t2 = t1 + self.hold
        up = start + self.ramp_rate * t
        down = self.setpoint - self.cool_rate * (t - t2)
        return np.where(t < t1, up, np.where(t <= t2, self.setpoint, np.maximum(down, min(T_END, self.setpoint))))


@dataclass(frozen=True)
class CureNode:
    """One local stoichiometry of a (possibly poorly mixed) film.

    Attributes:
        ratio: local hardener ratio.
        weight: quadrature weight.
        tg_inf: Tg_inf of the local network, K.
    """

    ratio: float
    weight: float
    tg_inf: float


@dataclass(frozen=True)
class CureTrajectory:
    """Dense solution of the cure.

    Attributes:
        t: s, shape ``(n_t,)``.
        conversion: normalized conversion of the limiting group, ``(n_nodes, n_t)``.
        sample_temperature: K, ``(n_t,)``.
        oven_temperature: K, ``(n_t,)``.
        damage: degradation damage 0-1, ``(n_t,)``.
    """

    t: np.ndarray
    conversion: np.ndarray
    sample_temperature: np.ndarray
    oven_temperature: np.ndarray
    damage: np.ndarray


def solve_cure(
    profile: ThermalProfile,
    nodes: list[CureNode],
    epoxide_per_gram: float,
    dissolved_mass_fraction: float,
    additive_tg: float,
) -> CureTrajectory:
    """Integrate Kamal-Sourour kinetics with vitrification, exotherm and damage.

    Args:
        profile: the oven program.
        nodes: local stoichiometries (quadrature of the mixing scatter).
        epoxide_per_gram: epoxide equivalents per gram of blend, mol/g (for the exotherm).
        dissolved_mass_fraction: additive mass fraction assumed dissolved for Tg(x), 0-1.
        additive_tg: Fox Tg of the additive, K.

    Returns:
        The trajectory sampled at 600 points plus the segment ends.

    Raises:
        SimulationError: the integrator failed.
    """
    n = len(nodes)
    ratios = np.array([nd.ratio for nd in nodes])
    weights = np.array([nd.weight for nd in nodes])
    tg_inf = np.array([nd.tg_inf for nd in nodes])
    x_max = np.minimum(1.0, ratios)
    adiabatic_rise = REACTION_ENTHALPY * epoxide_per_gram / HEAT_CAPACITY  # K per unit conversion

    def rhs(t, y):
        x = np.clip(y[:n], 0.0, x_max)
        temp = y[n]
        k1 = arrhenius(K1_REF, E1, temp)
        k2 = arrhenius(K2_REF, E2, temp)
        kc = k1 + k2 * x
        tg = fox(dissolved_mass_fraction, additive_tg, dibenedetto(x / x_max, tg_inf))
        kd = K_DIFFUSION_AT_TG * 10.0 ** wlf_log_shift(temp, tg)
        rate = kc * (1.0 - x) * (ratios - x) / (1.0 + kc / kd)
        dtemp = (float(profile.oven(t)) - temp) / THERMAL_TIME_CONSTANT + adiabatic_rise * float(weights @ rate)
        ddamage = float(degradation_rate(temp)) * (1.0 - y[n + 1])
        return np.concatenate([rate, [dtemp, ddamage]])

    y = np.concatenate([np.zeros(n), [min(T_START, profile.setpoint), 0.0]])
    segments = profile.segments()
    if not segments:  # no hold and nothing to heat: the film stays uncured
        t = np.zeros(1)
        return CureTrajectory(t, np.zeros((n, 1)), y[n : n + 1].copy(), profile.oven(t), np.zeros(1))
    total = segments[-1][2]
    ts, ys = [], []
    for _, a, b in segments:
        n_eval = max(int(600 * (b - a) / total), 8)
        sol = solve_ivp(
            rhs, (a, b), y, method="LSODA", t_eval=np.linspace(a, b, n_eval), rtol=1e-5, atol=1e-7, first_step=min(1.0, (b - a) / 10)
        )
        if not sol.success:
            raise SimulationError(f"cure kinetics failed in the {a:.0f}-{b:.0f} s segment: {sol.message}")
        ts.append(sol.t)
        ys.append(sol.y)
        y = sol.y[:, -1]
    t = np.concatenate(ts)
    yy = np.concatenate(ys, axis=1)
    conversion = np.clip(yy[:n], 0.0, x_max[:, None]) / x_max[:, None]
    return CureTrajectory(
        t=t, conversion=conversion, sample_temperature=yy[n], oven_temperature=profile.oven(t), damage=yy[n + 1]
    )
