"""Holm and Benjamini-Hochberg against statsmodels' multipletests, and the judging of rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from clusterstats.hypothesis import judge_rows
from clusterstats.claims import ClaimPart
from clusterstats.stats.multiplicity import adjust_within_families, benjamini_hochberg, holm

P = [0.001, 0.012, 0.04, 0.2, 0.03, np.nan]


def test_holm_and_bh_equal_multipletests_and_skip_missing():
    ok = np.array([p for p in P if p == p])
    assert holm(P)[:-1] == pytest.approx(multipletests(ok, method="holm")[1])
    assert benjamini_hochberg(P)[:-1] == pytest.approx(multipletests(ok, method="fdr_bh")[1])
    assert np.isnan(holm(P)[-1])


def test_holm_by_hand_on_three_values():
    # Holm (1979): sorted p times (m - i + 1), made monotone
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_families_are_adjusted_separately():
    rows = pd.DataFrame({"claim_id": ["C1", "C1", "C2"], "p_value": [0.01, 0.04, 0.04]})
    out = adjust_within_families(rows)
    assert out["p_holm"].tolist() == pytest.approx([0.02, 0.04, 0.04])


def _part(rule="one_sided", **thresholds):
    return {"C9.a": ClaimPart(id="C9.a", claim_id="C9", says="x", rule=rule,
                              thresholds=thresholds or {"alpha": 0.05, "null": 1.0},
                              justification="test part", sensitivity={"alpha": [0.01]})}


def test_judge_rows_uses_holm_and_leaves_diagnostics_without_verdict():
    rows = pd.DataFrame({
        "claim_id": ["C9"] * 3, "part": ["C9.a", pd.NA, "C9.a"],
        "role": ["primary", "diagnostic", "sensitivity"],
        "effect": [2.0, 1.0, 2.1], "ci_low": [1.2, 0.5, 1.3], "ci_high": [3.0, 2.0, 3.1],
        "p_value": [0.02, 0.03, 0.02], "verdict": ["supported", "supported", pd.NA]})
    out = judge_rows(rows, ("C9",), parts=_part())
    # a diagnostic is not a test of the claim: it does not join (or inflate) the claim's family
    assert out.loc[0, "p_holm"] == pytest.approx(0.02) and out.loc[0, "verdict"] == "supported"
    assert out.loc[1, "family"] == "C9 (diagnostic)"
    assert pd.isna(out.loc[1, "verdict"])              # a diagnostic carries no verdict
    assert out.loc[2, "family"] == "C9 (sensitivity)" and out.loc[2, "p_holm"] == pytest.approx(0.02)
    assert out.loc[0, "verdict_sensitivity"] == "alpha=0.01: inconclusive"


def test_judge_rows_rejects_unknown_roles_and_keeps_not_testable():
    bad = pd.DataFrame({"claim_id": ["C9"], "part": ["C9.a"], "role": ["headline"], "p_value": [0.1]})
    with pytest.raises(ValueError, match="unknown row role"):
        judge_rows(bad, ("C9",), parts=_part())
    nt = pd.DataFrame({"claim_id": ["C9"], "part": ["C9.a"], "role": ["primary"],
                       "p_value": [np.nan], "verdict": ["not testable offline"]})
    assert judge_rows(nt, ("C9",), parts=_part())["verdict"].iloc[0] == "not testable offline"
