"""The calendar of Bulgarian funding calls for clusters (``data/calls.yaml``).

H1 asks whether cluster registrations jumped when a funding call made a *new* cluster
eligible for money. The event windows of that test come from the dates here, not from a
hard-coded "2016": :func:`call_window` turns the dated facts of a call into a window, and
:func:`load_calls` gives every fact with its source so a notebook can print what the window
rests on. See ``data/calls.README.md`` for what each fact and window means.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ._paths import data_dir

CALLS_FILE = "calls.yaml"
FACT_COLUMNS = ["code", "programme", "title", "fact", "value", "unit", "precision",
                "bound", "verified", "source", "source_text", "note"]
_PRECISIONS = ("day", "month", "year", "approximate")


def _calls_path(path: str | Path | None) -> Path:
    return Path(path) if path is not None else data_dir() / CALLS_FILE


def _read(path: str | Path | None) -> dict:
    path = _calls_path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: funding-call calendar not found")
    with open(path, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    if not isinstance(doc, dict) or "calls" not in doc or "sources" not in doc:
        raise ValueError(f"{path}: expected a mapping with 'sources' and 'calls'")
    return doc


def _as_date(value: Any, precision: str, where: str) -> pd.Timestamp:
    """First day of the period a (possibly partial) date names: 2017-01 -> 2017-01-01."""
    if isinstance(value, (_dt.date, _dt.datetime)):
        return pd.Timestamp(value)
    text = str(value)
    try:
        if precision == "year" or len(text) == 4:
            return pd.Timestamp(year=int(text), month=1, day=1)
        if precision == "month" or len(text) == 7:
            return pd.Timestamp(text + "-01")
        return pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: cannot read {value!r} as a date ({exc})") from None


def _period_end(start: pd.Timestamp, precision: str) -> pd.Timestamp:
    """Last day of the period a partial date names: 2017-01 -> 2017-01-31."""
    if precision == "year":
        return pd.Timestamp(year=start.year, month=12, day=31)
    if precision == "month":
        return start + pd.offsets.MonthEnd(0)
    return start


def load_calls(path: str | Path | None = None) -> pd.DataFrame:
    """All facts of the calendar, one row per (call, fact), with their sources.

    Columns :data:`FACT_COLUMNS`. ``value`` keeps the type of the fact (dates become
    ``pandas.Timestamp`` at the start of their period; see ``precision``). ``verified`` is
    False for facts the reference notes tag [unverified]. Raises ``ValueError`` naming the
    file, call and fact when a fact lacks a known source or has an unknown precision.
    """
    path_ = _calls_path(path)
    doc = _read(path)
    sources = doc["sources"]
    rows = []
    for i, call in enumerate(doc["calls"]):
        code = call.get("code")
        if not code:
            raise ValueError(f"{path_}: call #{i + 1} has no code")
        for fact, spec in (call.get("facts") or {}).items():
            where = f"{path_}: call {code}, fact {fact!r}"
            if not isinstance(spec, dict) or "value" not in spec:
                raise ValueError(f"{where}: expected a mapping with 'value' and 'source'")
            source = spec.get("source")
            if source not in sources:
                raise ValueError(f"{where}: source {source!r} is not listed under 'sources'")
            precision = spec.get("precision", "day" if spec.get("unit") == "date" else "exact")
            if spec.get("unit") == "date" and precision not in _PRECISIONS:
                raise ValueError(f"{where}: precision {precision!r} not one of {_PRECISIONS}")
            value = spec["value"]
            if spec.get("unit") == "date":
                value = _as_date(value, precision, where)
            rows.append({
                "code": code, "programme": call.get("programme"), "title": call.get("title"),
                "fact": fact, "value": value, "unit": spec.get("unit"), "precision": precision,
                "bound": spec.get("bound"), "verified": bool(spec.get("verified", True)),
                "source": source, "source_text": " ".join(str(sources[source]).split()),
                "note": spec.get("note"),
            })
    return pd.DataFrame(rows, columns=FACT_COLUMNS)


@dataclass(frozen=True)
class CallWindow:
    """An event window [start, end] (both inclusive) derived from a call's dates."""

    code: str
    kind: str
    start: pd.Timestamp
    end: pd.Timestamp
    basis: str
    sources: tuple[str, ...]

    @property
    def years(self) -> list[int]:
        """Calendar years the window touches (for annual counts)."""
        return list(range(self.start.year, self.end.year + 1))

    def year_overlap(self) -> pd.Series:
        """Share of each touched calendar year's days that lie inside the window.

        The 2016 window (25.08.2016-28.04.2017) covers 35 % of 2016 and 32 % of 2017, so an
        annual dummy for "2016" alone is a choice, not a fact; this makes it visible.
        """
        out = {}
        for y in self.years:
            first, last = pd.Timestamp(year=y, month=1, day=1), pd.Timestamp(year=y, month=12, day=31)
            days = (min(last, self.end) - max(first, self.start)).days + 1
            out[y] = days / ((last - first).days + 1)
        return pd.Series(out, name="share_of_year")

    def contains(self, dates) -> pd.Series:
        """True for dates inside the window (inclusive)."""
        dates = pd.to_datetime(pd.Series(dates))
        return (dates >= self.start) & (dates <= self.end)


