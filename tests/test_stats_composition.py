"""Known-answer tests for compositional comparisons (hand arithmetic, independent formulas)."""
import math

import numpy as np
import pandas as pd
import pytest

from clusterstats.stats.composition import composition_test, share_table


def _long(amounts: dict[str, list[list[float]]], cats, years):
    rows = []
    for geo, table in amounts.items():
        for yr, vec in zip(years, table):
            rows += [{"geo": geo, "year": yr, "nabs": c, "eur": v} for c, v in zip(cats, vec)]
    return pd.DataFrame(rows)


def test_two_part_aitchison_and_tvd_by_hand():
    df = _long({"BG": [[5, 5]], "EU28": [[80, 20]]}, ["a", "b"], [2016])
    out = composition_test(df, "nabs", "eur", "geo", "year").set_index("test")
    # D = 2: d_A = |ln(x1/x2) - ln(y1/y2)| / sqrt(2) = ln 4 / sqrt 2
    assert out.loc["aitchison_distance", "effect"] == pytest.approx(math.log(4) / math.sqrt(2))
    assert out.loc["total_variation_distance", "effect"] == pytest.approx(0.3)
    # one year: no CI, no p, and the note says why
    assert pd.isna(out.loc["aitchison_distance", "p_value"])
    assert "only one year" in out.loc["aitchison_distance", "note"]


def test_aitchison_matches_pairwise_log_ratio_formula():
    # independent formula: d^2 = 1/(2D) sum_i sum_j (ln(x_i/x_j) - ln(y_i/y_j))^2
    x, y = np.array([0.2, 0.3, 0.5]), np.array([0.6, 0.3, 0.1])
    lr = lambda v: np.log(v[:, None] / v[None, :])
    hand = math.sqrt(((lr(x) - lr(y)) ** 2).sum() / (2 * 3))
    df = _long({"BG": [list(x * 100)], "EU28": [list(y * 1000)]}, ["a", "b", "c"], [2016])
    out = composition_test(df, "nabs", "eur", "geo", "year", per_category=False)
    assert out.loc[0, "effect"] == pytest.approx(hand, rel=1e-12)


def test_sign_flip_p_is_exact_for_a_consistent_difference():
    years = [2012, 2013, 2014, 2015, 2016]
    df = _long({"BG": [[30, 70]] * 5, "EU28": [[50, 50]] * 5}, ["ind", "know"], years)
    out = composition_test(df, "nabs", "eur", "geo", "year", n_boot=200).set_index("effect_name")
    # identical yearly differences: only "all +" and "all -" of 2^5 flips reach the observed norm
    assert out.loc["aitchison_distance", "p_value"] == pytest.approx(2 / 32)
    assert out.loc["total_variation_distance", "p_value"] == pytest.approx(2 / 32)
    row = out.loc["share_diff[ind]"]
    assert row["effect"] == pytest.approx(-0.2) and row["p_value"] == pytest.approx(2 / 32)
    assert row["target_share"] == pytest.approx(0.3) and row["reference_share"] == pytest.approx(0.5)
    assert "smallest attainable" in row["note"]


def test_naive_chi_square_scales_with_the_unit_and_says_so():
    years = [2015, 2016]
    df = _long({"BG": [[10, 30], [12, 28]], "EU28": [[50, 50], [45, 55]]}, ["a", "b"], years)
    small = composition_test(df, "nabs", "eur", "geo", "year", n_boot=50).set_index("test")
    big = composition_test(df.assign(eur=df.eur * 1000), "nabs", "eur", "geo", "year",
                           n_boot=50).set_index("test")
    chi_s, chi_b = small.loc["naive_chi_square", "statistic"], big.loc["naive_chi_square", "statistic"]
    assert chi_b == pytest.approx(1000 * chi_s)
    assert big.loc["naive_chi_square", "effect"] == pytest.approx(small.loc["naive_chi_square", "effect"])
    assert "no sampling meaning" in small.loc["naive_chi_square", "note"]
    # hand 2x2 for 2016: [[12, 28], [45, 55]], N = 140
    n, a, b, c, d = 140, 12, 28, 45, 55
    hand = n * (a * d - b * c) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
    assert chi_s == pytest.approx(hand)
    # distances do not depend on the unit
    assert big.loc["aitchison_distance", "effect"] == pytest.approx(small.loc["aitchison_distance", "effect"])


def test_zero_share_replaced_with_note_and_pooled_peers():
    years = [2015, 2016]
    df = _long({"BG": [[0, 5, 5], [1, 4, 5]], "RO": [[2, 2, 6], [2, 3, 5]], "HR": [[1, 1, 1], [1, 1, 1]]},
               ["def", "ind", "know"], years)
    out = composition_test(df, "nabs", "eur", "geo", "year", reference=["RO", "HR"], n_boot=50)
    assert np.isfinite(out.loc[0, "effect"])
    assert "BG 2015 def" in out.loc[0, "note"]
    pooled = df[df.geo != "BG"].groupby(["year", "nabs"], as_index=False)["eur"].sum().assign(geo="PEERS")
    same = composition_test(pd.concat([df[df.geo == "BG"], pooled]), "nabs", "eur", "geo", "year",
                            reference="PEERS", n_boot=50)
    assert same.loc[1, "effect"] == pytest.approx(out.loc[1, "effect"])


def test_missing_year_dropped_and_bad_value_named():
    years = [2015, 2016]
    df = _long({"BG": [[1, 2], [None, 2]], "EU28": [[3, 4], [3, 4]]}, ["a", "b"], years)
    out = composition_test(df, "nabs", "eur", "geo", "year")
    assert out.loc[0, "n"] == 1 and "dropped: [2016]" in out.loc[0, "note"]
    bad = df.astype({"eur": object})
    bad.loc[1, "eur"] = "12 5"
    with pytest.raises(ValueError, match="row 1"):
        composition_test(bad, "nabs", "eur", "geo", "year")


def test_share_table_against_published_total():
    # Guide Table 2 (NSI, 2016, thousand BGN): industrial production 20620, general advancement
    # GUF 11329 and other sources 77199, total 187465 (only three of 14 chapters here).
    df = pd.DataFrame({"geo": "BG", "nabs": ["ind", "guf", "other", "Total"],
                       "v": [20620, 11329, 77199, 187465]})
    out = share_table(df, "nabs", "v", "geo", total_category="Total").set_index("nabs")
    assert out.loc["ind", "share"] == pytest.approx(0.110, abs=5e-4)       # guide: 11 %
    assert out.loc["guf", "share"] + out.loc["other", "share"] == pytest.approx(0.472, abs=5e-4)  # "over 47 %"
    assert out.loc["ind", "sum_gap"] == pytest.approx(1 - (20620 + 11329 + 77199) / 187465)
    assert out.attrs["warnings"]                                           # 11 chapters left out
