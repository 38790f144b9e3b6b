"""A static results site: ``clusterstats site [--output site/]`` (``make site``).

Writes a folder of plain HTML that opens from disk (every link is relative, nothing is fetched
from the network):

* ``index.html`` — the verdict table: each claim of the guide (``data/claims.yaml``), what the
  guide says, what the data say (the result rows' own sentences), the verdict
  (:func:`clusterstats.report.claim_verdict`) and links to the evidence;
* ``results.html`` — every result row per claim, numbers formatted by
  :func:`clusterstats.display.results_style` (a pandas Styler);
* ``figures.html`` — the figure gallery, found through the ``*.provenance.json`` sidecars under
  ``figures/`` (flat ``figures/<figure>.*`` or per run ``figures/<run name>/<figure>.*``): each
  figure with its title, run name, parameters, sources with vintages and URLs, links to the
  PDF/SVG/CSV and a "cite this figure" block (:mod:`clusterstats.cite`);
* ``notebooks/<run>.html`` — each executed notebook in ``build/notebooks/`` converted by
  nbconvert (its HTML exporter, lab template, with the CDN script tags left out);
* ``files/`` — copies of the figure files, so the folder can be moved or zipped as it is.

Pages are rendered from the Jinja2 templates in ``clusterstats/templates/site/``. The site is
built in a temp folder beside the target and swapped in only when complete, so a failure leaves
the previous site as it was.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ._paths import figures_dir, repo_root, results_dir

__all__ = ["FigureEntry", "discover_figures", "verdict_table", "build_site", "add_cli"]

FIGURE_FORMATS = ("png", "svg", "pdf", "csv")


@dataclass
class FigureEntry:
    """One saved figure set, read from its ``.provenance.json`` sidecar."""

    name: str
    run: str | None
    folder: Path                  # relative to the figures root ('.' for the flat layout)
    files: dict[str, Path]        # format -> absolute path of the files that exist
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def anchor(self) -> str:
        return "fig-" + re.sub(r"[^A-Za-z0-9_-]+", "-", f"{self.folder.as_posix()}-{self.name}").strip("-")

    @property
    def notebook_stem(self) -> str | None:
        nb = self.provenance.get("notebook")
        return Path(nb).stem if nb else None


def discover_figures(root: str | os.PathLike | None = None) -> list[FigureEntry]:
    """Every figure set under ``root`` (default ``figures/``), sorted by folder and name.

    A figure is a ``<name>.provenance.json`` sidecar with at least its PNG beside it. The run name
    is the provenance's ``run`` when recorded, else the sub-folder's name (``figures/<run>/``),
    else None (the flat layout of older runs).
    """
    root = Path(root) if root else figures_dir()
    found = []
    for side in sorted(root.rglob("*.provenance.json")):
        name = side.name[: -len(".provenance.json")]
        files = {fmt: side.with_name(f"{name}.{fmt}") for fmt in FIGURE_FORMATS}
        files = {fmt: p for fmt, p in files.items() if p.is_file()}
        if "png" not in files:
            continue
        prov = json.loads(side.read_text(encoding="utf-8"))
        folder = side.parent.relative_to(root)
        run = prov.get("run") or (folder.as_posix() if folder != Path(".") else None)
        found.append(FigureEntry(name, run, folder, files, prov))
    return sorted(found, key=lambda f: (f.folder.as_posix(), f.name))


def _read_results(path: Path) -> pd.DataFrame:
    from .report import read_table

    return read_table(path)


def verdict_table(results: pd.DataFrame, claims: pd.DataFrame) -> pd.DataFrame:
    """One row per claim: ``claim_id``, ``topic``, ``guide_says``, ``data_say``, ``verdict``,
    ``n_rows``, ``notebooks`` (stems of the notebooks whose rows test it).

    The verdicts are the report's (:func:`clusterstats.report.summarise_claim`: each declared part
    judged on the default run's primary rows, parts combined by
    :func:`clusterstats.rules.combine_parts`); "what the data say" gives each part's verdict and
    the reason its rule states. Sensitivity runs and diagnostics are in the report and the
    notebooks, not here.
    """
    from . import claims as _claims
    from .report import NOT_TESTED, summarise_claim

    table = results.copy()
    for col in ("part", "role", "run_id", "p_value", "p_holm", "q_bh", "family"):
        if col not in table.columns:
            table[col] = ""
    if "default_run" not in table.columns:
        from .report import is_default_run
        table["default_run"] = is_default_run(table)
    declared = _claims.load()
    out = []
    for _, claim in claims.iterrows():
        summary = summarise_claim(table, declared[claim["id"]])
        rows = table[table["claim_id"] == claim["id"]]
        said = [f"{p['part'].says}: {p['verdict']}"
                + (f" — {p['rows']['verdict_text'].iloc[0]}" if len(p["rows"]) and p["verdict"] != NOT_TESTED
                   else "") for p in summary["parts"]]
        if not summary["parts"]:
            said = [t for t in dict.fromkeys(rows["verdict_text"]) if t]
        out.append({"claim_id": claim["id"], "topic": claim.get("topic", ""),
                    "guide_says": claim["claim"], "data_say": said,
                    "verdict": summary["verdict"], "n_rows": len(rows),
                    "notebooks": sorted({Path(n).stem for n in rows["notebook"] if n})})
    return pd.DataFrame(out)


def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("clusterstats", "templates/site"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True)


def _notebook_html(src: Path) -> str:
    """An executed notebook as standalone HTML (nbconvert, lab template) without CDN scripts."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", mathjax_url="", require_js_url="")
    body, _ = exporter.from_notebook_node(nbformat.read(src, as_version=4))
    return re.sub(r'<script src="">\s*</script>', "", body)


