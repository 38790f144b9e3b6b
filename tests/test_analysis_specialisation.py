"""H9 (clusters vs regional specialisation) on the real register and snapshot: the reviewed sector
map covers the register, one LQ recomputed by hand from the snapshot CSV, the ICT count recounted
with a regular expression, and bad maps/parameters refused with clear messages."""
from __future__ import annotations

import csv
import re

import pytest

from clusterstats._paths import data_dir
from clusterstats.analysis import specialisation as h9
from clusterstats.params import ParameterError
from clusterstats.registry import RegistryError


def _raw_sectors() -> list[str]:
    with open(data_dir() / "registry" / "bsmepa.csv", encoding="utf-8", newline="") as fh:
        return [r["sector"] for r in csv.DictReader(fh) if r["row_status"] != "missing_from_source"]


@pytest.fixture(scope="module")
def analysis():
    return h9.run(n_perm=199)


def test_sector_map_covers_every_register_text_once():
    smap = h9.load_sector_map()
    assert set(_raw_sectors()) == set(smap["sector"])
    assert not smap["sector"].duplicated().any()
    assert (smap["reason"].str.len() > 10).all()


def test_one_lq_by_hand_from_the_snapshot_csv(analysis):
    cells = {}
    with open(data_dir() / "eurostat" / "bd_enace2_r3.csv", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["indic_sb"] == "V16911" and r["time"] == "2016":
                cells[(r["geo"], r["nace_r2"])] = float(r["value"])
    e_ir, e_r = cells[("BG411", "J")], cells[("BG411", "B-S_X_K642")]
    e_i = sum(v for (g, s), v in cells.items() if s == "J")
    e = sum(v for (g, s), v in cells.items() if s == "B-S_X_K642")
    lq = analysis.tables["lq"].set_index(["region", "sector"])
    assert lq.loc[("BG411", "J"), "lq"] == pytest.approx((e_ir / e_r) / (e_i / e))


def test_ict_count_by_an_independent_pattern(analysis):
    n_ict = sum(bool(re.search(r"ИКТ|телекомуникаци|далекосъобщ", s)) for s in _raw_sectors())
    row = analysis.rows[analysis.rows["test"].str.startswith("clusters naming ICT")].iloc[0]
    assert row["statistic"] == n_ict
    assert int(row["n"]) == len(_raw_sectors())
    # the lead over the next label, with every missing row given to either side
    assert row["effect"] == n_ict - 5 and (row["ci_low"], row["ci_high"]) == (n_ict - 5 - 19, n_ict - 5 + 19)


def test_permutation_and_share_rows(analysis):
    rows = analysis.rows.set_index("test")
    perm = rows.loc["clusters in specialised cells (permutation)"]
    assert 0 < perm["p_value"] <= 1 and perm["n"] == len(analysis.tables["units"])
    share = rows.loc["share of clusters in cells with LQ > 1"]
    # recount: clusters whose own cell has LQ > 1
    lq = analysis.tables["lq"].set_index(["region", "sector"])["lq"]
    units = analysis.tables["units"]
    hits = sum(lq[(r, s)] > 1 for r, s in zip(units["region"], units["sector"]))
    assert share["effect"] == pytest.approx(hits / len(units))
    assert set(analysis.rows["claim_id"]) == {"C09"}


def test_nuts2_uses_2015_and_says_so():
    a = h9.run(level="nuts2", n_perm=199)
    assert a.models["year_used"] == 2015
    assert any("ends in 2015" in n for n in a.notes)
    assert set(a.tables["lq"]["region"]) == {"BG31", "BG32", "BG33", "BG34", "BG41", "BG42"}


def test_bad_map_rows_are_named(tmp_path):
    good = (data_dir() / "registry" / "sector_nace_map.csv").read_text(encoding="utf-8")
    bad = tmp_path / "map.csv"
    bad.write_text(good.replace("металообработка,B-E,", "металообработка,C25,"), encoding="utf-8")
    with pytest.raises(RegistryError, match=r"line \d+ \('металообработка'\): nace_group 'C25'"):
        h9.load_sector_map(bad)
    lines = good.splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(l for l in lines if not l.startswith("износ,")) + "\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="износ"):
        h9.cluster_sectors(h9.load_sector_map(short))


@pytest.mark.parametrize("kwargs, match", [
    ({"level": "nuts1"}, "level"),
    ({"indicator": "V99999"}, "indicator"),
    ({"year": 2005}, "year"),
    ({"n_perm": 5}, "n_perm"),
    ({"alpha": -0.1}, "alpha"),
    ({"yaer": 2016}, "unknown parameter"),
])
def test_bad_parameters_raise_parameter_error(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        h9.run(**kwargs)


def test_min_confidence_keeps_only_surer_mappings():
    smap = h9.load_sector_map()
    high = h9.run(min_confidence="high", n_perm=199)
    kept = set(high.tables["units"]["sector_text"])
    assert kept <= set(smap.loc[smap["confidence"] == "high", "sector"])
    with pytest.raises(ParameterError, match="min_confidence"):
        h9.run(min_confidence="none")


def test_verdicts_follow_the_declared_rules(analysis):
    rows = analysis.rows
    primary = rows[rows["role"] == "primary"].set_index("part")
    # ICT leads the printed labels by 8, but 19 missing rows could reverse it
    assert primary.loc["C09.ict_most", "verdict"] == "inconclusive"
    assert primary.loc["C09.ict_most", "rule"] == "interval_inside"
    # the clusters' cells have a *lower* LQ than shuffled seats: no evidence for the claim,
    # which a one-sided test reads as inconclusive, never as support
    assert primary.loc["C09.branch", "p_value"] > 0.5
    assert primary.loc["C09.branch", "verdict"] == "inconclusive"
    assert primary.loc["C09.knowledge", "verdict"] == "not testable offline"
    sens = rows[(rows["part"] == "C09.branch") & (rows["role"] == "sensitivity")]
    assert len(sens) == 2 and sens["verdict"].eq("inconclusive").all()
    from clusterstats.rules import combine_parts
    assert combine_parts(primary["verdict"].tolist()) == "inconclusive"


def test_precision_parameters_keep_the_run_primary_but_level_does_not(analysis):
    assert (analysis.rows.loc[analysis.rows["part"] == "C09.branch", "role"] == "primary").any()
    assert set(analysis.rows["run_id"]) == {"h9_specialisation__n_perm-199"}


def test_nuts_version_of_each_lq_input_is_in_the_caveats(analysis):
    caveats = analysis.rows["caveats"].iloc[0]
    assert "NUTS versions of the LQ inputs" in caveats and "bd_enace2_r3" in caveats
    a = h9.run(level="nuts2", n_perm=199)
    assert "lfst_r_lfe2en2" in a.rows["caveats"].iloc[0]
    assert set(a.rows.loc[a.rows["part"].notna(), "role"]) == {"sensitivity"}


# ------------------------------------------------------------------------------------------------
# NUTS versions of the LQ inputs (issue 12)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", ["nuts3", "nuts2"])
def test_bg_partition_is_the_identity_and_lqs_are_unchanged(level):
    import pandas as pd

    p = dict(level=level, year=2016, indicator="V16911", min_confidence="low", alpha=0.05)
    lq, units, _, _, _, versions = h9.harmonised_lq(h9.cluster_sectors(), p)
    direct, _, _, _ = h9.lq_table(level, 2016, "V16911", 0.95)
    def plain_(df):      # the published codes come as categories, the harmonised ones as text
        return df.astype({"region": str, "sector": str}).reset_index(drop=True)
    pd.testing.assert_frame_equal(plain_(lq), plain_(direct))
    plain = h9.cluster_units(h9.cluster_sectors(), level, "low")
    assert list(units["region"]) == list(plain["region"])
    long, _, _, _ = h9.lq_base("nuts2", 2016, "V16911")
    _, _, v2 = h9.harmonise_lq_inputs(long, h9.cluster_units(h9.cluster_sectors(), "nuts2", "low"),
                                      "LFS")
    assert "fit NUTS 2010/2013/2016/2021/2024 (exact)" in v2["LFS"]
    assert "excluded" not in versions and "harmonised units" not in versions


def _rows(name, country, year):
    with open(data_dir() / "eurostat" / f"{name}.csv", encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if len(r["geo"]) == 4 and r["geo"][:2] == country
                and r["time"] == str(year) and r["value"] and r["unit"] in ("MIO_EUR", "MIO_PPS")
                and not r["geo"].endswith(("ZZ", "XX"))]


def test_harmonise_lq_inputs_hungary_known_answer():
    """Real case with changed codes: Hungarian GDP 2016 in MIO_EUR (nama_10r_2gdp, 2026 vintage,
    the only unit recorded there; NUTS 2016 codes HU11, HU12) stands in for one sector of the
    base; the seats are one per region of the 2017 vintage (NUTS 2013 code HU10). The base must be summed
    HU11 + HU12 into the unit HU10, checked against the recorded file with the csv module."""
    import pandas as pd

    rows = _rows("nama_10r_2gdp_2026", "HU", 2016)
    long = pd.DataFrame({"region": [r["geo"] for r in rows], "sector": [r["unit"] for r in rows],
                         "value": [float(r["value"]) for r in rows]})
    old = sorted({r["geo"] for r in _rows("nama_10r_2gdp_2017", "HU", 2014)})
    assert "HU10" in old and "HU10" not in set(long["region"])
    units = pd.DataFrame({"region": old})
    long_u, units_u, versions = h9.harmonise_lq_inputs(long, units, "GDP", country="HU")
    got = long_u.set_index(["region", "sector"])["value"]
    for unit in ("MIO_EUR",):
        want = sum(float(r["value"]) for r in rows if r["geo"] in ("HU11", "HU12") and r["unit"] == unit)
        assert got[("HU10", unit)] == pytest.approx(want, rel=1e-12)
    assert sorted(units_u["region"]) == old
    assert "HU10 | HU11+HU12" in versions["harmonised units"]
    assert "read as NUTS 2013" in versions["cluster seats"]
