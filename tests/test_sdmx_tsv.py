"""parse_tsv against recorded Eurostat files (checked with a plain line-by-line parse) and fixtures."""
from __future__ import annotations

import gzip
import math

import pandas as pd
import pytest

from clusterstats._paths import mirror_dir
from clusterstats.sdmx_tsv import TSVFormatError, decode_flags, parse_tsv

EUROSTAT = mirror_dir() / "eurostat"
TGS = EUROSTAT / "tgs00042" / "estat_tgs00042.tsv"
GERDTOT = EUROSTAT / "rd_e_gerdtot" / "rd_e_gerdtot.tsv"
LFS = EUROSTAT / "lfst_r_lfe2en2" / "lfst_r_lfe2en2.tsv.gz"

needs_mirror = pytest.mark.skipif(not TGS.exists(), reason="shared mirror not available")


def plain_parse(text: str) -> dict[tuple, tuple[float, str | None]]:
    """An independent, deliberately naive reader: {(codes..., period): (value, flag)}."""
    lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if ln]
    periods = [p.strip() for p in lines[0].split("\t")[1:]]
    out = {}
    for line in lines[1:]:
        fields = line.split("\t")
        codes = tuple(fields[0].split(","))
        for period, cell in zip(periods, fields[1:]):
            cell = cell.strip()
            value, _, flag = cell.partition(" ")
            out[codes + (period,)] = (math.nan if value == ":" else float(value), flag.strip() or None)
    return out


def frame_to_dict(df: pd.DataFrame) -> dict[tuple, tuple[float, str | None]]:
    dims = [c for c in df.columns if c not in ("value", "flag")]
    keys = zip(*(df[c].astype(str) for c in dims))
    flags = df["flag"].astype(object).where(df["flag"].notna(), None)
    return {k: (v, f) for k, v, f in zip(keys, df["value"], flags)}


def same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k, (v1, f1) in a.items():
        v2, f2 = b[k]
        if f1 != f2 or not (v1 == v2 or (math.isnan(v1) and math.isnan(v2))):
            return False
    return True


@needs_mirror
@pytest.mark.parametrize("path", [TGS, GERDTOT, LFS], ids=lambda p: p.name)
def test_every_cell_matches_a_plain_parse(path):
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8")
    df = parse_tsv(raw, source=path.name)
    assert same(frame_to_dict(df), plain_parse(text))


@needs_mirror
def test_tgs00042_columns_dtypes_and_bulgarian_regions():
    text = TGS.read_text()
    df = parse_tsv(text)
    assert list(df.columns) == ["freq", "sectperf", "unit", "geo", "time", "value", "flag"]
    assert df["value"].dtype == "float64"
    assert isinstance(df["flag"].dtype, pd.CategoricalDtype)
    expected = plain_parse(text)
    for geo in ("BG31", "BG41"):
        row = df[(df.geo == geo) & (df.time == "2016")]
        assert len(row) == 1
        assert row["value"].iloc[0] == expected[("A", "TOTAL", "PC_GDP", geo, "2016")][0]
    # the recorded file has `b` flags and `:` cells; NA (not "" or ":") where a cell has no flag
    assert (df["flag"] == "b").sum() > 0
    assert not df["flag"].isin(["", ":"]).any()
    assert df["value"].isna().sum() == sum(math.isnan(v) for v, _ in expected.values())


@needs_mirror
def test_crlf_and_gzip_give_the_same_frame_as_the_recorded_lf_file():
    raw = TGS.read_bytes()
    wire = gzip.compress(raw.replace(b"\n", b"\r\n"))
    pd.testing.assert_frame_equal(parse_tsv(wire), parse_tsv(raw))


@needs_mirror
def test_old_bulk_file_periods_come_out_ascending_and_flags_kept():
    df = parse_tsv(GERDTOT.read_bytes())
    assert list(df.columns[:3]) == ["sectperf", "unit", "geo"]
    first = df[(df.sectperf == "BES") & (df.unit == "EUR_HAB") & (df.geo == "AT")]
    assert list(first["time"].astype(str)) == sorted(first["time"].astype(str))
    assert {"p", "e", "b", "d"} <= set(df["flag"].dropna().astype(str))


@needs_mirror
def test_flags_false_drops_the_flag_column():
    df = parse_tsv(TGS.read_bytes(), flags=False)
    assert "flag" not in df.columns


@pytest.mark.format_fixture
def test_confidential_and_not_significant_cells():
    text = "unit,geo\\TIME_PERIOD\t2015 \t2016 \nNR,XX\t: c\t0n\nNR,YY\t1.5 bp\t: @C\n"
    df = parse_tsv(text)
    assert df["value"].isna().tolist() == [True, True, False, True]
    assert df["flag"].astype(object).tolist() == ["c", "n", "bp", "@C"]
    assert decode_flags(df["flag"]).tolist() == [
        "confidential", "not significant", "break in time series; provisional", "confidential"]


@pytest.mark.format_fixture
def test_header_only_gives_an_empty_frame_with_the_columns():
    df = parse_tsv("freq,geo\\TIME_PERIOD\t2016 \r\n")
    assert list(df.columns) == ["freq", "geo", "time", "value", "flag"] and df.empty


