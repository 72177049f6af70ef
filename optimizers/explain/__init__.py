"""Why the model believes what it believes, and why it asked for an experiment.

Everything here reads a fitted GP (:class:`optimizers.model.FittedModel`) and the
campaign's :class:`SearchSpace`; nothing is fitted that the strategy would not fit
itself, except the secondary structure -> property GP of
:func:`structure_importance`.

- **Parameter importance at the target fidelity** (``_importance``, on the input layout
  and lengthscales of ``_layout``). (1) ARD lengthscales of the kernel part that acts
  at the target fidelity, in encoded units (each parameter spans ``[0, 1]``); a
  parameter encoded by several columns (one-hot choices, molecule descriptors) gets the
  relevance ``sqrt(sum_j 1 / l_j^2)`` of its columns, and the columns are listed too.
  (2) Sobol indices of the posterior mean at the target fidelity, each parameter one
  factor drawn uniformly, from the estimator of ``_sobol``: first order by Saltelli
  (2010), total by Jansen (1999), with bootstrap 95 % intervals.
- **Fidelity correlation** (``_correlation``). For each lower fidelity: prior and
  posterior correlation of ``f(x, s)`` and ``f(x, target)``, the Pearson correlation of
  the two posterior-mean surfaces, and the observed correlation of recipes measured at
  both.
- **Structure features.** With physics (``optimizers.physics``), ``fm.model`` wraps an
  inner GP ``fm.gp`` over ``fm.gp_inputs`` = ``[encoding, feature:* / sim:prediction,
  fidelity]`` (named by ``fm.input_names``): lengthscales come from that GP, parameter
  Sobol indices from ``fm.model`` (the simulator runs for every sampled recipe), and
  the physics inputs get ARD and Sobol measures of the inner GP. Otherwise a
  secondary GP from the recorded features to the property is fitted per fidelity
  (:func:`structure_importance`, :func:`structure_by_fidelity`).
- **Suggestions** (``_suggestion``). :func:`explain_suggestion` turns a stored
  suggestion record into a readable account: predicted mean and uncertainty, the
  acquisition value and cost of every fidelity considered.

The front door (``_report``): :func:`explain_history` explains the strategy's model of a
campaign history (:func:`model_for`, :func:`explain_model`); with several objectives or
outcome constraints, each outcome's own GP (:func:`outcome_models`), one entry per outcome.
All outputs are JSON-able dicts (floats, strings, lists; NaN becomes None).
"""

from optimizers.explain._correlation import CORRELATION_POINTS, fidelity_correlations
from optimizers.explain._importance import (
    MIN_STRUCTURE_ROWS,
    PHYSICS_SOBOL_POINTS,
    parameter_importance,
    structure_importance,
)
from optimizers.explain._layout import (
    FEATURE_PREFIX,
    FIDELITY_INPUT,
    encoding_columns,
    encoding_names,
    extra_inputs,
    gp_layout,
    lengthscale_map,
    target_lengthscales,
)
from optimizers.explain._report import (
    explain_history,
    explain_model,
    model_for,
    outcome_models,
    structure_by_fidelity,
)
from optimizers.explain._sobol import (
    BOOTSTRAP,
    SOBOL_POINTS,
    posterior_mean,
    sobol_indices,
)
from optimizers.explain._suggestion import explain_suggestion

__all__ = [
    "BOOTSTRAP",
    "CORRELATION_POINTS",
    "FEATURE_PREFIX",
    "FIDELITY_INPUT",
    "MIN_STRUCTURE_ROWS",
    "PHYSICS_SOBOL_POINTS",
    "SOBOL_POINTS",
    "encoding_columns",
    "encoding_names",
    "explain_history",
    "explain_model",
    "explain_suggestion",
    "extra_inputs",
    "fidelity_correlations",
    "gp_layout",
    "lengthscale_map",
    "model_for",
    "outcome_models",
    "parameter_importance",
    "posterior_mean",
    "sobol_indices",
    "structure_by_fidelity",
    "structure_importance",
    "target_lengthscales",
]
