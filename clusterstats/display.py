"""Readable result tables in JupyterLab: the columns a reader needs, numbers formatted.

``show_rows(rows)`` returns a :class:`pandas.io.formats.style.Styler` (rendered as HTML in
JupyterLab, as text elsewhere) of a results frame with p-values, effects and intervals formatted
to three significant digits and verdicts coloured.
"""
from __future__ import annotations

import pandas as pd

__all__ = ["show_rows", "ROW_COLUMNS", "VERDICT_COLUMNS"]

#: columns shown for computed evidence (before judging)
ROW_COLUMNS = ["test", "part", "role", "statistic", "p_value", "effect_name", "effect", "ci_low",
               "ci_high", "n", "unit"]
#: columns shown for judged rows
VERDICT_COLUMNS = ["test", "part", "role", "effect", "ci_low", "ci_high", "p_value", "p_holm",
                   "rule", "verdict", "verdict_text", "verdict_sensitivity"]

_COLOURS = {"supported": "#1b7837", "not supported": "#b2182b", "partly": "#8c510a",
            "inconclusive": "#555555", "not testable offline": "#555555"}


def _fmt(value) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "" if value is None or value is pd.NA else str(value)
    if v != v:
        return "–"
    if v == int(v) and abs(v) < 1e9:
        return f"{int(v):,}"
    return f"{v:.3g}" if abs(v) >= 1e-3 else f"{v:.2e}"


def show_rows(rows: pd.DataFrame, *, verdicts: bool = False, columns: list[str] | None = None):
    """A styled view of result rows (no change to the data).

    Parameters
    ----------
    rows : DataFrame
        Rows in the results schema (:data:`clusterstats.results.RESULT_COLUMNS`).
    verdicts : bool
        Show the verdict columns (for judged rows) instead of the test columns.
    columns : list of str, optional
        Columns to show instead of the defaults.

    Examples
    --------
    >>> from clusterstats.analysis import size
    >>> evidence = size.run(n_boot=999)
    >>> styled = show_rows(evidence.rows, verdicts=True)   # displays as a table in JupyterLab
    """
    cols = columns or (VERDICT_COLUMNS if verdicts else ROW_COLUMNS)
    view = rows[[c for c in cols if c in rows.columns]].reset_index(drop=True)
    numeric = [c for c in ("statistic", "p_value", "p_holm", "q_bh", "effect", "ci_low", "ci_high", "n")
               if c in view.columns]
    styler = view.style.format({c: _fmt for c in numeric}).hide(axis="index")
    if "verdict" in view.columns:
        styler = styler.map(lambda v: f"color: {_COLOURS.get(v, 'inherit')}; font-weight: bold"
                            if isinstance(v, str) else "", subset=["verdict"])
    return styler.set_properties(**{"text-align": "left"})
