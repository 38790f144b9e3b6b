"""No result number is typed into a notebook's prose, and notebooks import only public names.

A number in a markdown cell must be a year (1900-2030), part of an identifier (C05, BG41, H4,
EU28, BG16RFOP002-2.009), a citation (after "line", "p.", "Table", "Diagram", "NUTS", ...), inside
a code span or link, or a value written in ``data/claims.yaml`` (the guide's own claimed values).
Anything else is a result, and results are rendered from the computed values by the notebook's
narrative template (``Hypothesis.narrative``), never typed.
"""
from __future__ import annotations

import json
import re

import pytest

from clusterstats._paths import REPO_ROOT
from clusterstats.claims import claim_numbers

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
_CITATION = re.compile(
    r"(?:seed lines?|lines?|p\.|pp\.|pages?|Tables?|Diagrams?|Figures?|NUTS|level|Annex(?:es)?|"
    r"footnotes?|version|issues?|column|SDMX)\s*\d+(?:\.\d+)?(?:\s*(?:[–-]|,|and|to)\s*\d+)*",
    re.IGNORECASE)
_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|"
           "December")
_SKIP = re.compile(r"`[^`]*`|\]\([^)]*\)|https?://\S+|\b\d{1,2}\s+(?:" + _MONTHS + ")")
_NUMBER = re.compile(r"(?<![\w.\-/])\d+(?:[.,]\d+)?(?![\w/])")


def _prose_numbers(text: str) -> list[str]:
    text = _CITATION.sub(" ", _SKIP.sub(" ", text))
    return _NUMBER.findall(text)


def _allowed(number: str, claimed: set[str]) -> bool:
    plain = number.replace(",", "")
    if plain.isdigit() and 1900 <= int(plain) <= 2030:   # a year (data years, citations)
        return True
    return plain in claimed or number in claimed


def test_the_checker_itself():
    claimed = {"43", "7", "14"}
    found = [n for n in _prose_numbers("In 2016 the guide (seed line 203, Table 2) says 43; "
                                       "BG41 spends 7-14 times; we found 81 and 0.55 (`n_boot=999`).")
             if not _allowed(n, claimed)]
    assert found == ["81", "0.55"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_typed_result_numbers_in_markdown(path):
    claimed = claim_numbers()
    nb = json.loads(path.read_text(encoding="utf-8"))
    typed = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        typed += [f"cell {i}: {n}" for n in _prose_numbers(text) if not _allowed(n, claimed)]
    assert not typed, (f"{path.name}: numbers typed into the prose (render them from the results "
                       f"with the narrative template, or quote them from data/claims.yaml): {typed}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_import_only_public_names(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    private = re.findall(r"(?:from\s+clusterstats[\w.]*\s+import\s+[^\n]*\b_\w+|"
                         r"from\s+clusterstats(?:\.\w+)*\._\w+|import\s+clusterstats(?:\.\w+)*\._\w+)", code)
    assert not private, f"{path.name} imports private names: {private}"
