"""One run: its parameters, its name, where its files go, and what it was made from.

A *run* is one notebook (one hypothesis) executed with one parameter set. Everything a run writes
is named and placed through its :class:`RunContext`, so two runs can never write the same file:

==================================  =========================================================
``figures/<run>/<figure>.<ext>``     every figure file (pdf, svg, png, csv, provenance.json)
``results/rows/<run>.csv``           the run's result rows (assembled into hypotheses.csv)
``build/runs/<run>/``                anything else the run keeps (intermediate tables)
``build/notebooks/<run>.ipynb``      the executed notebook and its manifest (written by the runner)
==================================  =========================================================

The run's name is :func:`run_name`: the notebook's stem plus its *non-default* parameters, so
the default run of ``h8_cluster_size.ipynb`` is ``h8_cluster_size`` and the H1 sensitivity run
with ``rounding="floor"`` is ``h1_cluster_formation__rounding-floor``. The same rule is used by
the notebooks (in JupyterLab or under papermill), ``clusterstats run`` and ``clusterstats batch``.
Parameters that only say *where* outputs go (:data:`OUTPUT_PARAMETERS`) never enter the name.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import _paths
from .provenance import (dependency_versions, files_read, git_commit, package_version,
                         sha256_bytes, sha256_file, track_reads)

__all__ = ["OUTPUT_PARAMETERS", "RunContext", "run_name", "resolve_folder"]

#: parameters that choose output folders; they never change what a run computes or its name
OUTPUT_PARAMETERS = frozenset({"figures_dir", "results_dir", "build_dir"})

_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9.+-]")
_MAX_SLUG = 80


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _same(a: Any, b: Any) -> bool:
    """Parameter values compare as their JSON form (1 == 1.0, tuples == lists)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return _text(a) == _text(b)


def run_name(stem: str, parameters: Mapping[str, Any],
             defaults: Mapping[str, Any] | None = None) -> str:
    """The run's name: ``stem`` plus its non-default parameters, ``stem__key-value__key-value``.

    Keys are sorted; output-location parameters are ignored. ``defaults=None`` treats every
    parameter as non-default (for notebooks that declare none). When the readable part had to be
    altered (characters outside ``A-Za-z0-9.+-``) or shortened, an 8-character hash of the
    parameters is appended, so two different parameter sets never share a name.

    Examples
    --------
    >>> run_name("h8_cluster_size", {"low": 10, "high": 30}, {"low": 10, "high": 30})
    'h8_cluster_size'
    >>> run_name("h1_cluster_formation", {"rounding": "floor"}, {"rounding": "nearest"})
    'h1_cluster_formation__rounding-floor'
    """
    defaults = defaults or {}
    diffs = {k: v for k, v in sorted(parameters.items())
             if k not in OUTPUT_PARAMETERS and not (k in defaults and _same(defaults[k], v))}
    if not diffs:
        return stem
    raw = "__".join(f"{k}-{_text(v)}" for k, v in diffs.items())
    slug = _SLUG_UNSAFE.sub("_", raw)
    if slug != raw or len(slug) > _MAX_SLUG:
        digest = sha256_bytes(json.dumps(diffs, sort_keys=True, default=str).encode())[:8]
        slug = f"{slug[:_MAX_SLUG]}-{digest}"
    return f"{stem}__{slug}"


def resolve_folder(value: str | Path | None, default: Path) -> Path:
    """``None`` keeps ``default``; a relative path is taken from the repository root."""
    if value is None or value == "":
        return default
    path = Path(value)
    return path if path.is_absolute() else _paths.repo_root() / path


