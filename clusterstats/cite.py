"""Citations for figures, built from the provenance embedded in the figure file itself.

``clusterstats figure-info FILE --cite [apa|bibtex]`` prints one. Everything it needs travels
inside the PDF/PNG/SVG (:func:`clusterstats.figures.read_embedded_provenance`): the figure's title,
the run name and parameters, the data sources with their vintages and URLs, the package version and
the git commit the figure was made from. So a figure copied out of the repository (into a
manuscript folder, an e-mail) still cites itself. The project part (title, authors, version,
licence, date) comes from ``CITATION.cff`` (Citation File Format 1.2.0, https://citation-file-format.github.io/),
read with PyYAML: ``cffconvert`` would also turn the file into BibTeX/APA, but it pins
``jsonschema<4``, which conflicts with JupyterLab's, and we need the figure's own fields in the
same entry anyway, so the two formats are written here (BibTeX ``@misc``; APA 7th edition,
section 10.2 "Data sets" / 10.10 "Computer software").
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from ._paths import REPO_ROOT

__all__ = ["project_citation", "figure_sources", "format_citation", "cite_figure", "STYLES"]

STYLES = ("apa", "bibtex")


def project_citation(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Title, authors, version, year, licence and URL of the project from ``CITATION.cff``.

    Parameters
    ----------
    path : path-like, optional
        The CFF file; default ``CITATION.cff`` at the repository root. When it is missing (a
        non-editable install), the installed package's name and version are used.

    Returns
    -------
    dict
        ``title``, ``authors`` (list of display names), ``version``, ``year``, ``license``,
        ``url`` (None when the file has none).
    """
    path = Path(path) if path else REPO_ROOT / "CITATION.cff"
    if not path.is_file():
        from .provenance import package_version

        return {"title": "clusterstats", "authors": ["clusterstats developers"],
                "version": package_version(), "year": None, "license": None, "url": None}
    cff = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    authors = [_cff_name(a) for a in cff.get("authors") or []]
    released = str(cff.get("date-released") or "")
    return {"title": cff.get("title") or "clusterstats", "authors": [a for a in authors if a],
            "version": str(cff.get("version") or ""), "year": released[:4] or None,
            "license": cff.get("license"),
            "url": cff.get("repository-code") or cff.get("url")}


def _cff_name(author: Mapping[str, Any]) -> str:
    """A CFF person or entity as one display name (``family, given`` for persons)."""
    if author.get("name"):
        return str(author["name"])
    family = " ".join(str(author[k]) for k in ("name-particle", "family-names") if author.get(k))
    given = str(author.get("given-names") or "")
    return f"{family}, {given}".strip(", ")


