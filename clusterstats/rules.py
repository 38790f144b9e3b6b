"""Verdict rules: how the evidence for one part of a claim becomes a verdict.

Each rule is a small pure function ``rule(rows, **thresholds) -> Judgement``. ``rows`` are the
*primary* result rows that test one part of a claim (columns of the results table: ``effect``,
``ci_low``, ``ci_high``, ``p_value``, ``p_holm`` ...); the thresholds come from that part's entry
in ``data/claims.yaml``, where each one is stated with its justification. :func:`judge_part`
applies a rule, and :func:`sensitivity` re-applies it over the alternative thresholds the claim
lists, so a reader sees whether a verdict hangs on a threshold.

The principle (the review's, and any referee's): **"supported" needs positive evidence for the
claim** — an interval inside the claimed range, an equivalence test, or a one-sided test in the
claim's direction. A non-significant difference is never evidence *for* a claim: it gives
"inconclusive". "not supported" needs evidence against it (an interval wholly outside the
claimed range, a value that differs from the claimed count).

Verdicts: ``supported``, ``not supported``, ``inconclusive``, ``not testable offline``
(and, for a whole claim made of parts, ``partly``: see :func:`combine_parts`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pandas as pd

__all__ = ["Judgement", "RULES", "rule", "judge_part", "sensitivity", "combine_parts",
           "SUPPORTED", "NOT_SUPPORTED", "INCONCLUSIVE", "NOT_TESTABLE", "PARTLY"]

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
NOT_TESTABLE, PARTLY = "not testable offline", "partly"


@dataclass(frozen=True)
class Judgement:
    """A verdict and the one sentence that says why."""
    verdict: str
    reason: str


RULES: dict[str, Callable[..., Judgement]] = {}


def rule(func: Callable[..., Judgement]) -> Callable[..., Judgement]:
    """Register ``func`` under its name, so ``data/claims.yaml`` can name it."""
    RULES[func.__name__] = func
    return func


# ---------------------------------------------------------------------------------------------
# reading rows
# ---------------------------------------------------------------------------------------------
def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _bounds(row: Mapping[str, Any]) -> tuple[float, float, float]:
    """(effect, low, high); a row without an interval (a population quantity, an exact count) is
    its own degenerate interval."""
    effect = _num(row.get("effect"))
    low, high = _num(row.get("ci_low")), _num(row.get("ci_high"))
    if math.isnan(low) or math.isnan(high):
        low = high = effect
    return effect, low, high


def _p(row: Mapping[str, Any]) -> float:
    """The p-value a verdict uses: Holm-adjusted within the claim's family when present."""
    adjusted = _num(row.get("p_holm"))
    return adjusted if not math.isnan(adjusted) else _num(row.get("p_value"))


def _g(x: float) -> str:
    return f"{x:.3g}"


