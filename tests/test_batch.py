"""Batch and pipeline runs with real kernels on the fixture notebook (slow: each run starts one)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from clusterstats import cli
from clusterstats.batch import plan_batch, run_batch
from clusterstats.locks import LOCK_NAME
from clusterstats.manifest import read_manifest
from clusterstats.results import collect
from clusterstats.runner import run_pipeline

FIXTURE = Path(__file__).parent / "fixtures" / "notebooks" / "param_fixture.ipynb"
COUNTRIES = ["BG", "RO", "GR", "PT", "HR", "CY"]

pytestmark = pytest.mark.slow

#: `clusterstats` CLI in a subprocess, with the package-source hash pinned (see frozen_inputs)
PINNED_CLI = ("import sys, clusterstats.manifest as m, clusterstats.schedule as r; real = m.environment; "
              "r.environment = lambda: {**real(), 'clusterstats_source_sha256': 'pinned-for-test'}; "
              "from clusterstats.cli import main; sys.exit(main(sys.argv[1:]))")


def _files(folder: Path) -> list[str]:
    """The folder's files, without the writer lock (clusterstats.locks), which stays by design."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(LOCK_NAME))


@pytest.fixture(scope="module")
def threaded_batch(tmp_path_factory):
    """Six sets, two at a time in threads; RO fails with an exception."""
    out = tmp_path_factory.mktemp("batch_threads")
    code = cli.main(["batch", str(FIXTURE), "-p", "country", *COUNTRIES, "-p", "fail_on", "RO",
                     "--jobs", "2", "--output", str(out), "--quiet"])
    return code, out


def test_batch_in_threads_reports_the_failing_set(threaded_batch, capsys):
    code, out = threaded_batch
    assert code == 1
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert summary["country"].tolist() == COUNTRIES
    failed = summary[summary["status"] == "failed"]
    assert failed["country"].tolist() == ["RO"]
    assert failed["error_name"].item() == "ValueError"
    assert "asked to fail for country RO" in failed["error_message"].item()
    executed = json.loads((out / failed["notebook"].item()).read_text())
    assert "raise ValueError" in "".join(executed["cells"][int(failed["error_cell"].item())]["source"])
    assert (summary.loc[summary["country"] != "RO", "status"] == "ok").all()
    # every run left a complete notebook + manifest pair and nothing else (no temp files)
    names = _files(out)
    assert not [n for n in names if n.startswith(".")]
    assert sum(n.endswith(".ipynb") for n in names) == 6
    assert sum(n.endswith(".manifest.json") for n in names) == 6
    batch = json.loads((out / "batch_manifest.json").read_text())
    assert batch["status"] == "failed" and batch["counts"]["ok"] == 5 and batch["counts"]["failed"] == 1


def test_run_manifest_records_inputs_and_outputs(threaded_batch):
    _, out = threaded_batch
    # BG is the notebook's default country, so it is not part of the name (context.run_name)
    man = read_manifest(out / "param_fixture__fail_on-RO.manifest.json")
    assert man["status"] == "ok" and man["parameters"] == {"country": "BG", "fail_on": "RO"}
    assert man["notebook"]["path"].endswith("param_fixture.ipynb") and len(man["notebook"]["sha256"]) == 64
    assert man["output"]["path"] == "param_fixture__fail_on-RO.ipynb"
    assert man["reason"] == "never run here" and man["context"]["preloaded_kernel"] is True
    assert {"clusterstats_version", "dependencies", "git_commit"} <= set(man["environment"])
    assert "sha256" in man["data"] and man["started"] <= man["finished"]
    executed = json.loads((out / man["output"]["path"]).read_text())
    assert executed["metadata"]["papermill"]["parameters"] == {"country": "BG", "fail_on": "RO"}


def test_collect_gathers_glued_values(threaded_batch, tmp_path):
    _, out = threaded_batch
    table = collect(out, name="alpha_times_100")
    assert len(table) == 5  # the failed RO run stopped before its glue cell
    assert table["value"].tolist() == [5.0] * 5
    csv = tmp_path / "values.csv"
    assert cli.main(["results", "collect", str(out), "-o", str(csv)]) == 0
    values = pd.read_csv(csv)
    bg = values[(values["name"] == "threshold") & values["parameters"].str.contains('"BG"')]
    assert json.loads(bg["value"].item()) == {"alpha": 0.05, "country": "BG"}


