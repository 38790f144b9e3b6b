"""read_eurostat_file on the real mirror files, checked against an independent parse in each test.

The independent parses use the csv module and str.split only, never the package's readers.
"""
from __future__ import annotations

import csv
import gzip
import math
import shutil

import pandas as pd
import pytest

from clusterstats import read_eurostat_file
from clusterstats._paths import data_dir, mirror_dir
from clusterstats.formats import EurostatFileError, detect_format, label_maps

M = mirror_dir() / "eurostat"
pytestmark = pytest.mark.skipif(not M.exists(), reason="shared mirror not available")

TIDY = ["time", "value", "flag"]


def _num(cell: str) -> float:
    s = cell.strip().replace(" ", "")
    return math.nan if s in ("", ":") else float(s)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _lookup(df: pd.DataFrame, dims: list[str]) -> dict[tuple, tuple[float, str]]:
    keys = [df[d].astype(str).tolist() for d in dims + ["time"]]
    flags = df["flag"].astype(object).where(df["flag"].notna(), "").tolist()
    return {k: (v, f) for k, v, f in zip(zip(*keys), df["value"].tolist(), flags)}


def _check_tidy(df: pd.DataFrame, dims: list[str]) -> None:
    assert list(df.columns) == dims + TIDY
    assert df["value"].dtype == "float64"
    assert isinstance(df["flag"].dtype, pd.CategoricalDtype)
    assert not df.duplicated(dims + ["time"]).any()


def _assert_matches_csv_module(df, path, dims, expected_flag):
    """Every row of an SDMX-CSV file, read with the csv module, equals the reader's cell."""
    got = _lookup(df, dims)
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(df)
    for r in rows:
        v, f = got[tuple(r[d] for d in dims) + (r["TIME_PERIOD"],)]
        assert _same(v, _num(r["OBS_VALUE"])) and f == expected_flag(r)


def test_sdmx_csv_1_linear_matches_csv_module():
    path = M / "rd_e_gerdtot" / "rd_e_gerdtot__custom_3182159_linear.csv"
    df = read_eurostat_file(path)
    dims = ["freq", "sectperf", "unit", "geo"]
    _check_tidy(df, dims)
    _assert_matches_csv_module(df, path, dims, lambda r: r["OBS_FLAG"])
    assert df.attrs["format"] == "sdmx_csv_1"
    assert df.attrs["vintage"] == "2022-03-15T11:00:00"  # LAST UPDATE 15/03/22 11:00:00
    assert df.attrs["dataset"] == "rd_e_gerdtot"
    assert len(df.attrs["sha256"]) == 64


@pytest.mark.parametrize("name, dims", [
    ("tgs00042/eurostat_tgs00042_gerd_rd_expenditure.csv", ["freq", "sectperf", "unit", "geo"]),
    ("nama_10r_2gdp/eurostat_nama_10r_2gdp.csv", ["freq", "unit", "geo"]),
])
def test_sdmx_csv_2_with_labels_matches_csv_module(name, dims):
    path = M / name
    df = read_eurostat_file(path)
    _check_tidy(df, dims)
    # the TSV writes confidentiality as "@C" after the flags; the reader does the same
    _assert_matches_csv_module(df, path, dims, lambda r: r["OBS_FLAG"] + (
        f"@{r['CONF_STATUS']}" if r["CONF_STATUS"] else ""))
    assert df.attrs["format"] == "sdmx_csv_2"
    # the file's own code/label pairs are kept for reference
    assert df.attrs["labels"]["geo"]["BG31"] == "Severozapaden"


