"""Many runs: skip what is up to date, run the rest in local threads or on Dask, write results.

:func:`execute_specs` is the engine shared by ``clusterstats run`` (:mod:`clusterstats.pipeline`)
and ``clusterstats batch`` (:mod:`clusterstats.batch`). For each run it decides whether it must
run (:func:`clusterstats.manifest.staleness`), executes the rest (:func:`~clusterstats.execute.
execute_run`, ``jobs`` at a time), and writes ``<name>.ipynb`` then ``<name>.manifest.json``
atomically, with Ctrl-C and SIGTERM held while the pair is written. So an interrupted run leaves
complete pairs or nothing, and the next run resumes where it stopped.
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ._paths import repo_root
from .context import run_name
from .execute import RunOutcome, RunSpec, execute_run
from .kernels import clean_stale_runtime_folders, kill_kernel, resolve_kernel, zygote_for
from .manifest import (MANIFEST_SUFFIX, data_snapshot, display_path, environment, now_iso,
                       read_manifest, resolve_recorded, run_manifest, staleness, write_manifest)
from .notebook_params import read_parameters
from .provenance import atomic_write_text, sha256_bytes, sha256_file

__all__ = ["RunRecord", "BatchInterrupted", "SchedulerError", "BadRunName", "make_spec",
           "check_run_name", "check_specs", "execute_specs", "summary_frame", "overall_status",
           "write_batch_manifest", "terminate_as_interrupt", "notebook_defaults"]

log = logging.getLogger(__name__)

# nbformat validates with jsonschema, whose format checkers import `rfc3987_syntax` when it is
# installed (it comes with jupyterlab's jsonschema[format-nongpl]); that import builds a grammar
# and costs ~1.4 s of CPU in every process that reads a notebook: the CLI, each Dask worker. No
# notebook schema uses the IRI formats it checks, so this process does without it.
if "rfc3987_syntax" not in sys.modules:
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be reached, or every worker is gone."""


class BadRunName(ValueError):
    """A run name that would write outside its output folder, or two runs with one name."""


@dataclass
class RunRecord:
    """One line of a batch/pipeline summary."""
    name: str
    parameters: dict[str, Any]
    status: str                     # ok, failed, skipped (up to date), interrupted
    duration_s: float | None = None
    error_name: str | None = None
    error_message: str | None = None
    error_cell: int | None = None
    notebook: str | None = None     # executed notebook, relative to the output folder
    manifest: str | None = None
    reason: str | None = None       # why it ran (or "up to date")


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during :func:`execute_specs`; ``records`` holds what finished."""

    def __init__(self, records: list[RunRecord], signum: int = signal.SIGINT):
        super().__init__("interrupted")
        self.records = records
        self.signum = signum


# --------------------------------------------------------------------------------------------
# names and specs
# --------------------------------------------------------------------------------------------
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def check_run_name(name: Any) -> str:
    """A run name must be one plain file-name stem inside the output folder: no ``..``, no
    separators, not absolute, not hidden."""
    text = str(name)
    if not _SAFE_NAME.match(text) or ".." in text or len(text) > 200:
        raise BadRunName(f"run name {text!r} is not allowed: use letters, digits and . _ + - "
                         "(no '..', no '/', not starting with '.'), so it stays in the output folder")
    return text


def notebook_defaults(notebook: str | Path) -> dict[str, Any]:
    """The default values of the notebook's parameters cell (for :func:`run_name`)."""
    return {p.name: p.default for p in read_parameters(notebook).values()}


def make_spec(notebook: str | Path, parameters: Mapping[str, Any], *, name: str | None = None,
              kernel: str | None = None, timeout: float | None = None,
              start_attempts: int = 3, preload: bool = True,
              defaults: Mapping[str, Any] | None = None) -> RunSpec:
    """The :class:`RunSpec` of ``notebook`` with ``parameters``, named by
    :func:`clusterstats.context.run_name` against the notebook's defaults (the name the notebook's
    own :class:`~clusterstats.context.RunContext` uses) unless ``name`` is given."""
    notebook = Path(notebook)
    text = notebook.read_text(encoding="utf-8")
    if name is None:
        defaults = notebook_defaults(notebook) if defaults is None else defaults
        name = run_name(notebook.stem, parameters, defaults)
    return RunSpec(name=check_run_name(name), notebook_path=display_path(notebook),
                   notebook_text=text, parameters=dict(parameters), kernel=kernel,
                   cwd=str(notebook.resolve().parent), timeout=timeout,
                   start_attempts=start_attempts, preload=preload)


