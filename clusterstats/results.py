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
    # added with the declared hypotheses (issues 10, 11); older tables lack them
    "part",            # the claim part this row tests (data/claims.yaml), e.g. "C08.range"
    "role",            # primary / sensitivity / diagnostic / descriptive (only the first two judged)
    "family",          # multiple-testing family: the claim within the run
    "p_holm",          # p-value adjusted by Holm within the family (verdicts use this)
    "q_bh",            # Benjamini-Hochberg q over every p-value of the assembled table
    "rule",            # the verdict rule applied (clusterstats.rules)
    "verdict_sensitivity",  # the verdict under the claim's alternative thresholds
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


def assemble(folder: str | Path | None = None, runs: list[str] | None = None) -> pd.DataFrame:
    """Concatenate run row files into ``hypotheses.csv`` (sorted, stable) and return it.

    ``runs``: the names of the runs that define the table (``rows/<run>.csv`` each); a missing one
    is an error. ``None`` takes every file in ``rows/`` (for a batch's own folder). The
    Benjamini–Hochberg q-value over every p-value in the table is (re)computed into ``q_bh``.
    """
    folder = Path(folder) if folder is not None else results_dir()
    if runs is None:
        files = sorted((folder / "rows").glob("*.csv"))
    else:
        files = [folder / "rows" / f"{name}.csv" for name in runs]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"{folder / 'rows'}: no rows for run(s) {', '.join(missing)}")
    if not files:
        table = pd.DataFrame(columns=RESULT_COLUMNS)
    else:
        table = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files],
                          ignore_index=True)
        table = table.sort_values(["hypothesis", "test", "run_id"], kind="stable")
    table = _with_q_values(table)
    buf = io.StringIO()
    table.to_csv(buf, index=False, lineterminator="\n")
    atomic_write_text(folder / "hypotheses.csv", buf.getvalue())
    return table


def _with_q_values(table: pd.DataFrame) -> pd.DataFrame:
    """``q_bh`` over every row with a p-value (Benjamini-Hochberg across the whole table)."""
    from .stats.multiplicity import benjamini_hochberg

    table = table.copy()
    for col in RESULT_COLUMNS:
        if col not in table.columns:
            table[col] = ""
    q = benjamini_hochberg(pd.to_numeric(table["p_value"], errors="coerce"))
    table["q_bh"] = [f"{v:.6g}" if v == v else "" for v in q]
    extra = [c for c in table.columns if c not in RESULT_COLUMNS]
    return table[RESULT_COLUMNS + extra]


# ---------------------------------------------------------------------------------------------
# glue / collect: named values recorded in executed notebooks (replaces scrapbook's glue/read;
# scrapbook 0.5.0 is unmaintained and fails to import without `six`, see the reference notes A4)
# ---------------------------------------------------------------------------------------------
#: MIME type of a glued value in a notebook's outputs; the payload is
#: ``{"name": ..., "encoder": "json" | "dataframe", "data": ...}``.
GLUE_MIME = "application/vnd.clusterstats.glue+json"
#: a glued DataFrame must stay small: larger tables belong in a CSV written with write_rows()
GLUE_MAX_ROWS = 10_000


def _plain(value: Any) -> Any:
    """Make ``value`` strict JSON: numpy scalars -> Python, NaN/inf -> None, tuples -> lists."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def glue(name: str, value: Any, *, display: bool = True) -> dict[str, Any]:
    """Record a named value in the running notebook's output, for :func:`collect` to read.

    ``value`` is anything JSON can hold (numbers, strings, lists, dicts, numpy scalars) or a small
    ``pandas.DataFrame`` (stored as a list of records). The value is shown as a MIME bundle of type
    :data:`GLUE_MIME`, so it lands in the cell's outputs of the executed notebook. Outside a
    notebook nothing is displayed. Returns the payload. By convention a value glued under the name
    ``"outputs"`` (a path or list of paths) is recorded as the run's outputs in its manifest.

    Same idea as scrapbook's ``sb.glue`` (nteract/scrapbook), with a JSON-only protocol.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"glue name must be a non-empty string, got {name!r}")
    if isinstance(value, pd.Series):
        value = value.to_frame()
    if isinstance(value, pd.DataFrame):
        if len(value) > GLUE_MAX_ROWS:
            raise ValueError(f"glue {name!r}: DataFrame has {len(value)} rows (> {GLUE_MAX_ROWS}); "
                             "write it with write_rows() or to a CSV and glue the path instead")
        records = json.loads(value.reset_index(drop=not _has_named_index(value))
                             .to_json(orient="records", date_format="iso"))
        payload = {"name": name, "encoder": "dataframe", "data": records}
    else:
        payload = {"name": name, "encoder": "json", "data": _plain(value)}
    try:
        text = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"glue {name!r}: value of type {type(value).__name__} is not JSON-able "
                        f"({exc}); glue numbers, strings, lists, dicts or a small DataFrame") from exc
    if display:
        try:
            from IPython import get_ipython
            from IPython.display import display as ipy_display
        except ImportError:  # pragma: no cover - IPython comes with ipykernel
            return payload
        if get_ipython() is not None:
            short = text if len(text) <= 200 else text[:197] + "..."
            ipy_display({GLUE_MIME: payload, "text/plain": f"glued {name}: {short}"}, raw=True)
    return payload


def _has_named_index(frame: pd.DataFrame) -> bool:
    return any(n is not None for n in frame.index.names)


def _iter_glued(nb: Mapping[str, Any]):
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            payload = out.get("data", {}).get(GLUE_MIME)
            if isinstance(payload, str):  # nbformat may store +json bundles as text in old files
                payload = json.loads(payload)
            if isinstance(payload, dict) and "name" in payload:
                yield payload


def collect(folder: str | Path, name: str | None = None) -> pd.DataFrame:
    """Gather the values glued in every executed notebook under ``folder`` into one tidy table.

    Columns: ``notebook`` (path relative to ``folder``), ``parameters`` (the papermill parameters
    as sorted JSON text), ``name``, ``value`` (the decoded value; a DataFrame comes back as a list
    of records, ``pd.DataFrame(value)`` rebuilds it), ``encoder``. One row per notebook x name;
    when a notebook glues the same name twice the last value wins (as in scrapbook). ``name``
    keeps only that value. Hidden files and folders (temp files of a running batch) are skipped.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    rows = []
    for path in sorted(folder.rglob("*.ipynb")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable notebook: {exc}") from exc
        params = nb.get("metadata", {}).get("papermill", {}).get("parameters", {}) or {}
        found: dict[str, dict[str, Any]] = {}
        for payload in _iter_glued(nb):
            found.pop(payload["name"], None)  # re-insert: order of the last glue
            found[payload["name"]] = payload
        for payload in found.values():
            if name is not None and payload["name"] != name:
                continue
            rows.append({"notebook": rel.as_posix(),
                         "parameters": json.dumps(params, sort_keys=True),
                         "name": payload["name"], "value": payload.get("data"),
                         "encoder": payload.get("encoder", "json")})
    return pd.DataFrame(rows, columns=["notebook", "parameters", "name", "value", "encoder"])
