"""Hidden ground truth of the simulated lab: what the film really is, given what really happened.

This is the lab's "nature": it sees the *actual* dispensed masses and the *true*
equivalent weights of the lots, the actual mixing, the oven's actual air
temperature (which differs from what its sensor says), the humidity the open batch
and the finished film saw. It is an independent implementation of the shared physics
of ``docs/interfaces.md`` (it imports nothing from ``simulators/``) with effects
no simulator models: film thermal lag and exotherm, lot-to-lot equivalent weights,
amine blush at high humidity, moisture uptake that lowers Tg. The characterizer
adds the instrument's own bias and noise on top. Deterministic: no random numbers here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.integrate import solve_ivp

from core import Q_

R = 8.314  # J/(mol K)
T_REF_KINETICS = 373.15  # K
TG0 = 238.15  # K, unreacted blend
TG_INF_STOICH = 433.15  # K, full cure at r = 1 without additive
LAMBDA = 0.40  # DiBenedetto
MATRIX_DELTA = 21.0  # MPa**0.5
FILM_LAG = 200.0  # s, film vs oven air
EXOTHERM_RISE = 25.0  # K of film heating per unit conversion rate x time (thin film, most heat lost)
VITRIFICATION_OFFSET, VITRIFICATION_WIDTH = 15.0, 5.0  # K
DEGRADATION_RATE, DEGRADATION_T, DEGRADATION_E = 3.0 / 3600.0, 438.15, 120e3  # K/s at 165 degC, J/mol
DEGRADATION_MAX = 60.0  # K, the Tg loss saturates
GEL_CONVERSION = 0.58
MOISTURE_TG_DROP = 4.5  # K per wt% absorbed water

# Literature-like values (Hansen total solubility parameter, Tg of the neat liquid for Fox).
_LIBRARY = {
    "C1OC1CN(CC1CO1)c1ccc(OCC2CO2)cc1": dict(delta=23.0, functionality=3, eew=92.4, tg_fox=None, mw=277.3),
    "CCCCOCC1CO1": dict(delta=17.8, functionality=1, eew=130.2, tg_fox=None, mw=130.2),
    "CCCCOC(=O)c1ccccc1C(=O)OCCCC": dict(delta=20.2, functionality=0, eew=None, tg_fox=190.0, mw=278.3),
    "CCCCCCCCOC(=O)CCCCCCCCC(=O)OCCCCCCCC": dict(delta=17.4, functionality=0, eew=None, tg_fox=170.0, mw=426.7),
    # triphenyl phosphate antiplasticizes: its effective Fox Tg is high, so the Tg drop is mild
    "O=P(Oc1ccccc1)(Oc1ccccc1)Oc1ccccc1": dict(delta=21.6, functionality=0, eew=None, tg_fox=300.0, mw=326.3),
}


@dataclass(frozen=True)
class FilmHistory:
    """What actually happened to one film (the lab knows it; the controller never sees it).

    Masses in g, equivalent weights in g/eq, speeds in rpm, temperatures in degC, humidity
    in percent RH, times in s. ``oven_time``/``oven_air`` sample the true oven air
    temperature from loading (t = 0) to unloading.
    """

    resin_mass: float
    hardener_mass: float
    additive_mass: float
    resin_eew: float
    hardener_ahew: float
    additive_smiles: str | None
    additive_purity: float
    mixing_speed: float
    mixing_time: float
    mixing_temperature_rise: float
    room_temperature: float
    exposure_humidity: float
    exposure_time: float
    oven_time: np.ndarray = field(repr=False)
    oven_air: np.ndarray = field(repr=False)
    storage_humidity: float


@dataclass(frozen=True)
class FilmTruth:
    """The real film: structure and properties as quantities, and a few hidden internals."""

    structure: dict
    properties: dict
    internals: dict


@lru_cache(maxsize=64)
def additive_data(smiles: str) -> dict:
    """Solubility parameter, functionality, EEW, Fox Tg (K) and molar mass of an additive.

    Library molecules come from the table; any other SMILES gets a crude estimate.
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Descriptors

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"additive {smiles!r} is not a valid SMILES")
    canonical = Chem.MolToSmiles(mol)
    table = {Chem.MolToSmiles(Chem.MolFromSmiles(s)): v for s, v in _LIBRARY.items()}
    if canonical in table:
        return dict(table[canonical])
    heavy = max(mol.GetNumHeavyAtoms(), 1)
    hetero = sum(1 for a in mol.GetAtoms() if a.GetSymbol() not in ("C", "H"))
    aromatic = sum(1 for a in mol.GetAtoms() if a.GetIsAromatic())
    mw = Descriptors.MolWt(mol)
    n_epoxide = len(mol.GetSubstructMatches(Chem.MolFromSmarts("C1OC1")))
    return dict(
        delta=16.0 + 9.0 * hetero / heavy + 3.0 * aromatic / heavy,
        functionality=n_epoxide,
        eew=mw / n_epoxide if n_epoxide else None,
        tg_fox=None if n_epoxide else float(np.clip(100.0 + 0.45 * mw, 150.0, 330.0)),
        mw=mw,
    )


