"""The guide's diagrams rebuilt: each figure plots exactly the data the package returns.

Expected frames are computed here from the loaders and snapshots by another route than the
module's (e.g. counting the register's own columns, reading the snapshot directly), or are
hand-checkable counts from the guide's annex.
"""
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from clusterstats import registry  # noqa: E402
from clusterstats.analysis import replication as rep  # noqa: E402
from clusterstats.snapshot import load_snapshot  # noqa: E402

CIS_FIXTURE = Path(__file__).parent / "fixtures" / "cis" / "FIXTURE_inn_cis9_prod.tsv"


@pytest.fixture(scope="module")
def cluster_table():
    return registry.clusters()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _printed():
    b = registry.load_bsmepa()
    return b[b["row_status"] != "missing_from_source"]


def test_every_figure_is_registered_under_its_name():
    expected = {f"guide_d{n:02d}_{s}" for n, s in [(2, "stages"), (3, "age"), (4, "seats"),
                                                    (5, "sectors"), (6, "members"), (7, "bronze"),
                                                    (8, "rd_series"), (9, "rd_countries"),
                                                    (10, "innovation"), (11, "innovation_size")]}
    assert set(rep.FIGURES) == expected | {"guide_map_rd_intensity", "guide_map_clusters"}


def test_d02_stage_counts_match_the_linked_cluster_table(cluster_table):
    fig, plotted = rep.diagram_02_stages()
    got = plotted[plotted["status"] == "printed"].set_index("stage")["clusters"]
    # independent route: the stages of the clusters linked to a BSMEPA row
    linked = cluster_table[cluster_table["in_bsmepa"]]
    expected = pd.Series([s for lst in linked["stages"] for s in lst]).value_counts()
    assert got.to_dict() == expected.reindex(got.index, fill_value=0).to_dict()
    # the annex (sorted by stage) is missing rows 12-18 and 31-36 inside the start-up block
    # (7 + 6 = 13) and rows 59-64 between the last developing and the first developed row
    fixed = plotted[plotted["status"] == "missing, stage fixed by table order"]
    assert fixed.set_index("stage")["clusters"].to_dict() == {"start-up": 13}
    open_ = plotted[plotted["status"] == "missing, stage open"]
    assert open_.set_index("stage")["clusters"].to_dict() == {"developing or developed": 6}
    assert plotted["clusters"].sum() == 72 + 1  # 72 numbered rows, row 26 counted twice
    assert plotted.attrs["sources"] and plotted.attrs["vintage"] == "2018-04-22"
    note = fig._clusterstats_source_note.get_text().replace("\n", " ")
    assert "rows 12-18, 31-36, 59-64 are missing" in note and "annex numbers 72" in note


def test_d03_founding_years_and_registration_series(cluster_table):
    from clusterstats.analysis import formation

    _, plotted = rep.diagram_03_age(cluster_table=cluster_table)
    found = plotted[plotted["series"].str.startswith("founding year")]
    years = cluster_table.loc[cluster_table["in_bsmepa"], "founding_year"].dropna().astype(int)
    expected = years.value_counts()
    got = found.set_index("year")["count"]
    assert got[got > 0].to_dict() == expected.to_dict()
    assert got.sum() == len(years) == 33
    # zero years are drawn too, so the gaps show
    assert list(found["year"]) == list(range(years.min(), years.max() + 1))
    _, dated = formation.date_registrations(cluster_table, n_boot=0)
    reg = plotted[plotted["series"] == "registration year dated from BULSTAT code"]
    pd.testing.assert_frame_equal(reg[["year", "count"]].reset_index(drop=True),
                                  formation.registration_counts(dated)[["year", "count"]],
                                  check_dtype=False)


def test_d04_seat_counts_match_the_printed_seats(cluster_table):
    _, plotted = rep.diagram_04_seats(cluster_table=cluster_table)
    # independent route: the annex's own seat_towns lists, counted by position
    towns = _printed()["seat_towns"]
    first = pd.Series([t[0] for t in towns if t]).value_counts()
    second = pd.Series([x for t in towns for x in t[1:]]).value_counts()
    assert plotted["first_named"].sum() == first.sum() == 42
    assert plotted["also_named"].sum() == second.sum() == 8
    sofia = plotted.set_index("town").loc["Sofia"]
    assert (sofia["first_named"], sofia["also_named"]) == (first["София"], second["София"])
    assert sorted(plotted["total"], reverse=True) == list(plotted["total"])


def test_d05_sector_groups_match_the_reviewed_map():
    from clusterstats.analysis.specialisation import load_sector_map

    _, plotted = rep.diagram_05_sectors()
    smap = load_sector_map().set_index("sector")
    p = _printed()
    p = p[p["sector"].notna() & p["sector"].ne("")]
    groups = p["sector"].map(smap["nace_group"])
    assert plotted.set_index("nace_group")["clusters"].to_dict() == groups.value_counts().to_dict()
    ict = p["sector"].map(smap["ict"]).groupby(groups).sum()
    assert plotted.set_index("nace_group")["naming_ict"].to_dict() == ict.to_dict()


