"""Encoding of a campaign's search space into the optimizer's unit hypercube.

A history or pending table (one column per parameter, plus ``fidelity``) becomes an
``n x (d + 1)`` double tensor in ``[0, 1]``: ``d`` columns for the parameters and a
last column holding the fidelity's ``value`` (the target fidelity is 1).

- continuous parameters: min-max scaling of the magnitude in the parameter's
  ``unit`` (``cure_temperature`` 60-180 degC: 120 degC -> 0.5);
- categorical parameters: one-hot, one column per choice;
- molecule parameters (``featurization`` of the parameter, see ``optimizers.featurize``):
  ``descriptors``: chosen rdkit 2D descriptors of each choice (default logP, TPSA,
  mass, fraction sp3, rotatable bonds), min-max normalized across the choices;
  ``morgan``: the Morgan fingerprint bits set in at least one choice (0/1 columns,
  compared by the Tanimoto kernel: the bits no choice sets never change a Tanimoto
  value, so they are left out); ``both``: descriptor columns, then bit columns.

``input_names`` names every column (``cure_temperature``, ``blade=anchor``,
``additive:MolLogP``, ``additive:morgan:1057``, ``fidelity``).

Linear constraints on continuous parameters (``core.LinearConstraint``) stay linear under
the min-max scaling: each is one row ``sum(coef * x[idx]) >= rhs`` of the encoded box
(``inequality_constraints``, see ``optimizers.constraints``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pint
import torch

from core import (
    CategoricalParameter,
    ConfigError,
    ContinuousParameter,
    Fidelity,
    InputDataError,
    LinearConstraint,
    MoleculeParameter,
    Objective,
    OutcomeConstraint,
    Parameter,
    parse_linear_constraint,
    parse_outcome_constraint,
    ureg,
)
from core.constraints import check_recipe
from core.goals import OBJECTIVE_COLUMN, Outcome, outcomes

from optimizers.featurize import DEFAULT_DESCRIPTORS, featurize

DESCRIPTOR_NAMES: tuple[str, ...] = DEFAULT_DESCRIPTORS
#: Validated / encoded tables remembered by content (``SearchSpace._memoized``).
MEMO_SIZE = 16
FIDELITY_COLUMN = "fidelity"
STATUS_COLUMN = "status"
STATUSES = ("completed", "failed")
MAX_ENUMERATED_COMBINATIONS = 64


@functools.lru_cache(maxsize=1024)
def molecule_descriptors(smiles: str) -> tuple[float, ...]:
    """Raw rdkit 2D descriptors of one molecule, in the order of ``DESCRIPTOR_NAMES``.

    Raises:
        InputDataError: ``smiles`` is not a valid SMILES string.
    """
    feats = featurize(smiles)
    return tuple(feats.descriptors[n] for n in DESCRIPTOR_NAMES)


@dataclass(frozen=True)
class _Block:
    """Columns ``start:stop`` of the encoding that belong to one parameter."""

    parameter: Parameter
    start: int
    stop: int
    # rows: one encoding per choice (categorical / molecule), shape n_choices x width
    choice_codes: np.ndarray | None = None
    choice_values: tuple[str, ...] = ()
    names: tuple[str, ...] = ()  # one per column
    fingerprint: tuple[int, ...] = ()  # absolute indices of fingerprint-bit columns (Tanimoto kernel)


class SearchSpace:
    """Parameters, fidelities and objective of a campaign, and their tensor encoding.

    Args:
        parameters: the campaign's parameters (continuous, categorical, molecule).
        fidelities: the fidelities the optimizer may choose; exactly one is the target
            (``target=True``, or else the one with the highest ``value``).
        objective: the property to optimize and its direction, or several objectives (a sequence;
            the first is the one single-objective views show).
        linear_constraints: constraints every suggested recipe meets
            (:class:`core.LinearConstraint`, or their text, e.g. ``"a + b <= 30 %"``). The
            encoding of a continuous parameter is linear, so each is one linear inequality on
            the encoded box (:meth:`inequality_constraints`).
        outcome_constraints: measured values a sample must meet (:class:`core.OutcomeConstraint` or
            their text, ``"toughness >= 0.8 MPa*m**0.5"``). A property that is not an objective
            becomes one more modelled outcome (:attr:`outcomes`), with its own history column.

    With several objectives or any outcome constraint (:attr:`multi_goal`) every outcome has a
    history column (:attr:`outcomes`) and the model-based strategies model each of them.

    Raises:
        InputDataError: no parameters, no fidelities, duplicate names; a constraint on an
            unknown or non-continuous parameter, of the wrong dimension, or that no point
            of the box meets.
    """

    def __init__(self, parameters: Sequence[Parameter], fidelities: Sequence[Fidelity],
                 objective: Objective | Sequence[Objective],
                 linear_constraints: Sequence[LinearConstraint | str] = (),
                 outcome_constraints: Sequence[OutcomeConstraint | str] = ()):
        parameters = tuple(parameters)
        fidelities = tuple(fidelities)
        if not parameters:
            raise InputDataError("SearchSpace needs at least one parameter")
        if not fidelities:
            raise InputDataError("SearchSpace needs at least one fidelity")
        names = [p.name for p in parameters]
        if len(set(names)) != len(names):
            raise InputDataError(f"duplicate parameter names in {names}")
        reserved = {FIDELITY_COLUMN, OBJECTIVE_COLUMN, STATUS_COLUMN} & set(names)
        if reserved:
            raise InputDataError(f"parameter names {sorted(reserved)} are reserved table columns; rename them")
        fid_names = [f.name for f in fidelities]
        if len(set(fid_names)) != len(fid_names):
            raise InputDataError(f"duplicate fidelity names in {fid_names}")
        targets = [f for f in fidelities if f.target]
        if len(targets) > 1:
            raise InputDataError(f"more than one target fidelity: {[f.name for f in targets]}")
        self.parameters: tuple[Parameter, ...] = parameters
        self.fidelities: tuple[Fidelity, ...] = fidelities
        objectives = (objective,) if isinstance(objective, Objective) else tuple(objective)
        if not objectives:
            raise InputDataError("SearchSpace needs at least one objective")
        self.objectives: tuple[Objective, ...] = objectives
        self.objective = objectives[0]
        self.outcome_constraints: tuple[OutcomeConstraint, ...] = tuple(
            c if isinstance(c, OutcomeConstraint) else _parsed_outcome(c, f"outcome_constraints[{i}]")
            for i, c in enumerate(outcome_constraints))
        self.outcomes: tuple[Outcome, ...] = self._build_outcomes()
        self._target = targets[0] if targets else max(fidelities, key=lambda f: f.value)
        self._blocks = self._build_blocks()
        self.dim = self._blocks[-1].stop if self._blocks else 0
        self.linear_constraints: tuple[LinearConstraint, ...] = tuple(
            c if isinstance(c, LinearConstraint) else _parsed(c, f"linear_constraints[{i}]")
            for i, c in enumerate(linear_constraints))
        self._constraints = self._encode_constraints() if self.linear_constraints else None
        self._memo: OrderedDict[tuple, object] = OrderedDict()  # see _memoized
        self._memo_lock = threading.Lock()
        self._held = threading.local()  # see holding_digests

    def _build_outcomes(self) -> tuple[Outcome, ...]:
        try:
            return outcomes(self.objectives, self.outcome_constraints)
        except ConfigError as err:
            raise InputDataError(str(err)) from err

    @property
    def multi_goal(self) -> bool:
        """Several objectives or an outcome constraint: every outcome is modelled (``optimizers.goals``)."""
        return len(self.objectives) > 1 or bool(self.outcome_constraints)

    @property
    def outcome_columns(self) -> list[str]:
        return [o.column for o in self.outcomes]

    @property
    def objective_indices(self) -> list[int]:
        """Positions of the objectives among :attr:`outcomes` (they come first)."""
        return list(range(len(self.objectives)))

    def constraint_rows(self) -> list[tuple[int, float, float]]:
        """Each outcome constraint on the model's signed outputs: ``(outcome index, a, b)`` meaning the
        constraint holds when ``a * Y[..., index] >= b`` (``a`` is +1 or -1)."""
        rows = []
        for c in self.outcome_constraints:
            k = next(i for i, o in enumerate(self.outcomes) if o.property == c.property)
            o = self.outcomes[k]
            bound = c.bound_in(o.unit)
            # value = sign * Y;  value >= bound  <=>  sign * Y >= bound;  value <= bound  <=>  -sign * Y >= -bound
            rows.append((k, o.sign, bound) if c.operator == ">=" else (k, -o.sign, -bound))
        return rows

    def meets_outcome_constraints(self, Y: torch.Tensor) -> torch.Tensor:
        """``n`` booleans: whether each row of signed outcomes ``Y`` (``n x len(outcomes)``) meets every
        outcome constraint."""
        ok = torch.ones(Y.shape[:-1], dtype=torch.bool)
        for k, a, b in self.constraint_rows():
            ok &= a * Y[..., k] >= b
        return ok

    # ------------------------------------------------------------------ layout
    def _build_blocks(self) -> tuple[_Block, ...]:
        blocks = []
        start = 0
        for p in self.parameters:
            if isinstance(p, ContinuousParameter):
                blocks.append(_Block(p, start, start + 1, names=(p.name,)))
                start += 1
            elif isinstance(p, CategoricalParameter):
                k = len(p.choices)
                blocks.append(_Block(p, start, start + k, np.eye(k), tuple(p.choices),
                                     names=tuple(f"{p.name}={c}" for c in p.choices)))
                start += k
            elif isinstance(p, MoleculeParameter):
                codes, names, n_fp = _molecule_codes(p)
                width = codes.shape[1]
                fp = tuple(range(start + width - n_fp, start + width))
                blocks.append(_Block(p, start, start + width, codes, tuple(p.smiles), names=names, fingerprint=fp))
                start += width
            else:
                raise InputDataError(f"parameter {getattr(p, 'name', p)!r} has unsupported type {type(p).__name__}")
        return tuple(blocks)

    def _encode_constraints(self):
        from optimizers.constraints import EncodedConstraints, unit_box_rows  # noqa: PLC0415 - scipy on demand

        try:
            G_unit, h = unit_box_rows(self.linear_constraints, self.parameters)
        except ConfigError as err:
            raise InputDataError(str(err)) from err
        G = torch.zeros(len(self.linear_constraints), self.dim, dtype=torch.double)
        for j, b in enumerate(self._blocks):
            if isinstance(b.parameter, ContinuousParameter):  # encoded column = unit coordinate (min-max scaling)
                G[:, b.start] = torch.as_tensor(G_unit[:, j], dtype=torch.double)
        labels = [f"{c.field} {c.text!r}" for c in self.linear_constraints]
        return EncodedConstraints(G, torch.as_tensor(h, dtype=torch.double), labels)

    # ------------------------------------------------------------------ constraints
    @property
    def has_constraints(self) -> bool:
        """True when a linear constraint cuts the box. Constraints every point of the box meets
        change nothing: suggestions are then exactly those of the unconstrained space."""
        return self._constraints is not None and self._constraints.any_binding

    def inequality_constraints(self) -> list[tuple[torch.Tensor, torch.Tensor, float]] | None:
        """BoTorch ``inequality_constraints`` over the ``d`` parameter columns: ``(indices, coefficients,
        rhs)`` meaning ``sum(coefficients * x[..., indices]) >= rhs``; None without a binding constraint."""
        return self._constraints.inequality_constraints() if self.has_constraints else None

    def is_feasible(self, X: torch.Tensor | Mapping[str, object]) -> bool | torch.Tensor:
        """Whether a recipe (a mapping), one ``d[+1]`` encoding (a bool) or ``n x d[+1]`` encodings
        (``n`` booleans) meet every linear constraint."""
        if isinstance(X, Mapping):
            X = self.encode_recipe(X)
        X = torch.as_tensor(X, dtype=torch.double)
        if self._constraints is None:
            ok = torch.ones(X.shape[:-1], dtype=torch.bool)
        else:
            ok = self._constraints.feasible(X)
        return bool(ok) if ok.dim() == 0 else ok

    def check_recipe(self, recipe: Mapping[str, object]) -> None:
        """Refuse a recipe that breaks a linear constraint.

        Raises:
            LimitError: naming each broken constraint with the recipe's left-hand side and the bound.
        """
        units = {p.name: p.unit for p in self.parameters if isinstance(p, ContinuousParameter)}
        check_recipe(self.linear_constraints, recipe, units)

    def make_feasible(self, X: torch.Tensor) -> torch.Tensor:
        """``n x d[+1]`` encodings with each infeasible row moved just inside the constraints (toward the
        feasible set's centre, continuous columns only); unchanged without a binding constraint."""
        if not self.has_constraints:
            return X
        return self._constraints.repair(X)

    def feasible_samples(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n x d`` encodings spread over the box (every column in ``[0, 1]``, discrete ones relaxed) that
        meet the linear constraints: the starting points of a constrained acquisition optimization."""
        if self._constraints is None:
            return torch.quasirandom.SobolEngine(self.dim, scramble=True, seed=seed).draw(n, dtype=torch.double)
        return self._constraints.samples(n, seed)

    @property
    def target_fidelity(self) -> Fidelity:
        """The fidelity the campaign optimizes (the robot in the reference campaign)."""
        return self._target

    @property
    def fidelity_column(self) -> int:
        """Index of the fidelity column in encoded tensors (``== dim``)."""
        return self.dim

    def fidelity(self, name: str) -> Fidelity:
        for f in self.fidelities:
            if f.name == name:
                return f
        raise InputDataError(f"unknown fidelity {name!r}; known: {[f.name for f in self.fidelities]}")

    @property
    def fidelities_by_cost(self) -> tuple[Fidelity, ...]:
        return tuple(sorted(self.fidelities, key=lambda f: (f.cost, f.value)))

    @property
    def continuous_columns(self) -> list[int]:
        return [b.start for b in self._blocks if isinstance(b.parameter, ContinuousParameter)]

    @property
    def fingerprint_columns(self) -> list[int]:
        """Columns holding Morgan fingerprint bits (the model compares them with a Tanimoto kernel)."""
        return [j for b in self._blocks for j in b.fingerprint]

    @property
    def input_names(self) -> list[str]:
        """Names of the ``d + 1`` columns of an encoding (the last is ``fidelity``)."""
        return [n for b in self._blocks for n in b.names] + [FIDELITY_COLUMN]

    def columns_by_parameter(self) -> dict[str, tuple[str, ...]]:
        """Parameter name -> the names of its encoded columns, both in encoding order.

        A fresh dict of tuples (changing it changes nothing here); concatenated, the
        values are ``input_names`` without ``fidelity``: ``{"cure_temperature":
        ("cure_temperature",), "blade": ("blade=anchor", "blade=dispersion"), ...}``.
        """
        return {b.parameter.name: b.names for b in self._blocks}

    def featurization_record(self, recipe: Mapping[str, object]) -> dict[str, dict]:
        """What the model saw of each molecule in ``recipe``: parameter name -> featurization record.

        The record holds the featurization name, the descriptor values and / or the set
        Morgan bits, and the rdkit version (``optimizers.featurize.MoleculeFeatures.to_record``).
        """
        out = {}
        for p in self.parameters:
            if isinstance(p, MoleculeParameter) and p.name in recipe:
                block = next(b for b in self._blocks if b.parameter is p)
                smiles = block.choice_values[self._choice_index(block, recipe[p.name])]
                out[p.name] = featurize(smiles, descriptors=p.descriptors, radius=p.morgan_radius,
                                        n_bits=p.morgan_bits, field=f"parameters.{p.name}").to_record(p.featurization)
        return out

    @property
    def has_discrete(self) -> bool:
        return any(b.choice_codes is not None for b in self._blocks)

    def discrete_combinations(self, limit: int = MAX_ENUMERATED_COMBINATIONS) -> list[dict[int, float]] | None:
        """Every combination of discrete choices as ``{column: value}``, or None if more than ``limit``."""
        blocks = [b for b in self._blocks if b.choice_codes is not None]
        if not blocks:
            return [{}]
        total = math.prod(len(b.choice_values) for b in blocks)
        if total > limit:
            return None
        combos = []
        for picks in itertools.product(*[range(len(b.choice_values)) for b in blocks]):
            fixed: dict[int, float] = {}
            for b, i in zip(blocks, picks):
                for j, v in enumerate(b.choice_codes[i]):
                    fixed[b.start + j] = float(v)
            combos.append(fixed)
        return combos

    def bounds(self) -> torch.Tensor:
        """``2 x (d + 1)`` bounds of the encoded box (all zeros and ones)."""
        b = torch.zeros(2, self.dim + 1, dtype=torch.double)
        b[1] = 1.0
        return b

    # ------------------------------------------------------------------ memo by content
    @staticmethod
    def _digest(table: pd.DataFrame) -> bytes | None:
        """A digest of ``table``'s content (columns, dtypes, values and their order), or None when its
        cells cannot be hashed. Plain numeric columns are hashed as their bytes and text columns as the
        repr of their values (under a millisecond for a campaign's history, about half of pandas' own row
        hashing); other columns by pandas' hashing."""
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr([(str(c), str(t)) for c, t in table.dtypes.items()] + [len(table)]).encode())
        try:
            for _, col in table.items():  # by position: duplicate names are separate columns
                if isinstance(col.dtype, np.dtype) and col.dtype.kind in "biufcmM":
                    digest.update(np.ascontiguousarray(col.to_numpy()).tobytes())
                elif isinstance(col.dtype, pd.StringDtype):
                    digest.update(repr(col.to_numpy(dtype=object, na_value=None).tolist()).encode())
                else:
                    digest.update(pd.util.hash_pandas_object(col, index=False).to_numpy().tobytes())
        except (TypeError, ValueError):
            return None
        return digest.digest()

    @contextlib.contextmanager
    def holding_digests(self):
        """Within this block (on this thread) each table object's digest is computed once, however often
        it is validated or encoded. For the span of one request, whose caller does not edit its tables
        meanwhile: outside it, a table edited in place between two calls must be digested again."""
        if getattr(self._held, "digests", None) is not None:  # nested: the outer block holds them
            yield
            return
        self._held.digests = {}
        try:
            yield
        finally:
            self._held.digests = None

    def _digest_of(self, table: pd.DataFrame) -> bytes | None:
        held = getattr(self._held, "digests", None)
        if held is None:
            return self._digest(table)
        hit = held.get(id(table))
        if hit is not None and hit[0] is table:
            return hit[1]
        digest = self._digest(table)
        held[id(table)] = (table, digest)  # the reference keeps the id from being reused meanwhile
        return digest

    def _memoized(self, op: str, kind: str, digest: bytes | None, compute):
        """``compute()`` once per table content (``digest``; None: always computed). The loop asks
        once per free worker with the same history, and each request validated and encoded it
        several times (history, training rows, failures): with 32 workers that was seconds per
        batch. The last ``MEMO_SIZE`` results are kept; a failure raises and is not kept."""
        if digest is None:
            return compute()
        key = (op, kind, digest)
        with self._memo_lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        value = compute()
        with self._memo_lock:
            self._memo[key] = value
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    # ------------------------------------------------------------------ validation
    def validate(self, table: pd.DataFrame | None, *, kind: str = "history") -> pd.DataFrame:
        """Check a history (``kind="history"``) or pending table and return it (empty if None).

        History columns: one per parameter, ``fidelity``, ``objective`` (float in the
        objective's unit, NaN when failed), ``status`` (``completed`` / ``failed``).
        Pending columns: one per parameter and ``fidelity``.

        Raises:
            InputDataError: a missing column or a bad value, naming the column.
        """
        return self._validated(table, kind, None)

    def _validated(self, table: pd.DataFrame | None, kind: str, digest: bytes | None) -> pd.DataFrame:
        """``validate`` with the table's content digest when the caller has it already."""
        if table is None:
            table = pd.DataFrame()
        if not isinstance(table, pd.DataFrame):
            raise InputDataError(f"{kind} must be a pandas DataFrame, got {type(table).__name__}")
        need = [p.name for p in self.parameters] + [FIDELITY_COLUMN]
        if kind == "history":
            need += [OBJECTIVE_COLUMN, STATUS_COLUMN] + [c for c in self.outcome_columns if c != OBJECTIVE_COLUMN]
        if len(table) == 0:
            return table
        if digest is None:
            digest = self._digest_of(table)
        self._memoized("validate", kind, digest, lambda: self._validate(table, kind, need))
        return table

    def _validate(self, table: pd.DataFrame, kind: str, need: list[str]) -> bool:
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise InputDataError(
                f"{kind} table is missing column(s) {missing}; it has {list(table.columns)}"
            )
        known = {f.name for f in self.fidelities}
        bad = sorted({str(v) for v in table[FIDELITY_COLUMN] if v not in known})
        if bad:
            raise InputDataError(f"{kind} column 'fidelity' has unknown fidelity name(s) {bad}; allowed: {sorted(known)}")
        plain = self._plain_numbers(table) is not None  # every continuous column fine at once
        for b in self._blocks:
            if not (plain and isinstance(b.parameter, ContinuousParameter)):
                self._check_parameter_column(table[b.parameter.name], b, kind)
        if kind == "history":
            status = table[STATUS_COLUMN]
            bad = sorted({str(v) for v in status if v not in STATUSES})
            if bad:
                raise InputDataError(f"history column 'status' has value(s) {bad}; allowed: {list(STATUSES)}")
            done = (status == "completed").to_numpy()
            for o in self.outcomes:
                try:
                    obj = pd.to_numeric(table[o.column], errors="raise").astype(float)
                except (TypeError, ValueError) as err:
                    raise InputDataError(
                        f"history column {o.column!r} must hold floats in {o.unit} (NaN when failed): {err}"
                    ) from err
                if np.isinf(obj.to_numpy()[done]).any():
                    raise InputDataError(f"history column {o.column!r} has infinite values for completed rows")
        return True

    def _plain_numbers(self, table: pd.DataFrame) -> np.ndarray | None:
        """The continuous parameters' columns as one ``n x k`` float array when every one of them has a
        numeric dtype and only finite values (the loop's tables): one selection instead of a conversion
        per column. None otherwise: each column is then checked on its own, with its own message."""
        names = [b.parameter.name for b in self._blocks if isinstance(b.parameter, ContinuousParameter)]
        if not names or any(n not in table.columns for n in names):
            return None
        sub = table[names]
        if not all(isinstance(t, np.dtype) and t.kind in "biuf" for t in sub.dtypes):
            return None
        values = sub.to_numpy(dtype=float)
        return values if np.isfinite(values).all() else None

    def _check_parameter_column(self, col: pd.Series, block: _Block, kind: str) -> None:
        p = block.parameter
        if isinstance(p, ContinuousParameter):
            try:
                values = pd.to_numeric(col, errors="raise").astype(float).to_numpy()
            except (TypeError, ValueError) as err:
                raise InputDataError(
                    f"{kind} column {p.name!r} must hold float magnitudes in {p.unit}: {err}"
                ) from err
            if not np.isfinite(values).all():
                raise InputDataError(f"{kind} column {p.name!r} has NaN or infinite values")
            return
        for v in col:
            self._choice_index(block, v, kind)

    def _choice_index(self, block: _Block, value: object, kind: str = "recipe") -> int:
        p = block.parameter
        if isinstance(value, str) and value in block.choice_values:
            return block.choice_values.index(value)
        if isinstance(p, MoleculeParameter) and isinstance(value, str):
            if value in p.choices:  # a label instead of the SMILES
                return block.choice_values.index(p.choices[value])
            from core.space import canonical_smiles  # noqa: PLC0415 - rdkit only here

            try:
                canon = canonical_smiles(value, p.name)
            except Exception as err:
                raise InputDataError(f"{kind} column {p.name!r}: {value!r} is not a valid SMILES string") from err
            if canon in block.choice_values:
                return block.choice_values.index(canon)
        allowed = list(p.choices) if isinstance(p, MoleculeParameter) else list(block.choice_values)
        raise InputDataError(f"{kind} column {p.name!r}: {value!r} is not one of the choices {allowed}")

    # ------------------------------------------------------------------ encode / decode
    def encode(self, table: pd.DataFrame | None, *, kind: str = "pending") -> torch.Tensor:
        """Encode a table's parameter and fidelity columns to an ``n x (d + 1)`` double tensor."""
        digest = self._digest_of(table) if isinstance(table, pd.DataFrame) and len(table) else None
        table = self._validated(table, kind, digest)
        if len(table) == 0:
            return torch.zeros(0, self.dim + 1, dtype=torch.double)
        return self._memoized("encode", kind, digest, lambda: self._encode(table, kind)).clone()

    def _encode(self, table: pd.DataFrame, kind: str) -> torch.Tensor:
        n = len(table)
        X = torch.zeros(n, self.dim + 1, dtype=torch.double)
        plain = self._plain_numbers(table)
        k = 0
        for b in self._blocks:
            p = b.parameter
            if isinstance(p, ContinuousParameter):
                if plain is not None:
                    v = plain[:, k]
                    k += 1
                else:
                    v = pd.to_numeric(table[p.name]).astype(float).to_numpy()
                X[:, b.start] = torch.as_tensor((v - p.low_magnitude) / (p.high_magnitude - p.low_magnitude), dtype=torch.double)
            else:
                idx = [self._choice_index(b, v, kind) for v in table[p.name]]
                X[:, b.start : b.stop] = torch.as_tensor(b.choice_codes[idx], dtype=torch.double)
        X[:, self.dim] = torch.as_tensor([self.fidelity(str(f)).value for f in table[FIDELITY_COLUMN]], dtype=torch.double)
        return X

    def encode_recipe(self, recipe: Mapping[str, object], fidelity: str | None = None) -> torch.Tensor:
        """Encode one recipe (quantities / SMILES) to a ``d + 1`` tensor; fidelity defaults to the target."""
        row: dict[str, object] = {}
        for p in self.parameters:
            if p.name not in recipe:
                raise InputDataError(f"recipe is missing {p.name!r}; it has {sorted(recipe)}")
            v = recipe[p.name]
            if isinstance(p, ContinuousParameter):
                v = p.magnitude(v)
            row[p.name] = v
        row[FIDELITY_COLUMN] = fidelity or self.target_fidelity.name
        return self.encode(pd.DataFrame([row]), kind="recipe")[0]

    def snap(self, X: torch.Tensor) -> torch.Tensor:
        """Clamp to ``[0, 1]`` and move discrete blocks to the nearest valid choice (``... x (d[+1])``)."""
        X = X.clone().clamp(0.0, 1.0)
        for b in self._blocks:
            if b.choice_codes is None:
                continue
            codes = torch.as_tensor(b.choice_codes, dtype=X.dtype)
            part = X[..., b.start : b.stop]
            dist = ((part.unsqueeze(-2) - codes) ** 2).sum(-1)
            X[..., b.start : b.stop] = codes[dist.argmin(-1)]
        return X

    def decode(self, X: torch.Tensor) -> list[dict[str, object]]:
        """Recipes (continuous: ``Quantity`` in the parameter's unit; others: choice/SMILES) of ``n x d[+1]`` rows."""
        X = self.snap(torch.as_tensor(X, dtype=torch.double).reshape(-1, X.shape[-1]))
        recipes = []
        for row in X:
            recipe: dict[str, object] = {}
            for b in self._blocks:
                p = b.parameter
                if isinstance(p, ContinuousParameter):
                    m = p.low_magnitude + float(row[b.start]) * (p.high_magnitude - p.low_magnitude)
                    recipe[p.name] = ureg.Quantity(m, p.unit)
                else:
                    codes = torch.as_tensor(b.choice_codes, dtype=X.dtype)
                    i = int(((row[b.start : b.stop] - codes) ** 2).sum(-1).argmin())
                    recipe[p.name] = b.choice_values[i]
            recipes.append(recipe)
        return recipes

    def to_table(self, X: torch.Tensor, fidelities: Sequence[str] | None = None) -> pd.DataFrame:
        """Inverse of :meth:`encode`: parameter columns (magnitudes / strings) and ``fidelity``."""
        recipes = self.decode(X)
        rows = []
        for i, r in enumerate(recipes):
            row = {k: (float(v.to(p.unit).magnitude) if isinstance(v, pint.Quantity) else v)
                   for (k, v), p in zip(r.items(), self.parameters)}
            if fidelities is not None:
                row[FIDELITY_COLUMN] = fidelities[i]
            else:
                row[FIDELITY_COLUMN] = self.fidelity_name_of(float(X[i, self.dim])) if X.shape[-1] > self.dim else self.target_fidelity.name
            rows.append(row)
        return pd.DataFrame(rows)

    def fidelity_name_of(self, value: float) -> str:
        return min(self.fidelities, key=lambda f: abs(f.value - value)).name

    def from_unit(self, U: torch.Tensor) -> torch.Tensor:
        """Map ``n x len(parameters)`` points of the unit cube to valid ``n x d`` encodings.

        One unit coordinate per parameter: continuous parameters take it as is, discrete
        ones pick choice ``floor(u * k)``, so space-filling designs stay space-filling
        over the choices too.
        """
        U = torch.as_tensor(U, dtype=torch.double).reshape(-1, len(self.parameters))
        X = torch.zeros(U.shape[0], self.dim, dtype=torch.double)
        for j, b in enumerate(self._blocks):
            if b.choice_codes is None:
                X[:, b.start] = U[:, j]
            else:
                k = len(b.choice_values)
                idx = (U[:, j] * k).floor().clamp(0, k - 1).long()
                X[:, b.start : b.stop] = torch.as_tensor(b.choice_codes, dtype=torch.double)[idx]
        return X

    def to_unit(self, X: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`from_unit`: ``n x d[+1]`` encodings -> ``n x len(parameters)`` unit points
        (a discrete choice ``i`` of ``k`` maps to the middle of its interval, ``(i + 0.5) / k``)."""
        X = self.snap(torch.as_tensor(X, dtype=torch.double).reshape(-1, X.shape[-1]))
        U = torch.zeros(X.shape[0], len(self.parameters), dtype=torch.double)
        for j, b in enumerate(self._blocks):
            if b.choice_codes is None:
                U[:, j] = X[:, b.start]
            else:
                codes = torch.as_tensor(b.choice_codes, dtype=X.dtype)
                idx = ((X[:, b.start : b.stop].unsqueeze(-2) - codes) ** 2).sum(-1).argmin(-1)
                U[:, j] = (idx.double() + 0.5) / len(b.choice_values)
        return U

    # ------------------------------------------------------------------ training data
    def training_data(self, history: pd.DataFrame | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``X`` (``n x (d + 1)``) and signed ``Y`` (``n x 1``, always maximized) of completed rows."""
        return self._completed(history, self.outcomes[:1])

    def training_outcomes(self, history: pd.DataFrame | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``X`` (``n x (d + 1)``) and signed outcomes ``Y`` (``n x len(outcomes)``) of the completed rows
        that have every outcome (a row missing one, e.g. a characterization that failed halfway, is left out)."""
        return self._completed(history, self.outcomes)

    def _completed(self, history: pd.DataFrame | None, outcomes: Sequence[Outcome]) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded completed rows with a finite value of each of ``outcomes``, and those values signed."""
        history = self.validate(history, kind="history")
        m = len(outcomes)
        if len(history) == 0:
            return torch.zeros(0, self.dim + 1, dtype=torch.double), torch.zeros(0, m, dtype=torch.double)
        values = np.column_stack([pd.to_numeric(history[o.column]).astype(float).to_numpy() * o.sign
                                  for o in outcomes])
        ok = (history[STATUS_COLUMN] == "completed").to_numpy() & np.isfinite(values).all(axis=1)
        X = self.encode(history[ok], kind="history")
        return X, torch.as_tensor(values[ok], dtype=torch.double).reshape(-1, m)

    def to_objective(self, signed: float) -> float:
        """Signed (maximized) model value back to the objective's unit and direction."""
        return float(signed) * self.objective.sign


def _parsed_outcome(text: object, field: str) -> OutcomeConstraint:
    try:
        return parse_outcome_constraint(text, field)
    except ConfigError as err:
        raise InputDataError(str(err)) from err


def _parsed(text: object, field: str) -> LinearConstraint:
    try:
        return parse_linear_constraint(text, field)
    except ConfigError as err:
        raise InputDataError(str(err)) from err


def _molecule_codes(p: MoleculeParameter) -> tuple[np.ndarray, tuple[str, ...], int]:
    """Encoding rows of a molecule parameter's choices, column names, and how many trailing columns are bits."""
    where = f"parameters.{p.name}"
    feats = [featurize(s, descriptors=p.descriptors, radius=p.morgan_radius, n_bits=p.morgan_bits, field=where)
             for s in p.smiles]
    parts, names = [], []
    n_fp = 0
    if p.featurization in ("descriptors", "both"):
        desc = list(feats[0].descriptors)
        raw = np.array([[f.descriptors[n] for n in desc] for f in feats], dtype=float)
        lo, hi = raw.min(axis=0), raw.max(axis=0)
        span = np.where(hi - lo > 0, hi - lo, 1.0)
        parts.append((raw - lo) / span)
        names += [f"{p.name}:{n}" for n in desc]
    if p.featurization in ("morgan", "both"):
        bits = sorted({b for f in feats for b in f.morgan_bits})
        index = {b: j for j, b in enumerate(bits)}
        codes = np.zeros((len(feats), len(bits)))
        for i, f in enumerate(feats):
            codes[i, [index[b] for b in f.morgan_bits]] = 1.0
        parts.append(codes)
        names += [f"{p.name}:morgan:{b}" for b in bits]
        n_fp = len(bits)
    return np.concatenate(parts, axis=1), tuple(names), n_fp
