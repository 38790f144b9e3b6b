"""Verdict drift between two data vintages, on the H4 analysis run against both recorded
vintages of tgs00042 (249 revised values; in Bulgaria only BG41 in 2023)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from clusterstats import drift
from clusterstats import snapshot as snap
from clusterstats._paths import data_dir, mirror_dir
from clusterstats.cli import main

TGS_DIR = mirror_dir() / "eurostat" / "tgs00042"
VINTAGES = {  # mirror file -> the date it was recorded (PROVENANCE.md)
    "old": ("eurostat/tgs00042/eurostat_tgs00042_gerd_rd_expenditure.csv", "2026-02-08"),
    "new": ("eurostat/tgs00042/estat_tgs00042.tsv", "2026-05-12"),
}
needs_mirror = pytest.mark.skipif(not TGS_DIR.exists(), reason="shared mirror not available")


def _data_folder(tmp: Path, which: str) -> Path:
    """A copy of data/ whose tgs00042 entry is rebuilt (write_snapshot) from one vintage."""
    source, recorded = VINTAGES[which]
    folder = tmp / f"data_{which}"
    shutil.copytree(data_dir(), folder)
    spec = tmp / f"spec_{which}.yaml"
    spec.write_text(yaml.safe_dump({"entries": [{"name": "tgs00042", "dataset": "tgs00042",
                                                  "source": [source], "recorded": recorded}]}))
    single = snap.write_snapshot(spec, tmp / f"single_{which}")
    shutil.copy(tmp / f"single_{which}" / "tgs00042.csv", folder / "eurostat" / "tgs00042.csv")
    manifest = json.loads((folder / "eurostat" / "manifest.json").read_text())
    manifest["entries"]["tgs00042"] = single["entries"]["tgs00042"]
    (folder / "eurostat" / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _h4_results(folder: Path, monkeypatch) -> pd.DataFrame:
    """The H4 rows for Bulgaria in every unit, computed from ``folder`` (CLUSTERSTATS_DATA)."""
    from clusterstats.analysis import rd_regional as rd

    monkeypatch.setenv("CLUSTERSTATS_DATA", str(folder))
    rd._load.cache_clear()
    try:
        rows = [rd.run(country="BG", unit=u).rows for u in rd.UNITS]
    finally:
        rd._load.cache_clear()
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def two_tables(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drift")
    mp = pytest.MonkeyPatch()
    try:
        tables = {}
        for which in VINTAGES:
            folder = _data_folder(tmp, which)
            table = _h4_results(folder, mp)
            (tmp / which).mkdir()
            table.to_csv(tmp / which / "hypotheses.csv", index=False)
            tables[which] = table
    finally:
        mp.undo()
    return tmp, tables


@needs_mirror
def test_verdicts_diff_lists_exactly_the_rows_that_move(two_tables, capsys):
    tmp, tables = two_tables
    old = pd.read_csv(tmp / "old" / "hypotheses.csv")
    new = pd.read_csv(tmp / "new" / "hypotheses.csv")
    # the same code on both vintages: the tables align row by row, an oracle independent of
    # the matching that verdict_drift does
    assert len(old) == len(new)
    for col in ("hypothesis", "claim_id", "test", "run_id", "effect_name", "unit"):
        assert old[col].fillna("").tolist() == new[col].fillna("").tolist()
    moved = old["verdict"].fillna("") != new["verdict"].fillna("")
    for col in ("effect", "ci_low", "ci_high"):
        x, y = old[col].to_numpy(float), new[col].to_numpy(float)
        moved |= ~(np.isclose(x, y, rtol=1e-9, atol=1e-12) | (np.isnan(x) & np.isnan(y)))
    assert 0 < moved.sum() < len(old)  # the BG41 2023 revision moves some rows, not all

    table = drift.verdict_drift(tmp / "old", tmp / "new")
    expected = old[moved][["claim_id", "test", "effect_name"]].fillna("")
    got = table[["claim_id", "test", "effect_name"]].fillna("")
    assert len(table) == int(moved.sum())
    assert sorted(map(tuple, got.values)) == sorted(map(tuple, expected.values))
    assert (table["old_vintage"].str.contains("tgs00042: 2026-02-08")).all()
    assert (table["new_vintage"].str.contains("tgs00042: 2026-05-12")).all()
    assert set(table["change"]) - {"", "added", "removed"} and not table["change"].isin(["added", "removed"]).any()

    assert main(["verdicts", "diff", str(tmp / "old"), str(tmp / "new"), "--out",
                 str(tmp / "drift.csv")]) == 0
    out = capsys.readouterr().out
    assert "2026-02-08" in out and "2026-05-12" in out and f"{int(moved.sum())} of {len(old)} rows moved" in out
    assert len(pd.read_csv(tmp / "drift.csv")) == int(moved.sum())


@needs_mirror
def test_same_vintage_shows_no_drift_and_bad_input_exits_2(two_tables, tmp_path, capsys):
    tmp, _ = two_tables
    assert drift.verdict_drift(tmp / "new", tmp / "new").empty
    assert main(["verdicts", "diff", str(tmp / "new"), str(tmp / "new" / "hypotheses.csv")]) == 0
    assert "no verdict, effect or interval changed" in capsys.readouterr().out
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    assert main(["verdicts", "diff", str(tmp_path / "x.csv"), str(tmp / "new")]) == 2
    assert "not a results table" in capsys.readouterr().err
    assert main(["verdicts", "diff", str(tmp_path), str(tmp / "new")]) == 2


def test_duplicate_keys_are_told_apart_and_added_rows_named():
    base = dict(hypothesis="H4", claim_id="C12", test="leader_ratio_range", run_id="r", ci_low=None,
                ci_high=None, data_vintage="v1")
    old = pd.DataFrame([{**base, "unit": "a", "effect_name": "ratio_min", "effect": 1.0, "verdict": "partly"},
                        {**base, "unit": "b", "effect_name": "ratio_min", "effect": 2.0, "verdict": "partly"}])
    new = old.assign(data_vintage="v2")
    new.loc[1, "effect"] = 2.5
    new = pd.concat([new, pd.DataFrame([{**base, "test": "extra", "unit": "a", "effect_name": "x",
                                         "effect": 0.0, "verdict": "supported", "data_vintage": "v2"}])])
    table = drift.verdict_drift(old.astype(str), new.astype(str))
    assert table[["unit", "change"]].values.tolist() == [["b", "effect"], ["a", "added"]] or \
        sorted(table["change"]) == ["added", "effect"]
    assert table.loc[table["change"] == "effect", "new_vintage"].item() == "v2"
