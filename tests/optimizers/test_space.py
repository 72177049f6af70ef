"""Encoding of tables and recipes, with units, categories and molecules."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from core import Q_, InputDataError, ureg
from optimizers import molecule_descriptors
from optimizers.space import DESCRIPTOR_NAMES

from optimizer_testing import ADDITIVES, two_fidelity_space


def _row(**over):
    row = {
        "cure_temperature": 120.0, "cure_time": 0.5, "additive": ADDITIVES["tgap"], "blade": "dispersion",
        "fidelity": "robot", "objective": 100.0, "status": "completed",
    }
    row.update(over)
    return row


def test_continuous_scaling_uses_parameter_unit(thermoset_space):
    X = thermoset_space.encode(pd.DataFrame([_row()]), kind="history")
    assert X.dtype == torch.double
    assert X.shape == (1, thermoset_space.dim + 1)
    assert X[0, 0].item() == pytest.approx(0.5)  # 120 degC in 60-180 degC
    assert X[0, 1].item() == pytest.approx(0.0)  # 0.5 h at the low bound
    assert X[0, -1].item() == pytest.approx(1.0)  # robot is the target fidelity


def test_recipe_in_other_units_encodes_the_same(thermoset_space):
    recipe = {"cure_temperature": Q_(393.15, "K"), "cure_time": Q_(180.0, "min"),
              "additive": ADDITIVES["tgap"], "blade": "anchor"}
    x = thermoset_space.encode_recipe(recipe, "closed_form")
    assert x[0].item() == pytest.approx(0.5)
    assert x[1].item() == pytest.approx((3.0 - 0.5) / 5.5)
    assert x[-1].item() == pytest.approx(0.3)


def test_round_trip_returns_quantities_and_smiles(thermoset_space):
    table = pd.DataFrame([_row(cure_temperature=75.0, cure_time=4.0, additive=ADDITIVES["dibutyl_phthalate"], blade="anchor")])
    X = thermoset_space.encode(table, kind="history")
    assert ((X >= 0) & (X <= 1)).all()
    recipe = thermoset_space.decode(X)[0]
    assert recipe["cure_temperature"].to("degC").magnitude == pytest.approx(75.0)
    assert recipe["cure_temperature"].units == ureg.degC
    assert recipe["cure_temperature"]._REGISTRY is ureg  # the one project registry
    assert recipe["cure_time"].to("min").magnitude == pytest.approx(240.0)
    assert recipe["additive"] == ADDITIVES["dibutyl_phthalate"]
    assert recipe["blade"] == "anchor"
    back = thermoset_space.to_table(X)
    assert back.loc[0, "fidelity"] == "robot"
    assert back.loc[0, "cure_temperature"] == pytest.approx(75.0)


def test_molecule_features_are_normalized_and_distinct(thermoset_space):
    table = pd.DataFrame([_row(additive=s) for s in ADDITIVES.values()])
    X = thermoset_space.encode(table, kind="history")
    block = X[:, 2 : 2 + len(DESCRIPTOR_NAMES)]
    assert block.min() == 0.0 and block.max() == 1.0
    assert len({tuple(r.tolist()) for r in block}) == len(ADDITIVES)
    logp_bge, *_ = molecule_descriptors(ADDITIVES["butyl_glycidyl_ether"])
    logp_dbp, *_ = molecule_descriptors(ADDITIVES["dibutyl_phthalate"])
    assert logp_dbp > logp_bge  # the phthalate is the more hydrophobic molecule
    assert molecule_descriptors.cache_info().hits >= 0


def test_molecule_accepts_label_and_non_canonical_smiles(thermoset_space):
    a = thermoset_space.encode(pd.DataFrame([_row(additive="butyl_glycidyl_ether")]), kind="history")
    b = thermoset_space.encode(pd.DataFrame([_row(additive="C(OCCCC)C1CO1")]), kind="history")
    assert torch.equal(a, b)


def test_columns_by_parameter_names_each_parameters_encoded_columns(thermoset_space):
    cols = thermoset_space.columns_by_parameter()
    assert list(cols) == [p.name for p in thermoset_space.parameters]
    assert cols["cure_temperature"] == ("cure_temperature",)
    assert cols["additive"] == tuple(f"additive:{n}" for n in DESCRIPTOR_NAMES)
    assert cols["blade"] == ("blade=anchor", "blade=dispersion")
    assert [n for names in cols.values() for n in names] == thermoset_space.input_names[:-1]
    cols["blade"] = ()  # a fresh dict: changing it leaves the space alone
    assert thermoset_space.columns_by_parameter()["blade"] == ("blade=anchor", "blade=dispersion")


def test_snap_moves_relaxed_values_onto_choices(thermoset_space):
    X = torch.full((1, thermoset_space.dim), 0.4, dtype=torch.double)
    recipe = thermoset_space.decode(X)[0]
    assert recipe["additive"] in ADDITIVES.values()
    assert recipe["blade"] in ("anchor", "dispersion")
    snapped = thermoset_space.snap(X)
    assert set(snapped[0, -2:].tolist()) == {0.0, 1.0}


@pytest.mark.parametrize(
    "change, column",
    [
        pytest.param({"drop": "cure_time"}, "cure_time", id="missing-parameter"),
        pytest.param({"drop": "status"}, "status", id="missing-status"),
        pytest.param({"additive": "not-a-smiles(("}, "additive", id="bad-smiles"),
        pytest.param({"additive": "CCO"}, "additive", id="molecule-not-a-choice"),
        pytest.param({"blade": "paddle"}, "blade", id="bad-category"),
        pytest.param({"cure_temperature": "hot"}, "cure_temperature", id="non-numeric"),
        pytest.param({"cure_temperature": math.nan}, "cure_temperature", id="nan-parameter"),
        pytest.param({"cure_time": math.inf}, "cure_time", id="infinite-parameter"),
        pytest.param({"fidelity": "oven"}, "fidelity", id="unknown-fidelity"),
        pytest.param({"status": "done"}, "status", id="bad-status"),
    ],
)
def test_bad_history_names_the_column(thermoset_space, change, column):
    row = _row()
    if "drop" in change:
        del row[change["drop"]]
    else:
        row.update(change)
    with pytest.raises(InputDataError, match=column):
        thermoset_space.training_data(pd.DataFrame([row]))


def test_a_table_changed_in_place_is_validated_and_encoded_again(thermoset_space):
    """Validation and encoding are remembered by content (the loop asks once per free worker with one
    history): a frame edited in place must never get the old answer, nor a bad edit pass."""
    table = pd.DataFrame([_row(), _row(cure_time=2.0)])
    first = thermoset_space.encode(table, kind="history")
    again = thermoset_space.encode(table, kind="history")
    assert torch.equal(first, again) and again is not first  # a copy: the caller may change it
    again[0, 0] = 99.0
    assert torch.equal(thermoset_space.encode(table, kind="history"), first)
    table.loc[1, "cure_time"] = 1.0
    assert not torch.equal(thermoset_space.encode(table, kind="history"), first)
    table.loc[1, "blade"] = "paddle"
    with pytest.raises(InputDataError, match="blade"):
        thermoset_space.encode(table, kind="history")
    with pytest.raises(InputDataError, match="blade"):  # a refusal is not remembered as a pass
        thermoset_space.validate(table, kind="history")


def test_within_one_request_each_table_object_is_digested_once(thermoset_space, monkeypatch):
    calls = []
    real = type(thermoset_space)._digest
    monkeypatch.setattr(type(thermoset_space), "_digest", staticmethod(lambda t: calls.append(1) or real(t)))
    table = pd.DataFrame([_row(), _row(cure_time=2.0)])
    with thermoset_space.holding_digests():
        thermoset_space.validate(table, kind="history")
        thermoset_space.encode(table, kind="history")
        thermoset_space.training_data(table)  # validates it once more, and digests the completed rows' copy
    assert len(calls) == 2
    calls.clear()
    thermoset_space.validate(table, kind="history")  # outside a request: the table may have been edited
    thermoset_space.encode(table, kind="history")
    assert len(calls) == 2


def test_invalid_smiles_descriptor_error():
    with pytest.raises(InputDataError, match="not a valid SMILES"):
        molecule_descriptors("C1CC")


def test_failed_rows_are_not_training_data(thermoset_space):
    table = pd.DataFrame([_row(), _row(objective=math.nan, status="failed"), _row(objective=90.0, cure_time=2.0)])
    X, Y = thermoset_space.training_data(table)
    assert X.shape[0] == 2
    assert Y[:, 0].tolist() == [100.0, 90.0]


def test_minimize_flips_sign():
    space = two_fidelity_space("minimize")
    _, Y = space.training_data(pd.DataFrame([{"x": 0.2, "fidelity": "robot", "objective": 3.0, "status": "completed"}]))
    assert Y.item() == -3.0
    assert space.to_objective(-3.0) == 3.0


def test_target_fidelity(thermoset_space):
    assert thermoset_space.target_fidelity.name == "robot"
    assert [f.name for f in thermoset_space.fidelities_by_cost] == ["closed_form", "kinetics_phase_field", "robot"]
