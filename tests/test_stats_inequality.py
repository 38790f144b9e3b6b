"""Known-answer tests for clusterstats.stats.inequality (hand arithmetic and pysal cross-checks)."""
import math

import numpy as np
import pandas as pd
import pytest
from inequality.gini import Gini
from inequality.theil import Theil, TheilD

from clusterstats.stats._tidy import STAT_COLUMNS, result_frame, result_row
from clusterstats.stats.inequality import (cv, gini, inequality_table, leader_ratios,
                                           summarise_years, theil_l, theil_t, williamson_cv)

# Three regions: levels 1, 2, 4 with populations 1, 1, 2.
# p = (.25, .25, .5), ybar = .25 + .5 + 2 = 2.75, s = p*y/ybar = (1/11, 2/11, 8/11).
THREE = pd.DataFrame({"region": ["A", "B", "C"], "y": [1.0, 2.0, 4.0], "pop": [1.0, 1.0, 2.0],
                      "macro": ["m1", "m1", "m2"]})


def test_weighted_theil_t_by_hand_and_differs_from_unweighted():
    # T = sum s_i ln(s_i/p_i) = (1/11)ln(4/11) + (2/11)ln(8/11) + (8/11)ln(16/11)
    hand = (1 / 11) * math.log(4 / 11) + (2 / 11) * math.log(8 / 11) + (8 / 11) * math.log(16 / 11)
    assert hand == pytest.approx(0.12264, abs=1e-5)
    out = theil_t(THREE, "y", "pop")
    assert out.loc[0, "effect"] == pytest.approx(hand, rel=1e-12)
    unweighted = theil_t(THREE, "y")
    # pysal's Theil has no weights: it must agree with ours only when weights are equal.
    assert unweighted.loc[0, "effect"] == pytest.approx(Theil(np.array([1.0, 2.0, 4.0])).T, rel=1e-9)
    assert unweighted.loc[0, "effect"] == pytest.approx(0.142912, abs=1e-6)
    assert abs(out.loc[0, "effect"] - unweighted.loc[0, "effect"]) > 0.02


def test_weighted_theil_equals_unweighted_on_expanded_population():
    # Population 2 for C is the same as C appearing twice with population 1.
    expanded = np.array([1.0, 2.0, 4.0, 4.0])
    assert theil_t(THREE, "y", "pop").loc[0, "effect"] == pytest.approx(Theil(expanded).T, rel=1e-9)


def test_theil_l_by_hand():
    hand = 0.25 * math.log(2.75) + 0.25 * math.log(2.75 / 2) + 0.5 * math.log(2.75 / 4)
    assert theil_l(THREE, "y", "pop").loc[0, "effect"] == pytest.approx(hand, rel=1e-12)


@pytest.mark.parametrize("fn", [theil_t, theil_l])
def test_decomposition_is_additive_and_between_matches_group_level_index(fn):
    out = fn(THREE, "y", "pop", group="macro").iloc[0]
    assert out["between"] + out["within"] == pytest.approx(out["effect"], rel=1e-12)
    # Between component = the same index over group means with group populations.
    groups = pd.DataFrame({"y": [1.5, 4.0], "pop": [2.0, 2.0]})
    assert out["between"] == pytest.approx(fn(groups, "y", "pop").loc[0, "effect"], rel=1e-12)
    assert 0 < out["between_share"] < 1


def test_unweighted_decomposition_matches_pysal_theild():
    y = np.array([3.0, 5.0, 1.0, 8.0, 2.0, 6.0])
    g = np.array([0, 0, 1, 1, 2, 2])
    df = pd.DataFrame({"y": y, "g": g})
    ours = theil_t(df, "y", group="g").iloc[0]
    ref = TheilD(y, g)
    assert ours["effect"] == pytest.approx(float(np.ravel(ref.T)[0]), rel=1e-9)
    assert ours["between"] == pytest.approx(float(np.ravel(ref.bg)[0]), rel=1e-9)
    assert ours["within"] == pytest.approx(float(np.ravel(ref.wg)[0]), rel=1e-9)


