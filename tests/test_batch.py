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


# --------------------------------------------------------------------------------------------
# issue 14 item 5: pre-imported kernels share no state between runs
# --------------------------------------------------------------------------------------------
ISOLATION_CELLS = [
    ("parameters", 'mode = "set"   # choices: set, check\n'),
    (None, "import os, sys, types\nimport numpy as np\nimport pandas as pd\nimport matplotlib\n"
           "import matplotlib.pyplot as plt\nimport clusterstats\nfrom clusterstats.results import glue\n"
           "glue('pid', os.getpid())\nglue('draw', float(np.random.random()))\n"
           "glue('preimported', 'scipy' in sys.modules and 'statsmodels' in sys.modules)"),
    (None, "if mode == 'set':\n"
           "    LEAK = 1\n"
           "    pd.set_option('display.max_rows', 7)\n"
           "    matplotlib.rcParams['lines.linewidth'] = 9.0\n"
           "    sys.modules['leaky_module'] = types.ModuleType('leaky_module')\n"
           "    clusterstats.LEAKED_ATTRIBUTE = True\n"
           "    os.environ['CLUSTERSTATS_LEAK'] = '1'\n"
           "    plt.figure()\n"
           "    os.chdir('/')\n"),
    (None, "if mode == 'check':\n"
           "    leaks = [name for name, leaked in [\n"
           "        ('global', 'LEAK' in globals()),\n"
           "        ('pandas option', pd.get_option('display.max_rows') != 60),\n"
           "        ('rcParams', matplotlib.rcParams['lines.linewidth'] != 1.5),\n"
           "        ('sys.modules', 'leaky_module' in sys.modules),\n"
           "        ('module attribute', hasattr(clusterstats, 'LEAKED_ATTRIBUTE')),\n"
           "        ('environment', 'CLUSTERSTATS_LEAK' in os.environ),\n"
           "        ('open figures', bool(plt.get_fignums())),\n"
           "        ('working folder', os.getcwd() == '/')] if leaked]\n"
           "    assert not leaks, f'state leaked between runs: {leaks}'"),
]


def _write_notebook(folder: Path, name: str, cells) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "clusterstats", "display_name": "Python (clusterstats)",
                                 "language": "python"}
    for tag, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        if tag:
            cell.metadata["tags"] = [tag]
        nb.cells.append(cell)
    path = folder / name
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("scheduler", [None, "local"])
def test_preimported_kernels_share_no_state(tmp_path, scheduler):
    """A run that sets globals, options, sys.modules, env, cwd and a figure, then runs that check
    none of it survived, on the same zygote (local threads; one Dask worker)."""
    from clusterstats.execute import glued_values

    nb = _write_notebook(tmp_path, "isolation.ipynb", ISOLATION_CELLS)
    sets = [{"mode": "set"}, {"mode": "check"}]
    code, records = run_batch(nb, sets, tmp_path / "out", jobs=1, scheduler=scheduler,
                              progress=False, print_summary=False)
    assert code == 0, [(r.name, r.error_message) for r in records]
    pids, draws = [], []
    for r in records:
        man = read_manifest(tmp_path / "out" / r.manifest)
        assert man["context"]["preloaded_kernel"] is True
        executed = json.loads((tmp_path / "out" / r.notebook).read_text())
        assert glued_values(executed, "preimported") == [True]
        pids += glued_values(executed, "pid")
        draws += glued_values(executed, "draw")
    assert len(set(pids)) == 2 and len(set(draws)) == 2   # fresh process, fresh random state


def test_plain_papermill_still_runs_a_notebook(tmp_path):
    import papermill

    nb = _write_notebook(tmp_path, "isolation.ipynb", ISOLATION_CELLS)
    papermill.execute_notebook(str(nb), str(tmp_path / "out.ipynb"), parameters={"mode": "check"},
                               kernel_name="clusterstats", progress_bar=False)


# --------------------------------------------------------------------------------------------
# issues 10 and 14 on a real pipeline (h8, converted to RunContext) in a private repository
# --------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
CTX_CELLS = [
    ("parameters", 'which = "calls.yaml"   # choices: calls.yaml, calls.README.md\n'
                   "figures_dir = None\nresults_dir = None\n"),
    (None, "import pandas as pd\nfrom clusterstats.context import RunContext\n"
           "from clusterstats._paths import data_dir\n"
           "ctx = RunContext.create('ctx_fixture.ipynb', {'which': which}, {'which': 'calls.yaml'},\n"
           "                        figures_dir=figures_dir, results_dir=results_dir)\n"
           "table = (data_dir() / which).read_text().splitlines()\n"
           "rows = pd.DataFrame({'hypothesis': ['HX'], 'test': ['rows'], 'n': [len(table)],\n"
           "                     'run_id': [ctx.name]})\n"
           "ctx.write_rows(rows)\nctx.finish(rows)"),
]


