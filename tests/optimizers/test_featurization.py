"""Molecule featurization: descriptors, Morgan bits, the Tanimoto kernel, the cache, errors, records."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from optimizer_testing import ADDITIVES

from core import Q_, ConfigError, ContinuousParameter, Fidelity, InputDataError, MoleculeParameter, Objective
from optimizers import SearchSpace, make_strategy
from optimizers.featurize import DESCRIPTORS, TanimotoKernel, cache_info, featurize, rdkit_version, tanimoto
from optimizers.model import fit_model


def molecule_space(featurization: str, choices=None, descriptors=None) -> SearchSpace:
    return SearchSpace(
        [ContinuousParameter("x", Q_(0.0, ""), Q_(1.0, ""), ""),
         MoleculeParameter("additive", dict(choices or ADDITIVES), featurization=featurization, descriptors=descriptors)],
        [Fidelity("cheap", "simulator", 0.1, 0.5, model="toy"), Fidelity("robot", "robot", 1.0, 1.0, target=True)],
        Objective("y", "", "maximize"),
    )


def test_descriptor_values_of_ethanol():
    f = featurize("CCO", descriptors=["MolWt", "TPSA", "NumHDonors", "NumHAcceptors", "HeavyAtomCount"])
    assert f.descriptors["MolWt"] == pytest.approx(46.069, abs=1e-2)
    assert f.descriptors["TPSA"] == pytest.approx(20.23, abs=1e-2)
    assert (f.descriptors["NumHDonors"], f.descriptors["NumHAcceptors"], f.descriptors["HeavyAtomCount"]) == (1, 1, 3)
    assert list(f.descriptors) == ["MolWt", "TPSA", "NumHDonors", "NumHAcceptors", "HeavyAtomCount"]


def test_every_catalogued_descriptor_computes():
    f = featurize("CCCCOC(=O)c1ccccc1C(=O)OCCCC", descriptors=DESCRIPTORS)
    assert set(f.descriptors) == set(DESCRIPTORS)
    assert f.descriptors["NumAromaticRings"] == 1 and f.descriptors["RingCount"] == 1


def test_morgan_bits_of_benzene_and_canonical_spelling():
    # every benzene atom has the same environment at radius 0, 1 and 2: three distinct bits
    assert len(featurize("c1ccccc1").morgan_bits) == 3
    assert len(featurize("c1ccccc1", radius=1).morgan_bits) == 2
    assert featurize("OCC") == featurize("CCO")  # same molecule, same features
    assert all(0 <= b < 512 for b in featurize("CCCCOCC1CO1", n_bits=512).morgan_bits)


@pytest.mark.parametrize("a, b, expected", [
    ([1, 1, 0, 0], [1, 0, 1, 0], 1 / 3),
    ([1, 1, 1, 0], [1, 1, 1, 0], 1.0),
    ([1, 0, 0, 0], [0, 1, 1, 0], 0.0),
    ([1, 1, 1, 1], [1, 1, 0, 0], 0.5),
    ([0, 0, 0, 0], [0, 0, 0, 0], 1.0),
], ids=["one-of-three", "identical", "disjoint", "subset", "both-empty"])
def test_tanimoto_on_known_bit_pairs(a, b, expected):
    A = torch.tensor([a], dtype=torch.double)
    B = torch.tensor([b], dtype=torch.double)
    assert float(tanimoto(A, B)) == pytest.approx(expected)
    k = TanimotoKernel()
    assert float(k(A, B).to_dense()) == pytest.approx(expected)
    assert float(k(A, B, diag=True)) == pytest.approx(expected)


def test_tanimoto_kernel_on_encoded_molecules_matches_rdkit():
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    space = molecule_space("morgan")
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in ADDITIVES.values()]
    codes = torch.stack([space.encode_recipe({"x": Q_(0.5, ""), "additive": s})[space.fingerprint_columns]
                         for s in ADDITIVES.values()])
    K = TanimotoKernel()(codes, codes).to_dense()
    for i in range(len(fps)):
        for j in range(len(fps)):
            assert float(K[i, j]) == pytest.approx(DataStructs.TanimotoSimilarity(fps[i], fps[j]), abs=1e-12)
    assert torch.linalg.eigvalsh(K).min() > -1e-9  # positive semi-definite


def test_cache_hits_for_the_same_molecule_spelled_differently():
    featurize("CC(C)CO")
    before = cache_info()
    featurize("OCC(C)C")
    after = cache_info()
    assert after["hits"] == before["hits"] + 1 and after["misses"] == before["misses"]


def test_invalid_smiles_names_the_field():
    with pytest.raises(InputDataError, match=r"parameters\.additive: 'C1CC\(\(' is not a valid SMILES"):
        featurize("C1CC((", field="parameters.additive")
    with pytest.raises(ConfigError) as info:
        MoleculeParameter("additive", {"good": "CCO", "bad": "not-a-molecule"})
    assert "parameters.additive.choices.bad" in info.value.fields
    space = molecule_space("descriptors")
    history = pd.DataFrame([{"x": 0.5, "additive": "C1CC((", "fidelity": "robot", "objective": 1.0, "status": "completed"}])
    with pytest.raises(InputDataError, match="additive"):
        space.encode(history, kind="history")


def test_unknown_descriptor_and_bad_settings_are_refused():
    with pytest.raises(InputDataError, match="Colour"):
        featurize("CCO", descriptors=["MolWt", "Colour"], field="parameters.additive")
    with pytest.raises(InputDataError, match="morgan_bits"):
        featurize("CCO", n_bits=3)
    with pytest.raises(ConfigError, match="featurization"):
        MoleculeParameter("additive", {"e": "CCO"}, featurization="fingerprints")


@pytest.mark.parametrize("featurization", ["descriptors", "morgan", "both"])
def test_space_layout_per_featurization(featurization):
    space = molecule_space(featurization, descriptors=["MolLogP", "TPSA"])
    names = space.input_names
    n_bits = len({b for s in ADDITIVES.values() for b in featurize(s).morgan_bits})
    n_desc = 2 if featurization != "morgan" else 0
    n_fp = n_bits if featurization != "descriptors" else 0
    assert space.dim == 1 + n_desc + n_fp and len(names) == space.dim + 1 and names[-1] == "fidelity"
    assert names[0] == "x"
    assert len(space.fingerprint_columns) == n_fp
    assert all(names[j].startswith("additive:morgan:") for j in space.fingerprint_columns)
    if n_desc:
        assert names[1:3] == ["additive:MolLogP", "additive:TPSA"]
    X = space.encode_recipe({"x": Q_(0.25, ""), "additive": ADDITIVES["tgap"]})
    assert set(X[space.fingerprint_columns].tolist()) <= {0.0, 1.0}
    # decode picks the molecule back from its featurization
    assert space.decode(X.reshape(1, -1)[:, :-1])[0]["additive"] == space.parameters[1].choices["tgap"]


def test_gp_with_fingerprints_uses_the_tanimoto_kernel():
    space = molecule_space("both", descriptors=["MolLogP"])
    rows = []
    for i, (label, smi) in enumerate(ADDITIVES.items()):
        for x in (0.1, 0.5, 0.9):
            rows.append({"x": x, "additive": smi, "fidelity": "robot", "objective": x + i, "status": "completed"})
    X, Y = space.training_data(pd.DataFrame(rows))
    fm = fit_model(X, Y, fidelity_column=space.dim, fingerprint_columns=space.fingerprint_columns,
                   input_names=space.input_names, maxiter=30)
    kernels = {type(m).__name__ for m in fm.model.covar_module.modules()}
    assert "TanimotoKernel" in kernels
    assert fm.input_names == space.input_names
    ls = fm.lengthscales()
    assert "x" in ls and "additive:MolLogP" in ls and not any(k.startswith("additive:morgan") for k in ls)
    with torch.no_grad():
        assert torch.isfinite(fm.model.posterior(X).mean).all()


def test_suggestions_record_the_featurization():
    space = molecule_space("both", descriptors=["MolLogP", "TPSA"])
    strategy = make_strategy("multi_fidelity", space, seed=0)
    sug = strategy.recommend(None)[0]
    rec = sug.to_record()["featurization"]["additive"]
    assert rec["featurization"] == "both" and rec["rdkit_version"] == rdkit_version()
    assert rec["smiles"] == sug.recipe["additive"]
    assert set(rec["descriptors"]) == {"MolLogP", "TPSA"}
    assert rec["morgan"]["set_bits"] == list(featurize(sug.recipe["additive"]).morgan_bits)
    assert rec["morgan"]["radius"] == 2 and rec["morgan"]["n_bits"] == 2048
    only_desc = make_strategy("random", molecule_space("descriptors"), seed=0).recommend(None)[0]
    assert "morgan" not in only_desc.to_record()["featurization"]["additive"]