def test_d06_member_classes_match_a_histogram():
    _, plotted = rep.diagram_06_members()
    m = _printed()["members"].dropna().astype(int).to_numpy()
    edges = [lo for lo, _ in rep.MEMBER_BINS] + [rep.MEMBER_BINS[-1][1] + 1]
    hist, _ = np.histogram(m, bins=edges)
    assert plotted["clusters"].tolist() == hist.tolist()
    # row 55 reads "13+": the only lower bound, in the 10-19 class
    assert plotted.set_index("label")["at_least"].to_dict()["10–19"] == 1
    assert plotted["at_least"].sum() == 1
    assert plotted["clusters"].sum() == len(m)


def test_d07_bronze_labels_two_in_ict_two_still_valid():
    _, plotted = rep.diagram_07_bronze()
    assert len(plotted) == 10
    assert plotted["ict"].sum() == 2
    # only the ICT foundation (2018-07-01) and Green Synergy (2019-02-17) outlived 22 April 2018
    valid = plotted.loc[plotted["valid_at_data_date"], "valid_until"].tolist()
    assert sorted(valid) == ["2018-07-01", "2019-02-17"]


def test_d08_series_equal_the_snapshot():
    _, plotted = rep.diagram_08_rd_series()
    raw = load_snapshot("rd_e_gerdtot")
    sel = raw[(raw["unit"].astype(str) == "PC_GDP") & (raw["sectperf"].astype(str) == "TOTAL")
              & raw["geo"].astype(str).isin(["BG", "EU28"])]
    sel = sel.assign(year=sel["time"].astype(str).astype(int), geo=sel["geo"].astype(str))
    sel = sel[sel["year"].between(2000, 2016)].dropna(subset=["value"])
    expected = sel.set_index(["geo", "year"])["value"].sort_index()
    got = plotted.set_index(["geo", "year"])["value"].sort_index()
    pd.testing.assert_series_equal(got, expected, check_names=False)
    assert len(plotted) == 34
    flags = plotted.set_index(["geo", "year"])["flag"]
    assert flags[("EU28", 2016)] == "p" and flags[("EU28", 2000)] == "e"


def test_d09_all_28_member_states_and_bulgarias_rank():
    _, plotted = rep.diagram_09_rd_countries()
    members = plotted[plotted["role"] != "reference"]
    assert len(members) == 28
    raw = load_snapshot("rd_e_gerdtot")
    sel = raw[(raw["unit"].astype(str) == "PC_GDP") & (raw["sectperf"].astype(str) == "TOTAL")
              & (raw["time"].astype(str) == "2016")]
    sel = pd.Series(sel["value"].to_numpy(), index=sel["geo"].astype(str))
    for geo, v in zip(members["geo"], members["value"]):
        assert v == sel[geo]
    # the guide: only four member states spend less than Bulgaria
    assert members["value"].tolist().index(members.set_index("geo").loc["BG", "value"]) == 4
    assert plotted.loc[plotted["role"] == "reference", "value"].item() == sel["EU28"]


_NUMBER = re.compile(r"\d+[.,]\d+|\d+\s*%")


@pytest.mark.parametrize("func", [rep.diagram_10_innovation, rep.diagram_11_innovation_size])
def test_offline_cis_panel_draws_no_number(func):
    fig, plotted = func()
    texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    assert any("not available offline" in t for t in texts)
    assert any("cis_file" in t for t in texts) and any("inn_cis9" in t for t in texts)
    assert not [t for t in texts if _NUMBER.search(t)]
    ax = fig.axes[0]
    assert not ax.axison and not ax.containers and not ax.lines
    assert not any(pd.api.types.is_numeric_dtype(plotted[c]) for c in plotted.columns)


@pytest.mark.format_fixture
def test_cis_file_is_plotted_from_the_file():
    # values hand-read from the format fixture (not real statistics)
    _, by_size = rep.diagram_11_innovation_size(cis_file=CIS_FIXTURE, indicator="X_NEWMKT")
    assert by_size.set_index("size_class")["share_pc"].round(2).to_dict() == {
        "10-49": 1.11, "50-249": 6.1, "GE250": 26.6, "GE10": 2.93}
    _, by_country = rep.diagram_10_innovation(cis_file=CIS_FIXTURE, indicator="X_NEWMKT")
    # RO's total is confidential (": c"), so only BG has a bar
    assert by_country[["geo", "share_pc"]].round(2).values.tolist() == [["BG", 2.93]]


