"""Write a thin hypothesis notebook from a short cell list (markdown / code), stripped.

Used by hand when a notebook's cells are rewritten: keeps the metadata every notebook carries
(kernel "clusterstats", the `parameters` tag on the parameters cell) and no outputs.

    python tools/write_notebook.py notebooks/h8_cluster_size.ipynb < cells.txt

``cells.txt`` holds cells separated by lines ``%% markdown``, ``%% code`` or ``%% parameters``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def build(text: str) -> dict:
    cells, kind, lines = [], None, []

    def flush():
        if kind is None:
            return
        source = "\n".join(lines).strip("\n")
        cell = {"cell_type": "markdown" if kind == "markdown" else "code", "metadata": {},
                "source": source.splitlines(keepends=True)}
        if kind != "markdown":
            cell.update(execution_count=None, outputs=[])
        if kind == "parameters":
            cell["metadata"] = {"tags": ["parameters"]}
        cells.append(cell)

    for line in text.splitlines():
        if line.startswith("%% "):
            flush()
            kind, lines = line[3:].strip(), []
            if kind not in ("markdown", "code", "parameters"):
                raise SystemExit(f"unknown cell kind {kind!r}")
        else:
            lines.append(line)
    flush()
    return {"cells": cells, "metadata": {
        "kernelspec": {"display_name": "Python (clusterstats)", "language": "python",
                       "name": "clusterstats"}, "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 4}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.write_text(json.dumps(build(sys.stdin.read()), indent=1, ensure_ascii=False) + "\n",
                   encoding="utf-8")