@pytest.mark.format_fixture
@pytest.mark.parametrize("text, message", [
    ("freq,geo\\TIME_PERIOD\t2015 \t2016 \nA,BG\t1 \t2 \nA,RO\t3 \n", "row 3: expected 3"),
    ("freq,geo\\TIME_PERIOD\t2015 \t2016 \nA,BG\t1 \t2 \nA,RO,X\t3 \t4 \n", "row 3: key 'A,RO,X' has 3"),
    ("freq,geo\\TIME_PERIOD\t2015 \t2016 \nA,BG\t1 \tabc \n", "row 2, period '2016'"),
    ("<!DOCTYPE html><html><body>Service unavailable</body></html>", "row 1: header"),
    ("", "empty body"),
])
def test_malformed_input_names_row_and_reason(text, message):
    with pytest.raises(TSVFormatError, match=message) as info:
        parse_tsv(text, source="fixture.tsv")
    assert "fixture.tsv" in str(info.value)


@pytest.mark.format_fixture
def test_truncated_gzip_is_a_clear_error():
    wire = gzip.compress(b"freq,geo\\TIME_PERIOD\t2016 \r\nA,BG\t1 \r\n" * 50)
    with pytest.raises(TSVFormatError, match="truncated or corrupt"):
        parse_tsv(wire[: len(wire) // 2], source="x")


@needs_mirror
@pytest.mark.parametrize("path", [TGS, GERDTOT], ids=lambda p: p.name)
def test_general_path_agrees_with_the_fast_path(path, monkeypatch):
    """The fast path (space -> tab, typed CSV read) and the general one give the same frame."""
    import clusterstats.sdmx_tsv as st

    fast = parse_tsv(path.read_bytes())

    def refuse(*args, **kwargs):
        raise st._NotSimple

    monkeypatch.setattr(st, "_cells_fast", refuse)
    pd.testing.assert_frame_equal(parse_tsv(path.read_bytes()), fast)


@pytest.mark.format_fixture
def test_irregular_spacing_inside_cells_is_still_read():
    text = "unit,geo\\TIME_PERIOD\t2015 \t2016\nNR,XX\t1.5\t2  p\nNR,YY\t:\t 3 e\n"
    df = parse_tsv(text)
    assert df["value"].tolist()[:2] == [1.5, 2.0] and math.isnan(df["value"].iloc[2])
    assert df["flag"].astype(object).where(df["flag"].notna(), None).tolist() == [None, "p", None, "e"]
    pd.testing.assert_series_equal(parse_tsv(text, flags=False)["value"], df["value"])


@needs_mirror
@pytest.mark.parametrize("path", [TGS, LFS], ids=lambda p: p.name)
def test_a_path_is_read_as_a_stream_with_the_same_result(path):
    pd.testing.assert_frame_equal(parse_tsv(path), parse_tsv(path.read_bytes()))


# --------------------------------------------------------------------------- issue 13 (format checks)
def _tgs_lines(n: int = 4) -> list[str]:
    return TGS.read_text().split("\n")[:n]


@needs_mirror
@pytest.mark.parametrize("spaced", ["split digits", "split digits + flag"])
def test_space_inside_a_value_is_not_read_as_a_flag(spaced):
    lines = _tgs_lines()
    fields = lines[2].split("\t")
    value = fields[1].split(" ")[0]                      # e.g. "1.6"
    fields[1] = value[0] + " " + value[1:] + (" b" if spaced.endswith("flag") else " ")
    lines[2] = "\t".join(fields)
    with pytest.raises(TSVFormatError, match=r"row 3, period '2013'.*is not a Eurostat flag"):
        parse_tsv("\n".join(lines) + "\n")


@needs_mirror
def test_repeated_series_and_bad_header_period_are_refused():
    lines = _tgs_lines()
    with pytest.raises(TSVFormatError, match=r"series key 'A,TOTAL,PC_GDP,AT11'.*more than one row"):
        parse_tsv("\n".join(lines + [lines[1]]) + "\n")
    bad = lines[0].replace("2015 ", "2015\ufffd", 1)
    with pytest.raises(TSVFormatError, match=r"header column '2015\ufffd' is not a period"):
        parse_tsv("\n".join([bad] + lines[1:]) + "\n")
    raw = ("\n".join(lines) + "\n").encode().replace(b"2015 ", b"2015\xff", 1)
    with pytest.raises(TSVFormatError, match=r"header is not UTF-8"):
        parse_tsv(raw)


def test_period_grammar_and_overlap():
    from clusterstats.sdmx_tsv import in_period, period_freq, period_range

    assert [period_freq(p) for p in ("2020", "2020-S2", "2020-Q3", "2020-07", "2020M07", "2020-W53",
                                     "2020-07-31", "2020M07D31")] == ["A", "S", "Q", "M", "M", "W", "D", "D"]
    assert period_range("2021-W53") is None and period_range("2020-13") is None
    assert period_range("2020\ufffd") is None
    weeks = [f"2020-W{w:02d}" for w in range(1, 54)]
    assert [w for w in weeks if in_period(w, "2020-12", None)] == [f"2020-W{w}" for w in range(49, 54)]
    assert [m for m in (f"2020M{i:02d}" for i in range(1, 13)) if in_period(m, "2020-11", None)] == ["2020M11", "2020M12"]
    assert in_period("2016-Q4", None, "2016") and not in_period("2017-Q1", None, "2016")
