"""H8 (member counts) on the real BSMEPA rows, cross-checked by a recount of the raw CSV with the
csv module, the statistics module and the Wilson formula written out."""
from __future__ import annotations

import csv
import math
import statistics

import pytest
from scipy import stats

from clusterstats._paths import data_dir
from clusterstats.analysis import size as h8
from clusterstats.params import ParameterError


def _raw_rows() -> list[dict]:
    with open(data_dir() / "registry" / "bsmepa.csv", encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["row_status"] != "missing_from_source"]


@pytest.fixture(scope="module")
def analysis():
    return h8.run(n_boot=999)


def _row(analysis, prefix):
    rows = analysis.rows
    return rows[rows["test"].str.startswith(prefix)].iloc[0]


def test_counts_match_a_recount(analysis):
    raw = _raw_rows()
    members = [int(r["members"]) for r in raw if r["members"]]
    assert _row(analysis, "member counts known")["effect"] == len(members)
    assert _row(analysis, "largest")["effect"] == max(members) == 63
    assert _row(analysis, "smallest")["effect"] == min(members)
    foreign = [r["row"] for r in raw if r["foreign_members"]]
    assert _row(analysis, "clusters with foreign members")["effect"] == len(foreign)
    largest = next(r for r in raw if r["members"] == "63")
    assert "Електромобил" in largest["name"]


def test_share_in_range_and_wilson_ci_by_hand(analysis):
    members = [int(r["members"]) for r in _raw_rows() if r["members"]]
    k, n = sum(10 <= m <= 30 for m in members), len(members)
    row = _row(analysis, "share in [10, 30]")
    assert (int(row["statistic"]), int(row["n"])) == (k, n)
    z, ph = stats.norm.ppf(0.975), k / n
    centre = (ph + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n))
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(centre - half), pytest.approx(centre + half))
    assert row["p_value"] == pytest.approx(sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n)


def test_median_and_at_least_sensitivity(analysis):
    members = [int(r["members"]) for r in _raw_rows() if r["members"]]
    med = analysis.rows[analysis.rows["test"] == "median"]
    assert (med["effect"] == statistics.median(members)).all()
    assert len(med) == 3
    sens = _row(analysis, "share in [10, 30] (sensitivity")
    exact = [int(r["members"]) for r in _raw_rows() if r["members"] and r["members_at_least"] != "True"]
    assert int(sens["n"]) == len(exact) == len(members) - 1


def test_rows_carry_claim_and_valid_verdicts(analysis):
    rows = analysis.rows
    assert set(rows["claim_id"]) == {"C08"} and set(rows["hypothesis"]) == {"H8"}
    assert rows["verdict"].dropna().isin(["supported", "not supported", "partly",
                                          "inconclusive"]).all()
    # only rows that test a declared part carry a verdict; descriptive rows (the median) none
    assert rows.loc[rows["role"] == "descriptive", "verdict"].isna().all()
    assert rows.loc[rows["role"] == "primary", "verdict"].notna().all()


def test_verdicts_follow_the_declared_rules(analysis):
    by_part = analysis.rows[analysis.rows["role"] == "primary"].set_index("part")
    # 24/32 with a Wilson interval above one half: positive evidence for "mainly"
    assert by_part.loc["C08.range", "verdict"] == "supported"
    assert by_part.loc["C08.range", "rule"] == "interval_inside"
    assert "low=0.6: inconclusive" in by_part.loc["C08.range", "verdict_sensitivity"]
    # at least 5 clusters have foreign members: the guide's 3 is contradicted
    assert by_part.loc["C08.foreign", "verdict"] == "not supported"
    # 32 counts printed, up to 19 more missing: 43 can be neither confirmed nor refuted
    assert by_part.loc["C08.known", "verdict"] == "inconclusive"


@pytest.mark.parametrize("kwargs, match", [
    ({"low": 40}, "low"),
    ({"low": -1}, "low"),
    ({"n_boot": 10}, "n_boot"),
    ({"seed": -3}, "seed"),
    ({"alpha": 0}, "alpha"),
    ({"hihg": 30}, "unknown parameter"),
])
def test_bad_parameters_raise_parameter_error(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        h8.run(**kwargs)
