"""TOST (clusterstats.stats.equivalence) against a published example and by its definition.

Published example: the ``clinic`` data (two groups of 15 patients; column ``var1``) and the
p-values of R's ``equivalence::tost`` for them with the margin eps = 0.6, as recorded in
statsmodels' test suite (statsmodels/stats/tests/test_tost.py: ``tost_clinic_paired_1``,
``tost_clinic_indep_1``, ``tost_clinic_indep_1_pooled``, with the R calls
``tost(clinic$var1[1:15], clinic$var1[16:30], eps=0.6[, paired=TRUE | var.equal=TRUE])``).
The data and reference values below are copied from that file, not computed here.
"""
from __future__ import annotations

import math

import pytest
from scipy import stats

from clusterstats.stats.equivalence import tost_means, tost_proportion

# clinic$var1: group 1 = patients 1-15, group 2 = patients 16-30 (statsmodels test_tost.py)
VAR1_G1 = [2.84, 2.51, 2.41, 2.95, 3.14, 3.79, 4.14, 3.85, 3.02, 3.45, 5.37, 3.81, 4.19, 3.16, 3.84]
VAR1_G2 = [2.60, 2.82, 2.18, 3.46, 4.01, 3.04, 3.47, 4.06, 2.91, 3.59, 4.51, 3.16, 3.86, 3.31, 3.02]
# R equivalence::tost, eps = 0.6
R_PAIRED = dict(p=0.003166881489265175, mean_diff=0.1646666666666667,
                ci=(-0.0744336620516462, 0.4037669953849797))
R_WELCH = dict(p=0.04853083976236974, ci=(-0.2666862980722534, 0.596019631405587))
R_POOLED = dict(p=0.04827315100761467, ci=(-0.2659960620757337, 0.595329395409067))


@pytest.mark.parametrize("kwargs, ref", [
    ({"paired": True}, R_PAIRED),
    ({"usevar": "unequal"}, R_WELCH),
    ({"usevar": "pooled"}, R_POOLED),
])
def test_t_tost_reproduces_r_equivalence_tost(kwargs, ref):
    row = tost_means(VAR1_G1, VAR1_G2, -0.6, 0.6, **kwargs).iloc[0]
    assert row["p_value"] == pytest.approx(ref["p"], rel=1e-10)
    # R's tost reports the 1 - 2 alpha (90 %) interval of the difference
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(ref["ci"][0], rel=1e-10),
                                               pytest.approx(ref["ci"][1], rel=1e-10))
    assert row["ci_level"] == pytest.approx(0.9)
    assert row["effect"] == pytest.approx(0.1646666666666667)
    assert row["p_value"] == pytest.approx(max(row["p_lower"], row["p_upper"]))


def test_binomial_tost_is_the_larger_of_two_exact_one_sided_tests():
    k, n, low, upp = 29, 46, 0.6, 0.714
    row = tost_proportion(k, n, low, upp).iloc[0]
    p_low = stats.binomtest(k, n, low, alternative="greater").pvalue
    p_upp = stats.binomtest(k, n, upp, alternative="less").pvalue
    assert row["p_value"] == pytest.approx(max(p_low, p_upp), rel=1e-12)
    assert (row["p_lower"], row["p_upper"]) == (pytest.approx(p_low), pytest.approx(p_upp))
    assert row["effect"] == pytest.approx(k / n) and int(row["n"]) == n


@pytest.mark.parametrize("k", [5, 10, 17])
def test_binomial_tost_at_the_clopper_pearson_bounds_is_exactly_alpha(k):
    # Duality (Schuirmann 1987): with the margin equal to the 90 % Clopper-Pearson interval,
    # both one-sided exact tests sit exactly at 0.05.
    n = 20
    ci = stats.binomtest(k, n).proportion_ci(0.9, method="exact")
    row = tost_proportion(k, n, ci.low, ci.high).iloc[0]
    assert row["p_value"] == pytest.approx(0.05, abs=1e-9)
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))


def test_binomial_tost_rejects_exactly_when_the_interval_is_inside_the_margin():
    for k in range(0, 101, 7):
        for low, upp in ((0.3, 0.5), (0.4, 0.6), (0.45, 0.7)):
            row = tost_proportion(k, 100, low, upp).iloc[0]
            inside = low <= row["ci_low"] and row["ci_high"] <= upp
            assert (row["p_value"] < 0.05) == inside or math.isclose(row["p_value"], 0.05)


@pytest.mark.parametrize("args, match", [
    ((5, 10, 0.6, 0.4), "margin"),
    ((5, 10, -0.1, 0.4), "margin"),
    ((11, 10, 0.4, 0.6), "count"),
    ((5, 0, 0.4, 0.6), "count"),
])
def test_bad_input_is_refused(args, match):
    with pytest.raises(ValueError, match=match):
        tost_proportion(*args)
    with pytest.raises(ValueError, match="alpha"):
        tost_proportion(5, 10, 0.4, 0.6, alpha=0.5)
