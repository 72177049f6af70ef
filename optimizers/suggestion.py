"""What an optimizer hands back: the next experiment, or its current best guess."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core import quantity_to_record


@dataclass(frozen=True)
class Suggestion:
    """One experiment to run next, and why.

    Attributes:
        recipe: parameter name -> ``pint.Quantity`` (continuous) or choice / SMILES string.
        fidelity: name of the fidelity to run it at.
        predicted_mean, predicted_std: model prediction at ``fidelity``, in the
            objective's unit (original sign); None for space-filling suggestions.
        target_mean, target_std: model prediction at the target fidelity, same unit.
        acquisition_value: the value of the rule that chose it (information per cost
            unit for the multi-fidelity strategy), None for space-filling suggestions.
        acquisition_by_fidelity: fidelity name -> acquisition value of running the
            same recipe there (only fidelities that were allowed and affordable).
        model_id: short hash of the training data and hyperparameters.
        reason: one human sentence on the choice.
        strategy: name of the strategy that made it.
        featurization: parameter name -> what the model saw of that molecule (featurization
            name, descriptor values / set Morgan bits, rdkit version); ``"physics"`` -> the
            simulator features the model used as inputs or prior mean, when it used any.
        predicted_outcomes: with several objectives or outcome constraints, property ->
            ``{"mean", "std", "target_mean", "target_std"}`` in that outcome's unit and sign
            (``predicted_mean`` etc. are the first objective's).
    """

    recipe: dict[str, Any]
    fidelity: str
    predicted_mean: float | None = None
    predicted_std: float | None = None
    target_mean: float | None = None
    target_std: float | None = None
    acquisition_value: float | None = None
    acquisition_by_fidelity: dict[str, float] = field(default_factory=dict)
    model_id: str = ""
    reason: str = ""
    strategy: str = ""
    featurization: dict[str, Any] = field(default_factory=dict)
    predicted_outcomes: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """JSON-friendly dict (quantities as ``{"value", "unit"}``)."""
        extra = {"predicted_outcomes": dict(self.predicted_outcomes)} if self.predicted_outcomes else {}
        return {**extra,
            "recipe": {k: quantity_to_record(v) for k, v in self.recipe.items()},
            "fidelity": self.fidelity,
            "predicted_mean": self.predicted_mean,
            "predicted_std": self.predicted_std,
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "acquisition_value": self.acquisition_value,
            "acquisition_by_fidelity": dict(self.acquisition_by_fidelity),
            "model_id": self.model_id,
            "reason": self.reason,
            "strategy": self.strategy,
            "featurization": dict(self.featurization),
        }


@dataclass(frozen=True)
class ParetoPoint:
    """One recipe of the recommended front.

    Attributes:
        recipe: parameter name -> quantity / choice string.
        means, stds: objective property -> posterior mean / standard deviation at the target
            fidelity in the objective's unit and sign (``stds`` None for an observed value).
            With outcome constraints, the constrained properties too.
        feasible: probability that every outcome constraint holds (None without constraints,
            1.0 or 0.0 for an observed value).
    """

    recipe: dict[str, Any]
    means: dict[str, float]
    stds: dict[str, float | None]
    feasible: float | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "recipe": {k: quantity_to_record(v) for k, v in self.recipe.items()},
            "means": dict(self.means),
            "stds": dict(self.stds),
            "feasible": self.feasible,
        }


@dataclass(frozen=True)
class Recommendation:
    """The strategy's current best recipe at the target fidelity.

    Attributes:
        recipe: parameter name -> quantity / choice string.
        mean, std: posterior mean and standard deviation at the target fidelity in the
            objective's unit (original sign); ``std`` is None for model-free baselines
            (``mean`` is then the best observed target value).
        model_id: the model that made it (``"observed"`` for model-free baselines).
        front: with several objectives, the Pareto set at the target fidelity (best first
            objective first); ``recipe`` is then its compromise point (the largest worst
            normalized gain over the reference point) and ``mean`` / ``std`` are that point's
            first objective. With outcome constraints and one objective, the front is the one
            recommended recipe with every constrained outcome.
        note: how the recommendation was made when not the usual way (e.g. from the target
            runs alone while the cheap data misleads the multi-fidelity model); empty otherwise.
    """

    recipe: dict[str, Any]
    mean: float
    std: float | None
    model_id: str
    front: tuple[ParetoPoint, ...] = ()
    note: str = ""

    def to_record(self) -> dict[str, Any]:
        extra = {"front": [p.to_record() for p in self.front]} if self.front else {}
        if self.note:
            extra["note"] = self.note
        return {
            "recipe": {k: quantity_to_record(v) for k, v in self.recipe.items()},
            "mean": self.mean,
            "std": self.std,
            "model_id": self.model_id,
            **extra,
        }