@pytest.fixture(scope="module")
def private_repo(tmp_path_factory):
    """A private CLUSTERSTATS_HOME (figures/, results/, reports/, build/) and a copy of data/,
    with a pipeline of h8 (two parameter sets) and a small RunContext notebook."""
    import shutil

    base = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "data", base / "data")
    notebooks = base / "notebooks"
    notebooks.mkdir()
    shutil.copy(ROOT / "notebooks" / "h8_cluster_size.ipynb", notebooks)
    _write_notebook(notebooks, "ctx_fixture.ipynb", CTX_CELLS)
    (notebooks / "pipeline.yaml").write_text(
        "notebooks:\n  - notebook: h8_cluster_size.ipynb\n    parameter_sets:\n      - {}\n"
        "      - {high: 25}\n  - notebook: ctx_fixture.ipynb\n"
        "post_steps:\n  - clusterstats.report:build\n")
    mp = pytest.MonkeyPatch()
    mp.setenv("CLUSTERSTATS_HOME", str(base))
    mp.setenv("CLUSTERSTATS_DATA", str(base / "data"))
    yield base
    mp.undo()


def _run(base: Path, *extra: str) -> tuple[int, dict[str, dict]]:
    code = cli.main(["run", "--pipeline", str(base / "notebooks" / "pipeline.yaml"), "--quiet", *extra])
    out = base / "build" / "notebooks"
    return code, {p.name[:-len(".manifest.json")]: read_manifest(p) for p in out.glob("*.manifest.json")}


def _owners(base: Path, manifests: dict[str, dict]) -> dict[str, list[str]]:
    owners: dict[str, list[str]] = {}
    for name, man in manifests.items():
        for entry in man["outputs"][1:]:
            owners.setdefault(entry["path"], []).append(name)
    return owners


def test_pipeline_every_file_has_exactly_one_run_and_skips_honestly(private_repo):
    base = private_repo
    code, mans = _run(base, "--jobs", "2")
    assert code == 0, {n: m["error"] for n, m in mans.items()}
    assert set(mans) == {"h8_cluster_size", "h8_cluster_size__high-25", "ctx_fixture"}
    owners = _owners(base, mans)
    written = [p.relative_to(base).as_posix() for folder in ("figures", "results/rows", "build/runs")
               for p in (base / folder).rglob("*") if p.is_file()]
    assert written and sorted(written) == sorted(owners)          # every file is some run's ...
    assert all(len(runs) == 1 for runs in owners.values()), owners  # ... and only one run's
    assert any(p.startswith("figures/h8_cluster_size__high-25/") for p in owners)
    assert list(mans["ctx_fixture"]["data_inputs"]) == ["data/calls.yaml"]  # what it read, only
    assert "data/calls.yaml" not in mans["h8_cluster_size"]["data_inputs"]
    table = pd.read_csv(base / "results" / "hypotheses.csv", dtype=str)
    assert set(table["run_id"]) >= {"ctx_fixture"}
    # nothing changed: everything is skipped
    code, again = _run(base)
    assert code == 0 and all(again[n]["finished"] == mans[n]["finished"] for n in mans)

    # (1) a deleted output reruns its run, and only that run, saying which file
    figure = next(p for p in owners if p.startswith("figures/h8_cluster_size/") and p.endswith(".png"))
    (base / figure).unlink()
    code, after = _run(base)
    assert code == 0 and (base / figure).is_file()
    assert after["h8_cluster_size"]["reason"] == f"output missing: {figure}"
    assert after["h8_cluster_size__high-25"]["finished"] == mans["h8_cluster_size__high-25"]["finished"]

    # (2) ad-hoc batches and rows of removed parameter sets never enter the pipeline's table
    (base / "results" / "rows" / "h8_cluster_size__low-3.csv").write_text(
        (base / "results" / "rows" / "h8_cluster_size.csv").read_text())
    assert cli.main(["batch", str(base / "notebooks" / "h8_cluster_size.ipynb"), "-p", "high", "20", "40",
                     "--output", str(base / "build" / "adhoc"), "--quiet"]) == 0
    assert (base / "build" / "adhoc" / "results" / "hypotheses.csv").is_file()
    assert not (base / "figures" / "h8_cluster_size__high-20").exists()
    code, _ = _run(base)
    assert code == 0
    assert pd.read_csv(base / "results" / "hypotheses.csv", dtype=str).equals(table)

    # (6) a changed data file reruns only the runs that read it, naming the file
    with open(base / "data" / "calls.yaml", "a") as fh:
        fh.write("\n")
    code, changed = _run(base)
    assert code == 0
    assert changed["ctx_fixture"]["reason"] == "input changed: data/calls.yaml"
    assert changed["h8_cluster_size"]["finished"] == after["h8_cluster_size"]["finished"]


