"""The pinned snapshot: round trip, hashes, offline loading, diff, atomic failure."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from clusterstats import snapshot as snap
from clusterstats._paths import data_dir, mirror_dir
from clusterstats.cli import main
from clusterstats.provenance import sha256_file

HAVE_MIRROR = (mirror_dir() / "eurostat").exists()
needs_mirror = pytest.mark.skipif(not HAVE_MIRROR, reason="shared mirror not available")

SMALL_SPEC = {"entries": [
    {"name": "bd_enace2_r3", "dataset": "bd_enace2_r3",
     "source": ["eurostat/bd_enace2_r3/bd_enace2_r3_1_Data.csv"], "recorded": "2021-10-05"},
    {"name": "nama_10_gdp_bg", "dataset": "nama_10_gdp", "filters": {"geo": ["BG"]},
     "source": ["eurostat/nama_10_gdp/nama_10_gdp_1_Data.csv"], "recorded": "2018-02-23"},
    {"name": "lfst_bg", "dataset": "lfst_r_lfe2en2", "filters": {"geo": ["BG*"], "age": ["Y15-64"]},
     "source": ["eurostat/lfst_r_lfe2en2/lfst_r_lfe2en2.tsv.gz"], "recorded": "2017-05-02"},
    {"name": "nsi_pop", "dataset": "nsi_population_report", "reader": "nsi_population_by_district",
     "source": ["nsi/population/raw-nsi-population-report-02.06.2018.csv"], "recorded": "2018-06-04"},
]}


def _spec(tmp_path, spec=SMALL_SPEC) -> Path:
    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@needs_mirror
def test_round_trip_hashes_and_second_write_identical(tmp_path):
    out = tmp_path / "snap"
    manifest = snap.write_snapshot(_spec(tmp_path), out)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    for name, entry in manifest["entries"].items():
        assert sha256_file(out / entry["file"]) == entry["sha256"]
        assert entry["source"][0]["sha256"] == sha256_file(mirror_dir() / entry["source"][0]["path"])
        df = snap.load_snapshot(name, folder=out)
        assert len(df) == entry["rows"]
        assert df.attrs["source_kind"] == "snapshot" and df.attrs["name"] == name
        assert b"\r\n" not in first[entry["file"]]
    # values survive the CSV round trip exactly (compare with the reader's own frame)
    from clusterstats import read_eurostat_file
    orig = read_eurostat_file(mirror_dir() / "eurostat/nama_10_gdp/nama_10_gdp_1_Data.csv")
    orig = orig[orig.geo == "BG"].dropna(subset=["value"])
    back = snap.load_snapshot("nama_10_gdp_bg", folder=out)
    key = ["unit", "na_item", "geo", "time"]
    m = orig.astype({k: str for k in key}).merge(back.astype({k: str for k in key}), on=key)
    assert len(m) == len(orig) and (m["value_x"] == m["value_y"]).all()
    assert manifest["entries"]["bd_enace2_r3"]["vintage"] == "2021-04-19T09:16:42"
    assert manifest["entries"]["nama_10_gdp_bg"]["vintage_kind"].startswith("recorded")
    # filters with a prefix
    lf = snap.load_snapshot("lfst_bg", folder=out)
    assert set(lf["age"].astype(str)) == {"Y15-64"} and all(g.startswith("BG") for g in lf["geo"].astype(str))
    # a second build writes byte-identical files
    snap.write_snapshot(_spec(tmp_path), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first


def test_committed_snapshot_matches_its_manifest():
    for folder in snap.SNAPSHOT_FOLDERS:
        manifest = snap.read_manifest(data_dir() / folder)
        for entry in manifest["entries"].values():
            path = data_dir() / folder / entry["file"]
            assert sha256_file(path) == entry["sha256"], path
            with open(path, encoding="utf-8", newline="") as fh:
                assert sum(1 for _ in csv.reader(fh)) - 1 == entry["rows"]


def test_load_snapshot_without_mirror(monkeypatch, tmp_path):
    empty = tmp_path / "no_shared"
    empty.mkdir()
    monkeypatch.setenv("CLUSTERSTATS_SHARED", str(empty))
    assert not mirror_dir().exists()
    df = snap.load_snapshot("tgs00042")
    assert {"geo", "time", "value", "flag"} <= set(df.columns)
    assert df.attrs["vintage"] and df.attrs["source"][0]["path"] == "eurostat/tgs00042/estat_tgs00042.tsv"
    bg = snap.load_snapshot("demo_r_pjanaggr3")
    assert bg[(bg.geo == "BG") & (bg.time == "2016")]["value"].tolist() == [6938759.0]
    nsi = snap.load_snapshot("nsi_population_district")
    assert nsi.attrs["snapshot_folder"] == "nsi"


def test_two_gdp_vintages_are_separate_entries():
    a, b = snap.load_snapshot("nama_10r_2gdp_2017"), snap.load_snapshot("nama_10r_2gdp_2026")
    assert a.attrs["vintage"] != b.attrs["vintage"]
    assert a.attrs["source"] != b.attrs["source"]
    # they overlap in 2014 and disagree there (revisions), which is why they are never spliced
    k = ["unit", "geo", "time"]
    m = a.astype({c: str for c in k}).merge(b.astype({c: str for c in k}), on=k)
    assert len(m) > 0 and (m["value_x"] != m["value_y"]).any()


def test_unknown_name_lists_available():
    with pytest.raises(snap.SnapshotError, match=r"no snapshot entry 'nope'; available: .*tgs00042"):
        snap.load_snapshot("nope")


def test_tampered_file_is_caught(tmp_path):
    folder = tmp_path / "eurostat"
    shutil.copytree(data_dir() / "eurostat", folder)
    p = folder / "nama_10_gdp.csv"
    p.write_bytes(p.read_bytes().replace(b"\n", b"\n", 1) + b"")
    text = p.read_text().splitlines()
    text[1] = text[1].rsplit(",", 2)[0] + ",1.0,"
    p.write_text("\n".join(text) + "\n")
    with pytest.raises(snap.SnapshotError, match="sha256 differs"):
        snap.load_snapshot("nama_10_gdp", folder=folder)


def _edit_entry(folder: Path, name: str, edit) -> None:
    """Change a snapshot CSV and update its manifest hash (as a new vintage would)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = manifest["entries"][name]
    path = folder / entry["file"]
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    edit(rows)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    entry["sha256"] = sha256_file(path)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_diff_detects_revised_value_and_changed_flag(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(data_dir() / "eurostat", old)
    shutil.copytree(data_dir() / "eurostat", new)
    header = None

    def edit(rows):
        nonlocal header
        header = rows[0]
        vi, fi = header.index("value"), header.index("flag")
        rows[1][vi] = str(float(rows[1][vi]) + 1.5)          # a revision
        rows[2][fi] = "p" if rows[2][fi] != "p" else "e"     # a flag change
        del rows[3]                                          # an observation withdrawn
    _edit_entry(new, "nama_10_gdp", edit)
    table = snap.diff_snapshots(old, new)
    assert set(table["name"]) == {"nama_10_gdp"}
    assert sorted(table["change"]) == ["flag", "removed", "revised"]
    rev = table[table["change"] == "revised"].iloc[0]
    assert rev["new_value"] - rev["old_value"] == pytest.approx(1.5)
    assert main(["data", "diff", str(old), str(new), "--out", str(tmp_path / "d.csv")]) == 0
    out = capsys.readouterr().out
    assert "revised" in out and "flag" in out
    assert len(pd.read_csv(tmp_path / "d.csv")) == 3
    assert main(["data", "diff", str(old), str(old)]) == 0
    assert "no differences" in capsys.readouterr().out


@needs_mirror
def test_failure_leaves_previous_snapshot_intact(tmp_path):
    out = tmp_path / "snap"
    good = {"entries": SMALL_SPEC["entries"][:2]}
    snap.write_snapshot(_spec(tmp_path, good), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = {"entries": good["entries"] + [
        {"name": "missing", "dataset": "x", "source": ["eurostat/does/not_exist.tsv"]}]}
    bad["entries"][0] = {**bad["entries"][0], "filters": {"geo": ["BG311"]}}  # would change a file
    with pytest.raises(snap.SnapshotError, match="not_exist.tsv not found"):
        snap.write_snapshot(_spec(tmp_path, bad), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@needs_mirror
def test_filter_on_missing_dimension_is_an_error(tmp_path):
    spec = {"entries": [{"name": "x", "dataset": "nama_10_gdp", "filters": {"sex": ["T"]},
                         "source": ["eurostat/nama_10_gdp/nama_10_gdp_1_Data.csv"]}]}
    with pytest.raises(snap.SnapshotError, match="filter on 'sex'"):
        snap.write_snapshot(_spec(tmp_path, spec), tmp_path / "o")


def test_spec_names_unique(tmp_path):
    spec = {"entries": [SMALL_SPEC["entries"][0], SMALL_SPEC["entries"][0]]}
    with pytest.raises(snap.SnapshotError, match="appears twice"):
        snap.read_spec(_spec(tmp_path, spec))


@needs_mirror
def test_refresh_goes_through_get_eurostat(tmp_path, monkeypatch):
    """--refresh asks clusterstats.get_eurostat (stubbed here: no network in tests) and records it."""
    import sys
    import types

    from clusterstats import read_eurostat_file

    calls = []

    def fake_get_eurostat(code, filters=None, **kwargs):
        calls.append((code, filters, kwargs.get("refresh")))
        df = read_eurostat_file(mirror_dir() / "eurostat/lfst_r_lfe2en2/lfst_r_lfe2en2.tsv.gz")
        df.attrs.update(url="http://127.0.0.1/lfst_r_lfe2en2", retrieved_at="2026-11-25T10:00:00+00:00",
                        sha256="0" * 64, source="live", last_update=None)
        return df

    from clusterstats.eurostat import iso_timestamp
    monkeypatch.setitem(sys.modules, "clusterstats.eurostat",
                        types.SimpleNamespace(get_eurostat=fake_get_eurostat, iso_timestamp=iso_timestamp))
    spec = {"entries": [SMALL_SPEC["entries"][2], {**SMALL_SPEC["entries"][0]}]}
    manifest = snap.write_snapshot(_spec(tmp_path, spec), tmp_path / "o", refresh=True)
    # exact codes go to the server, prefixes (BG*) stay local; the cache may not answer (refresh)
    assert calls == [("lfst_r_lfe2en2", {"age": ["Y15-64"]}, True), ("bd_enace2_r3", {}, True)]
    e = manifest["entries"]["lfst_bg"]
    assert e["refreshed_live"] is True and e["retrieved"] == "2026-11-25T10:00:00+00:00"
    assert e["vintage"] == "2026-11-25" and e["vintage_kind"].startswith("retrieved")
    assert e["source"] == [{"path": "http://127.0.0.1/lfst_r_lfe2en2", "sha256": "0" * 64}]



# --------------------------------------------------------------------------- live refresh (issue 13, case 1)
TGS_DIR = mirror_dir() / "eurostat" / "tgs00042"
TGS_OLD = TGS_DIR / "eurostat_tgs00042_gerd_rd_expenditure.csv"   # recorded 2026-02-08
TGS_NEW = TGS_DIR / "estat_tgs00042.tsv"                            # recorded 2026-05-12


@pytest.fixture
def replay(tmp_path, monkeypatch):
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).parent))
    from replay_server import RecordedDataset, ReplayServer

    import clusterstats.eurostat as es

    server = ReplayServer().start()
    monkeypatch.setattr(es, "_sleep", lambda s: None)
    client = es.Client(base_url=server.base_url, cache=tmp_path / "cache",
                       settings=es.Settings(timeout=5, retries=1, backoff=0.01, progress=False))
    server.recorded, server.client = RecordedDataset, client
    yield server
    server.stop()


