"""Helpers shared by the devices tests (a plain module: tests/ has no packages)."""

from __future__ import annotations

from core import Q_

DBP = "CCCCOC(=O)c1ccccc1C(=O)OCCCC"
TGAP = "C1OC1CN(CC1CO1)c1ccc(OCC2CO2)cc1"
BGE = "CCCCOCC1CO1"
DOS = "CCCCCCCCOC(=O)CCCCCCCCC(=O)OCCCCCCCC"
TPP = "O=P(Oc1ccccc1)(Oc1ccccc1)Oc1ccccc1"
FAST = 1e5  # speedup of the twins in tests


def make_recipe(**changes):
    recipe = {
        "additive": DBP,
        "additive_fraction": Q_(5.0, "percent"),
        "hardener_ratio": Q_(1.0, ""),
        "mixing_speed": Q_(1200.0, "rpm"),
        "mixing_time": Q_(5.0, "min"),
        "cure_temperature": Q_(140.0, "degC"),
        "cure_time": Q_(2.0, "h"),
    }
    recipe.update(changes)
    return recipe




def run_plan(RE, plan):
    """Run ``plan`` and return every (name, doc) it emitted."""
    docs = []
    token = RE.subscribe(lambda name, doc: docs.append((name, doc)))
    try:
        RE(plan)
    finally:
        RE.unsubscribe(token)
    return docs
