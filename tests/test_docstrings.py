"""``help()``/``?`` on the functions the README shows: numpydoc docstrings with an Examples
section, and the examples run (on the shipped data; the mirror example needs ../shared/mirror)."""
from __future__ import annotations

import doctest
import importlib

import pytest

from clusterstats._paths import mirror_dir

PUBLIC = [
    ("clusterstats.eurostat", "get_eurostat"), ("clusterstats.snapshot", "load_snapshot"),
    ("clusterstats.registry", "clusters"), ("clusterstats.formats", "read_eurostat_file"),
    ("clusterstats.figures", "save_figure"),
    ("clusterstats.stats.inequality", "theil_t"), ("clusterstats.stats.inequality", "theil_l"),
    ("clusterstats.stats.inequality", "gini"), ("clusterstats.stats.inequality", "cv"),
    ("clusterstats.stats.inequality", "leader_ratios"),
    ("clusterstats.stats.distribution", "median_bootstrap_ci"),
    ("clusterstats.stats.distribution", "median_order_ci"),
    ("clusterstats.stats.distribution", "share_in_range"),
    ("clusterstats.stats.association", "binomial_share_test"),
    ("clusterstats.stats.association", "fisher_exact_2x2"),
    ("clusterstats.stats.association", "crosstab_2x2"),
    ("clusterstats.stats.counts", "counts_from_events"),
    ("clusterstats.stats.counts", "exact_rate_test"),
    ("clusterstats.stats.counts", "poisson_event_glm"),
    ("clusterstats.stats.changepoint", "pelt_poisson"),
    ("clusterstats.stats.changepoint", "poisson_switchpoint"),
    ("clusterstats.stats.trend", "rank_among"), ("clusterstats.stats.trend", "segmented_trend"),
    ("clusterstats.stats.ordinal", "proportion_ci"), ("clusterstats.stats.calibration", "base_code"),
    ("clusterstats.display", "results_style"), ("clusterstats.site", "build_site"),
    ("clusterstats.cite", "format_citation"),
]


def _func(module: str, name: str):
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("module, name", PUBLIC, ids=[n for _, n in PUBLIC])
def test_docstring_has_examples(module, name):
    doc = _func(module, name).__doc__ or ""
    assert "Examples\n" in doc and ">>> " in doc, f"{module}.{name} has no Examples section"


@pytest.mark.slow
@pytest.mark.parametrize("module, name", PUBLIC, ids=[n for _, n in PUBLIC])
def test_examples_run(module, name):
    func = _func(module, name)
    if "mirror_dir()" in (func.__doc__ or "") and not mirror_dir().is_dir():
        pytest.skip(f"{mirror_dir()} (the recorded Eurostat files) is not beside the repository")
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(func, name, globs={}):
        runner.run(test)
    assert runner.failures == 0, f"{module}.{name}: {runner.failures} example(s) failed"
