"""The H3, H8 and H9 notebooks: parameterised and stripped, and they run end to end with papermill
(in-process and from the command line with a non-default parameter), writing figures and rows."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from clusterstats._paths import REPO_ROOT
from clusterstats.results import RESULT_COLUMNS, VERDICTS

NOTEBOOKS = REPO_ROOT / "notebooks"
CASES = {
    "h3_concentration": ("H3", ["h3_seats_by_district", "h3_cluster_lq_nuts3", "h3_cluster_lq_nuts2"], {}),
    "h8_cluster_size": ("H8", ["h8_members"], {"n_boot": 999}),
    "h9_specialisation": ("H9", ["h9_lq_heatmap", "h9_clusters_by_sector"], {"n_perm": 499}),
}


def _need_kernel():
    pytest.importorskip("papermill")
    from jupyter_client.kernelspec import KernelSpecManager
    if "clusterstats" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("kernel 'clusterstats' not installed (make install)")


@pytest.mark.parametrize("stem", list(CASES))
def test_notebook_is_parameterised_and_stripped(stem):
    nb = json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "clusterstats"
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    src = "".join(tagged[0]["source"])
    assert "figures_dir = None" in src and "results_dir = None" in src and "alpha = 0.05" in src
    assert all(not c.get("outputs") and not c.get("execution_count")
               for c in nb["cells"] if c["cell_type"] == "code")
    assert nb["cells"][0]["cell_type"] == "markdown" and "H0" in "".join(nb["cells"][0]["source"])


def _check_outputs(fig: Path, res: Path, stem: str, name: str) -> pd.DataFrame:
    hyp, figs, _ = CASES[stem]
    suffix = name.removeprefix(stem)
    for f in figs:
        for ext in ("png", "pdf", "svg", "csv", "provenance.json"):
            flat, per_run = fig / f"{f}{suffix}.{ext}", fig / name / f"{f}.{ext}"
            assert flat.exists() or per_run.exists(), per_run
    rows = pd.read_csv(res / "rows" / f"{name}.csv", keep_default_na=False)
    assert list(rows.columns[:len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    assert set(rows["hypothesis"]) == {hyp}
    assert set(rows["verdict"]) - {""} <= set(VERDICTS)
    assert {"part", "role", "rule", "p_holm"} <= set(rows.columns)
    assert set(rows["run_id"]) == {name}
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["h3_concentration", "h9_specialisation"])  # H8: command line below
def test_notebook_executes(stem, tmp_path):
    _need_kernel()
    import papermill

    params = {"figures_dir": str(tmp_path / "fig"), "results_dir": str(tmp_path / "res"),
              **CASES[stem][2]}
    papermill.execute_notebook(str(NOTEBOOKS / f"{stem}.ipynb"), str(tmp_path / "out.ipynb"),
                               kernel_name="clusterstats", parameters=params,
                               progress_bar=False, cwd=str(NOTEBOOKS))
    from clusterstats.analysis import concentration, size, specialisation
    module = {"h3_concentration": concentration, "h8_cluster_size": size,
              "h9_specialisation": specialisation}[stem]
    name = module.output_name({**module.DEFAULTS, **CASES[stem][2]})
    _check_outputs(tmp_path / "fig", tmp_path / "res", stem, name)
    from clusterstats.results import collect
    glued = collect(tmp_path, name="outputs")["value"].iloc[0]
    assert str(tmp_path / "res" / "rows" / f"{name}.csv") in glued
    assert all(Path(p).exists() for p in glued)
    # the conclusions are rendered from the judged rows (no typed numbers)
    out = json.loads((tmp_path / "out.ipynb").read_text(encoding="utf-8"))
    rendered = "".join("".join(o.get("data", {}).get("text/markdown", ""))
                       for o in out["cells"][-1].get("outputs", []))
    assert "inconclusive" in rendered


@pytest.mark.parametrize("stem", list(CASES))
def test_notebook_imports_only_public_names(stem):
    nb = json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text(encoding="utf-8"))
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "_paths" not in code and "import _" not in code and ".hypothesis" in code


@pytest.mark.slow
def test_papermill_command_line_with_a_non_default_alpha(tmp_path):
    _need_kernel()
    exe = shutil.which("papermill", path=str(Path(sys.executable).parent)) or "papermill"
    cmd = [exe, str(NOTEBOOKS / "h8_cluster_size.ipynb"), str(tmp_path / "out.ipynb"),
           "-k", "clusterstats", "-p", "alpha", "0.1", "-p", "n_boot", "999",
           "-p", "figures_dir", str(tmp_path / "fig"), "-p", "results_dir", str(tmp_path / "res"),
           "--cwd", str(NOTEBOOKS), "--no-progress-bar"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _check_outputs(tmp_path / "fig", tmp_path / "res", "h8_cluster_size",
                          "h8_cluster_size__alpha-0.1__n_boot-999")
    ci = pd.to_numeric(rows["ci_level"].replace("", None)).dropna().tolist()
    assert ci and ci == pytest.approx([0.9] * len(ci))
    assert json.loads(rows["parameters"].iloc[0])["alpha"] == 0.1


@pytest.mark.slow
def test_bad_parameter_stops_the_notebook_in_its_first_cell(tmp_path):
    _need_kernel()
    import papermill
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError, match="ParameterError"):
        papermill.execute_notebook(str(NOTEBOOKS / "h3_concentration.ipynb"),
                                   str(tmp_path / "out.ipynb"), kernel_name="clusterstats",
                                   parameters={"alpha": 2.0, "figures_dir": str(tmp_path),
                                               "results_dir": str(tmp_path)},
                                   progress_bar=False, cwd=str(NOTEBOOKS))
