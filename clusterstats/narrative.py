"""Render a notebook's conclusions from its results, so no result number is typed by hand.

Each hypothesis keeps a small Jinja2 template (``Hypothesis.narrative_template``); the notebook
shows ``display(Markdown(H.narrative(judged, evidence)))``. The template sees the judged rows
(``rows``, plus ``row(part=..., test=...)`` to pick one), the evidence (``evidence.values``,
``evidence.tables``), the guide's claims (``claims``, from ``data/claims.yaml``) and filters that
format numbers the same way everywhere:

==============  ===========================================  ===================
filter          what                                         ``0.7512`` gives
==============  ===========================================  ===================
``num``         3 significant digits, thousands separator     ``0.751``
``pct``         a share as a percentage                       ``75 %``
``ci``          a row's interval, ``[lo, hi]``                ``[0.58, 0.87]``
``p``           a p-value (``< 0.001`` below that)            ``0.751``
==============  ===========================================  ===================
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["render", "fmt_num", "fmt_pct", "fmt_p", "fmt_ci", "pick"]


def _float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def fmt_num(x: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits; whole numbers as integers; NaN as "–"."""
    v = _float(x)
    if math.isnan(v):
        return "–"
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.{digits}g}" if abs(v) < 1e4 else f"{v:,.0f}"


def fmt_pct(x: Any, digits: int = 0) -> str:
    v = _float(x)
    return "–" if math.isnan(v) else f"{100 * v:.{digits}f} %"


def fmt_p(x: Any) -> str:
    v = _float(x)
    if math.isnan(v):
        return "–"
    return "< 0.001" if v < 0.001 else f"{v:.3g}"


def fmt_ci(row: Any, digits: int = 3) -> str:
    lo, hi = _float(row.get("ci_low")), _float(row.get("ci_high"))
    if math.isnan(lo) or math.isnan(hi):
        return "(no interval)"
    return f"[{fmt_num(lo, digits)}, {fmt_num(hi, digits)}]"


def pick(rows: pd.DataFrame, **match: Any) -> pd.Series:
    """The one row of ``rows`` whose columns equal ``match`` (``test`` may be a prefix with a
    trailing ``*``); a clear error when none or several match."""
    sel = pd.Series(True, index=rows.index)
    for col, value in match.items():
        if isinstance(value, str) and value.endswith("*"):
            sel &= rows[col].astype(str).str.startswith(value[:-1])
        else:
            sel &= rows[col].astype(str) == str(value)
    found = rows[sel]
    if len(found) != 1:
        raise KeyError(f"narrative: {len(found)} rows match {match} (need exactly one)")
    return found.iloc[0]


def render(template: str, *, rows: pd.DataFrame, evidence: Any = None, **context: Any) -> str:
    """Render ``template`` (Jinja2, undefined names are errors) with the rows and context."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             autoescape=False, keep_trailing_newline=True)
    env.filters.update(num=fmt_num, pct=fmt_pct, p=fmt_p, ci=fmt_ci)
    return env.from_string(template).render(
        rows=rows, evidence=evidence, row=lambda **m: pick(rows, **m), **context)
