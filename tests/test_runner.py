"""Fast tests of the runner's parts that need no kernel: parameters, grids, names, errors, glue."""
from __future__ import annotations

import errno
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
    assert run_name("h4", {"country": "BG", "alpha": 0.05}) == "h4__country-BG__alpha-0.05"
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
