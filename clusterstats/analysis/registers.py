"""H0 (claims C01-C04): the guide's counts of its own registers against the transcribed annexes.

The guide (seed lines 174-187): 243 clusters registered with BULSTAT and 82 in the Commercial
Register (April 2018); BSMEPA categorised 78 unions into four categories; start-up clusters are
"twice as many" as developing ones; the founding year is known for 42 of the 66 categorised.

What is counted
    The annexes as transcribed in ``data/registry/`` (:mod:`clusterstats.registry`). BULSTAT
    and the Trade Register annexes are complete lists: their sizes are exact and are judged with
    the ``equals`` rule. Of the BSMEPA table's numbered rows, some are missing from the guide's
    text (:func:`clusterstats.registry.bsmepa_coverage`), so counts over its printed rows are
    lower bounds, judged with ``within_bounds`` (bounds = printed count, printed count + missing
    rows).

Tests
    * "twice as many" start-up as developing clusters: the start-up share of start-up +
      developing clusters is tested for *equivalence* to 2/3 within the margin that
      ``data/claims.yaml`` declares (exact binomial TOST, :func:`clusterstats.stats.equivalence.
      tost_proportion`; Schuirmann 1987). Supported only if the TOST rejects non-equivalence,
      i.e. the Clopper-Pearson ``1 - 2 alpha`` interval lies inside the margin. Two sensitivity
      rows place the missing rows by their position in the stage-sorted table.
    * The old difference test (exact binomial test of the share against 2/3) is kept as a
      descriptive row: not rejecting 2/3 is not evidence for it.
"""
from __future__ import annotations

import pandas as pd
from scipy import stats as sps

from .. import claims, registry
from ..context import RunContext
from ..hypothesis import Evidence, Hypothesis
from ..params import ParameterError, check_alpha
from ..provenance import atomic_write_text
from ..stats.equivalence import tost_proportion
from ._common import finish_rows

NOTEBOOK = "00_registry_overview.ipynb"
HYPOTHESIS = "H0"
CLAIM_IDS = ("C01", "C02", "C03", "C04")
DEFAULTS = dict(alpha=0.05)
GUIDE_DATE = registry.GUIDE_DATA_DATE
SOURCES = f"guide annexes (BULSTAT, Trade Register, BSMEPA lists), data date {GUIDE_DATE}; data/registry/"
VINTAGE = f"{GUIDE_DATE} (guide annex data)"
#: the claim part whose thresholds are the TOST margin of "twice as many"
TWICE_PART = "C03.twice"


def check_parameters(alpha=0.05) -> dict:
    """Validate H0's parameters (``alpha``: level of each one-sided test of the TOST)."""
    alpha = check_alpha(alpha)
    if alpha >= 0.5:
        raise ParameterError(f"alpha must be below 0.5 for an equivalence test, got {alpha!r}")
    return dict(alpha=alpha)


def _claim_text(claim_id: str) -> str:
    return claims.load()[claim_id].claim


def _count(claim_id: str, part: str | None, test: str, effect: float, n: int, *, role="primary",
           low=None, high=None, **fields) -> dict:
    """A count row: the effect is the count; ``low``/``high`` the bounds missing rows allow."""
    base = dict(test=test, method="count of transcribed rows", effect_name=test,
                effect=float(effect), n=int(n), unit="rows", reference="descriptive count",
                statistic=pd.NA, p_value=pd.NA, ci_low=pd.NA, ci_high=pd.NA, ci_level=pd.NA,
                note=pd.NA, claim_id=claim_id, part=part, role=role,
                h0="-", h1="the annex gives the guide's number")
    if low is not None:
        base.update(ci_low=float(low), ci_high=float(high))
    base.update(fields)
    return base