def check_specs(specs: Sequence[RunSpec], output_dir: Path) -> None:
    """Refuse, before anything runs, names that clash or would overwrite a source notebook."""
    names = [check_run_name(s.name) for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadRunName(f"two runs would have the same name (and write the same files): "
                         f"{', '.join(dupes)}; give the parameter sets distinct values")
    for spec in specs:
        source = Path(spec.cwd or ".") / Path(spec.notebook_path).name
        if (output_dir / f"{spec.name}.ipynb").resolve() == source.resolve():
            raise BadRunName(f"{spec.name}: the executed notebook would overwrite its source "
                             f"{display_path(source)}; choose another output folder")


def _resolve_kernels(specs: Sequence[RunSpec]) -> None:
    """Fill in each spec's kernel (``--kernel``, else the notebook's, else this Python's)."""
    cache: dict[tuple[str | None, str | None], str] = {}
    for spec in specs:
        meta = json.loads(spec.notebook_text).get("metadata", {})
        key = (spec.kernel, (meta.get("kernelspec") or {}).get("name"))
        if key not in cache:
            cache[key] = resolve_kernel(*key)
        spec.kernel = cache[key]


# --------------------------------------------------------------------------------------------
# signals: SIGTERM is handled like Ctrl-C; nothing interrupts writing a run's pair of files
# --------------------------------------------------------------------------------------------
class _Terminated(KeyboardInterrupt):
    signum = signal.SIGTERM


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (so the same clean-up runs: kernels
    killed, temp folders removed, summary written). Main thread only; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _DeferSignals:
    """Hold Ctrl-C/SIGTERM while a run's notebook and manifest are written, so they land as a
    pair. Only the main thread can own signal handlers; elsewhere this does nothing."""

    def __enter__(self):
        self.pending: int | None = None
        self.previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, self._hold)
        return self

    def _hold(self, signum, frame):
        self.pending = signum

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if self.pending == signal.SIGTERM:
            raise _Terminated()
        if self.pending is not None:
            raise KeyboardInterrupt
        return False


# --------------------------------------------------------------------------------------------
# planning: which runs are up to date
# --------------------------------------------------------------------------------------------
@dataclass
class _Planned:
    spec: RunSpec
    notebook_sha: str
    reason: str


def _plan(specs, output_dir: Path, force: bool, env, snapshot, progress: bool):
    records: dict[str, RunRecord] = {}
    pending: list[_Planned] = []
    for spec in specs:
        nb_sha = sha256_bytes(spec.notebook_text.encode("utf-8"))
        man = output_dir / f"{spec.name}{MANIFEST_SUFFIX}"
        previous = read_manifest(man)
        state = staleness(previous, notebook_sha256=nb_sha, parameters=spec.parameters, env=env,
                          kernel=spec.kernel, snapshot=snapshot, base=output_dir)
        if not force and state.up_to_date:
            records[spec.name] = RunRecord(spec.name, spec.parameters, "skipped",
                                           (previous or {}).get("duration_s"),
                                           notebook=f"{spec.name}.ipynb", manifest=man.name,
                                           reason="up to date")
            continue
        reason = "--force" if force else state.text()
        if previous is not None and not force and progress:
            print(f"{spec.name}: runs again ({reason})", file=sys.stderr)
        log.info("%s: runs (%s)", spec.name, reason)
        pending.append(_Planned(spec, nb_sha, reason))
    return records, pending


# --------------------------------------------------------------------------------------------
# finishing one run: the executed notebook, then its manifest
# --------------------------------------------------------------------------------------------
def _output_state(folders: Iterable[Path]) -> dict[Path, tuple[int, int]]:
    state = {}
    for folder in folders:
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file() and not path.name.startswith("."):
                    st = path.stat()
                    state[path] = (st.st_mtime_ns, st.st_size)
    return state


def _glued_entries(outcome: RunOutcome, cwd: str | None) -> list[dict[str, Any]]:
    entries = []
    for glued in outcome.glued_outputs:
        path = resolve_recorded(glued)
        if not path.exists() and cwd and not Path(glued).is_absolute():
            path = Path(cwd) / glued  # older notebooks: relative to their working folder
        entry: dict[str, Any] = {"path": display_path(path) if path.exists() else glued, "kind": "glued"}
        if path.is_file():
            entry["sha256"] = sha256_file(path)
        entries.append(entry)
    return entries