def figure_sources(prov: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The data sources of a figure record as ``label``, ``vintage``, ``url`` (one per source).

    A source without its own vintage takes the figure's ``vintage`` (figures made from one
    source often state the vintage once, for the whole figure).
    """
    out = []
    for src in prov.get("sources") or []:
        if "text" in src and set(src) <= {"text", "url"}:
            label = src["text"]
        else:
            label = " ".join(str(src[k]) for k in ("publisher", "dataset") if src.get(k))
            label = label or str(src.get("title") or src.get("file") or src.get("text") or "")
        out.append({"label": label, "vintage": src.get("vintage") or prov.get("vintage"),
                    "url": src.get("url")})
    return out


def _commit(prov: Mapping[str, Any]) -> str | None:
    commit = prov.get("embedded_git_commit") or prov.get("git_commit")
    if commit and prov.get("git_dirty") and not str(commit).endswith("-dirty"):
        commit = f"{commit}-dirty"
    return commit


def _params_text(prov: Mapping[str, Any]) -> str:
    params = prov.get("params") or {}
    return ", ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
                     for k, v in sorted(params.items()))


def format_citation(prov: Mapping[str, Any], style: str = "apa",
                    project: Mapping[str, Any] | None = None) -> str:
    """A citation of one figure from its provenance record.

    Parameters
    ----------
    prov : mapping
        The embedded provenance (:func:`clusterstats.figures.read_embedded_provenance`).
    style : {"apa", "bibtex"}
        APA 7th edition text or a BibTeX ``@misc`` entry.
    project : mapping, optional
        :func:`project_citation` output (read from ``CITATION.cff`` when omitted).

    Returns
    -------
    str
        The citation; it names every data source with its vintage and URL.

    Examples
    --------
    >>> from clusterstats.cite import format_citation
    >>> prov = {"figure": "h8_members", "title": "Cluster members", "params": {"low": 10},
    ...         "sources": [{"publisher": "Eurostat", "dataset": "tgs00042", "vintage": "2026-05-12",
    ...                      "url": "https://ec.europa.eu/eurostat/databrowser/view/tgs00042/default/table"}],
    ...         "clusterstats_version": "0.1.0", "embedded_git_commit": "411605a9cdf7"}
    >>> print(format_citation(prov, "apa", project={"title": "clusterstats", "authors": ["clusterstats developers"],
    ...                                             "version": "0.1.0", "year": "2026"}))  # doctest: +NORMALIZE_WHITESPACE
    clusterstats developers (2026). Cluster members [Figure h8_members]. In clusterstats (Version 0.1.0, commit 411605a9cdf7). Parameters: low=10.
    Data sources:
      - Eurostat tgs00042, vintage 2026-05-12. https://ec.europa.eu/eurostat/databrowser/view/tgs00042/default/table
    """
    if style not in STYLES:
        raise ValueError(f"citation style must be one of {', '.join(STYLES)}, not {style!r}")
    project = dict(project or project_citation())
    return (_bibtex if style == "bibtex" else _apa)(prov, project)


def _apa(prov: Mapping[str, Any], project: Mapping[str, Any]) -> str:
    authors = ", ".join(project.get("authors") or ["clusterstats developers"])
    year = project.get("year") or "n.d."
    title = prov.get("title") or prov.get("figure")
    label = f"Figure {prov.get('figure')}" + (f", run {prov['run']}" if prov.get("run") else "")
    version = prov.get("clusterstats_version") or project.get("version")
    where = f"Version {version}" + (f", commit {_commit(prov)}" if _commit(prov) else "")
    text = f"{authors} ({year}). {title} [{label}]. In {project.get('title')} ({where})."
    if _params_text(prov):
        text += f" Parameters: {_params_text(prov)}."
    if project.get("url"):
        text += f" {project['url']}"
    lines = [text, "Data sources:"]
    for s in figure_sources(prov):
        line = f"  - {s['label']}" + (f", vintage {s['vintage']}" if s["vintage"] else "") + "."
        lines.append(line + (f" {s['url']}" if s["url"] else ""))
    return "\n".join(lines)


def _bib_escape(text: Any) -> str:
    return re.sub(r"([&%$#_{}])", r"\\\1", str(text))


def _bibtex(prov: Mapping[str, Any], project: Mapping[str, Any]) -> str:
    key = "clusterstats_" + re.sub(r"[^A-Za-z0-9_]+", "_", str(prov.get("run") or prov.get("figure")))
    version = prov.get("clusterstats_version") or project.get("version")
    sources = "; ".join(
        s["label"] + (f", vintage {s['vintage']}" if s["vintage"] else "")
        + (f", \\url{{{s['url']}}}" if s["url"] else "") for s in figure_sources(prov))
    fields = {
        "author": " and ".join("{" + _bib_escape(a) + "}" for a in project.get("authors") or []),
        "title": "{" + _bib_escape(prov.get("title") or prov.get("figure")) + "}",
        "howpublished": _bib_escape(f"Figure {prov.get('figure')} made with {project.get('title')}"),
        "year": project.get("year"),
        "version": version,
        "note": "; ".join(p for p in (
            f"commit {_commit(prov)}" if _commit(prov) else "",
            f"run {_bib_escape(prov['run'])}" if prov.get("run") else "",
            f"parameters: {_bib_escape(_params_text(prov))}" if _params_text(prov) else "",
            f"data: {_bib_escape_keep_url(sources)}" if sources else "") if p),
        "url": project.get("url"),
    }
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields.items() if v)
    return f"@misc{{{key},\n{body}\n}}"


def _bib_escape_keep_url(text: str) -> str:
    """Escape BibTeX specials outside ``\\url{...}`` (URLs stay verbatim)."""
    parts = re.split(r"(\\url\{[^}]*\})", text)
    return "".join(p if p.startswith("\\url{") else _bib_escape(p) for p in parts)


def cite_figure(path: str | os.PathLike, style: str = "apa",
                cff: str | os.PathLike | None = None) -> str:
    """The citation of the figure file at ``path`` (PDF, PNG or SVG), from its embedded provenance.

    Parameters
    ----------
    path : path-like
        A figure written by :func:`clusterstats.figures.save_figure`, anywhere on disk.
    style : {"apa", "bibtex"}
    cff : path-like, optional
        ``CITATION.cff`` to take the project's details from (default: the repository's).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        When the file carries no clusterstats provenance.
    """
    from .figures import read_embedded_provenance

    return format_citation(read_embedded_provenance(path), style, project_citation(cff))


def cli_cite(files, style: str) -> int:
    """Print the citation of each file; exit code 2 if any is not a figure with provenance
    (its one-line reason on stderr)."""
    import sys

    status = 0
    for f in files:
        try:
            print(cite_figure(f, style))
        except (ValueError, OSError) as exc:
            print(f"{f}: {exc}", file=sys.stderr)
            status = 2
    return status
