"""JupyterLab conveniences: progress bars that never change results, readable result tables."""
from __future__ import annotations

import pandas as pd
import pytest

from clusterstats import progress
from clusterstats.display import format_number, format_p, results_style
from clusterstats.stats import calibrate_code_to_year, location_quotient, specialisation_permutation_test


def test_bar_only_when_long_and_interactive(monkeypatch):
    monkeypatch.delenv("CLUSTERSTATS_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "interactive", lambda: True)
    assert progress.show_progress(progress.LONG_LOOP) and not progress.show_progress(10)
    monkeypatch.setattr(progress, "interactive", lambda: False)
    assert not progress.show_progress(10**6)
    monkeypatch.setenv("CLUSTERSTATS_PROGRESS", "1")
    assert progress.show_progress(10)
    assert not progress.show_progress(10**6, progress=False)


def test_papermill_kernels_are_not_interactive(monkeypatch):
    """nbclient/papermill send allow_stdin=False; JupyterLab sends True."""
    import IPython

    class Kernel:
        _allow_stdin = False

    class Shell:
        kernel = Kernel()

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    assert progress.interactive() is False
    Kernel._allow_stdin = True
    assert progress.interactive() is True


def _calibration_points() -> pd.DataFrame:
    """Real calibration points: BSMEPA founding years beside the clusters' BULSTAT codes."""
    from clusterstats import registry

    c = registry.clusters()
    pts = c.dropna(subset=["eik", "founding_year"])[["eik", "founding_year"]]
    return pts.rename(columns={"eik": "code", "founding_year": "year"})


def test_progress_does_not_change_bootstrap_results(capsys):
    pts = _calibration_points()
    quiet = calibrate_code_to_year(pts, n_boot=60, seed=3, progress=False)
    shown = calibrate_code_to_year(pts, n_boot=60, seed=3, progress=True)
    assert "bootstrap refits" in capsys.readouterr().err  # the tqdm bar (text outside notebooks)
    pd.testing.assert_frame_equal(quiet.summary, shown.summary)
    pd.testing.assert_frame_equal(quiet.points, shown.points)


def test_progress_does_not_change_permutation_results(capsys):
    from clusterstats import registry

    # LQs of the registered clusters by NUTS 2 seat x sector (the guide's registers)

    c = registry.clusters().dropna(subset=["seat_nuts2", "sector"])
    counts = c.groupby(["seat_nuts2", "sector"]).size().rename("value").reset_index()
    lq = location_quotient(counts, region="seat_nuts2", sector="sector", ci_level=None)
    clusters = c[["seat_nuts2", "sector"]]
    a = specialisation_permutation_test(clusters, lq, "seat_nuts2", "sector", n_perm=199, progress=False)
    b = specialisation_permutation_test(clusters, lq, "seat_nuts2", "sector", n_perm=199, progress=True)
    assert "permutations" in capsys.readouterr().err
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("value, text", [(1234.5678, "1,235"), (0.012345, "0.0123"), (None, "–"),
                                         (7.0, "7"), (-2.5e-05, "-2.5e-05")])
def test_format_number(value, text):
    assert format_number(value) == text


def test_results_table_styler_on_real_rows():
    from clusterstats.stats import share_in_range
    from clusterstats import registry

    rows = share_in_range(registry.clusters()["members"].dropna())
    html = results_style(rows).to_html()
    assert format_p(rows["p_value"].iloc[0]) in html.replace("&lt;", "<")
    assert "0.75" in html and "0.7500000" not in html
