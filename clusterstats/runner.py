"""Run the analysis notebooks: ``clusterstats run`` (the pipeline) and ``clusterstats batch``.

The work is split by concern; this module is the command line and re-exports the public names
(they are contracts):

==========================================  ===================================================
:mod:`clusterstats.kernels`                  which kernel; starting it; pre-imported kernels
:mod:`clusterstats.execute`                  one run: :class:`RunSpec` -> :class:`RunOutcome`
:mod:`clusterstats.schedule`                 many runs: skip, threads or Dask, locks, signals
:mod:`clusterstats.manifest`                 the run manifest and when a run is up to date
:mod:`clusterstats.pipeline`                 ``pipeline.yaml`` and ``clusterstats run``
:mod:`clusterstats.batch`                    ``clusterstats batch`` (a grid over one notebook)
==========================================  ===================================================

Imports go one way only: runner -> batch -> pipeline -> schedule -> execute -> kernels, with
:mod:`clusterstats.commands` (CLI helpers) and :mod:`clusterstats.manifest` below them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .batch import add_batch_parser
from .commands import USAGE_ERRORS, add_common_options, guarded
from .context import run_name
from .execute import RunError, RunOutcome, RunSpec, execute_run, find_error
from .kernels import start_kernel
from .pipeline import (DEFAULT_OUTPUT, DEFAULT_PIPELINE, Pipeline, PipelineEntry, load_pipeline,
                       pipeline_specs, run_pipeline, run_post_step)
from .schedule import (BatchInterrupted, RunRecord, execute_specs, make_spec, overall_status,
                       summary_frame, write_batch_manifest)

__all__ = ["RunSpec", "RunOutcome", "execute_run", "start_kernel", "find_error", "execute_specs",
           "run_name", "load_pipeline", "run_pipeline", "add_cli", "DEFAULT_PIPELINE",
           "DEFAULT_OUTPUT", "RunError", "RunRecord", "BatchInterrupted", "make_spec",
           "Pipeline", "PipelineEntry", "pipeline_specs", "run_post_step", "summary_frame",
           "overall_status", "write_batch_manifest", "guarded", "USAGE_ERRORS"]

RUN_EPILOG = """\
examples:
  clusterstats run                      # every notebook in notebooks/pipeline.yaml, skip up-to-date
  clusterstats run --jobs 2             # two notebooks at a time (report and assembly after)
  clusterstats run --force              # run everything again
  clusterstats run --pipeline my.yaml --output build/nb-test --no-post-steps

A run is skipped only when its notebook, parameters, the data files it read, the package code and
versions and the kernel are unchanged since its last successful run AND every output its manifest
lists (executed notebook, figures, rows) still exists unchanged; otherwise it reruns and its
manifest says why (<output>/<name>.manifest.json, "reason"). results/hypotheses.csv is assembled
from the runs of this pipeline only. One writer at a time: a second `clusterstats run` refuses
(exit 2) unless given --wait. Exit codes: 0 ok, 1 a run or post step failed, 2 bad input,
130 interrupted (143 on SIGTERM).
"""


def _cmd_run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        print("error: --jobs must be >= 1", file=sys.stderr)
        return 2
    return guarded(lambda: run_pipeline(
        args.pipeline, output_dir=args.output, notebooks_dir=args.notebooks_dir, force=args.force,
        kernel=args.kernel, timeout=args.timeout, progress=not args.quiet,
        post_steps=not args.no_post_steps, jobs=args.jobs, wait=args.wait,
        preload=not args.no_preload)[0])


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run", help="run all notebooks of the pipeline (skips up-to-date ones)",
        description="Execute the notebooks listed in notebooks/pipeline.yaml with papermill, "
                    "then assemble results/hypotheses.csv and run the post steps.",
        epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pipeline", type=Path, default=None,
                   help="pipeline file (default: notebooks/pipeline.yaml in the repository)")
    p.add_argument("--notebooks-dir", type=Path, default=None,
                   help="folder the pipeline's notebook names are relative to (default: the pipeline's folder)")
    p.add_argument("--output", "-o", type=Path, default=None,
                   help="folder for executed notebooks and manifests (default: build/notebooks)")
    p.add_argument("--no-post-steps", action="store_true", help="skip the pipeline's post steps")
    add_common_options(p)
    p.set_defaults(func=_cmd_run)
    add_batch_parser(subparsers)
