"""Fast tests of the runner's parts that need no kernel: parameters, grids, names, errors, glue."""
from __future__ import annotations

import errno
import os
import sys
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterstats import cli
from clusterstats.batch import plan_batch
from clusterstats.manifest import data_snapshot, fingerprint, is_up_to_date
from clusterstats.notebook_params import (ParameterError, expand_grid, load_grid_file, read_parameters,
                                          validate_parameters)
from clusterstats.results import GLUE_MIME, collect, glue
from clusterstats.runner import find_error, load_pipeline, run_name, start_kernel

FIXTURE = Path(__file__).parent / "fixtures" / "notebooks" / "param_fixture.ipynb"


def test_read_parameters_from_tagged_cell():
    params = read_parameters(FIXTURE)
    assert list(params) == ["country", "alpha", "fail_on", "magic_fail_on", "sleep_s"]
    assert (params["country"].type, params["country"].default) == ("str", "BG")
    assert (params["alpha"].type, params["alpha"].default) == ("float", 0.05)


def test_annotation_and_magics_in_parameters_cell():
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]},
                     "source": "%matplotlib inline\nyears: list = None\nn = 3\nflag = True\n"
                               "path = str(1)\n"}]}
    params = read_parameters(nb)
    assert {k: p.type for k, p in params.items()} == {"years": "list", "n": "int", "flag": "bool",
                                                       "path": "any"}


def test_union_annotation_accepts_either_type():
    # H4's year: a whole year or "nearest" (issue 12, item 3)
    declared = read_parameters({"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]},
                                           "source": "year: int | str = 2016\n"}]})
    assert (declared["year"].type, declared["year"].default) == ("any", 2016)
    assert validate_parameters({"year": "nearest"}, declared, from_text=True) == {"year": "nearest"}
    assert validate_parameters({"year": "2018"}, declared, from_text=True) == {"year": 2018}
    assert validate_parameters({"year": 2018}, declared) == {"year": 2018}


def test_cli_strings_are_coerced_to_the_defaults_type():
    declared = read_parameters({"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]},
                                           "source": "n = 3\nalpha = 0.05\nok = False\nyears = [2015]\nc = 'BG'"}]})
    got = validate_parameters({"n": "7", "alpha": "1", "ok": "yes", "years": "[2016, 2017]", "c": "NO"},
                              declared, from_text=True)
    assert got == {"n": 7, "alpha": 1.0, "ok": True, "years": [2016, 2017], "c": "NO"}
    assert isinstance(got["alpha"], float)


@pytest.mark.parametrize("params, fragment", [
    ({"countri": "BG"}, "unknown parameter 'countri'"),
    ({"alpha": "abc"}, "parameter 'alpha' expects float"),
])
def test_validation_errors_list_the_valid_parameters(params, fragment):
    with pytest.raises(ParameterError) as info:
        validate_parameters(params, read_parameters(FIXTURE), from_text=True)
    msg = str(info.value)
    assert fragment in msg
    assert "country: str = 'BG'" in msg and "alpha: float = 0.05" in msg


def test_yaml_values_are_type_checked_not_coerced():
    declared = read_parameters(FIXTURE)
    assert validate_parameters({"alpha": 1}, declared) == {"alpha": 1.0}  # int is fine for float
    with pytest.raises(ParameterError, match="expects float"):
        validate_parameters({"alpha": True}, declared)  # bool is not a number
    with pytest.raises(ParameterError, match="expects str"):
        validate_parameters({"country": 3}, declared)


def test_grid_is_cartesian_and_deduplicated():
    sets = expand_grid({"country": ["BG", "RO", "BG"], "alpha": [0.05, 0.01]})
    assert sets == [{"country": "BG", "alpha": 0.05}, {"country": "BG", "alpha": 0.01},
                    {"country": "RO", "alpha": 0.05}, {"country": "RO", "alpha": 0.01}]


