"""Execute one notebook run: :class:`RunSpec` in, :class:`RunOutcome` out, no files written.

1. The notebook is parameterised in memory with papermill's own functions (injected-parameters
   cell after the cell tagged ``parameters``, ``metadata.papermill`` filled in).
2. A kernel is started by :func:`clusterstats.kernels.start_kernel` in a private runtime folder
   (forked from the pre-imported zygote when the kernel runs this interpreter), and handed to
   papermill's nbclient engine (``km=``), which does not start another.
3. The executed notebook is checked for errors itself (:func:`find_error`): papermill raises only
   on ``error`` outputs, but a failing line magic prints ``UsageError`` to stderr and may leave no
   such output (papermill #501, "exit code 0"); any cell papermill marked as failed counts.
4. Nothing is written while a notebook runs; the scheduler (:mod:`clusterstats.schedule`) writes
   the executed notebook and then its manifest, atomically.

``execute_run`` takes and returns plain data (the notebook's JSON text in, the executed JSON out),
so the same function runs in a local thread or on a Dask worker on another machine.
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

from .kernels import runtime_folder, shutdown_quietly, start_kernel, zygote_for
from .manifest import now_iso

__all__ = ["RunSpec", "RunOutcome", "RunError", "execute_run", "find_error", "glued_values",
           "OUTPUTS_GLUE_NAME", "INPUTS_GLUE_NAME"]

#: glue name whose value (a path or list of paths) is recorded as the run's outputs
OUTPUTS_GLUE_NAME = "outputs"
#: glue name whose value (``[{"path", "sha256"}]``) lists the data files the run read
INPUTS_GLUE_NAME = "inputs"


@dataclass
class RunSpec:
    """Everything a worker needs to execute one notebook with one parameter set."""
    name: str                       # output stem: <name>.ipynb, <name>.manifest.json
    notebook_path: str              # for messages and metadata (relative to the repo if inside)
    notebook_text: str              # the source notebook's JSON (so remote workers need no files)
    parameters: dict[str, Any] = field(default_factory=dict)
    kernel: str | None = None       # None: the kernel named in the notebook's metadata
    cwd: str | None = None          # kernel working folder (the notebook's folder)
    timeout: float | None = None    # per cell, seconds; None: no limit
    start_timeout: float = 60.0
    start_attempts: int = 3
    preload: bool = True            # fork the kernel from the pre-imported zygote when it fits


class RunError(NamedTuple):
    """Where and why a run failed (a tuple, so ``(cell, name, message)`` comparisons still work)."""
    cell: int | None
    name: str
    message: str


@dataclass
class RunOutcome:
    name: str
    status: str                     # "ok", "failed" or "interrupted"
    started: str
    finished: str
    duration_s: float
    error_name: str | None = None
    error_message: str | None = None
    error_cell: int | None = None   # index of the failing cell in the executed notebook
    notebook_json: str | None = None
    glued_outputs: list[str] = field(default_factory=list)
    kernel_attempts: int = 0
    glued_inputs: dict[str, str] = field(default_factory=dict)   # data file -> sha256
    glued_run: str | None = None    # the run name the notebook itself used (RunContext)
    preloaded: bool = False         # the kernel was forked from the pre-imported zygote


_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): ?(.*)$")


def find_error(nb: Mapping[str, Any]) -> RunError | None:
    """The first error recorded in an executed notebook as ``RunError(cell, name, message)``.

    Counts ``error`` outputs (except ``SystemExit`` with code 0/empty, as papermill does) and
    cells that papermill marked ``exception``/``failed`` without an error output: e.g. a failing
    line magic whose ``UsageError`` only went to stderr (papermill #501). The name and message are
    then taken from the last ``Name: message`` line on the cell's stderr.
    """
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        found = _cell_error(index, cell)
        if found is not None:
            return found
    if nb.get("metadata", {}).get("papermill", {}).get("exception"):
        return RunError(None, "CellExecutionError", "papermill recorded an exception")
    return None


def _cell_error(index: int, cell: Mapping[str, Any]) -> RunError | None:
    outputs = cell.get("outputs", [])
    for out in outputs:
        if out.get("output_type") == "error":
            if out.get("ename") == "SystemExit" and str(out.get("evalue", "")) in ("", "0"):
                continue
            return RunError(index, str(out.get("ename")), str(out.get("evalue", "")))
    pm = cell.get("metadata", {}).get("papermill", {})
    if not (pm.get("exception") or pm.get("status") == "failed"):
        return None
    stderr = "".join("".join(o.get("text", "")) for o in outputs
                     if o.get("output_type") == "stream" and o.get("name") == "stderr")
    for line in reversed(stderr.strip().splitlines()):
        m = _ERROR_LINE.match(line.strip())
        if m:
            return RunError(index, m.group(1), m.group(2))
    tail = stderr.strip().splitlines()[-1] if stderr.strip() else "the kernel reported an error"
    return RunError(index, "CellExecutionError", tail)


def glued_values(nb: Mapping[str, Any], name: str) -> list[Any]:
    """Every value glued under ``name`` in an executed notebook, in order."""
    from .results import GLUE_MIME

    found = []
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            payload = out.get("data", {}).get(GLUE_MIME)
            if isinstance(payload, dict) and payload.get("name") == name:
                found.append(payload.get("data"))
    return found


def _glued_outputs(nb: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for value in glued_values(nb, OUTPUTS_GLUE_NAME):
        if isinstance(value, dict):  # e.g. {"png": path, "csv": path}
            value = list(value.values())
        found.extend([value] if isinstance(value, str) else [str(v) for v in value or []])
    return found


def _glued_inputs(nb: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in glued_values(nb, INPUTS_GLUE_NAME):
        for item in value or []:
            if isinstance(item, dict) and item.get("path") and item.get("sha256"):
                out[str(item["path"])] = str(item["sha256"])
    return out


def _engine():
    """papermill's nbclient engine, for a kernel we started ourselves.

    nbclient closes its kernel client only when it owns the kernel manager; with ``km=`` given,
    the client's ZMQ sockets would stay open (the leak behind papermill #478 in loops), so this
    engine closes them.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine
    from papermill.log import logger as pm_logger

    class OwnKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None,
                                     km=None, **kwargs):
            client = PapermillNotebookClient(
                nb_man, km=km, timeout=execution_timeout, startup_timeout=start_timeout,
                kernel_name=kernel_name, log=pm_logger, log_output=log_output,
                stdout_file=stdout_file, stderr_file=stderr_file)
            try:
                return client.execute()
            finally:
                if client.kc is not None:
                    client.kc.stop_channels()
                    client.kc = None

    return OwnKernelEngine