def _figure_context(fig: FigureEntry, files_prefix: str) -> dict[str, Any]:
    from .cite import figure_sources, format_citation, project_citation

    prov = dict(fig.provenance)
    prov.setdefault("run", fig.run)
    embedded = {k: v for k, v in prov.items() if k != "git_commit"}
    embedded.setdefault("embedded_git_commit", prov.get("git_commit"))
    project = project_citation()
    return {"name": fig.name, "anchor": fig.anchor, "run": fig.run,
            "title": prov.get("caption") or prov.get("title") or fig.name,
            "notebook": prov.get("notebook"), "params": prov.get("params") or {},
            "sources": figure_sources(prov),
            "files": {fmt: f"{files_prefix}/{(fig.folder / p.name).as_posix()}"
                      for fmt, p in fig.files.items()},
            "apa": format_citation(embedded, "apa", project),
            "bibtex": format_citation(embedded, "bibtex", project)}


def _numeric(s: pd.Series) -> pd.Series:
    """The column as numbers when all its non-empty cells are numbers, else unchanged."""
    num = pd.to_numeric(s.replace("", None), errors="coerce")
    return num if num.notna().sum() == (s != "").sum() else s


def _results_sections(results: pd.DataFrame, claims: pd.DataFrame) -> list[dict[str, Any]]:
    from .display import results_style

    show = [c for c in ("hypothesis", "test", "effect_name", "effect", "ci_low", "ci_high",
                        "p_value", "n", "unit", "verdict", "verdict_text", "data_vintage")
            if c in results.columns]
    sections = []
    for _, claim in claims.iterrows():
        rows = results.loc[results["claim_id"] == claim["id"], show]
        if rows.empty:
            continue
        rows = rows.apply(lambda s: _numeric(s) if s.name in (
            "effect", "ci_low", "ci_high", "p_value", "n") else s)
        sections.append({"claim_id": claim["id"], "claim": claim["claim"],
                         "table": results_style(rows.reset_index(drop=True)).to_html()})
    return sections