def test_batch_on_a_dask_local_cluster_counts_a_silent_magic_failure(tmp_path):
    # magic_fail_on makes GR run an unknown line magic: its UsageError goes to stderr only,
    # the case where papermill can exit 0 (#501); it must count as a failure here.
    sets = plan_batch(FIXTURE, cli_params=[["country", *COUNTRIES], ["magic_fail_on", "GR"]])
    code, records = run_batch(FIXTURE, sets, tmp_path, jobs=2, scheduler="local", progress=False,
                              print_summary=False)
    assert code == 1
    status = {r.parameters["country"]: (r.status, r.error_name) for r in records}
    assert status.pop("GR") == ("failed", "UsageError")
    assert set(status.values()) == {("ok", None)}


@pytest.fixture
def frozen_data(tmp_path, monkeypatch):
    """A private data folder: other work in this working tree may change data/ meanwhile."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.json").write_text('{"snapshot": "test"}')
    monkeypatch.setenv("CLUSTERSTATS_DATA", str(data))
    monkeypatch.setenv("CLUSTERSTATS_HOME", str(tmp_path))
    return data


@pytest.fixture
def frozen_inputs(frozen_data, monkeypatch):
    """Also pin the package-source hash: any edit under clusterstats/ by others would otherwise,
    correctly, make every notebook run again."""
    import clusterstats.manifest as manifest_mod
    import clusterstats.schedule as schedule_mod

    real_env = manifest_mod.environment
    monkeypatch.setattr(schedule_mod, "environment",
                        lambda: {**real_env(), "clusterstats_source_sha256": "pinned-for-test"})
    return frozen_data


def test_run_skips_unchanged_notebooks_and_force_reruns(tmp_path, frozen_inputs):
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(f"notebooks:\n  - notebook: {FIXTURE.name}\n    parameter_sets:\n"
                        "      - {country: BG}\n      - {country: RO, alpha: 0.1}\n")
    kwargs = dict(output_dir=tmp_path / "nb", notebooks_dir=FIXTURE.parent, progress=False)
    code, first = run_pipeline(pipeline, **kwargs)
    assert code == 0 and [r.status for r in first] == ["ok", "ok"]
    assert (tmp_path / "results" / "hypotheses.csv").is_file()
    assert [r.name for r in first] == ["param_fixture", "param_fixture__alpha-0.1__country-RO"]
    code, second = run_pipeline(pipeline, **kwargs)
    assert code == 0 and [r.status for r in second] == ["skipped", "skipped"]
    code, third = run_pipeline(pipeline, force=True, **kwargs)
    assert code == 0 and [r.status for r in third] == ["ok", "ok"]
    # (that a changed data file or notebook changes the fingerprint is tested in test_runner.py)


def test_interrupted_batch_leaves_no_partial_files_and_resumes(tmp_path, frozen_data):
    """SIGINT after the first run finished: complete notebook+manifest pairs only, then resume."""
    out = tmp_path / "batch"
    cmd = [sys.executable, "-c", PINNED_CLI, "batch", str(FIXTURE), "-p", "country", "BG", "RO", "GR",
           "-p", "sleep_s", "1.0", "--jobs", "1", "--output", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and list(out.glob("*.manifest.json"))):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "first run never finished"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    names = _files(out)
    assert not [n for n in names if n.startswith(".")], names
    notebooks = {n[:-len(".ipynb")] for n in names if n.endswith(".ipynb")}
    manifests = {n[:-len(".manifest.json")] for n in names if n.endswith(".manifest.json")}
    assert notebooks == manifests and len(manifests) >= 1
    assert len(manifests) < 3
    batch = json.loads((out / "batch_manifest.json").read_text())
    assert batch["status"] == "interrupted"
    # the rerun resumes: what finished is skipped, the rest runs
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["status"] == "skipped").sum() == len(manifests), rerun.stderr
    assert set(summary["status"]) <= {"ok", "skipped"}
    assert not [n for n in _files(out) if n.startswith(".")]


def test_cell_time_limit_fails_the_run_and_names_the_cell():
    from clusterstats.runner import execute_run, make_spec

    outcome = execute_run(make_spec(FIXTURE, {"sleep_s": 60.0}, timeout=2))
    assert outcome.status == "failed" and outcome.error_name == "CellTimeoutError"
    executed = json.loads(outcome.notebook_json)
    assert "time.sleep(sleep_s)" in "".join(executed["cells"][outcome.error_cell]["source"])
