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

    def fake_get_eurostat(code, **kwargs):
        calls.append(code)
        df = read_eurostat_file(mirror_dir() / "eurostat/lfst_r_lfe2en2/lfst_r_lfe2en2.tsv.gz")
        df.attrs.update(url="http://127.0.0.1/lfst_r_lfe2en2", retrieved="2026-11-25", sha256="0" * 64)
        return df

    monkeypatch.setitem(sys.modules, "clusterstats.eurostat",
                        types.SimpleNamespace(get_eurostat=fake_get_eurostat))
    spec = {"entries": [SMALL_SPEC["entries"][2], {**SMALL_SPEC["entries"][0]}]}
    manifest = snap.write_snapshot(_spec(tmp_path, spec), tmp_path / "o", refresh=True)
    assert calls == ["lfst_r_lfe2en2", "bd_enace2_r3"]
    e = manifest["entries"]["lfst_bg"]
    assert e["refreshed_live"] is True and e["retrieved"] == "2026-11-25"
    assert e["source"] == [{"path": "http://127.0.0.1/lfst_r_lfe2en2", "sha256": "0" * 64}]