@needs_mirror
@pytest.mark.constructed
def test_case01_refresh_after_an_upstream_revision_writes_the_revised_values(tmp_path, replay):
    """The two recorded vintages of tgs00042 are served one after the other. The dataflow's
    UPDATE_DATA annotation is constructed (no dataflow message was recorded): it carries each
    file's recording date, as the upper bound PROVENANCE.md gives."""
    from clusterstats import read_eurostat_file

    spec = _spec(tmp_path, {"entries": [{"name": "tgs00042", "dataset": "tgs00042",
                                         "filters": {"unit": ["PC_GDP"]},
                                         "source": ["eurostat/tgs00042/estat_tgs00042.tsv"],
                                         "recorded": "2026-05-12"}]})
    old_frame = read_eurostat_file(TGS_OLD)
    replay.add_recorded(replay.recorded.from_frame("tgs00042", old_frame, "2026-02-08T00:00:00+0100"))
    first = snap.write_snapshot(spec, tmp_path / "v1", refresh=True, client=replay.client)
    n_first = len(replay.data_requests())
    replay.add_dataset("tgs00042", TGS_NEW, last_update="2026-05-12T00:00:00+0200")
    second = snap.write_snapshot(spec, tmp_path / "v2", refresh=True, client=replay.client)
    # a refresh makes the request even though the same query is cached
    assert n_first == 1 and len(replay.data_requests()) == 2
    path, _ = replay.data_requests()[-1]
    assert path.endswith("/data/TGS00042/..PC_GDP.")  # the snapshot's filter, server-side
    e1, e2 = first["entries"]["tgs00042"], second["entries"]["tgs00042"]
    assert e1["vintage"] == "2026-02-08T00:00:00+01:00" and e2["vintage"] == "2026-05-12T00:00:00+02:00"
    assert e2["vintage_kind"].startswith("UPDATE_DATA") and e2["refreshed_live"] is True
    assert e2["url"].startswith(replay.base_url) and e2["retrieved"].endswith("+00:00")
    # the revised values are written: the diff finds exactly the revisions of the two files
    new_frame = read_eurostat_file(TGS_NEW)
    keys = ["freq", "sectperf", "unit", "geo", "time"]
    both = old_frame.astype({k: str for k in keys}).merge(new_frame.astype({k: str for k in keys}), on=keys)
    revised = both[both["value_x"].notna() & both["value_y"].notna() & (both["value_x"] != both["value_y"])]
    table = snap.diff_snapshots(tmp_path / "v1", tmp_path / "v2")
    got = table[table["change"].isin(["revised", "revised+flag"])]
    assert len(got) == len(revised) == 249
    bg41 = got[got["key"].str.endswith("BG41") & (got["time"] == "2023")].iloc[0]
    ref = revised[(revised["geo"] == "BG41") & (revised["time"] == "2023")].iloc[0]
    assert (bg41["old_value"], bg41["new_value"]) == (ref["value_x"], ref["value_y"])
    again = snap.load_snapshot("tgs00042", folder=tmp_path / "v2")
    assert again[(again.geo == "BG41") & (again.time == "2023")]["value"].item() == ref["value_y"]


