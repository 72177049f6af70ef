"""``linear_constraints`` in a campaign file: read with units, each mistake one line naming the field,
an empty feasible set refused before anything runs, and a material system's own constraints added."""

from __future__ import annotations

import tomllib
import uuid
from pathlib import Path

import pytest

from controller.config.campaign import config_from_dict
from controller.loop.strategy import build_strategy
from controller.ui.cli import main
from core import Q_, ConfigError, LimitError
from optimizers import SearchSpace, make_strategy

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"
# additive_fraction 0-20 %, hardener_ratio 0.7-1.3, mixing_time 1-15 min, cure_time 0.5-6 h
MIXTURE = "additive_fraction + 0.1 * hardener_ratio <= 25 %"
SCHEDULE = "mixing_time + 2 * cure_time <= 8 h"


def raw(constraints=None) -> dict:
    data = tomllib.loads(DEFAULT.read_text())
    if constraints is not None:
        data["linear_constraints"] = constraints
    return data


def recipe(**changes) -> dict:
    base = {"additive": "CCCCOCC1CO1", "additive_fraction": Q_(10.0, "%"), "hardener_ratio": Q_(1.0, ""),
            "mixing_speed": Q_(800.0, "rpm"), "mixing_time": Q_(5.0, "min"), "cure_temperature": Q_(120.0, "degC"),
            "cure_time": Q_(2.0, "h")}
    return {**base, **changes}


def test_constraints_are_read_with_their_fields_and_units():
    config = config_from_dict(raw([MIXTURE, SCHEDULE]))
    first, second = config.linear_constraints
    assert (first.field, first.text, first.names) == ("linear_constraints[0]", MIXTURE, ("additive_fraction", "hardener_ratio"))
    assert second.field == "linear_constraints[1]" and second.rhs == Q_(8.0, "h")
    config.check_constraints(recipe())
    config.check_constraints(recipe(additive_fraction=14.0))  # a plain number: a magnitude in the parameter's unit
    with pytest.raises(LimitError, match=r"linear_constraints\[0\] .*: the recipe gives 28 %, not <= 25 %"):
        config.check_constraints(recipe(additive_fraction=Q_(0.18, ""), hardener_ratio=Q_(1.0, "")))
    with pytest.raises(LimitError, match=r"linear_constraints\[1\]"):
        config.check_constraints(recipe(cure_time=Q_(240.0, "min")))


def test_without_the_key_nothing_changes():
    absent, empty = config_from_dict(raw()), config_from_dict(raw([]))
    assert absent.linear_constraints == empty.linear_constraints == ()
    assert absent.fingerprint == empty.fingerprint
    for method in ("sobol", "random", "multi_fidelity"):
        reference = build_strategy(absent, method)
        space = SearchSpace(empty.parameters, empty.fidelities, empty.objective,
                            linear_constraints=empty.linear_constraints)
        same = make_strategy(method, space, seed=empty.seed)
        got, want = same.recommend(None, q=3), reference.recommend(None, q=3)
        assert [(s.recipe, s.fidelity) for s in got] == [(s.recipe, s.fidelity) for s in want]


def test_a_constrained_campaigns_space_suggests_only_feasible_recipes():
    config = config_from_dict(raw([MIXTURE, SCHEDULE]))
    space = SearchSpace(config.parameters, config.fidelities, config.objective,
                        linear_constraints=config.linear_constraints)
    assert space.has_constraints and len(space.inequality_constraints()) == 2
    for sug in make_strategy("multi_fidelity", space, seed=config.seed).recommend(None, q=12):
        config.check_constraints(sug.recipe)


def test_a_constraint_every_recipe_meets_is_fine():
    config = config_from_dict(raw(["additive_fraction <= 100 %", "cure_temperature >= 0 degC"]))
    space = SearchSpace(config.parameters, config.fidelities, config.objective,
                        linear_constraints=config.linear_constraints)
    assert len(config.linear_constraints) == 2 and not space.has_constraints


BAD = [
    ("not-a-list", "additive_fraction <= 5 %", "linear_constraints", "list of strings"),
    ("bad-syntax", ["additive_fraction < 5 %"], "linear_constraints[0]", "<= or >="),
    ("bad-term", ["additive_fraction + 2 hardener_ratio <= 5 %"], "linear_constraints[0]", "'* parameter'"),
    ("unknown-parameter", [MIXTURE, "filler_fraction + additive_fraction <= 30 %"], "linear_constraints[1]",
     "unknown parameter 'filler_fraction'"),
    ("lists-the-known", ["filler_fraction <= 30 %"], "linear_constraints[0]", "'additive_fraction', 'cure_temperature'"),
    ("molecule", ["additive <= 1"], "linear_constraints[0]", "'additive' is a molecule parameter"),
    ("wrong-dimension", ["cure_temperature <= 30 %"], "linear_constraints[0]", "every term must have the right-hand side's dimension"),
    ("mixed-dimensions", ["cure_temperature + cure_time <= 100 degC"], "linear_constraints[0]", "cure_time is in h"),
    ("bad-rhs-unit", ["additive_fraction <= 5 blorps"], "linear_constraints[0]", "unknown unit"),
    ("infeasible-alone", ["additive_fraction >= 25 %"], "linear_constraints[0]",
     "holds for no recipe within the parameters' bounds (additive_fraction 0.0 % to 20.0 %): its left-hand side ranges from 0 % to 20 %"),
    ("infeasible-alone-scaled", ["additive_fraction + hardener_ratio <= 30 %"], "linear_constraints[0]",
     "ranges from 70 % to 150 %"),
    ("thin-alone", ["additive_fraction >= 20 %"], "linear_constraints[0]", "a set that thin cannot be searched"),
    ("infeasible-together", ["additive_fraction <= 5 %", SCHEDULE, "additive_fraction >= 10 %"], "linear_constraints",
     "linear_constraints[0] 'additive_fraction <= 5 %' and linear_constraints[2] 'additive_fraction >= 10 %'"),
    ("equality", ["additive_fraction + 0.1 * hardener_ratio <= 20 %", "additive_fraction + 0.1 * hardener_ratio >= 20 %"],
     "linear_constraints", "an equality needs a tolerance"),
]