def register_rows(comparison: pd.DataFrame, coverage: dict) -> pd.DataFrame:
    """C01, C02, C04: the registers' sizes (exact) and the BSMEPA counts (bounded)."""
    c = comparison.set_index("statement")["data_value"]
    n_missing = len(coverage["missing"])
    categorised_printed = int(comparison.set_index("statement").loc["founding year known", "data_n"])
    known = int(c["founding year known"])
    bulstat = registry.load_bulstat()
    rows = [
        _count("C01", "C01.bulstat", "BULSTAT register size", c["clusters registered with BULSTAT"],
               len(bulstat), note=f"{bulstat['bulstat9'].nunique()} distinct entities; "
               f"{int(bulstat['is_branch'].sum())} rows are branches"),
        _count("C01", "C01.trade_register", "Trade Register size",
               c["clusters in the Commercial (Trade) Register"],
               c["clusters in the Commercial (Trade) Register"], note="every entry of the annex"),
        _count("C02", "C02.unions", "BSMEPA table size", c["unions categorised by BSMEPA"],
               coverage["total"], note=f"the annex numbers its rows without gaps; {coverage['text']}"),
        _count("C02", None, "BSMEPA categories", len(registry.STAGE_CATEGORIES),
               coverage["printed"], role="descriptive", unit="categories",
               note="categories of the annex: " + ", ".join(registry.STAGE_CATEGORIES)),
        _count("C04", "C04.categorised", "categorised clusters", c["categorised clusters (not 'uncategorised')"],
               coverage["total"], note="numbered rows less the printed 'uncategorised' rows; the "
               "table is sorted by stage and every missing row lies inside a categorised section"),
        _count("C04", "C04.founding_known", "founding year known", known, categorised_printed,
               low=known, high=known + n_missing,
               method="printed categorised rows with a founding year; the bound adds every missing row",
               note=f"{n_missing} rows of the annex are missing from the guide's text"),
    ]
    return pd.DataFrame(rows)


def stage_counts(bsmepa: pd.DataFrame) -> dict[str, int]:
    """Start-up and developing counts over the printed rows (a row with two stages counts in
    both) and what the missing rows add when placed by their position in the stage-sorted table:
    ``inside_start_up`` (missing rows between two start-up rows) and ``between`` (missing rows
    between the last developing and the first developed row: either stage)."""
    printed = bsmepa[bsmepa["row_status"] != "missing_from_source"]
    stages = pd.Series([s for lst in printed["stages"] for s in lst]).value_counts()
    order = bsmepa.sort_values("row")
    known = order["stage"].astype("string")
    before, after = known.ffill(), known.bfill()
    missing = order["row_status"] == "missing_from_source"
    inside = int((missing & (before == "start-up") & (after == "start-up")).sum())
    between = int((missing & (before == "developing") & (after == "developed")).sum())
    return {"start_up": int(stages.get("start-up", 0)), "developing": int(stages.get("developing", 0)),
            "inside_start_up": inside, "between": between}


def twice_rows(counts: dict[str, int], margin: tuple[float, float], alpha: float) -> pd.DataFrame:
    """C03: start-up share of start-up + developing, TOST against the margin around 2/3 (primary
    over the printed rows; two sensitivity rows with the missing rows placed by position), and
    the old difference test against 2/3 (descriptive)."""
    low, high = margin
    s, d = counts["start_up"], counts["developing"]
    s_all, between = s + counts["inside_start_up"], counts["between"]
    variants = [
        ("primary", s, d, "printed rows"),
        ("sensitivity", s_all, d + between, f"missing rows placed by position; the {between} "
         "rows between the developing and developed sections counted as developing"),
        ("sensitivity", s_all, d, f"missing rows placed by position; the {between} rows between "
         "the developing and developed sections counted as developed"),
    ]
    frames = []
    for role, k, m, what in variants:
        r = tost_proportion(k, k + m, low, high, alpha=alpha,
                            label="start-up share of start-up + developing")
        r["test"] = f"start-up share equivalent to 2/3 (TOST, {what})"
        r["note"] = f"{k} start-up vs {m} developing (ratio {k / m:.3g}); " + r["note"]
        r["role"] = role
        frames.append(r)
    diff = sps.binomtest(s, s + d, p=2 / 3)
    ci = diff.proportion_ci(confidence_level=1 - alpha, method="exact")
    frames.append(pd.DataFrame([dict(
        test="start-up share vs 2/3 (difference test)", role="descriptive",
        method="exact two-sided binomial test of the share against 2/3, Clopper-Pearson CI",
        statistic=float(s), p_value=float(diff.pvalue), effect_name="start-up share of start-up + developing",
        effect=s / (s + d), ci_low=float(ci.low), ci_high=float(ci.high), ci_level=1 - alpha,
        n=s + d, unit="share", reference="Clopper & Pearson (1934) Biometrika 26:404-413",
        note="a difference test: not rejecting 2/3 is no evidence for 'twice as many'")]))
    out = pd.concat(frames, ignore_index=True)
    out["claim_id"] = "C03"
    out["part"] = ["C03.twice"] * 3 + [pd.NA]
    out["h0"] = f"the start-up share lies outside [{low:.3g}, {high:.3g}]"
    out["h1"] = f"the start-up share lies inside [{low:.3g}, {high:.3g}] ('twice as many')"
    return out