def _render_pages(out: Path, figures: list[FigureEntry], results: pd.DataFrame,
                  claims: pd.DataFrame, notebooks: list[str]) -> None:
    env = _environment()
    table = verdict_table(results, claims)
    figs = [_figure_context(f, "files/figures") for f in figures]
    claim_rows = []
    for row in table.to_dict("records"):
        stems = row["notebooks"]
        row["notebook_links"] = [f"notebooks/{n}.html" for n in notebooks
                                 if any(n == s or n.startswith(f"{s}__") for s in stems)]
        row["figure_links"] = [f"figures.html#{f.anchor}" for f in figures if f.notebook_stem in stems]
        claim_rows.append(row)
    pages = {
        "index.html": env.get_template("index.html.j2").render(
            claims=claim_rows, n_figures=len(figs), notebooks=notebooks,
            has_results=not results.empty),
        "results.html": env.get_template("results.html.j2").render(
            sections=_results_sections(results, claims)),
        "figures.html": env.get_template("figures.html.j2").render(figures=figs),
    }
    for name, text in pages.items():
        (out / name).write_text(text, encoding="utf-8")


def build_site(output: str | os.PathLike | None = None, *,
               figures: str | os.PathLike | None = None, results: str | os.PathLike | None = None,
               notebooks: str | os.PathLike | None = None,
               claims: str | os.PathLike | None = None) -> Path:
    """Write the results site and return its folder.

    Parameters
    ----------
    output : path-like, optional
        Target folder (default ``site/`` in the repository, or under ``CLUSTERSTATS_HOME``).
        Replaced as a whole when the new site is complete.
    figures, results, notebooks : path-like, optional
        ``figures/``, ``results/hypotheses.csv`` and the executed notebooks (default
        ``build/notebooks/``).
    claims : path-like, optional
        ``data/claims.yaml``.

    Returns
    -------
    pathlib.Path
        The site folder; open ``index.html`` in a browser.

    Examples
    --------
    >>> from clusterstats.site import build_site
    >>> build_site("site")  # doctest: +SKIP
    PosixPath('site')
    """
    from .report import load_claims

    output = Path(output) if output else repo_root() / "site"
    figures = Path(figures) if figures else figures_dir()
    results_csv = Path(results) if results else results_dir() / "hypotheses.csv"
    nb_dir = Path(notebooks) if notebooks else repo_root() / "build" / "notebooks"
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp"))
    try:
        found = discover_figures(figures)
        for fig in found:
            dest = tmp / "files" / "figures" / fig.folder
            dest.mkdir(parents=True, exist_ok=True)
            for p in fig.files.values():
                shutil.copyfile(p, dest / p.name)
        (tmp / "notebooks").mkdir()
        stems = []
        for nb in sorted(nb_dir.glob("*.ipynb")) if nb_dir.is_dir() else []:
            (tmp / "notebooks" / f"{nb.stem}.html").write_text(_notebook_html(nb), encoding="utf-8")
            stems.append(nb.stem)
        _render_pages(tmp, found, _read_results(results_csv), load_claims(claims), stems)
        _swap_in(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output


def _swap_in(new: Path, target: Path) -> None:
    """Replace ``target`` by the completed ``new`` folder (the old one is removed afterwards)."""
    os.chmod(new, 0o755)  # mkdtemp makes 0700
    if target.exists():
        old = target.with_name(f".{target.name}.old.{os.getpid()}")
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


def add_cli(subparsers) -> None:
    """``clusterstats site [--output DIR]``."""
    p = subparsers.add_parser(
        "site", help="write the static results site (verdicts, figures, notebooks as HTML)",
        description="Write a static site (open index.html from disk): the verdict table, every "
                    "result row, the figure gallery with citations, and the executed notebooks.")
    p.add_argument("--output", "-o", default=None, help="target folder (default: site/)")
    p.add_argument("--figures", default=None, help="figures folder (default: figures/)")
    p.add_argument("--results", default=None, help="results table (default: results/hypotheses.csv)")
    p.add_argument("--notebooks", default=None,
                   help="executed notebooks (default: build/notebooks/)")
    p.set_defaults(func=_cli_site)


def _cli_site(args) -> int:
    import sys

    try:
        out = build_site(args.output, figures=args.figures, results=args.results,
                         notebooks=args.notebooks)
    except (OSError, ValueError) as exc:
        print(f"clusterstats site: {exc}", file=sys.stderr)
        return 2
    print(f"site written to {out / 'index.html'}")
    return 0
