"""Additive library, Fedors group contributions and rdkit descriptors."""

import pytest

from core import InputDataError
from simulators.thermoset import ADDITIVE_LIBRARY, estimate_solubility_parameter, molecular_descriptors
from simulators.thermoset import additive_properties, estimate_molar_volume
from simulators.thermoset.chemistry import fedors_contributions

LABELS = list(ADDITIVE_LIBRARY)


def test_library_is_exactly_the_documented_five():
    assert ADDITIVE_LIBRARY == {
        "tgap": "C1OC1CN(CC1CO1)c1ccc(OCC2CO2)cc1",
        "butyl_glycidyl_ether": "CCCCOCC1CO1",
        "dibutyl_phthalate": "CCCCOC(=O)c1ccccc1C(=O)OCCCC",
        "dioctyl_sebacate": "CCCCCCCCOC(=O)CCCCCCCCC(=O)OCCCCCCCC",
        "triphenyl_phosphate": "O=P(Oc1ccccc1)(Oc1ccccc1)Oc1ccccc1",
    }


@pytest.mark.parametrize("label", LABELS, ids=LABELS)
def test_solubility_parameters_are_plausible(label):
    delta = estimate_solubility_parameter(ADDITIVE_LIBRARY[label])
    assert delta.units == delta.to("MPa**0.5").units
    assert 15.0 < delta.to("MPa**0.5").magnitude < 26.0


def test_solubility_parameters_are_ordered_like_the_literature():
    d = {label: estimate_solubility_parameter(s).to("MPa**0.5").magnitude for label, s in ADDITIVE_LIBRARY.items()}
    assert d["dioctyl_sebacate"] < d["dibutyl_phthalate"] < d["triphenyl_phosphate"]
    assert d["butyl_glycidyl_ether"] < d["tgap"]
    # Literature (Hansen/Hildebrand): DBP about 20.2, DOS about 17.6-18 MPa**0.5.
    assert d["dibutyl_phthalate"] == pytest.approx(20.2, abs=1.0)
    assert d["dioctyl_sebacate"] == pytest.approx(17.8, abs=1.0)


def test_phenyl_assembled_from_atoms_matches_fedors_table():
    # toluene = CH3 (4710 J/mol, 33.5 cm3/mol) + phenyl (31940, 71.4)
    energy, volume = fedors_contributions("Cc1ccccc1")
    assert energy == pytest.approx(4710 + 31940, rel=2e-3)
    assert volume == pytest.approx(33.5 + 71.4, rel=2e-3)


def test_ester_alkyl_carbon_is_counted_once():
    # methyl acetate = 2 CH3 + COO: (2*4710 + 18000 J/mol, 2*33.5 + 18 cm3/mol)
    assert fedors_contributions("CC(=O)OC") == pytest.approx((27420.0, 85.0))


def test_molar_volume_is_a_quantity_in_cm3_per_mol():
    v = estimate_molar_volume(ADDITIVE_LIBRARY["dibutyl_phthalate"])
    assert v.to("cm**3/mol").magnitude == pytest.approx(252.0, rel=0.02)


@pytest.mark.parametrize(
    "smiles", ["not-a-smiles", "C1CC", ""], ids=["garbage", "open-ring", "empty"]
)
def test_invalid_smiles_names_the_recipe_key(smiles):
    with pytest.raises(InputDataError, match="additive"):
        estimate_solubility_parameter(smiles)


def test_element_without_group_contribution_is_refused():
    with pytest.raises(InputDataError, match="Si"):
        estimate_solubility_parameter("C[Si](C)(C)C")


def test_descriptors_are_floats_and_a_fresh_dict_per_call():
    d = molecular_descriptors(ADDITIVE_LIBRARY["dibutyl_phthalate"])
    assert d["MolWt"] == pytest.approx(278.35, abs=0.05)
    assert d["NumAromaticRings"] == 1.0 and d["NumEpoxides"] == 0.0
    assert all(isinstance(v, float) for v in d.values())
    d["MolWt"] = -1.0
    assert molecular_descriptors(ADDITIVE_LIBRARY["dibutyl_phthalate"])["MolWt"] > 0


@pytest.mark.parametrize(
    "label, functionality, eew",
    [("tgap", 3, 92.4), ("butyl_glycidyl_ether", 1, 130.2), ("dibutyl_phthalate", 0, None)],
    ids=["tgap", "bge", "dbp"],
)
def test_reactive_additives_carry_epoxide_equivalents(label, functionality, eew):
    props = additive_properties(ADDITIVE_LIBRARY[label])
    assert props.epoxide_functionality == functionality
    assert props.reactive is (functionality > 0)
    if eew is not None:
        assert props.eew == pytest.approx(eew, abs=0.5)


def test_non_canonical_spelling_finds_the_library_entry():
    props = additive_properties("O=C(OCCCC)c1ccccc1C(=O)OCCCC")
    assert props.label == "dibutyl_phthalate"
