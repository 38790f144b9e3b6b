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

from .. import registry
from ..params import ParameterError, check_alpha
from ..stats.distribution import median_bootstrap_ci, share_in_range
from . import _common
from ._common import Analysis, finish_rows

NOTEBOOK = "h8_cluster_size.ipynb"
HYPOTHESIS = "H8"
CLAIM_ID = "C08"
CLAIM = ("Member counts are known for 43 clusters, 3 have foreign members, the largest (63) is "
         "the Electric Vehicles Industrial Cluster, the smallest have 6-7, and most have between "
         "10 and 30 members (guide, seed line 203).")
GUIDE = {"known": 43, "foreign": 3, "largest": 63, "smallest": (6, 7)}
DEFAULTS = dict(low=10, high=30, n_boot=9999, seed=0, alpha=0.05)
SOURCE = ("Good Practices Guide on Clusters and Technology Transfers - Bulgaria (2018), BSMEPA "
          "annex (data of 22 April 2018)")
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
            "note": pd.NA}
    base.update(fields)
    return base


def run(**parameters) -> Analysis:
    """Run H8; parameters as :data:`DEFAULTS` (unknown names raise ParameterError)."""
    unknown = set(parameters) - set(DEFAULTS)
    if unknown:
        raise ParameterError(f"unknown parameter(s) {sorted(unknown)}; valid: {sorted(DEFAULTS)}")
    p = check_parameters(**{**DEFAULTS, **parameters})
    ci = 1 - p["alpha"]
    low, high = p["low"], p["high"]
    m = member_table()
    known = m.dropna(subset=["members"])
    values = known["members"].astype(float)
    n_printed, n_known = len(m), len(known)
    at_least = known[known["members_at_least"].fillna(False).astype(bool)]

    # --- the guide's specific statements ------------------------------------------------------
    n_missing = 19
    foreign = m.dropna(subset=["foreign_members"])
    n_foreign_count_cell = int((foreign["foreign_source"] == "count cell").sum())
    top = known.loc[values.idxmax()]
    smallest = known[values == values.min()]
    small67 = known[values.isin(list(GUIDE["smallest"]))]
    checks = [
        _row(test="member counts known (guide: 43)", method="count of printed rows with a member count",
             effect_name="clusters with a known member count", effect=float(n_known), n=n_printed,
             unit="clusters", h0="-", h1="member counts are known for 43 clusters",
             verdict="inconclusive",
             verdict_text=(f"{n_known} of the {n_printed} printed rows give a member count; the 19 "
                           f"missing rows would need {GUIDE['known'] - n_known} counts to reach the "
                           "guide's 43, so the figure cannot be checked."
                           if n_known < GUIDE["known"] <= n_known + n_missing else
                           f"{n_known} of the {n_printed} printed rows give a member count.")),
        _row(test="clusters with foreign members (guide: 3)",
             method="printed rows with a foreign-member count, from the count cell or the member-type text",
             effect_name="clusters with foreign members", effect=float(len(foreign)),
             statistic=float(n_foreign_count_cell), n=n_printed, unit="clusters", h0="-",
             h1="3 clusters have foreign members",
             verdict="supported" if len(foreign) == GUIDE["foreign"] else "partly",
             verdict_text=(f"{n_foreign_count_cell} rows state foreign members in the count cell "
                           f"(rows {', '.join(map(str, foreign.loc[foreign['foreign_source'] == 'count cell', 'row']))}), "
                           "matching the guide's 3; but the member-type text of rows "
                           f"{', '.join(map(str, foreign.loc[foreign['foreign_source'] != 'count cell', 'row']))} "
                           f"names foreign members too, so at least {len(foreign)} clusters have them."),
             note="statistic = rows with the foreign count in the count cell"),
        _row(test="largest cluster (guide: 63, Electric Vehicles Industrial Cluster)",
             method="maximum member count over the printed rows",
             effect_name="largest member count", effect=float(top["members"]), n=n_known,
             unit="members", h0="-", h1="the largest cluster has 63 members (EVIC)",
             verdict="supported" if int(top["members"]) == GUIDE["largest"] else "not supported",
             verdict_text=f"Row {int(top['row'])} ({top['name']}) has {int(top['members'])} members, "
                          "the largest printed count; a missing row could in principle be larger."),
        _row(test="smallest clusters (guide: 6-7 participants)",
             method="minimum member count over the printed rows",
             effect_name="smallest member count", effect=float(values.min()), n=n_known,
             unit="members", h0="-", h1="the smallest clusters have 6-7 members",
             verdict="supported" if int(values.min()) in GUIDE["smallest"] else "not supported",
             verdict_text=(f"The smallest printed count is {int(values.min())} (row "
                           f"{', '.join(map(str, smallest['row']))}); {len(small67)} clusters have 6 or 7 "
                           f"(rows {', '.join(map(str, small67['row']))}).")),
    ]
    rows = [pd.DataFrame(checks)]

    # --- median ------------------------------------------------------------------------------
    med = median_bootstrap_ci(values, n_boot=p["n_boot"], seed=p["seed"], ci_level=ci, unit="members")
    inside = [(lo >= low and hi <= high) if not (pd.isna(lo) or pd.isna(hi)) else None
              for lo, hi in zip(med["ci_low"], med["ci_high"])]
    med["h0"] = "-"
    med["h1"] = f"the typical cluster has between {low:g} and {high:g} members"
    med["verdict"] = ["supported" if ok else (pd.NA if ok is None else "partly") for ok in inside]
    med["verdict_text"] = [
        (f"Median {float(e):g} members, CI {float(lo):g}-{float(hi):g}: "
         + ("inside" if ok else "not wholly inside") + f" [{low:g}, {high:g}].")
        if ok is not None else f"Median {float(e):g} members; this CI is undefined (see note)."
        for e, lo, hi, ok in zip(med["effect"], med["ci_low"], med["ci_high"], inside)]
    rows.append(med)

    # --- share in range --------------------------------------------------------------------------
    def share_rows(vals: pd.Series, label: str) -> pd.DataFrame:
        r = share_in_range(vals, low, high, ci_level=ci, p0=0.5)
        r["test"] = r["test"] + label
        r["h0"] = f"at most half of the clusters have {low:g}-{high:g} members"
        r["h1"] = f"more than half have {low:g}-{high:g} members ('mainly between 10 and 30')"
        share, pv = float(r.loc[0, "effect"]), float(r.loc[0, "p_value"])
        v = "supported" if pv < p["alpha"] else ("not supported" if share <= 0.5 else "inconclusive")
        r["verdict"] = v
        r["verdict_text"] = (f"{int(r.loc[0, 'statistic'])} of {int(r.loc[0, 'n'])} clusters "
                             f"({share:.0%}) have {low:g}-{high:g} members (p = {pv:.3g}"
                             f" for more than half).")
        return r

    rows.append(share_rows(values, ""))
    if len(at_least):
        exact = known[~known["members_at_least"].fillna(False).astype(bool)]["members"].astype(float)
        rows.append(share_rows(exact, " (sensitivity: '13+' rows dropped)"))

    out = pd.concat(rows, ignore_index=True)
    out["claim_id"], out["claim"] = CLAIM_ID, CLAIM
    out["caveats"] = f"{registry.bsmepa_coverage()['text']}; {CAVEATS_MEMBERS}"
    vintage = "2018-04-22 (guide annex data)"
    out = finish_rows(out, hypothesis=HYPOTHESIS, notebook=NOTEBOOK, parameters=p,
                      data_sources=SOURCE, data_vintage=vintage)
    notes = [f"Member counts are printed for {n_known} of the {n_printed} printed rows "
             f"({n_missing} rows are missing from the guide's text).",
             f"Row(s) {', '.join(map(str, at_least['row']))} read '13+': counted as 13 (a lower bound)."
             if len(at_least) else "No '13+' values.",
             "Counts are what the guide's authors found on the clusters' websites in 2018; "
             "members may be firms, universities, NGOs or municipalities alike."]
    return Analysis(rows=out, tables={"members": m}, notes=notes, sources=[SOURCE],
                    vintage=vintage, models={"parameters": p})


def figure_members(analysis: Analysis):
    """Dot plot of every known member count (one dot per cluster, sorted) with the [low, high]
    band shaded; '13+' drawn as an open marker. Returns (fig, data_plotted)."""
    from .. import figures

    p = analysis.models["parameters"]
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
