"""Bad input at the command line: one line naming the field, a non-zero exit, nothing changed on disk."""

import hashlib
import sqlite3
from pathlib import Path

import pytest

from controller.ui.cli import main
from controller.records.store import RecordStore

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"
TWO_OBJECTIVES = Path(__file__).resolve().parents[2] / "configs" / "thermoset_two_objectives.toml"


def edit(old: str, new: str, count: int = -1):
    def apply(text: str) -> str:
        assert old in text, f"the default config no longer contains {old!r}"
        return text.replace(old, new, count)
    return apply


CASES = [
    ("wrong-dimension", edit('high = "180 degC"', 'high = "5 kg"'), "parameters.cure_temperature.high"),
    ("unknown-unit", edit('high = "2000 rpm"', 'high = "2000 rpmm"'), "parameters.mixing_speed.high"),
    ("inverted-bounds", edit('cure_time = { low = "0.5 h", high = "6 h" }', 'cure_time = { low = "6 h", high = "0.5 h" }'),
     "parameters.cure_time"),
    ("beyond-device-limit", edit('high = "180 degC"', 'high = "240 degC"'), "parameters.cure_temperature.high"),
    ("missing-objective", edit('[objective]\nproperty = "glass_transition_temperature"\nunit = "degC"\ndirection = "maximize"\n', ""),
     "objective"),
    ("unknown-fidelity", edit("robot = 2 }", "robot = 2, dft = 1 }"), "optimizer.initial_design.dft"),
    ("check-cheap-data-not-a-bool", edit("robot = 2 }", "robot = 2 }\ncheck_cheap_data = 1"), "optimizer.check_cheap_data"),
    ("zero-budget", edit("budget = 400 ", "budget = 0 "), "budget"),
    ("negative-budget", edit("budget = 400 ", "budget = -10 "), "budget"),
    ("invalid-smiles", edit('butyl_glycidyl_ether = "CCCCOCC1CO1"', 'butyl_glycidyl_ether = "CCCCOCC1CO"'),
     "parameters.additive.choices.butyl_glycidyl_ether"),
    ("duplicate-parameter", edit('hardener_ratio = { low = 0.7, high = 1.3 }', 'hardener_ratio = { low = 0.7, high = 1.3 }\nhardener_ratio = { low = 0.8, high = 1.2 }'),
     "malformed TOML"),
    ("malformed-toml", edit('name = "thermoset-tg-dryrun"', 'name = "thermoset-tg-dryrun'), "malformed TOML"),
    # Values that once crashed or hung validation, or were accepted although meaningless.
    ("nan-bound", edit('low = "60 degC"', 'low = "nan degC"'), "parameters.cure_temperature.low"),
    ("inf-bound", edit('high = "180 degC"', 'high = "inf degC"'), "parameters.cure_temperature.high"),
    ("huge-power-bound", edit('high = "180 degC"', 'high = "2**1000 degC"'), "parameters.cure_temperature.high"),
    ("endless-power-bound", edit('high = "2000 rpm"', 'high = "9**9**9 rpm"'), "parameters.mixing_speed.high"),
    ("endless-power-unit", edit('unit = "degC"', 'unit = "K**9**9**9"'), "objective.unit"),
    ("temperature-difference-unit", edit('cure_temperature = { low = "60 degC", high = "180 degC" }',
                                         'cure_temperature = { low = "60 degC", high = "180 degC", unit = "delta_degC" }'),
     "parameters.cure_temperature"),
    ("temperature-difference-objective", edit('unit = "degC"', 'unit = "delta_degC"'), "objective.unit"),
    ("endless-smiles", edit('butyl_glycidyl_ether = "CCCCOCC1CO1"', 'butyl_glycidyl_ether = "' + "C" * 100_000 + '"'),
     "parameters.additive.choices.butyl_glycidyl_ether"),
    ("huge-budget", edit("budget = 400 ", "budget = 1e308 "), "budget"),
    ("infinite-cost", edit("cost = 40", "cost = inf"), "fidelities.robot.cost"),
    ("vanishing-cost", edit("cost = 1\n", "cost = 1e-300\n"), "fidelities.closed_form.cost"),
    ("infinite-backoff", edit("[scheduler]", '[retry]\nbackoff = "inf min"\n[scheduler]'), "retry.backoff"),
    ("infinite-speedup", edit("speedup = 3000 ", "speedup = inf "), "devices.speedup"),
    ("negative-duration", edit('expected_duration = "4 h"', 'expected_duration = "-4 h"'), "fidelities.robot.expected_duration"),
    ("dot-dot-name", edit('name = "thermoset-tg-dryrun"', 'name = ".."'), "name"),
    ("script-in-fidelity-name", edit("[fidelities.closed_form]", '[fidelities."<img src=x onerror=alert(1)>"]'),
     "fidelities.<img src=x onerror=alert(1)>"),
    ("script-in-label", edit('tgap = "C1OC1CN', '"<b>tgap</b>" = "C1OC1CN'), "parameters.additive.choices"),
]

