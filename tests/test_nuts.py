"""clusterstats.nuts: NUTS 2 correspondences and harmonisation, against the shipped tables and the
recorded Eurostat files in data/eurostat (sources and vintages in data/eurostat/manifest.json)."""
from __future__ import annotations

import importlib.util
import sys

import pandas as pd
import pytest

from clusterstats import nuts
from clusterstats._paths import REPO_ROOT, mirror_dir
from clusterstats.snapshot import load_snapshot

EU27 = ("AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK").split()
#: Two vintages of regional GDP (spring 2017, early 2026) differ by revisions; in 2014, the one
#: year they share, BG41 differs by 0.4% and the HU capital region by 1.0%. 2% bounds that.
REVISION_TOLERANCE = 0.02


def _gdp(name: str, country: str) -> pd.DataFrame:
    df = load_snapshot(name)
    df = df[(df["unit"] == "MIO_EUR") & df["geo"].astype(str).str.startswith(country)]
    return df.assign(geo=df["geo"].astype(str), time=df["time"].astype(int))


def _population(country: str) -> pd.DataFrame:
    df = load_snapshot("demo_r_pjanaggr3")
    df = df[df["geo"].astype(str).str.startswith(country)]
    return df.assign(geo=df["geo"].astype(str), time=df["time"].astype(int))


def _value(frame: pd.DataFrame, geo: str, year: int) -> float:
    hit = frame[(frame["geo"] == geo) & (frame["time"] == year)]["value"]
    assert len(hit) == 1, (geo, year, hit)
    return float(hit.iloc[0])


def _unit(data: pd.DataFrame, unit_id: str, year: int) -> float:
    hit = data[(data["unit_id"] == unit_id) & (data["time"] == year)]["value"]
    assert len(hit) == 1, (unit_id, year, hit)
    return float(hit.iloc[0])


# ------------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------------
def test_table_has_every_pair_of_versions_and_a_reason_for_every_nontrivial_line():
    tab = nuts._table()
    assert list(tab.columns) == list(nuts.CORRESPONDENCE_COLUMNS)
    pairs = set(zip(tab["from_version"], tab["to_version"]))
    assert pairs == {(a, b) for i, a in enumerate(nuts.VERSIONS) for b in nuts.VERSIONS[i + 1:]}
    nontrivial = tab[~tab["relation"].isin(["unchanged"])]
    assert (nontrivial["reason"] != "").all()
    assert set(tab["relation"]) <= {"unchanged", "unchanged (by code)", "recoded", "split", "merged",
                                    "boundary change", "absent"}


def test_edges_between_changed_codes_clear_the_tolerance_unless_added_by_review():
    tab = nuts._table()
    edges = tab[tab["relation"].isin(["recoded", "split", "merged", "boundary change"])]
    reviewed = edges["reason"].str.contains("added by hand")
    big = edges[["share_of_from", "share_of_to"]].max(axis=1)
    small = edges[(big < nuts.EDGE_TOLERANCE) & ~(reviewed & (edges["from_code"] == "NL33")
                                                  & (edges["to_code"] == "NL35"))]
    assert small.empty, small


def test_correspondence_either_direction():
    fwd = nuts.correspondence(2013, 2016, "HU")
    back = nuts.correspondence(2016, 2013, "HU")
    split = fwd[fwd["from_code"] == "HU10"]
    assert sorted(split["to_code"]) == ["HU11", "HU12"] and set(split["relation"]) == {"split"}
    merged = back[back["to_code"] == "HU10"]
    assert sorted(merged["from_code"]) == ["HU11", "HU12"] and set(merged["relation"]) == {"merged"}
    assert (merged.set_index("from_code")["share_of_from"]
            == split.set_index("to_code")["share_of_to"]).all()


def test_unknown_version_is_refused():
    with pytest.raises(ValueError, match="not recorded"):
        nuts.version_codes(2006)


# ------------------------------------------------------------------------------------------------
# Partitions
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("country", EU27)
def test_every_region_of_every_version_is_in_exactly_one_unit(country):
    part = nuts.common_partition(nuts.VERSIONS, country)
    for v in nuts.VERSIONS:
        members = part.loc[part["version"] == v, "code"]
        assert not members.duplicated().any()
        assert sorted(members) == nuts.version_codes(v, country)
    assert part.groupby(["version", "code"])["unit_id"].nunique().max() == 1


