"""H0: the guide's counts of its own registers (claims C01-C04) against the transcribed annexes.

These are not statistical hypotheses but checks of the guide's arithmetic against its own annexes.
Where 19 BSMEPA rows are missing from the text, a count over the printed rows is a lower bound and
the verdict says whether the guide's number is still possible ("inconclusive") or not.
"""
from __future__ import annotations

import pandas as pd
from scipy import stats as sps

from .. import registry
from ..params import check_alpha
from ..stats._tidy import result_frame, result_row
from ._common import Analysis, finish_rows

GUIDE_DATE = registry.GUIDE_DATA_DATE
SOURCES = f"guide annexes (BULSTAT, Trade Register, BSMEPA lists), data date {GUIDE_DATE}; data/registry/"


def run_h0(alpha: float = 0.05, notebook: str = "00_registry_overview") -> Analysis:
    alpha = check_alpha(alpha)
    comparison = registry.guide_comparison().set_index("statement")
    bsmepa = registry.load_bsmepa()
    printed = bsmepa[bsmepa["row_status"] != "missing_from_source"]
    stages = pd.Series([s for lst in printed["stages"] for s in lst]).value_counts()
    start_up, developing = int(stages.get("start-up", 0)), int(stages.get("developing", 0))
    params = {"alpha": alpha}
    coverage = registry.bsmepa_coverage(bsmepa)
    missing_rows = len(coverage["missing"])
    rows = []

    def add(claim_id, test, effect, guide, verdict, text, n, **extra):
        rows.append(finish_rows(
            result_frame(result_row(test=test, method=extra.pop("method", "count of transcribed rows"),
                                    effect_name=extra.pop("effect_name", "count"), effect=effect, n=n,
                                    unit=extra.pop("unit", "rows"), note=f"guide: {guide}", **extra)),
            hypothesis="H0", notebook=notebook, parameters=params, claim_id=claim_id,
            claim=guide, h0="the guide's number equals the annex's", h1="it differs",
            verdict=verdict, verdict_text=text,
            caveats=coverage["text"],
            data_sources=SOURCES, data_vintage=GUIDE_DATE))

    n_bulstat = int(comparison.loc["clusters registered with BULSTAT", "data_value"])
    add("C01", "BULSTAT register size", n_bulstat, "243 registered with BULSTAT",
        "supported" if n_bulstat == 243 else "not supported",
        f"The BULSTAT annex lists {n_bulstat} rows (239 entities and 4 branches).", n_bulstat)
    n_tr = int(comparison.loc["clusters in the Commercial (Trade) Register", "data_value"])
    add("C01", "Trade Register size", n_tr, "82 in the Commercial Register",
        "supported" if n_tr == 82 else "not supported",
        f"The guide says 82 but its Trade Register annex lists {n_tr} entries.", n_tr)
    n_rows = int(comparison.loc["unions categorised by BSMEPA", "data_value"])
    add("C02", "BSMEPA table size", n_rows, "78 unions in 4 categories",
        "supported" if n_rows == 78 else "not supported",
        f"The BSMEPA annex numbers {n_rows} rows, not 78; 72 less 6 uncategorised gives the guide's "
        "other figure, 66 categorised.", n_rows)
    # "twice as many start-up as developing": exact binomial test of the start-up share among the two
    share = start_up / (start_up + developing)
    test = sps.binomtest(start_up, start_up + developing, p=2 / 3)
    ci = test.proportion_ci(confidence_level=1 - alpha, method="exact")
    consistent = test.pvalue >= alpha
    add("C03", "start-up vs developing", share, "start-up clusters twice as many as developing",
        "supported" if consistent else "not supported",
        f"{start_up} start-up vs {developing} developing printed rows (ratio {start_up / developing:.2f}); "
        f"'twice as many' means a start-up share of 2/3, which the data {'do not reject' if consistent else 'reject'}.",
        start_up + developing, method="exact binomial test of the start-up share against 2/3",
        statistic=start_up, p_value=test.pvalue, effect_name="start-up share of start-up + developing",
        ci_low=ci.low, ci_high=ci.high, ci_level=1 - alpha, unit="share",
        reference="Clopper & Pearson (1934) Biometrika 26:404-413")
    known = int(comparison.loc["founding year known", "data_value"])
    possible = known <= 42 <= known + missing_rows
    add("C04", "founding year known", known, "founding year known for 42 of 66",
        "inconclusive" if possible else "not supported",
        f"The printed rows give a founding year for {known}; with {missing_rows} rows missing the guide's 42 "
        f"is {'possible but cannot be checked' if possible else 'impossible'}.", 47)
    table = pd.concat(rows, ignore_index=True)
    return Analysis(rows=table, tables={"comparison": comparison.reset_index()},
                    notes=[coverage["text"]], sources=[SOURCES],
                    vintage=GUIDE_DATE)


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
