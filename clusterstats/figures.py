"""Figures in one house style, saved with the data plotted and their provenance.

Contract used by every notebook (keep it):

    save_figure(fig, name, *, data, sources, vintage=None, params=None, notebook=None,
                folder=None) -> dict[str, Path]

writes ``<folder>/<name>.pdf``, ``.svg``, ``.png`` (300 dpi), ``<name>.csv`` (exactly the data
plotted) and ``<name>.provenance.json``.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from ._paths import figures_dir
from .provenance import atomic_write_bytes, atomic_write_json, atomic_write_text, git_commit, package_version


def save_figure(fig, name: str, *, data: pd.DataFrame, sources: str | Sequence[str],
                vintage: str | None = None, params: Mapping[str, Any] | None = None,
                notebook: str | None = None, folder: str | Path | None = None) -> dict[str, Path]:
    folder = Path(folder) if folder is not None else figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    sources = [sources] if isinstance(sources, str) else list(sources)
    prov = {"figure": name, "sources": sources, "vintage": vintage, "params": dict(params or {}),
            "notebook": notebook, "clusterstats_version": package_version(), "git_commit": git_commit()}
    paths: dict[str, Path] = {}
    for fmt in ("pdf", "svg", "png"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=300 if fmt == "png" else None, bbox_inches="tight")
        paths[fmt] = atomic_write_bytes(folder / f"{name}.{fmt}", buf.getvalue())
    csv = io.StringIO()
    data.to_csv(csv, index=False, lineterminator="\n")
    paths["csv"] = atomic_write_text(folder / f"{name}.csv", csv.getvalue())
    paths["provenance"] = atomic_write_json(folder / f"{name}.provenance.json", prov)
    return paths
