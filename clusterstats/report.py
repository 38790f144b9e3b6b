"""The claim-by-claim verdict report: the guide's claims beside what the data say.

``build()`` joins ``data/claims.yaml`` (each claim of the guide, its parts and the rule that judges
each part) with ``results/hypotheses.csv`` (assembled from the runs the pipeline defines) and
writes ``reports/verdicts.md`` and ``reports/verdicts.html``. ``clusterstats run`` calls it last.

How a claim's verdict is reached (see :mod:`clusterstats.rules`):

1. Each *part* of a claim is judged in the notebooks by its declared rule on the **primary rows of
   the default run** (the run with every parameter at its default).
2. The claim's verdict combines its parts' verdicts (:func:`clusterstats.rules.combine_parts`).
3. The same part judged in other runs (another unit, rounding or register) is shown under the
   default row, labelled as a sensitivity run; it never counts twice and never decides.
4. Diagnostic and descriptive rows are listed separately and carry no verdict.

The report states how many tests were run, the Holm adjustment within each claim's family and the
Benjamini–Hochberg q-values across the report. It carries no clock time, so an unchanged input
gives an identical report.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from . import claims as _claims
from ._paths import data_dir, figures_dir, reports_dir, results_dir
from .provenance import atomic_write_text
from .rules import combine_parts

NOT_TESTED = "not yet tested"


def load_claims(path: str | Path | None = None) -> pd.DataFrame:
    """``data/claims.yaml`` as a frame (one row per claim; ``parts`` as a list of dicts)."""
    loaded = _claims.load(Path(path) if path else data_dir() / "claims.yaml")
    return pd.DataFrame([{"id": c.id, "topic": c.topic, "claim": c.claim, "seed_lines": c.seed_lines,
                          "hypotheses": list(c.hypotheses), "parts": list(c.parts)}
                         for c in loaded.values()])


def claim_verdict(verdicts: pd.Series) -> str:
    """Summarise verdicts of rows that carry no declared part (tables written before claim parts
    existed): all agree → that verdict; supported beside not supported → partly; no rows →
    "not yet tested". Tables with parts are summarised by :func:`part_verdicts` instead."""
    values = [v for v in verdicts.dropna().astype(str) if v]
    if not values:
        return NOT_TESTED
    return combine_parts(values)


# ---------------------------------------------------------------------------------------------
# reading the table
# ---------------------------------------------------------------------------------------------
def is_default_run(table: pd.DataFrame) -> pd.Series:
    """A row belongs to the default run when its run id is its notebook's stem (RunContext
    naming); rows from older tables (run ids with parameters in them) count as default."""
    stem = table["notebook"].astype(str).str.replace(r"\.ipynb$", "", regex=True)
    run = table["run_id"].astype(str)
    legacy = run.str.contains(":", regex=False) | (run == "") | (stem == "")
    return (run == stem) | legacy


def read_table(path: Path) -> pd.DataFrame:
    from .results import RESULT_COLUMNS

    table = (pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists()
             else pd.DataFrame(columns=RESULT_COLUMNS))
    for col in RESULT_COLUMNS:
        if col not in table.columns:
            table[col] = ""
    table["default_run"] = is_default_run(table)
    return table


def part_verdicts(table: pd.DataFrame, claim: _claims.Claim) -> list[dict[str, Any]]:
    """For each declared part: its primary rows in the default run, its verdict there, and the
    same part's verdicts in the other runs (sensitivity runs) and sensitivity rows."""
    out = []
    for part in claim.parts:
        rows = table[table["part"] == part.id]
        primary = rows[(rows["role"] == "primary") & rows["default_run"]]
        verdicts = sorted(set(primary["verdict"]) - {""})
        verdict = verdicts[0] if len(verdicts) == 1 else ("conflicting rows" if verdicts else NOT_TESTED)
        judged = rows["role"].isin(["primary", "sensitivity"])
        others = rows[judged & ~((rows["role"] == "primary") & rows["default_run"])]
        # a sensitivity run repeats the rows its parameter does not touch: show each finding
        # once, under the first run that has it (the default run's rows come first)
        others = others.sort_values("default_run", ascending=False, kind="stable")
        same = ["test", "effect", "ci_low", "ci_high", "verdict"]
        out.append({"part": part, "verdict": verdict, "rows": primary,
                    "sensitivity": others.drop_duplicates(subset=same)})
    return out


