"""Run the analysis notebooks with papermill: ``clusterstats run`` (the pipeline) and the engine
shared with ``clusterstats batch`` (:mod:`clusterstats.batch`).

How one run works (:func:`execute_run`)

1. The notebook is parameterised in memory with papermill's own functions (injected-parameters
   cell after the cell tagged ``parameters``, ``metadata.papermill`` filled in).
2. A kernel is started by :func:`start_kernel` with its **own connection file in its own runtime
   folder** and retried when it dies on start-up. Parallel kernels race for TCP ports: jupyter_client
   picks a free port, closes it and the kernel binds it later, so two kernels can pick the same port
   (papermill #511 "zmq.error.ZMQError: Address already in use", also snakemake #3689). The kernel
   is then handed to papermill's nbclient engine (``km=``), which does not start another.
3. The executed notebook is checked for errors itself (:func:`find_error`): papermill raises only
   on ``error`` outputs, but a failing line magic prints ``UsageError`` to stderr and may leave no
   such output (papermill #501, "exit code 0"); any cell papermill marked as failed counts.
4. Nothing is written while a notebook runs. The caller (:func:`execute_specs`) writes the
   executed notebook atomically, then its manifest (:mod:`clusterstats.manifest`). So Ctrl-C
   leaves complete files or none, and the next run resumes where it stopped.

``execute_run`` takes and returns plain data (the notebook's JSON text in, the executed JSON out),
so the same function runs in a local thread or on a Dask worker on another machine.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import json
import logging
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ._paths import figures_dir, reports_dir, repo_root, results_dir
from .manifest import (MANIFEST_SUFFIX, changed_inputs, data_snapshot, environment, fingerprint,
                       fingerprint_inputs, is_up_to_date, now_iso, read_manifest, write_manifest)
from .notebook_params import ParameterError, load_yaml, read_parameters, validate_parameters
from .provenance import atomic_write_text, sha256_bytes, sha256_file

__all__ = ["RunSpec", "RunOutcome", "execute_run", "start_kernel", "find_error", "execute_specs",
           "run_name", "load_pipeline", "run_pipeline", "add_cli", "DEFAULT_PIPELINE",
           "DEFAULT_OUTPUT"]

log = logging.getLogger(__name__)

# nbformat validates with jsonschema, whose format checkers import `rfc3987_syntax` when it is
# installed (it comes with jupyterlab's jsonschema[format-nongpl]); that import builds a grammar
# and costs ~1.4 s of CPU in every process that reads a notebook: the CLI, each Dask worker. No
# notebook schema uses the IRI formats it checks, so this process does without it.
if "rfc3987_syntax" not in sys.modules:
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]

DEFAULT_PIPELINE = Path("notebooks") / "pipeline.yaml"
DEFAULT_OUTPUT = Path("build") / "notebooks"
#: glue name whose value (a path or list of paths) is recorded as the run's outputs
OUTPUTS_GLUE_NAME = "outputs"


# --------------------------------------------------------------------------------------------
# one run
# --------------------------------------------------------------------------------------------
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


_PORT_RACE_MESSAGES = ("Address already in use", "Kernel died before replying",
                       "Kernel didn't respond")


def _is_start_race(exc: BaseException) -> bool:
    """True for the start-up failures that a fresh kernel on fresh ports can fix."""
    try:
        import zmq

        if isinstance(exc, zmq.ZMQError) and exc.errno == errno.EADDRINUSE:
            return True
    except ImportError:  # pragma: no cover - zmq comes with jupyter_client
        pass
    return any(m in str(exc) for m in _PORT_RACE_MESSAGES)


def _kill_kernel(km: Any) -> None:
    """Kill a kernel's process group at once (it runs in its own session, see jupyter_client)."""
    pid = getattr(getattr(km, "provisioner", None), "pid", None)
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass


async def _ashutdown_quietly(km: Any) -> None:
    from jupyter_core.utils import ensure_async

    try:
        if km.has_kernel:
            await ensure_async(km.shutdown_kernel(now=True))
    except Exception:  # noqa: BLE001 - a kernel that is already gone is fine
        _kill_kernel(km)
    try:
        await ensure_async(km.cleanup_resources())
    except Exception:  # noqa: BLE001
        pass


def _shutdown_quietly(km: Any) -> None:
    from jupyter_core.utils import run_sync

    run_sync(_ashutdown_quietly)(km)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(ln for ln in text.strip().splitlines()[-lines:] if ln.strip())