def test_grid_file_both_forms_and_the_norway_problem(tmp_path):
    mapping = tmp_path / "grid.yaml"
    mapping.write_text("country: [BG, NO]\nalpha: 0.05\n")
    assert load_grid_file(mapping) == ({"country": ["BG", "NO"], "alpha": [0.05]}, None)
    explicit = tmp_path / "sets.yaml"
    explicit.write_text("- {country: BG, alpha: 0.05}\n- {country: RO}\n")
    assert plan_batch(FIXTURE, grid_file=explicit) == [{"country": "BG", "alpha": 0.05}, {"country": "RO"}]
    assert plan_batch(FIXTURE, grid_file=mapping, cli_params=[["fail_on", "NO"]]) == [
        {"country": "BG", "alpha": 0.05, "fail_on": "NO"}, {"country": "NO", "alpha": 0.05, "fail_on": "NO"}]


def test_batch_cli_rejects_bad_parameters_before_running(tmp_path, capsys):
    out = tmp_path / "never"
    code = cli.main(["batch", str(FIXTURE), "-p", "country", "BG", "-p", "alpha", "x", "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "alpha" in err and "valid parameters" in err and "fail_on: str = ''" in err
    assert not out.exists()
    assert cli.main(["batch", str(FIXTURE), "-p", "countri", "BG", "--output", str(out)]) == 2
    assert "unknown parameter 'countri'" in capsys.readouterr().err


def test_run_name_is_readable_and_unique():
    # the runner names runs with clusterstats.context.run_name: keys sorted, defaults left out
    assert run_name("h4", {"country": "BG", "alpha": 0.05}) == "h4__alpha-0.05__country-BG"
    assert run_name("h4", {"country": "BG", "unit": "PC_GDP"}, {"country": "BG", "unit": "MIO_EUR"}) \
        == "h4__unit-PC_GDP"
    a, b = run_name("h4", {"c": "a/b"}), run_name("h4", {"c": "a b"})
    assert a != b and "/" not in a


def test_pipeline_is_checked_before_running(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "notebooks:\n  - notebook: missing.ipynb\n"
        f"  - notebook: {FIXTURE.name}\n    parameter_sets:\n      - {{country: 3}}\n")
    with pytest.raises(ValueError) as info:
        load_pipeline(tmp_path / "p.yaml", notebooks_dir=FIXTURE.parent)
    assert "notebook not found" in str(info.value) and "expects str" in str(info.value)


def test_shipped_pipeline_lists_existing_notebooks_with_valid_parameters():
    pipeline = load_pipeline(Path(__file__).parents[1] / "notebooks" / "pipeline.yaml")
    assert pipeline.entries[0].notebook.name == "00_registry_overview.ipynb"
    assert "clusterstats.report:build" in pipeline.post_steps


def _code_cell(outputs, papermill=None):
    return {"cell_type": "code", "metadata": {"papermill": papermill or {}}, "outputs": outputs, "source": ""}


def test_find_error_counts_error_outputs_and_silent_failures():
    ok = {"cells": [_code_cell([{"output_type": "error", "ename": "SystemExit", "evalue": "0"}])]}
    assert find_error(ok) is None
    err = {"cells": [_code_cell([]), _code_cell([{"output_type": "error", "ename": "KeyError", "evalue": "'x'"}])]}
    assert find_error(err) == (1, "KeyError", "'x'")
    # papermill #501: the magic's UsageError went to stderr only, the cell is marked failed
    silent = {"cells": [_code_cell([{"output_type": "stream", "name": "stderr",
                                     "text": "UsageError: Line magic function `%nope` not found.\n"}],
                                   {"exception": True, "status": "failed"})]}
    assert find_error(silent) == (0, "UsageError", "Line magic function `%nope` not found.")


class _FakeKM:
    """Stands in for jupyter_client's KernelManager: the first start hits the port race."""
    starts: list[str] = []

    def __init__(self, kernel_name, connection_file):
        self.connection_file = connection_file
        self.has_kernel = False

    def start_kernel(self, **kw):
        import zmq

        _FakeKM.starts.append(self.connection_file)
        if len(_FakeKM.starts) == 1:
            raise zmq.ZMQError(errno.EADDRINUSE, "Address already in use (addr='tcp://127.0.0.1:5555')")
        self.has_kernel = True

    def client(self):
        class _KC:
            def start_channels(self): ...
            def wait_for_ready(self, timeout): ...
            def stop_channels(self): ...
        return _KC()

    def shutdown_kernel(self, now=False):
        self.has_kernel = False

    def cleanup_resources(self): ...


def test_kernel_start_is_retried_on_the_port_race_with_a_fresh_connection_file(tmp_path):
    _FakeKM.starts = []
    km, attempts = start_kernel("python3", runtime_dir=tmp_path, km_factory=_FakeKM)
    assert attempts == 2 and km.has_kernel
    assert len(set(_FakeKM.starts)) == 2


def test_kernel_start_does_not_retry_other_errors(tmp_path):
    class Broken(_FakeKM):
        def start_kernel(self, **kw):
            raise FileNotFoundError("no such kernel: nope")

    with pytest.raises(FileNotFoundError):
        start_kernel("nope", runtime_dir=tmp_path, km_factory=Broken)


def test_glue_payload_outside_a_notebook():
    assert glue("x", np.float64(0.5)) == {"name": "x", "encoder": "json", "data": 0.5}
    assert glue("nan", [1.0, float("nan")])["data"] == [1.0, None]
    frame = pd.DataFrame({"geo": ["BG", "RO"], "v": [1.5, None]})
    assert glue("t", frame)["data"] == [{"geo": "BG", "v": 1.5}, {"geo": "RO", "v": None}]
    with pytest.raises(TypeError, match="not JSON-able"):
        glue("bad", object())


def test_collect_reads_glued_values(tmp_path):
    def nb(params, glued):
        return {"metadata": {"papermill": {"parameters": params}}, "nbformat": 4, "nbformat_minor": 5,
                "cells": [{"cell_type": "code", "metadata": {}, "source": "", "outputs": [
                    {"output_type": "display_data", "metadata": {},
                     "data": {GLUE_MIME: {"name": n, "encoder": "json", "data": v}, "text/plain": ""}}
                    for n, v in glued]}]}
    (tmp_path / "a.ipynb").write_text(json.dumps(nb({"country": "BG"}, [("p", 0.1), ("p", 0.2)])))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.ipynb").write_text(json.dumps(nb({"country": "RO"}, [("p", 0.3), ("q", [1])])))
    (tmp_path / ".b.ipynb.x.tmp.ipynb").write_text("{half")  # a temp file of a running batch
    table = collect(tmp_path)
    assert table[["notebook", "name", "value"]].values.tolist() == [
        ["a.ipynb", "p", 0.2], ["sub/b.ipynb", "p", 0.3], ["sub/b.ipynb", "q", [1]]]
    assert json.loads(table["parameters"][0]) == {"country": "BG"}


def test_fingerprint_changes_with_every_input(tmp_path):
    env = {"clusterstats_version": "0.1.0", "clusterstats_source_sha256": "s", "dependencies": {}}
    base = dict(notebook_sha256="n", parameters={"a": 1}, data_sha256="d", env=env, kernel=None)
    fp = fingerprint(**base)
    for change in ({"notebook_sha256": "n2"}, {"parameters": {"a": 2}}, {"data_sha256": "d2"},
                   {"env": {**env, "clusterstats_source_sha256": "s2"}}, {"kernel": "k"}):
        assert fingerprint(**{**base, **change}) != fp
    assert not is_up_to_date(tmp_path / "none.manifest.json", tmp_path / "none.ipynb", fp)


def test_data_snapshot_hashes_files_and_reads_manifest_vintages(tmp_path):
    (tmp_path / "eurostat").mkdir()
    (tmp_path / "eurostat" / "manifest.json").write_text(json.dumps(
        {"created": "x", "datasets": {"rd_e_gerdreg": {"last_update": "2025-03-01", "rows": 10}}}))
    (tmp_path / "eurostat" / "a.csv").write_text("geo,v\nBG,1\n")
    snap = data_snapshot(tmp_path)
    assert snap["n_files"] == 2
    assert snap["manifests"]["eurostat/manifest.json"]["vintages"] == {
        "datasets": {"rd_e_gerdreg": {"last_update": "2025-03-01"}}}
    (tmp_path / "eurostat" / "a.csv").write_text("geo,v\nBG,20\n")
    assert data_snapshot(tmp_path)["sha256"] != snap["sha256"]


def test_run_refuses_to_write_over_the_source_notebook(tmp_path, capsys):
    nb = tmp_path / "param_fixture.ipynb"
    nb.write_bytes(FIXTURE.read_bytes())
    assert cli.main(["batch", str(nb), "--output", str(tmp_path), "--quiet"]) == 2
    assert "would overwrite its source" in capsys.readouterr().err
    assert nb.read_bytes() == FIXTURE.read_bytes()


# --------------------------------------------------------------------------------------------
# issue 14: declared values, names confined, errors not tracebacks, honest skipping, locks
# --------------------------------------------------------------------------------------------
def _nb(source: str) -> dict:
    return {"metadata": {"kernelspec": {"name": "clusterstats", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5,
            "cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": source,
                       "outputs": [], "execution_count": None}]}


DECLARED = ('country = "BG"   # choices: BG, RO, GR\n'
            'alpha = 0.05     # significance level; range: (0, 1)\n'
            'n = 10           # range: [1, )\n'
            'leader = None\n'
            'figures_dir = None\n')


@pytest.fixture
def declared_nb(tmp_path):
    path = tmp_path / "declared.ipynb"
    path.write_text(json.dumps(_nb(DECLARED)))
    return path


def test_choices_and_ranges_are_read_from_comments_without_a_kernel(declared_nb):
    params = read_parameters(declared_nb)
    assert params["country"].choices == ("BG", "RO", "GR")
    assert params["alpha"].bounds == (0.0, 1.0, False, False)
    assert params["n"].bounds == (1.0, None, True, False)
    assert validate_parameters({"country": "RO", "alpha": "0.5", "n": "1"}, params, from_text=True) == \
        {"country": "RO", "alpha": 0.5, "n": 1}
    with pytest.raises(ParameterError, match="'XX' not among the declared choices BG, RO, GR"):
        validate_parameters({"country": "XX"}, params)
    with pytest.raises(ParameterError, match="2.0 outside the declared range"):
        validate_parameters({"alpha": "2"}, params, from_text=True)
    with pytest.raises(ParameterError, match="outside the declared range"):
        validate_parameters({"n": 0}, params)


def test_every_bad_parameter_set_is_listed_in_one_message(declared_nb):
    with pytest.raises(ParameterError) as info:
        plan_batch(declared_nb, cli_params=[["country", "BG", "XX", "YY"], ["alpha", "2", "0.1"]])
    msg = str(info.value)
    assert "'XX'" in msg and "'YY'" in msg and "2.0 outside" in msg
    assert msg.count("valid parameters") == 1


@pytest.mark.parametrize("argv, fragment", [
    (["-p", "leader", "[unclosed"], "'[unclosed' is not a valid value"),
    (["-p", "country", "XX"], "not among the declared choices"),
    (["-p", "alpha", "2"], "outside the declared range"),
])
def test_bad_values_exit_2_with_a_reason_before_any_kernel(declared_nb, tmp_path, capsys, argv, fragment):
    out = tmp_path / "never"
    assert cli.main(["batch", str(declared_nb), *argv, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err.splitlines()[0] and "Traceback" not in err
    assert not out.exists()


def test_none_default_values_from_the_command_line(declared_nb):
    params = read_parameters(declared_nb)
    got = validate_parameters({"figures_dir": "2016-01-01", "leader": "2016-01-01"}, params, from_text=True)
    assert got == {"figures_dir": "2016-01-01", "leader": "2016-01-01"}  # text, not a date
    assert validate_parameters({"leader": "[1, 2]"}, params, from_text=True) == {"leader": [1, 2]}


@pytest.mark.parametrize("name", ["../x", "/abs/x", "a/b", ".hidden", "a..b"])
def test_run_names_are_confined_to_the_output_folder(tmp_path, name, capsys):
    (tmp_path / "p.yaml").write_text(f"notebooks:\n  - notebook: {FIXTURE.name}\n    parameter_sets:\n"
                                     f"      - {{country: RO, name: {json.dumps(name)}}}\n")
    with pytest.raises(ValueError, match="is not allowed"):
        load_pipeline(tmp_path / "p.yaml", notebooks_dir=FIXTURE.parent)
    code = cli.main(["run", "--pipeline", str(tmp_path / "p.yaml"), "--notebooks-dir",
                     str(FIXTURE.parent), "--output", str(tmp_path / "out")])
    assert code == 2 and "is not allowed" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()


def test_two_sets_with_one_name_and_a_missing_post_step_are_refused_up_front(tmp_path):
    (tmp_path / "p.yaml").write_text(
        f"notebooks:\n  - notebook: {FIXTURE.name}\n    parameter_sets:\n"
        "      - {}\n      - {country: BG}\n"          # BG is the default: the same run
        "post_steps:\n  - clusterstats.no_such_module:build\n")
    with pytest.raises(ValueError) as info:
        load_pipeline(tmp_path / "p.yaml", notebooks_dir=FIXTURE.parent)
    msg = str(info.value)
    assert "same run name" in msg and "param_fixture" in msg
    assert "clusterstats.no_such_module cannot be imported" in msg


def test_shipped_pipeline_names_follow_run_name():
    pipeline = load_pipeline(Path(__file__).parents[1] / "notebooks" / "pipeline.yaml")
    names = pipeline.run_names
    assert "h1_cluster_formation" in names and "h1_cluster_formation__rounding-floor" in names
    assert "h4_regional_rd_disparity" in names and "h4_regional_rd_disparity__unit-PC_GDP" in names
    assert len(names) == len(set(names))


def _manifest_for(tmp_path, monkeypatch):
    """A manifest of a run that read data/a.csv and wrote figures/r/f.png (no kernel needed)."""
    from clusterstats.execute import RunOutcome
    from clusterstats.manifest import data_snapshot, run_manifest, sha256_file

    data, home = tmp_path / "data", tmp_path / "home"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("x\n1\n")
    (data / "sub" / "b.csv").write_text("y\n2\n")
    (home / "figures" / "r").mkdir(parents=True)
    (home / "figures" / "r" / "f.png").write_bytes(b"png")
    monkeypatch.setenv("CLUSTERSTATS_DATA", str(data))
    monkeypatch.setenv("CLUSTERSTATS_HOME", str(home))
    env = {"clusterstats_version": "0", "clusterstats_source_sha256": "s", "dependencies": {}}
    outcome = RunOutcome("r", "ok", "t0", "t1", 1.0)
    man = run_manifest(name="r", outcome=outcome, notebook={"path": "nb.ipynb", "sha256": "n"},
                       parameters={}, kernel="k", env=env, reason="never run here",
                       outputs=[{"path": "figures/r/f.png", "sha256": sha256_file(home / "figures/r/f.png"),
                                 "kind": "glued"}],
                       data_inputs={"data/a.csv": sha256_file(data / "a.csv")}, snapshot=data_snapshot(data))
    return man, env, data, home


def test_skip_only_when_inputs_read_and_outputs_are_unchanged(tmp_path, monkeypatch):
    from clusterstats.manifest import data_snapshot, staleness

    man, env, data, home = _manifest_for(tmp_path, monkeypatch)

    def state():
        return staleness(man, notebook_sha256="n", parameters={}, env=env, kernel="k",
                         snapshot=data_snapshot(data))

    assert state().up_to_date
    (data / "sub" / "b.csv").write_text("y\n3\n")        # a file the run did not read
    assert state().up_to_date
    (data / "a.csv").write_text("x\n2\n")                # a file it read
    assert state().reasons == ["input changed: data/a.csv"]
    (data / "a.csv").write_text("x\n1\n")
    (home / "figures" / "r" / "f.png").unlink()          # an output it wrote
    assert state().reasons == ["output missing: figures/r/f.png"]
    (home / "figures" / "r" / "f.png").write_bytes(b"other")
    assert state().reasons == ["output changed: figures/r/f.png"]


def test_a_second_writer_refuses_or_waits(tmp_path, capsys):
    import threading

    from clusterstats.locks import Busy, writer_lock

    out = tmp_path / "out"
    with writer_lock(out, command="test holder"):
        code = cli.main(["batch", str(FIXTURE), "-p", "country", "RO", "--output", str(out), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and "is being written by pid" in err and "--wait" in err
        with pytest.raises(Busy):
            with writer_lock(out):
                pass
    got = []
    with writer_lock(out):
        waiter = threading.Thread(target=lambda: got.append(writer_lock(out, wait=True).__enter__()))
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive() and not got     # queued behind the holder
    waiter.join(10)
    assert got == [out]


def test_kernel_resolution_says_the_fix(monkeypatch):
    import clusterstats.kernels as kernels

    monkeypatch.setattr(kernels, "_specs", lambda: {})
    with pytest.raises(kernels.KernelNotFound, match="ipykernel install --sys-prefix --name clusterstats"):
        kernels.resolve_kernel(None, "clusterstats", register=False)
    with pytest.raises(kernels.KernelNotFound, match="no Jupyter kernel named 'nope'"):
        kernels.resolve_kernel("nope")
    own = {"spec": {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]}}
    monkeypatch.setattr(kernels, "_specs", lambda: {"python3": own})
    said = []
    assert kernels.resolve_kernel(None, "clusterstats", register=False, say=said.append) == "python3"
    assert "using kernel 'python3' (this Python)" in said[0]
    monkeypatch.setattr(kernels, "_specs", lambda: {"clusterstats": own, "python3": own})
    assert kernels.resolve_kernel(None, "clusterstats") == "clusterstats"
    assert kernels.resolve_kernel("python3", "clusterstats") == "python3"


def test_stale_kernel_folders_are_cleaned(tmp_path):
    from clusterstats.kernels import RUNTIME_PREFIX, clean_stale_runtime_folders

    dead = tmp_path / f"{RUNTIME_PREFIX}999999999-abc"
    alive = tmp_path / f"{RUNTIME_PREFIX}{os.getpid()}-abc"
    dead.mkdir()
    alive.mkdir()
    assert clean_stale_runtime_folders(tmp_path) == [dead]
    assert alive.exists() and not dead.exists()


def test_no_import_cycle_between_runner_modules():
    import ast as _ast

    pkg = Path(__file__).parents[1] / "clusterstats"
    order = ["manifest", "kernels", "execute", "locks", "schedule", "pipeline", "commands", "batch", "runner"]
    for low, name in enumerate(order):
        tree = _ast.parse((pkg / f"{name}.py").read_text())
        imported = {n.module for n in _ast.walk(tree) if isinstance(n, _ast.ImportFrom) and n.level == 1}
        higher = set(order[low + 1:])
        assert not imported & higher, (name, imported & higher)


def test_batch_sets_with_one_name_are_refused_before_the_folder_exists(tmp_path, capsys):
    grid = tmp_path / "sets.yaml"
    grid.write_text("- {}\n- {country: BG}\n")           # BG is the default: both are `param_fixture`
    out = tmp_path / "never"
    assert cli.main(["batch", str(FIXTURE), "--grid", str(grid), "--output", str(out)]) == 2
    assert "same name" in capsys.readouterr().err and not out.exists()