@needs_mirror
@pytest.mark.constructed
def test_data_fetch_writes_a_tidy_csv_and_its_provenance(tmp_path, replay, monkeypatch, capsys):
    replay.add_dataset("tgs00042", TGS_NEW, last_update="2026-05-12T00:00:00+0200")
    monkeypatch.setenv("CLUSTERSTATS_EUROSTAT_URL", replay.base_url)
    monkeypatch.setenv("CLUSTERSTATS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CLUSTERSTATS_MIRROR", raising=False)
    monkeypatch.delenv("CLUSTERSTATS_OFFLINE", raising=False)
    out = tmp_path / "gerd.csv"
    assert main(["data", "fetch", "tgs00042", "geo=BG41,BG31", "unit=PC_GDP", "--start", "2015",
                 "--end", "2017", "-o", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["freq", "sectperf", "unit", "geo", "time", "value", "flag"]
    assert sorted(set(df["geo"])) == ["BG31", "BG41"] and sorted(set(df["time"])) == [2015, 2016, 2017]
    prov = json.loads((tmp_path / "gerd.csv.provenance.json").read_text())
    assert prov["sha256"] == sha256_file(out) and prov["rows"] == len(df) == 6
    assert prov["vintage"] == "2026-05-12" and prov["url"].startswith(replay.base_url)
    assert len(replay.data_requests()) == 1
    before = out.read_bytes()
    # bad input: a clear one-line error, exit 2, nothing overwritten
    assert main(["data", "fetch", "tgs00042", "geo", "-o", str(out)]) == 2
    assert main(["data", "fetch", "tgs00042", "geo=XX99", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "dim=code" in err[0] and "XX99" in err[1]
    assert out.read_bytes() == before and not list(tmp_path.glob(".gerd.csv*"))
