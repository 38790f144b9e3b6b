"""The ``clusterstats`` command line.

Sub-commands are contributed by the modules that own them, each through an
``add_cli(subparsers)`` function, so this file only lists them:

* ``clusterstats run`` / ``clusterstats batch``   -> :mod:`clusterstats.runner` (with
  :mod:`~clusterstats.pipeline`, :mod:`~clusterstats.batch`, :mod:`~clusterstats.schedule`)
* ``clusterstats data snapshot|diff|...``          -> :mod:`clusterstats.snapshot`
* ``clusterstats results collect``                 -> :mod:`clusterstats.results_cli`
* ``clusterstats calls [--windows]``               -> :mod:`clusterstats.calls`
* ``clusterstats figure-info FILE [--verify]``      -> :mod:`clusterstats.figures`
* ``clusterstats verdicts diff OLD NEW``            -> :mod:`clusterstats.drift`
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

#: modules that provide ``add_cli(subparsers)``; a missing module is skipped so that a partial
#: checkout still has a working CLI.
COMMAND_MODULES = ("clusterstats.runner", "clusterstats.snapshot", "clusterstats.results_cli",
                   "clusterstats.calls", "clusterstats.figures",
                   "clusterstats.drift", "clusterstats.site")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterstats",
        description="Reproduce and extend the clusterstats analysis of Bulgaria's clusters and R&D.",
    )
    parser.add_argument("--version", action="version", version=f"clusterstats {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for modname in COMMAND_MODULES:
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:
                raise
            continue
        module.add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
