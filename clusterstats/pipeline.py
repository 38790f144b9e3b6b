"""The pipeline file (``notebooks/pipeline.yaml``) and ``clusterstats run``'s work.

:func:`load_pipeline` reads and checks the whole file before anything runs: notebooks exist,
every parameter set fits the notebook's ``parameters`` cell (names, types, declared choices and
ranges), run names are unique and stay inside the output folder, post steps can be imported.
:func:`run_pipeline` then runs the notebooks (``jobs`` at a time; they are independent), assembles
``results/hypotheses.csv`` from the rows of **the runs this pipeline defines** only (read from their
manifests), and runs the post steps (the verdict report).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._paths import figures_dir, reports_dir, repo_root, results_dir
from .context import run_name
from .execute import RunSpec
from .locks import writer_locks
from .manifest import MANIFEST_SUFFIX, display_path, now_iso, read_manifest, resolve_recorded
from .notebook_params import ParameterError, load_yaml, read_parameters, validate_parameters
from .schedule import (BadRunName, BatchInterrupted, RunRecord, check_run_name, execute_specs,
                       make_spec, repository_folder, terminate_as_interrupt, write_batch_manifest)

__all__ = ["Pipeline", "PipelineEntry", "PipelineError", "PostStepError", "load_pipeline",
           "pipeline_specs", "run_post_step", "run_pipeline", "rows_of_runs",
           "DEFAULT_PIPELINE", "DEFAULT_OUTPUT"]

DEFAULT_PIPELINE = Path("notebooks") / "pipeline.yaml"
DEFAULT_OUTPUT = Path("build") / "notebooks"


class PipelineError(ValueError):
    """The pipeline file is unreadable or does not fit the notebooks (every problem listed)."""


class PostStepError(RuntimeError):
    """A post step cannot be imported or failed."""


@dataclass
class PipelineEntry:
    notebook: Path
    parameter_sets: list[dict[str, Any]]
    names: list[str]                  # the run names (explicit ``name:`` or run_name())
    kernel: str | None = None
    timeout: float | None = None


@dataclass
class Pipeline:
    path: Path
    entries: list[PipelineEntry]
    post_steps: list[str]

    @property
    def run_names(self) -> list[str]:
        return [n for e in self.entries for n in e.names]


def _read_doc(path: Path) -> dict[str, Any]:
    try:
        doc = load_yaml(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read pipeline file: {exc}") from exc
    except Exception as exc:  # yaml.YAMLError
        raise PipelineError(f"{path}: not valid YAML: {exc}".splitlines()[0]) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("notebooks", []), list):
        raise PipelineError(f"{path}: expected a mapping with a list under 'notebooks'")
    unknown = set(doc) - {"notebooks", "post_steps"}
    if unknown:
        raise PipelineError(f"{path}: unknown key(s) {sorted(unknown)}; valid: notebooks, post_steps")
    return doc


def _entry(item: Any, where: str, base: Path, problems: list[str]) -> PipelineEntry | None:
    if isinstance(item, str):
        item = {"notebook": item}
    if not isinstance(item, dict) or "notebook" not in item:
        problems.append(f"{where}: expected 'notebook: NAME.ipynb'")
        return None
    extra = set(item) - {"notebook", "parameter_sets", "parameters", "kernel", "timeout"}
    if extra:
        problems.append(f"{where}: unknown key(s) {sorted(extra)}")
        return None
    nb_path = base / str(item["notebook"])
    if not nb_path.is_file():
        problems.append(f"{where}: notebook not found: {display_path(nb_path)}")
        return None
    declared = read_parameters(nb_path)
    defaults = {p.name: p.default for p in declared.values()}
    checked, names = [], []
    for j, pset in enumerate(item.get("parameter_sets") or [item.get("parameters") or {}], 1):
        label = f"{where} ({nb_path.name}), parameter set {j}"
        if not isinstance(pset, dict):
            problems.append(f"{label}: expected a mapping")
            continue
        pset = dict(pset)
        explicit = pset.pop("name", None)
        try:
            values = validate_parameters(pset, declared, where=label, list_valid=False)
            name = check_run_name(explicit) if explicit is not None else \
                run_name(nb_path.stem, values, defaults)
        except (ParameterError, BadRunName) as exc:
            problems.append(str(exc) if isinstance(exc, ParameterError) else f"{label}: {exc}")
            continue
        checked.append(values)
        names.append(name)
    return PipelineEntry(nb_path, checked, names, item.get("kernel"), item.get("timeout"))


def _post_step_problem(step: Any, path: Path) -> str | None:
    if not isinstance(step, str) or ":" not in step:
        return f"{path}: post step {step!r} must be 'module:function'"
    modname = step.partition(":")[0]
    try:
        found = importlib.util.find_spec(modname)
    except (ImportError, ValueError):
        found = None
    return None if found else f"{path}: post step {step}: module {modname} cannot be imported"


def load_pipeline(path: str | Path, notebooks_dir: str | Path | None = None) -> Pipeline:
    """Read ``pipeline.yaml`` and check it completely before running; raises
    :class:`PipelineError` listing every problem (a ``ValueError``).

    Format (notebook paths are relative to ``notebooks_dir``, default the file's folder)::

        notebooks:                        # independent runs (``run --jobs N`` runs N at a time)
          - notebook: 00_registry_overview.ipynb
          - notebook: h4_regional_rd_disparity.ipynb
            parameter_sets:               # run once per set
              - {country: BG}
              - {country: RO}
        post_steps:                       # callables "module:function", run after assemble()
          - clusterstats.report:build

    Each run is named by :func:`clusterstats.context.run_name` (the notebook's stem plus its
    non-default parameters), as the notebook names itself. An explicit ``name:`` in a set names
    the executed notebook and manifest only; it must be a plain name (no ``..``, ``/``).
    """
    path = Path(path)
    doc = _read_doc(path)
    base = Path(notebooks_dir) if notebooks_dir is not None else path.parent
    entries, problems = [], []
    for i, item in enumerate(doc.get("notebooks") or [], 1):
        entry = _entry(item, f"{display_path(path)}: notebooks item {i}", base, problems)
        if entry is not None:
            entries.append(entry)
    names = [n for e in entries for n in e.names]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"{display_path(path)}: two parameter sets give the same run name "
                        f"(and would write the same files): {', '.join(dupes)}")
    steps = doc.get("post_steps") or []
    problems += [p for p in (_post_step_problem(s, path) for s in steps) if p]
    if problems:
        raise PipelineError("\n".join(problems))
    return Pipeline(path, entries, list(steps))


def pipeline_specs(pipeline: Pipeline, *, kernel: str | None = None,
                   timeout: float | None = None, preload: bool = True) -> list[RunSpec]:
    return [make_spec(entry.notebook, params, name=name, kernel=kernel or entry.kernel,
                      timeout=timeout if timeout is not None else entry.timeout, preload=preload)
            for entry in pipeline.entries
            for params, name in zip(entry.parameter_sets, entry.names)]


def run_post_step(step: str) -> bool:
    """Call ``module:function()``; a module or function that cannot be found raises
    :class:`PostStepError` naming it."""
    modname, _, funcname = step.partition(":")
    try:
        module = importlib.import_module(modname)
    except ImportError as exc:
        raise PostStepError(f"post step {step}: cannot import {modname}: {exc}") from exc
    func = getattr(module, funcname, None)
    if not callable(func):
        raise PostStepError(f"post step {step}: {modname} has no function {funcname!r}")
    print(f"post step {step} ...", file=sys.stderr)
    func()
    return True


def rows_of_runs(records: list[RunRecord], output_dir: Path, results_folder: Path) -> list[str]:
    """The row files (``rows/<name>.csv`` stems) that the given runs wrote, from their manifests.

    A run whose manifest lists no row file but whose ``rows/<run>.csv`` exists counts with it.
    Failed runs count with none."""
    rows_dir = (results_folder / "rows").resolve()
    found: list[str] = []
    for record in records:
        if record.status not in ("ok", "skipped"):
            continue
        doc = read_manifest(output_dir / f"{record.name}{MANIFEST_SUFFIX}") or {}
        stems = [resolve_recorded(str(o.get("path", ""))) for o in doc.get("outputs") or []]
        stems = [p.stem for p in stems if p.suffix == ".csv" and p.resolve().parent == rows_dir]
        if not stems and (rows_dir / f"{record.name}.csv").is_file():
            stems = [record.name]
        found += [s for s in stems if s not in found]
    return found


def run_pipeline(pipeline_path: str | Path | None = None, *, output_dir: str | Path | None = None,
                 notebooks_dir: str | Path | None = None, force: bool = False,
                 results_folder: str | Path | None = None, kernel: str | None = None,
                 timeout: float | None = None, progress: bool = True,
                 post_steps: bool = True, jobs: int = 1, wait: bool = False,
                 preload: bool = True) -> tuple[int, list[RunRecord]]:
    """Run the pipeline's notebooks, then assemble their rows, then the post steps.

    Holds the writer lock of the output folder and of the repository (``build/``) throughout
    (``wait``: queue behind another writer; else :class:`~clusterstats.locks.Busy`). Returns
    ``(exit_code, records)``: 0 if every notebook and post step succeeded, 1 otherwise. A failing
    notebook does not stop the others (they are reported together at the end).
    """
    root = repo_root()
    pipeline = load_pipeline(Path(pipeline_path) if pipeline_path else root / DEFAULT_PIPELINE,
                             notebooks_dir)
    output_dir = Path(output_dir) if output_dir else root / DEFAULT_OUTPUT
    results_folder = Path(results_folder) if results_folder else results_dir()
    specs = pipeline_specs(pipeline, kernel=kernel, timeout=timeout, preload=preload)
    with writer_locks([output_dir, repository_folder()], wait=wait, command="clusterstats run"), \
            terminate_as_interrupt():
        print(f"clusterstats run: {len(specs)} notebook run(s) from {display_path(pipeline.path)} "
              f"-> {display_path(output_dir)} ({jobs} at a time)", file=sys.stderr)
        return _run_locked(pipeline, specs, output_dir, results_folder, force=force, jobs=jobs,
                           progress=progress, post_steps=post_steps)


def _run_locked(pipeline, specs, output_dir, results_folder, *, force, jobs, progress, post_steps):
    from .results import assemble

    started = now_iso()
    fields = {"kind": "pipeline", "pipeline": display_path(pipeline.path), "jobs": jobs,
              "started": started}
    try:
        records = execute_specs(specs, output_dir, force=force, progress=progress, desc="run",
                                jobs=jobs, scan_folders=[figures_dir(), results_dir(), reports_dir()],
                                context={"pipeline": display_path(pipeline.path)})
    except BatchInterrupted as exc:
        write_batch_manifest(output_dir / "run_manifest.json", exc.records, **fields,
                             finished=now_iso())
        raise
    for r in records:
        line = f"  {r.status:<8} {r.name}"
        if r.status == "failed":
            line += f"  [cell {r.error_cell}] {r.error_name}: {r.error_message}"
        print(line, file=sys.stderr)
    code = 1 if any(r.status == "failed" for r in records) else 0
    rows = rows_of_runs(records, output_dir, results_folder)
    table = assemble(results_folder, runs=rows)
    print(f"results: {len(table)} row(s) from {len(rows)} run(s) in hypotheses.csv", file=sys.stderr)
    if post_steps:
        for step in pipeline.post_steps:
            try:
                run_post_step(step)
            except Exception as exc:  # noqa: BLE001 - reported, exit code says so
                print(f"post step {step} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
                code = 1
    write_batch_manifest(output_dir / "run_manifest.json", records, **fields, finished=now_iso(),
                         rows=rows)
    return code, records
