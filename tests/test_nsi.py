"""NSI readers, the two population vintages, and the GBARD Table 2 reconciliation."""
from __future__ import annotations

import csv
import json
import re

import pandas as pd
import pytest

from clusterstats import nsi
from clusterstats._paths import data_dir, mirror_dir
from clusterstats.snapshot import load_snapshot

N = mirror_dir() / "nsi"
needs_mirror = pytest.mark.skipif(not N.exists(), reason="shared mirror not available")


def _lines(path):
    return path.read_bytes().decode("utf-8-sig").split("\r\n")


@pytest.fixture(scope="module")
def report():
    return nsi.read_population_report()


@needs_mirror
def test_population_report_values_stated_in_provenance(report):
    # independent read: split the CRLF lines and the ';' fields
    lines = _lines(N / "population" / "raw-nsi-population-report-02.06.2018.csv")
    years = lines[1].split(";")[1:-1]
    col = years.index("2017") + 1
    bg = next(ln for ln in lines if ln.startswith("BG "))
    vrc = next(ln for ln in lines if ln.startswith("VRC "))
    assert int(bg.split(";")[col]) == 7050034   # PROVENANCE.md
    assert int(vrc.split(";")[col]) == 165645
    got = report.set_index(["code", "year"])["value"]
    assert got[("BG", 2017)] == 7050034 and got[("VRC", 2017)] == 165645
    # 5,355 settlement rows (PROVENANCE.md); 36 EKATTE codes appear twice because the village
    # became a town ("с." -> "гр.") or moved municipality, each row holding part of the years.
    counts = report.drop_duplicates(["code", "name", "municipality"])["level"].value_counts()
    assert counts.to_dict() == {"settlement": 5355, "municipality": 265, "district": 28, "country": 1}
    assert (report["vintage"] == nsi.POPULATION_VINTAGE_NSI).all()
    assert set(report["reference_date"].str[5:]) == {"12-31"}


@needs_mirror
def test_district_sums_and_nuts3(report):
    d = report[report["level"] == "district"]
    # the 28 districts add up to the country in every year (hand-checkable arithmetic)
    by_year = d.groupby("year")["value"].sum()
    country = report[report["level"] == "country"].set_index("year")["value"]
    assert (by_year == country).all()
    # NUTS 3 codes agree with NSI's own EKATTE district list (last element is metadata)
    obl = json.loads((N / "ekatte" / "ek_obl.json").read_text(encoding="utf-8"))
    ek = {r["oblast"]: r["nuts3"] for r in obl if "oblast" in r}
    pairs = dict(d[["district", "nuts3"]].drop_duplicates().itertuples(index=False))
    assert pairs == ek and pairs["VRC"] == "BG313"


@needs_mirror
def test_working_age_file_matches_report(report):
    w = nsi.read_working_age_population()
    lines = _lines(N / "districts" / "nasNUTS3trudosposobna.csv")
    first = lines[0].split(";")
    assert first[:3] == ["VID", "Общо", "брой"] and len(w) == sum(1 for ln in lines if ln)
    tot = w[(w.age_group == "TOTAL") & (w.residence == "TOTAL") & (w.sex == "T")]
    assert tot.set_index(["district", "year"])["value"][("VRC", 2017)] == 165645
    m = tot.merge(report[report["level"] == "district"], left_on=["district", "year"],
                  right_on=["code", "year"])
    assert len(m) == 28 * 16
    # the two NSI exports agree except in 2002, where two districts differ by one person
    diff = m[m["value_x"] != m["value_y"]]
    assert set(diff["year"]) <= {2002} and (diff["value_x"] - diff["value_y"]).abs().max() <= 1
    parts = w[(w.age_group != "TOTAL") & (w.residence == "TOTAL") & (w.sex == "T")]
    summed = parts.groupby(["district", "year"])["value"].sum()
    total = tot.set_index(["district", "year"])["value"].reindex(summed.index)
    assert len(summed) == 28 * 19 and (summed == total).all()   # the three age groups add up


@needs_mirror
def test_district_indicators_against_split():
    df = nsi.read_district_indicators()
    lines = _lines(N / "districts" / "oblasti-annual.csv")
    names = lines[1].split(";")
    table = nsi.indicator_table().set_index("name_bg")["indicator"]
    checked = 0
    for ln in lines[2:]:
        if not ln:
            continue
        f = ln.split(";")
        for j in range(2, len(names)):
            if not names[j]:
                continue
            row = df[(df.district == f[0]) & (df.year == int(f[1])) & (df.indicator == table[names[j]])]
            assert len(row) == 1
            if f[j] == "-":
                assert row["value"].iloc[0] == 0 and row["flag"].iloc[0] == "-"
            elif f[j] == "":
                assert pd.isna(row["value"].iloc[0])
            else:
                assert row["value"].iloc[0] == float(f[j])
            checked += 1
        if checked > 400:
            break
    assert set(df["nuts3"].str[:2]) == {"BG"} and df["district"].nunique() == 28


