"""Validate notebook parameters in the notebook's first cell, with messages a user can act on.

Papermill injects parameters after the ``parameters`` cell; every hypothesis notebook calls these
checks right after, so a bad parameter stops the run at once with a clear message rather than
deep inside a model fit.
"""
from __future__ import annotations

from typing import Iterable, Sequence


class ParameterError(ValueError):
    """A notebook parameter is invalid; the message says which, why, and what is valid."""


def check_alpha(alpha: float, name: str = "alpha") -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number in (0, 1), got {alpha!r}") from None
    if not 0.0 < value < 1.0:
        raise ParameterError(f"{name} must be in (0, 1) (e.g. 0.05), got {alpha!r}")
    return value


def check_choice(value, valid: Iterable, name: str):
    valid = list(valid)
    if value not in valid:
        shown = ", ".join(map(str, valid[:40])) + (" …" if len(valid) > 40 else "")
        raise ParameterError(f"{name}={value!r} is not valid; valid values: {shown}")
    return value


def check_subset(values: Sequence, valid: Iterable, name: str) -> list:
    valid = list(valid)
    values = [values] if isinstance(values, (str, int)) else list(values)
    unknown = [v for v in values if v not in valid]
    if unknown:
        shown = ", ".join(map(str, valid[:60])) + (" …" if len(valid) > 60 else "")
        raise ParameterError(f"{name}: unknown value(s) {unknown}; valid values: {shown}")
    if not values:
        raise ParameterError(f"{name} must not be empty; valid values: {valid[:60]}")
    return values


def check_year_range(start: int, end: int, available: Iterable[int], name: str = "years") -> tuple[int, int]:
    """A (start, end) window must be ordered and lie inside the years the data cover."""
    years = sorted(int(y) for y in available)
    if not years:
        raise ParameterError(f"{name}: the data have no years at all")
    start, end = int(start), int(end)
    if start > end:
        raise ParameterError(f"{name}: start {start} is after end {end}")
    if start < years[0] or end > years[-1]:
        raise ParameterError(
            f"{name}: window {start}–{end} lies outside the data, which cover {years[0]}–{years[-1]}")
    return start, end
