"""Run identity: one rule names every run; distinct parameters never share a name or a file."""
from __future__ import annotations

import itertools

import pandas as pd
import pytest

from clusterstats.context import OUTPUT_PARAMETERS, RunContext, run_name


def test_default_run_is_named_by_its_stem_and_output_folders_never_count():
    defaults = {"country": "BG", "unit": "MIO_EUR", "alpha": 0.05}
    assert run_name("h4", dict(defaults), defaults) == "h4"
    assert run_name("h4", {**defaults, "figures_dir": "/x", "results_dir": "y"}, defaults) == "h4"
    assert run_name("h4", {**defaults, "unit": "PC_GDP"}, defaults) == "h4__unit-PC_GDP"
    assert run_name("h4", {"unit": "PC_GDP", "country": "RO"}, defaults) == "h4__country-RO__unit-PC_GDP"
    assert run_name("h1", {"alpha": 0.050}, {"alpha": 0.05}) == "h1"          # 0.05 == 0.050
    assert run_name("h1", {"flag": True}, {"flag": 1}) == "h1__flag-true"      # bool is not int


def test_unsafe_or_long_values_get_a_hash_and_stay_distinct():
    a = run_name("nb", {"path": "a/b"}, {})
    b = run_name("nb", {"path": "a_b"}, {})
    assert a != b and "/" not in a and a.startswith("nb__path-a_b-")
    long = run_name("nb", {"x": "y" * 200}, {})
    assert len(long) < 120


def test_no_two_parameter_sets_share_a_name():
    defaults = {"rounding": "round", "alpha": 0.05, "leader": None}
    grid = itertools.product(["round", "floor", "ceil"], [0.05, 0.1, 0.01], [None, "BG41", "BG 41"])
    names = [run_name("h1", {"rounding": r, "alpha": a, "leader": l}, defaults) for r, a, l in grid]
    assert len(names) == len(set(names))


def test_context_places_every_file_under_its_run(tmp_path):
    ctx = RunContext.create("h8_cluster_size.ipynb", {"low": 5, "figures_dir": "ignored"},
                            {"low": 10}, figures_dir=tmp_path / "fig", results_dir=tmp_path / "res",
                            build_dir=tmp_path / "build")
    assert ctx.name == "h8_cluster_size__low-5" and not ctx.is_default
    assert "figures_dir" not in ctx.parameters and OUTPUT_PARAMETERS >= {"figures_dir"}
    assert ctx.figures_dir == tmp_path / "fig" / ctx.name
    path = ctx.write_rows(pd.DataFrame({"test": ["t"]}))
    assert path == tmp_path / "res" / "rows" / f"{ctx.name}.csv" and path.is_file()
    assert ctx.path("table.csv") == tmp_path / "build" / "runs" / ctx.name / "table.csv"
    with pytest.raises(ValueError, match="plain file name"):
        ctx.path("../escape.csv")
    assert ctx.outputs[0] == path


def test_context_records_the_data_files_read(tmp_path):
    from clusterstats import registry

    ctx = RunContext.create("h8_cluster_size.ipynb", {}, {})
    registry.load_bsmepa()
    assert "data/registry/bsmepa.csv" in [i["path"] for i in ctx.inputs()]
    assert all(len(i["sha256"]) == 64 for i in ctx.inputs())
    prov = ctx.provenance()
    assert prov["run"] == "h8_cluster_size" and prov["default_run"] is True


def test_saved_figure_carries_the_run_and_its_parameters(tmp_path):
    import json

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ctx = RunContext.create("h8_cluster_size.ipynb", {"low": 5}, {"low": 10}, figures_dir=tmp_path)
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    paths = ctx.save_figure(fig, "h8_members", data=pd.DataFrame({"x": [1, 2]}), sources=["test"])
    plt.close(fig)
    assert paths["png"].parent == tmp_path / "h8_cluster_size__low-5"
    side = json.loads(paths["provenance"].read_text())
    assert side["run"] == "h8_cluster_size__low-5" and side["params"] == {"low": 5}