def test_theil_l_rejects_zero_and_names_row():
    df = THREE.assign(y=[0.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="row 0"):
        theil_l(df, "y", "pop")
    # Theil T is defined (0 ln 0 = 0)
    assert np.isfinite(theil_t(df, "y", "pop").loc[0, "effect"])


def test_bad_input_names_column_and_row():
    df = THREE.astype({"y": object})
    df.loc[2, "y"] = "n/a"
    with pytest.raises(ValueError, match=r"'y', row 2"):
        gini(df, "y")
    with pytest.raises(ValueError, match="weights must be positive"):
        theil_t(THREE.assign(pop=[1, 0, 1]), "y", "pop")


def test_gini_by_hand_pysal_and_small_n_correction():
    out = gini(THREE, "y", small_n_correction=False).iloc[0]
    # sum_ij |yi - yj| = 2*(1 + 3 + 2) = 12; G = 12 / (2 * 9 * 7/3) = 2/7
    assert out["effect"] == pytest.approx(2 / 7, rel=1e-12)
    assert out["effect"] == pytest.approx(Gini(np.array([1.0, 2.0, 4.0])).g, rel=1e-9)
    # the population Gini is the default (issue 11, item 5); the correction is a labelled option
    assert gini(THREE, "y").iloc[0]["effect"] == pytest.approx(2 / 7, rel=1e-12)
    assert gini(THREE, "y").iloc[0]["effect_name"] == "gini"
    corrected = gini(THREE, "y", small_n_correction=True).iloc[0]
    assert corrected["effect"] == pytest.approx(2 / 7 * 3 / 2, rel=1e-12)
    assert corrected["effect_name"] == "gini_corrected"
    assert corrected["gini_raw"] == pytest.approx(2 / 7)


def test_gini_bounds():
    all_in_one = pd.DataFrame({"y": [0.0] * 5 + [1.0]})
    raw = gini(all_in_one, "y", small_n_correction=False).loc[0, "effect"]
    assert raw == pytest.approx(5 / 6)  # (n-1)/n: the uncorrected maximum for six regions
    assert gini(all_in_one, "y").loc[0, "effect"] == pytest.approx(5 / 6)
    assert gini(all_in_one, "y", small_n_correction=True).loc[0, "effect"] == pytest.approx(1.0)
    equal = pd.DataFrame({"y": [3.0] * 6})
    assert gini(equal, "y").loc[0, "effect"] == 0


def test_weighted_gini_by_hand():
    # sum_ij p_i p_j |yi-yj| = 2*(.0625*1 + .125*3 + .125*2) = 1.375; / (2 * 2.75) = 0.25,
    # the same as the unweighted Gini of the expanded sample (1, 2, 4, 4).
    out = gini(THREE, "y", "pop", small_n_correction=False).loc[0, "effect"]
    assert out == pytest.approx(0.25, rel=1e-12)
    assert out == pytest.approx(Gini(np.array([1.0, 2.0, 4.0, 4.0])).g, rel=1e-9)


def test_williamson_two_region_hand_example():
    # y = (1, 3), P = (3, 1): ybar = 1.5, var = .75*.25 + .25*2.25 = .75, V_w = sqrt(.75)/1.5
    df = pd.DataFrame({"y": [1.0, 3.0], "pop": [3.0, 1.0]})
    assert williamson_cv(df, "y", "pop").loc[0, "effect"] == pytest.approx(1 / math.sqrt(3))
    # equal weights reduce V_w to the population CV: sd(1,3)=1, mean 2
    assert cv(df, "y").loc[0, "effect"] == pytest.approx(0.5)
    assert williamson_cv(df.assign(pop=1.0), "y", "pop").loc[0, "effect"] == pytest.approx(0.5)


def test_leader_ratios_hand_example():
    df = pd.DataFrame({"region": ["SW", "N", "S"], "v": [140.0, 10.0, 20.0]})
    out = leader_ratios(df, "region", "v").set_index("effect_name")["effect"]
    assert out["ratio_to_N"] == 14 and out["ratio_to_S"] == 7
    assert out["ratio_min"] == 7 and out["ratio_max"] == 14
    assert out["ratio_to_mean_of_others"] == pytest.approx(140 / 15)
    assert out["ratio_to_total_of_others"] == pytest.approx(140 / 30)


def test_leader_ratio_zero_other_is_explained_not_nan():
    df = pd.DataFrame({"region": ["SW", "N", "S"], "v": [140.0, 0.0, 20.0]})
    out = leader_ratios(df, "region", "v").set_index("effect_name")
    assert pd.isna(out.loc["ratio_to_N", "effect"])
    assert "undefined" in out.loc["ratio_to_N", "note"]
    assert out.loc["ratio_max", "effect"] == 7


def test_inequality_table_per_year_and_summary():
    df = pd.concat([THREE.assign(year=2015), THREE.assign(year=2016, y=[1.0, 1.0, 1.0])])
    table = inequality_table(df, "region", "y", "pop", year="year")
    assert list(table.columns[:1]) == ["year"]
    assert set(STAT_COLUMNS) <= set(table.columns)
    t16 = table[(table.year == 2016) & (table.test == "theil_t")]
    assert t16["effect"].iloc[0] == 0
    summary = summarise_years(table, "year", "theil_t", n_boot=200)
    assert summary.loc[0, "effect"] == pytest.approx((0.12264 + 0) / 2, abs=1e-4)
    assert summary.loc[0, "ci_low"] <= summary.loc[0, "effect"] <= summary.loc[0, "ci_high"]


def test_bootstrap_over_regions_warns_in_note():
    out = theil_t(THREE, "y", "pop", n_boot=200).iloc[0]
    assert out["ci_low"] <= out["effect"] <= out["ci_high"]
    assert "weak" in out["note"]


def test_equal_levels_give_zero_and_explained_share():
    df = pd.DataFrame({"y": [2.0, 2.0, 2.0], "pop": [1, 2, 3], "g": [0, 0, 1]})
    out = theil_t(df, "y", "pop", group="g").iloc[0]
    assert out["effect"] == 0
    assert pd.isna(out["between_share"]) and "between_share undefined" in out["note"]


def test_result_frame_nan_guard():
    row = result_row(test="exact", statistic=float("nan"), p_value=0.04,
                     why_nan="the exact conditional test has no test statistic")
    frame = result_frame([row, {"test": "other", "n": 3}])
    assert list(frame.columns) == STAT_COLUMNS
    assert pd.isna(frame.loc[0, "statistic"]) and frame.loc[0, "p_value"] == 0.04
    assert frame.loc[0, "note"] == "statistic undefined: the exact conditional test has no test statistic"
    assert pd.isna(frame.loc[1, "note"]) and frame.loc[1, "n"] == 3


def test_leader_ratios_across_years_summary():
    df = pd.DataFrame({"region": ["SW", "N", "S"] * 2, "year": [2015] * 3 + [2016] * 3,
                       "v": [140.0, 10.0, 20.0, 120.0, 10.0, 20.0]})
    per_year = leader_ratios(df, "region", "v", year="year")
    assert list(per_year.loc[per_year.effect_name == "ratio_max", "effect"]) == [14, 12]
    summary = summarise_years(per_year, "year", "ratio_max", n_boot=100).iloc[0]
    assert summary["effect"] == 13 and summary["min"] == 12 and summary["max"] == 14
    assert "serially correlated" in summary["note"]
