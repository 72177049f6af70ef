"""The model's inputs and lengthscales: which encoded columns belong to which parameter,
the GP that holds the kernel (with physics, the inner GP over ``[encoding, feature:* /
sim:prediction, fidelity]``) and its input names, the ARD lengthscales of the kernel part
that acts at the target fidelity (for BoTorch's linear-truncated multi-fidelity kernel the
"unbiased" Matern kernel: the "biased" one vanishes at fidelity 1), and the Sobol factors
over a model's inputs (one per parameter, one per physics input)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from core import OptimizerError
from optimizers.model import FittedModel
from optimizers.space import SearchSpace

FEATURE_PREFIX = "feature:"
FIDELITY_INPUT = "fidelity"


# ---------------------------------------------------------------------- layout
def encoding_columns(space: SearchSpace) -> list[tuple[str, str]]:
    """``(parameter, column name)`` for each of the ``space.dim`` encoded columns, in order.

    Continuous: the parameter name; categorical: ``name=choice``; molecule:
    ``name:descriptor`` / ``name:morgan:bit`` (the names of ``space.input_names``).
    """
    cols = [(p, name) for p, names in space.columns_by_parameter().items() for name in names]
    if len(cols) != space.dim:  # pragma: no cover - guards a change of the encoding
        raise OptimizerError(f"explain: {len(cols)} column names for an encoding of {space.dim} columns")
    return cols


def encoding_names(space: SearchSpace, width: int) -> list[str]:
    """Names of the columns of an encoding ``n x width`` (``width`` is ``d`` or ``d + 1``)."""
    base = [name for _, name in encoding_columns(space)]
    if width == space.dim:
        return base
    if width == space.dim + 1:
        return base + [FIDELITY_INPUT]
    raise OptimizerError(f"explain: an encoding has {space.dim} or {space.dim + 1} columns, the model's X has {width}")


def gp_layout(space: SearchSpace, fm: FittedModel) -> tuple[torch.nn.Module, torch.Tensor, list[str]]:
    """The GP that holds the kernel, its training inputs and their names.

    Without physics that is ``fm.model`` over the encodings ``fm.X``; with physics
    (``optimizers.physics``) the inner GP over ``[encoding, features, fidelity]``.
    """
    gp = getattr(fm, "gp", None) or fm.model
    Z = getattr(fm, "gp_inputs", None)
    Z = fm.X if Z is None else Z
    names = list(getattr(fm, "input_names", None) or [])
    if len(names) != Z.shape[-1]:
        if Z.shape[-1] not in (space.dim, space.dim + 1):
            raise OptimizerError(
                f"explain: the GP has {Z.shape[-1]} input columns but no input_names; set FittedModel.input_names"
            )
        names = encoding_names(space, Z.shape[-1])
    return gp, Z, names


def extra_inputs(names: Sequence[str], space: SearchSpace) -> list[str]:
    """GP inputs that are neither encoded parameters nor the fidelity (physics: ``feature:*``, ``sim:prediction``)."""
    enc = {name for _, name in encoding_columns(space)}
    return [n for n in names if n not in enc and n != FIDELITY_INPUT]


# ---------------------------------------------------------------------- lengthscales
def target_lengthscales(model: torch.nn.Module, n_inputs: int, fidelity_column: int | None) -> np.ndarray | None:
    """ARD lengthscale per input column of the kernel part that acts at the target fidelity (NaN where none).

    Returns None when the model has no kernel with lengthscales.
    """
    from botorch.models.kernels import LinearTruncatedFidelityKernel
    from gpytorch.kernels import Kernel

    out = np.full(n_inputs, np.nan)
    found = False
    covered: set[int] = set()
    ltf_children: set[int] = set()
    for module in model.modules():
        if isinstance(module, LinearTruncatedFidelityKernel):
            # k = k_unbiased(x, x') + c(s, s') k_biased(x, x'); c = 0 when s = 1 (the target)
            dims = module.active_dims.tolist() if module.active_dims is not None else list(range(n_inputs))
            fid = {int(i) for i in module.fidelity_dims}
            own = [dims[i] for i in range(len(dims)) if i not in fid]
            _fill(out, own, module.covar_module_unbiased.lengthscale.detach().reshape(-1).double().numpy())
            covered.update(own)
            ltf_children.update(id(m) for m in module.modules())
            found = True
    for module in model.modules():
        if id(module) in ltf_children or not isinstance(module, Kernel):
            continue
        if not getattr(module, "has_lengthscale", False) or module.__class__.__name__ in ("ScaleKernel", "ProductKernel", "AdditiveKernel"):
            continue
        ls = module.lengthscale.detach().reshape(-1).double().numpy()
        cols = module.active_dims.tolist() if module.active_dims is not None else list(range(n_inputs))
        if len(ls) != len(cols) and len(ls) != 1:
            cols = [c for c in cols if c != fidelity_column]
        if len(ls) == len(cols) or len(ls) == 1:
            keep = [i for i, c in enumerate(cols) if c != fidelity_column and c not in covered]
            if not keep:
                continue
            _fill(out, [cols[i] for i in keep], ls if len(ls) == 1 else ls[keep])
            covered.update(cols[i] for i in keep)
            found = True
    return out if found else None


def lengthscale_map(space: SearchSpace, fm: FittedModel) -> dict[str, float]:
    """Input name -> ARD lengthscale at the target fidelity (inputs without one are absent)."""
    gp, Z, names = gp_layout(space, fm)
    method = getattr(fm, "lengthscales", None)
    if callable(method) and getattr(fm, "input_names", None):
        try:
            return {k: float(v) for k, v in method().items() if k != FIDELITY_INPUT and math.isfinite(float(v))}
        except Exception:  # noqa: BLE001 - fall back to reading the kernel here
            pass
    fc = names.index(FIDELITY_INPUT) if FIDELITY_INPUT in names else None
    ls = target_lengthscales(gp, len(names), fc)
    if ls is None:
        return {}
    return {n: float(v) for n, v in zip(names, ls) if math.isfinite(v)}


def _fill(out: np.ndarray, cols: list[int], ls: np.ndarray) -> None:
    if len(ls) == 1:
        out[cols] = ls[0]
    elif len(ls) == len(cols):
        out[cols] = ls
    else:  # pragma: no cover - a kernel layout this module does not know
        raise OptimizerError(f"explain: kernel has {len(ls)} lengthscales for {len(cols)} input columns")


# ---------------------------------------------------------------------- factors
class _Factors:
    """Sobol factors over a model's inputs at one fidelity, and how a unit point becomes an input row.

    One factor per campaign parameter (through ``space.from_unit``: a discrete parameter
    picks a choice uniformly) and one per extra input (physics ``feature:*`` /
    ``sim:prediction`` columns: uniform over their training range, independent of the
    parameters, which they are not; their indices describe the GP's response surface,
    not the physics).

    Args:
        names: names of the model's input columns.
        Z: the model's training inputs (ranges of the extra columns).
    """

    def __init__(self, space: SearchSpace, names: list[str], Z: torch.Tensor):
        self.space = space
        self.n_inputs = len(names)
        index = {n: j for j, n in enumerate(names)}
        enc = [n for _, n in encoding_columns(space)]
        missing = [n for n in enc if n not in index]
        if missing:
            raise OptimizerError(f"explain: the model's inputs {names} lack the encoded columns {missing}")
        self.param_columns = [index[n] for n in enc]
        self.fidelity_column = index.get(FIDELITY_INPUT)
        extras = extra_inputs(names, space)
        self.extra_columns = [index[n] for n in extras]
        Zd = Z.detach().double()
        self.low = Zd[:, self.extra_columns].min(dim=0).values if extras else None
        self.high = Zd[:, self.extra_columns].max(dim=0).values if extras else None
        self.labels = [p.name for p in space.parameters] + extras
        self.kinds = ["parameter"] * len(space.parameters) + ["feature"] * len(extras)

    @property
    def k(self) -> int:
        return len(self.labels)

    def inputs(self, U: np.ndarray | torch.Tensor, fidelity_value: float) -> torch.Tensor:
        """``m x k`` unit points -> ``m x n_inputs`` model inputs at ``fidelity_value``."""
        U = torch.as_tensor(np.asarray(U), dtype=torch.double)
        p = len(self.space.parameters)
        X = torch.zeros(U.shape[0], self.n_inputs, dtype=torch.double)
        X[:, self.param_columns] = self.space.from_unit(U[:, :p])
        if self.extra_columns:
            X[:, self.extra_columns] = self.low + U[:, p:] * (self.high - self.low)
        if self.fidelity_column is not None:
            X[:, self.fidelity_column] = fidelity_value
        return X
