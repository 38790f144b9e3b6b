"""H8 (claim C08): how many members do Bulgaria's clusters have?

The guide (seed line 203): member counts were found for 43 clusters, 3 of them with foreign
participants; the largest (63) is the Electric Vehicles Industrial Cluster, the smallest have 6-7
participants, and "the tendency [is] for the cluster members to be mainly between 10 and 30".

Data: the BSMEPA annex table (``data/registry/bsmepa.csv``), member counts as printed; 19 of its
72 rows (12-18, 31-36, 59-64) are missing from the guide's text, so counts of "known" values are
lower bounds. Row 55 reads "13+" (``members_at_least``): it is counted as 13, and a sensitivity
row drops it (13+ could be above 30).

Tests
    * the median with percentile and BCa bootstrap CIs and the distribution-free order-statistic
      CI (:func:`clusterstats.stats.distribution.median_bootstrap_ci`; Efron & Tibshirani 1993);
    * the share of clusters with ``low`` <= members <= ``high`` with a Wilson CI and the exact
      one-sided binomial test of "more than half" (:func:`~clusterstats.stats.distribution.share_in_range`;
      Wilson 1927, *JASA* 22: 209-212);
    * the guide's specific statements checked against the rows (descriptive).
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from .. import claims, registry
from ..params import ParameterError, check_alpha
from ..stats.distribution import median_bootstrap_ci, share_in_range
from ..context import RunContext
from ..hypothesis import Evidence, Hypothesis
from . import _common
from ._common import finish_rows

NOTEBOOK = "h8_cluster_size.ipynb"
HYPOTHESIS = "H8"
CLAIM_ID = "C08"
CLAIM = claims.load()[CLAIM_ID].claim
DEFAULTS = dict(low=10, high=30, n_boot=9999, seed=0, alpha=0.05)
SOURCE = ("Good Practices Guide on Clusters and Technology Transfers - Bulgaria (2018), BSMEPA "
          "annex (data of 22 April 2018)")
VINTAGE = "2018-04-22 (guide annex data)"
CAVEATS_MEMBERS = ("member counts as the guide's authors found them on websites in 2018; "
                   "row 55 '13+' counted as 13")


def output_name(parameters: dict, stem: str = NOTEBOOK.removesuffix(".ipynb")) -> str:
    """File stem for this run's rows and figures (see :func:`._common.output_name`)."""
    return _common.output_name(parameters, DEFAULTS, stem)


def check_parameters(low=10, high=30, n_boot=9999, seed=0, alpha=0.05) -> dict:
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or value < 0:
            raise ParameterError(f"{name} must be a non-negative number of members, got {value!r}")
    if low > high:
        raise ParameterError(f"low ({low}) must not exceed high ({high})")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ParameterError(f"n_boot must be a whole number of at least 100, got {n_boot!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed must be a non-negative whole number, got {seed!r}")
    return dict(low=low, high=high, n_boot=int(n_boot), seed=int(seed), alpha=check_alpha(alpha))


def member_table() -> pd.DataFrame:
    """The printed BSMEPA rows with their member data: row, name, members, members_at_least,
    foreign_members, foreign_source (where the foreign count was read)."""
    b = registry.load_bsmepa()
    b = b[b["row_status"] != "missing_from_source"]
    out = b[["row", "name", "sector", "members", "members_at_least", "foreign_members",
             "members_raw", "repairs"]].copy()
    out["foreign_source"] = np.where(
        out["foreign_members"].isna(), "",
        np.where(out["repairs"].str.contains("member-type text", regex=False),
                 "member-type text", "count cell"))
    return out.drop(columns="repairs").reset_index(drop=True)


def _row(**fields) -> dict:
    base = {"statistic": pd.NA, "p_value": pd.NA, "ci_low": pd.NA, "ci_high": pd.NA,
            "ci_level": pd.NA, "reference": "descriptive count over the printed rows",
            "note": pd.NA, "h0": "-", "role": "primary"}
    base.update(fields)
    return base


def _rows_list(frame: pd.DataFrame) -> str:
    return ", ".join(map(str, frame["row"]))