def start_kernel(kernel_name: str, *, runtime_dir: str | os.PathLike, cwd: str | None = None,
                 env: Mapping[str, str] | None = None, timeout: float = 60.0, attempts: int = 3,
                 km_factory: Callable[..., Any] | None = None) -> tuple[Any, int]:
    """Start a kernel that answers ``kernel_info``; retry on the parallel start-up port race.

    Each attempt gets a new connection file (fresh ports) in ``runtime_dir``, which belongs to
    this run only; the kernel also sees ``JUPYTER_RUNTIME_DIR=runtime_dir`` so nothing it writes
    there collides with other runs. Returns ``(kernel_manager, attempts_used)``. Failures that
    retrying cannot fix (unknown kernel, ...) are raised at once.

    The manager is jupyter_client's ``AsyncKernelManager``, the kind nbclient creates itself:
    with a blocking manager nbclient's output polling blocks its event loop, and cell time
    limits and dead-kernel checks never fire.
    """
    from jupyter_core.utils import run_sync

    return run_sync(_astart_kernel)(kernel_name, runtime_dir, cwd, env, timeout, attempts, km_factory)


async def _astart_kernel(kernel_name, runtime_dir, cwd, env, timeout, attempts, km_factory):
    import asyncio

    from jupyter_core.utils import ensure_async

    if km_factory is None:
        from jupyter_client.manager import AsyncKernelManager as km_factory  # noqa: N813
    kernel_env = {**os.environ, **(env or {}), "JUPYTER_RUNTIME_DIR": str(runtime_dir)}
    for attempt in range(1, attempts + 1):
        km = km_factory(kernel_name=kernel_name,
                        connection_file=os.path.join(runtime_dir, f"kernel-{attempt}.json"))
        # The kernel process's own stderr (not cell output, which travels over ZMQ) goes to a
        # file: it holds the ZMQError of a port race, and keeps ipykernel's start-up noise
        # out of the progress display.
        log_path = Path(runtime_dir) / f"kernel-{attempt}.stderr"
        try:
            with open(log_path, "wb") as kernel_log:
                await ensure_async(km.start_kernel(cwd=cwd, env=kernel_env, stderr=kernel_log))
            kc = km.client()
            kc.start_channels()
            try:
                await ensure_async(kc.wait_for_ready(timeout=timeout))
            finally:
                kc.stop_channels()
            return km, attempt
        except Exception as exc:
            await _ashutdown_quietly(km)
            tail = _tail(log_path)
            if attempt == attempts or not (_is_start_race(exc) or _is_start_race(RuntimeError(tail))):
                if tail:
                    raise RuntimeError(f"{exc}; kernel stderr: {tail}") from exc
                raise
            log.warning("kernel start attempt %d failed (%s); retrying on new ports", attempt, exc)
            await asyncio.sleep(random.uniform(0.1, 0.4) * attempt)  # de-synchronise racing starts
    raise AssertionError("unreachable")  # pragma: no cover


_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): ?(.*)$")


def find_error(nb: Mapping[str, Any]) -> tuple[int | None, str, str] | None:
    """The first error recorded in an executed notebook as ``(cell_index, name, message)``.

    Counts ``error`` outputs (except ``SystemExit`` with code 0/empty, as papermill does) and
    cells that papermill marked ``exception``/``failed`` without an error output: e.g. a failing
    line magic whose ``UsageError`` only went to stderr (papermill #501). The name and message are
    then taken from the last ``Name: message`` line on the cell's stderr.
    """
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        outputs = cell.get("outputs", [])
        for out in outputs:
            if out.get("output_type") == "error":
                if out.get("ename") == "SystemExit" and str(out.get("evalue", "")) in ("", "0"):
                    continue
                return index, str(out.get("ename")), str(out.get("evalue", ""))
        pm = cell.get("metadata", {}).get("papermill", {})
        if pm.get("exception") or pm.get("status") == "failed":
            stderr = "".join("".join(o.get("text", "")) for o in outputs
                             if o.get("output_type") == "stream" and o.get("name") == "stderr")
            for line in reversed(stderr.strip().splitlines()):
                m = _ERROR_LINE.match(line.strip())
                if m:
                    return index, m.group(1), m.group(2)
            tail = stderr.strip().splitlines()[-1] if stderr.strip() else "the kernel reported an error"
            return index, "CellExecutionError", tail
    if nb.get("metadata", {}).get("papermill", {}).get("exception"):
        return None, "CellExecutionError", "papermill recorded an exception"
    return None


