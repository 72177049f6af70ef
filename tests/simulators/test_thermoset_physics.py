"""Physical trends both fidelities must show (each could fail if the physics were wrong)."""

import numpy as np
import pytest
from simulators_helpers import CLOSED_FORM, MODELS, PHASE_FIELD, run, structure, tg

MODEL_IDS = ["closed_form", "kinetics_phase_field"]
TEMPERATURES = (60.0, 80.0, 100.0, 120.0, 140.0, 150.0, 160.0, 170.0, 180.0)


@pytest.fixture(params=MODELS, ids=MODEL_IDS)
def model(request):
    return request.param


def test_longer_cure_at_120C_raises_the_degree_of_cure(model):
    alpha = [structure(model, "degree_of_cure", temperature=120.0, cure_time=h) for h in (0.5, 2.0, 6.0)]
    assert alpha[0] < alpha[1] < alpha[2] <= 1.0
    assert alpha[2] > 0.85


def test_cure_stalls_below_full_conversion_at_low_temperature(model):
    # vitrification: at 80 degC even 6 h leaves the network under-cured
    assert structure(model, "degree_of_cure", temperature=80.0, cure_time=6.0) < 0.9


def test_dibutyl_phthalate_plasticizes(model):
    neat = tg(model, additive="dibutyl_phthalate", fraction=0.0)
    plasticized = tg(model, additive="dibutyl_phthalate", fraction=15.0)
    assert plasticized < neat - 30.0


def test_triphenyl_phosphate_drops_tg_less_than_dibutyl_phthalate(model):
    neat = tg(model, fraction=0.0)
    tpp = tg(model, additive="triphenyl_phosphate", fraction=15.0)
    dbp = tg(model, additive="dibutyl_phthalate", fraction=15.0)
    assert dbp < tpp < neat


def test_dioctyl_sebacate_separates_while_dibutyl_phthalate_dissolves(model):
    dos = run(model, additive="dioctyl_sebacate", fraction=15.0)
    dbp = run(model, additive="dibutyl_phthalate", fraction=15.0)
    assert dos.structure["domain_size"].to("nm").magnitude > 20.0
    assert dbp.structure["domain_size"].to("nm").magnitude == 0.0
    assert dos.structure["chi_parameter"].magnitude > dbp.structure["chi_parameter"].magnitude
    # separated DOS plasticizes little: Tg stays far above the DBP film
    assert tg(model, additive="dioctyl_sebacate", fraction=15.0) > tg(model, additive="dibutyl_phthalate", fraction=15.0) + 40.0


def test_tg_optimum_is_interior_in_cure_temperature_at_6h(model):
    values = np.array([tg(model, temperature=t, cure_time=6.0) for t in TEMPERATURES])
    best = int(np.argmax(values))
    assert 0 < best < len(TEMPERATURES) - 1, dict(zip(TEMPERATURES, values.round(1)))
    assert values[-1] < values[best] - 5.0, "degradation must cost Tg at 180 degC for 6 h"
    assert values[0] < values[best] - 30.0, "vitrification must limit a 60 degC cure"
    assert 130.0 < values[best] < 175.0


@pytest.mark.parametrize("off_ratio", [0.7, 1.3], ids=["amine-deficit", "amine-excess"])
def test_stoichiometric_ratio_beats_off_stoichiometry(model, off_ratio):
    assert tg(model, ratio=1.0) > tg(model, ratio=off_ratio) + 2.0


def test_tg_optimum_is_interior_in_hardener_ratio(model):
    ratios = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
    values = [tg(model, ratio=r) for r in ratios]
    best = ratios[int(np.argmax(values))]
    assert 0.9 <= best <= 1.2


def test_trifunctional_tgap_tightens_and_monofunctional_bge_loosens_the_network(model):
    kw = dict(fraction=10.0, temperature=160.0, cure_time=6.0)
    nu = {a: structure(model, "crosslink_density", "mol/m**3", additive=a, **kw) for a in ("tgap", "butyl_glycidyl_ether")}
    neat = structure(model, "crosslink_density", "mol/m**3", fraction=0.0, temperature=160.0, cure_time=6.0)
    assert nu["butyl_glycidyl_ether"] < neat < nu["tgap"]
    neat_tg = tg(model, fraction=0.0, temperature=160.0)
    assert tg(model, additive="butyl_glycidyl_ether", **kw) < neat_tg < tg(model, additive="tgap", **kw)


def test_degradation_needs_heat(model):
    assert structure(model, "degradation", temperature=180.0, cure_time=6.0) > 0.2
    assert structure(model, "degradation", temperature=120.0, cure_time=6.0) < 0.01


def test_crosslink_density_has_epoxy_magnitude(model):
    nu = structure(model, "crosslink_density", "mol/m**3")
    assert 1500.0 < nu < 4000.0


def test_only_the_high_fidelity_feels_mixing():
    poor = dict(speed=200.0, mix_time=1.0)
    good = dict(speed=2000.0, mix_time=15.0)
    assert tg(PHASE_FIELD, **poor) < tg(PHASE_FIELD, **good) - 2.0
    assert tg(CLOSED_FORM, **poor) == pytest.approx(tg(CLOSED_FORM, **good))
    mix_poor = run(PHASE_FIELD, **poor).steps[0]["actuals"]["mixing_quality"].magnitude
    mix_good = run(PHASE_FIELD, **good).steps[0]["actuals"]["mixing_quality"].magnitude
    assert mix_poor < 0.2 < 0.99 < mix_good


def test_high_fidelity_cure_records_the_exotherm_and_gelation():
    cure = run(PHASE_FIELD, temperature=120.0, cure_time=2.0).steps[1]["actuals"]
    assert cure["peak_temperature"].to("degC").magnitude > 120.5
    assert 0.0 < cure["gel_time"].to("min").magnitude < cure["ramp_time"].to("min").magnitude + 120.0
    assert cure["ramp_time"].to("min").magnitude == pytest.approx(19.0)  # 25 -> 120 degC at 5 K/min