def guide_statement_rows(m: pd.DataFrame) -> pd.DataFrame:
    """The guide's specific statements (known counts, foreign members, largest, smallest) as
    rows: each effect is what the printed rows give, each interval what the missing rows allow."""
    known = m.dropna(subset=["members"])
    values = known["members"].astype(float)
    missing = len(registry.bsmepa_coverage()["missing"])
    foreign = m.dropna(subset=["foreign_members"])
    in_count_cell = foreign[foreign["foreign_source"] == "count cell"]
    top = known.loc[values.idxmax()]
    smallest = known[values == values.min()]
    return pd.DataFrame([
        _row(test="member counts known", part="C08.known",
             method="printed rows with a member count; the interval adds every missing row",
             effect_name="clusters with a known member count", effect=float(len(known)),
             ci_low=float(len(known)), ci_high=float(len(known) + missing), n=len(m), unit="clusters",
             h1="member counts are known for the guide's number of clusters",
             note=f"{missing} rows of the annex are missing from the guide's text"),
        _row(test="clusters with foreign members", part="C08.foreign",
             method="printed rows with a foreign-member count, from the count cell or the member-type text",
             effect_name="clusters with foreign members", effect=float(len(foreign)),
             statistic=float(len(in_count_cell)), ci_low=float(len(foreign)),
             ci_high=float(len(foreign) + missing), n=len(m), unit="clusters",
             h1="the guide's number of clusters have foreign members",
             note=(f"statistic = rows stating foreign members in the count cell (rows "
                   f"{_rows_list(in_count_cell)}); the member-type text names them in rows "
                   f"{_rows_list(foreign[foreign['foreign_source'] != 'count cell'])}")),
        _row(test="largest cluster", part="C08.largest", method="maximum member count over the printed rows",
             effect_name="largest member count", effect=float(top["members"]), n=len(known),
             unit="members", h1="the largest cluster (EVIC) has the guide's count",
             note=f"row {int(top['row'])}: {top['name']}; a missing row could in principle be larger"),
        _row(test="smallest clusters", part="C08.smallest", method="minimum member count over the printed rows",
             effect_name="smallest member count", effect=float(values.min()), n=len(known),
             unit="members", h1="the smallest clusters have the guide's 6-7 members",
             note=f"row(s) {_rows_list(smallest)}"),
    ])


def range_rows(values: pd.Series, exact: pd.Series | None, p: dict) -> pd.DataFrame:
    """Share of clusters with ``low``-``high`` members (Wilson CI, one-sided binomial test of
    "more than half"), and the same without the '13+' rows as a sensitivity row."""
    ci, low, high = 1 - p["alpha"], p["low"], p["high"]
    frames = [share_in_range(values, low, high, ci_level=ci, p0=0.5).assign(role="primary")]
    if exact is not None:
        r = share_in_range(exact, low, high, ci_level=ci, p0=0.5).assign(role="sensitivity")
        r["test"] = r["test"] + " (sensitivity: '13+' rows dropped)"
        frames.append(r)
    out = pd.concat(frames, ignore_index=True)
    out["part"] = "C08.range"
    out["h0"] = f"at most half of the clusters have {low:g}-{high:g} members"
    out["h1"] = f"more than half have {low:g}-{high:g} members ('mainly between 10 and 30')"
    return out


def median_rows(values: pd.Series, p: dict) -> pd.DataFrame:
    """The median member count with bootstrap and order-statistic CIs (descriptive)."""
    med = median_bootstrap_ci(values, n_boot=p["n_boot"], seed=p["seed"], ci_level=1 - p["alpha"],
                              unit="members")
    med["h0"], med["h1"], med["role"] = "-", "-", "descriptive"
    return med


NARRATIVE = """\
{% set share = row(part="C08.range", role="primary") %}
{% set known = row(part="C08.known") %}
{% set foreign = row(part="C08.foreign") %}
{% set top = row(part="C08.largest") %}
{% set small = row(part="C08.smallest") %}
{% set med = row(test="median", method="order-statistic*") %}
* **"Mainly between {{ evidence.parameters.low|num }} and {{ evidence.parameters.high|num }}": {{ share.verdict }}.**
  {{ share.statistic|num }} of the {{ share.n|num }} printed counts ({{ share.effect|pct }},
  Wilson interval {{ share|ci }}) lie in the range; one-sided p = {{ share.p_value|p }}
  (Holm within the claim: {{ share.p_holm|p }}). Rule: {{ share.verdict_text }}.
  Under other readings of "mainly": {{ share.verdict_sensitivity }}.
  The median is {{ med.effect|num }} members (order-statistic interval {{ med|ci }}).
* **Largest: {{ top.verdict }}** — {{ top.effect|num }} members ({{ top.note }}).
  **Smallest: {{ small.verdict }}** — {{ small.effect|num }} members ({{ small.note }}).
* **Foreign members: {{ foreign.verdict }}.** {{ foreign.verdict_text }}
  ({{ foreign.note }}).
* **Known member counts: {{ known.verdict }}.** {{ known.effect|num }} of the
  {{ evidence.values.printed|num }} printed rows carry a count; {{ known.verdict_text }}.
"""