def tg_infinity(r: np.ndarray | float) -> np.ndarray:
    """Tg (K) of the fully cured network vs stoichiometric ratio r (peak at r = 1; amine excess hurts more)."""
    d = np.asarray(r, dtype=float) - 1.0
    return TG_INF_STOICH - 170.0 * d**2 - np.where(d < 0, 35.0, 55.0) * np.abs(d)


def dibenedetto(alpha, tg0, tg_inf):
    alpha = np.clip(alpha, 0.0, 1.0)
    return tg0 + (tg_inf - tg0) * LAMBDA * alpha / (1.0 - (1.0 - LAMBDA) * alpha)


def fox(tg_network, w_dissolved, tg_additive):
    if tg_additive is None or w_dissolved <= 0:
        return tg_network
    return 1.0 / (w_dissolved / tg_additive + (1.0 - w_dissolved) / tg_network)


def film_truth(h: FilmHistory) -> FilmTruth:
    """Compute the real film's structure and properties from its actual history."""
    add = additive_data(h.additive_smiles) if h.additive_smiles and h.additive_mass > 0 else None
    m_add = h.additive_mass * h.additive_purity if add else 0.0
    total = h.resin_mass + h.hardener_mass + h.additive_mass

    # amine blush: an open batch in humid air loses amine to carbamate
    humid = float(np.clip((h.exposure_humidity - 55.0) / 35.0, 0.0, 1.0))
    blush = 0.06 * humid * (1.0 - np.exp(-h.exposure_time / 1800.0))
    amine = h.hardener_mass / h.hardener_ahew * (1.0 - blush)
    eq_add = m_add / add["eew"] if add and add["eew"] else 0.0
    epoxide = h.resin_mass / h.resin_eew + eq_add
    r = amine / epoxide if epoxide > 0 else 5.0
    x_add = eq_add / epoxide if epoxide > 0 else 0.0
    w_add = m_add / total if total > 0 else 0.0

    # mixing: local stoichiometry scatters around r when mixing is poor
    revolutions = h.mixing_speed * h.mixing_time / 60.0
    quality = 1.0 - np.exp(-revolutions / 4000.0)
    z, wz = np.polynomial.hermite_e.hermegauss(7)
    wz = wz / wz.sum()
    spread = 0.15 * (1.0 - quality)
    tg_inf = float(np.sum(wz * tg_infinity(r * (1.0 + spread * z))))
    if add and add["functionality"] >= 2:
        tg_inf += 22.5 * (add["functionality"] - 2) * 2 * x_add
    elif add and add["functionality"] == 1:
        tg_inf -= 120.0 * x_add
    w_free = w_add if add and not add["eew"] else 0.0
    tg_fox = add["tg_fox"] if add else None
    delta = add["delta"] if add else MATRIX_DELTA
    molar_volume = (add["mw"] if add else 300.0) * 1e-6  # m3/mol, density ~ 1 g/cm3

    def chi_at(temperature_k: float) -> float:
        return 0.34 + molar_volume * (delta - MATRIX_DELTA) ** 2 * 1e6 / (R * temperature_k)

    def dissolved(alpha: float, temperature_k: float) -> float:
        if w_free <= 0:
            return 0.0
        chi_c = 0.5 + 1.5 * max(0.0, 1.0 - alpha / GEL_CONVERSION) ** 2
        return w_free / (1.0 + np.exp(np.clip((chi_at(temperature_k) - chi_c) / 0.04, -50, 50)))

    def tg_of(alpha: float, temperature_k: float) -> float:
        return fox(dibenedetto(alpha, TG0, tg_inf), dissolved(alpha, temperature_k), tg_fox)

    excess = max(r, 1.0 / r)
    pre_t = 273.15 + h.room_temperature + 0.5 * h.mixing_temperature_rise
    # the open batch waits at room temperature (warmed by mixing) before the oven
    exposure = max(h.exposure_time, 1.0)
    t_air = np.concatenate([[-exposure, -1e-3], np.asarray(h.oven_time, float)])
    air = np.concatenate([[pre_t, pre_t], np.asarray(h.oven_air, float) + 273.15])

    def rhs(t, y):
        alpha, temp, _ = y
        alpha = min(max(alpha, 0.0), 1.0)
        k1 = 6e-5 * np.exp(-58e3 / R * (1.0 / temp - 1.0 / T_REF_KINETICS))
        k2 = 2e-3 * np.exp(-53e3 / R * (1.0 / temp - 1.0 / T_REF_KINETICS))
        glassy = (tg_of(alpha, temp) - temp - VITRIFICATION_OFFSET) / VITRIFICATION_WIDTH
        diffusion = 1.0 / (1.0 + np.exp(min(glassy, 50.0)))
        rate = (k1 + k2 * alpha) * (1.0 - alpha) * (excess - alpha) * diffusion
        air_t = np.interp(t, t_air, air)
        dtemp = (air_t - temp) / FILM_LAG + EXOTHERM_RISE * rate
        degrade = DEGRADATION_RATE * np.exp(-DEGRADATION_E / R * (1.0 / temp - 1.0 / DEGRADATION_T))
        return [rate, dtemp, degrade]

    sol = solve_ivp(rhs, (t_air[0], t_air[-1]), [0.0, pre_t, 0.0], method="LSODA",
                    max_step=120.0, rtol=1e-5, atol=1e-7)
    alpha, _, degraded = (float(v) for v in sol.y[:, -1])
    degradation = DEGRADATION_MAX * (1.0 - np.exp(-degraded / DEGRADATION_MAX))
    alpha = min(max(alpha, 0.0), 1.0)
    film_peak = float(sol.y[1].max()) - 273.15

    hold_k = float(np.max(air))
    w_dissolved = dissolved(alpha, hold_k)
    w_separated = max(w_free - w_dissolved, 0.0)
    moisture = 1.3 * h.storage_humidity / 100.0 * (0.6 + 0.4 * alpha)  # wt%
    # carbamate from blush caps chain ends: the network Tg drops beyond the stoichiometry shift
    tg = tg_of(alpha, hold_k) - degradation - MOISTURE_TG_DROP * moisture - 150.0 * blush - 273.15

    mix_hot = float(np.clip((h.mixing_speed - 1800.0) / 700.0, 0.0, 1.0))
    domain = 0.0
    if w_separated > 0.003:
        domain = (150.0 + 2500.0 * w_separated**0.8 * (1.0 + 1.5 * (1.0 - quality))) * np.exp(-(hold_k - 393.15) / 80.0)
    network = max(0.0, (alpha - GEL_CONVERSION) / (1.0 - GEL_CONVERSION)) ** 1.5
    crosslink = 3300.0 * max(0.0, 1.0 - 1.3 * abs(r - 1.0)) * network * (1.0 - w_free)
    if add and add["functionality"] >= 2:
        crosslink *= 1.0 + 0.8 * x_add
    elif add and add["functionality"] == 1:
        crosslink *= max(0.0, 1.0 - 0.9 * x_add)
    crosslink *= max(0.0, 1.0 - degradation / 200.0)
    toughening = 3.0 * w_separated * np.exp(-0.5 * np.log(max(domain, 1.0) / 800.0) ** 2) if domain > 0 else 0.0
    toughness = 0.70 + 0.25 * (r - 1.0)
    toughness *= 0.5 + 0.5 * float(np.clip((alpha - 0.6) / 0.35, 0.0, 1.0))
    toughness += 1.0 * w_dissolved + toughening - 0.004 * degradation - 0.25 * (1.0 - quality) - 0.12 * mix_hot - 0.1 * humid
    if add and add["functionality"] >= 2:
        toughness -= 0.8 * w_add
    elif add and add["functionality"] == 1:
        toughness += 0.5 * w_add
    toughness = max(toughness, 0.15)
    free_volume = 0.025 + 0.02 * w_dissolved + 0.0004 * max(0.0, 60.0 - tg)

    return FilmTruth(
        structure={
            "degree_of_cure": Q_(alpha, ""),
            "crosslink_density": Q_(crosslink, "mol/m**3"),
            "domain_size": Q_(domain, "nm"),
            "free_volume_fraction": Q_(free_volume, ""),
            "chi_parameter": Q_(chi_at(hold_k), ""),
            "additive_solubility_parameter": Q_(delta, "MPa**0.5"),
        },
        properties={
            "glass_transition_temperature": Q_(tg, "degC"),
            "fracture_toughness": Q_(toughness, "MPa*m**0.5"),
        },
        internals={
            "stoichiometric_ratio": r,
            "amine_blush": blush,
            "mixing_quality": quality,
            "moisture_wt_percent": moisture,
            "moisture_tg_drop_K": MOISTURE_TG_DROP * moisture,
            "degradation_tg_drop_K": degradation,
            "film_peak_temperature_degC": film_peak,
            "dissolved_additive_fraction": w_dissolved,
            "separated_additive_fraction": w_separated,
        },
    )