def test_a_batch_over_a_parameter_that_names_no_file_writes_distinct_paths(tmp_path):
    """h1 `rounding` changed no file name before RunContext; each run must own its files."""
    nb = ROOT / "notebooks" / "h1_cluster_formation.ipynb"
    if "context(" not in nb.read_text():
        pytest.skip("h1 is not converted to RunContext on this branch yet")
    code, records = run_batch(nb, [{}, {"rounding": "floor"}], tmp_path / "b", progress=False,
                              print_summary=False)
    assert code == 0
    outputs = [{o["path"] for o in read_manifest(tmp_path / "b" / r.manifest)["outputs"][1:]} for r in records]
    assert all(outputs) and not outputs[0] & outputs[1]


def test_unreachable_scheduler_exits_2_with_a_reason(capsys, tmp_path):
    code = cli.main(["batch", str(FIXTURE), "-p", "country", "RO", "--scheduler", "tcp://127.0.0.1:9",
                     "--output", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert "Traceback" not in err


def test_sigterm_is_handled_like_ctrl_c(tmp_path, frozen_data):
    """SIGTERM mid-batch: exit 143, summary and batch manifest written, no kernel temp folder left."""
    import tempfile

    out = tmp_path / "batch"
    cmd = [sys.executable, "-c", PINNED_CLI, "batch", str(FIXTURE), "-p", "country", "BG", "RO", "GR",
           "-p", "sleep_s", "30", "--output", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ({p.name for p in Path(tempfile.gettempdir()).glob(f"clusterstats-kernel-{proc.pid}-*")}):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert json.loads((out / "batch_manifest.json").read_text())["status"] == "interrupted"
    assert (out / "summary.csv").is_file()
    # (other processes on the machine may hold their own kernel folders: look at this one's only)
    assert not list(Path(tempfile.gettempdir()).glob(f"clusterstats-kernel-{proc.pid}-*"))


# --------------------------------------------------------------------------------------------
# issue 15 item 1: kernel resolution, `make install` and a plain `pip install -e .`
# --------------------------------------------------------------------------------------------
def test_make_install_path_uses_the_clusterstats_kernel():
    from clusterstats.kernels import _runs_this_interpreter, _specs, resolve_kernel

    assert resolve_kernel(None, "clusterstats", register=False) == "clusterstats"
    assert _runs_this_interpreter(_specs()["clusterstats"])


def test_plain_pip_install_in_a_fresh_venv_runs_the_readme_batch(tmp_path):
    """A fresh venv with no Jupyter kernel registered: `pip install -e .` then the README's batch
    example on h8 with two values. Offline: the venv sees the project's installed dependencies
    through a .pth file and the package is installed with --no-deps --no-build-isolation."""
    import site
    import sysconfig

    venv = tmp_path / "venv"
    base_python = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base_python), "-m", "venv", "--without-pip", str(venv)], check=True)
    new_python = venv / "bin" / "python"
    purelib = subprocess.run([str(new_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = [p for p in site.getsitepackages() if "site-packages" in p] or [sysconfig.get_paths()["purelib"]]
    (Path(purelib) / "project_deps.pth").write_text("\n".join(deps) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "CLUSTERSTATS", "VIRTUAL_ENV"))}
    env.update(HOME=str(tmp_path / "home"), PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(new_python), "install", "--quiet",
                              "--no-deps", "--no-build-isolation", "-e", str(ROOT)],
                             capture_output=True, text=True, env=env, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    kernels = subprocess.run([str(new_python), "-c", "from jupyter_client.kernelspec import KernelSpecManager as K; "
                              "import json; print(json.dumps(sorted(K().find_kernel_specs())))"],
                             capture_output=True, text=True, env=env, check=True)
    assert "clusterstats" not in json.loads(kernels.stdout)
    out = tmp_path / "batch"
    run = subprocess.run([str(venv / "bin" / "clusterstats"), "batch", str(ROOT / "notebooks" / "h8_cluster_size.ipynb"),
                          "-p", "high", "25", "30", "--output", str(out), "--quiet"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "registered Jupyter kernel 'clusterstats'" in run.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert summary["status"].tolist() == ["ok", "ok"]
    assert summary["run"].tolist() == ["h8_cluster_size__high-25", "h8_cluster_size"]
    assert (out / "figures" / "h8_cluster_size__high-25").is_dir()


@pytest.mark.slow
def test_full_pipeline_every_file_is_written_by_exactly_one_run(tmp_path, monkeypatch):
    """Issue 10: the shipped pipeline, forced, into a private CLUSTERSTATS_HOME."""
    monkeypatch.setenv("CLUSTERSTATS_HOME", str(tmp_path))
    code = cli.main(["run", "--force", "--jobs", "2", "--quiet", "--no-post-steps",
                     "--pipeline", str(ROOT / "notebooks" / "pipeline.yaml"),
                     "--output", str(tmp_path / "build" / "notebooks")])
    mans = {p.name: read_manifest(p) for p in (tmp_path / "build" / "notebooks").glob("*.manifest.json")}
    assert code == 0, {n: m["error"] for n, m in mans.items() if m["error"]}
    owners = _owners(tmp_path, mans)
    written = [p.relative_to(tmp_path).as_posix() for folder in ("figures", "results/rows", "build/runs")
               for p in (tmp_path / folder).rglob("*") if p.is_file()]
    assert sorted(written) == sorted(owners)
    assert all(len(runs) == 1 for runs in owners.values()), {p: r for p, r in owners.items() if len(r) > 1}
    _default_runs_carry_default_parameters(tmp_path)
    _every_p_value_is_adjusted(tmp_path / "results" / "hypotheses.csv")


def _every_p_value_is_adjusted(table_path):
    """Issue 11: every row with a p-value carries its family, Holm-adjusted p and BH q."""
    table = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    with_p = table[table["p_value"] != ""]
    assert len(with_p) > 50
    assert (with_p[["family", "p_holm", "q_bh"]] != "").all(axis=None)
    judged = table[table["verdict"] != ""]
    assert judged["role"].isin(["primary", "sensitivity"]).all()
    assert (judged["rule"] != "").all()


def _default_runs_carry_default_parameters(home):
    """Every figure of a default run (its folder is named by the notebook's stem) records the
    notebook's default parameters; every other run's figures record its own non-defaults."""
    from clusterstats.context import OUTPUT_PARAMETERS, run_name
    from clusterstats.notebook_params import read_parameters

    checked = 0
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        defaults = {k: p.default for k, p in read_parameters(nb).items() if k not in OUTPUT_PARAMETERS}
        for folder in (home / "figures").glob(f"{nb.stem}*"):
            for side in folder.glob("*.provenance.json"):
                prov = json.loads(side.read_text())
                params = {k: v for k, v in prov["params"].items() if k not in OUTPUT_PARAMETERS}
                assert prov["run"] == folder.name, side
                assert run_name(nb.stem, params, defaults) == folder.name, side
                if folder.name == nb.stem:
                    assert params == {k: v for k, v in defaults.items() if k in params}, side
                checked += 1
    assert checked > 20


@pytest.mark.slow
def test_preloaded_kernels_keep_figures_as_images_in_the_executed_notebook(tmp_path):
    """pyplot is imported in the zygote before any IPython shell exists; the forked kernel must
    still hook the inline backend, or executed notebooks (and the site) lose their figures."""
    nb = ROOT / "notebooks" / "h8_cluster_size.ipynb"
    code, records = run_batch(nb, [{"n_boot": 999}], tmp_path / "b", progress=False,
                              print_summary=False)
    assert code == 0
    executed = json.loads((tmp_path / "b" / records[0].notebook).read_text())
    kinds = {k for c in executed["cells"] for o in c.get("outputs", []) for k in o.get("data", {})}
    assert "image/png" in kinds
