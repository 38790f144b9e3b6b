"""One place that builds the tidy result rows every statistical test returns.

Each test in :mod:`clusterstats.stats` returns a DataFrame with one row per test and the
columns :data:`STAT_COLUMNS` (a subset of :data:`clusterstats.results.RESULT_COLUMNS`), in
that order, followed by any extra columns the test adds. Missing fields are NA.

NaN numbers are never left unexplained: :func:`result_row` replaces a NaN or infinite
number in any field by NA and says in ``note`` which field was undefined and why
(e.g. an exact test with a valid p-value but no statistic, or a degenerate fit).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

#: Columns every statistical result row has, in order (see clusterstats.results.RESULT_COLUMNS).
STAT_COLUMNS = [
    "test", "method", "statistic", "p_value", "effect_name", "effect",
    "ci_low", "ci_high", "ci_level", "n", "unit", "reference", "note",
]

_NUMERIC = ("statistic", "p_value", "effect", "ci_low", "ci_high", "ci_level", "n")


def _is_bad_number(value: Any) -> bool:
    # Only real numbers: the text "nan" in a name column is not a missing statistic.
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) \
        and not math.isfinite(float(value))


def result_row(*, why_nan: str | Mapping[str, str] | None = None, **fields: Any) -> dict:
    """Return one result row: all :data:`STAT_COLUMNS` (NA where not given) plus extras.

    A NaN/inf number in any field becomes NA and ``note`` gains "<field> undefined: <why>".
    ``why_nan`` is the reason (one string for all fields, or a mapping field -> reason);
    without it the note says the value was not finite, so a NaN is never silent.
    """
    row: dict[str, Any] = {col: pd.NA for col in STAT_COLUMNS}
    row.update(fields)
    notes = [str(row["note"])] if not pd.isna(row["note"]) and row["note"] != "" else []
    for col in list(row):
        if col != "note" and _is_bad_number(row[col]):
            if isinstance(why_nan, Mapping):
                reason = why_nan.get(col, "computation gave a non-finite value")
            else:
                reason = why_nan or "computation gave a non-finite value"
            notes.append(f"{col} undefined: {reason}")
            row[col] = pd.NA
    row["note"] = "; ".join(notes) if notes else pd.NA
    return row


def result_frame(rows: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> pd.DataFrame:
    """Tidy frame from rows (dicts, e.g. from :func:`result_row`), STAT_COLUMNS first."""
    if isinstance(rows, Mapping):
        rows = [rows]
    # result_row is idempotent, so guarding rows that already went through it is harmless.
    frame = pd.DataFrame([result_row(**r) for r in rows], columns=None)
    for col in STAT_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.NA
    for col in _NUMERIC:
        # Nullable floats keep NA as NA (not NaN) so printing shows <NA> next to the note.
        try:
            frame[col] = pd.to_numeric(frame[col]).astype("Float64")
            if col == "n" and (frame[col].dropna() % 1 == 0).all():
                frame[col] = frame[col].astype("Int64")
        except (TypeError, ValueError):
            pass  # a caller put text in a numeric column; leave it visible rather than coerce
    extra = [c for c in frame.columns if c not in STAT_COLUMNS]
    return frame[STAT_COLUMNS + extra].reset_index(drop=True)