def summarise_claim(table: pd.DataFrame, claim: _claims.Claim) -> dict[str, Any]:
    rows = table[table["claim_id"] == claim.id]
    # a table written before claims had parts (no row names a part) is shown as it was judged
    by_parts = bool(claim.parts) and rows["part"].astype(str).ne("").any()
    if by_parts:
        parts = part_verdicts(table, claim)
        decided = [p["verdict"] for p in parts if p["verdict"] != NOT_TESTED]
        verdict = combine_parts(decided) if decided else NOT_TESTED
    else:
        parts, verdict = [], claim_verdict(rows.loc[rows["default_run"], "verdict"].replace("", pd.NA))
    judged = rows["part"].isin([p.id for p in claim.parts]) & rows["role"].isin(["primary", "sensitivity"])
    other = rows[~judged] if by_parts else rows.iloc[0:0]
    same = ["hypothesis", "test", "method", "statistic", "p_value", "effect", "ci_low", "ci_high", "n"]
    legacy = rows if not by_parts else rows.iloc[0:0]
    other, bulky = _split_bulky(other.drop_duplicates(subset=same))
    return {"claim": claim, "verdict": verdict, "parts": parts if by_parts else [], "n_rows": len(rows),
            "other": other, "bulky": bulky,
            "legacy": legacy.drop_duplicates(subset=same + ["verdict", "verdict_text"])}


#: a descriptive test with more rows than this in one run (one per country, say) is summarised
#: by a line pointing to results/hypotheses.csv instead of being listed row by row
MAX_LISTED = 10


def _split_bulky(other: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    sizes = other.groupby(["run_id", "test"], sort=False)["test"].transform("size")
    bulky = (other[sizes > MAX_LISTED].groupby(["run_id", "test"], sort=False).size()
             .reset_index(name="n").to_dict("records"))
    return other[sizes <= MAX_LISTED], bulky


def multiplicity_summary(table: pd.DataFrame, alpha: float = 0.05) -> dict[str, int]:
    """How many p-values the report holds, in how many families, and how many stay below
    ``alpha`` unadjusted, after Holm within families and with BH q-values across the report."""
    p = pd.to_numeric(table["p_value"], errors="coerce")
    holm = pd.to_numeric(table["p_holm"], errors="coerce")
    q = pd.to_numeric(table["q_bh"], errors="coerce")
    has_p = p.notna()
    fams = table.loc[has_p, "family"].replace("", pd.NA).fillna(table.loc[has_p, "claim_id"])
    families = (table.loc[has_p, "run_id"] + " · " + fams.astype(str)).nunique()
    return {"tests": int(has_p.sum()), "families": int(families), "alpha_pct": int(round(alpha * 100)),
            "raw": int((p < alpha).sum()), "holm": int((holm < alpha).sum()),
            "bh": int((q < alpha).sum())}


def figures_of(claim: _claims.Claim, table: pd.DataFrame, folder: Path) -> list[Path]:
    """PNG figures of the runs that tested ``claim`` (``figures/<run>/*.png``), default run
    first; figures saved flat in ``folder`` by older runs are matched by hypothesis prefix."""
    rows = table[table["claim_id"] == claim.id]
    runs = list(dict.fromkeys(rows.sort_values("default_run", ascending=False, kind="stable")["run_id"]))
    found: list[Path] = []
    for run in runs:
        if run and (folder / run).is_dir():
            found += sorted((folder / run).glob("*.png"))
    for hyp in claim.hypotheses:
        found += sorted(folder.glob(f"{hyp.lower().rstrip('abc')}_*.png"))
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------------------------
def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x == "" or (
            isinstance(x, str) and x.lower() in ("nan", "<na>")):
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.{digits}g}"
    return f"{v:.{digits}g}" if abs(v) < 1 else f"{v:,.{digits}f}".rstrip("0").rstrip(".")


