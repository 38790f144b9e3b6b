"""``clusterstats data fetch``: one Eurostat query to a tidy CSV with a provenance sidecar.

    clusterstats data fetch tgs00042 geo=BG41,BG31 unit=PC_GDP --start 2015 -o gerd.csv

writes ``gerd.csv`` (one row per series and period: the dimension codes, ``time``, ``value``,
``flag``) and ``gerd.csv.provenance.json`` (dataset, filters, URL, retrieval time, Eurostat's
UPDATE_DATA, sha256 of the raw answer and of the CSV, row count, clusterstats version). Both are
written atomically, the CSV first; a failure leaves any earlier files as they were. Where the
answer comes from follows :class:`clusterstats.eurostat.Client` (``CLUSTERSTATS_OFFLINE``,
``CLUSTERSTATS_MIRROR``, ``CLUSTERSTATS_CACHE``, ``CLUSTERSTATS_EUROSTAT_URL``).
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .provenance import atomic_write_bytes, atomic_write_json, package_version, sha256_bytes

__all__ = ["parse_filter_args", "fetch_csv", "add_fetch_cli"]


class FetchUsageError(ValueError):
    """A filter argument that is not ``dim=code[,code...]``."""


def parse_filter_args(items: list[str]) -> dict[str, list[str]]:
    """``["geo=BG41,BG31", "unit=PC_GDP"]`` -> ``{"geo": ["BG41", "BG31"], "unit": ["PC_GDP"]}``."""
    out: dict[str, list[str]] = {}
    for item in items:
        dim, sep, codes = item.partition("=")
        values = [c.strip() for c in codes.split(",") if c.strip()]
        if not sep or not dim.strip() or not values:
            raise FetchUsageError(f"filter {item!r} is not dim=code[,code...] (e.g. geo=BG41,BG31)")
        out.setdefault(dim.strip().lower(), []).extend(values)
    return out


def _tidy_csv(df: pd.DataFrame) -> bytes:
    from .snapshot import to_csv_bytes

    out = df.copy()
    for col in out.columns:
        if col != "value":
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return to_csv_bytes(out)


def fetch_csv(code: str, filters: dict[str, list[str]], out: str | Path, *, start: str | None = None,
              end: str | None = None, refresh: bool = False, client=None) -> dict[str, Any]:
    """Run one query through :func:`clusterstats.eurostat.get_eurostat` and write ``out`` plus
    ``out.provenance.json``; returns the provenance record."""
    from .eurostat import Client, get_eurostat

    client = client or Client.from_env()
    df = get_eurostat(code, filters, start=start, end=end, refresh=refresh, client=client)
    data = _tidy_csv(df)
    record = {
        **{k: v for k, v in df.attrs.items()},
        "raw_sha256": df.attrs.get("sha256"),
        "file": Path(out).name, "sha256": sha256_bytes(data), "rows": int(len(df)),
        "columns": list(df.columns), "written_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "clusterstats_version": package_version(),
    }
    atomic_write_bytes(out, data)
    atomic_write_json(f"{out}.provenance.json", record)
    return record


def _cmd_fetch(args: argparse.Namespace) -> int:
    from .eurostat import EurostatError

    try:
        record = fetch_csv(args.code, parse_filter_args(args.filters), args.out, start=args.start,
                           end=args.end, refresh=args.refresh)
    except (EurostatError, FetchUsageError, OSError) as exc:
        print(f"clusterstats data fetch: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"{args.out}: {record['rows']} rows from {record.get('source')} "
          f"({record.get('url') or record.get('mirror_file')}), vintage {record.get('vintage')}")
    return 0


def add_fetch_cli(sub) -> None:
    """Register ``fetch`` under ``clusterstats data`` (called by :func:`clusterstats.snapshot.add_cli`)."""
    p = sub.add_parser("fetch", help="one Eurostat query to a tidy CSV with a provenance sidecar")
    p.add_argument("code", help="Eurostat dataset code, e.g. tgs00042")
    p.add_argument("filters", nargs="*", metavar="DIM=CODES",
                   help="filters such as geo=BG41,BG31 unit=PC_GDP (several codes: one request)")
    p.add_argument("--start", help="first period, e.g. 2015, 2015-Q1, 2015-03")
    p.add_argument("--end", help="last period")
    p.add_argument("--refresh", action="store_true", help="ask Eurostat even if the query is cached")
    p.add_argument("-o", "--out", required=True, help="CSV to write (plus OUT.provenance.json)")
    p.set_defaults(func=_cmd_fetch)