# Several objectives and outcome constraints (configs/thermoset_two_objectives.toml).
GOAL_CASES = [
    ("unknown-objective-property", edit('property = "fracture_toughness"', 'property = "hardness"'),
     "objectives[1].property"),
    ("objective-unit-of-wrong-dimension", edit('unit = "MPa*m**0.5"', 'unit = "kg"'), "objectives[1].unit"),
    ("threshold-of-wrong-dimension", edit('threshold = "100 degC"', 'threshold = "100 kg"'), "objectives[0].threshold"),
    ("threshold-outside-physical-range", edit('threshold = "0.6 MPa*m**0.5"', 'threshold = "-3 MPa*m**0.5"'),
     "objectives[1].threshold"),
    ("threshold-below-absolute-zero", edit('threshold = "100 degC"', 'threshold = "-300 degC"'), "objectives[0].threshold"),
    ("objective-twice", edit('property = "fracture_toughness"\nunit = "MPa*m**0.5"\ndirection = "maximize"\n'
                             'threshold = "0.6 MPa*m**0.5"',
                             'property = "glass_transition_temperature"\nunit = "degC"\ndirection = "minimize"'),
     "objectives[1].property"),
    ("objective-and-objectives", edit("[[objectives]]", '[objective]\nproperty = "glass_transition_temperature"\n\n'
                                                      "[[objectives]]", count=1), "objectives"),
    ("unknown-outcome-constraint-property", edit('"fracture_toughness >= 0.8 MPa*m**0.5"', '"hardness >= 0.8 MPa"'),
     "outcome_constraints[0]"),
    ("outcome-constraint-of-wrong-dimension", edit('"fracture_toughness >= 0.8 MPa*m**0.5"', '"fracture_toughness >= 0.8 degC"'),
     "outcome_constraints[0]"),
    ("outcome-constraint-outside-physical-range", edit('"fracture_toughness >= 0.8 MPa*m**0.5"',
                                                       '"fracture_toughness >= 80 MPa*m**0.5"'), "outcome_constraints[0]"),
    ("outcome-constraint-syntax", edit('"fracture_toughness >= 0.8 MPa*m**0.5"', '"fracture_toughness > 0.8 MPa*m**0.5"'),
     "outcome_constraints[0]"),
    ("infeasible-linear-constraints", edit('linear_constraints = ["mixing_time + cure_time <= 5 h"]',
                                           'linear_constraints = ["mixing_time + cure_time <= 20 min"]'),
     "linear_constraints[0]"),
    ("physics-with-several-objectives", edit("[optimizer]", '[optimizer]\nphysics = "prior_mean"'), "optimizer.physics"),
    ("linear-constraint-of-wrong-dimension", edit('linear_constraints = ["mixing_time + cure_time <= 5 h"]',
                                                  'linear_constraints = ["mixing_time + cure_time <= 5 degC"]'),
     "linear_constraints[0]"),
]
CASES += [(name, change, words, TWO_OBJECTIVES) for name, change, words in GOAL_CASES]
CASES = [c if len(c) == 4 else (*c, DEFAULT) for c in CASES]


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("change, words, base", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_campaign_file(tmp_path, capsys, change, words, base):
    config = tmp_path / "campaign.toml"
    config.write_text(change(base.read_text()))
    store = tmp_path / "store" / "records.sqlite"
    before = digest(tmp_path)
    assert main(["run", str(config), "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and words in err
    assert digest(tmp_path) == before, "a rejected campaign must not touch the disk"
    assert not store.parent.exists()


def test_corrupt_store_is_refused_and_kept(tmp_path, capsys):
    store = tmp_path / "records.sqlite"
    store.write_bytes(b"\x00garbage" * 500)
    before = store.read_bytes()
    assert main(["run", str(DEFAULT), "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "corrupt" in err
    assert store.read_bytes() == before


def test_store_of_another_campaign_is_refused(tmp_path, capsys):
    store = tmp_path / "records.sqlite"
    s = RecordStore(store)
    s.open_campaign("thermoset-tg-dryrun", "some-other-fingerprint", "{}", 10.0)
    s.close()
    rows_before = sqlite3.connect(store).execute("SELECT * FROM campaigns").fetchall()
    assert main(["run", str(DEFAULT), "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "different search space" in err and len(err.strip().splitlines()) == 1
    assert sqlite3.connect(store).execute("SELECT * FROM campaigns").fetchall() == rows_before


def test_a_resume_that_cannot_load_the_store_leaves_the_campaign_as_it_was(tmp_path, capsys):
    """A sample record that no longer decodes: `sdl resume` exits 2 with one line, and the
    campaign keeps its status, its stop reason and no owner (it once stayed `running`,
    owned by the dead process, its stop reason erased)."""
    from controller.config.campaign import load_config
    from controller.records.samples import Sample

    config = load_config(DEFAULT)
    store_path = tmp_path / "records.sqlite"
    store = RecordStore(store_path)
    store.open_campaign(config.name, config.fingerprint, config.to_json(), config.budget, owner="elsewhere:1")
    store.add_sample(Sample(id=f"{config.name}-0001", campaign=config.name, seq=1, fidelity="closed_form",
                            status="completed", cost=1.0, recipe={}))
    store.finish_campaign(config.name, "stopped", "stopped by operator ada; run `sdl run` on the same file to continue")
    store.close()
    con = sqlite3.connect(store_path)
    con.execute("UPDATE samples SET record_json = '{\"damaged' WHERE id = ?", (f"{config.name}-0001",))
    con.commit()
    before = con.execute("SELECT status, stop_reason, owner FROM campaigns").fetchall()
    con.close()
    assert main(["resume", config.name, "--store", str(store_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "corrupt" in err
    after = sqlite3.connect(store_path).execute("SELECT status, stop_reason, owner FROM campaigns").fetchall()
    assert after == before == [("stopped", "stopped by operator ada; run `sdl run` on the same file to continue", None)]
