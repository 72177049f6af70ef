"""Molecules of the reference thermoset system and their group-contribution properties.

What is modelled:

* The additive library of the reference system (label -> SMILES, see
  ``docs/interfaces.md``) and the two network formers, DGEBA (EEW 187 g/eq,
  1.16 g/cm3) and IPDA (AHEW 42.6 g/eq, 0.92 g/cm3, four N-H per molecule).
* The Hildebrand solubility parameter of any molecule by **Fedors' group
  contribution method** (R. F. Fedors, Polym. Eng. Sci. 14, 147 (1974)):
  ``delta = sqrt(sum(E_coh,i) / sum(V_i))`` with cohesive energies ``E_coh`` in J/mol
  and molar volumes ``V`` in cm3/mol, groups counted on the rdkit molecule with
  SMARTS patterns (phosphate, ester, acid, carbonyl, hydroxyl, ether, amines,
  nitrile, halogens, sulfur) and per-atom rules for carbon (``CH3`` 4710/33.5,
  ``CH2`` 4940/16.1, ``CH`` 3430/-1.0, ``C`` 1470/-19.2, aromatic or olefinic
  ``=CH-`` 4310/13.5, ``=C<`` 4310/-5.5) plus ring closures (3-4 atoms 3140/18,
  5+ atoms 1050/16) and ring conjugation (1670/-2.2 per double bond). The phenyl
  ring assembled from these atoms gives Fedors' tabulated 31940 J/mol, 71.4 cm3/mol.
* A handful of rdkit 2D descriptors, cached per SMILES.
* Additive properties the simulators need (molar mass, density, reactive epoxide
  functionality and equivalent weight, the effective glass transition temperature
  used in the Fox equation, the neat liquid viscosity at 25 degC). Library values
  are literature-typical; other molecules get estimates from the descriptors.

Constants are module-level so that tests and documentation can cite them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from core import InputDataError, Q_

ADDITIVE_LIBRARY: dict[str, str] = {
    "tgap": "C1OC1CN(CC1CO1)c1ccc(OCC2CO2)cc1",
    "butyl_glycidyl_ether": "CCCCOCC1CO1",
    "dibutyl_phthalate": "CCCCOC(=O)c1ccccc1C(=O)OCCCC",
    "dioctyl_sebacate": "CCCCCCCCOC(=O)CCCCCCCCC(=O)OCCCCCCCC",
    "triphenyl_phosphate": "O=P(Oc1ccccc1)(Oc1ccccc1)Oc1ccccc1",
}
"""Additive label -> SMILES, exactly as in ``docs/interfaces.md``."""

DGEBA_SMILES = "CC(C)(c1ccc(OCC2CO2)cc1)c1ccc(OCC2CO2)cc1"
IPDA_SMILES = "CC1(C)CC(N)CC(C)(CN)C1"
RESIN_EEW = 187.0  # g/eq, epoxide equivalent weight of technical DGEBA
RESIN_DENSITY = 1.16  # g/cm3
RESIN_VISCOSITY = 12.0  # Pa*s at 25 degC
HARDENER_AHEW = 42.6  # g/eq, amine hydrogen equivalent weight of IPDA
HARDENER_FUNCTIONALITY = 4  # N-H per IPDA molecule
HARDENER_DENSITY = 0.92  # g/cm3
HARDENER_VISCOSITY = 0.019  # Pa*s at 25 degC

# Fedors (1974) contributions: (E_coh J/mol, V cm3/mol).
# Each SMARTS claims its first ``n`` matched atoms (the ester's alkyl carbon is
# matched for context only and counted as a carbon). (name, SMARTS, n, E, V)
_FEDORS_SMARTS: tuple[tuple[str, str, int, float, float], ...] = (
    ("phosphate", "P(=O)(O)(O)O", 5, 20920.0, 28.0),
    ("acid", "[CX3](=O)[OX2H1]", 3, 27630.0, 28.5),
    ("ester", "[CX3](=O)[OX2][#6]", 3, 18000.0, 18.0),
    ("aldehyde", "[CX3H1]=O", 2, 21350.0, 22.3),
    ("ketone", "[CX3]=O", 2, 17370.0, 10.8),
    ("nitrile", "C#N", 2, 25530.0, 24.0),
    ("hydroxyl", "[OX2H1]", 1, 29800.0, 10.0),
    ("ether", "[OX2]", 1, 3350.0, 3.8),
    ("amine_primary", "[NX3H2]", 1, 12560.0, 19.2),
    ("amine_secondary", "[NX3H1]", 1, 8370.0, 4.5),
    ("amine_tertiary", "[NX3H0;!$(N=*)]", 1, 4190.0, -9.0),
    ("imine_aromatic_n", "[n,$(N=*)]", 1, 11720.0, 5.0),
    ("fluorine", "[F]", 1, 4190.0, 18.0),
    ("chlorine", "[Cl]", 1, 11550.0, 24.0),
    ("bromine", "[Br]", 1, 15490.0, 30.0),
    ("iodine", "[I]", 1, 19050.0, 31.5),
    ("sulfur", "[S,s]", 1, 14150.0, 12.0),
)
_FEDORS_CARBON = {
    ("sp3", 3): (4710.0, 33.5),
    ("sp3", 2): (4940.0, 16.1),
    ("sp3", 1): (3430.0, -1.0),
    ("sp3", 0): (1470.0, -19.2),
    ("sp2", 2): (4310.0, 28.5),
    ("sp2", 1): (4310.0, 13.5),
    ("sp2", 0): (4310.0, -5.5),
}
_RING_SMALL = (3140.0, 18.0)  # ring closure, 3 or 4 atoms
_RING_LARGE = (1050.0, 16.0)  # ring closure, 5 or more atoms
_CONJUGATION = (1670.0, -2.2)  # per conjugated double bond in a ring

# Effective Tg (K) of the non-reactive library additives for the Fox equation.
# Dibutyl phthalate and dioctyl sebacate: glass transitions of the neat liquids
# (about -97 and -95 degC). Triphenyl phosphate acts as an antiplasticizer: its
# effective Tg is taken higher than the neat glass (-65 degC) so that it gives the
# mild Tg drop observed in epoxies.
_LIBRARY_PROPERTIES: dict[str, dict[str, float]] = {
    # label: molar mass g/mol, density g/cm3, viscosity Pa*s at 25 degC, Fox Tg K
    "tgap": {"density": 1.22, "viscosity": 1.5, "tg": 250.0},
    "butyl_glycidyl_ether": {"density": 0.91, "viscosity": 0.0015, "tg": 160.0},
    "dibutyl_phthalate": {"density": 1.043, "viscosity": 0.016, "tg": 176.0},
    "dioctyl_sebacate": {"density": 0.914, "viscosity": 0.022, "tg": 178.0},
    "triphenyl_phosphate": {"density": 1.21, "viscosity": 0.011, "tg": 258.0},
}


def _rdkit():
    try:
        from rdkit import Chem, RDLogger
    except ImportError as err:  # pragma: no cover - rdkit is a core dependency
        raise InputDataError("rdkit is needed for additive properties: pip install rdkit") from err
    RDLogger.DisableLog("rdApp.*")
    return Chem


def _mol(smiles: str, key: str):
    Chem = _rdkit()
    mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) and smiles.strip() else None
    if mol is None:
        raise InputDataError(
            f"recipe[{key!r}]: {smiles!r} is not a valid SMILES string; "
            f"give one of the additive library, e.g. {ADDITIVE_LIBRARY['dibutyl_phthalate']!r}"
        )
    return mol


@functools.lru_cache(maxsize=512)
def canonical(smiles: str, key: str = "additive") -> str:
    """Canonical rdkit SMILES; raises InputDataError naming ``key`` when invalid."""
    return _rdkit().MolToSmiles(_mol(smiles, key))


@functools.lru_cache(maxsize=1)
def _library_by_canonical() -> dict[str, str]:
    return {canonical(s): label for label, s in ADDITIVE_LIBRARY.items()}


def library_label(smiles: str, key: str = "additive") -> str | None:
    """Label of the library additive with this SMILES (any spelling), or None."""
    return _library_by_canonical().get(canonical(smiles, key))


@functools.lru_cache(maxsize=512)
def fedors_contributions(smiles: str, key: str = "additive") -> tuple[float, float]:
    """Sum of Fedors cohesive energies and molar volumes of one molecule.

    Args:
        smiles: the molecule.
        key: recipe key named in error messages.

    Returns:
        ``(E_coh in J/mol, V in cm3/mol)``.

    Raises:
        InputDataError: invalid SMILES, or an atom no Fedors group covers.
    """
    Chem = _rdkit()
    mol = _mol(smiles, key)
    taken: set[int] = set()
    energy = volume = 0.0
    for _, smarts, n_claimed, e, v in _FEDORS_SMARTS:
        pattern = Chem.MolFromSmarts(smarts)
        for match in mol.GetSubstructMatches(pattern):
            heavy = list(match[:n_claimed])
            if any(i in taken for i in heavy):
                continue
            taken.update(heavy)
            energy += e
            volume += v
    for atom in mol.GetAtoms():
        if atom.GetIdx() in taken:
            continue
        if atom.GetAtomicNum() != 6:
            raise InputDataError(
                f"recipe[{key!r}]: {smiles!r} has a {atom.GetSymbol()} atom with no Fedors group "
                "contribution; allowed elements: C, H, N, O, P (as phosphate), S, F, Cl, Br, I"
            )
        hyb = "sp3" if atom.GetHybridization() == Chem.HybridizationType.SP3 else "sp2"
        if atom.GetIsAromatic() or any(b.GetBondTypeAsDouble() == 2.0 for b in atom.GetBonds()):
            hyb = "sp2"
        e, v = _FEDORS_CARBON[(hyb, min(atom.GetTotalNumHs(), 3 if hyb == "sp3" else 2))]
        energy += e
        volume += v
    for ring in mol.GetRingInfo().AtomRings():
        e, v = _RING_SMALL if len(ring) <= 4 else _RING_LARGE
        energy += e
        volume += v
        if all(mol.GetAtomWithIdx(i).GetIsAromatic() for i in ring):
            n_double = len(ring) // 2
            energy += n_double * _CONJUGATION[0]
            volume += n_double * _CONJUGATION[1]
    if volume <= 0:
        raise InputDataError(f"recipe[{key!r}]: {smiles!r} has no positive group molar volume")
    return energy, volume


def estimate_solubility_parameter(smiles: str, key: str = "additive"):
    """Hildebrand solubility parameter by Fedors' group contributions.

    Args:
        smiles: the molecule.
        key: recipe key named in error messages.

    Returns:
        pint Quantity in MPa**0.5 (e.g. about 20.6 for dibutyl phthalate).

    Raises:
        InputDataError: invalid SMILES (the message names ``key``).
    """
    energy, volume = fedors_contributions(smiles, key)
    return Q_(math.sqrt(energy / volume), "MPa**0.5")  # J/cm3 == MPa


def estimate_molar_volume(smiles: str, key: str = "additive"):
    """Molar volume from Fedors' group contributions, as a Quantity in cm**3/mol."""
    return Q_(fedors_contributions(smiles, key)[1], "cm**3/mol")