class _Finisher:
    """Writes each finished run's executed notebook and manifest, and keeps its record."""

    def __init__(self, output_dir, records, planned, env, snapshot, context, scan):
        self.output_dir, self.records, self.env, self.snapshot = output_dir, records, env, snapshot
        self.planned = {p.spec.name: p for p in planned}
        self.context, self.scan = dict(context or {}), scan

    def __call__(self, spec: RunSpec, outcome: RunOutcome, before=None) -> None:
        planned = self.planned[spec.name]
        record = RunRecord(spec.name, spec.parameters, outcome.status, outcome.duration_s,
                           outcome.error_name, outcome.error_message, outcome.error_cell,
                           reason=planned.reason)
        self.records[spec.name] = record
        if outcome.status == "interrupted" or outcome.notebook_json is None:
            return
        out = self.output_dir / f"{spec.name}.ipynb"
        atomic_write_text(out, outcome.notebook_json)
        outputs = [{"path": out.name, "sha256": sha256_file(out), "kind": "executed notebook"}]
        outputs += _glued_entries(outcome, spec.cwd)
        if before is not None and not outcome.glued_outputs:
            after = _output_state(self.scan)
            outputs += [{"path": display_path(p), "sha256": sha256_file(p), "kind": "written"}
                        for p in sorted(p for p, st in after.items() if before.get(p) != st)]
        context = {**self.context, "preloaded_kernel": outcome.preloaded}
        if outcome.glued_run and outcome.glued_run != spec.name:
            context["notebook_run_name"] = outcome.glued_run
        manifest = run_manifest(
            name=spec.name, outcome=outcome,
            notebook={"path": spec.notebook_path, "sha256": planned.notebook_sha},
            parameters=spec.parameters, kernel=spec.kernel, outputs=outputs,
            data_inputs=outcome.glued_inputs, snapshot=self.snapshot, env=self.env,
            reason=planned.reason, context=context)
        write_manifest(self.output_dir / f"{spec.name}{MANIFEST_SUFFIX}", manifest)
        record.notebook, record.manifest = out.name, f"{spec.name}{MANIFEST_SUFFIX}"


# --------------------------------------------------------------------------------------------
# the engine
# --------------------------------------------------------------------------------------------
def execute_specs(specs: Sequence[RunSpec], output_dir: str | Path, *, jobs: int = 1,
                  scheduler: str | None = None, force: bool = False, progress: bool = True,
                  desc: str = "notebooks", scan_folders: Sequence[Path] | None = None,
                  context: Mapping[str, Any] | None = None) -> list[RunRecord]:
    """Run every spec not already up to date and write ``<name>.ipynb`` + ``<name>.manifest.json``.

    ``jobs`` runs in parallel in local threads (each drives its own kernel process), or on Dask
    when ``scheduler`` is ``"local"`` (a ``LocalCluster`` of ``jobs`` worker processes) or a
    scheduler address such as ``tcp://host:8786``. A run whose notebook records no ``outputs``
    gets, when run alone locally, the files changed under ``scan_folders`` as its outputs.
    Returns one record per spec in input order. Raises :class:`BadRunName` before running
    anything when names clash or escape, :class:`~clusterstats.kernels.KernelNotFound` when no
    kernel can be had, :class:`SchedulerError`, and :class:`BatchInterrupted` on Ctrl-C/SIGTERM
    after stopping the running kernels.
    """
    from tqdm.auto import tqdm

    output_dir = Path(output_dir)
    check_specs(specs, output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_runtime_folders()
    _resolve_kernels(specs)
    if not scheduler and any(s.preload for s in specs):
        zygote_for(specs[0].kernel)  # starts importing now, while the runs are planned
    env, snapshot = environment(), data_snapshot()
    records, pending = _plan(specs, output_dir, force, env, snapshot, progress)
    scan = list(scan_folders or []) if jobs == 1 and not scheduler else []
    finish = _Finisher(output_dir, records, pending, env, snapshot, context, scan)
    bar = tqdm(total=len(specs), initial=len(specs) - len(pending), desc=desc, unit="run",
               file=sys.stderr, disable=not progress, dynamic_ncols=True)

    def report(outcome: RunOutcome) -> None:
        bar.update(1)
        if outcome.status == "failed" and progress:
            bar.write(f"FAILED {outcome.name}: {outcome.error_name}: {outcome.error_message}",
                      file=sys.stderr)

    names = [s.name for s in specs]
    try:
        if scheduler:
            _run_on_dask([p.spec for p in pending], scheduler, jobs, finish, report)
        else:
            _run_in_threads([p.spec for p in pending], jobs, finish, report, scan)
    except KeyboardInterrupt as exc:
        for p in pending:
            records.setdefault(p.spec.name, RunRecord(p.spec.name, p.spec.parameters, "interrupted",
                                                      reason=p.reason))
        raise BatchInterrupted([records[n] for n in names if n in records],
                               getattr(exc, "signum", signal.SIGINT)) from None
    finally:
        bar.close()
    return [records[n] for n in names if n in records]


def _run_in_threads(pending: list[RunSpec], jobs: int, finish: Callable, report: Callable,
                    scan: list[Path]) -> None:
    cancel = threading.Event()
    active: dict[str, Any] = {}
    queue = list(pending)
    running: dict[Any, tuple] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="clusterstats-run")
    try:
        while queue or running:
            while queue and len(running) < max(1, jobs):
                spec = queue.pop(0)
                before = _output_state(scan) if scan else None
                running[pool.submit(execute_run, spec, cancel, active)] = (spec, before)
            # a timeout keeps the main thread responsive to Ctrl-C and SIGTERM
            done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                spec, before = running.pop(fut)
                outcome = fut.result()
                with _DeferSignals():
                    finish(spec, outcome, before)
                report(outcome)
    except KeyboardInterrupt:
        cancel.set()
        for km in list(active.values()):
            kill_kernel(km)
        # let the workers notice, clean their temp folders and return "interrupted"
        for fut, (spec, _) in running.items():
            try:
                outcome = fut.result(timeout=30)
            except Exception:  # noqa: BLE001
                continue
            if outcome.status == "ok":  # finished just before the signal: keep it
                with _DeferSignals():
                    finish(spec, outcome, None)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _dask_client(scheduler: str, jobs: int):
    from distributed import Client, LocalCluster

    if scheduler == "local":
        cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="10s"), None
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler} within 10 s "
                             f"({type(exc).__name__}); is it running?") from None