@needs_mirror
def test_malformed_nsi_files(tmp_path):
    src = N / "population" / "raw-nsi-population-report-02.06.2018.csv"
    lines = _lines(src)
    lines[10] = lines[10].replace(";", ";x", 1)
    bad = tmp_path / "pop.csv"
    bad.write_bytes(("\r\n".join(lines)).encode("utf-8-sig"))
    with pytest.raises(nsi.NSIFileError, match=r"pop.csv, line 11: .*not a number"):
        nsi.read_population_report(bad)
    w = _lines(N / "districts" / "nasNUTS3trudosposobna.csv")
    w[4] = w[4].replace("Общо", "Всички", 1)
    bad2 = tmp_path / "w.csv"
    bad2.write_bytes(("\r\n".join(w)).encode("utf-8-sig"))
    with pytest.raises(nsi.NSIFileError, match=r"w.csv, line 5: unknown age group 'Всички'"):
        nsi.read_working_age_population(bad2)


def test_population_vintages_need_an_explicit_choice():
    pop = load_snapshot("nsi_population_district")
    eu = load_snapshot("demo_r_pjanaggr3")
    with pytest.raises(ValueError, match="explicit choice"):
        nsi.combine_population(pop, eu)
    both = nsi.combine_population(pop, eu, choice="both")
    assert set(both["vintage"]) == {nsi.POPULATION_VINTAGE_NSI, nsi.POPULATION_VINTAGE_EUROSTAT}
    # Never spliced: where both vintages exist for a date both rows are kept, each labelled.
    dup = both.groupby(["geo", "reference_date"])["vintage"].nunique()
    assert dup.max() == 2
    cmp = nsi.combine_population(pop, eu, choice="compare").set_index(["geo", "reference_date"])
    row = cmp.loc[("BG", pd.Timestamp("2015-12-31"))]
    assert row["value_eurostat"] == 6938759      # Eurostat 1 Jan 2016 (PROVENANCE.md)
    # NSI 31 Dec 2015 read independently from the report file
    lines = _lines(N / "population" / "raw-nsi-population-report-02.06.2018.csv") if N.exists() else None
    if lines:
        col = lines[1].split(";").index("2015")
        nsi_2015 = int(next(ln for ln in lines if ln.startswith("BG ")).split(";")[col])
        assert row["value_nsi"] == nsi_2015
        assert row["difference"] == 6938759 - nsi_2015 < 0   # the census revision lowered it
    only = nsi.combine_population(pop, eu, choice="eurostat")
    assert set(only["vintage"]) == {nsi.POPULATION_VINTAGE_EUROSTAT}
    assert set(only["geo"].str.len()) == {2, 5}  # BG and NUTS 3


def _table2() -> pd.DataFrame:
    path = data_dir() / "registry" / "gbard_2016_table2.csv"
    if path.exists():
        return pd.read_csv(path)[["objective", "thousand_bgn", "percent"]]
    # fallback: the seed text, lines 525-540 ("name<TAB>thousand<TAB>percent with decimal comma")
    seed = mirror_dir().parent / "seeds" / "003_779ae59ebabdebad.txt"
    rows = []
    for line in seed.read_text(encoding="utf-8").splitlines()[524:541]:
        m = re.fullmatch(r"(.+)\t(\d+)\t([\d,]+)", line.strip())
        if m:
            rows.append((m.group(1), int(m.group(2)), float(m.group(3).replace(",", "."))))
    return pd.DataFrame(rows, columns=["objective", "thousand_bgn", "percent"])


def test_gbard_table2_reconciliation():
    t2 = _table2()
    assert len(t2) == 15
    gbard = load_snapshot("gba_nabsfin07")
    out = nsi.reconcile_gbard_table2(t2, gbard)
    assert len(out) == 15 and out["nabs07"].notna().all()
    # independent check straight from the snapshot CSV with the csv module
    with open(data_dir() / "eurostat" / "gba_nabsfin07.csv", encoding="utf-8", newline="") as fh:
        eur = {r["nabs07"]: float(r["value"]) for r in csv.DictReader(fh)
               if r["geo"] == "BG" and r["time"] == "2016" and r["unit"] == "MIO_EUR"}
    for r in out.itertuples():
        assert r.eurostat_thousand_bgn == pytest.approx(eur[r.nabs07] * 1.95583 * 1000)
        assert r.difference == pytest.approx(r.guide_thousand_bgn - r.eurostat_thousand_bgn)
    # The guide's figures are Eurostat's national-currency figures, digit for digit.
    assert (out["guide_thousand_bgn"] == out["eurostat_nac_thousand_bgn"].round(0)).all()
    # The euro figures, converted at the fixed rate, differ by Eurostat's rounding to 0.001 million
    # euro (under 1 thousand BGN per chapter; a few thousand on the total, which Eurostat does not
    # derive from the rounded parts) - at most 1% even for the tiny Defence line.
    assert (out["difference"].abs() < 5).all() and (out["relative_difference"].abs() < 0.01).all()
    # Printed percentages are the shares of the guide's own total, rounded to 0.1 (or to 1).
    assert ((out["percent_recomputed"] - out["guide_percent"]).abs() < 0.55).all()


def test_gbard_unmapped_objective():
    t2 = pd.DataFrame({"objective": ["Space tourism"], "thousand_bgn": [1], "percent": [0.0]})
    with pytest.raises(KeyError, match="Space tourism"):
        nsi.reconcile_gbard_table2(t2, load_snapshot("gba_nabsfin07"))
