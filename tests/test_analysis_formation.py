"""H1/H2 analysis on the real registers, cross-checked by independent counts of the raw CSVs and a
negative-binomial fit written out by hand with statsmodels."""
import csv
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from clusterstats._paths import data_dir
from clusterstats.analysis import formation, sustainability
from clusterstats.params import ParameterError
from clusterstats.stats.counts import pooled_window_test


def _raw_bsmepa_years():
    with open(data_dir() / "registry" / "bsmepa.csv", encoding="utf-8") as fh:
        return [int(r["founding_year"]) for r in csv.DictReader(fh) if r["founding_year"].strip()]


@pytest.fixture(scope="module")
def h1():
    return formation.run(n_boot=49, n_draws=30)


def _row(rows, prefix, **match):
    sel = rows["test"].str.startswith(prefix)
    for k, v in match.items():
        sel &= rows[k] == v
    assert sel.sum() == 1, f"{sel.sum()} rows match {prefix!r} {match}"
    return rows[sel].iloc[0]


def test_founding_counts_match_the_raw_table(h1):
    raw = Counter(_raw_bsmepa_years())
    counts = h1.tables["founding_counts"].set_index("year")["count"]
    for year, n in raw.items():
        assert counts[year] == n
    assert counts.sum() == sum(raw.values())
    assert (counts == 0).sum() == len(counts) - len(raw)


def test_exact_rate_ratio_for_2016_is_the_hand_computed_ratio(h1):
    # the exact test compares 2016 with the years outside both call windows (2013 and 2016)
    counts = h1.tables["founding_counts"]
    in_2016 = counts.loc[counts.year == 2016, "count"].item()
    base = counts.loc[~counts.year.isin([2013, 2016]), "count"]
    row = _row(h1.rows, "founding years (BSMEPA): 2016 window: exact Poisson")
    assert float(row.effect) == pytest.approx(in_2016 / (base.sum() / len(base)))
    assert row.claim_id == "C05"
    # the founding-year series passes its Poisson check, so the exact test is a sensitivity row
    assert row.role == "sensitivity" and "Poisson check passed" in row.note


def test_exact_poisson_rows_on_the_dated_series_are_labelled_diagnostics(h1):
    for prefix in ("dated registrations: 2016 window: exact", "dated registrations: 2013 window: exact"):
        row = _row(h1.rows, prefix)
        assert row.role == "diagnostic" and "Poisson check FAILED" in row.note
        assert pd.isna(row.verdict)


def test_nb_window_model_against_statsmodels_by_hand_on_the_real_counts(h1):
    """Known answer: one draw = the point-dated counts; the module's NB2 row must equal a
    statsmodels NegativeBinomial fit written out here (alpha estimated by ML), with the
    t reference on n - k df."""
    r = h1.tables["registration_counts"]
    y = r["count"].to_numpy(float)
    years = r["year"].tolist()
    X = np.column_stack([np.ones(len(y)), r["year"].eq(2016), r["year"].eq(2013)]).astype(float)
    fit = sm.NegativeBinomial(y, X, loglike_method="nb2").fit(disp=0, maxiter=200)
    assert fit.params[-1] > 0.01  # overdispersed: alpha well away from the Poisson boundary
    row = pooled_window_test(y, years, {"2016 window": [2016], "2013 window": [2013]},
                             alternative={"2016 window": "greater", "2013 window": "two-sided"}
                             ).table.set_index("test")
    df = len(y) - 3
    for k, name, alt in ((1, "2016 window", "greater"), (2, "2013 window", "two-sided")):
        got = row.loc[f"{name}: event IRR (NB2)"]
        assert got["effect"] == pytest.approx(np.exp(fit.params[k]), rel=1e-5)
        t = fit.params[k] / fit.bse[k]
        assert got["statistic"] == pytest.approx(t, rel=1e-4)
        p = stats.t.sf(t, df) if alt == "greater" else 2 * stats.t.sf(abs(t), df)
        assert got["p_value"] == pytest.approx(p, rel=1e-4)
        crit = stats.t.ppf(0.975, df)
        assert got["ci_low"] == pytest.approx(np.exp(fit.params[k] - crit * fit.bse[k]), rel=1e-4)


def test_pooled_rows_carry_calibration_error(h1):
    row = _row(h1.rows, "dated registrations: 2016 window: event IRR", role="primary")
    assert "pooled over calibration draws" in row.test and "fraction of missing information" in row.note
    assert row.ci_low < row.effect < row.ci_high
    fits = h1.models["per_draw_fits"]["windows"]
    assert fits["draw"].nunique() == 30  # every code-order draw was fitted


def test_code_order_bounds_recomputed(h1):
    iv = h1.tables["dated_count_intervals"].set_index("year")
    dated = h1.tables["dated_codes"]
    pts = h1.models["calibration"].points.dropna(subset=["fitted"])
    ax, ay = pts["base"].astype("int64").to_numpy(), pts["year_obs"].to_numpy()
    inside = dated[dated["position"] == "in range"]["base"].astype("int64")
    # independent: a code is surely of 2013 when every anchor at or below it is <= 2013 with the
    # largest = 2013 and every anchor at or above it is 2013 or later with the smallest = 2013
    sure_2013 = sum(ay[ax <= c].max() == 2013 and ay[ax >= c].min() == 2013 for c in inside)
    assert iv.loc[2013, "order_min"] == sure_2013
    assert iv.loc[2013, "order_min"] <= iv.loc[2013, "count"] <= iv.loc[2013, "order_max"]
    assert iv.loc[2016, "order_min"] <= iv.loc[2016, "count"] <= iv.loc[2016, "order_max"]
    assert (iv["order_low"] >= iv["order_min"]).all() and (iv["order_high"] <= iv["order_max"]).all()