def _effect_text(row: pd.Series) -> str:
    effect = _fmt(row.get("effect"))
    if effect == "–":
        return "–"
    lo, hi = _fmt(row.get("ci_low")), _fmt(row.get("ci_high"))
    level = row.get("ci_level")
    ci = ""
    if lo != "–" and hi != "–":
        lvl = (_fmt(float(level) * 100, 3) + " % "
               if level not in (None, "") and str(level).lower() != "nan" else "")
        ci = f" ({lvl}CI {lo} to {hi})"
    name = row.get("effect_name") or ""
    unit = row.get("unit")
    unit = f" {unit}" if isinstance(unit, str) and unit and unit.lower() != "nan" else ""
    return f"{name} = {effect}{unit}{ci}".strip(" =")


def _cell(value: Any) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def _thresholds(part: _claims.ClaimPart) -> str:
    return ", ".join(f"{k} = {v}" for k, v in part.thresholds.items()) or "–"


_MD = """\
# The guide's claims, tested

Each quantitative claim of the *Good Practices Guide on Clusters and Technology Transfers –
Bulgaria* (2018), paraphrased, split into the parts a verdict rule can judge, with the tests run
on real data (`results/hypotheses.csv`). Regenerated by `make reproduce`.

**How verdicts are reached.** Each part of a claim has a declared rule and thresholds in
`data/claims.yaml` (with why they read the guide's words fairly). "Supported" needs positive
evidence — an interval inside the claimed range, an equivalence test, or a one-sided test in the
claim's direction — never a non-significant difference, which gives "inconclusive". Only the
default run's primary rows decide; runs with other parameters are shown under them as sensitivity
runs.

**Multiple testing.** The report holds {{ m.tests }} p-values in {{ m.families }} families (one per
claim and run). {{ m.raw }} are below {{ m.alpha_pct }} % unadjusted, {{ m.holm }} after Holm's
adjustment within their family (the value verdicts use), and {{ m.bh }} have a Benjamini–Hochberg
q-value below {{ m.alpha_pct }} % across the whole report.

| claim | topic | verdict | parts | rows |
|---|---|---|---|---|
{% for s in claims %}
| [{{ s.claim.id }}](#{{ s.claim.id|lower }}) | {{ s.claim.topic }} | **{{ s.verdict }}** | {{ s.parts|length }} | {{ s.n_rows }} |
{% endfor %}
{% for s in claims %}

## {{ s.claim.id }} — {{ s.claim.topic }}

**The guide** (seed text line {{ s.claim.seed_lines }}): {{ s.claim.claim }}

**Verdict: {{ s.verdict }}** (hypotheses {{ s.claim.hypotheses|join(', ') }})
{% if s.parts %}

| part | the guide says | rule (thresholds) | verdict | evidence | why | under other thresholds |
|---|---|---|---|---|---|---|
{% for p in s.parts %}
| {{ p.part.id }} | {{ p.part.says|cell }} | {{ p.part.rule }} ({{ p.part|thresholds|cell }}) | **{{ p.verdict }}** | {% for _, r in p.rows.iterrows() %}{{ r|effect|cell }}{% if r.p_value %}; p = {{ r.p_value|fmt }}, Holm {{ r.p_holm|fmt }}, q {{ r.q_bh|fmt }}{% endif %}{% if not loop.last %}<br>{% endif %}{% endfor %} | {{ p.rows.verdict_text.iloc[0]|cell if p.rows|length else '' }} | {{ (p.rows.verdict_sensitivity.iloc[0] if p.rows|length else '')|cell }} |
{% for _, r in p.sensitivity.iterrows() %}
| ↳ sensitivity{% if not r.default_run %} run `{{ r.run_id }}`{% endif %} | {{ r.test|cell }} | | {{ r.verdict or '–' }} | {{ r|effect|cell }} | {{ r.verdict_text|cell }} | |
{% endfor %}
{% endfor %}

Why these thresholds:
{% for p in s.parts %}
* {{ p.part.id }}: {{ p.part.justification|cell }}
{% endfor %}
{% endif %}
{% if s.other|length %}

Other tests, diagnostics and descriptive numbers (no verdict):

| hyp. | run | test | effect (CI) | p | n | caveats |
|---|---|---|---|---|---|---|
{% for _, r in s.other.iterrows() %}
| {{ r.hypothesis }} | {{ r.run_id|cell }} | {{ (r.test ~ ': ' ~ r.method)|cell }} | {{ r|effect|cell }} | {{ r.p_value|fmt }} | {{ r.n|fmt }} | {{ r.caveats|cell }} |
{% endfor %}
{% endif %}
{% for b in s.bulky %}
{% if loop.first %}

{% endif %}
* Also in `results/hypotheses.csv`: {{ b.n }} rows of `{{ b.test }}` from run `{{ b.run_id }}` (one per country or year; see that run's notebook and figures).
{% endfor %}
{% if s.legacy|length %}

| hyp. | test | effect (CI) | p | n | verdict | what the data say |
|---|---|---|---|---|---|---|
{% for _, r in s.legacy.iterrows() %}
| {{ r.hypothesis }} | {{ (r.test ~ ': ' ~ r.method)|cell }} | {{ r|effect|cell }} | {{ r.p_value|fmt }} | {{ r.n|fmt }} | {{ r.verdict }} | {{ r.verdict_text|cell }} |
{% endfor %}
{% endif %}
{% if not s.n_rows %}

_No result rows yet for this claim._
{% endif %}
{% for fig in s.figures %}

![{{ fig.name }}]({{ fig.rel }})
{% endfor %}
{% endfor %}
"""


