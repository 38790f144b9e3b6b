"""Cochran-Armitage against a published value and statsmodels; proportion CIs against formulas."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import Table

from clusterstats.stats.ordinal import cochran_armitage, proportion_ci

# Agresti (2002) Categorical Data Analysis, Table 3.7: infant malformation by mother's alcohol
# consumption (drinks/day: 0, <1, 1-2, 3-5, >=6) with scores 0, 0.5, 1.5, 4, 7.
# Agresti reports M^2 = 6.57, P = 0.01 (section 3.4.6).
MALFORMATION = pd.DataFrame({
    "alcohol": ["0", "<1", "1-2", "3-5", ">=6"],
    "present": [48, 38, 5, 1, 1],
    "absent": [17066, 14464, 788, 126, 37],
}).assign(total=lambda d: d.present + d.absent)
SCORES = [0, 0.5, 1.5, 4.0, 7.0]


def test_cochran_armitage_matches_agresti_published_value():
    out = cochran_armitage(MALFORMATION, "alcohol", "present", "total", scores=SCORES).iloc[0]
    n = MALFORMATION.total.sum()
    # M^2 = (N-1)/N * z^2
    assert (n - 1) / n * out["statistic"] ** 2 == pytest.approx(6.57, abs=0.005)
    assert out["p_value"] == pytest.approx(0.0104, abs=0.0005)
    assert out["ci_low"] < out["effect"] < out["ci_high"] and out["effect"] > 0
    # the unpooled Wald CI is wider than the score test implies here (the score-7 group has
    # 1 of 38), so it covers 0 although p = 0.01: both are reported, the docstring says why
    assert out["ci_low"] < 0
    assert out["n"] == n


def test_cochran_armitage_matches_statsmodels_linear_by_linear():
    table = MALFORMATION[["present", "absent"]].to_numpy()
    ref = Table(table).test_ordinal_association(row_scores=np.array(SCORES),
                                                col_scores=np.array([0.0, 1.0]))
    ours = cochran_armitage(MALFORMATION, "alcohol", "present", "total", scores=SCORES).iloc[0]
    n = table.sum()
    # statsmodels uses variance with N-1, Cochran-Armitage with N; its sign follows column order
    assert abs(ref.zscore) == pytest.approx(ours["statistic"] * math.sqrt((n - 1) / n), rel=1e-9)
    assert ref.pvalue == pytest.approx(ours["p_value"], rel=1e-3)


def test_slope_is_weighted_least_squares_of_proportion_on_score():
    df = pd.DataFrame({"size": [1, 2, 3], "x": [2, 5, 9], "n": [20, 25, 30]})
    out = cochran_armitage(df, "size", "x", "n").iloc[0]
    # WLS of p_i on t_i with weights n_i, via numpy
    p = df.x / df.n
    slope = np.polyfit(df["size"], p, 1, w=np.sqrt(df.n))[0]
    assert out["effect"] == pytest.approx(slope, rel=1e-10)
    one = cochran_armitage(df, "size", "x", "n", alternative="increasing").iloc[0]
    assert one["p_value"] == pytest.approx(out["p_value"] / 2)
    assert "scores = 'size' values" in out["method"]


def test_no_variation_is_explained_not_nan():
    df = pd.DataFrame({"g": ["a", "b", "c"], "x": [0, 0, 0], "n": [10, 10, 10]})
    out = cochran_armitage(df, "g", "x", "n").iloc[0]
    assert pd.isna(out["statistic"]) and "pooled proportion is 0 or 1" in out["note"]
    with pytest.raises(ValueError, match="exceed totals"):
        cochran_armitage(df.assign(x=[0, 11, 0]), "g", "x", "n")


def test_proportion_ci_wilson_and_clopper_pearson_by_formula():
    df = pd.DataFrame({"class": ["small", "large"], "x": [3, 57], "n": [52, 100]})
    wil = proportion_ci(df, "x", "n", group="class")
    z = sps.norm.ppf(0.975)
    for i, (x, n) in enumerate(zip(df.x, df.n)):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert wil.loc[i, "ci_low"] == pytest.approx(centre - half, rel=1e-9)
        assert wil.loc[i, "ci_high"] == pytest.approx(centre + half, rel=1e-9)
    cp = proportion_ci(df, "x", "n", method="beta")
    # Clopper-Pearson via beta quantiles
    assert cp.loc[0, "ci_low"] == pytest.approx(sps.beta.ppf(0.025, 3, 50), rel=1e-9)
    assert cp.loc[0, "ci_high"] == pytest.approx(sps.beta.ppf(0.975, 4, 49), rel=1e-9)
    assert list(wil["class"]) == ["small", "large"]
