"""The verdict report: claims joined with result rows, verdicts summarised, deterministic output."""
import pandas as pd
import pytest

from clusterstats import report
from clusterstats.results import RESULT_COLUMNS, tidy_rows, write_rows, assemble


@pytest.mark.parametrize("verdicts, expected", [
    ([], report.NOT_TESTED),
    (["supported", "supported"], "supported"),
    (["supported", "not supported"], "partly"),
    (["not supported", "inconclusive"], "not supported"),
    (["not testable offline"], "not testable offline"),
])
def test_claim_verdict_summary(verdicts, expected):
    assert report.claim_verdict(pd.Series(verdicts, dtype=object)) == expected


def test_every_claim_has_a_hypothesis_and_unique_id():
    claims = report.load_claims()
    assert claims["id"].is_unique
    assert claims["hypotheses"].map(len).min() >= 1


def _h8_rows(run_id: str, share_low: float) -> pd.DataFrame:
    return tidy_rows([
        {"test": "share in [10, 30]", "method": "Wilson", "effect_name": "share", "effect": 0.75,
         "ci_low": share_low, "ci_high": 0.87, "ci_level": 0.95, "n": 32, "p_value": 0.0035,
         "part": "C08.range", "role": "primary", "family": "C08", "p_holm": 0.0035,
         "rule": "interval_inside",
         "verdict": "supported" if share_low > 0.5 else "inconclusive", "verdict_text": "why"},
        {"test": "median", "method": "order statistic", "effect": 16, "n": 32, "role": "descriptive"},
    ], hypothesis="H8", claim_id="C08", notebook="h8_cluster_size.ipynb", run_id=run_id)


def test_claim_verdict_comes_from_the_default_run_and_sensitivity_runs_sit_under_it(tmp_path):
    write_rows(_h8_rows("h8_cluster_size", 0.58), "h8_cluster_size", folder=tmp_path)
    write_rows(_h8_rows("h8_cluster_size__low-12", 0.45), "h8_cluster_size__low-12", folder=tmp_path)
    table = assemble(tmp_path)
    assert table["q_bh"].replace("", None).notna().sum() == 2       # BH across the whole table
    text = report.build(results=tmp_path / "hypotheses.csv", figures=tmp_path,
                        out_dir=tmp_path / "r")["markdown"].read_text()
    section = text[text.index("## C08"):text.index("## C09")]
    # one declared part is supported in the default run, the other four parts have no rows
    assert "**Verdict: supported**" in section
    assert "↳ sensitivity run `h8_cluster_size__low-12`" in section
    assert section.index("| C08.range") < section.index("↳ sensitivity run")
    assert "no verdict" in section and "median" in section           # descriptive row listed apart
    assert "The report holds 2 p-values in 2 families" in text        # one per run


def test_report_joins_rows_and_is_deterministic(tmp_path):
    rows = tidy_rows([{"test": "exact_rate", "method": "conditional exact", "effect_name": "IRR",
                       "effect": 3.2, "ci_low": 1.5, "ci_high": 6.8, "ci_level": 0.95, "n": 42,
                       "p_value": 0.004}],
                     hypothesis="H1a", claim_id="C05", verdict="supported",
                     verdict_text="2016 stands out", data_vintage="guide 2018-04-22", run_id="t")
    write_rows(rows, "h1a", folder=tmp_path)
    assemble(tmp_path)
    out = tmp_path / "reports"
    first = report.build(results=tmp_path / "hypotheses.csv", figures=tmp_path, out_dir=out)
    text = first["markdown"].read_text()
    assert "**Verdict: supported**" in text and "IRR = 3.2" in text and "CI 1.5 to 6.8" in text
    assert "C12" in text and report.NOT_TESTED in text  # untested claims are listed, not dropped
    md1, html1 = first["markdown"].read_bytes(), first["html"].read_bytes()
    second = report.build(results=tmp_path / "hypotheses.csv", figures=tmp_path, out_dir=out)
    assert second["markdown"].read_bytes() == md1 and second["html"].read_bytes() == html1


def test_unknown_results_column_is_refused():
    with pytest.raises(ValueError, match="unknown results column"):
        tidy_rows([{"test": "x"}], not_a_column=1)
    assert RESULT_COLUMNS.index("claim_id") == 1


def test_legacy_rows_repeated_by_several_runs_are_shown_once(tmp_path):
    row = {"test": "ratio", "method": "m", "effect": 2.5, "n": 6, "p_value": None}
    for run in ("a", "b"):
        write_rows(tidy_rows([row], hypothesis="H4", claim_id="C13", verdict="supported",
                             verdict_text="same finding", run_id=run), f"h4_{run}", folder=tmp_path)
    assemble(tmp_path)
    out = report.build(results=tmp_path / "hypotheses.csv", figures=tmp_path, out_dir=tmp_path / "r")
    assert out["markdown"].read_text().count("same finding") == 1
