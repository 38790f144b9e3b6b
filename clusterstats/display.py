"""Result tables that read well in JupyterLab (and on the results site).

``results/hypotheses.csv`` and every analysis' ``rows`` frame keep full precision; this module
only changes how they *look*: a :class:`pandas.io.formats.style.Styler` with three significant
digits for statistics and effects, p-values as ``<0.001`` below the usual reporting floor
(APA 7th ed., 6.36), whole numbers for counts, ``–`` for missing values, and the verdict column
coloured. Formatting is pandas' own Styler; nothing is rounded in the data.

Example
-------
>>> import pandas as pd
>>> from clusterstats.display import format_number, format_p
>>> format_number(1234.5678), format_number(0.012345), format_number(float("nan"))
('1,235', '0.0123', '–')
>>> format_p(0.00004), format_p(0.0312)
('<0.001', '0.031')
"""
from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

__all__ = ["format_number", "format_p", "results_style", "show_rows", "P_COLUMNS", "COUNT_COLUMNS",
           "ROW_COLUMNS", "VERDICT_COLUMNS"]

#: columns shown as p-values
P_COLUMNS = ("p_value", "p_holm", "q_bh")
#: columns shown as whole numbers
COUNT_COLUMNS = ("n", "n_groups", "n_regions", "year", "start", "end")

VERDICT_COLOURS = {"supported": "#d9f0d3", "not supported": "#f7d4d4", "partly": "#fdf0c8",
                   "inconclusive": "#e8e8e8", "not testable offline": "#e8e8e8"}


def _missing(x: Any) -> bool:
    if x is None or x is pd.NA or (isinstance(x, str) and x.strip().lower() in ("", "nan")):
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def format_number(x: Any, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, thousands separated; ``–`` when missing.

    Parameters
    ----------
    x : number or str
        Non-numeric text is returned unchanged.
    digits : int
        Significant digits (at least the integer part is always shown).

    Returns
    -------
    str

    Examples
    --------
    >>> format_number(7.2049), format_number(-0.000123), format_number(2e7), format_number("BG41")
    ('7.2', '-0.000123', '2e+07', 'BG41')
    """
    if _missing(x):
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if v == 0:
        return "0"
    if abs(v) >= 1e6 or abs(v) < 1e-4:
        return f"{v:.{digits}g}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(v))), 0)
    text = f"{v:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_p(p: Any, floor: float = 0.001) -> str:
    """A p-value as reported: ``<0.001`` below ``floor``, else three decimals; ``–`` if missing.

    Examples
    --------
    >>> format_p(0.5), format_p(1e-9), format_p(None)
    ('0.500', '<0.001', '–')
    """
    if _missing(p):
        return "–"
    try:
        v = float(p)
    except (TypeError, ValueError):
        return str(p)
    return f"<{floor:g}" if v < floor else f"{v:.3f}"


def _count(x: Any) -> str:
    if _missing(x):
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return f"{v:,.0f}" if v.is_integer() else format_number(v)


def results_style(frame: pd.DataFrame, *, digits: int = 3, hide_index: bool = True,
                  caption: str | None = None):
    """A Styler that shows a results frame with readable numbers.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows in the results schema (``clusterstats.results.RESULT_COLUMNS``) or any subset of its
        columns; other columns are formatted by type (numbers with ``digits`` significant digits).
    digits : int
        Significant digits for statistics, effects and interval bounds.
    hide_index : bool
        Hide the 0..n-1 row labels.
    caption : str, optional
        Table caption.

    Returns
    -------
    pandas.io.formats.style.Styler
        Display it in a notebook (it is the cell's last expression) or call ``.to_html()``.

    Examples
    --------
    >>> import pandas as pd
    >>> from clusterstats.display import results_style
    >>> rows = pd.DataFrame({"test": ["median"], "effect": [14.0], "ci_low": [12.0],
    ...                      "ci_high": [17.5], "p_value": [0.0002], "n": [43.0],
    ...                      "verdict": ["supported"]})
    >>> html = results_style(rows).to_html()
    >>> "&lt;0.001" in html and ">43<" in html and ">17.5<" in html
    True
    """
    formatters = {}
    for col in frame.columns:
        if col in P_COLUMNS:
            formatters[col] = format_p
        elif col in COUNT_COLUMNS:
            formatters[col] = _count
        elif pd.api.types.is_numeric_dtype(frame[col]):
            formatters[col] = lambda v, d=digits: format_number(v, d)
        else:
            formatters[col] = lambda v: "–" if _missing(v) else str(v)
    # escape after formatting: "<0.001" and text cells must reach the HTML as text
    styler = frame.style.format({c: (lambda v, f=f: html.escape(f(v))) for c, f in formatters.items()})
    if "verdict" in frame.columns:
        styler = styler.map(lambda v: f"background-color: {VERDICT_COLOURS[v]}"
                            if v in VERDICT_COLOURS else "", subset=["verdict"])
    styler = styler.set_table_attributes('class="clusterstats-results"')
    if hide_index:
        styler = styler.hide(axis="index")
    if caption:
        styler = styler.set_caption(caption)
    return styler


#: columns :func:`show_rows` shows for computed evidence (before judging)
ROW_COLUMNS = ["test", "part", "role", "statistic", "p_value", "effect_name", "effect", "ci_low",
               "ci_high", "n", "unit"]
#: columns :func:`show_rows` shows for judged rows
VERDICT_COLUMNS = ["test", "part", "role", "effect", "ci_low", "ci_high", "p_value", "p_holm",
                   "rule", "verdict", "verdict_text", "verdict_sensitivity"]


def show_rows(rows: pd.DataFrame, *, verdicts: bool = False, columns: list[str] | None = None):
    """The columns a reader needs of a hypothesis' rows, styled by :func:`results_style`.

    Parameters
    ----------
    rows : pandas.DataFrame
        Rows in the results schema (:data:`clusterstats.results.RESULT_COLUMNS`).
    verdicts : bool
        Show the verdict columns (for judged rows) instead of the test columns.
    columns : list of str, optional
        Columns to show instead of the defaults.

    Returns
    -------
    pandas.io.formats.style.Styler

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"test": ["share in [10, 30]"], "part": ["C08.range"],
    ...                      "role": ["primary"], "effect": [0.75], "verdict": ["supported"]})
    >>> "C08.range" in show_rows(rows, verdicts=True).to_html()
    True
    """
    cols = columns or (VERDICT_COLUMNS if verdicts else ROW_COLUMNS)
    return results_style(rows[[c for c in cols if c in rows.columns]].reset_index(drop=True))