def _prepare(spec: RunSpec):
    """The parameterised notebook node and its kernel name (papermill's own functions)."""
    import nbformat
    from papermill.engines import papermill_engines
    from papermill.execute import prepare_notebook_metadata, remove_error_markers
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    # papermill's loader adds the metadata its parameteriser expects (tags, papermill);
    # it accepts a NotebookNode, so nothing is read from disk here
    nb = load_notebook_node(nbformat.reads(spec.notebook_text, as_version=4))
    kernel = papermill_engines.nb_kernel_name(None, nb, spec.kernel)
    language = papermill_engines.nb_language(None, nb)
    if spec.parameters:
        nb = parameterize_notebook(nb, dict(spec.parameters), kernel_name=kernel, language=language)
    nb = prepare_notebook_metadata(nb, spec.notebook_path, f"{spec.name}.ipynb")
    return remove_error_markers(nb), kernel


def _execute(spec: RunSpec, nb, kernel: str, cancel, active) -> tuple[Any, RunError | None, int, bool]:
    """Start the kernel and execute; returns (notebook, error or None, attempts, preloaded)."""
    error, attempts, preloaded = None, 0, False
    with runtime_folder() as runtime:
        cwd = spec.cwd if spec.cwd and os.path.isdir(spec.cwd) else runtime
        km = None
        try:
            zygote = zygote_for(kernel) if spec.preload else None
            preloaded = zygote is not None
            km, attempts = start_kernel(kernel, runtime_dir=runtime, cwd=cwd,
                                        env={"CLUSTERSTATS_RUN_NAME": spec.name},
                                        timeout=spec.start_timeout, attempts=spec.start_attempts,
                                        zygote=zygote)
            if active is not None:
                active[spec.name] = km
            if cancel is not None and cancel.is_set():
                raise KeyboardInterrupt
            nb = _engine().execute_notebook(
                nb, kernel, output_path=None, progress_bar=False, log_output=False,
                start_timeout=spec.start_timeout, execution_timeout=spec.timeout, km=km)
        except Exception as exc:  # noqa: BLE001 - kernel death, timeout, ...: a failed run
            error = RunError(None, type(exc).__name__, str(exc).strip())
        except KeyboardInterrupt:
            error = RunError(None, "KeyboardInterrupt", "interrupted")
        finally:
            if active is not None:
                active.pop(spec.name, None)
            if km is not None:
                shutdown_quietly(km)
    return nb, error, attempts, preloaded


