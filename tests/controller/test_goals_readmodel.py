"""The goals' read model (controller.analysis.goals) on hand-made samples with a known Pareto front,
constraint violations and hypervolume: no store, no campaign file, no model."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from controller.analysis import goals as G
from controller.records.samples import Sample
from core import Q_, Objective, parse_outcome_constraint


def hand_config(thresholds=(0.0, 10.0), constraints=("toughness >= 0.8 MPa*m**0.5",), objectives=2):
    """Maximize strength (MPa), minimize weight (g); toughness is constrained only."""
    objs = (Objective("strength", "MPa", "maximize", thresholds[0]),
            Objective("weight", "g", "minimize", thresholds[1]))[:objectives]
    return SimpleNamespace(objectives=objs, objective=objs[0], target=SimpleNamespace(name="robot"),
                           outcome_constraints=tuple(parse_outcome_constraint(c) for c in constraints))


def sample(sid, fidelity="robot", strength=None, weight=None, toughness=None, status="completed", cost=40.0, t=0.0):
    props = {}
    if strength is not None:
        props["strength"] = Q_(strength, "MPa")
    if weight is not None:
        props["weight"] = Q_(weight / 1000, "kg")  # stored in another unit than the objective's
    if toughness is not None:
        props["toughness"] = Q_(toughness, "MPa*m**0.5")
    return Sample(id=sid, campaign="hand", seq=int(t), fidelity=fidelity, status=status, cost=cost, recipe={},
                  properties=props, created=t, completed=t + 0.5 if status != "running" else None)


def hand_samples():
    return [
        sample("r1", strength=5, weight=4, toughness=1.0, t=1),
        sample("s1", fidelity="sim", strength=7, weight=1, toughness=1.0, cost=1, t=2),  # best, but not at the target
        sample("r2", strength=3, weight=2, toughness=1.0, t=3),
        sample("r3", strength=4, weight=5, toughness=1.0, t=4),    # dominated by r1
        sample("r4", strength=6, weight=1, toughness=0.5, t=5),    # would dominate everything: breaks the constraint
        sample("r5", strength=2, weight=2, toughness=0.9, t=6),    # dominated by r2 (equal weight, less strength)
        sample("r6", status="failed", t=7),
        sample("r7", strength=9, weight=0.5, t=8),                 # toughness not measured: not known to be feasible
        sample("r8", strength=3, weight=2, toughness=2.0, t=9),    # the same objectives as r2: on the front too
    ]


def test_front_constraints_and_hypervolume_of_hand_made_samples():
    config, samples = hand_config(), hand_samples()
    g = G.sample_goals(config, samples)
    assert {i for i, x in g.items() if x.on_front} == {"r1", "r2", "r8"}
    assert g["r4"].met is False and g["r4"].violated == ("toughness >= 0.8 MPa*m**0.5",) and not g["r4"].feasible
    assert g["r7"].met is None and not g["r7"].feasible and g["r7"].violated == ()
    assert g["r6"].met is None and not g["r6"].on_front and math.isnan(g["r6"].values["strength"])
    assert g["r1"].met is True and g["r1"].values == {"strength": 5.0, "weight": pytest.approx(4.0), "toughness": 1.0}
    assert g["s1"].feasible and not g["s1"].on_front  # only the target fidelity has a front
    # reference (0 MPa, 10 g): boxes 5 x 6 and 3 x 8 overlap in 3 x 6
    ref, source = G.reference(config, samples, g)
    assert ref == [0.0, -10.0] and source == G.FROM_THRESHOLDS
    series = G.hypervolume_series(config, samples, ref, g)
    assert [p["sample"] for p in series["robot"]] == ["r1", "r2", "r3", "r5", "r8"]
    assert [p["hypervolume"] for p in series["robot"]] == pytest.approx([30.0, 36.0, 36.0, 36.0, 36.0])
    assert [p["cost"] for p in series["robot"]] == [40.0, 81.0, 121.0, 201.0, 321.0]  # the campaign's cumulative cost
    assert series["sim"] == [{"cost": 41.0, "hypervolume": pytest.approx(7 * 9), "sample": "s1"}]

    view = G.goals_view(config, samples)
    assert view["front"] == ["r1", "r2", "r8"]  # best first objective first
    assert view["hypervolume_at_target"] == pytest.approx(36.0)
    assert view["reference"] == {"strength": 0.0, "weight": 10.0} and view["reference_source"] == "thresholds"
    assert [v["sample"] for v in view["violations"]] == ["r4"]
    assert [c["bound"] for c in view["constraints"]] == [0.8]
    assert [o["property"] for o in view["outcomes"]] == ["strength", "weight", "toughness"]
    assert {m["sample"] for m in view["measured"]} == {"r1", "r2", "r3", "r4", "r5", "r7", "r8"}
    assert view["predicted"] is None and view["truth"] is None
    json.dumps(view, allow_nan=False)  # JSON as it is: NaN never leaves the read model


def test_reference_from_the_data_when_no_threshold_is_set():
    """optimizers.goals.reference_point over every measurement (feasible or not): worst less 10 % of the range."""
    config, samples = hand_config(thresholds=(None, None)), hand_samples()
    ref, source = G.reference(config, samples)
    assert source == G.FROM_DATA
    # strength 2..9 (span 7) -> 2 - 0.7; signed weight -5..-0.5 (span 4.5) -> -5 - 0.45
    assert ref == pytest.approx([1.3, -5.45])
    view = G.goals_view(config, samples)
    assert view["reference"] == pytest.approx({"strength": 1.3, "weight": 5.45})
    assert G.reference(hand_config(thresholds=(0.0, None)), samples)[1] == G.FROM_BOTH


def test_one_objective_with_a_constraint_is_a_front_of_one_and_a_one_dimensional_hypervolume():
    config = hand_config(objectives=1)
    view = G.goals_view(config, hand_samples())
    assert view["front"] == ["r1"]  # the best feasible strength at the target
    assert view["hypervolume_at_target"] == pytest.approx(5.0)  # above the 0 MPa threshold


def test_predicted_front_and_truth_come_from_the_last_recommendation_event():
    rec = {"recommendation": {"front": [{"recipe": {"x": 1}, "means": {"strength": 4.0, "weight": 3.0},
                                         "stds": {"strength": 0.5, "weight": float("nan")}, "feasible": 0.9}],
                              "model_id": "abc"},
           "ground_truth": {"front": [{"strength": 3.9, "weight": 3.1}], "hypervolume": 27.5}}
    view = G.goals_view(hand_config(), hand_samples(), rec)
    assert view["predicted"] == [{"recipe": {"x": 1}, "means": {"strength": 4.0, "weight": 3.0},
                                  "stds": {"strength": 0.5, "weight": None}, "feasible": 0.9}]
    assert view["truth"] == {"hypervolume": 27.5, "front": [{"strength": 3.9, "weight": 3.1}]}


def test_a_single_objective_campaign_has_no_goal_view():
    one = SimpleNamespace(objectives=(Objective("strength", "MPa"),), objective=Objective("strength", "MPa"),
                          target=SimpleNamespace(name="robot"), outcome_constraints=())
    assert not G.multi_goal(one) and G.goals_view(one, hand_samples()) is None and G.goal_columns(one, hand_samples()) == {}
    assert not G.multi_goal(None)
    assert G.raw_multi_goal({"outcome_constraints": ["a >= 1"]}) and not G.raw_multi_goal({"objective": {}})


def test_non_dominated_keeps_ties():
    keep = G.non_dominated([[1, 1], [1, 1], [0, 2], [0, 1]])
    assert keep.tolist() == [True, True, True, False]


@pytest.mark.parametrize("k", [1, 2, 3], ids=["one", "two", "three"])
def test_hypervolume_agrees_with_the_optimizer(k):
    """The read model's sweep (one, two objectives) and the optimizer's box decomposition give the same volume."""
    import numpy as np
    import torch

    from optimizers.goals import hypervolume

    rng = np.random.default_rng(k)
    for _ in range(25):
        Y, ref = rng.normal(size=(int(rng.integers(1, 25)), k)), rng.normal(size=k) - 0.5
        assert G.hypervolume_of(Y, ref) == pytest.approx(hypervolume(torch.tensor(Y), torch.tensor(ref)), rel=1e-9, abs=1e-12)
    assert G.hypervolume_of([], [0.0] * k) == 0.0


def test_values_are_converted_to_the_campaign_units_whatever_unit_they_were_stored_in():
    samples = [sample("a", strength=1, weight=250), sample("b", strength=2, weight=3)]
    samples[1].properties["weight"] = Q_(3.0, "g")
    samples[1].properties["strength"] = Q_(2e6, "Pa")
    values = G.measured_values(samples, {"strength": "MPa", "weight": "g", "toughness": "MPa*m**0.5"})
    assert values["a"]["weight"] == pytest.approx(250.0) and values["b"]["weight"] == pytest.approx(3.0)
    assert values["b"]["strength"] == pytest.approx(2.0) and math.isnan(values["a"]["toughness"])
