"""H1/H2 analysis on the real registers, cross-checked by independent counts of the raw CSVs."""
import csv
from collections import Counter

import pytest

from clusterstats._paths import data_dir
from clusterstats.analysis import formation
from clusterstats.params import ParameterError


def _raw_bsmepa_years():
    with open(data_dir() / "registry" / "bsmepa.csv", encoding="utf-8") as fh:
        return [int(r["founding_year"]) for r in csv.DictReader(fh) if r["founding_year"].strip()]


@pytest.fixture(scope="module")
def h1():
    return formation.run_h1(n_boot=49)


def test_founding_counts_match_the_raw_table(h1):
    raw = Counter(_raw_bsmepa_years())
    counts = h1.tables["founding_counts"].set_index("year")["count"]
    for year, n in raw.items():
        assert counts[year] == n
    assert counts.sum() == sum(raw.values())
    # years without a founding are explicit zeros, not missing
    assert (counts == 0).sum() == len(counts) - len(raw)


def test_exact_rate_ratio_for_2016_is_the_hand_computed_ratio(h1):
    counts = h1.tables["founding_counts"]
    in_2016 = counts.loc[counts.year == 2016, "count"].item()
    rest = counts.loc[counts.year != 2016, "count"].sum()
    expected = in_2016 / (rest / (len(counts) - 1))
    row = h1.rows[h1.rows.test.str.startswith("founding years, 2016 window: rate ratio")].iloc[0]
    assert float(row.effect) == pytest.approx(expected)
    assert row.claim_id == "C05" and row.verdict in {"supported", "partly", "not supported"}


def test_every_registered_association_is_dated_or_accounted_for(h1):
    dated = h1.tables["dated_codes"]
    with open(data_dir() / "registry" / "bulstat.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    not_branch = [r for r in rows if len(r["code"]) == 9]
    assert len(dated) == len(not_branch)
    r = h1.tables["registration_counts"]
    attrs = r.attrs
    assert r["count"].sum() + attrs["before_range"] + attrs["after_range"] + attrs["undated"] == len(dated)


def test_dropped_calibration_points_are_reported(h1):
    dropped = h1.models["calibration"].points.attrs["dropped"]
    assert "177099882" in set(dropped["base"])  # Biosinergia: founded 2011, code of a 2016 registration
    assert any("dropped as inconsistent" in n for n in h1.notes)


def test_rows_carry_context_and_no_bare_nan_statistics(h1):
    rows = h1.rows
    assert set(rows.hypothesis) == {"H1a", "H1b", "H1c"}
    assert rows["caveats"].str.contains("survivorship|calibrated").all()
    bad = rows[rows.statistic.isna() & rows.p_value.notna() & rows.note.isna()]
    assert bad.empty, "a NaN statistic must come with an explanation in note"


def test_h2_two_by_two_adds_up():
    h2 = formation.run_h2()
    t = h2.tables["table2x2"]
    status = h2.tables["status_by_window"]
    assert t.to_numpy().sum() == len(status)
    assert t.loc["in window"].sum() == status["in_window"].sum()


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": 1.5}, "alpha"),
    ({"start_year": 2020}, "after end|outside"),
    ({"window_kind": "nonexistent"}, "no window"),
])
def test_bad_parameters_fail_clearly(kwargs, match):
    with pytest.raises((ParameterError, ValueError), match=match):
        formation.run_h1(n_boot=0, **kwargs)


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
