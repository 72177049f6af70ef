"""rdkit featurization of molecule parameters: 2D descriptors, Morgan fingerprints, or both.

A molecule parameter (``core.MoleculeParameter``) chooses its featurization in the
campaign file (``featurization = "descriptors" | "morgan" | "both"``):

- ``descriptors``: a chosen set of rdkit 2D descriptors (``DESCRIPTORS`` names the
  ones available; ``DEFAULT_DESCRIPTORS`` is the set used when none is given),
  min-max normalized across the parameter's choices by ``SearchSpace``;
- ``morgan``: a Morgan (circular, ECFP-like) bit fingerprint; the GP compares two
  molecules with the :class:`TanimotoKernel` on those bits, multiplied with the
  kernel of the continuous parameters;
- ``both``: descriptor columns and fingerprint bits side by side.

Featurization is cached per canonical SMILES and settings (``featurize``), and its
record (name, descriptor values, set bits, rdkit version) is stored with every sample.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from gpytorch.kernels import Kernel

from core import InputDataError
from core.space import FEATURIZATIONS  # noqa: F401 - re-exported: one list for configs and the optimizer

DEFAULT_DESCRIPTORS: tuple[str, ...] = ("MolLogP", "TPSA", "MolWt", "FractionCSP3", "NumRotatableBonds")
MORGAN_RADIUS = 2
MORGAN_BITS = 2048


def _descriptor_functions() -> dict[str, Callable[[Any], float]]:
    from rdkit.Chem import Crippen, Descriptors, Lipinski, rdMolDescriptors

    return {
        "MolLogP": Crippen.MolLogP,  # Wildman-Crippen octanol/water logP
        "MolMR": Crippen.MolMR,  # molar refractivity
        "TPSA": rdMolDescriptors.CalcTPSA,  # topological polar surface area, A**2
        "MolWt": Descriptors.MolWt,  # g/mol
        "HeavyAtomCount": Lipinski.HeavyAtomCount,
        "FractionCSP3": rdMolDescriptors.CalcFractionCSP3,
        "NumRotatableBonds": Lipinski.NumRotatableBonds,
        "NumHDonors": Lipinski.NumHDonors,
        "NumHAcceptors": Lipinski.NumHAcceptors,
        "NumHeteroatoms": Lipinski.NumHeteroatoms,
        "RingCount": Lipinski.RingCount,
        "NumAromaticRings": Lipinski.NumAromaticRings,
        "LabuteASA": rdMolDescriptors.CalcLabuteASA,
    }


# The names are fixed here so that configs can be validated without importing rdkit.
DESCRIPTORS: tuple[str, ...] = (
    "MolLogP", "MolMR", "TPSA", "MolWt", "HeavyAtomCount", "FractionCSP3", "NumRotatableBonds",
    "NumHDonors", "NumHAcceptors", "NumHeteroatoms", "RingCount", "NumAromaticRings", "LabuteASA",
)


def rdkit_version() -> str:
    import rdkit

    return str(rdkit.__version__)


def _mol(smiles: object, field: str):
    try:
        from rdkit import Chem, RDLogger
    except ImportError as err:  # pragma: no cover - rdkit is a core dependency
        raise InputDataError(f"{field}: rdkit is needed to featurize molecules: pip install rdkit") from err
    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) and smiles.strip() else None
    if mol is None:
        raise InputDataError(f"{field}: {smiles!r} is not a valid SMILES string")
    return mol


def canonical(smiles: str, field: str = "smiles") -> str:
    """rdkit's canonical SMILES.

    Raises:
        InputDataError: not a valid SMILES (the message names ``field``).
    """
    from rdkit import Chem

    return Chem.MolToSmiles(_mol(smiles, field))


@dataclass(frozen=True)
class MoleculeFeatures:
    """The featurization of one molecule.

    Attributes:
        smiles: canonical SMILES.
        descriptors: descriptor name -> raw value (rdkit units: logP, A**2, g/mol, counts).
        morgan_bits: indices of the set bits of the Morgan fingerprint (``n_bits`` long).
        radius, n_bits: Morgan settings.
        rdkit_version: the rdkit that computed it.
    """

    smiles: str
    descriptors: dict[str, float]
    morgan_bits: tuple[int, ...]
    radius: int
    n_bits: int
    rdkit_version: str

    def to_record(self, featurization: str) -> dict[str, Any]:
        """JSON-friendly record of what the model saw for this molecule under ``featurization``."""
        rec: dict[str, Any] = {"featurization": featurization, "smiles": self.smiles, "rdkit_version": self.rdkit_version}
        if featurization in ("descriptors", "both"):
            rec["descriptors"] = dict(self.descriptors)
        if featurization in ("morgan", "both"):
            rec["morgan"] = {"radius": self.radius, "n_bits": self.n_bits, "set_bits": list(self.morgan_bits)}
        return rec


def check_settings(descriptors: Sequence[str] | None, radius: int, n_bits: int, field: str) -> tuple[str, ...]:
    """Validate featurization settings; returns the descriptor names to use.

    Raises:
        InputDataError: an unknown descriptor, or a radius / bit count out of range.
    """
    names = DEFAULT_DESCRIPTORS if descriptors is None else tuple(descriptors)
    bad = [n for n in names if n not in DESCRIPTORS]
    if bad or not names:
        raise InputDataError(f"{field}.descriptors: {bad or 'empty list'} not available; choose from {list(DESCRIPTORS)}")
    if isinstance(radius, bool) or not isinstance(radius, int) or not 1 <= radius <= 4:
        raise InputDataError(f"{field}.morgan_radius: {radius!r} must be an integer from 1 to 4")
    if isinstance(n_bits, bool) or not isinstance(n_bits, int) or not 64 <= n_bits <= 8192:
        raise InputDataError(f"{field}.morgan_bits: {n_bits!r} must be an integer from 64 to 8192")
    return names


@functools.lru_cache(maxsize=4096)
def _featurize_canonical(smiles: str, descriptors: tuple[str, ...], radius: int, n_bits: int) -> MoleculeFeatures:
    from rdkit.Chem import rdFingerprintGenerator

    mol = _mol(smiles, "smiles")
    funcs = _descriptor_functions()
    values = {name: float(funcs[name](mol)) for name in descriptors}
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    bits = tuple(int(b) for b in gen.GetFingerprint(mol).GetOnBits())
    return MoleculeFeatures(smiles, values, bits, radius, n_bits, rdkit_version())


@functools.lru_cache(maxsize=4096)
def _canonical_cached(smiles: str) -> str:
    return canonical(smiles)


def featurize(
    smiles: str,
    *,
    descriptors: Sequence[str] | None = None,
    radius: int = MORGAN_RADIUS,
    n_bits: int = MORGAN_BITS,
    field: str = "smiles",
) -> MoleculeFeatures:
    """Descriptors and Morgan bits of one molecule, cached per canonical SMILES and settings.

    Raises:
        InputDataError: ``smiles`` is not valid, or a setting is out of range (naming ``field``).
    """
    names = check_settings(descriptors, radius, n_bits, field)
    try:
        canon = _canonical_cached(smiles)
    except InputDataError:
        raise InputDataError(f"{field}: {smiles!r} is not a valid SMILES string") from None
    except TypeError:  # unhashable
        raise InputDataError(f"{field}: {smiles!r} is not a valid SMILES string") from None
    return _featurize_canonical(canon, names, radius, n_bits)


def cache_info() -> dict[str, int]:
    """Hits and misses of the featurization cache (for tests and diagnostics)."""
    info = _featurize_canonical.cache_info()
    return {"hits": info.hits, "misses": info.misses, "size": info.currsize}


def tanimoto(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Tanimoto similarity ``<a, b> / (|a|^2 + |b|^2 - <a, b>)`` between the rows of ``... x n x k`` and ``... x m x k``.

    For bit vectors this is |A and B| / |A or B|; two all-zero rows count as identical (1).
    Returns ``... x n x m``.
    """
    dot = a @ b.transpose(-2, -1)
    na = (a * a).sum(-1, keepdim=True)
    nb = (b * b).sum(-1, keepdim=True).transpose(-2, -1)
    denom = na + nb - dot
    return torch.where(denom > eps, dot / denom.clamp_min(eps), torch.ones_like(dot))


class TanimotoKernel(Kernel):
    """Tanimoto (Jaccard) kernel on fingerprint bits; positive semi-definite, no hyperparameters.

    Use ``active_dims`` to point it at the fingerprint columns of an encoding and multiply
    it with the kernel of the other columns (see ``optimizers.model``).
    """

    has_lengthscale = False

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params) -> torch.Tensor:
        if diag:
            dot = (x1 * x2).sum(-1)
            denom = (x1 * x1).sum(-1) + (x2 * x2).sum(-1) - dot
            return torch.where(denom > 1e-12, dot / denom.clamp_min(1e-12), torch.ones_like(dot))
        return tanimoto(x1, x2)
