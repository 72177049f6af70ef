"""Campaign files: every shipped file loads; each kind of mistake is named before anything runs."""

import tomllib
from pathlib import Path

import pytest

from controller.config.campaign import config_from_dict, load_config
from core import ConfigError, ContinuousParameter, MoleculeParameter

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))
DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads(path):
    config = load_config(path)
    assert config.name
    assert sum(f.target for f in config.fidelities) == 1
    assert config.target.value == 1.0


def base() -> dict:
    return tomllib.loads(DEFAULT.read_text())


def test_default_config_contents():
    config = load_config(DEFAULT)
    temp = config.parameter("cure_temperature")
    assert isinstance(temp, ContinuousParameter)
    assert temp.low_magnitude == pytest.approx(60.0) and temp.unit == "degC"
    assert temp.column == "cure_temperature [degC]"
    additive = config.parameter("additive")
    assert isinstance(additive, MoleculeParameter) and len(additive.choices) == 5
    assert [f.name for f in config.fidelities] == ["closed_form", "kinetics_phase_field", "robot"]
    values = [f.value for f in config.fidelities]
    assert values == sorted(values) and values[-1] == 1.0


def mutate(fn):
    raw = base()
    fn(raw)
    return raw


BAD = [
    ("wrong-dimension", lambda r: r["parameters"].__setitem__("cure_temperature", {"low": "5 kg", "high": "180 degC"}),
     "parameters.cure_temperature.low", "dimension"),
    ("unknown-unit", lambda r: r["parameters"].__setitem__("mixing_speed", {"low": "200 blorps", "high": "2000 rpm"}),
     "parameters.mixing_speed.low", "unknown unit"),
    ("inverted-bounds", lambda r: r["parameters"].__setitem__("cure_time", {"low": "6 h", "high": "0.5 h"}),
     "parameters.cure_time", "swap"),
    ("beyond-device-limit", lambda r: r["parameters"].__setitem__("cure_temperature", {"low": "60 degC", "high": "240 degC"}),
     "parameters.cure_temperature.high", "device limit"),
    ("beyond-physical-range", lambda r: r["parameters"].__setitem__("cure_temperature", {"low": "60 degC", "high": "450 degC"}),
     "parameters.cure_temperature.high", "models accept"),
    ("missing-parameter", lambda r: r["parameters"].pop("cure_time"), "parameters.cure_time", "missing"),
    ("unknown-parameter", lambda r: r["parameters"].__setitem__("pressure", {"low": "1 bar", "high": "2 bar"}),
     "parameters.pressure", "allowed"),
    ("batch-too-big-for-dispenser", lambda r: r["devices"].__setitem__("batch_mass", "100 g"), "devices", "resin_dispenser.mass"),
    ("limit-typo", lambda r: r["devices"].__setitem__("limits", {"oven.temprature": {"low": "20 degC", "high": "150 degC"}}),
     "devices.limits.oven.temprature", "unknown setpoint"),
    ("limit-widened", lambda r: r["devices"].__setitem__("limits", {"oven.temperature": {"low": "20 degC", "high": "400 degC"}}),
     "devices.limits.oven.temperature", "only narrow"),
    ("limit-difference-in-degC", lambda r: r["devices"].__setitem__("limits", {"oven.settle_tolerance": {"low": "0.5 degC", "high": "2 degC"}}),
     "devices.limits.oven.settle_tolerance", "temperature difference"),
    ("limit-excludes-fixed-process", lambda r: r["devices"].__setitem__("limits", {"oven.ramp_rate": {"low": "10 K/min", "high": "20 K/min"}}),
     "devices", "oven.ramp_rate"),
    ("limits-not-a-table", lambda r: r["devices"].__setitem__("limits", 5), "devices.limits", "table"),
    ("fidelity-value-text", lambda r: r["fidelities"]["closed_form"].__setitem__("value", "abc"), "fidelities.closed_form.value", "(0, 1)"),
    ("fidelity-value-one", lambda r: r["fidelities"]["closed_form"].__setitem__("value", 1.0), "fidelities.closed_form.value", "only the target"),
    ("target-not-bool", lambda r: r["fidelities"]["closed_form"].__setitem__("target", 1), "fidelities.closed_form.target", "true or false"),
    ("objective-unit-kg", lambda r: r["objective"].__setitem__("unit", "kg"), "objective.unit", "degC"),
    ("objective-unknown-property", lambda r: r["objective"].__setitem__("property", "glass_transition_temprature"),
     "objective.property", "allowed"),
    ("system-parameter-wrong-type", lambda r: r["parameters"].__setitem__("cure_temperature", {"type": "categorical", "choices": ["hot"]}),
     "parameters.cure_temperature.type", "continuous"),
    ("missing-objective", lambda r: r.pop("objective"), "objective", "missing"),
    ("missing-budget", lambda r: r.pop("budget"), "budget", "missing"),
    ("zero-budget", lambda r: r.__setitem__("budget", 0), "budget", "positive"),
    ("negative-budget", lambda r: r.__setitem__("budget", -5), "budget", "positive"),
    ("unknown-fidelity-in-design", lambda r: r["optimizer"]["initial_design"].__setitem__("dft", 3),
     "optimizer.initial_design.dft", "allowed"),
    ("no-target", lambda r: r["fidelities"]["robot"].pop("target"), "fidelities", "target"),
    ("unknown-simulator", lambda r: r["fidelities"]["closed_form"].__setitem__("model", "thermoset.dft"),
     "fidelities.closed_form.model", "installed"),
    ("unknown-system", lambda r: r.__setitem__("system", "cement_paste"), "system", "unknown material system"),
    ("missing-system", lambda r: r.pop("system"), "system", "missing"),
    ("system-reference-that-does-not-import", lambda r: r.__setitem__("system", "no_such_lab.films:system"),
     "system", "does not import"),
    ("simulator-reference-that-does-not-import", lambda r: r["fidelities"]["closed_form"].__setitem__(
        "model", "no_such_lab.sims:Coarse"), "fidelities.closed_form.model", "does not import"),
    ("invalid-smiles", lambda r: r["parameters"]["additive"]["choices"].__setitem__("junk", "C1CC(("),
     "parameters.additive.choices.junk", "SMILES"),
    ("bad-direction", lambda r: r["objective"].__setitem__("direction", "up"), "objective.direction", "maximize"),
    ("unknown-field", lambda r: r.__setitem__("budgte", 3), "budgte", "unknown field"),
    ("bad-duration", lambda r: r["fidelities"]["robot"].__setitem__("expected_duration", "4 kg"),
     "fidelities.robot.expected_duration", "dimension"),
    ("bad-strategy", lambda r: r["optimizer"].__setitem__("strategy", "magic"), "optimizer.strategy", "multi_fidelity"),
    ("bad-speedup", lambda r: r["devices"].__setitem__("speedup", 0), "devices.speedup", "from 1 to"),
    ("bad-workers", lambda r: r["scheduler"].__setitem__("simulation_workers", 0), "scheduler.simulation_workers", "1 to 64"),
]