NARRATIVE = """\
{% set bul = row(part="C01.bulstat") %}
{% set tr = row(part="C01.trade_register") %}
{% set uni = row(part="C02.unions") %}
{% set twice = row(part="C03.twice", role="primary") %}
{% set diff = row(test="start-up share vs 2/3 (difference test)") %}
{% set cat = row(part="C04.categorised") %}
{% set fy = row(part="C04.founding_known") %}
* **BULSTAT (C01): {{ bul.verdict }}.** {{ bul.verdict_text }} ({{ bul.note }}).
  **Commercial Register (C01): {{ tr.verdict }}.** {{ tr.verdict_text }}.
* **BSMEPA table size (C02): {{ uni.verdict }}.** {{ uni.verdict_text }}; {{ uni.note }}.
* **"Twice as many" start-up as developing clusters (C03): {{ twice.verdict }}.**
  {{ evidence.values.start_up|num }} start-up vs {{ evidence.values.developing|num }} developing
  printed rows: a start-up share of {{ twice.effect|num }}, {{ (twice.ci_level)|pct }} interval
  {{ twice|ci }}, TOST p = {{ twice.p_value|p }}. {{ twice.verdict_text }}.
  Under other margins: {{ twice.verdict_sensitivity }}.
  With the missing rows placed by their position in the table:
  {% for r in rows.itertuples() if r.part == "C03.twice" and r.role == "sensitivity" %}
  share {{ r.effect|num }} → {{ r.verdict }}{{ "; " if not loop.last else "." }}
  {% endfor %}
  (The old difference test did not reject 2/3, p = {{ diff.p_value|p }}; that is no evidence
  *for* the claim.)
* **Categorised clusters (C04): {{ cat.verdict }}.** {{ cat.verdict_text }}.
  **Founding year known (C04): {{ fy.verdict }}.** {{ fy.verdict_text }}.
"""


class RegistersHypothesis(Hypothesis):
    """H0: the guide's counts of its own registers (claims C01-C04)."""

    id, notebook, claims = HYPOTHESIS, NOTEBOOK, CLAIM_IDS
    defaults = DEFAULTS
    title = "The cluster registers: the guide's counts against its annexes"
    narrative_template = NARRATIVE

    _check = staticmethod(check_parameters)

    def compute(self, ctx: RunContext) -> Evidence:
        p = ctx.parameters
        comparison = registry.guide_comparison()
        bsmepa = registry.load_bsmepa()
        coverage = registry.bsmepa_coverage(bsmepa)
        margin = claims.part(TWICE_PART).thresholds
        counts = stage_counts(bsmepa)
        rows = pd.concat([register_rows(comparison, coverage),
                          twice_rows(counts, (margin["low"], margin["high"]), p["alpha"])],
                         ignore_index=True)
        rows["claim"] = rows["claim_id"].map(_claim_text)
        rows = finish_rows(rows, hypothesis=HYPOTHESIS, notebook=NOTEBOOK, parameters=p,
                           caveats=coverage["text"], data_sources=SOURCES, data_vintage=VINTAGE,
                           run_id=ctx.name)
        return Evidence(rows=rows, tables={"comparison": comparison}, sources=[SOURCES],
                        vintage=VINTAGE, parameters=p, notes=[coverage["text"]],
                        values={**counts, "missing": len(coverage["missing"]),
                                "missing_rows": coverage["text"], "margin": margin})

    def figures(self, evidence: Evidence) -> dict:
        return {"registry_overview": figure_overview()}

    def save(self, ctx: RunContext, evidence: Evidence, judged=None, *, figures=None) -> dict:
        """Also keep the comparison table as ``build/runs/<run>/registry_overview.csv``."""
        table = evidence.tables["comparison"]
        atomic_write_text(ctx.path("registry_overview.csv"),
                          table.to_csv(index=False, lineterminator="\n"))
        return super().save(ctx, evidence, judged, figures=figures)