def _glued_outputs(nb: Mapping[str, Any]) -> list[str]:
    from .results import GLUE_MIME

    found: list[str] = []
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            payload = out.get("data", {}).get(GLUE_MIME)
            if isinstance(payload, dict) and payload.get("name") == OUTPUTS_GLUE_NAME:
                value = payload.get("data")
                if isinstance(value, dict):  # e.g. {"png": path, "csv": path}
                    value = list(value.values())
                found.extend([value] if isinstance(value, str) else [str(v) for v in value or []])
    return found


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


def execute_run(spec: RunSpec, cancel: threading.Event | None = None,
                active: dict[str, Any] | None = None) -> RunOutcome:
    """Execute one parameterised notebook; never raises for notebook errors, never writes files.

    ``cancel`` and ``active`` are for local threads: :func:`execute_specs` kills the kernels in
    ``active`` on Ctrl-C and the run comes back ``interrupted``.
    """
    import nbformat
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillExecutionError
    from papermill.iorw import load_notebook_node
    from papermill.execute import prepare_notebook_metadata, raise_for_execution_errors, remove_error_markers
    from papermill.parameterize import parameterize_notebook

    started, t0 = now_iso(), time.monotonic()
    nb = nbformat.from_dict({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    error: tuple[int | None, str, str] | None = None
    attempts = 0
    try:
        # papermill's loader adds the metadata its parameteriser expects (tags, papermill);
        # it accepts a NotebookNode, so nothing is read from disk here
        nb = load_notebook_node(nbformat.reads(spec.notebook_text, as_version=4))
        kernel = papermill_engines.nb_kernel_name(None, nb, spec.kernel)
        language = papermill_engines.nb_language(None, nb)
        if spec.parameters:
            nb = parameterize_notebook(nb, dict(spec.parameters), kernel_name=kernel, language=language)
        nb = prepare_notebook_metadata(nb, spec.notebook_path, f"{spec.name}.ipynb")
        nb = remove_error_markers(nb)
    except Exception as exc:  # noqa: BLE001 - reported as this run's failure
        error = (None, type(exc).__name__, str(exc))
    if error is None:
        with tempfile.TemporaryDirectory(prefix="clusterstats-kernel-") as runtime:
            cwd = spec.cwd if spec.cwd and os.path.isdir(spec.cwd) else runtime
            km = None
            try:
                km, attempts = start_kernel(kernel, runtime_dir=runtime, cwd=cwd,
                                            env={"CLUSTERSTATS_RUN_NAME": spec.name},
                                            timeout=spec.start_timeout, attempts=spec.start_attempts)
                if active is not None:
                    active[spec.name] = km
                if cancel is not None and cancel.is_set():
                    raise KeyboardInterrupt
                nb = _engine().execute_notebook(
                    nb, kernel, output_path=None, progress_bar=False, log_output=False,
                    start_timeout=spec.start_timeout, execution_timeout=spec.timeout, km=km)
            except Exception as exc:  # noqa: BLE001 - kernel death, timeout, ...: a failed run
                error = (None, type(exc).__name__, str(exc).strip())
            except KeyboardInterrupt:
                error = (None, "KeyboardInterrupt", "interrupted")
            finally:
                if active is not None:
                    active.pop(spec.name, None)
                if km is not None:
                    _shutdown_quietly(km)
    recorded = find_error(nb)
    if error is not None and recorded is None and error[1] != "KeyboardInterrupt":
        # An exception out of papermill (time limit, dead kernel) leaves no trace in the
        # notebook: record it as an error output of the last cell that started, so the executed
        # notebook shows where and why it stopped (and gets papermill's error banner).
        started_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                         and c.get("metadata", {}).get("papermill", {}).get("start_time")]
        if started_cells:
            cell = nb.cells[started_cells[-1]]
            cell.outputs.append(nbformat.v4.new_output("error", ename=error[1], evalue=error[2],
                                                       traceback=[f"{error[1]}: {error[2]}"]))
            cell.metadata.setdefault("papermill", {})["exception"] = True
            recorded = find_error(nb)
    if recorded is not None and (error is None or error[0] is None):
        error = recorded
    if cancel is not None and cancel.is_set() and error is not None:
        status = "interrupted"
    else:
        status = "failed" if error else "ok"
    if recorded is not None:
        # papermill's error banner at the top of the executed notebook, linking to the cell
        try:
            raise_for_execution_errors(nb, None)
        except PapermillExecutionError:
            pass
        final = find_error(nb)  # the banner shifted the cells: index into the notebook as written
        if final is not None and error is not None:
            error = (final[0], error[1], error[2])
    return RunOutcome(
        name=spec.name, status=status, started=started, finished=now_iso(),
        duration_s=round(time.monotonic() - t0, 3),
        error_name=error[1] if error else None, error_message=error[2] if error else None,
        error_cell=error[0] if error else None,
        notebook_json=None if status == "interrupted" else nbformat.writes(nb),
        glued_outputs=_glued_outputs(nb), kernel_attempts=attempts)


# --------------------------------------------------------------------------------------------
# many runs: skip unchanged, run locally in threads or on Dask, write results atomically
# --------------------------------------------------------------------------------------------
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9.+-]")