def _rows(rows: pd.DataFrame | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if isinstance(rows, pd.DataFrame):
        return [r for _, r in rows.iterrows()]
    return [rows]


def _label(row: Mapping[str, Any]) -> str:
    return str(row.get("effect_name") or row.get("test") or "estimate")


# ---------------------------------------------------------------------------------------------
# the rules
# ---------------------------------------------------------------------------------------------
@rule
def interval_inside(rows, *, low: float, high: float) -> Judgement:
    """Every row's interval lies inside ``[low, high]`` → supported; any row's interval lies
    wholly outside it → not supported; otherwise (an interval straddles a bound) inconclusive.
    Rows without an interval (exact population values) count as a point."""
    inside, outside, straddle = [], [], []
    for row in _rows(rows):
        e, lo, hi = _bounds(row)
        if any(math.isnan(v) for v in (e, lo, hi)):
            return Judgement(INCONCLUSIVE, f"{_label(row)} has no estimate")
        text = f"{_label(row)} {_g(e)}" + (f" [{_g(lo)}, {_g(hi)}]" if lo != hi else "")
        (inside if low <= lo and hi <= high else
         outside if hi < low or lo > high else straddle).append(text)
    rng = f"[{_g(low)}, {_g(high)}]"
    if outside:
        return Judgement(NOT_SUPPORTED, f"outside the claimed {rng}: " + "; ".join(outside))
    if straddle:
        return Judgement(INCONCLUSIVE, f"interval straddles the claimed {rng}: " + "; ".join(straddle))
    return Judgement(SUPPORTED, f"inside the claimed {rng}: " + "; ".join(inside))


@rule
def one_sided(rows, *, alpha: float = 0.05, null: float | None = None,
              direction: str = "greater") -> Judgement:
    """A one-sided test in the claim's direction. Each row's ``p_value`` must be the one-sided
    p-value for H1 = the claim; the Holm-adjusted value is used when present.

    All rows significant (p < ``alpha``) → supported; a row whose interval lies wholly on the
    other side of ``null`` → not supported (the data point the other way); otherwise
    inconclusive (no evidence for the claim — which is not evidence against it)."""
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    sig, against, weak = [], [], []
    for row in _rows(rows):
        p = _p(row)
        e, lo, hi = _bounds(row)
        if math.isnan(p):
            return Judgement(INCONCLUSIVE, f"{_label(row)} has no p-value")
        text = f"{_label(row)} {_g(e)} (p = {_g(p)})"
        wrong_side = (null is not None and
                      ((direction == "greater" and hi < null) or (direction == "less" and lo > null)))
        (sig if p < alpha else against if wrong_side else weak).append(text)
    side = ">" if direction == "greater" else "<"
    null_text = f" {side} {_g(null)}" if null is not None else ""
    if against:
        return Judgement(NOT_SUPPORTED, f"the interval lies on the other side{null_text and ' of ' + _g(null)}: "
                         + "; ".join(against))
    if weak:
        return Judgement(INCONCLUSIVE, f"no significant evidence{null_text} at {alpha:g}: "
                         + "; ".join(weak))
    return Judgement(SUPPORTED, f"significant{null_text} at {alpha:g}: " + "; ".join(sig))


@rule
def equivalence(rows, *, low: float, high: float, alpha: float = 0.05) -> Judgement:
    """Equivalence (TOST, Schuirmann 1987): each row's ``p_value`` is the TOST p-value for
    H1 = the true value lies in ``[low, high]``. p < ``alpha`` → supported; an interval wholly
    outside ``[low, high]`` → not supported; otherwise inconclusive."""
    sig, outside, weak = [], [], []
    for row in _rows(rows):
        p = _p(row)
        e, lo, hi = _bounds(row)
        text = f"{_label(row)} {_g(e)} (TOST p = {_g(p)})"
        (outside if hi < low or lo > high else sig if p < alpha else weak).append(text)
    rng = f"[{_g(low)}, {_g(high)}]"
    if outside:
        return Judgement(NOT_SUPPORTED, f"outside the equivalence range {rng}: " + "; ".join(outside))
    if weak:
        return Judgement(INCONCLUSIVE, f"equivalence to {rng} not shown at {alpha:g}: " + "; ".join(weak))
    return Judgement(SUPPORTED, f"equivalent within {rng} at {alpha:g}: " + "; ".join(sig))


@rule
def equals(rows, *, value: float, tolerance: float = 0.0) -> Judgement:
    """An exact count or value of a complete register (no sampling): equal to the claimed
    ``value`` within ``tolerance`` → supported, else not supported."""
    bad, good = [], []
    for row in _rows(rows):
        e = _num(row.get("effect"))
        (good if abs(e - value) <= tolerance else bad).append(f"{_label(row)} {_g(e)}")
    claimed = f"{_g(value)}" + (f" ± {_g(tolerance)}" if tolerance else "")
    if bad:
        return Judgement(NOT_SUPPORTED, f"the guide says {claimed}; the data give " + "; ".join(bad))
    return Judgement(SUPPORTED, f"the guide says {claimed}; the data give " + "; ".join(good))


@rule
def within_bounds(rows, *, value: float) -> Judgement:
    """A count known only within bounds (``ci_low``–``ci_high``: e.g. rows missing from the
    source, dates known only by code order): the claimed ``value`` equals a degenerate bound →
    supported; lies strictly outside the bounds → not supported; inside them → inconclusive."""
    row = _rows(rows)[0]
    e, lo, hi = _bounds(row)
    if lo == hi == value:
        return Judgement(SUPPORTED, f"{_label(row)} is exactly {_g(value)}")
    if value < lo or value > hi:
        return Judgement(NOT_SUPPORTED, f"the guide's {_g(value)} lies outside what the data allow "
                         f"({_g(lo)}–{_g(hi)})")
    return Judgement(INCONCLUSIVE, f"the data allow {_g(lo)}–{_g(hi)}, so the guide's {_g(value)} "
                     "can be neither confirmed nor refuted")


@rule
def not_testable(rows, **_: Any) -> Judgement:
    """The data to test the claim are not available offline; the reason carries the row's note
    (which says how to get the data) when it has one."""
    notes = [str(r.get("note")) for r in _rows(rows)
             if isinstance(r.get("note"), str) and r.get("note")]
    return Judgement(NOT_TESTABLE, "the data needed are not available offline"
                     + (f": {notes[0]}" if notes else ""))


@rule
def values_inside(rows, *, low: float, high: float) -> Judgement:
    """Exact values of a whole population (no sampling) must *all* lie in ``[low, high]``.

    Each row carries the smallest and largest of its values in ``range_min`` and ``range_max``
    (e.g. the ratios of one region to each other region; falls back to ``effect``). Every row's
    range inside → supported; any value outside → not supported (for exact values an excursion
    is evidence against, not an undecided straddle, unlike :func:`interval_inside`); a row with
    no values → inconclusive. The bounds are inclusive."""
    inside, outside = [], []
    for row in _rows(rows):
        lo, hi = _num(row.get("range_min")), _num(row.get("range_max"))
        if math.isnan(lo) or math.isnan(hi):
            lo = hi = _num(row.get("effect"))
        if math.isnan(lo) or math.isnan(hi):
            return Judgement(INCONCLUSIVE, f"{_label(row)} has no values")
        text = f"{_label(row)} {_g(lo)}–{_g(hi)}" if lo != hi else f"{_label(row)} {_g(lo)}"
        (inside if low <= lo and hi <= high else outside).append(text)
    rng = f"[{_g(low)}, {_g(high)}]"
    if outside:
        return Judgement(NOT_SUPPORTED, f"not all values inside the claimed {rng}: " + "; ".join(outside))
    return Judgement(SUPPORTED, f"all values inside the claimed {rng}: " + "; ".join(inside))


@rule
def equivalence_interval(rows, *, low: float, high: float, alpha: float = 0.05) -> Judgement:
    """Equivalence by its interval (TOST, Schuirmann 1987): each row's ``1 - 2 alpha`` interval
    inside ``[low, high]`` → supported (the TOST rejects non-equivalence at ``alpha``); wholly
    outside → not supported; otherwise inconclusive. Because the verdict reads the interval, the
    margin can vary in the sensitivity column without recomputing. A row whose ``ci_level`` is
    not ``1 - 2 alpha`` raises (a 95 % interval would make the test a 2.5 % one)."""
    inside, outside, straddle = [], [], []
    for row in _rows(rows):
        e, lo, hi = _bounds(row)
        level = _num(row.get("ci_level"))
        if not math.isnan(level) and abs(level - (1 - 2 * alpha)) > 1e-9:
            raise ValueError(f"{_label(row)}: a TOST at alpha={alpha:g} needs the "
                             f"{1 - 2 * alpha:g} interval, the row has {level:g}")
        if any(math.isnan(v) for v in (e, lo, hi)):
            return Judgement(INCONCLUSIVE, f"{_label(row)} has no estimate")
        text = f"{_label(row)} {_g(e)} [{_g(lo)}, {_g(hi)}]"
        (inside if low <= lo and hi <= high else
         outside if hi < low or lo > high else straddle).append(text)
    rng = f"[{_g(low)}, {_g(high)}]"
    if outside:
        return Judgement(NOT_SUPPORTED, f"outside the equivalence margin {rng}: " + "; ".join(outside))
    if straddle:
        return Judgement(INCONCLUSIVE, f"equivalence to {rng} not shown at {alpha:g} "
                         f"(the {1 - 2 * alpha:g} interval reaches outside): " + "; ".join(straddle))
    return Judgement(SUPPORTED, f"equivalent within {rng} at {alpha:g} (TOST): " + "; ".join(inside))


# ---------------------------------------------------------------------------------------------
# applying rules
# ---------------------------------------------------------------------------------------------
def judge_part(rows: pd.DataFrame, rule_name: str, thresholds: Mapping[str, Any]) -> Judgement:
    """Apply the named rule to the primary rows of one claim part."""
    if rule_name not in RULES:
        raise KeyError(f"unknown verdict rule {rule_name!r}; known: {', '.join(sorted(RULES))}")
    if rows is None or len(rows) == 0:
        return Judgement(INCONCLUSIVE, "no result rows test this part")
    return RULES[rule_name](rows, **dict(thresholds))


def sensitivity(rows: pd.DataFrame, rule_name: str, thresholds: Mapping[str, Any],
                alternatives: Mapping[str, list[Any]] | None) -> str:
    """The verdict under each alternative threshold (one changed at a time), as text such as
    ``"low=5: supported; low=8: inconclusive"``; empty when the claim lists no alternatives."""
    parts = []
    for key, values in (alternatives or {}).items():
        for value in values:
            judged = judge_part(rows, rule_name, {**thresholds, key: value})
            parts.append(f"{key}={value}: {judged.verdict}")
    return "; ".join(parts)


def combine_parts(verdicts: list[str]) -> str:
    """A claim's verdict from the verdicts of its declared parts (``data/claims.yaml``).

    Every part supported → supported. Some parts supported, others not supported or undecided →
    partly. No part supported and at least one not supported → not supported (undecided parts do
    not rescue it). No part decided → inconclusive, or "not testable offline" when no part could
    be tested. Only declared parts count: diagnostic and sensitivity rows never enter.

    Examples
    --------
    >>> combine_parts(["supported", "inconclusive"])
    'partly'
    >>> combine_parts(["not supported", "inconclusive"])
    'not supported'
    """
    vs = [v for v in verdicts if v]
    if not vs:
        return INCONCLUSIVE
    if all(v == SUPPORTED for v in vs):
        return SUPPORTED
    if SUPPORTED in vs:
        return PARTLY
    if NOT_SUPPORTED in vs:
        return NOT_SUPPORTED
    return NOT_TESTABLE if all(v == NOT_TESTABLE for v in vs) else INCONCLUSIVE
