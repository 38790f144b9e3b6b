"""The funding-call calendar: every fact sourced, windows derived from the dates."""
from __future__ import annotations

import pandas as pd
import pytest

from clusterstats.calls import call_window, list_windows, load_calls


def test_every_fact_has_a_listed_source():
    facts = load_calls()
    assert not facts.empty
    assert facts["source"].notna().all()
    assert facts["source_text"].str.len().gt(20).all()


def test_guide_facts_of_the_2016_call():
    # Transcribed from the guide, section "Operational programmes" (hand-checked).
    facts = load_calls().set_index(["code", "fact"])["value"]
    assert facts[("BG16RFOP002-2.009", "proposals")] == 59
    assert facts[("BG16RFOP002-2.009", "funded")] == 29
    assert facts[("BG16RFOP002-2.009", "categorisation_deadline")] == pd.Timestamp("2017-01-30")
    assert facts[("BG16RFOP002-2.009", "proposals_deadline")] == pd.Timestamp("2017-04-28")


def test_2016_window_runs_from_consultation_to_proposals_deadline():
    win = call_window("BG16RFOP002-2.009")
    assert (win.start, win.end) == (pd.Timestamp("2016-08-25"), pd.Timestamp("2017-04-28"))
    assert win.years == [2016, 2017]
    # 25.08-31.12.2016 = 129 of 366 days; 01.01-28.04.2017 = 118 of 365 days.
    overlap = win.year_overlap()
    assert overlap[2016] == 129 / 366 and overlap[2017] == 118 / 365
    inside = win.contains(["2016-08-24", "2016-08-25", "2017-04-28", "2017-04-29"]).tolist()
    assert inside == [False, True, True, False]


def test_month_precision_start_and_2013_window():
    app = call_window("BG16RFOP002-2.009", kind="application")
    assert app.start == pd.Timestamp("2017-01-01")
    w13 = call_window("BG161PO003-2.4.02")
    assert (w13.start, w13.end) == (pd.Timestamp("2013-01-01"), pd.Timestamp("2013-06-30"))
    assert len(list_windows()) >= 5


def test_unknown_window_is_a_clear_error():
    with pytest.raises(ValueError, match="no window BG16RFOP002-2.009/nonsense; defined"):
        call_window("BG16RFOP002-2.009", kind="nonsense")


def test_fact_without_source_names_file_and_fact(tmp_path):
    bad = tmp_path / "calls.yaml"
    bad.write_text("sources: {a: x}\ncalls:\n  - code: X-1\n    facts:\n"
                   "      opening: {value: 2016-01-01, unit: date, source: nowhere}\n",
                   encoding="utf-8")
    with pytest.raises(ValueError, match=r"calls.yaml: call X-1, fact 'opening': source 'nowhere'"):
        load_calls(bad)


def test_cli_prints_windows(capsys):
    import argparse

    from clusterstats.calls import add_cli
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers())
    args = parser.parse_args(["calls", "--windows"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "BG16RFOP002-2.009" in out and "2016-08-25" in out