@pytest.mark.parametrize("constraints, field, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_constraint_is_one_line_naming_the_field(constraints, field, words):
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw(constraints))
    assert info.value.fields == [field], str(info.value)
    assert words in str(info.value) and len(str(info.value).splitlines()) == 1


def test_the_smallest_infeasible_set_is_named_not_the_innocent_ones():
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw(["additive_fraction <= 5 %", SCHEDULE, "additive_fraction >= 10 %"]))
    assert "linear_constraints[1]" not in str(info.value) and "mixing_time" not in str(info.value)


def test_constraint_problems_are_reported_with_the_others():
    data = raw(["nope <= 1"])
    data.pop("budget")
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert {"budget", "linear_constraints[0]"} <= set(info.value.fields)


CLI_CASES = [
    ("unknown-parameter", '["filler_fraction <= 30 %"]', "linear_constraints[0]"),
    ("wrong-dimension", '["cure_temperature <= 30 %"]', "linear_constraints[0]"),
    ("bad-syntax", '["additive_fraction =< 5 %"]', "linear_constraints[0]"),
    ("molecule", '["additive >= 1"]', "linear_constraints[0]"),
    ("infeasible", '["additive_fraction <= 5 %", "additive_fraction >= 10 %"]', "linear_constraints:"),
]


def write(tmp_path: Path, constraints: str) -> Path:
    text = DEFAULT.read_text().replace('store = "runs/sdl.sqlite"\n',
                                       f'store = "runs/sdl.sqlite"\nlinear_constraints = {constraints}\n')
    assert "linear_constraints" in text
    path = tmp_path / "campaign.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("constraints, words", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_sdl_check_and_run_exit_2_with_one_line(tmp_path, capsys, constraints, words):
    path = write(tmp_path, constraints)
    store = tmp_path / "store" / "records.sqlite"
    for argv in (["check", str(path)], ["run", str(path), "--store", str(store)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err, err
    assert not store.parent.exists()


def test_sdl_check_accepts_constraints(tmp_path, capsys):
    assert main(["check", str(write(tmp_path, f'["{MIXTURE}", "{SCHEDULE}"]'))]) == 0
    assert "is valid" in capsys.readouterr().out


def system_module(tmp_path: Path, monkeypatch, constraints: tuple[str, ...]) -> str:
    """A lab's system: the reference thermoset system declaring ``constraints``; returns its reference."""
    name = f"constrained_lab_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "import dataclasses\nfrom core.system import load_system\n"
        f"system = dataclasses.replace(load_system('thermoset_blend'), linear_constraints={constraints!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{name}:system"


def test_a_systems_constraints_are_added_to_the_campaigns(tmp_path, monkeypatch):
    data = raw([SCHEDULE])
    data["system"] = system_module(tmp_path, monkeypatch, (MIXTURE,))
    config = config_from_dict(data)
    assert [(c.field, c.text) for c in config.linear_constraints] == [
        ("linear_constraints[0]", SCHEDULE), ("system.linear_constraints[0]", MIXTURE)]
    with pytest.raises(LimitError, match=r"system\.linear_constraints\[0\]"):
        config.check_constraints(recipe(additive_fraction=Q_(19.0, "%"), hardener_ratio=Q_(1.2, "")))


def test_a_systems_constraint_the_campaigns_bounds_cannot_meet_is_named(tmp_path, monkeypatch):
    data = raw()
    data["system"] = system_module(tmp_path, monkeypatch, ("additive_fraction >= 30 %",))
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert info.value.fields == ["system.linear_constraints[0]"] and "holds for no recipe" in str(info.value)


def test_a_systems_constraint_with_bad_syntax_is_a_problem_of_the_system(tmp_path, monkeypatch):
    data = raw()
    data["system"] = system_module(tmp_path, monkeypatch, ("additive_fraction << 30 %",))
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    system_issues = [i for i in info.value.issues if i.field == "system"]
    assert len(system_issues) == 1 and "linear_constraints[0]" in system_issues[0].message
    assert "'additive_fraction << 30 %'" in system_issues[0].message


def test_the_device_check_looks_at_the_corners_of_the_constrained_space(tmp_path, monkeypatch):
    """A line that refuses more than 25 % of additive + 10 % of the hardener ratio: the box's corners
    (up to 33 %) reach it, the constrained space's corners do not."""
    import dataclasses

    from core.system import load_system

    base = load_system("thermoset_blend")
    refusing = base.robot.check_recipe

    def check_recipe(recipe, limits, *, batch_mass):
        total = recipe["additive_fraction"].to("%").magnitude + 10 * recipe["hardener_ratio"].to("").magnitude
        if total > 25 + 1e-6:
            raise LimitError(f"mixer: {total:.4g} % of additive and hardener is above 25 %")
        refusing(recipe, limits, batch_mass=batch_mass)

    class Line:
        def __getattr__(self, name):
            return check_recipe if name == "check_recipe" else getattr(base.robot, name)

    lab = dataclasses.replace(base, robot=Line())
    monkeypatch.setattr("controller.config.space.load_system", lambda ref: lab)
    with pytest.raises(ConfigError, match="mixer: 33 %"):
        config_from_dict(raw())
    assert config_from_dict(raw([MIXTURE])).linear_constraints[0].text == MIXTURE