def test_unchanged_region_maps_one_to_one():
    part = nuts.common_partition(nuts.VERSIONS, "BG")
    bg41 = part[part["unit_id"] == "BG41"]
    assert list(bg41["code"]) == ["BG41"] * len(nuts.VERSIONS)
    assert set(bg41["kind"]) == {"unchanged"} and bg41["exact"].all() and set(bg41["label"]) == {"BG41"}


def test_hungary_capital_split_is_an_exact_unit():
    part = nuts.common_partition({"tgs00042": 2013, "gdp": 2016}, "HU")
    unit = part[part["unit_id"] == "HU10"]
    assert set(unit["label"]) == {"HU10 | HU11+HU12"}
    assert set(unit["kind"]) == {"split/merge"} and unit["exact"].all()


def test_portugal_lisbon_split_and_the_merged_boundary_change():
    part = nuts.common_partition({"tgs00042": 2021, "gdp": 2024}, "PT")
    lisbon = part[part["unit_id"] == "PT17"]
    assert set(lisbon["label"]) == {"PT17 | PT1A+PT1B"} and lisbon["exact"].all()
    merged = part[part["unit_id"] == "PT16+PT18"]
    assert set(merged["label"]) == {"PT16+PT18 | PT19+PT1C+PT1D"}
    assert set(merged["kind"]) == {"boundary change"} and not merged["exact"].any()


def test_country_missing_from_a_version_is_refused():
    with pytest.raises(ValueError, match="no NUTS 2 regions in NUTS"):
        nuts.common_partition({"a": 2021, "b": 2024}, "UK")


# ------------------------------------------------------------------------------------------------
# Known answers against the recorded files
# ------------------------------------------------------------------------------------------------
def test_hu10_is_hu11_plus_hu12_in_gdp():
    part = nuts.common_partition({"old": 2013, "new": 2016}, "HU")
    new = _gdp("nama_10r_2gdp_2026", "HU")      # NUTS 2016 codes (series_nuts_versions.csv)
    old = _gdp("nama_10r_2gdp_2017", "HU")      # NUTS 2013 codes
    h_new = nuts.harmonise(new[["unit", "geo", "time", "value", "flag"]], 2016, part)
    h_old = nuts.harmonise(old[["unit", "geo", "time", "value", "flag"]], 2013, part)
    expected = _value(new, "HU11", 2014) + _value(new, "HU12", 2014)
    assert _unit(h_new.data, "HU10", 2014) == pytest.approx(expected, rel=1e-12)
    assert _unit(h_old.data, "HU10", 2014) == _value(old, "HU10", 2014)
    # the same territory in two vintages: equal up to revisions
    assert _unit(h_new.data, "HU10", 2014) == pytest.approx(_unit(h_old.data, "HU10", 2014),
                                                            rel=REVISION_TOLERANCE)


def test_pt17_is_pt1a_plus_pt1b_and_the_merged_unit_adds_up_in_population():
    # demo_r_pjanaggr3 carries both the NUTS 2021 and the NUTS 2024 codes of PT for 2021-2023
    pop = _population("PT")[["geo", "time", "value"]]
    part = nuts.common_partition({"v21": 2021, "v24": 2024}, "PT")
    h21 = nuts.harmonise(pop, 2021, part, other_versions="drop")
    h24 = nuts.harmonise(pop, 2024, part, other_versions="drop")
    for year in (2021, 2022, 2023):
        assert _unit(h24.data, "PT17", year) == _value(pop, "PT1A", year) + _value(pop, "PT1B", year)
        assert _unit(h21.data, "PT17", year) == _value(pop, "PT17", year)
        assert _unit(h24.data, "PT17", year) == _unit(h21.data, "PT17", year)
        assert _unit(h24.data, "PT16+PT18", year) == _unit(h21.data, "PT16+PT18", year)
    assert "another NUTS version" in " ".join(h24.dropped["reason"])


def test_harmonise_ratio_recomputes_the_intensity_of_a_merged_unit():
    gdp = _gdp("nama_10r_2gdp_2026", "PT")
    gdp = gdp[gdp["time"] >= 2021][["geo", "time", "value"]]
    pop = _population("PT")[["geo", "time", "value"]]
    part = nuts.common_partition({"v21": 2021, "v24": 2024}, "PT")
    ratio = nuts.harmonise_ratio(nuts.harmonise(gdp, 2024, part),
                                 nuts.harmonise(pop, 2024, part, other_versions="drop"), scale=1e6)
    got = _unit(ratio.data, "PT17", 2022)
    num = _value(gdp, "PT1A", 2022) + _value(gdp, "PT1B", 2022)
    den = _value(pop, "PT1A", 2022) + _value(pop, "PT1B", 2022)
    assert got == pytest.approx(1e6 * num / den, rel=1e-12)


