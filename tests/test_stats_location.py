"""Known answers for location quotients (hand arithmetic, simulation, exact enumeration)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clusterstats.stats.location import (cluster_lq, location_quotient,
                                         specialisation_permutation_test)

# Constructed 2 regions x 2 sectors (not data).
SMALL = pd.DataFrame({"region": ["A", "A", "B", "B"], "sector": ["x", "y", "x", "y"],
                      "value": [300, 700, 100, 900]})


def test_lq_by_hand():
    out = location_quotient(SMALL).set_index(["region", "sector"])
    # LQ_Ax = (300/1000) / (400/2000) = 1.5; LQ_Bx = (100/1000)/(400/2000) = 0.5
    assert out.loc[("A", "x"), "lq"] == pytest.approx(1.5)
    assert out.loc[("B", "x"), "lq"] == pytest.approx(0.5)
    assert out.loc[("A", "y"), "lq"] == pytest.approx(0.7 / 0.8)
    assert not out["eco_star"].any()
    assert "unverified" in location_quotient(SMALL).attrs["eco_star_rule"]


def test_lq_ci_matches_multinomial_simulation():
    # Independent check of the delta-method SD: simulate multinomial tables with the same
    # cell probabilities and measure the SD of ln LQ directly.
    rng = np.random.default_rng(42)
    probs = SMALL["value"].to_numpy() / 2000
    tables = rng.multinomial(2000, probs, size=20000).astype(float)
    a, b, c = tables[:, 0], tables[:, 0] + tables[:, 1], tables[:, 0] + tables[:, 2]
    sim_sd = np.std(np.log((a / b) / (c / 2000)))
    row = location_quotient(SMALL).iloc[0]
    delta_sd = (np.log(row["ci_high"]) - np.log(row["lq"])) / stats.norm.ppf(0.975)
    assert delta_sd == pytest.approx(sim_sd, rel=0.03)


def test_eco_star_and_empty_cell():
    df = pd.DataFrame({"region": ["A", "A", "B", "B"], "sector": ["x", "y", "x", "y"],
                       "value": [90, 10, 0, 100]})
    out = location_quotient(df).set_index(["region", "sector"])
    assert out.loc[("A", "x"), "lq"] == pytest.approx(2.0) and out.loc[("A", "x"), "eco_star"]
    assert out.loc[("B", "x"), "lq"] == 0 and np.isnan(out.loc[("B", "x"), "ci_low"])
    assert "empty cell" in out.loc[("B", "x"), "note"]


def test_cluster_lq_by_hand():
    res = cluster_lq(pd.Series({"SOF": 60, "PDV": 20}), pd.Series({"SOF": 1.0, "PDV": 1.0, "VAR": 2.0}))
    sof = res.set_index("region").loc["SOF"]
    # (60/80) / (1/4) = 3
    assert sof["effect"] == pytest.approx(3.0)
    assert sof["ci_low"] == pytest.approx(stats.beta.ppf(0.025, 60, 21) / 0.25)
    var = res.set_index("region").loc["VAR"]
    assert var["effect"] == 0 and var["p_value"] == pytest.approx(stats.binomtest(0, 80, 0.5).pvalue)


def test_permutation_test_matches_exact_enumeration():
    # 3 regions x 3 sectors, LQ high on the diagonal; 6 clusters all on the diagonal.
    # Of the 6!/(2!2!2!) = 90 distinct region assignments only the observed one attains the
    # maximum, so the exact permutation p-value is 1/90.
    lq = pd.DataFrame([(r, s, 3.0 if r.lower() == s else 0.5)
                       for r in "ABC" for s in "abc"], columns=["region", "sector", "lq"])
    clusters = pd.DataFrame({"region": list("AABBCC"), "sector": list("aabbcc")})
    row = specialisation_permutation_test(clusters, lq, n_perm=9999, seed=3).iloc[0]
    assert row["effect"] == pytest.approx(3.0)
    assert row["p_value"] == pytest.approx(1 / 90, abs=0.004)


def test_permutation_drops_unknown_sector_and_is_seeded():
    lq = location_quotient(SMALL)
    clusters = pd.DataFrame({"region": ["A", "B", "A", "B"], "sector": ["x", "y", "zzz", "x"]})
    a = specialisation_permutation_test(clusters, lq, n_perm=199, seed=1)
    b = specialisation_permutation_test(clusters, lq, n_perm=199, seed=1)
    assert a.equals(b) and a.loc[0, "n"] == 3 and "1 clusters dropped" in a.loc[0, "note"]


@pytest.mark.parametrize("call, match", [
    (lambda: location_quotient(SMALL.iloc[:0]), "empty"),
    (lambda: location_quotient(SMALL, ci_level=2), "ci_level"),
    (lambda: location_quotient(SMALL.assign(value=[1, -1, 1, 1])), "non-negative"),
    (lambda: location_quotient(pd.concat([SMALL, SMALL])), "duplicate"),
    (lambda: cluster_lq(pd.Series({"X": 1}), pd.Series({"A": 1.0})), "without a base"),
    (lambda: specialisation_permutation_test(pd.DataFrame({"region": ["A"], "sector": ["x"]}),
                                             location_quotient(SMALL)), "fewer than two"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