def _record_in_notebook(nb, error: RunError) -> None:
    """An exception out of papermill (time limit, dead kernel) leaves no trace in the notebook:
    record it as an error output of the last cell that started, so the executed notebook shows
    where and why it stopped (and gets papermill's error banner)."""
    import nbformat

    started_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                     and c.get("metadata", {}).get("papermill", {}).get("start_time")]
    if started_cells:
        cell = nb.cells[started_cells[-1]]
        cell.outputs.append(nbformat.v4.new_output("error", ename=error.name, evalue=error.message,
                                                   traceback=[f"{error.name}: {error.message}"]))
        cell.metadata.setdefault("papermill", {})["exception"] = True


def execute_run(spec: RunSpec, cancel: threading.Event | None = None,
                active: dict[str, Any] | None = None) -> RunOutcome:
    """Execute one parameterised notebook; never raises for notebook errors, never writes files.

    ``cancel`` and ``active`` are for local threads: the scheduler kills the kernels in
    ``active`` on Ctrl-C/SIGTERM and the run comes back ``interrupted``.
    """
    import nbformat
    from papermill.exceptions import PapermillExecutionError
    from papermill.execute import raise_for_execution_errors

    started, t0 = now_iso(), time.monotonic()
    nb = nbformat.from_dict({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    error: RunError | None = None
    attempts, preloaded = 0, False
    try:
        nb, kernel = _prepare(spec)
    except Exception as exc:  # noqa: BLE001 - reported as this run's failure
        error = RunError(None, type(exc).__name__, str(exc))
    if error is None:
        nb, error, attempts, preloaded = _execute(spec, nb, kernel, cancel, active)
    recorded = find_error(nb)
    if error is not None and recorded is None and error.name != "KeyboardInterrupt":
        _record_in_notebook(nb, error)
        recorded = find_error(nb)
    if recorded is not None and (error is None or error.cell is None):
        error = recorded
    interrupted = cancel is not None and cancel.is_set() and error is not None
    status = "interrupted" if interrupted else ("failed" if error else "ok")
    if recorded is not None:
        try:  # papermill's error banner at the top of the executed notebook, linking to the cell
            raise_for_execution_errors(nb, None)
        except PapermillExecutionError:
            pass
        final = find_error(nb)  # the banner shifted the cells: index into the notebook as written
        if final is not None and error is not None:
            error = RunError(final.cell, error.name, error.message)
    runs = glued_values(nb, "run")
    return RunOutcome(
        name=spec.name, status=status, started=started, finished=now_iso(),
        duration_s=round(time.monotonic() - t0, 3),
        error_name=error.name if error else None, error_message=error.message if error else None,
        error_cell=error.cell if error else None,
        notebook_json=None if status == "interrupted" else nbformat.writes(nb),
        glued_outputs=_glued_outputs(nb), kernel_attempts=attempts,
        glued_inputs=_glued_inputs(nb), glued_run=runs[-1] if runs else None, preloaded=preloaded)