# ------------------------------------------------------------------------------------------------
# Refusals and reports
# ------------------------------------------------------------------------------------------------
def test_intensity_is_refused_with_the_way_out():
    part = nuts.common_partition([2016], "BG")
    frame = pd.DataFrame({"geo": ["BG41"], "time": [2016], "value": [1.0]})
    with pytest.raises(ValueError, match="harmonise_ratio"):
        nuts.harmonise(frame, 2016, part, kind="intensity")


def test_a_unit_with_a_missing_member_is_dropped_never_summed_partially():
    part = nuts.common_partition({"old": 2013, "new": 2016}, "HU")
    new = _gdp("nama_10r_2gdp_2026", "HU")[["geo", "time", "value"]]
    new = new[~((new["geo"] == "HU12") & (new["time"] == 2015))]
    h = nuts.harmonise(new, 2016, part)
    assert h.data[(h.data["unit_id"] == "HU10") & (h.data["time"] == 2015)].empty
    gone = h.dropped[(h.dropped["unit_id"] == "HU10") & (h.dropped["time"] == 2015)]
    assert len(gone) == 1 and "HU12" in gone["reason"].iloc[0]
    assert not h.data[(h.data["unit_id"] == "HU10") & (h.data["time"] == 2016)].empty


def test_codes_of_another_version_are_refused():
    part = nuts.common_partition({"old": 2013, "new": 2016}, "HU")
    old = _gdp("nama_10r_2gdp_2017", "HU")[["geo", "time", "value"]]
    with pytest.raises(ValueError, match="HU10"):
        nuts.harmonise(old, 2016, part)


def _tgs(country: str) -> pd.DataFrame:
    df = load_snapshot("tgs00042")
    df = df[df["geo"].astype(str).str.startswith(country)]
    return df.assign(geo=df["geo"].astype(str), time=df["time"].astype(int))[["geo", "time", "value"]]


def test_hungary_2016_becomes_comparable_with_its_capital():
    inputs = {"tgs00042": (_tgs("HU"), 2013), "gdp": (_gdp("nama_10r_2gdp_2026", "HU"), 2016)}
    report = nuts.comparability(inputs, "HU", year=2016)
    assert set(report["status"]) == {"comparable"}
    ok = nuts.check_comparable(report, leader="HU11")
    assert "HU10" in set(ok["unit_id"])


def test_portugal_2016_is_refused_because_lisbon_cannot_be_compared():
    inputs = {"tgs00042": (_tgs("PT"), 2021),
              "gdp": (_gdp("nama_10r_2gdp_2026", "PT")[["geo", "time", "value"]], 2024)}
    report = nuts.comparability(inputs, "PT", year=2016)
    lisbon = report[report["unit_id"] == "PT17"]
    assert list(lisbon["status"]) == ["excluded"] and "PT1A" in lisbon["reason"].iloc[0]
    with pytest.raises(nuts.NotComparableError, match="leading region PT17"):
        nuts.check_comparable(report, leader="PT17")
    with pytest.raises(nuts.NotComparableError, match="regions cannot be made comparable"):
        nuts.check_comparable(report)


# ------------------------------------------------------------------------------------------------
# Which version each series uses
# ------------------------------------------------------------------------------------------------
def test_series_versions_are_derived_from_codes():
    tab = nuts.series_versions()
    hu = tab[(tab["series"] == "tgs00042") & (tab["country"] == "HU")].set_index("years")
    assert hu.loc["2013-2016", "versions"] == "2010 2013"
    assert hu.loc["2017-2023", "versions"] == "2016 2021 2024"
    pt = tab[(tab["series"] == "nama_10r_2gdp_2026") & (tab["country"] == "PT")].set_index("years")
    assert pt.loc["2021-2023", "match"] == "exact" and pt.loc["2021-2023", "versions"] == "2024"
    assert pt.loc["2021-2023", "unrecorded_codes"] == "PT20 PT30"


# ------------------------------------------------------------------------------------------------
# The shipped tables are exactly what the build script makes from the mirror
# ------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not (mirror_dir() / "gisco" / "nuts2json").is_dir(),
                    reason="needs the shared mirror (gisco/nuts2json)")
def test_build_script_regenerates_the_tables_byte_identically():
    path = REPO_ROOT / "tools" / "build_nuts_correspondence.py"
    spec = importlib.util.spec_from_file_location("build_nuts_correspondence", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    files = mod.build()
    for name, text in files.items():
        assert (nuts.nuts_dir() / name).read_bytes() == text.encode("utf-8"), name