def test_calibration_reported_both_ways(h1):
    rows = h1.rows
    mae = rows[rows["effect_name"] == "LOO mean absolute error"].set_index("test")["effect"]
    every = mae[mae.index.str.contains("all anchors")].iloc[0]
    kept = mae[mae.index.str.contains("inconsistent anchors dropped")].iloc[0]
    assert every > kept  # dropping the worst-fitting anchors flatters the accuracy
    dropped = h1.values["dropped"]
    assert "177099882" in set(dropped["base"])  # Biosinergia: founded 2011, code of a 2016 registration
    assert any("inconsistent" in n and "177099882" in n for n in h1.notes)


def test_every_registered_association_is_dated_or_accounted_for(h1):
    dated = h1.tables["dated_codes"]
    with open(data_dir() / "registry" / "bulstat.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(dated) == sum(len(r["code"]) == 9 for r in rows)
    r = h1.tables["registration_counts"]
    attrs = r.attrs
    assert r["count"].sum() + attrs["before_range"] + attrs["after_range"] + attrs["undated"] == len(dated)


def test_rows_roles_parts_and_verdicts(h1):
    rows = h1.rows
    assert set(rows.hypothesis) == {"H1a", "H1b", "H1c"}
    assert rows["caveats"].str.contains("survivorship|calibrated").all()
    assert rows.loc[~rows.role.isin(["primary", "sensitivity"]), "verdict"].isna().all()
    primary = rows[rows.role == "primary"].set_index("part")
    assert set(primary.index) == {"C05.leap", "C05.constant_before", "C05.driven"}
    bad = rows[rows.statistic.isna() & rows.p_value.notna() & rows.note.isna()]
    assert bad.empty, "a NaN statistic must come with an explanation in note"


def test_verdicts_follow_the_declared_rules(h1):
    primary = h1.rows[h1.rows.role == "primary"].set_index("part")
    leap = primary.loc["C05.leap"]
    # "huge" = interval above 2: the pooled interval straddles 2, so no verdict either way
    assert leap.rule == "interval_inside" and leap.ci_low < 2 < leap.ci_high
    assert leap.verdict == "inconclusive"
    const = primary.loc["C05.constant_before"]
    assert const.rule == "interval_inside"
    assert const.verdict == ("not supported" if const.ci_low > 2 else "inconclusive")
    drv = primary.loc["C05.driven"]
    assert drv.rule == "one_sided"
    assert drv.verdict == ("supported" if drv.p_holm < 0.05 else "inconclusive")
    # the guide's own founding years show the leap (a sensitivity row)
    f = _row(h1.rows, "founding years (BSMEPA): 2016 window: event IRR")
    assert f.role == "sensitivity" and f.verdict == "supported"


def test_floor_rounding_run_is_a_sensitivity_run():
    ctx = formation.hypothesis.context(rounding="floor")
    assert ctx.name == "h1_cluster_formation__rounding-floor"
    assert formation.main_role(ctx.parameters) == "sensitivity"
    assert formation.main_role(formation.DEFAULTS) == "primary"


def test_h2_two_by_two_adds_up_and_power_backs_inconclusive():
    h2 = formation.run_h2()
    t = h2.tables["table2x2"]
    status = h2.tables["status_by_window"]
    assert t.to_numpy().sum() == len(status)
    assert t.loc["in window"].sum() == status["in_window"].sum()
    fisher = _row(h2.rows, "Fisher exact 2x2")
    assert fisher.part == "C06.window_clusters_stop" and fisher.role == "primary"
    assert fisher.p_value == pytest.approx(stats.fisher_exact(t.to_numpy(), alternative="greater").pvalue)
    assert fisher.verdict == "inconclusive"
    power = _row(h2.rows, "smallest detectable effect (exact Fisher)")
    p0 = t.loc["other years", "inactive"] / t.loc["other years"].sum()
    assert power.role == "diagnostic" and power.effect > p0
    assert h2.rows.loc[h2.rows.role == "diagnostic", "verdict"].isna().all()
    assert sustainability.hypothesis.notebook == "h2_sustainability.ipynb"


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": 1.5}, "alpha"),
    ({"start_year": 2020}, "after end|outside"),
    ({"window_kind": "nonexistent"}, "no window"),
    ({"n_draws": 5}, "n_draws"),
    ({"rounding": "up"}, "rounding"),
    ({"drop_inconsistant": True}, "unknown parameter"),
])
def test_bad_parameters_fail_clearly(kwargs, match):
    with pytest.raises((ParameterError, ValueError), match=match):
        formation.run_h1(n_boot=0 if "n_draws" not in kwargs else 49, **kwargs)


def test_registry_overview_counts_match_the_raw_table():
    """The overview figure's stage and member counts equal a csv-module count of bsmepa.csv."""
    from clusterstats.analysis import registers

    with open(data_dir() / "registry" / "bsmepa.csv", encoding="utf-8") as fh:
        raw = [r for r in csv.DictReader(fh) if r["row_status"] != "missing_from_source"]
    tables = registers.overview_tables()
    members = tables["members"]
    assert len(members) == sum(1 for r in raw if r["members"].strip())
    assert tables["stage"].set_index("category")["clusters"].sum() == sum(
        1 + bool(r.get("stage_2", "").strip()) for r in raw if r["stage"].strip())