#: the declared hypothesis: this module's one entry point
hypothesis = RegistersHypothesis()


def run(**parameters) -> Evidence:
    """Run H0 (compute and judge, nothing written); parameters as :data:`DEFAULTS`."""
    return hypothesis.run(**parameters)


def run_h0(alpha: float = 0.05, notebook: str | None = None) -> Evidence:
    """Earlier entry point (kept): :func:`run` with ``alpha``; ``notebook`` is ignored (the run's
    name comes from its context)."""
    return run(alpha=alpha)


def overview_tables() -> dict[str, pd.DataFrame]:
    """Counts behind the registry overview: stages, founding years, seat regions, member counts.

    Over the 53 printed BSMEPA rows (a cluster with two stages counts in both; a seat listing two
    towns counts once in each town's region).
    """
    bsmepa = registry.load_bsmepa()
    printed = bsmepa[bsmepa["row_status"] != "missing_from_source"]
    stages = (pd.Series([s for lst in printed["stages"] for s in lst])
              .value_counts().reindex(registry.STAGE_CATEGORIES, fill_value=0))
    years = printed["founding_year"].dropna().astype(int).value_counts().sort_index()
    regions = registry.nuts2_regions().set_index("nuts2")["name_latin"]
    seats = registry.cluster_seats(registry.clusters())
    seat_region = (seats.drop_duplicates(["cluster_id", "nuts2"])["nuts2"].value_counts()
                   .reindex(regions.index, fill_value=0))
    members = printed[["row", "members"]].dropna()
    return {
        "stage": pd.DataFrame({"category": stages.index.astype(str), "clusters": stages.to_numpy()}),
        "founding_year": pd.DataFrame({"category": years.index.astype(str), "clusters": years.to_numpy()}),
        "seat_nuts2": pd.DataFrame({"category": [regions[c] for c in seat_region.index],
                                    "clusters": seat_region.to_numpy()}),
        "members": pd.DataFrame({"category": "row " + members["row"].astype(str),
                                 "clusters": members["members"].astype(int).to_numpy()}),
    }


def figure_overview(width: str = "double"):
    """Four panels: BSMEPA stage, founding year, seat region, member counts (house style)."""
    from matplotlib.ticker import MaxNLocator

    from .. import figures

    tables = overview_tables()
    fig, axes = figures.new_figure(width, nrows=2, ncols=2, height_mm=130)
    colour = figures.OKABE_ITO["blue"]
    stage, year, region, members = (tables[k] for k in ("stage", "founding_year", "seat_nuts2", "members"))
    axes[0, 0].bar(stage["category"], stage["clusters"], color=colour)
    axes[0, 0].set_title("Development stage (BSMEPA)")
    figures.set_ylabel(axes[0, 0], "Clusters", "number")
    axes[0, 1].bar(year["category"].astype(int), year["clusters"], color=colour)
    axes[0, 1].set_title("Founding year")
    figures.set_ylabel(axes[0, 1], "Clusters", "number")
    figures.set_time_xlabel(axes[0, 1])
    axes[1, 0].barh(region["category"], region["clusters"], color=colour)
    axes[1, 0].set_title("Seat planning region (NUTS 2)")
    figures.set_xlabel(axes[1, 0], "Clusters", "number")
    axes[1, 1].hist(members["clusters"], bins=range(0, 70, 5), color=colour)
    axes[1, 1].set_title("Number of members")
    figures.set_xlabel(axes[1, 1], "Members", "organisations per cluster")
    figures.set_ylabel(axes[1, 1], "Clusters", "number")
    for ax in axes.flat:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].tick_params(axis="x", labelrotation=20)
    figures.add_source_note(fig, f"Source: {SOURCES}; seats via NSI EKATTE (data/geography). "
                                 f"{registry.bsmepa_coverage()['text']}.")
    plotted = pd.concat([t.assign(panel=name) for name, t in tables.items()], ignore_index=True)
    return fig, plotted[["panel", "category", "clusters"]]