def _label_rows(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _independent_label_map():
    with open(data_dir() / "eurostat" / "codelists" / "labels.csv", encoding="utf-8", newline="") as fh:
        return {(r["dimension"], r["label"]): r["code"] for r in csv.DictReader(fh)}


@pytest.mark.parametrize("name, dims", [
    ("rd_e_gerdtot/rd_e_gerdtot_1_Data.csv", ["sectperf", "unit", "geo"]),
    ("gba_nabsfin07/gba_nabsfin07_1_Data.csv", ["nabs07", "unit", "geo"]),
    ("nama_10_gdp/nama_10_gdp_1_Data.csv", ["unit", "na_item", "geo"]),
])
def test_legacy_export_with_labels_maps_to_codes(name, dims):
    path = M / name
    df = read_eurostat_file(path)
    _check_tidy(df, dims)
    assert sorted(df.attrs["labelled"]) == sorted(dims)
    lab = _independent_label_map()
    got = _lookup(df, dims)
    rows = _label_rows(path)
    assert len(rows) == len(df)
    for r in rows:
        key = tuple(lab[(d, r[d.upper()])] for d in dims) + (r["TIME"],)
        v, f = got[key]
        assert _same(v, _num(r["Value"])) and f == r["Flag and Footnotes"]


def test_thousands_separator_and_colon():
    df = read_eurostat_file(M / "rd_e_gerdtot" / "rd_e_gerdtot_1_Data.csv")
    rows = _label_rows(M / "rd_e_gerdtot" / "rd_e_gerdtot_1_Data.csv")
    spaced = next(r for r in rows if " " in r["Value"])          # e.g. "229 582.474"
    colon = next(r for r in rows if r["Value"] == ":")
    lab = _independent_label_map()
    got = _lookup(df, ["sectperf", "unit", "geo"])
    for r in (spaced, colon):
        key = (lab[("sectperf", r["SECTPERF"])], lab[("unit", r["UNIT"])], lab[("geo", r["GEO"])], r["TIME"])
        v = got[key][0]
        if r is spaced:
            assert v == float(r["Value"].replace(" ", ""))
        else:
            assert math.isnan(v)


def test_label_map_agrees_with_coded_copy_of_same_dataset():
    """Every label row backed by a value match is re-derived: the labelled rd_e_gerdtot export
    and the coded rd_e_gerdtot.tsv (read by the TSV parser, another code path) share values."""
    labelled = read_eurostat_file(M / "rd_e_gerdtot" / "rd_e_gerdtot_1_Data.csv")
    coded = read_eurostat_file(M / "rd_e_gerdtot" / "rd_e_gerdtot.tsv")
    dims = ["sectperf", "unit", "geo"]
    for d in dims + ["time"]:
        labelled[d] = labelled[d].astype(str)
        coded[d] = coded[d].astype(str)
    m = labelled.merge(coded, on=dims + ["time"], suffixes=("_l", "_c"))
    both = m.dropna(subset=["value_l", "value_c"])
    # The two files are a month apart. PPS figures were revised in between (new PPPs: only
    # 10-30% still equal), so the check uses the currency units; there the mapping must make
    # the overwhelming majority identical, overall and for every geo.
    both = both[both["unit"].isin(["MIO_EUR", "EUR_HAB", "MIO_NAC"])]
    assert (both["value_l"] == both["value_c"]).mean() > 0.95
    per_geo = both.assign(eq=both["value_l"] == both["value_c"]).groupby("geo")["eq"].mean()
    assert (per_geo > 0.5).all(), per_geo[per_geo <= 0.5]


def test_nabs_total_codes_by_arithmetic():
    """TOTALXNABS14 (total civil) = chapters 1-13 and TOTAL = 1-14, BG and EU28 in MIO_NAC/MIO_EUR."""
    df = read_eurostat_file(M / "gba_nabsfin07" / "gba_nabsfin07_1_Data.csv")
    for geo, unit in (("BG", "MIO_NAC"), ("EU28", "MIO_EUR")):
        x = df[(df.geo == geo) & (df.unit == unit) & (df.time == "2015")]
        x = x.set_index(x["nabs07"].astype(str))["value"]
        chapters = [f"NABS{i:02d}" for i in range(1, 15)]
        assert x[chapters[:-1]].sum() == pytest.approx(x["TOTALXNABS14"], abs=0.01 * 13)
        assert x[chapters].sum() == pytest.approx(x["TOTAL"], abs=0.01 * 14)


def test_legacy_export_with_codes_and_label_file():
    path = M / "bd_enace2_r3" / "bd_enace2_r3_1_Data.csv"
    df = read_eurostat_file(path)
    dims = ["indic_sb", "nace_r2", "geo"]
    _check_tidy(df, dims)
    assert df.attrs["labelled"] == []
    got = _lookup(df, dims)
    rows = _label_rows(path)
    for r in rows:
        v, _ = got[(r["INDIC_SB"], r["NACE_R2"], r["GEO"], r["TIME"])]
        assert _same(v, _num(r["Value"]))
    # LAST UPDATE: 19.04.21 09:16:42 in the companion file
    assert df.attrs["vintage"] == "2021-04-19T09:16:42"
    assert df.attrs["extraction_date"] == "2021-06-22T13:37:35"


def test_tsv_formats_via_parse_tsv_and_gzip():
    path = M / "nama_10r_2gdp" / "nama_10r_2gdp.tsv.gz"
    df = read_eurostat_file(path)
    assert df.attrs["format"] == "bulk_tsv"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    years = [y.strip() for y in lines[0].split("\t")[1:]]
    got = _lookup(df, ["unit", "geo"])
    for line in lines[1:200]:
        parts = line.split("\t")
        unit, geo = parts[0].split(",")
        for y, cell in zip(years, parts[1:]):
            value, _, flag = cell.strip().partition(" ")
            v, f = got[(unit, geo, y)]
            assert _same(v, _num(value)) and f == flag


def test_sdmx_tsv_crlf_population_stated_in_provenance():
    path = M / "demo_r_pjanaggr3" / "demo_r_pjanaggr3.tsv"
    df = read_eurostat_file(path)
    assert df.attrs["format"] == "sdmx_tsv"
    bg = df[(df.geo == "BG") & (df.sex == "T") & (df.age == "TOTAL") & (df.time == "2016")]["value"]
    assert bg.tolist() == [6938759.0]  # PROVENANCE.md: BG, 1 Jan 2016 = 6,938,759
    line = next(ln for ln in path.read_bytes().decode().split("\r\n") if ln.startswith("A,NR,T,TOTAL,BG\t"))
    assert float(line.split("\t")[1].strip()) == 6938759.0


def test_gzipped_csv_reads_the_same(tmp_path):
    src = M / "nama_10_gdp" / "nama_10_gdp_1_Data.csv"
    gz = tmp_path / "nama_10_gdp_1_Data.csv.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    a, b = read_eurostat_file(src), read_eurostat_file(gz)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["sha256"] != b.attrs["sha256"]  # hash is of the file as stored


@pytest.mark.parametrize("stem, sector", [("private", "BES"), ("government", "GOV")])
def test_nesta_derived_extract(stem, sector):
    for level in (0, 1, 2):
        path = M / "rd_e_gerdreg" / f"nesta_eurito_rd_{stem}_eur_hab.nuts{level}.csv"
        df = read_eurostat_file(path)
        assert df.attrs["derived"] is True and df.attrs["format"] == "nesta_extract"
        assert set(df["sectperf"].astype(str)) == {sector} and set(df["unit"].astype(str)) == {"EUR_HAB"}
        got = _lookup(df, ["geo"])
        rows = _label_rows(path)
        assert len(rows) == len(df)
        for r in rows:
            assert _same(got[(r["nuts_id"], r["year"])][0], _num(r[f"r&d_{stem}_eur_hab"]))


def test_tgs00096_derived_extract():
    path = M / "tgs00096_region_population" / "nuts2_population_gdp_2007_2018_from_tgs00096_tgs00003.csv"
    df = read_eurostat_file(path)
    assert df.attrs["derived"] is True
    got = _lookup(df, ["dataset", "geo"])
    for r in _label_rows(path):
        assert _same(got[("tgs00096", r["geo"], r["year"])][0], _num(r["region_population_tgs00096"]))
        assert _same(got[("tgs00003", r["geo"], r["year"])][0], _num(r["region_gdp_mio_eur_tgs00003"]))


def test_detect_format_first_lines():
    assert detect_format("freq,unit,geo\\TIME_PERIOD\t2016 ") == "sdmx_tsv"
    assert detect_format("unit,geo\\time\t2014 ") == "bulk_tsv"
    assert detect_format('"TIME","GEO","UNIT","Value"') == "legacy_csv"
    assert detect_format("hello,world") == "unknown"


# ---- malformed files: errors name the file, the line and the reason --------------------------

def _broken_copy(tmp_path, name, edit):
    src = M / name
    dst = tmp_path / src.name
    lines = src.read_text(encoding="utf-8").split("\n")
    edit(lines)
    dst.write_text("\n".join(lines), encoding="utf-8")
    return dst


def test_unmapped_label_is_listed(tmp_path):
    def edit(lines):
        lines[1] = lines[1].replace("European Union (28 countries)", "Atlantis")
        lines[2] = lines[2].replace("All sectors", "Some sectors")
    path = _broken_copy(tmp_path, "rd_e_gerdtot/rd_e_gerdtot_1_Data.csv", edit)
    with pytest.raises(EurostatFileError, match=r"Atlantis.*Some sectors|geo: \['Atlantis'\]") as info:
        read_eurostat_file(path)
    assert "Atlantis" in str(info.value) and "Some sectors" in str(info.value)
    assert path.name in str(info.value)


def test_wrong_field_count_names_line(tmp_path):
    path = _broken_copy(tmp_path, "rd_e_gerdtot/rd_e_gerdtot__custom_3182159_linear.csv",
                        lambda lines: lines.__setitem__(5, lines[5] + ",extra"))
    with pytest.raises(EurostatFileError, match=r"line 6: 10 fields, header has 9"):
        read_eurostat_file(path)


def test_bad_value_names_line(tmp_path):
    def edit(lines):
        lines[2] = lines[2].replace('"460.7"', '"46O.7"')
    path = _broken_copy(tmp_path, "rd_e_gerdtot/rd_e_gerdtot_1_Data.csv", edit)
    with pytest.raises(EurostatFileError, match=r"line 3: Value '46O.7' is not a number"):
        read_eurostat_file(path)


def test_bad_flag_names_line(tmp_path):
    path = _broken_copy(tmp_path, "tgs00042/eurostat_tgs00042_gerd_rd_expenditure.csv",
                        lambda lines: lines.__setitem__(1, lines[1].replace(",b,break", ",B!,break")))
    with pytest.raises(EurostatFileError, match=r"line 2: OBS_FLAG 'B!"):
        read_eurostat_file(path)


def test_unknown_format_and_corrupt_gzip(tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n")
    with pytest.raises(EurostatFileError, match=r"odd.csv, line 1: not a recognised"):
        read_eurostat_file(odd)
    bad = tmp_path / "broken.tsv.gz"
    bad.write_bytes((M / "nama_10r_2gdp" / "nama_10r_2gdp.tsv.gz").read_bytes()[:500])
    with pytest.raises(EurostatFileError, match=r"broken.tsv.gz.*gzip"):
        read_eurostat_file(bad)


def test_malformed_tsv_error_names_file(tmp_path):
    src = M / "tgs00042" / "estat_tgs00042.tsv"
    lines = src.read_text().split("\n")
    lines[4] = lines[4] + "\t9.9 "
    dst = tmp_path / "estat_tgs00042.tsv"
    dst.write_text("\n".join(lines))
    with pytest.raises(EurostatFileError, match=r"estat_tgs00042.tsv.*row 5"):
        read_eurostat_file(dst)


def test_label_table_has_evidence_for_every_row():
    table = pd.read_csv(data_dir() / "eurostat" / "codelists" / "labels.csv", dtype=str, keep_default_na=False)
    assert (table["evidence"].str.len() > 10).all()
    assert not table.duplicated(["dimension", "label"]).any()
    assert label_maps()["geo"]["Bulgaria"] == "BG"


def test_tsv_and_sdmx_csv_of_one_table_have_the_same_shape():
    """tgs00042 as SDMX TSV (recorded 2026-05) and as SDMX-CSV 2.0 (2026-02): same columns and
    types; the confidential cells (CONF_STATUS=C in the CSV, '@C' in the TSV) are the same cells."""
    a = read_eurostat_file(M / "tgs00042" / "estat_tgs00042.tsv")
    b = read_eurostat_file(M / "tgs00042" / "eurostat_tgs00042_gerd_rd_expenditure.csv")
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        assert type(a[col].dtype) is type(b[col].dtype), col
    assert a["time"].cat.ordered and b["time"].cat.ordered

    def conf(df):
        x = df[df["flag"].astype(str).str.contains("@C")]
        return set(zip(x["geo"].astype(str), x["time"].astype(str)))
    assert conf(a) == conf(b) and len(conf(a)) > 0