_DESCRIPTORS = (
    "MolWt",
    "MolLogP",
    "TPSA",
    "NumRotatableBonds",
    "NumHAcceptors",
    "NumHDonors",
    "NumAromaticRings",
    "FractionCSP3",
    "HeavyAtomCount",
)


@functools.lru_cache(maxsize=512)
def _descriptors(smiles: str, key: str) -> tuple[tuple[str, float], ...]:
    from rdkit.Chem import Descriptors

    mol = _mol(smiles, key)
    return tuple((name, float(getattr(Descriptors, name)(mol))) for name in _DESCRIPTORS)


def molecular_descriptors(smiles: str, key: str = "additive") -> dict[str, float]:
    """A handful of rdkit 2D descriptors (cached per SMILES).

    Returns:
        ``{"MolWt" (g/mol), "MolLogP", "TPSA" (A**2), "NumRotatableBonds",
        "NumHAcceptors", "NumHDonors", "NumAromaticRings", "FractionCSP3",
        "HeavyAtomCount", "NumEpoxides"}`` as floats; a fresh dict per call.
    """
    out = dict(_descriptors(smiles, key))
    out["NumEpoxides"] = float(_epoxide_count(smiles, key))
    return out


@functools.lru_cache(maxsize=512)
def _epoxide_count(smiles: str, key: str) -> int:
    Chem = _rdkit()
    return len(_mol(smiles, key).GetSubstructMatches(Chem.MolFromSmarts("C1OC1")))