class SizeHypothesis(Hypothesis):
    """H8: how many members do Bulgaria's clusters have? (claim C08)"""

    id, notebook, claims = HYPOTHESIS, NOTEBOOK, (CLAIM_ID,)
    defaults = DEFAULTS
    title = "How large are the clusters?"
    narrative_template = NARRATIVE

    _check = staticmethod(check_parameters)

    def compute(self, ctx: RunContext) -> Evidence:
        p = ctx.parameters
        m = member_table()
        known = m.dropna(subset=["members"])
        values = known["members"].astype(float)
        at_least = known["members_at_least"].fillna(False).astype(bool)
        exact = known.loc[~at_least, "members"].astype(float) if at_least.any() else None
        rows = pd.concat([guide_statement_rows(m), median_rows(values, p),
                          range_rows(values, exact, p)], ignore_index=True)
        rows["claim_id"], rows["claim"] = CLAIM_ID, CLAIM
        rows["caveats"] = f"{registry.bsmepa_coverage()['text']}; {CAVEATS_MEMBERS}"
        rows = finish_rows(rows, hypothesis=HYPOTHESIS, notebook=NOTEBOOK, parameters=p,
                           data_sources=SOURCE, data_vintage=VINTAGE, run_id=ctx.name)
        coverage = registry.bsmepa_coverage()
        values_for_text = {"printed": len(m), "known": len(known), "missing": len(coverage["missing"]),
                           "missing_rows": coverage["text"],
                           "at_least_rows": known.loc[at_least, "row"].tolist()}
        return Evidence(rows=rows, tables={"members": m}, sources=[SOURCE], vintage=VINTAGE,
                        parameters=p, values=values_for_text, notes=[
                            "Counts are what the guide's authors found on the clusters' websites in "
                            "2018; members may be firms, universities, NGOs or municipalities alike."])

    def figures(self, evidence: Evidence) -> dict:
        return {"h8_members": figure_members(evidence)}


#: the declared hypothesis: this module's one entry point
hypothesis = SizeHypothesis()


def run(**parameters) -> Evidence:
    """Run H8 (compute and judge, nothing written); parameters as :data:`DEFAULTS`."""
    return hypothesis.run(**parameters)


def figure_members(analysis: Evidence):
    """Dot plot of every known member count (one dot per cluster, sorted) with the [low, high]
    band shaded; '13+' drawn as an open marker. Returns (fig, data_plotted)."""
    from .. import figures

    p = analysis.parameters
    m = analysis.tables["members"].dropna(subset=["members"]).copy()
    m = m.sort_values(["members", "row"], kind="stable").reset_index(drop=True)
    m["members"] = m["members"].astype(int)
    m["rank"] = np.arange(1, len(m) + 1)
    m["at_least"] = m["members_at_least"].fillna(False).astype(bool)
    fig, ax = figures.new_figure("single", 75)
    ax.axhspan(p["low"], p["high"], color="0.9", zorder=0,
               label=f"{p['low']:g}-{p['high']:g} members")
    exact, atl = m[~m["at_least"]], m[m["at_least"]]
    ax.plot(exact["rank"], exact["members"], "o", color="black", ms=3, label="member count")
    if len(atl):
        ax.plot(atl["rank"], atl["members"], "^", mfc="none", color="black", ms=4,
                label="'13+' (at least)")
    figures.set_ylabel(ax, "Members", "number")
    figures.set_xlabel(ax, "Clusters ranked by size", "rank")
    ax.legend(loc="upper left", frameon=False)
    ax.set_ylim(0, None)
    return fig, m[["rank", "row", "name", "members", "at_least"]]
