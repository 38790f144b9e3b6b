"""``clusterstats results collect``: gather values glued in executed notebooks into one table."""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_cli"]

EPILOG = """\
examples:
  clusterstats results collect build/batch/h4                 # print the table
  clusterstats results collect build/batch/h4 -o h4_values.csv
  clusterstats results collect build/notebooks --name gini -o gini.csv

In a notebook, record a value with:
  from clusterstats.results import glue
  glue("gini", 0.31)                 # numbers, strings, lists, dicts, or a small DataFrame
Columns: notebook, parameters (JSON), name, value (JSON text in the CSV), encoder.
"""


def _cmd_collect(args: argparse.Namespace) -> int:
    from .provenance import atomic_write_text
    from .results import collect

    try:
        table = collect(args.folder, name=args.name)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = table.copy()
    # CSV cells hold text: non-string values are written as JSON so they read back exactly
    out["value"] = out["value"].map(lambda v: v if isinstance(v, str) else json.dumps(v, sort_keys=True))
    if args.output:
        buf = io.StringIO()
        out.to_csv(buf, index=False, lineterminator="\n")
        atomic_write_text(args.output, buf.getvalue())
        print(f"{len(out)} glued value(s) from {out['notebook'].nunique()} notebook(s) -> {args.output}",
              file=sys.stderr)
    else:
        print(out.to_string(index=False) if len(out) else "(no glued values)")
    return 0


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("results", help="work with the values notebooks recorded",
                              description="Work with values recorded by clusterstats.results.glue().")
    sub = p.add_subparsers(dest="results_command", metavar="SUBCOMMAND")
    c = sub.add_parser("collect", help="gather glued values from executed notebooks into a table",
                       description="Read every executed notebook under FOLDER and gather the values "
                                   "glued with clusterstats.results.glue() into one tidy table.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("folder", type=Path, help="folder of executed notebooks (searched recursively)")
    c.add_argument("-o", "--output", type=Path, default=None, help="write the table to this CSV")
    c.add_argument("--name", default=None, help="only this glued name")

    def dispatch(args: argparse.Namespace) -> int:
        if args.results_command == "collect":
            return _cmd_collect(args)
        p.print_help()
        return 2

    p.set_defaults(func=dispatch)
