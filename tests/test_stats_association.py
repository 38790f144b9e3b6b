"""Known answers for the association and share tests (H2, H3)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clusterstats.stats.association import (binomial_share_test, crosstab_2x2,
                                            fisher_exact_2x2, logistic_association,
                                            share_vs_reference)


def frame_from_table(a, b, c, d):
    """Rows of a 2x2 table [[a, b], [c, d]] as two binary columns (constructed)."""
    cells = [(1, 1, a), (1, 0, b), (0, 1, c), (0, 0, d)]
    rows = [(x, y) for x, y, k in cells for _ in range(k)]
    return pd.DataFrame(rows, columns=["university", "developed"])


def test_fisher_tea_tasting_textbook():
    # Fisher (1935) lady tasting tea, [[3, 1], [1, 3]]: one-sided p = 17/70.
    # R's ?fisher.test example (alternative "greater"): OR 6.408309, CI 0.3135693-Inf.
    row = fisher_exact_2x2(table=[[3, 1], [1, 3]], alternative="greater").iloc[0]
    assert row["p_value"] == pytest.approx(17 / 70)
    assert row["effect"] == pytest.approx(6.408309, rel=1e-4)
    assert row["ci_low"] == pytest.approx(0.3135693, rel=1e-4)
    assert pd.isna(row["ci_high"]) and "unbounded" in row["note"]
    two = fisher_exact_2x2(table=[[3, 1], [1, 3]]).iloc[0]
    assert two["p_value"] == pytest.approx(34 / 70)


def test_fisher_from_frame_matches_table():
    df = frame_from_table(3, 1, 1, 3)
    assert crosstab_2x2(df, "university", "developed").to_numpy().tolist() == [[3, 1], [1, 3]]
    a = fisher_exact_2x2(df, "university", "developed").iloc[0]
    b = fisher_exact_2x2(table=[[3, 1], [1, 3]]).iloc[0]
    assert a["p_value"] == b["p_value"] and a["n"] == 8


def test_logistic_single_binary_predictor_is_woolf_or():
    a, b, c, d = 12, 5, 7, 20
    row = logistic_association(frame_from_table(a, b, c, d), "developed", ["university"]).iloc[0]
    or_ = a * d / (b * c)
    se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    z = stats.norm.ppf(0.975)
    assert row["effect"] == pytest.approx(or_, rel=1e-6)
    assert row["ci_low"] == pytest.approx(or_ * np.exp(-z * se), rel=1e-5)
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(np.log(or_) / se), rel=1e-5)


def test_logistic_separation_is_explained():
    df = frame_from_table(6, 0, 0, 6)  # the predictor determines the outcome
    row = logistic_association(df, "developed", ["university"]).iloc[0]
    assert pd.isna(row["effect"]) and "separation" in row["note"]
    assert "fisher_exact_2x2" in row["note"]


def test_binomial_share_hand_checked():
    # P(B >= 7), B ~ Bin(10, 0.5) = (120 + 45 + 10 + 1) / 1024
    row = binomial_share_test(7, 10).iloc[0]
    assert row["p_value"] == pytest.approx(176 / 1024)
    assert row["ci_low"] == pytest.approx(stats.beta.ppf(0.025, 7, 4))
    assert row["ci_high"] == pytest.approx(stats.beta.ppf(0.975, 8, 3))


def test_share_vs_reference_ratio_and_rows():
    res = share_vs_reference(60, 200, {"population": 0.2, "enterprises": 0.25})
    assert len(res) == 2
    assert res.loc[0, "effect"] == pytest.approx(0.3 / 0.2)
    assert res.loc[1, "effect"] == pytest.approx(0.3 / 0.25)
    assert res.loc[0, "p_value"] == pytest.approx(
        stats.binomtest(60, 200, 0.2, alternative="greater").pvalue)
    assert res.loc[0, "ci_low"] == pytest.approx(stats.beta.ppf(0.025, 60, 141) / 0.2)


@pytest.mark.parametrize("call, match", [
    (lambda: binomial_share_test(5, 4), "successes <= n"),
    (lambda: binomial_share_test(2, 4, p0=1.0), "p0"),
    (lambda: binomial_share_test(2, 4, ci_level=0), "ci_level"),
    (lambda: fisher_exact_2x2(table=[[1, 2, 3], [4, 5, 6]]), "2x2"),
    (lambda: fisher_exact_2x2(table=[[0, 0], [0, 0]]), "empty"),
    (lambda: share_vs_reference(3, 10, {"pop": 1.5}), "must be in"),
    (lambda: logistic_association(pd.DataFrame(), "y", ["x"]), "empty"),
    (lambda: fisher_exact_2x2(table=[[1, 1], [1, 1]], alternative="bigger"), "alternative"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
