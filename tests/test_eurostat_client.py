"""get_eurostat against recorded Eurostat files replayed on 127.0.0.1 (tests/replay_server.py).

The data bytes are recorded files from the shared mirror, sent with CRLF and gzip as the live
service does. The structure messages (dataflow, DSD, content constraint) were never recorded, so the
server builds minimal ones from each file's TSV header: every test that goes through the live path
uses them and is therefore marked ``constructed``. Expected numbers are read from the recorded file
with a plain line-by-line parse, never typed in.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import pandas as pd
import pytest

import clusterstats.eurostat as es
from clusterstats._paths import mirror_dir
from replay_server import Fault, ReplayServer, datastructure_xml, RecordedDataset

EUROSTAT = mirror_dir() / "eurostat"
TGS = EUROSTAT / "tgs00042" / "estat_tgs00042.tsv"
GERDTOT = EUROSTAT / "rd_e_gerdtot" / "rd_e_gerdtot.tsv"

pytestmark = pytest.mark.skipif(not TGS.exists(), reason="shared mirror not available")


def recorded(path: Path) -> dict[tuple, tuple[float, str | None]]:
    """Plain parse of a recorded TSV: {(codes..., period): (value, flag)}."""
    lines = [ln for ln in path.read_text().split("\n") if ln]
    periods = [p.strip() for p in lines[0].split("\t")[1:]]
    out = {}
    for line in lines[1:]:
        fields = line.split("\t")
        for period, cell in zip(periods, fields[1:]):
            value, _, flag = cell.strip().partition(" ")
            out[tuple(fields[0].split(",")) + (period,)] = (
                math.nan if value == ":" else float(value), flag.strip() or None)
    return out


def tree_digest(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def live(tmp_path, monkeypatch):
    """A replay server for tgs00042, an empty cache, fast retry settings; waits are recorded."""
    server = ReplayServer().start()
    server.add_dataset("tgs00042", TGS, last_update="2026-04-24T23:00:00+0200")
    monkeypatch.setenv("CLUSTERSTATS_EUROSTAT_URL", server.base_url)
    monkeypatch.setenv("CLUSTERSTATS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CLUSTERSTATS_MIRROR", raising=False)
    monkeypatch.delenv("CLUSTERSTATS_OFFLINE", raising=False)
    monkeypatch.setattr(es, "settings", es.Settings(timeout=0.5, retries=3, backoff=0.25,
                                                    max_wait=30, poll_interval=1.5, max_polls=5,
                                                    progress=False))
    waits: list[float] = []
    monkeypatch.setattr(es, "_sleep", waits.append)
    server.waits = waits
    server.cache_root = tmp_path / "cache"
    yield server
    server.stop()



@pytest.mark.constructed
def test_multi_value_filter_is_one_request_with_real_values(live):
    df = es.get_eurostat("tgs00042", {"geo": ["BG41", "BG31"]})
    assert len(live.data_requests()) == 1
    path, query = live.data_requests()[0]
    assert path.endswith("/data/TGS00042/...BG31+BG41")  # key slots: freq.sectperf.unit.geo
    assert query["format"] == ["TSV"] and query["compressed"] == ["true"]
    expected = recorded(TGS)
    assert set(df["geo"].astype(str)) == {"BG31", "BG41"}
    for geo in ("BG31", "BG41"):
        got = df[(df.geo == geo) & (df.time == "2016")]["value"].iloc[0]
        assert got == expected[("A", "TOTAL", "PC_GDP", geo, "2016")][0]
    assert len(df) == 2 * len([k for k in expected if k[3] == "BG31"])
    a = df.attrs
    assert a["source"] == "live" and a["dataset"] == "tgs00042"
    assert a["filters"] == {"geo": ["BG31", "BG41"]}
    assert a["last_update"] == "2026-04-24T23:00:00+0200"
    assert a["url"].startswith(live.base_url) and a["retrieved_at"].endswith("+00:00")
    manifest = es.Cache(live.cache_root).entries()
    assert manifest[a["query_id"]]["sha256"] == a["sha256"]


@pytest.mark.constructed
def test_flags_survive_filtering(live):
    expected = recorded(TGS)
    flagged = sorted({k[3] for k, (_, f) in expected.items() if f == "b"})[:3]
    df = es.get_eurostat("tgs00042", {"geo": flagged, "unit": "PC_GDP"})
    got = {(g, t): f for g, t, f in zip(df.geo.astype(str), df.time.astype(str),
                                         df.flag.astype(object))}
    for (_, _, _, geo, period), (_, flag) in expected.items():
        if geo in flagged:
            assert (got[(geo, period)] if pd.notna(got[(geo, period)]) else None) == flag
    assert (df["flag"] == "b").any()


@pytest.mark.constructed
def test_second_call_is_served_from_cache_and_refresh_refetches(live):
    first = es.get_eurostat("tgs00042", {"geo": "BG31"})
    second = es.get_eurostat("tgs00042", {"geo": ["BG31"]})
    assert len(live.data_requests()) == 1
    assert second.attrs["source"] == "cache" and second.attrs["sha256"] == first.attrs["sha256"]
    pd.testing.assert_frame_equal(first, second)
    third = es.get_eurostat("tgs00042", {"geo": "BG31"}, refresh=True)
    assert len(live.data_requests()) == 2 and third.attrs["source"] == "live"


@pytest.mark.constructed
def test_period_bounds_go_into_the_request(live):
    df = es.get_eurostat("tgs00042", {"geo": "BG41"}, start=2015, end="2017")
    _, query = live.data_requests()[0]
    assert query["startPeriod"] == ["2015"] and query["endPeriod"] == ["2017"]
    assert list(df["time"].astype(str)) == ["2015", "2016", "2017"]


@pytest.mark.constructed
def test_unknown_dimension_or_code_lists_the_valid_ones(live):
    with pytest.raises(es.UnknownFilterError, match="dimensions are: freq, sectperf, unit, geo"):
        es.get_eurostat("tgs00042", {"region": "BG31"})
    with pytest.raises(es.UnknownFilterError, match=r"geo=BG99 not in the dataset.*BG31"):
        es.get_eurostat("tgs00042", {"geo": ["BG31", "BG99"]})
    assert live.data_requests() == []


@pytest.mark.constructed
def test_offline_with_empty_cache_names_the_missing_query(live, monkeypatch):
    monkeypatch.setenv("CLUSTERSTATS_OFFLINE", "1")
    with pytest.raises(es.OfflineError, match="tgs00042"):
        es.get_eurostat("tgs00042", {"geo": "BG31"})
    assert live.requests == []


@pytest.mark.constructed
def test_offline_serves_a_cached_query_without_any_request(live, monkeypatch):
    online = es.get_eurostat("tgs00042", {"geo": ["BG31", "BG41"]}, start="2014")
    live.requests.clear()
    monkeypatch.setenv("CLUSTERSTATS_OFFLINE", "1")
    offline = es.get_eurostat("tgs00042", {"geo": ["BG41", "BG31"]}, start="2014")
    assert live.requests == [] and offline.attrs["source"] == "cache"
    pd.testing.assert_frame_equal(online, offline)
    with pytest.raises(es.OfflineError, match=r"key '\.\.\.BG32'"):
        es.get_eurostat("tgs00042", {"geo": "BG32"})


# --------------------------------------------------------------------------- fault matrix
RECOVERS = {
    "500 then 200": [Fault("status", 500, body=b"Internal error")],
    "503 twice then 200": [Fault("status", 503), Fault("status", 503)],
    "429 with Retry-After": [Fault("status", 429, headers={"Retry-After": "7"})],
    "timeout then 200": [Fault("sleep", seconds=1.5)],
    "async queued then available": [Fault("async", polls=2)],
}


@pytest.mark.constructed
@pytest.mark.parametrize("name", list(RECOVERS))
def test_faults_that_recover(live, name):
    live.queue_faults(*RECOVERS[name])
    df = es.get_eurostat("tgs00042", {"geo": ["BG31", "BG41"]})
    expected = recorded(TGS)
    assert df[(df.geo == "BG41") & (df.time == "2016")]["value"].iloc[0] == \
        expected[("A", "TOTAL", "PC_GDP", "BG41", "2016")][0]
    if name.startswith("429"):
        assert live.waits == [7.0]  # the server's Retry-After, not our backoff
    elif name.startswith("async"):
        assert live.waits == [1.5, 1.5]  # polite polls, not a busy loop
        assert sum("/1.0/async/status/" in p for p, _ in live.requests) == 2
    else:
        assert live.waits == [0.25 * 2 ** i for i in range(len(RECOVERS[name]))]


FAILS = {
    "HTTP 500 until retries run out": ([Fault("status", 500)] * 4, es.EurostatHTTPError,
                                       "after 4 attempts"),
    "HTTP 413 too large": ([Fault("status", 413, body=b"EXTRACTION_TOO_BIG")], es.QueryTooLargeError,
                           r"about 24 cells \(freq 1 x sectperf 1 x unit 1 x geo 2 x periods 12\)"),
    "HTTP 400": ([Fault("status", 400, body=b"Bad request")], es.EurostatHTTPError, "HTTP 400"),
    "truncated gzip": ([Fault("truncate")], es.EurostatResponseError, "truncated or corrupt"),
    "HTML page with status 200": ([Fault("html")], es.EurostatResponseError, "HTML page"),
    "empty body": ([Fault("empty")], es.EurostatResponseError, "empty response body"),
    "malformed row": ([Fault("malformed")], es.EurostatResponseError, r"row 2: expected 13"),
}


@pytest.mark.constructed
@pytest.mark.parametrize("name", list(FAILS))
@pytest.mark.parametrize("refresh", [False, True], ids=["new-query", "refresh-of-cached"])
def test_faults_that_fail_leave_the_cache_byte_identical(live, name, refresh):
    good = es.get_eurostat("tgs00042", {"geo": ["BG31", "BG41"]})
    if not refresh:  # make the failing query a different one
        es.get_eurostat("tgs00042", {"geo": "AT11"})
    before = tree_digest(live.cache_root)
    faults, error, message = FAILS[name]
    live.queue_faults(*faults)
    with pytest.raises(error, match=message) as info:
        es.get_eurostat("tgs00042", {"geo": ["BG31", "BG41"] if refresh else ["BG32", "BG33"]},
                        refresh=refresh)
    assert "tgs00042" in str(info.value) and live.base_url in str(info.value)
    assert tree_digest(live.cache_root) == before
    if refresh:  # the good copy is still served
        again = es.get_eurostat("tgs00042", {"geo": ["BG31", "BG41"]})
        assert again.attrs["source"] == "cache" and again.attrs["sha256"] == good.attrs["sha256"]


@pytest.mark.constructed
def test_header_only_answer_gives_an_empty_frame_and_is_not_cached(live):
    """An empty answer (header, no rows) is returned as an empty frame with a warning."""
    es.get_structure("tgs00042")
    before = tree_digest(live.cache_root)
    live.queue_faults(Fault("header_only"))
    with pytest.warns(UserWarning, match="no rows"):
        df = es.get_eurostat("tgs00042", {"geo": "BG31"})
    assert df.empty and list(df.columns) == ["freq", "sectperf", "unit", "geo", "time", "value", "flag"]
    assert tree_digest(live.cache_root) == before


# --------------------------------------------------------------------------- DSD order
@pytest.mark.constructed
def test_key_positions_follow_numeric_dsd_order_with_eleven_dimensions():
    """The eurostat package sorts positions as strings ("10" < "2"); we must not."""
    dims = [f"d{i}" for i in range(1, 12)]
    ds = RecordedDataset("X", dims, "TIME_PERIOD", ["2016"], "", [])
    xml = datastructure_xml(ds, order=[10, 9, 1, 0, 2, 3, 4, 5, 6, 7, 8])  # shuffled in the XML
    parsed = es._parse_dsd(xml, "X", "constructed")
    assert list(parsed) == dims
    key = es.build_key(parsed, {"d10": ("TEN",), "d2": ("B", "A")})
    assert key.split(".")[9] == "TEN" and key.split(".")[1] == "B+A"


# --------------------------------------------------------------------------- eurostat package
@pytest.mark.constructed
def test_eurostat_package_on_the_same_replay_gives_the_same_numbers(live, monkeypatch):
    """The eurostat 1.1.1 package, pointed at the replay server, vs get_eurostat.

    Constructed: its dataflow/DSD requests are answered with structure messages built from the
    recorded TSV header. It makes one data request per filter value; we make one in all.
    """
    import eurostat
    import eurostat.eurostat as pkg

    monkeypatch.setitem(pkg.__Uri__.BASE_URL, "EUROSTAT", live.base_url + "/")
    monkeypatch.setitem(pkg.__ra__, "timeout", 10.0)
    theirs = eurostat.get_data_df("tgs00042", flags=True, filter_pars={"geo": ["BG31", "BG41"]})
    their_requests = len(live.data_requests())
    ours = es.get_eurostat("tgs00042", {"geo": ["BG31", "BG41"]})
    assert their_requests == 2 and len(live.data_requests()) == 3
    value_cols = [c for c in theirs.columns if c.endswith("_value")]
    long = theirs.melt(id_vars=["geo\\TIME_PERIOD"], value_vars=value_cols, var_name="time")
    long["time"] = long["time"].str.replace("_value", "", regex=False)
    merged = long.merge(ours.assign(geo=ours.geo.astype(str), time=ours.time.astype(str)),
                        left_on=["geo\\TIME_PERIOD", "time"], right_on=["geo", "time"])
    assert len(merged) == len(ours) == len(long)
    pd.testing.assert_series_equal(merged["value_x"].astype(float), merged["value_y"],
                                   check_names=False)


# --------------------------------------------------------------------------- mirror mode
@pytest.fixture
def mirror(monkeypatch, tmp_path):
    monkeypatch.setenv("CLUSTERSTATS_MIRROR", str(mirror_dir()))
    monkeypatch.setenv("CLUSTERSTATS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CLUSTERSTATS_EUROSTAT_URL", "http://127.0.0.1:9/never-used")
    return tmp_path / "cache"


def test_mirror_picks_the_file_that_has_pc_gdp(mirror):
    df = es.get_eurostat("rd_e_gerdtot", {"unit": "PC_GDP", "geo": ["BG", "EU28"], "sectperf": "TOTAL"})
    assert df.attrs["source"] == "mirror"
    assert df.attrs["mirror_file"] == "eurostat/rd_e_gerdtot/rd_e_gerdtot.tsv"
    assert df.attrs["sha256"] == hashlib.sha256(GERDTOT.read_bytes()).hexdigest()
    expected = recorded(GERDTOT)
    for geo, t, v, f in zip(df.geo.astype(str), df.time.astype(str), df.value, df.flag.astype(object)):
        ev, ef = expected[("TOTAL", "PC_GDP", geo, t)]
        assert (v == ev or (math.isnan(v) and math.isnan(ev))) and (f if pd.notna(f) else None) == ef
    assert not mirror.exists()  # mirror mode never writes the cache


def test_mirror_without_a_covering_file_says_what_is_missing(mirror):
    with pytest.raises(es.MirrorCoverageError, match="geo lacks XX99"):
        es.get_eurostat("rd_e_gerdtot", {"unit": "PC_GDP", "geo": ["BG", "XX99"]})


def test_mirror_tsv_served_without_network(mirror):
    df = es.get_eurostat("tgs00042", {"geo": ["BG31", "BG41"]}, start="2016", end="2016")
    assert sorted(df["geo"].astype(str)) == ["BG31", "BG41"]
    expected = recorded(TGS)
    for geo, v in zip(df.geo.astype(str), df.value):
        assert v == expected[("A", "TOTAL", "PC_GDP", geo, "2016")][0]


@pytest.mark.constructed
def test_progress_bar_when_asked(live, capsys):
    es.get_eurostat("tgs00042", {"geo": "BG31"}, progress=True)
    assert "Eurostat" in capsys.readouterr().err


@pytest.mark.constructed
def test_a_query_that_selects_nothing_is_an_empty_frame_not_an_error(live):
    """Eurostat answers 404 "No results found"; we return an empty frame (rOpenGov #244)."""
    es.get_structure("tgs00042")
    before = tree_digest(live.cache_root)
    with pytest.warns(UserWarning, match="no rows"):
        df = es.get_eurostat("tgs00042", {"geo": "BG31"}, start="2030")
    assert df.empty and "geo" in df.columns and df.attrs["sha256"] is None
    assert tree_digest(live.cache_root) == before


@pytest.mark.constructed
def test_unknown_dataset_is_named(live):
    with pytest.raises(es.EurostatHTTPError, match="no dataset 'nosuch01'"):
        es.get_eurostat("nosuch01")