@dataclass
class RunContext:
    """One run of a notebook: validated parameters, name, output folders and provenance.

    Build it with :meth:`create` (or ``Hypothesis.context(...)``), never by hand, so the name
    follows :func:`run_name`. Every file the run writes goes through :meth:`save_figure`,
    :meth:`write_rows` or :meth:`path`, and is listed in :attr:`outputs`.

    Examples
    --------
    >>> ctx = RunContext.create("h8_cluster_size.ipynb", {"low": 10}, {"low": 10})
    >>> ctx.name
    'h8_cluster_size'
    """

    notebook: str
    parameters: dict[str, Any]
    defaults: dict[str, Any]
    figures_root: Path
    results_root: Path
    build_root: Path
    outputs: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, notebook: str, parameters: Mapping[str, Any],
               defaults: Mapping[str, Any] | None = None, *, figures_dir: str | Path | None = None,
               results_dir: str | Path | None = None,
               build_dir: str | Path | None = None) -> "RunContext":
        """A context for ``notebook`` (file name) run with the already-validated ``parameters``.

        The output folders default to the repository's ``figures/``, ``results/`` and
        ``build/`` (``CLUSTERSTATS_HOME`` moves them all); a relative folder is taken from the
        repository root. Starts recording which files under ``data/`` the run reads.
        """
        track_reads(_paths.data_dir())
        params = {k: v for k, v in parameters.items() if k not in OUTPUT_PARAMETERS}
        return cls(notebook=Path(notebook).name, parameters=params, defaults=dict(defaults or {}),
                   figures_root=resolve_folder(figures_dir, _paths.figures_dir()),
                   results_root=resolve_folder(results_dir, _paths.results_dir()),
                   build_root=resolve_folder(build_dir, _paths.repo_root() / "build"))

    # -- naming ----------------------------------------------------------------------------
    @property
    def stem(self) -> str:
        return Path(self.notebook).stem

    @property
    def name(self) -> str:
        """The run's name (:func:`run_name`)."""
        return run_name(self.stem, self.parameters, self.defaults)

    @property
    def is_default(self) -> bool:
        """True for the run with every parameter at its default."""
        return self.name == self.stem

    @property
    def figures_dir(self) -> Path:
        return self.figures_root / self.name

    @property
    def rows_path(self) -> Path:
        return self.results_root / "rows" / f"{self.name}.csv"

    @property
    def build_dir(self) -> Path:
        return self.build_root / "runs" / self.name

    def path(self, filename: str) -> Path:
        """A file of this run's own in ``build/runs/<run>/`` (recorded as an output)."""
        if Path(filename).name != filename or filename.startswith("."):
            raise ValueError(f"{filename!r} must be a plain file name")
        target = self.build_dir / filename
        self._record(target)
        return target

    def _record(self, path: Path) -> None:
        if path not in self.outputs:
            self.outputs.append(path)

    # -- writing ---------------------------------------------------------------------------
    def save_figure(self, fig, figure: str, *, data, sources, vintage: str | None = None,
                    **options: Any) -> dict[str, Path]:
        """Save ``fig`` as ``figures/<run>/<figure>.*`` with this run's parameters and name in
        its provenance (see :func:`clusterstats.figures.save_figure` for ``options``)."""
        from .figures import save_figure

        paths = save_figure(fig, figure, data=data, sources=sources, vintage=vintage,
                            params=self.parameters, notebook=f"notebooks/{self.notebook}",
                            folder=self.figures_dir, run=self.name, **options)
        for path in paths.values():
            self._record(Path(path))
        return paths

    def write_rows(self, rows) -> Path:
        """Write the run's result rows to ``results/rows/<run>.csv`` (atomic)."""
        from .results import write_rows

        path = write_rows(rows, name=self.name, folder=self.results_root)
        self._record(path)
        return path

    # -- provenance ------------------------------------------------------------------------
    def inputs(self) -> list[dict[str, str]]:
        """The shipped data files this process has read so far, with their sha256."""
        root = _paths.data_dir()
        out = []
        for path in files_read(root):
            out.append({"path": (Path("data") / path.relative_to(root)).as_posix(),
                        "sha256": sha256_file(path)})
        return out

    def provenance(self) -> dict[str, Any]:
        """What the run is and what it was made from: notebook, name, parameters, the data
        files read (with sha256), package and dependency versions, git commit."""
        return {"run": self.name, "notebook": f"notebooks/{self.notebook}",
                "parameters": self.parameters, "default_run": self.is_default,
                "inputs": self.inputs(), "clusterstats_version": package_version(),
                "git_commit": git_commit(), "dependency_versions": dependency_versions()}

    def relative_outputs(self) -> list[str]:
        root = _paths.repo_root()
        out = []
        for path in self.outputs:
            try:
                out.append(path.resolve().relative_to(root).as_posix())
            except ValueError:
                out.append(path.as_posix())
        return out

    def finish(self, rows=None) -> dict[str, Any]:
        """Record the run's outputs, inputs and verdicts in the executed notebook (glue), where
        ``clusterstats run``/``batch`` read them for the run's manifest. Returns what was glued."""
        from .results import glue

        glued = {"run": self.name, "outputs": self.relative_outputs(), "inputs": self.inputs()}
        glue("run", self.name)
        glue("outputs", glued["outputs"])
        glue("inputs", glued["inputs"])
        if rows is not None and len(rows):
            cols = [c for c in ("claim_id", "part", "test", "role", "verdict") if c in rows.columns]
            glue("verdicts", rows[cols])
        return glued