def call_window(code: str, kind: str = "incentive", path: str | Path | None = None) -> CallWindow:
    """The event window ``kind`` of call ``code`` as defined under ``windows:`` in calls.yaml.

    A start fact with month/year precision starts on the first day of its period; an end fact
    ends on the last day of its period, so the window never claims more precision than the
    source. Raises ``ValueError`` listing the windows that exist when none matches.
    """
    path_ = _calls_path(path)
    doc = _read(path)
    facts = load_calls(path)
    defined = [(w.get("call"), w.get("kind")) for w in doc.get("windows") or []]
    for w in doc.get("windows") or []:
        if w.get("call") != code or w.get("kind") != kind:
            continue
        ends, used = {}, []
        for side in ("start", "end"):
            spec = w.get(side) or {}
            where = f"{path_}: window {code}/{kind}, {side}"
            if "fact" in spec:
                hit = facts[(facts.code == code) & (facts.fact == spec["fact"])]
                if hit.empty or hit.iloc[0]["unit"] != "date":
                    raise ValueError(f"{where}: no dated fact {spec['fact']!r} for {code}")
                start = hit.iloc[0]["value"]
                prec = hit.iloc[0]["precision"]
                ends[side] = start if side == "start" else _period_end(start, prec)
                used.append(hit.iloc[0]["source"])
            elif "date" in spec:
                ends[side] = _as_date(spec["date"], "day", where)
            else:
                raise ValueError(f"{where}: needs 'fact' or 'date'")
        if ends["end"] < ends["start"]:
            raise ValueError(f"{path_}: window {code}/{kind} ends before it starts")
        return CallWindow(code, kind, ends["start"], ends["end"],
                          " ".join(str(w.get("basis", "")).split()), tuple(dict.fromkeys(used)))
    raise ValueError(f"{path_}: no window {code}/{kind}; defined: "
                     + ", ".join(f"{c}/{k}" for c, k in defined))


def list_windows(path: str | Path | None = None) -> pd.DataFrame:
    """Every defined window, one row each: code, kind, start, end, years, basis."""
    doc = _read(path)
    rows = []
    for w in doc.get("windows") or []:
        win = call_window(w["call"], w["kind"], path)
        rows.append({"code": win.code, "kind": win.kind, "start": win.start, "end": win.end,
                     "years": win.years, "basis": win.basis})
    return pd.DataFrame(rows)


def _cli(args) -> int:
    frame = list_windows(args.path) if args.windows else load_calls(args.path)
    if not args.windows:
        frame = frame[["code", "fact", "value", "unit", "precision", "source"]]
    with pd.option_context("display.max_rows", None, "display.width", 200,
                           "display.max_colwidth", 80):
        print(frame.to_string(index=False))
    return 0


def add_cli(subparsers) -> None:
    """``clusterstats calls [--windows]``: print the call calendar or its event windows."""
    parser = subparsers.add_parser("calls", help="show the funding-call calendar (data/calls.yaml)")
    parser.add_argument("--windows", action="store_true", help="show the event windows instead")
    parser.add_argument("--path", default=None, help="another calls.yaml (default: data/)")
    parser.set_defaults(func=_cli)