@pytest.mark.parametrize("change, field, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_names_the_field(change, field, words):
    with pytest.raises(ConfigError) as info:
        config_from_dict(mutate(change))
    assert field in info.value.fields, str(info.value)
    assert words in str(info.value)


def test_all_problems_reported_at_once():
    def two_mistakes(r):
        r.pop("budget")
        r["objective"]["direction"] = "sideways"

    with pytest.raises(ConfigError) as info:
        config_from_dict(mutate(two_mistakes))
    assert {"budget", "objective.direction"} <= set(info.value.fields)


def test_malformed_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = 'x'\nbudget = = 3\n")
    with pytest.raises(ConfigError, match="malformed TOML"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_a_rate_in_degC_per_minute_is_a_difference():
    from core import parse_quantity

    assert parse_quantity("5 degC/min", "x", like="K/min").to("K/min").magnitude == pytest.approx(5.0)
    assert parse_quantity("60 degC", "x", like="degC").to("K").magnitude == pytest.approx(333.15)


def test_narrowed_limits_are_accepted():
    raw = base()
    raw["devices"]["limits"] = {"oven.temperature": {"low": "20 degC", "high": "190 degC"}}
    assert config_from_dict(raw).devices.limits["oven.temperature"][1].to("degC").magnitude == pytest.approx(190)


def test_fingerprint_tracks_the_search_space():
    a = config_from_dict(base())
    b = config_from_dict(mutate(lambda r: r.__setitem__("budget", 999)))
    c = config_from_dict(mutate(lambda r: r["parameters"].__setitem__("cure_time", {"low": "1 h", "high": "6 h"})))
    assert a.fingerprint == b.fingerprint  # a bigger budget continues the same campaign
    assert a.fingerprint != c.fingerprint


# ---------------------------------------------------------------- physics and molecule featurization keys
PHYSICS_BAD = [
    ("unknown-mode", {"physics": "magic"}, "optimizer.physics", "'features'"),
    ("unknown-model", {"physics": "features", "physics_model": "thermoset.nope"}, "optimizer.physics_model",
     "thermoset.closed_form"),
    ("unknown-feature", {"physics": "features", "physics_features": ["degree_of_cure", "colour"]},
     "optimizer.physics_features", "crosslink_density"),
    ("features-not-a-list", {"physics": "features", "physics_features": "degree_of_cure"},
     "optimizer.physics_features", "list"),
    ("features-with-prior-mean", {"physics": "prior_mean", "physics_features": ["degree_of_cure"]},
     "optimizer.physics_features", "only used with"),
    ("model-without-physics", {"physics_model": "thermoset.closed_form"}, "optimizer.physics_model", "only used with"),
    ("physics-with-random", {"strategy": "random", "physics": "prior_mean"}, "optimizer.physics", "model-based"),
    ("check-cheap-data-not-a-bool", {"check_cheap_data": "yes"}, "optimizer.check_cheap_data", "true or false"),
    ("check-cheap-data-single-fidelity", {"strategy": "single_fidelity", "check_cheap_data": False},
     "optimizer.check_cheap_data", "only used with"),
    ("adaptive-start-not-a-bool", {"adaptive_start": 1}, "optimizer.adaptive_start", "true or false"),
    ("adaptive-start-random", {"strategy": "random", "adaptive_start": True}, "optimizer.adaptive_start", "only used with"),
    ("unknown-kernel", {"kernel": "rbf"}, "optimizer.kernel", "'linear_truncated_scaled'"),
    ("kernel-single-fidelity", {"strategy": "single_fidelity", "kernel": "product"}, "optimizer.kernel", "only used with"),
]


@pytest.mark.parametrize("keys, field, words", [b[1:] for b in PHYSICS_BAD], ids=[b[0] for b in PHYSICS_BAD])
def test_bad_physics_keys_name_the_field(keys, field, words):
    with pytest.raises(ConfigError) as info:
        config_from_dict(mutate(lambda r: r["optimizer"].update(keys)))
    assert field in info.value.fields, str(info.value)
    assert words in str(info.value)


def test_physics_defaults_to_the_cheapest_simulator():
    cfg = config_from_dict(mutate(lambda r: r["optimizer"].update(physics="features",
                                                                   physics_features=["degree_of_cure"])))
    assert cfg.optimizer.physics == "features"
    assert cfg.optimizer.physics_model == "thermoset.closed_form"
    assert cfg.optimizer.physics_features == ("degree_of_cure",)
    assert config_from_dict(base()).optimizer.physics == "none"


def test_kernel_reaches_the_campaigns_own_strategy_only():
    from controller.loop.strategy import build_strategy

    assert config_from_dict(base()).optimizer.kernel == "linear_truncated"
    cfg = config_from_dict(mutate(lambda r: r["optimizer"].update(kernel="linear_truncated_scaled")))
    assert build_strategy(cfg).kernel == "linear_truncated_scaled"
    assert build_strategy(config_from_dict(base())).kernel == "linear_truncated"
    # a backtest's baselines keep their own defaults
    assert build_strategy(cfg, "single_fidelity").kernel == "linear_truncated"


def test_physics_for_builds_the_injected_featurizer():
    from controller.config.optimizer import physics_for

    cfg = config_from_dict(mutate(lambda r: r["optimizer"].update(physics="prior_mean",
                                                                   physics_model="thermoset.kinetics_phase_field")))
    phys = physics_for(cfg)
    assert phys.mode == "prior_mean" and phys.model == "thermoset.kinetics_phase_field"
    assert physics_for(config_from_dict(base())) is None


MOLECULE_BAD = [
    ("bad-featurization", {"featurization": "fingerprints"}, "parameters.additive.featurization", "'morgan'"),
    ("unknown-descriptor", {"descriptors": ["MolLogP", "Colour"]}, "parameters.additive.descriptors", "TPSA"),
    ("bad-radius", {"featurization": "morgan", "morgan_radius": 9}, "parameters.additive.morgan_radius", "1 to 4"),
    ("bad-bits", {"featurization": "morgan", "morgan_bits": 8}, "parameters.additive.morgan_bits", "64 to 8192"),
    ("invalid-smiles", {"choices": {"tgap": "C1OC1CN(CC1CO1)c1ccc(OCC2CO2)cc1", "junk": "C1CC(("}},
     "parameters.additive.choices.junk", "not a valid SMILES"),
]


@pytest.mark.parametrize("keys, field, words", [b[1:] for b in MOLECULE_BAD], ids=[b[0] for b in MOLECULE_BAD])
def test_bad_molecule_featurization_names_the_field(keys, field, words):
    with pytest.raises(ConfigError) as info:
        config_from_dict(mutate(lambda r: r["parameters"]["additive"].update(keys)))
    assert field in info.value.fields, str(info.value)
    assert words in str(info.value)


def test_molecule_featurization_is_read():
    cfg = config_from_dict(mutate(lambda r: r["parameters"]["additive"].update(
        featurization="both", descriptors=["MolLogP", "TPSA", "NumHDonors"], morgan_radius=3, morgan_bits=1024)))
    p = cfg.parameter("additive")
    assert (p.featurization, p.descriptors, p.morgan_radius, p.morgan_bits) == ("both", ("MolLogP", "TPSA", "NumHDonors"), 3, 1024)
    assert config_from_dict(base()).parameter("additive").featurization == "descriptors"