@dataclass(frozen=True)
class AdditiveProperties:
    """What the simulators need to know about an additive.

    Attributes:
        smiles: canonical SMILES.
        label: library label, or None for a molecule outside the library.
        molar_mass: g/mol.
        density: g/cm3 at 25 degC.
        viscosity: Pa*s at 25 degC.
        epoxide_functionality: epoxide groups per molecule (0 = non-reactive).
        tg: effective glass transition temperature for the Fox equation, K.
        solubility_parameter: Fedors delta, MPa**0.5.
        molar_volume: Fedors molar volume, cm3/mol.
    """

    smiles: str
    label: str | None
    molar_mass: float
    density: float
    viscosity: float
    epoxide_functionality: int
    tg: float
    solubility_parameter: float
    molar_volume: float

    @property
    def reactive(self) -> bool:
        return self.epoxide_functionality > 0

    @property
    def eew(self) -> float:
        """Epoxide equivalent weight, g/eq (inf for a non-reactive additive)."""
        return self.molar_mass / self.epoxide_functionality if self.reactive else math.inf


@functools.lru_cache(maxsize=512)
def additive_properties(smiles: str, key: str = "additive") -> AdditiveProperties:
    """Properties of an additive; library values where known, estimates otherwise.

    Estimates for molecules outside the library: density = M / V_Fedors; Fox Tg
    from a crude descriptor rule (150 K + 0.15 K*mol/g * M + 25 K per aromatic
    ring + 30 K per H-bond donor - 3 K per rotatable bond, clipped to 150-320 K);
    viscosity 0.02 Pa*s. Reactivity from the number of epoxide rings.
    """
    canon = canonical(smiles, key)
    label = library_label(canon, key)
    d = molecular_descriptors(canon, key)
    delta = estimate_solubility_parameter(canon, key).magnitude
    volume = fedors_contributions(canon, key)[1]
    if label is not None:
        lib = _LIBRARY_PROPERTIES[label]
        density, viscosity, tg = lib["density"], lib["viscosity"], lib["tg"]
    else:
        density = d["MolWt"] / volume
        viscosity = 0.02
        tg = 150.0 + 0.15 * d["MolWt"] + 25.0 * d["NumAromaticRings"] + 30.0 * d["NumHDonors"] - 3.0 * d["NumRotatableBonds"]
        tg = min(max(tg, 150.0), 320.0)
    return AdditiveProperties(
        smiles=canon,
        label=label,
        molar_mass=d["MolWt"],
        density=density,
        viscosity=viscosity,
        epoxide_functionality=int(d["NumEpoxides"]),
        tg=tg,
        solubility_parameter=delta,
        molar_volume=volume,
    )
