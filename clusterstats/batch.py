"""``clusterstats batch``: one notebook over a grid of parameter sets, locally in parallel or on Dask.

    clusterstats batch notebooks/h4_regional_rd_disparity.ipynb \\
        -p country BG RO GR PT -p alpha 0.05 --jobs 2 --output build/batch/h4

Every parameter set is checked against the notebook's ``parameters`` cell before anything starts
(:mod:`clusterstats.notebook_params`: names, types, declared choices and ranges; every bad set is
listed in one message). Each run is named like the notebook names itself
(:func:`clusterstats.context.run_name`) and writes ``DIR/<run>.ipynb`` and
``DIR/<run>.manifest.json``. A batch keeps everything in its own folder: when the notebook has
``figures_dir``/``results_dir`` parameters and they are not given, they point into ``DIR/figures``
and ``DIR/results``, so a batch never touches the repository's ``figures/`` and ``results/``; its
rows are collected in ``DIR/results/hypotheses.csv``. The batch writes ``DIR/summary.csv`` and
``DIR/batch_manifest.json``. Runs that are up to date are skipped, so an interrupted batch
resumes. One batch at a time per folder (``--wait`` queues).
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from .commands import add_common_options, guarded
from .locks import writer_lock
from .manifest import display_path as _display_path
from .manifest import now_iso
from .notebook_params import (ParameterError, describe_parameters, expand_grid, load_grid_file,
                              read_parameters, validate_parameters)
from .provenance import atomic_write_text, sha256_file
from .schedule import (BatchInterrupted, RunRecord, check_specs, execute_specs, make_spec,
                       notebook_defaults,
                       overall_status, summary_frame, terminate_as_interrupt, write_batch_manifest)

__all__ = ["plan_batch", "run_batch", "add_batch_parser"]


def plan_batch(notebook: str | Path, *, cli_params: Sequence[Sequence[str]] = (),
               grid_file: str | Path | None = None) -> list[dict[str, Any]]:
    """The batch's parameter sets, validated and coerced; raises ParameterError listing the
    notebook's valid parameters when a name is unknown or a value has the wrong type.

    ``cli_params`` are ``-p NAME VALUE [VALUE ...]`` groups (strings, coerced to the default's
    type); the grid file's values are YAML-typed and checked as they are.
    """
    notebook = Path(notebook)
    if not notebook.is_file():
        raise ParameterError(f"{notebook}: notebook not found")
    declared = read_parameters(notebook)
    axes_cli: dict[str, list[Any]] = {}
    problems: list[str] = []
    for group in cli_params:
        name, *values = group
        if not values:
            raise ParameterError(f"-p {name}: give at least one value")
        if name in axes_cli:
            raise ParameterError(f"-p {name} given twice; list all values after one -p")
        axes_cli[name], bad = _cli_values(name, values, declared)
        problems += bad
    if problems:
        raise ParameterError(f"{notebook}: " + "; ".join(problems) +
                             "\nvalid parameters (name: type = default):\n" + describe_parameters(declared))
    file_axes, file_sets = ({}, None) if grid_file is None else load_grid_file(grid_file)
    clash = set(file_axes) & set(axes_cli)
    if clash:
        raise ParameterError(f"parameter(s) {sorted(clash)} given both in the grid file and with -p")
    sets = expand_grid({**file_axes, **axes_cli}, file_sets)
    where = f"{notebook}" + (f" with grid {grid_file}" if grid_file else "")
    return _validate_all(sets, declared, where)


def _validate_all(sets, declared, where: str) -> list[dict[str, Any]]:
    """Every set checked; all bad ones reported in one message, then the valid parameters."""
    good, bad = [], []
    for i, s in enumerate(sets, 1):
        try:
            good.append(validate_parameters(s, declared, where=f"parameter set {i} {s}",
                                            list_valid=False))
        except ParameterError as exc:
            bad.append(str(exc))
    if bad:
        raise ParameterError(f"{where}: {len(bad)} of {len(sets)} parameter set(s) are not valid:\n  "
                             + "\n  ".join(bad) + "\nvalid parameters (name: type = default):\n"
                             + describe_parameters(declared))
    return good


def _cli_values(name: str, values: Sequence[str], declared) -> tuple[list[Any], list[str]]:
    """The ``-p NAME VALUE...`` values coerced, and the problems of the bad ones."""
    out, bad = [], []
    for v in values:
        try:
            out.append(validate_parameters({name: v}, declared, from_text=True, where="-p",
                                           list_valid=False)[name])
        except ParameterError as exc:
            bad.append(str(exc))
    return out, bad


def _own_folders(notebook: Path, parameter_sets: Sequence[Mapping[str, Any]], output_dir: Path):
    """Point ``figures_dir``/``results_dir`` into the batch folder unless the user gave them."""
    declared = read_parameters(notebook)
    own = {k: str((output_dir / k.replace("_dir", "")).resolve())
           for k in ("figures_dir", "results_dir")
           if k in declared and not any(k in p for p in parameter_sets)}
    return [{**own, **p} for p in parameter_sets], own


def run_batch(notebook: str | Path, parameter_sets: Sequence[Mapping[str, Any]], output_dir: str | Path,
              *, jobs: int = 1, scheduler: str | None = None, force: bool = False,
              kernel: str | None = None, timeout: float | None = None, progress: bool = True,
              start_attempts: int = 3, print_summary: bool = True, wait: bool = False,
              preload: bool = True, own_folders: bool = True) -> tuple[int, list[RunRecord]]:
    """Run ``notebook`` once per parameter set; write the summary, the batch manifest and the
    batch's own results table (``DIR/results/hypotheses.csv``, when the runs wrote rows there).

    Holds the writer lock of ``output_dir`` (``wait``: queue behind another writer). Returns
    ``(exit_code, records)``: 0 if all runs are ok or skipped, 1 if any failed. On Ctrl-C or
    SIGTERM the batch manifest and summary record what finished (status ``interrupted``) and
    :class:`~clusterstats.schedule.BatchInterrupted` is re-raised.
    """
    notebook, output_dir = Path(notebook), Path(output_dir)
    defaults = notebook_defaults(notebook)
    run_sets, own = _own_folders(notebook, parameter_sets, output_dir) if own_folders else \
        ([dict(p) for p in parameter_sets], {})
    specs = [make_spec(notebook, p, kernel=kernel, timeout=timeout, start_attempts=start_attempts,
                       preload=preload, defaults=defaults) for p in run_sets]
    check_specs(specs, output_dir)  # before the folder is created or locked
    with writer_lock(output_dir, wait=wait, command=f"clusterstats batch {notebook.name}"), \
            terminate_as_interrupt():
        return _run_batch_locked(notebook, parameter_sets, output_dir, specs, own, jobs=jobs,
                                 scheduler=scheduler, force=force, progress=progress,
                                 print_summary=print_summary)


def _run_batch_locked(notebook, parameter_sets, output_dir, specs, own, *, jobs, scheduler, force,
                      progress, print_summary):
    # the summary shows the parameters the user chose, not the folders the batch filled in
    shown = {s.name: {k: v for k, v in s.parameters.items() if own.get(k) != v} for s in specs}
    started = now_iso()
    fields = {"kind": "batch", "notebook": {"path": _display_path(notebook), "sha256": sha256_file(notebook)},
              "parameter_sets": [dict(p) for p in parameter_sets], "jobs": jobs,
              "scheduler": scheduler or "threads", "started": started}
    try:
        records = execute_specs(specs, output_dir, jobs=jobs, scheduler=scheduler, force=force,
                                progress=progress, desc=notebook.stem,
                                context={"batch": output_dir.name})
    except BatchInterrupted as exc:
        _write_summary(output_dir, _shown(exc.records, shown), print_summary=False)
        write_batch_manifest(output_dir / "batch_manifest.json", exc.records, **fields, finished=now_iso())
        raise
    _collect_rows(records, output_dir, own)
    _write_summary(output_dir, _shown(records, shown), print_summary=print_summary)
    write_batch_manifest(output_dir / "batch_manifest.json", records, **fields, finished=now_iso())
    return (1 if overall_status(records) == "failed" else 0), records


def _shown(records: Sequence[RunRecord], shown: Mapping[str, dict]) -> list[RunRecord]:
    from dataclasses import replace

    return [replace(r, parameters=shown.get(r.name, r.parameters)) for r in records]


def _collect_rows(records: Sequence[RunRecord], output_dir: Path, own: Mapping[str, str]) -> None:
    """The batch's own results table: ``DIR/results/hypotheses.csv`` from its runs' rows."""
    from .pipeline import rows_of_runs
    from .results import assemble

    if "results_dir" not in own:
        return
    folder = Path(own["results_dir"])
    rows = rows_of_runs(list(records), output_dir, folder)
    if rows:
        assemble(folder, runs=rows)


def _write_summary(output_dir: Path, records: Sequence[RunRecord], *, print_summary: bool) -> None:
    import pandas as pd

    frame = summary_frame(records)
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")
    atomic_write_text(output_dir / "summary.csv", buf.getvalue())
    if print_summary:
        shown = frame.drop(columns=["notebook", "run"], errors="ignore").copy()
        if "error_message" in shown:  # keep the printed table readable; summary.csv has it all
            shown["error_message"] = shown["error_message"].map(
                lambda m: m if not isinstance(m, str) or len(m) <= 60 else m[:57] + "...")
        shown = shown.astype(object).where(shown.notna(), "")
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            print(shown.to_string(index=False))
        counts = {s: sum(r.status == s for r in records) for s in ("ok", "skipped", "failed")}
        print(f"{counts['ok']} ok, {counts['skipped']} skipped (unchanged), {counts['failed']} failed"
              f" -> {_display_path(output_dir / 'summary.csv')}")


BATCH_EPILOG = """\
examples:
  # 4 x 1 grid, two runs at a time on this machine
  clusterstats batch notebooks/h4_regional_rd_disparity.ipynb \\
      -p country BG RO GR PT -p alpha 0.05 --jobs 2 --output build/batch/h4

  # a grid file: either a mapping name -> list of values (cartesian product) ...
  #   country: [BG, RO, GR, PT]
  #   alpha: [0.05, 0.01]
  # ... or a list of explicit parameter sets:
  #   - {country: BG, alpha: 0.05}
  #   - {country: RO, alpha: 0.01}
  clusterstats batch NOTEBOOK --grid grid.yaml --output build/batch/grid

  # on Dask: a local cluster of 4 worker processes, or an existing scheduler
  clusterstats batch NOTEBOOK --grid grid.yaml --scheduler local --jobs 4 --output DIR
  clusterstats batch NOTEBOOK --grid grid.yaml --scheduler tcp://host:8786 --output DIR

