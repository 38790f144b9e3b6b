"""The H1/H2 notebooks run under papermill with non-default parameters, write their rows and
figures under their run's name, and hold no typed result number in their markdown."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from clusterstats.claims import claim_numbers

ROOT = Path(__file__).resolve().parents[1]
PAPERMILL = [sys.executable, "-m", "papermill", "-k", "clusterstats", "--no-progress-bar"]
NOTEBOOKS = ["h1_cluster_formation.ipynb", "h2_sustainability.ipynb"]


def _allowed(number: str, text: str, start: int) -> bool:
    if re.fullmatch(r"(199\d|20[0-2]\d|2030)", number) or number in claim_numbers():
        return True
    before = text[max(0, start - 12):start].lower()
    return bool(re.search(r"(line|lines|p\.|c)\s*$", before)) or text[start - 1:start] in "-."


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_markdown_holds_no_typed_result_number(name):
    nb = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        # call codes (BG16RFOP002-2.009) are names, not results
        text = re.sub(r"BG\d+[A-Z]+\d+-[\d.]+", "CALL", text)
        for m in re.finditer(r"\d+(?:\.\d+)?", text):
            assert _allowed(m.group(), text, m.start()), f"{name}: typed number {m.group()!r} in {text[max(0, m.start() - 40):m.end() + 20]!r}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_import_only_public_names(name):
    nb = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "_paths" not in code and not re.search(r"import _|\._[a-z]", code)


@pytest.mark.slow
def test_h1_runs_from_the_command_line_with_other_parameters(tmp_path):
    out = tmp_path / "out.ipynb"
    subprocess.run(PAPERMILL + [str(ROOT / "notebooks/h1_cluster_formation.ipynb"), str(out),
                                "-p", "figures_dir", str(tmp_path / "fig"), "-p", "results_dir", str(tmp_path),
                                "-p", "n_boot", "19", "-p", "n_draws", "19", "-p", "alpha", "0.1",
                                "-p", "rounding", "floor", "-p", "window_kind", "categorisation"],
                   check=True, capture_output=True, cwd=ROOT)
    files = list((tmp_path / "rows").glob("h1_cluster_formation__*.csv"))
    assert len(files) == 1 and "rounding-floor" in files[0].name
    rows = pd.read_csv(files[0])
    assert set(rows.hypothesis) == {"H1a", "H1b", "H1c"}
    assert '"alpha": 0.1' in rows.parameters.iloc[0]
    # rounding is an analysis choice: this run's judged rows are sensitivity rows
    assert "primary" not in set(rows.role)
    run = files[0].stem
    assert (tmp_path / "fig" / run / "h1_formation_founding_vs_registration.pdf").exists()
    assert (tmp_path / "fig" / run / "h1_code_to_year_calibration.pdf").exists()


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
    rows = pd.read_csv(tmp_path / "rows" / "h2_sustainability.csv")
    assert set(rows.claim_id) == {"C06"}
    assert rows.loc[rows.role == "primary", "verdict"].tolist() == ["inconclusive"]
