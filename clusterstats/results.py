"""The shared results table: one row per hypothesis x test, written by each notebook.

Every notebook builds its rows with the statistical functions in :mod:`clusterstats.stats`
(tidy frames, one row per test) and calls :func:`write_rows`, which adds the context columns
(hypothesis, verdict, data vintage, notebook parameters) and writes
``results/rows/<name>.csv`` atomically. :func:`assemble` concatenates all row files into
``results/hypotheses.csv``; ``clusterstats run`` calls it at the end.

Each run writes its own file, so parallel batch runs never write the same file.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ._paths import results_dir
from .provenance import atomic_write_text

#: Columns of results/hypotheses.csv, in order. Statistical functions return a subset
#: (test, method, statistic, p_value, effect_name, effect, ci_low, ci_high, ci_level, n,
#: reference, note); the notebook adds the rest.
RESULT_COLUMNS = [
    "hypothesis",      # e.g. "H1a"
    "claim_id",        # the guide's claim this row tests (data/claims.yaml), e.g. "C05"
    "claim",           # what the guide says, paraphrased in a few words
    "h0", "h1",        # the null and alternative hypotheses in plain words
    "test",            # short name of the test
    "method",          # what exactly was computed
    "statistic", "p_value",
    "effect_name", "effect", "ci_low", "ci_high", "ci_level",
    "n",
    "unit",            # unit of the effect where it has one
    "verdict",         # supported / not supported / partly / not testable offline
    "verdict_text",    # one plain-language sentence
    "caveats",
    "data_sources",    # dataset codes / files used
    "data_vintage",
    "reference",       # the method's literature reference
    "notebook", "parameters", "run_id",
]

VERDICTS = ("supported", "not supported", "partly", "not testable offline", "inconclusive")


def tidy_rows(rows: pd.DataFrame | list[Mapping[str, Any]], **context: Any) -> pd.DataFrame:
    """Add context columns to statistical rows and order them like :data:`RESULT_COLUMNS`."""
    frame = pd.DataFrame(rows).copy()
    for key, value in context.items():
        if key not in RESULT_COLUMNS:
            raise ValueError(f"unknown results column {key!r}; valid: {', '.join(RESULT_COLUMNS)}")
        if isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True, default=str)
        if key not in frame.columns or frame[key].isna().all():
            frame[key] = value
    bad = set(frame.get("verdict", pd.Series(dtype=object)).dropna()) - set(VERDICTS)
    if bad:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {sorted(bad)}")
    for col in RESULT_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.NA
    extra = [c for c in frame.columns if c not in RESULT_COLUMNS]
    return frame[RESULT_COLUMNS + extra]


def write_rows(rows: pd.DataFrame, name: str, folder: str | Path | None = None) -> Path:
    """Write one notebook run's rows to ``<folder>/rows/<name>.csv`` (atomic)."""
    folder = Path(folder) if folder is not None else results_dir()
    buf = io.StringIO()
    rows.to_csv(buf, index=False, lineterminator="\n")
    return atomic_write_text(folder / "rows" / f"{name}.csv", buf.getvalue())


def assemble(folder: str | Path | None = None) -> pd.DataFrame:
    """Concatenate ``rows/*.csv`` into ``hypotheses.csv`` (sorted, stable) and return it."""
    folder = Path(folder) if folder is not None else results_dir()
    files = sorted((folder / "rows").glob("*.csv"))
    if not files:
        table = pd.DataFrame(columns=RESULT_COLUMNS)
    else:
        table = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files],
                          ignore_index=True)
        table = table.sort_values(["hypothesis", "test", "run_id"], kind="stable")
    buf = io.StringIO()
    table.to_csv(buf, index=False, lineterminator="\n")
    atomic_write_text(folder / "hypotheses.csv", buf.getvalue())
    return table
