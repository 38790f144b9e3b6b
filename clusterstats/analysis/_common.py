"""What every hypothesis analysis returns, and small shared helpers."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd

from ..results import tidy_rows


@dataclass
class Analysis:
    """The outcome of one hypothesis run.

    rows    -- result rows in the results-table schema (clusterstats.results.RESULT_COLUMNS)
    tables  -- named tidy frames: the data behind each figure and any supporting table
    models  -- fitted model objects (statsmodels results etc.), kept for inspection
    notes   -- plain-language caveats and observations, in the order a reader needs them
    sources -- dataset codes / files used, with their vintages (for figure source lines)
    """

    rows: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    vintage: str | None = None


def snapshot_vintage(frames: Iterable[pd.DataFrame]) -> str:
    """A short vintage string from the provenance attrs of snapshot frames (``load_snapshot``)."""
    parts = []
    for frame in frames:
        attrs = frame.attrs or {}
        name = attrs.get("name") or attrs.get("dataset") or "?"
        vintage = attrs.get("vintage") or attrs.get("recorded") or "unknown vintage"
        parts.append(f"{name}: {vintage}")
    return "; ".join(dict.fromkeys(parts))


def finish_rows(rows: pd.DataFrame | list[dict], *, hypothesis: str, notebook: str,
                parameters: dict, data_sources: str, data_vintage: str, run_id: str | None = None,
                **context: Any) -> pd.DataFrame:
    """Attach the run context every results row carries (``run_id``: the run's name, see
    :class:`clusterstats.context.RunContext`)."""
    if run_id is None:
        run_id = f"{notebook}:{json.dumps(parameters, sort_keys=True, default=str)}"
    return tidy_rows(rows, hypothesis=hypothesis, notebook=notebook, parameters=parameters,
                     data_sources=data_sources, data_vintage=data_vintage, run_id=run_id, **context)


def output_name(parameters: dict, defaults: dict, stem: str) -> str:
    """File stem for a run's rows and figures: ``stem`` for the defaults, else ``stem`` plus the
    non-default parameters, so runs with other parameters never overwrite the default run's files."""
    import re

    diffs = {k: v for k, v in parameters.items() if defaults.get(k) != v}
    if not diffs:
        return stem
    tail = "_".join(f"{k}-{v}" for k, v in sorted(diffs.items()))
    return stem + "__" + re.sub(r"[^A-Za-z0-9_.-]+", "-", tail)
