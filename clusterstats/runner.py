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

Imports go one way only (runner -> batch/pipeline -> schedule -> execute -> kernels/manifest).
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any, Callable

from .context import run_name
from .execute import RunError, RunOutcome, RunSpec, execute_run, find_error
from .kernels import KernelNotFound, KernelStartError, start_kernel
from .locks import Busy
from .notebook_params import ParameterError
from .pipeline import (DEFAULT_OUTPUT, DEFAULT_PIPELINE, Pipeline, PipelineEntry, PipelineError,
                       PostStepError, load_pipeline, pipeline_specs, run_pipeline, run_post_step)
from .schedule import (BadRunName, BatchInterrupted, RunRecord, SchedulerError, execute_specs,
                       make_spec, overall_status, summary_frame, write_batch_manifest)

__all__ = ["RunSpec", "RunOutcome", "execute_run", "start_kernel", "find_error", "execute_specs",
           "run_name", "load_pipeline", "run_pipeline", "add_cli", "DEFAULT_PIPELINE",
           "DEFAULT_OUTPUT", "RunError", "RunRecord", "BatchInterrupted", "make_spec",
           "Pipeline", "PipelineEntry", "pipeline_specs", "run_post_step", "summary_frame",
           "overall_status", "write_batch_manifest", "guarded", "USAGE_ERRORS"]

#: errors that are the user's input or environment: one line on stderr, exit code 2
USAGE_ERRORS = (ParameterError, PipelineError, BadRunName, KernelNotFound, Busy, SchedulerError,
                PostStepError, KernelStartError, ValueError)


def guarded(command: Callable[[], int]) -> int:
    """Run a CLI command: a usage error prints ``error: <reason>`` and returns 2; Ctrl-C and
    SIGTERM return 130/143 after the command wrote its summary."""
    try:
        return command()
    except BatchInterrupted as exc:
        print("interrupted" + (" (SIGTERM)" if exc.signum == signal.SIGTERM else ""), file=sys.stderr)
        return 128 + int(exc.signum)
    except KeyboardInterrupt as exc:
        signum = int(getattr(exc, "signum", signal.SIGINT))
        print("interrupted", file=sys.stderr)
        return 128 + signum
    except USAGE_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


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


def add_common_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and ``batch``."""
    p.add_argument("--force", action="store_true", help="run again even if up to date")
    p.add_argument("--kernel", "-k", default=None,
                   help="kernel name (default: the notebook's 'clusterstats' kernel if installed, "
                        "else this Python's own, registered on first use)")
    p.add_argument("--timeout", type=float, default=None, help="per-cell time limit in seconds")
    p.add_argument("--jobs", "-j", type=int, default=1, help="runs at the same time (default 1)")
    p.add_argument("--wait", action="store_true",
                   help="if another clusterstats process writes to the same folder, wait for it "
                        "(default: refuse with exit code 2)")
    p.add_argument("--no-preload", action="store_true",
                   help="start every kernel from scratch instead of forking it from a process "
                        "with pandas, scipy, statsmodels, matplotlib and clusterstats imported")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


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

    from .batch import add_batch_parser

    add_batch_parser(subparsers)