def run_name(stem: str, parameters: Mapping[str, Any]) -> str:
    """Readable, deterministic output name: ``stem__country-BG__alpha-0.05``.

    A short hash of the parameters is appended when the readable part had to be altered or
    shortened, so two different sets never share a name.
    """
    if not parameters:
        return stem
    parts = []
    for key, value in parameters.items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        parts.append(f"{key}-{text}")
    raw = "__".join(parts)
    slug = _SLUG_UNSAFE.sub("_", raw)
    if slug != raw or len(slug) > 80:
        digest = sha256_bytes(json.dumps(dict(parameters), sort_keys=True).encode())[:8]
        slug = f"{slug[:80]}-{digest}"
    return f"{stem}__{slug}"


def _display_path(path: Path) -> str:
    """A path relative to the repository root when inside it (manifests carry no machine paths)."""
    try:
        return path.resolve().relative_to(repo_root()).as_posix()
    except ValueError:
        return path.as_posix()


def make_spec(notebook: str | Path, parameters: Mapping[str, Any], *, name: str | None = None,
              kernel: str | None = None, timeout: float | None = None,
              start_attempts: int = 3) -> RunSpec:
    notebook = Path(notebook)
    text = notebook.read_text(encoding="utf-8")
    return RunSpec(name=name or run_name(notebook.stem, parameters),
                   notebook_path=_display_path(notebook), notebook_text=text,
                   parameters=dict(parameters), kernel=kernel, cwd=str(notebook.resolve().parent),
                   timeout=timeout, start_attempts=start_attempts)


def _output_state(folders: Iterable[Path]) -> dict[Path, tuple[int, int]]:
    state = {}
    for folder in folders:
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file() and not path.name.startswith("."):
                    st = path.stat()
                    state[path] = (st.st_mtime_ns, st.st_size)
    return state