def test_map_rd_intensity_equals_tgs00042_2016():
    _, plotted = rep.map_rd_intensity()
    raw = load_snapshot("tgs00042")
    sel = raw[raw["geo"].astype(str).str.fullmatch(r"BG\d\d") & (raw["time"].astype(str) == "2016")]
    expected = dict(zip(sel["geo"].astype(str), sel["value"]))
    assert plotted.set_index("geo")["value"].to_dict() == expected
    assert expected["BG41"] == 1.14  # Yugozapaden, with Sofia


def test_map_clusters_counts_first_seat_regions(cluster_table):
    _, plotted = rep.map_clusters(cluster_table=cluster_table)
    seats = registry.cluster_seats(cluster_table[cluster_table["in_bsmepa"]])
    expected = seats.loc[seats["seat_order"] == 1, "nuts2"].value_counts()
    got = plotted.set_index("geo")["value"]
    assert got[got > 0].to_dict() == expected.to_dict()
    assert len(got) == 6 and got["BG33"] == 0  # no printed cluster is seated in the north-east
    assert got.sum() == 42


def test_tables_written_as_csv_and_booktabs(tmp_path):
    written = rep.tables(tmp_path)
    t1 = pd.read_csv(written["guide_table_1_bronze_label"]["csv"])
    assert len(t1) == 10 and t1["valid_on_2018_04_22"].sum() == 2
    t2 = pd.read_csv(written["guide_table_2_gbard"]["csv"])
    assert t2["guide_thousand_bgn"].iloc[-1] == 187465
    # the guide's Table 2 and Eurostat agree to the precision Eurostat publishes (about 2
    # thousand BGN per 0.001 million EUR)
    lines = t2[t2["nabs07"] != "TOTAL"]
    assert (lines["difference"].abs() < 2).all()
    # independent check of the conversion: million EUR x 1.95583 x 1000
    np.testing.assert_allclose(t2["eurostat_thousand_bgn"], t2["eurostat_mio_eur"] * 1955.83, atol=1e-6)
    for files in written.values():
        tex = files["tex"].read_text()
        assert "\\toprule" in tex and "\\bottomrule" in tex and "\\caption{" in tex
        # every % and & in a cell is escaped (a bare % would comment out the rest of the row)
        cells = tex.replace(" & ", " ")
        assert not re.search(r"(?<!\\)[%&]", cells)
    assert not list(tmp_path.glob(".*.tmp"))


def test_escape_latex_in_one_pass():
    assert rep._escape_latex(r"R&D 5% a_b {x} \ ") == r"R\&D 5\% a\_b \{x\} \textbackslash{} "


@pytest.mark.parametrize("func", [rep.diagram_03_age, rep.diagram_05_sectors, rep.diagram_07_bronze,
                                  rep.diagram_09_rd_countries])
def test_narrow_layout_plots_the_same_data(func, cluster_table):
    kw = {"cluster_table": cluster_table} if func is rep.diagram_03_age else {}
    wide, d_wide = func("double", **kw)
    narrow, d_narrow = func("single", **kw)
    pd.testing.assert_frame_equal(d_wide, d_narrow)
    assert narrow.get_figwidth() < wide.get_figwidth()


def test_bad_width_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="'single', 'double'"):
        rep.diagram_02_stages("wide")


def _source_line(fig) -> str:
    return " ".join(" ".join(t.get_text() for t in fig.texts).split())   # the note is wrapped


def test_maps_name_the_nuts_versions_of_data_and_geometries(cluster_table):
    for fig, _ in (rep.map_rd_intensity(), rep.map_clusters(cluster_table=cluster_table)):
        text = _source_line(fig)
        assert "data codes fit NUTS 2010/2013/2016/2021/2024 (exact)" in text
        assert "geometries NUTS 2016" in text


def test_map_join_refuses_regions_the_geometries_lack():
    """tgs00042's Hungarian codes of a year published under NUTS 2013 (HU10, from the recorded
    file) on NUTS 2016 regions (HU11, HU12): the capital would vanish, so the join is refused."""
    from clusterstats import nuts

    sv = nuts.series_versions("tgs00042")
    years = sv[(sv["country"] == "HU") & sv["versions"].str.contains("2013")
               & ~sv["versions"].str.contains("2016")]["years"]
    assert len(years), "tgs00042 has HU years in NUTS 2013 codes"
    first = int(years.iloc[0].split("-")[0])
    raw = load_snapshot("tgs00042")
    codes = raw.loc[raw["geo"].astype(str).str.fullmatch(r"HU\d\d")
                    & (raw["time"].astype(int) == first), "geo"].astype(str)
    assert "HU10" in set(codes)
    with pytest.raises(nuts.NotComparableError, match="HU10.*NUTS 2016 geometries"):
        nuts.check_map_join(codes, nuts.version_codes(2016, "HU"), 2016, "HU")