#: how long a Dask batch waits with no worker at all before it gives up, seconds
NO_WORKER_GRACE_S = float(os.environ.get("CLUSTERSTATS_NO_WORKER_GRACE", "30"))


def _run_on_dask(pending: list[RunSpec], scheduler: str, jobs: int, finish: Callable,
                 report: Callable) -> None:
    import time

    from distributed import as_completed

    if not pending:
        return
    client, cluster = _dask_client(scheduler, jobs)
    futures = {}
    try:
        for spec in pending:
            fut = client.submit(execute_run, spec, pure=False,
                                key=f"clusterstats-run-{spec.name}-{os.urandom(4).hex()}")
            futures[fut] = spec
        done_iter = as_completed(list(futures))
        no_workers_since = None
        while not done_iter.is_empty():
            batch = done_iter.next_batch(block=False) if done_iter.has_ready() else []
            for fut in batch:
                spec = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker is this run's failure
                    outcome = RunOutcome(spec.name, "failed", now_iso(), now_iso(), 0.0,
                                         type(exc).__name__, str(exc))
                with _DeferSignals():
                    finish(spec, outcome, None)
                report(outcome)
            if batch:
                continue
            if not client.scheduler_info().get("workers"):
                no_workers_since = no_workers_since or time.monotonic()
                if time.monotonic() - no_workers_since > NO_WORKER_GRACE_S:
                    raise SchedulerError(f"no Dask worker left at {scheduler} for "
                                         f"{NO_WORKER_GRACE_S:.0f} s; {done_iter.count()} run(s) "
                                         "not done (rerun to resume)")
            else:
                no_workers_since = None
            time.sleep(0.2)
    except KeyboardInterrupt:
        client.cancel(list(futures), force=True)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --------------------------------------------------------------------------------------------
# summaries
# --------------------------------------------------------------------------------------------
def summary_frame(records: Sequence[RunRecord]):
    """The summary table: one column per parameter, then status, duration and the error."""
    import pandas as pd

    rows = []
    for r in records:
        row = {k: (v if isinstance(v, (str, int, float, bool)) or v is None
                   else json.dumps(v, sort_keys=True)) for k, v in r.parameters.items()}
        row.update({"run": r.name, "status": r.status, "duration_s": r.duration_s,
                    "error_name": r.error_name, "error_message": r.error_message,
                    "error_cell": r.error_cell, "notebook": r.notebook, "reason": r.reason})
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
    snap = data_snapshot()
    doc = {"manifest_version": 2, **fields, "status": overall_status(records),
           "counts": {s: sum(r.status == s for r in records)
                      for s in ("ok", "skipped", "failed", "interrupted")},
           "runs": [asdict(r) for r in records],
           "data": {k: snap[k] for k in ("root", "sha256", "n_files")}, "environment": environment()}
    return write_manifest(path, doc)


def repository_folder() -> Path:
    """The folder whose lock ``clusterstats run`` holds for the repository's outputs."""
    return repo_root() / "build"
