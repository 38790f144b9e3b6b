"""H6 (clusterstats.analysis.innovation): the offline stop, and the code path on a format fixture."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from clusterstats.analysis import innovation
from clusterstats.params import ParameterError

FIXTURE = Path(__file__).parent / "fixtures" / "cis" / "FIXTURE_inn_cis9_prod.tsv"


def test_offline_without_data_stops_politely_with_rows(monkeypatch):
    monkeypatch.setenv("CLUSTERSTATS_OFFLINE", "1")
    an = innovation.run()
    assert an.values["available"] is False
    assert list(an.rows["claim_id"]) == ["C14", "C15"]
    # judged by the declared not_testable rule, not typed in by the module
    assert list(an.rows["part"]) == ["C14.no_data", "C15.no_data"]
    assert set(an.rows["rule"]) == {"not_testable"}
    assert set(an.rows["verdict"]) == {"not testable offline"}
    for text in ("inn_cis9_prod", "cis_file", "https://ec.europa.eu/eurostat/databrowser/", "GE250",
                 "No number is invented"):
        assert text in an.values["message"]
        assert text in an.rows["caveats"].iloc[0]
    assert "inn_cis9_prod" in an.rows["note"].iloc[0]
    assert innovation.hypothesis.figures(an) == {}


def test_download_offline_is_caught_and_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("CLUSTERSTATS_OFFLINE", "1")
    monkeypatch.setenv("CLUSTERSTATS_CACHE", str(tmp_path))
    monkeypatch.delenv("CLUSTERSTATS_MIRROR", raising=False)
    an = innovation.run(download=True)
    assert an.values["available"] is False
    assert "failed" in an.notes[0]
    assert set(an.rows["verdict"]) == {"not testable offline"}


@pytest.mark.format_fixture
def test_fixture_shares_and_derived_totals():
    an = innovation.run(cis_file=str(FIXTURE), indicator="X_NEWMKT")
    t = an.tables["by_size"].set_index("size_class")
    # totals = NR x 100 / percent, by hand: 111/1.11 % = 10000, 122/6.1 % = 2000, 133/26.6 % = 500
    assert t.loc["10-49", "totals"] == pytest.approx(10000)
    assert t.loc["50-249", "totals"] == pytest.approx(2000)
    assert t.loc["GE250", "totals"] == pytest.approx(500)
    c14 = an.rows[an.rows["claim_id"] == "C14"].iloc[0]
    assert float(c14["effect"]) == pytest.approx(0.0293)
    assert c14["verdict"] == "not supported"   # fixture value, far from 5.7 %
    assert (c14["part"], c14["rule"]) == ("C14.share", "equals")


@pytest.mark.format_fixture
def test_fixture_trend_matches_an_independent_chi_square():
    an = innovation.run(cis_file=str(FIXTURE), indicator="X_NEWMKT")
    row = an.rows[an.rows["test"] == "cochran_armitage"].iloc[0]
    # Cochran-Armitage z^2 equals the chi-square of a weighted regression of p_i on the scores
    x, n, t = np.array([111, 122, 133.]), np.array([10000, 2000, 500.]), np.arange(3.)
    p, pbar = x / n, x.sum() / n.sum()
    tbar = (n * t).sum() / n.sum()
    chi2 = ((n * (t - tbar) * (p - pbar)).sum()) ** 2 / (pbar * (1 - pbar) * (n * (t - tbar) ** 2).sum())
    assert float(row["statistic"]) ** 2 == pytest.approx(chi2, rel=1e-9)
    assert float(row["p_value"]) == pytest.approx(sps.norm.sf(np.sqrt(chi2)), rel=1e-6)
    # grossed-up counts are no sample: the test is descriptive and decides nothing
    assert row["role"] == "descriptive" and pd.isna(row["verdict"])
    rising = an.rows[an.rows["part"] == "C15.rising"].iloc[0]
    assert float(rising["effect"]) == 1.0 and rising["verdict"] == "supported"


@pytest.mark.format_fixture
def test_fixture_confidential_total_skips_c14():
    an = innovation.run(cis_file=str(FIXTURE), indicator="X_NEWMKT", country="RO")
    assert "C14" not in set(an.rows["claim_id"])
    assert any("GE10" in n for n in an.notes)
    assert an.rows["verdict"].isna().all()   # the claims are about BG


@pytest.mark.format_fixture
def test_fixture_missing_indicator_lists_the_codes():
    with pytest.raises(ParameterError, match="X_NEWMKT.*X_OTHER"):
        innovation.run(cis_file=str(FIXTURE))
    with pytest.raises(ParameterError, match="not found"):
        innovation.run(cis_file=str(FIXTURE), indicator="NOPE")
    with pytest.raises(ParameterError, match="country 'HU'"):
        innovation.run(cis_file=str(FIXTURE), indicator="X_NEWMKT", country="HU")


@pytest.mark.parametrize("kwargs, text", [
    ({"cis_file": "no/such/file.tsv"}, "no such file"),
    ({"country": "Bulgaria"}, "two-letter"),
    ({"alpha": 1}, "alpha"),
    ({"year": "last"}, "year"),
])
def test_bad_parameters(kwargs, text):
    with pytest.raises(ParameterError, match=text):
        innovation.check_parameters(**kwargs)


def test_declared_hypothesis_matches_the_notebook():
    h = innovation.hypothesis
    assert (h.id, h.notebook, h.claims) == ("H6", "h6_innovation_by_size.ipynb", ("C14", "C15"))
    assert h.context().name == "h6_innovation_by_size"