Parameters must be assigned in the notebook's cell tagged "parameters"; values given with -p are
converted to the type of the default there (int, float, bool, str; list/dict as YAML/JSON).
A value outside the choices or range declared beside the parameter (`# choices: BG, RO` or
`# range: (0, 1)` after it in the parameters cell) is refused before any kernel starts.
Runs are named like the notebook names itself: the notebook's name plus its non-default parameters.
Writes DIR/<run>.ipynb, DIR/<run>.manifest.json, DIR/summary.csv, DIR/batch_manifest.json, and
(when the notebook has figures_dir/results_dir parameters and they are not given) the figures in
DIR/figures/ and the rows in DIR/results/ with DIR/results/hypotheses.csv, so a batch never
touches the repository's figures/ and results/. Runs that are up to date (inputs unchanged,
outputs present) are skipped (--force reruns them), so rerunning an interrupted batch resumes it.
Exit code: 0 all ok, 1 some run failed, 2 bad arguments (or the folder is busy: --wait queues),
130 interrupted (143 on SIGTERM). With a remote scheduler, workers need the same clusterstats and
data installed.
"""


def _cmd_batch(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        print("error: --jobs must be >= 1", file=sys.stderr)
        return 2

    def command() -> int:
        sets = plan_batch(args.notebook, cli_params=args.param or (), grid_file=args.grid)
        output = args.output or Path("build") / "batch" / Path(args.notebook).stem
        print(f"clusterstats batch: {len(sets)} parameter set(s) of {args.notebook} -> {output}",
              file=sys.stderr)
        return run_batch(args.notebook, sets, output, jobs=args.jobs, scheduler=args.scheduler,
                         force=args.force, kernel=args.kernel, timeout=args.timeout,
                         progress=not args.quiet, wait=args.wait, preload=not args.no_preload)[0]

    return guarded(command)


def add_batch_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "batch", help="run one notebook over a grid of parameter sets (parallel, resumable)",
        description="Run NOTEBOOK once per parameter set with papermill, in parallel, and summarise.",
        epilog=BATCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("notebook", type=Path, help="the notebook (.ipynb) to run")
    p.add_argument("-p", "--param", nargs="+", action="append", metavar=("NAME", "VALUE"),
                   help="a parameter and one or more values; repeat for more parameters")
    p.add_argument("--grid", type=Path, default=None, help="YAML grid file (see examples)")
    p.add_argument("--output", "-o", type=Path, default=None,
                   help="output folder (default: build/batch/<notebook name>)")
    p.add_argument("--scheduler", default=None,
                   help="run on Dask: 'local' (LocalCluster with --jobs worker processes) or an "
                        "address like tcp://host:8786")
    add_common_options(p)
    p.set_defaults(func=_cmd_batch)