@dataclass
class RunRecord:
    """One line of a batch/pipeline summary."""
    name: str
    parameters: dict[str, Any]
    status: str                     # ok, failed, skipped (unchanged since its last ok run), interrupted
    duration_s: float | None = None
    error_name: str | None = None
    error_message: str | None = None
    error_cell: int | None = None
    notebook: str | None = None     # executed notebook, relative to the output folder
    manifest: str | None = None


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`execute_specs`; ``records`` holds what finished before it."""

    def __init__(self, records: list[RunRecord]):
        super().__init__("interrupted")
        self.records = records


def execute_specs(specs: Sequence[RunSpec], output_dir: str | Path, *, jobs: int = 1,
                  scheduler: str | None = None, force: bool = False, progress: bool = True,
                  desc: str = "notebooks", scan_folders: Sequence[Path] | None = None,
                  context: Mapping[str, Any] | None = None) -> list[RunRecord]:
    """Run every spec not already up to date and write ``<name>.ipynb`` + ``<name>.manifest.json``.

    ``jobs`` runs in parallel in local threads (each drives its own kernel process), or on Dask
    when ``scheduler`` is ``"local"`` (a ``LocalCluster`` of ``jobs`` worker processes) or a
    scheduler address such as ``tcp://host:8786``. With ``jobs == 1`` locally, files changed
    under ``scan_folders`` during a run are recorded as its outputs (in parallel they cannot be
    told apart, so only glued ``outputs`` are recorded). Returns one record per spec in input
    order; raises :class:`BatchInterrupted` on Ctrl-C after stopping the running kernels.
    """
    from tqdm.auto import tqdm

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"two runs would write the same output name(s): {dupes}")
    for spec in specs:
        source = Path(spec.cwd or ".") / Path(spec.notebook_path).name
        if (output_dir / f"{spec.name}.ipynb").resolve() == source.resolve():
            raise ValueError(f"{spec.name}: the executed notebook would overwrite its source "
                             f"{source}; choose another output folder")
    env = environment()
    snapshot = data_snapshot()
    records: dict[str, RunRecord] = {}
    pending: list[tuple[RunSpec, str, str, dict[str, Any]]] = []
    for spec in specs:
        nb_sha = sha256_bytes(spec.notebook_text.encode("utf-8"))
        inputs = dict(notebook_sha256=nb_sha, parameters=spec.parameters,
                      data_sha256=snapshot["sha256"], env=env, kernel=spec.kernel)
        fp = fingerprint(**inputs)
        out, man = output_dir / f"{spec.name}.ipynb", output_dir / f"{spec.name}{MANIFEST_SUFFIX}"
        previous = read_manifest(man)
        if not force and is_up_to_date(man, out, fp):
            # duration of the run that produced the kept notebook
            records[spec.name] = RunRecord(spec.name, spec.parameters, "skipped",
                                           (previous or {}).get("duration_s"),
                                           notebook=out.name, manifest=man.name)
            continue
        if previous is not None and not force:
            changed = changed_inputs(previous, fingerprint_inputs(**inputs))
            why = ", ".join(changed) if changed else f"last status {previous.get('status')}"
            log.info("%s: runs again (%s changed)", spec.name, why)
            if progress:
                print(f"{spec.name}: runs again ({why})", file=sys.stderr)
        pending.append((spec, nb_sha, fp, fingerprint_inputs(**inputs)))
    scan = list(scan_folders or []) if jobs == 1 and not scheduler else []

    inputs_of = {spec.name: inputs for spec, _, _, inputs in pending}

    def finish(spec: RunSpec, nb_sha: str, fp: str, outcome: RunOutcome,
               before: dict[Path, tuple[int, int]] | None) -> None:
        record = RunRecord(spec.name, spec.parameters, outcome.status, outcome.duration_s,
                           outcome.error_name, outcome.error_message, outcome.error_cell)
        records[spec.name] = record
        if outcome.status == "interrupted" or outcome.notebook_json is None:
            return
        out = output_dir / f"{spec.name}.ipynb"
        atomic_write_text(out, outcome.notebook_json)
        outputs = [{"path": out.name, "sha256": sha256_file(out), "kind": "executed notebook"}]
        for glued in outcome.glued_outputs:
            path = Path(glued)
            if not path.is_absolute() and spec.cwd:
                path = Path(spec.cwd) / path  # relative to the notebook's working folder
            entry = {"path": _display_path(path) if path.exists() else glued, "kind": "glued"}
            if path.is_file():
                entry["sha256"] = sha256_file(path)
            outputs.append(entry)
        if before is not None:
            after = _output_state(scan)
            for path in sorted(p for p, st in after.items() if before.get(p) != st):
                outputs.append({"path": _display_path(path), "sha256": sha256_file(path),
                                "kind": "written"})
        manifest = {
            "manifest_version": 1,
            "run": spec.name,
            "status": outcome.status,
            "fingerprint": fp,
            "inputs": inputs_of[spec.name],
            "notebook": {"path": spec.notebook_path, "sha256": nb_sha},
            "parameters": spec.parameters,
            "kernel": spec.kernel,
            "started": outcome.started, "finished": outcome.finished,
            "duration_s": outcome.duration_s,
            "kernel_start_attempts": outcome.kernel_attempts,
            "error": None if outcome.status == "ok" else {
                "name": outcome.error_name, "message": outcome.error_message,
                "cell_index": outcome.error_cell},
            "output": outputs[0],
            "outputs": outputs,
            "data": snapshot,
            "environment": env,
            "context": dict(context or {}),
        }
        write_manifest(output_dir / f"{spec.name}{MANIFEST_SUFFIX}", manifest)
        record.notebook, record.manifest = out.name, f"{spec.name}{MANIFEST_SUFFIX}"

    bar = tqdm(total=len(specs), initial=len(specs) - len(pending), desc=desc, unit="run",
               file=sys.stderr, disable=not progress, dynamic_ncols=True)

    def report(outcome: RunOutcome) -> None:
        bar.update(1)
        if outcome.status == "failed" and progress:
            bar.write(f"FAILED {outcome.name}: {outcome.error_name}: {outcome.error_message}",
                      file=sys.stderr)

    def ordered() -> list[RunRecord]:
        return [records[n] for n in names if n in records]

    try:
        if scheduler:
            _run_on_dask([p[:3] for p in pending], scheduler, jobs, finish, report)
        else:
            _run_in_threads([p[:3] for p in pending], jobs, finish, report, scan)
    except KeyboardInterrupt:
        for spec, *_ in pending:
            records.setdefault(spec.name, RunRecord(spec.name, spec.parameters, "interrupted"))
        raise BatchInterrupted(ordered()) from None
    finally:
        bar.close()
    return ordered()


class _DeferSigint:
    """Hold Ctrl-C while a run's notebook and manifest are written, so they land as a pair.

    Only the main thread can own signal handlers; elsewhere this does nothing.
    """

    def __enter__(self):
        self.pending = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._hold)
        return self

    def _hold(self, signum, frame):
        self.pending = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            if self.pending:
                raise KeyboardInterrupt
        return False


def _run_in_threads(pending, jobs, finish, report, scan) -> None:
    cancel = threading.Event()
    active: dict[str, Any] = {}
    queue = list(pending)
    running: dict[Any, tuple] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="clusterstats-run")
    try:
        while queue or running:
            while queue and len(running) < max(1, jobs):
                spec, nb_sha, fp = queue.pop(0)
                before = _output_state(scan) if scan else None
                running[pool.submit(execute_run, spec, cancel, active)] = (spec, nb_sha, fp, before)
            # a timeout keeps the main thread responsive to Ctrl-C
            done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                spec, nb_sha, fp, before = running.pop(fut)
                outcome = fut.result()
                with _DeferSigint():
                    finish(spec, nb_sha, fp, outcome, before)
                report(outcome)
    except KeyboardInterrupt:
        cancel.set()
        for km in list(active.values()):
            _kill_kernel(km)
        # let the workers notice, clean their temp folders and return "interrupted"
        for fut, (spec, nb_sha, fp, before) in running.items():
            try:
                outcome = fut.result(timeout=30)
            except Exception:  # noqa: BLE001
                continue
            if outcome.status == "ok":  # finished just before the signal: keep it
                with _DeferSigint():
                    finish(spec, nb_sha, fp, outcome, None)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _run_on_dask(pending, scheduler, jobs, finish, report) -> None:
    from distributed import Client, LocalCluster, as_completed

    if not pending:
        return
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        client = Client(scheduler, timeout="30s")
    futures = {}
    try:
        for spec, nb_sha, fp in pending:
            fut = client.submit(execute_run, spec, pure=False, key=f"clusterstats-run-{spec.name}-{os.urandom(4).hex()}")
            futures[fut] = (spec, nb_sha, fp)
        for fut in as_completed(list(futures)):
            spec, nb_sha, fp = futures[fut]
            try:
                outcome = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker is this run's failure
                outcome = RunOutcome(spec.name, "failed", now_iso(), now_iso(), 0.0,
                                     type(exc).__name__, str(exc))
            with _DeferSigint():
                finish(spec, nb_sha, fp, outcome, None)
            report(outcome)
    except KeyboardInterrupt:
        client.cancel(list(futures), force=True)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def summary_frame(records: Sequence[RunRecord]):
    """The summary table: one column per parameter, then status, duration and the error."""
    import pandas as pd

    rows = []
    for r in records:
        row = {k: (v if isinstance(v, (str, int, float, bool)) or v is None
                   else json.dumps(v, sort_keys=True)) for k, v in r.parameters.items()}
        row.update({"run": r.name, "status": r.status, "duration_s": r.duration_s,
                    "error_name": r.error_name, "error_message": r.error_message,
                    "error_cell": r.error_cell, "notebook": r.notebook})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if "error_cell" in frame:
        frame["error_cell"] = frame["error_cell"].astype("Int64")
    return frame


def overall_status(records: Sequence[RunRecord]) -> str:
    if any(r.status == "interrupted" for r in records):
        return "interrupted"
    return "failed" if any(r.status == "failed" for r in records) else "ok"


def write_batch_manifest(path: Path, records: Sequence[RunRecord], **fields: Any) -> Path:
    doc = {"manifest_version": 1, **fields, "status": overall_status(records),
           "counts": {s: sum(r.status == s for r in records)
                      for s in ("ok", "skipped", "failed", "interrupted")},
           "runs": [asdict(r) for r in records],
           "data": data_snapshot(), "environment": environment()}
    return write_manifest(path, doc)


# --------------------------------------------------------------------------------------------
# the pipeline: `clusterstats run`
# --------------------------------------------------------------------------------------------
@dataclass
class PipelineEntry:
    notebook: Path
    parameter_sets: list[dict[str, Any]]
    names: list[str | None]
    kernel: str | None = None
    timeout: float | None = None


@dataclass
class Pipeline:
    path: Path
    entries: list[PipelineEntry]
    post_steps: list[str]


def load_pipeline(path: str | Path, notebooks_dir: str | Path | None = None) -> Pipeline:
    """Read ``pipeline.yaml`` and check it completely (files exist, parameters fit) before running.

    Format (notebook paths are relative to ``notebooks_dir``, default the file's folder)::

        notebooks:                        # run in this order: dependencies first
          - notebook: 00_registry_overview.ipynb
          - notebook: h4_regional_rd_disparity.ipynb
            parameter_sets:               # run once per set
              - {country: BG}
              - {country: RO, name: h4_RO}   # optional explicit output name
        post_steps:                       # callables "module:function", run after assemble()
          - clusterstats.report:build
    """
    path = Path(path)
    try:
        doc = load_yaml(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ValueError(f"{path}: cannot read pipeline file: {exc}") from exc
    except Exception as exc:  # yaml.YAMLError
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("notebooks", []), list):
        raise ValueError(f"{path}: expected a mapping with a list under 'notebooks'")
    unknown = set(doc) - {"notebooks", "post_steps"}
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; valid: notebooks, post_steps")
    base = Path(notebooks_dir) if notebooks_dir is not None else path.parent
    entries, problems = [], []
    for i, item in enumerate(doc.get("notebooks") or [], 1):
        where = f"{path}: notebooks item {i}"
        if isinstance(item, str):
            item = {"notebook": item}
        if not isinstance(item, dict) or "notebook" not in item:
            problems.append(f"{where}: expected 'notebook: NAME.ipynb'")
            continue
        extra = set(item) - {"notebook", "parameter_sets", "parameters", "kernel", "timeout"}
        if extra:
            problems.append(f"{where}: unknown key(s) {sorted(extra)}")
            continue
        nb_path = base / str(item["notebook"])
        if not nb_path.is_file():
            problems.append(f"{where}: notebook not found: {nb_path}")
            continue
        sets = item.get("parameter_sets") or [item.get("parameters") or {}]
        declared = read_parameters(nb_path)
        checked, names = [], []
        for j, pset in enumerate(sets, 1):
            if not isinstance(pset, dict):
                problems.append(f"{where}, parameter set {j}: expected a mapping")
                continue
            pset = dict(pset)
            names.append(pset.pop("name", None))
            try:
                checked.append(validate_parameters(pset, declared, where=f"{where} ({nb_path.name}), "
                                                                        f"parameter set {j}"))
            except ParameterError as exc:
                problems.append(str(exc))
        entries.append(PipelineEntry(nb_path, checked, names, item.get("kernel"), item.get("timeout")))
    steps = doc.get("post_steps") or []
    for step in steps:
        if not isinstance(step, str) or ":" not in step:
            problems.append(f"{path}: post step {step!r} must be 'module:function'")
    if problems:
        raise ValueError("\n".join(problems))
    return Pipeline(path, entries, list(steps))


def pipeline_specs(pipeline: Pipeline, *, kernel: str | None = None,
                   timeout: float | None = None) -> list[RunSpec]:
    specs = []
    for entry in pipeline.entries:
        several = len(entry.parameter_sets) > 1
        for params, name in zip(entry.parameter_sets, entry.names):
            if name is None:
                name = run_name(entry.notebook.stem, params) if several else entry.notebook.stem
            specs.append(make_spec(entry.notebook, params, name=name, kernel=kernel or entry.kernel,
                                   timeout=timeout if timeout is not None else entry.timeout))
    return specs


def run_post_step(step: str) -> bool:
    """Call ``module:function()``; a module that does not exist yet is skipped with a warning."""
    modname, _, funcname = step.partition(":")
    try:
        module = importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        if exc.name == modname or modname.startswith(f"{exc.name}."):
            print(f"warning: post step {step} skipped: module {modname} does not exist yet",
                  file=sys.stderr)
            return True
        raise
    func = getattr(module, funcname, None)
    if not callable(func):
        raise ValueError(f"post step {step}: {modname} has no function {funcname!r}")
    print(f"post step {step} ...", file=sys.stderr)
    func()
    return True


def run_pipeline(pipeline_path: str | Path | None = None, *, output_dir: str | Path | None = None,
                 notebooks_dir: str | Path | None = None, force: bool = False,
                 results_folder: str | Path | None = None, kernel: str | None = None,
                 timeout: float | None = None, progress: bool = True,
                 post_steps: bool = True) -> tuple[int, list[RunRecord]]:
    """Run the pipeline's notebooks in order, then ``results.assemble()``, then the post steps.

    Returns ``(exit_code, records)``: 0 if every notebook and post step succeeded, 1 otherwise.
    A failing notebook does not stop the later ones (they are reported together at the end).
    """
    from .results import assemble

    root = repo_root()
    pipeline = load_pipeline(Path(pipeline_path) if pipeline_path else root / DEFAULT_PIPELINE,
                             notebooks_dir)
    output_dir = Path(output_dir) if output_dir else root / DEFAULT_OUTPUT
    specs = pipeline_specs(pipeline, kernel=kernel, timeout=timeout)
    print(f"clusterstats run: {len(specs)} notebook run(s) from {_display_path(pipeline.path)} "
          f"-> {_display_path(output_dir)}", file=sys.stderr)
    started = now_iso()
    try:
        records = execute_specs(specs, output_dir, force=force, progress=progress, desc="run",
                                scan_folders=[figures_dir(), results_dir(), reports_dir()],
                                context={"pipeline": _display_path(pipeline.path)})
    except BatchInterrupted as exc:
        write_batch_manifest(output_dir / "run_manifest.json", exc.records, kind="pipeline",
                             pipeline=_display_path(pipeline.path), started=started, finished=now_iso())
        raise
    for r in records:
        line = f"  {r.status:<8} {r.name}"
        if r.status == "failed":
            line += f"  [cell {r.error_cell}] {r.error_name}: {r.error_message}"
        print(line, file=sys.stderr)
    code = 1 if any(r.status == "failed" for r in records) else 0
    table = assemble(results_folder)
    print(f"results: {len(table)} row(s) in hypotheses.csv", file=sys.stderr)
    if post_steps:
        for step in pipeline.post_steps:
            try:
                run_post_step(step)
            except Exception as exc:  # noqa: BLE001 - reported, exit code says so
                print(f"post step {step} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
                code = 1
    write_batch_manifest(output_dir / "run_manifest.json", records, kind="pipeline",
                         pipeline=_display_path(pipeline.path), started=started, finished=now_iso())
    return code, records


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
RUN_EPILOG = """\
examples:
  clusterstats run                      # every notebook in notebooks/pipeline.yaml, skip unchanged
  clusterstats run --force              # run everything again
  clusterstats run --pipeline my.yaml --output build/nb-test --no-post-steps

A notebook is skipped when its file, parameters, the files under data/, the package version and
source code, key dependency versions and the kernel are unchanged since its last successful run
(see <output>/<name>.manifest.json). Executed notebooks go to build/notebooks/ by default.
"""


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        code, _ = run_pipeline(args.pipeline, output_dir=args.output, notebooks_dir=args.notebooks_dir,
                               force=args.force, kernel=args.kernel, timeout=args.timeout,
                               progress=not args.quiet, post_steps=not args.no_post_steps)
    except (ValueError, ParameterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run", help="run all notebooks of the pipeline (skips unchanged ones)",
        description="Execute the notebooks listed in notebooks/pipeline.yaml in order with papermill, "
                    "then assemble results/hypotheses.csv and run the post steps.",
        epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pipeline", type=Path, default=None,
                   help="pipeline file (default: notebooks/pipeline.yaml in the repository)")
    p.add_argument("--notebooks-dir", type=Path, default=None,
                   help="folder the pipeline's notebook names are relative to (default: the pipeline's folder)")
    p.add_argument("--output", "-o", type=Path, default=None,
                   help="folder for executed notebooks and manifests (default: build/notebooks)")
    p.add_argument("--force", action="store_true", help="run every notebook even if unchanged")
    p.add_argument("--kernel", "-k", default=None, help="kernel name (default: the notebook's own)")
    p.add_argument("--timeout", type=float, default=None, help="per-cell time limit in seconds")
    p.add_argument("--no-post-steps", action="store_true", help="skip the pipeline's post steps")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)

    from .batch import add_batch_parser

    add_batch_parser(subparsers)
