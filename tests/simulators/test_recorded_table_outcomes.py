"""A recorded table with several outcomes: one column per fidelity and outcome, units checked per outcome."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core import ConfigError, ContinuousParameter, InputDataError, Objective, Q_, parse_outcome_constraint
from simulators.table import RecordedTable

TG = Objective(property="tg", unit="degC", direction="maximize")
KIC = Objective(property="kic", unit="MPa*m**0.5", direction="maximize")
CURE = parse_outcome_constraint("cure >= 0.9")  # a constraint-only outcome, dimensionless
PARAMS = [ContinuousParameter("x", Q_(0.0, "mm"), Q_(10.0, "mm"), "mm")]
COLUMNS = {"low": {"tg": "tg_low [degC]", "kic": "kic_low [MPa*m**0.5]", "cure": "cure_low"},
           "high": {"tg": "tg_high [K]", "kic": "kic_high [kPa*m**0.5]", "cure": "cure_high"}}


def frame() -> pd.DataFrame:
    x = np.linspace(0.0, 10.0, 8)
    return pd.DataFrame({
        "x [mm]": x,
        "tg_low [degC]": 100 + x, "tg_high [K]": 373.15 + 2 * x,
        "kic_low [MPa*m**0.5]": 1.0 - 0.05 * x, "kic_high [kPa*m**0.5]": 1000.0 - 60.0 * x,
        "cure_low": np.full(8, 0.95), "cure_high": [0.95, 0.8, 0.95, 0.95, np.nan, 0.95, 0.95, 0.95],
    })


def table(f: pd.DataFrame | None = None, columns=None, constraints=(CURE,)) -> RecordedTable:
    return RecordedTable(frame() if f is None else f, PARAMS, (TG, KIC), COLUMNS if columns is None else columns,
                         field="backtest", outcome_constraints=constraints)


def test_every_outcome_is_read_in_its_unit():
    t = table()
    assert [o.property for o in t.outcomes] == ["tg", "kic", "cure"]
    assert [o.column for o in t.outcomes] == ["objective", "outcome.kic", "outcome.cure"]
    assert t.values is t.outcome_values["tg"]  # the first objective, as one-outcome callers read it
    assert t.outcome_values["tg"]["high"].iloc[1] == pytest.approx(100 + 2 * 10 / 7)
    assert t.outcome_values["kic"]["high"].iloc[7] == pytest.approx(1.0 - 0.6)  # kPa -> MPa


def test_a_row_is_measured_at_a_fidelity_when_every_outcome_is():
    t = table()
    assert t.measured("high").tolist() == [True, True, True, True, False, True, True, True]
    cands = t.candidates()
    assert len(cands) == 8 + 7 and 4 not in cands[cands["fidelity"] == "high"]["row"].tolist()
    # feasible: measured and cure >= 0.9
    assert t.feasible("high").tolist() == [True, False, True, True, False, True, True, True]
    row, values, cost = t.lookup_outcomes({"x": Q_(10.0 / 7, "mm")}, "high")
    assert row == 1 and cost is None and values["cure"] == pytest.approx(0.8) and set(values) == {"tg", "kic", "cure"}
    with pytest.raises(InputDataError, match="no recorded cure"):
        t.lookup_outcomes({"x": Q_(40.0 / 7, "mm")}, "high")
    assert math.isnan(t.outcomes_of(4, "high")["cure"])
    # the top fraction among the rows that count
    assert t.top_threshold("high", 0.2, t.feasible("high")) == pytest.approx(t.outcome_values["tg"]["high"].iloc[6])


@pytest.mark.parametrize(
    ("edit", "columns", "field", "message"),
    [
        pytest.param(lambda f: f.drop(columns=["kic_high [kPa*m**0.5]"]), None,
                     "backtest.columns.high.kic", "no kic \\(high\\) column", id="objective-column-missing"),
        pytest.param(lambda f: f.rename(columns={"cure_low": "cure_low [degC]"}), None,
                     "backtest.columns.low.cure", "'degC' does not fit 'dimensionless'", id="constraint-column-wrong-unit"),
        pytest.param(lambda f: f.rename(columns={"kic_low [MPa*m**0.5]": "kic_low [kg]"}), None,
                     "backtest.columns.low.kic", "'kg' does not fit 'MPa\\*m\\*\\*0.5'", id="objective-column-wrong-unit"),
        pytest.param(lambda f: f, {**COLUMNS, "low": {"tg": "tg_low [degC]", "kic": "kic_low [MPa*m**0.5]"}},
                     "backtest.columns.low.cure", "missing: the table column with the cure values", id="outcome-not-named"),
        pytest.param(lambda f: f, {**COLUMNS, "low": "tg_low [degC]"},
                     "backtest.columns.low", "3 outcomes \\(tg, kic, cure\\)", id="one-column-for-several-outcomes"),
        pytest.param(lambda f: f, {**COLUMNS, "low": {**COLUMNS["low"], "colour": "cure_low"}},
                     "backtest.columns.low.colour", "not an objective or outcome-constraint property", id="unknown-outcome"),
    ],
)
def test_bad_outcome_columns_are_one_issue_naming_the_field(edit, columns, field, message):
    with pytest.raises(ConfigError, match=message) as info:
        table(edit(frame()), columns)
    assert info.value.fields == [field]


def test_one_outcome_reads_as_before_in_either_form():
    f = frame()
    plain = RecordedTable(f, PARAMS, TG, {"low": "tg_low [degC]", "high": "tg_high [K]"}, field="backtest")
    nested = RecordedTable(f, PARAMS, TG, {"low": {"tg": "tg_low [degC]"}, "high": {"tg": "tg_high [K]"}}, field="backtest")
    pd.testing.assert_frame_equal(plain.values, nested.values)
    assert [o.property for o in plain.outcomes] == ["tg"] and plain.feasible("high").all()
    with pytest.raises(ConfigError) as info:
        RecordedTable(f, PARAMS, TG, {"low": "tg_low [degC]", "high": "nope"}, field="backtest")
    assert info.value.fields == ["backtest.columns.high"]  # the one-outcome field name is unchanged