def _render_markdown(context: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(cell=_cell, fmt=_fmt, effect=_effect_text, thresholds=_thresholds)
    return env.from_string(_MD).render(**context).rstrip() + "\n"


def _markdown_to_html(text: str) -> str:
    """The HTML page: the Markdown rendered by markdown-it (installed with JupyterLab's stack)
    or, when absent, shown preformatted."""
    import html

    try:
        from markdown_it import MarkdownIt

        body = MarkdownIt("commonmark").enable("table").render(text)
    except ImportError:  # pragma: no cover - markdown-it-py comes with jupyterlab/rich
        body = f"<pre>{html.escape(text)}</pre>"
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<title>The guide's claims, tested</title><style>"
            "body{font-family:sans-serif;max-width:75em;margin:auto;padding:1em;line-height:1.4}"
            "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:4px;"
            "vertical-align:top}img{max-width:100%}</style></head><body>\n" + body + "</body></html>\n")


def build(results: str | Path | None = None, claims: str | Path | None = None,
          figures: str | Path | None = None, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write the verdict report as Markdown and HTML; return their paths."""
    results = Path(results) if results else results_dir() / "hypotheses.csv"
    figures = Path(figures) if figures else figures_dir()
    out_dir = Path(out_dir) if out_dir else reports_dir()
    table = read_table(results)
    loaded = _claims.load(Path(claims) if claims else None)
    summaries = []
    for claim in loaded.values():
        s = summarise_claim(table, claim)
        s["figures"] = [{"name": f.stem, "rel": os.path.relpath(f, out_dir)}
                        for f in figures_of(claim, table, figures)]
        summaries.append(s)
    md_text = _render_markdown({"claims": summaries, "m": multiplicity_summary(table)})
    return {"markdown": atomic_write_text(out_dir / "verdicts.md", md_text),
            "html": atomic_write_text(out_dir / "verdicts.html", _markdown_to_html(md_text))}
