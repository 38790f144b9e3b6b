"""The H1/H2 notebooks run under papermill with non-default parameters and write their rows."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPERMILL = [sys.executable, "-m", "papermill", "-k", "clusterstats", "--no-progress-bar"]


@pytest.mark.slow
def test_h1_runs_from_the_command_line_with_other_parameters(tmp_path):
    out = tmp_path / "out.ipynb"
    subprocess.run(PAPERMILL + [str(ROOT / "notebooks/h1_cluster_formation.ipynb"), str(out),
                                "-p", "figures_dir", str(tmp_path / "fig"), "-p", "results_dir", str(tmp_path),
                                "-p", "n_boot", "19", "-p", "alpha", "0.1", "-p", "rounding", "floor",
                                "-p", "window_kind", "categorisation"],
                   check=True, capture_output=True, cwd=ROOT)
    rows = pd.concat(pd.read_csv(f) for f in (tmp_path / "rows").glob("h1_*.csv"))
    assert set(rows.hypothesis) == {"H1a", "H1b", "H1c"}
    assert '"alpha": 0.1' in rows.parameters.iloc[0]
    assert (tmp_path / "fig" / "h1_formation_founding_vs_registration.pdf").exists()


@pytest.mark.slow
def test_h1_stops_in_its_first_cell_on_a_bad_alpha(tmp_path):
    proc = subprocess.run(PAPERMILL + [str(ROOT / "notebooks/h1_cluster_formation.ipynb"),
                                       str(tmp_path / "o.ipynb"), "-p", "alpha", "1.5",
                                       "-p", "results_dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0
    assert "ParameterError" in proc.stderr and "alpha must be in (0, 1)" in proc.stderr
    assert not (tmp_path / "rows").exists()


@pytest.mark.slow
def test_h2_writes_its_rows(tmp_path):
    subprocess.run(PAPERMILL + [str(ROOT / "notebooks/h2_sustainability.ipynb"), str(tmp_path / "o.ipynb"),
                                "-p", "results_dir", str(tmp_path)], check=True, capture_output=True, cwd=ROOT)
    rows = pd.read_csv(next((tmp_path / "rows").glob("h2_*.csv")))
    assert set(rows.claim_id) == {"C06"}
