"""Verdict drift: which claims and tests moved between two data vintages.

``clusterstats data snapshot --refresh`` pins a new vintage; ``make reproduce`` then rebuilds the
results table. :func:`verdict_drift` compares two such tables (``results/hypotheses.csv`` or a
folder holding one, such as a copy of ``results/`` or ``reports/``) and returns one row per
claim/test whose verdict, effect or confidence interval changed, naming both data vintages (the
tables' ``data_vintage`` column). Rows that did not move are not listed.

    clusterstats verdicts diff old/results new/results [--out drift.csv]

Matching: rows are matched on (hypothesis, claim_id, test, run_id). Where one run has several
rows with the same four (H4 tests each unit), they are told apart by ``effect_name`` and
``unit``, then by their order in the table. Numbers compare with a relative tolerance (default
1e-9, plus 1e-12 absolute), so a re-run on the same data shows no drift from float noise.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .provenance import atomic_write_bytes

__all__ = ["DRIFT_COLUMNS", "MATCH_KEYS", "read_results_table", "verdict_drift", "add_cli", "DriftError"]

MATCH_KEYS = ["hypothesis", "claim_id", "test", "run_id"]
_TIEBREAK = ["effect_name", "unit"]
_NUMBERS = ["effect", "ci_low", "ci_high"]
DRIFT_COLUMNS = (MATCH_KEYS + _TIEBREAK + ["change", "old_verdict", "new_verdict"]
                 + [f"{side}_{n}" for n in _NUMBERS for side in ("old", "new")]
                 + ["old_vintage", "new_vintage"])


class DriftError(ValueError):
    """A results table that cannot be read or lacks the columns drift needs."""


def read_results_table(path: str | Path) -> pd.DataFrame:
    """A results table from a CSV file, or from a folder holding ``hypotheses.csv`` (directly or
    in ``results/``); every column as text, empty cells as NA."""
    path = Path(path)
    if path.is_dir():
        found = [p for p in (path / "hypotheses.csv", path / "results" / "hypotheses.csv") if p.is_file()]
        if not found:
            raise DriftError(f"{path}: no hypotheses.csv in the folder or its results/ subfolder")
        path = found[0]
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DriftError(f"{path}: not a readable results table ({exc})") from exc
    missing = [c for c in MATCH_KEYS + ["verdict", "data_vintage"] + _NUMBERS if c not in table.columns]
    if missing:
        raise DriftError(f"{path}: not a results table (missing columns {', '.join(missing)})")
    table.attrs["path"] = str(path)
    return table


def _keyed(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for col in MATCH_KEYS + _TIEBREAK:
        out[col] = out[col].fillna("") if col in out.columns else ""
    out["occurrence"] = out.groupby(MATCH_KEYS + _TIEBREAK, sort=False).cumcount()
    for col in _NUMBERS:
        out[col] = pd.to_numeric(out[col], errors="coerce")
    return out


def _moved(a: pd.Series, b: pd.Series, rtol: float, atol: float) -> np.ndarray:
    x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    same = np.isclose(x, y, rtol=rtol, atol=atol) | (np.isnan(x) & np.isnan(y))
    return ~same


def verdict_drift(old: str | Path | pd.DataFrame, new: str | Path | pd.DataFrame, *,
                  rtol: float = 1e-9, atol: float = 1e-12) -> pd.DataFrame:
    """Rows whose verdict, effect, ci_low or ci_high differ between two results tables.

    Returns a tidy frame with :data:`DRIFT_COLUMNS`: the match keys, ``change`` (the changed
    fields joined by ``+``, or ``added``/``removed`` for a row present in one table only), old
    and new verdict/effect/interval, and the data vintage of each side. Empty when nothing moved.
    """
    a = _keyed(old if isinstance(old, pd.DataFrame) else read_results_table(old))
    b = _keyed(new if isinstance(new, pd.DataFrame) else read_results_table(new))
    keys = MATCH_KEYS + _TIEBREAK + ["occurrence"]
    m = a.merge(b, on=keys, how="outer", suffixes=("_old", "_new"), indicator=True)
    if m.empty:
        return pd.DataFrame(columns=DRIFT_COLUMNS)
    parts = {"verdict": (m["verdict_old"].fillna("") != m["verdict_new"].fillna("")).to_numpy()}
    for col in _NUMBERS:
        parts[col] = _moved(m[f"{col}_old"], m[f"{col}_new"], rtol, atol)
    change = np.array(["+".join(k for k, flags in parts.items() if flags[i]) for i in range(len(m))],
                      dtype=object)
    change[(m["_merge"] == "left_only").to_numpy()] = "removed"
    change[(m["_merge"] == "right_only").to_numpy()] = "added"
    m["change"] = change
    m = m[m["change"] != ""]
    out = pd.DataFrame({k: m[k] for k in MATCH_KEYS + _TIEBREAK})
    out["change"] = m["change"]
    out["old_verdict"], out["new_verdict"] = m["verdict_old"], m["verdict_new"]
    for col in _NUMBERS:
        out[f"old_{col}"], out[f"new_{col}"] = m[f"{col}_old"], m[f"{col}_new"]
    out["old_vintage"], out["new_vintage"] = m["data_vintage_old"], m["data_vintage_new"]
    return out.reindex(columns=DRIFT_COLUMNS).reset_index(drop=True)


def _vintages(table: pd.DataFrame) -> str:
    return " | ".join(sorted(set(table["data_vintage"].dropna()))) or "no data_vintage recorded"


def _cmd_diff(args: argparse.Namespace) -> int:
    try:
        old, new = read_results_table(args.old), read_results_table(args.new)
        drift = verdict_drift(old, new, rtol=args.rtol)
    except DriftError as exc:
        print(f"clusterstats verdicts diff: {exc}", file=sys.stderr)
        return 2
    print(f"old: {old.attrs['path']} (data vintage: {_vintages(old)})")
    print(f"new: {new.attrs['path']} (data vintage: {_vintages(new)})")
    if args.out:
        from .snapshot import to_csv_bytes

        atomic_write_bytes(args.out, to_csv_bytes(drift))
    if drift.empty:
        print("no verdict, effect or interval changed")
        return 0
    print(f"{len(drift)} of {max(len(old), len(new))} rows moved:")
    shown = ["hypothesis", "claim_id", "test", "effect_name", "unit", "change", "old_verdict",
             "new_verdict", "old_effect", "new_effect"]
    with pd.option_context("display.max_rows", args.max_rows, "display.width", 220,
                           "display.max_colwidth", 40):
        print(drift[shown].head(args.max_rows).to_string(index=False))
    if len(drift) > args.max_rows:
        print(f"... {len(drift) - args.max_rows} more rows" + ("" if args.out else " (use --out FILE)"))
    return 0


def add_cli(subparsers) -> None:
    verdicts = subparsers.add_parser("verdicts", help="compare verdicts between two results tables")
    sub = verdicts.add_subparsers(dest="verdicts_command", metavar="ACTION")
    diff = sub.add_parser("diff", help="claims/tests whose verdict, effect or interval changed")
    diff.add_argument("old", help="old results table (hypotheses.csv) or a folder holding one")
    diff.add_argument("new", help="new results table or folder")
    diff.add_argument("--out", help="write the full drift table as CSV")
    diff.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance for numbers")
    diff.add_argument("--max-rows", type=int, default=60)
    diff.set_defaults(func=_cmd_diff)
    verdicts.set_defaults(func=lambda a: (verdicts.print_help(), 2)[1])
