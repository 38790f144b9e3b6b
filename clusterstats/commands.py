"""What ``clusterstats run`` and ``clusterstats batch`` share on the command line: the common
options and :func:`guarded`, which turns a usage error into one line and exit code 2."""
from __future__ import annotations

import argparse
import signal
import sys
from typing import Callable

from .kernels import KernelNotFound, KernelStartError
from .locks import Busy
from .notebook_params import ParameterError
from .pipeline import PipelineError, PostStepError
from .schedule import BadRunName, BatchInterrupted, SchedulerError

__all__ = ["USAGE_ERRORS", "guarded", "add_common_options"]

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


