"""The guide's Diagrams 2–11, Tables 1–2 and two maps, rebuilt from the data.

The *Good Practices Guide on Clusters and Technology Transfers – Bulgaria* (2018) refers to
diagrams whose pictures are not in its text (seed text lines 181–518). Each function below draws
one of them from the package's data in the house style (:mod:`clusterstats.figures`) and returns
``(fig, plotted)``: ``plotted`` is the tidy table drawn, ready for
:func:`clusterstats.figures.save_figure`. ``plotted.attrs`` carries ``sources`` and ``vintage``
for that call. The notebook runs them through :data:`hypothesis`, a declared hypothesis with
no claims of its own (figures only), so every file it writes is named from its run::

    from clusterstats.analysis import replication as rep

    H = rep.hypothesis
    ctx = H.context(width="single")                # run "guide_replication__width-single"
    evidence = H.compute(ctx)                      # Tables 1-2 (nothing judged: no claims)
    H.save(ctx, evidence)                          # figures/<run>/<figure>.*, figures/<run>/tables/

Where the guide's register tables are incomplete (19 of the 72 numbered BSMEPA rows are not in its
text) the figure says so; nothing is filled in. Diagrams 10–11 need the Community Innovation
Survey 2014 (Eurostat ``inn_cis9_*``), which was not recorded offline: without a file they draw a
panel that says so and how to get it, never a number.

=================  =========================================  ==================================
figure name        guide                                      data
=================  =========================================  ==================================
guide_d02_stages   Diagram 2, clusters by development stage  BSMEPA annex (data/registry)
guide_d03_age      Diagram 3, clusters by age                 BSMEPA founding years; BULSTAT
                                                              codes dated (analysis.formation)
guide_d04_seats    Diagram 4, clusters by headquarters        BSMEPA seats via EKATTE
guide_d05_sectors  Diagram 5, sectors with most clusters      BSMEPA sector text, reviewed NACE map
guide_d06_members  Diagram 6, clusters by number of members  BSMEPA member counts
guide_d07_bronze   Diagram 7 / Table 1, ECEI Bronze label     Table 1 (data/registry)
guide_d08_rd_series  Diagram 8, GERD % of GDP 2000–2016       Eurostat rd_e_gerdtot
guide_d09_rd_countries  Diagram 9, GERD % of GDP 2016, EU28   Eurostat rd_e_gerdtot
guide_d10_innovation  Diagram 10, new-to-market innovators    CIS 2014 (inn_cis9_*) if given
guide_d11_innovation_size  Diagram 11, the same by size      CIS 2014 (inn_cis9_*) if given
guide_map_rd_intensity  (new) GERD % of GDP by NUTS 2, 2016   Eurostat tgs00042, GISCO NUTS 2016
guide_map_clusters  (new) clusters per NUTS 2 region          BSMEPA seats, GISCO NUTS 2016
=================  =========================================  ==================================
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from .. import nuts, registry
from ..context import RunContext
from ..hypothesis import Evidence, Hypothesis
from ..provenance import atomic_write_text

NOTEBOOK = "guide_replication.ipynb"
GUIDE = "Good Practices Guide on Clusters and Technology Transfers - Bulgaria (2018)"
GUIDE_DATA_DATE = registry.GUIDE_DATA_DATE  # the annexes' data date (guide p. 54, footnotes 9-10)
STAGE_ORDER = ["start-up", "developing", "developed", "uncategorised"]

REGISTRY_SOURCE = {"publisher": GUIDE, "dataset": "annex: clusters categorised by BSMEPA",
                   "file": "data/registry/bsmepa.csv", "vintage": GUIDE_DATA_DATE}
def note_bsmepa() -> str:
    """The source line of every figure drawn from the BSMEPA table, with its coverage counted."""
    return (f"Source: {GUIDE}, annex 'clusters categorised by BSMEPA' (data of "
            f"{GUIDE_DATA_DATE}); {registry.bsmepa_coverage()['text']}.")

#: Figure name -> function; the notebook and the tests walk this table.
FIGURES: dict[str, Callable[..., tuple[Any, pd.DataFrame]]] = {}


def _figure(name: str):
    def register(func):
        FIGURES[name] = func
        func.figure_name = name
        return func
    return register


def _finish(plotted: pd.DataFrame, sources: list, vintage: str | None) -> pd.DataFrame:
    plotted = plotted.reset_index(drop=True)
    plotted.attrs = {"sources": sources, "vintage": vintage}
    return plotted


def _snapshot_source(frame: pd.DataFrame, **extra) -> dict[str, Any]:
    """A save_figure source entry from a snapshot frame's manifest attrs."""
    a = frame.attrs or {}
    src = {"publisher": "Eurostat", "dataset": a.get("dataset") or a.get("name"),
           "file": f"data/{a.get('snapshot_folder', 'eurostat')}/{a.get('file')}",
           "sha256": a.get("sha256"), "vintage": a.get("vintage"),
           "vintage_kind": a.get("vintage_kind")}
    src.update(extra)
    return {k: v for k, v in src.items() if v is not None}


def _narrow(width) -> bool:
    """Below 120 mm a figure gets its narrow layout (stacked panels, horizontal bars, wrapped
    labels): long category labels and many bars do not fit a single column side by side."""
    from .. import figures as cf
    return cf._width_mm(width) < 120


def _wrap(text: str, chars: int) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(str(text), chars, break_long_words=False)) or str(text)


def _printed_bsmepa(bsmepa: pd.DataFrame | None = None) -> pd.DataFrame:
    b = registry.load_bsmepa() if bsmepa is None else bsmepa
    return b[b["row_status"] != "missing_from_source"]


# ------------------------------------------------------------------------------------------------
# Diagram 2: clusters by development stage
# ------------------------------------------------------------------------------------------------
def stage_counts(bsmepa: pd.DataFrame | None = None) -> pd.DataFrame:
    """Clusters per BSMEPA stage: printed rows, and the missing rows whose place in the table
    (which is sorted by stage) fixes their stage.

    One row per (stage, status). ``status``: ``printed`` (a cluster with two stages counts in
    both), ``missing, stage fixed by table order`` (a missing row between two printed rows of
    the same stage), ``missing, stage open`` (between rows of two stages; ``stage`` names both).
    """
    b = registry.load_bsmepa() if bsmepa is None else bsmepa
    printed = b[b["row_status"] != "missing_from_source"]
    counts = pd.Series([s for lst in printed["stages"] for s in lst]).value_counts()
    rows = [{"stage": s, "status": "printed", "clusters": int(counts.get(s, 0))} for s in STAGE_ORDER]
    # A missing row inherits a stage only when the printed rows on both sides agree on it.
    first_stage = dict(zip(printed["row"], printed["stage"].astype(str)))
    missing = b.loc[b["row_status"] == "missing_from_source", "row"].tolist()
    fixed: dict[str, int] = {}
    open_: dict[str, int] = {}
    for r in missing:
        before = max((p for p in first_stage if p < r), default=None)
        after = min((p for p in first_stage if p > r), default=None)
        a = first_stage.get(before)
        z = first_stage.get(after)
        if a is not None and a == z:
            fixed[a] = fixed.get(a, 0) + 1
        else:
            key = " or ".join(s for s in (a, z) if s)
            open_[key] = open_.get(key, 0) + 1
    rows += [{"stage": s, "status": "missing, stage fixed by table order", "clusters": n}
             for s, n in fixed.items()]
    rows += [{"stage": s, "status": "missing, stage open", "clusters": n} for s, n in open_.items()]
    out = pd.DataFrame(rows)
    out.attrs["two_stage_rows"] = printed.loc[printed["stages"].map(len) > 1, "row"].tolist()
    return out


@_figure("guide_d02_stages")
def diagram_02_stages(width: str = "single", bsmepa: pd.DataFrame | None = None):
    """Diagram 2: clusters by BSMEPA development stage, the 19 missing rows shown apart."""
    from .. import figures as cf

    data = stage_counts(bsmepa)
    fig, ax = cf.new_figure(width, 78 if width == "single" else 70)
    y = np.arange(len(STAGE_ORDER))[::-1]
    pos = dict(zip(STAGE_ORDER, y))
    printed = data[data["status"] == "printed"].set_index("stage")["clusters"]
    ax.barh([pos[s] for s in STAGE_ORDER], printed.reindex(STAGE_ORDER), color=cf.OKABE_ITO["blue"],
            height=0.65, label="printed rows")
    fixed = data[data["status"] == "missing, stage fixed by table order"]
    for _, r in fixed.iterrows():
        ax.barh(pos[r["stage"]], r["clusters"], left=printed[r["stage"]], height=0.65, color="white",
                edgecolor=cf.OKABE_ITO["blue"], hatch="////", linewidth=0.6,
                label="missing rows; stage from table order")
    for _, r in data[data["status"] == "printed"].iterrows():
        extra = fixed.loc[fixed["stage"] == r["stage"], "clusters"].sum()
        text = f"{r['clusters']}" + (f" + {extra}" if extra else "")
        ax.annotate(text, (r["clusters"] + extra, pos[r["stage"]]), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=cf.SMALL_FONT_PT)
    ax.set_yticks(y, STAGE_ORDER)
    ax.grid(axis="y", visible=False)
    cf.set_xlabel(ax, "Clusters", "number")
    ax.set_xlim(0, float((data.groupby("stage")["clusters"].sum()).max()) * 1.18)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    # above the axes: inside it would cover the short bars and their counts
    fig.legend(uniq.values(), uniq.keys(), loc="outside upper center", ncols=2)
    two = data.attrs.get("two_stage_rows", [])
    open_ = data[data["status"] == "missing, stage open"]
    open_text = "; ".join(f"{int(n)} missing rows lie between {s} rows, stage unknown"
                          for s, n in zip(open_["stage"], open_["clusters"]))
    cf.add_source_note(fig, note_bsmepa() + (f" Row {two[0]} carries two stages and counts in both. "
                                           if two else " ") + (open_text + ". " if open_text else "")
                       + f"The guide speaks of 78 unions; the annex numbers "
                         f"{registry.bsmepa_coverage(bsmepa)['total']}.")
    return fig, _finish(data, [REGISTRY_SOURCE], GUIDE_DATA_DATE)


# ------------------------------------------------------------------------------------------------
# Diagram 3: clusters by age (founding year), with the registration-dated series
# ------------------------------------------------------------------------------------------------
def founding_year_counts(bsmepa: pd.DataFrame | None = None) -> pd.DataFrame:
    """Printed BSMEPA clusters per founding year (years with none included as 0)."""
    years = _printed_bsmepa(bsmepa)["founding_year"].dropna().astype(int)
    span = range(int(years.min()), int(years.max()) + 1)
    counts = years.value_counts().reindex(span, fill_value=0)
    return pd.DataFrame({"year": list(span), "count": counts.to_numpy().astype(int)})


@_figure("guide_d03_age")
def diagram_03_age(width: str = "double", cluster_table: pd.DataFrame | None = None,
                   bsmepa: pd.DataFrame | None = None, rounding: str = "round"):
    """Diagram 3: founding years the guide gives (BSMEPA), beside registration years dated from
    the BULSTAT codes of all registered cluster associations
    (:func:`clusterstats.analysis.formation.date_registrations`)."""
    from matplotlib.ticker import MaxNLocator

    from .. import figures as cf
    from . import formation

    found = founding_year_counts(bsmepa)
    table = registry.clusters() if cluster_table is None else cluster_table
    _, dated = formation.date_registrations(table, n_boot=0, rounding=rounding)
    reg = formation.registration_counts(dated, after_range="exclude")
    upper = formation.registration_counts(dated, after_range="last_year")
    printed = _printed_bsmepa(bsmepa)
    n_known = int(printed["founding_year"].notna().sum())

    narrow = _narrow(width)
    fig, axes = (cf.new_figure(width, 150, nrows=2) if narrow else cf.new_figure(width, 80, ncols=2))
    ax0, ax1 = axes
    ax0.bar(found["year"], found["count"], width=0.8, color=cf.OKABE_ITO["blue"])
    ax0.set_title(f"Founding year given in the BSMEPA annex\n({n_known} of {len(printed)} printed rows)",
                  fontsize=cf.BASE_FONT_PT)
    ax1.bar(reg["year"], reg["count"], width=0.8, color=cf.OKABE_ITO["bluish_green"],
            label="dated")
    extra = upper["count"].to_numpy() - reg["count"].to_numpy()
    ax1.bar(upper["year"], extra, bottom=reg["count"], width=0.8, color="white",
            edgecolor=cf.OKABE_ITO["bluish_green"], hatch="////", linewidth=0.6,
            label=f"{reg.attrs['after_range']} codes after the\ncalibrated range (year ≥ {int(upper['year'].max())})")
    ax1.set_title("Registration year dated from the BULSTAT code\n(all registered cluster associations)",
                  fontsize=cf.BASE_FONT_PT)
    ax1.legend(loc="upper left")
    for ax in axes:
        cf.set_time_xlabel(ax, "Year")
        cf.set_ylabel(ax, "New clusters", "number per year")
        ax.grid(axis="x", visible=False)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_ylim(0, upper["count"].max() * 1.45)  # headroom: the legend sits above the tallest bar
    # the guide's diagram is "by age": age in 2018 along the top of the founding-year panel
    secondary = ax0.secondary_xaxis("top", functions=(lambda y: 2018 - y, lambda a: 2018 - a))
    secondary.xaxis.set_major_locator(MaxNLocator(integer=True))
    secondary.set_xlabel("Age in 2018 (years)", fontsize=cf.SMALL_FONT_PT)
    cf.add_source_note(fig, (
        note_bsmepa() + " Second panel: BULSTAT annex (243 codes, branches dropped), codes dated by an "
        "isotonic fit of code on the known founding years (clusterstats.analysis.formation); "
        f"{reg.attrs['before_range']} codes older than the first calibration point and "
        f"{reg.attrs['undated']} undated codes are not shown. Rounding: {rounding}."))
    plotted = pd.concat([
        found.assign(series="founding year (BSMEPA annex)"),
        reg.assign(series="registration year dated from BULSTAT code"),
        upper.assign(series="registration year, codes after the calibrated range in the last year"),
    ], ignore_index=True)
    sources = [REGISTRY_SOURCE,
               {"publisher": GUIDE, "dataset": "annex: clusters registered in BULSTAT",
                "file": "data/registry/bulstat.csv", "vintage": GUIDE_DATA_DATE}]
    return fig, _finish(plotted, sources, GUIDE_DATA_DATE)


# ------------------------------------------------------------------------------------------------
# Diagram 4: clusters by seat
# ------------------------------------------------------------------------------------------------
def seat_counts(cluster_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Printed BSMEPA clusters per seat town: ``first_named`` (the town the seat names first) and
    ``also_named`` (the second town of a two-town seat). Sorted by total, then town."""
    table = registry.clusters() if cluster_table is None else cluster_table
    bs = table[table["in_bsmepa"]]
    seats = registry.cluster_seats(bs)
    seats = seats.assign(role=np.where(seats["seat_order"] == 1, "first_named", "also_named"))
    tab = (seats.groupby(["name_latin", "district_name_latin", "nuts2", "role"]).size()
           .unstack("role", fill_value=0).reindex(columns=["first_named", "also_named"], fill_value=0)
           .reset_index().rename(columns={"name_latin": "town", "district_name_latin": "district"}))
    tab["total"] = tab["first_named"] + tab["also_named"]
    # a small town is easier to place with its district
    tab["label"] = [t if d.startswith(t) else f"{t} ({d} district)" for t, d in zip(tab["town"], tab["district"])]
    tab = tab.sort_values(["total", "first_named", "town"], ascending=[False, False, True])
    tab.attrs.update(clusters=len(bs), with_seat=int(seats["cluster_id"].nunique()),
                     two_town=int((seats["seat_order"] > 1).sum()))
    return tab.reset_index(drop=True)


@_figure("guide_d04_seats")
def diagram_04_seats(width: str = "single", cluster_table: pd.DataFrame | None = None):
    """Diagram 4: clusters by the town of their seat; the second town of a two-town seat apart."""
    from .. import figures as cf

    data = seat_counts(cluster_table)
    fig, ax = cf.new_figure(width, 30 + 4.2 * len(data))
    y = np.arange(len(data))[::-1]
    ax.barh(y, data["first_named"], height=0.7, color=cf.OKABE_ITO["blue"], label="seat (first town named)")
    ax.barh(y, data["also_named"], left=data["first_named"], height=0.7, color="white",
            edgecolor=cf.OKABE_ITO["blue"], hatch="////", linewidth=0.6,
            label="second town of a two-town seat")
    for yi, total in zip(y, data["total"]):
        ax.annotate(str(int(total)), (total, yi), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=cf.SMALL_FONT_PT)
    ax.set_yticks(y, data["label"])
    ax.grid(axis="y", visible=False)
    ax.set_xlim(0, data["total"].max() * 1.12)
    cf.set_xlabel(ax, "Clusters", "number")
    ax.legend(loc="lower right")
    a = data.attrs
    cf.add_source_note(fig, note_bsmepa() + f" {a['with_seat']} of the {a['clusters']} printed clusters "
                       f"name a seat; {a['two_town']} name two towns. Towns resolved through NSI EKATTE.")
    return fig, _finish(data, [REGISTRY_SOURCE, "NSI EKATTE (data/geography)"], GUIDE_DATA_DATE)


# ------------------------------------------------------------------------------------------------
# Diagram 5: sectors with the most clusters
# ------------------------------------------------------------------------------------------------
def sector_counts() -> pd.DataFrame:
    """Printed BSMEPA clusters per NACE group of the reviewed sector map
    (``data/registry/sector_nace_map.csv``), with how many name ICT in their sector text and how
    many were mapped with low confidence (two sectors named: the first taken)."""
    from . import specialisation

    cs = specialisation.cluster_sectors()
    cs = cs[cs["sector"].notna() & cs["sector"].ne("")]
    tab = (cs.groupby("nace_group")
           .agg(clusters=("cluster_id", "size"), naming_ict=("ict", "sum"),
                low_confidence=("confidence", lambda c: int((c == "low").sum())))
           .reset_index())
    tab["label"] = [specialisation.GROUP_NAMES.get(g, "not mappable to one industry")
                    + ("" if g == "unmappable" else f" ({g})") for g in tab["nace_group"]]
    tab = tab.sort_values(["clusters", "nace_group"], ascending=[False, True]).reset_index(drop=True)
    tab.attrs["clusters"] = len(cs)
    return tab


@_figure("guide_d05_sectors")
def diagram_05_sectors(width: str = "double"):
    """Diagram 5: clusters by industry (NACE Rev. 2 group), the ICT-naming part marked."""
    from .. import figures as cf

    data = sector_counts()
    narrow = _narrow(width)
    fig, ax = cf.new_figure(width, (40 + 9 * len(data)) if narrow else (24 + 6 * len(data)))
    y = np.arange(len(data))[::-1]
    ax.barh(y, data["clusters"], height=0.7, color=cf.OKABE_ITO["sky_blue"], label="all clusters")
    ax.barh(y, data["naming_ict"], height=0.7, color=cf.OKABE_ITO["blue"],
            label="of which the sector text names ICT or telecommunications")
    for yi, n in zip(y, data["clusters"]):
        ax.annotate(str(int(n)), (n, yi), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=cf.SMALL_FONT_PT)
    ax.set_yticks(y, [_wrap(lab, 24) for lab in data["label"]] if narrow else data["label"])
    ax.grid(axis="y", visible=False)
    ax.set_xlim(0, data["clusters"].max() * 1.12)
    cf.set_xlabel(ax, "Clusters", "number")
    if narrow:
        fig.legend(loc="outside upper center", ncols=1)
    else:
        ax.legend(loc="lower right")
    low = int(data["low_confidence"].sum())
    cf.add_source_note(fig, note_bsmepa() + f" Free-text sectors of the {data.attrs['clusters']} "
                       "printed clusters with a sector, grouped into NACE Rev. 2 groups by the "
                       f"reviewed map data/registry/sector_nace_map.csv ({low} texts name two "
                       "sectors: the first is taken).")
    sources = [REGISTRY_SOURCE, {"publisher": "clusterstats", "dataset": "reviewed sector -> NACE map",
                                 "file": "data/registry/sector_nace_map.csv"}]
    return fig, _finish(data, sources, GUIDE_DATA_DATE)


# ------------------------------------------------------------------------------------------------
# Diagram 6: clusters by number of members
# ------------------------------------------------------------------------------------------------
MEMBER_BINS = [(1, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69)]


def member_bins(bsmepa: pd.DataFrame | None = None) -> pd.DataFrame:
    """Printed BSMEPA clusters per member-count class (1–9, 10–19, …); ``at_least`` counts the
    clusters whose count is a lower bound ("13+"), which may belong to a higher class."""
    p = _printed_bsmepa(bsmepa)
    known = p.dropna(subset=["members"])
    m = known["members"].astype(int)
    at_least = known["members_at_least"].fillna(False).astype(bool)
    if m.max() > MEMBER_BINS[-1][1]:
        raise ValueError(f"a member count of {m.max()} lies above the last class; extend MEMBER_BINS")
    rows = []
    for lo, hi in MEMBER_BINS:
        inside = m.between(lo, hi)
        rows.append({"members_from": lo, "members_to": hi, "label": f"{lo}–{hi}",
                     "exact": int((inside & ~at_least).sum()), "at_least": int((inside & at_least).sum())})
    out = pd.DataFrame(rows)
    out["clusters"] = out["exact"] + out["at_least"]
    out.attrs.update(known=len(known), printed=len(p))
    return out


@_figure("guide_d06_members")
def diagram_06_members(width: str = "single", bsmepa: pd.DataFrame | None = None):
    """Diagram 6: clusters by number of members (classes of ten); a count printed as "13+" is a
    lower bound and drawn hatched."""
    from .. import figures as cf

    data = member_bins(bsmepa)
    fig, ax = cf.new_figure(width, 70)
    x = np.arange(len(data))
    ax.bar(x, data["exact"], width=0.75, color=cf.OKABE_ITO["blue"], label="member count given")
    ax.bar(x, data["at_least"], bottom=data["exact"], width=0.75, color="white",
           edgecolor=cf.OKABE_ITO["blue"], hatch="////", linewidth=0.6,
           label="given as a lower bound ('13+')")
    ax.set_xticks(x, data["label"])
    ax.grid(axis="x", visible=False)
    from matplotlib.ticker import MaxNLocator
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    cf.set_xlabel(ax, "Members", "number of member organisations")
    cf.set_ylabel(ax, "Clusters", "number")
    ax.legend(loc="upper right")
    cf.add_source_note(fig, note_bsmepa() + f" Member counts known for {data.attrs['known']} of the "
                       f"{data.attrs['printed']} printed rows.")
    return fig, _finish(data, [REGISTRY_SOURCE], GUIDE_DATA_DATE)


# ------------------------------------------------------------------------------------------------
# Diagram 7 / Table 1: the ECEI Bronze label
# ------------------------------------------------------------------------------------------------
def bronze_label_table(bronze: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 1 with ``ict`` (field is ICT) and ``valid_at_data_date`` (label still valid on the
    guide's data date, 22 April 2018), sorted by field then expiry."""
    b = registry.load_bronze_label() if bronze is None else bronze
    out = b[["row", "name", "field", "valid_until"]].copy()
    out["ict"] = out["field"].eq("ICT")
    out["valid_at_data_date"] = out["valid_until"] >= pd.Timestamp(GUIDE_DATA_DATE)
    return out.sort_values(["ict", "field", "valid_until"], ascending=[False, True, True]) \
        .reset_index(drop=True)


@_figure("guide_d07_bronze")
def diagram_07_bronze(width: str = "double", bronze: pd.DataFrame | None = None):
    """Diagram 7: Bulgarian clusters with the ECEI Bronze label (Table 1) by field, with the date
    each label ran until; ICT highlighted and the guide's data date marked."""
    from .. import figures as cf

    from matplotlib.lines import Line2D

    data = bronze_label_table(bronze)
    narrow = _narrow(width)
    fig, ax = cf.new_figure(width, (50 + 14 * len(data)) if narrow else (34 + 7.5 * len(data)))
    y = np.arange(len(data))[::-1]
    colours = [cf.OKABE_ITO["vermillion"] if ict else cf.OKABE_ITO["blue"] for ict in data["ict"]]
    markers = ["o" if ok else "X" for ok in data["valid_at_data_date"]]
    for yi, d, c, mk in zip(y, data["valid_until"], colours, markers):
        ax.plot([d], [yi], marker=mk, color=c, linestyle="none", markersize=5, zorder=3)
    date = pd.Timestamp(GUIDE_DATA_DATE)
    ax.axvline(date, color="#333333", lw=0.8, ls="--")
    ax.annotate("guide's data date,\n22 Apr 2018" if narrow else "guide's data date, 22 Apr 2018",
                (date, len(data) - 0.45), xytext=(-3, 0),
                textcoords="offset points", fontsize=cf.SMALL_FONT_PT, ha="right", va="center")
    # name on the first line, field on the second: one long line would squeeze the plot away
    chars = 28 if narrow else 80
    ax.set_yticks(y, [f"{_wrap(n, chars)}\n{_wrap(f, chars)}" for n, f in zip(data["name"], data["field"])])
    ax.tick_params(axis="y", labelsize=cf.SMALL_FONT_PT)
    ax.set_ylim(-0.6, len(data) - 0.1)
    ax.set_xlim(pd.Timestamp("2014-10-01"), pd.Timestamp("2019-06-30"))
    cf.set_xlabel(ax, "Label valid until", "date")
    import matplotlib.dates as mdates
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    fig.legend(handles=[
        Line2D([], [], color=cf.OKABE_ITO["vermillion"], marker="o", ls="none", label="field: ICT"),
        Line2D([], [], color=cf.OKABE_ITO["blue"], marker="o", ls="none", label="other fields"),
        Line2D([], [], color="#555555", marker="X", ls="none", label="expired before the guide's data date")],
        loc="outside upper center", ncols=1 if narrow else 3)
    n_valid = int(data["valid_at_data_date"].sum())
    cf.add_source_note(fig, (f"Source: {GUIDE}, Table 1 (ECEI Bronze label, data of April 2018), "
                             f"data/registry/bronze_label.csv. {len(data)} labels, "
                             f"{int(data['ict'].sum())} in ICT; {n_valid} still valid on the guide's "
                             "data date. Award dates are not in the table."))
    plotted = data.assign(valid_until=data["valid_until"].dt.strftime("%Y-%m-%d"))
    src = {"publisher": GUIDE, "dataset": "Table 1, Bulgarian clusters with the ECEI Bronze label",
           "file": "data/registry/bronze_label.csv", "vintage": "2018-04"}
    return fig, _finish(plotted, [src], "2018-04")


# ------------------------------------------------------------------------------------------------
# Diagrams 8–9: R&D expenditure, % of GDP (Eurostat rd_e_gerdtot)
# ------------------------------------------------------------------------------------------------
def _gerd() -> pd.DataFrame:
    from . import rd_national
    return rd_national.gerd_intensity()


def _gerd_source() -> dict[str, Any]:
    from . import rd_national
    return _snapshot_source(rd_national._raw(), filters={"sectperf": "TOTAL", "unit": "PC_GDP"})


@_figure("guide_d08_rd_series")
def diagram_08_rd_series(width: str = "single", country: str = "BG", reference: str = "EU28",
                         start: int = 2000, end: int = 2016):
    """Diagram 8: GERD as % of GDP, ``country`` and ``reference``, ``start``–``end``; Eurostat
    flags marked (open marker = qualified value, letters beside the point)."""
    from .. import figures as cf

    g = _gerd()
    data = g[g["geo"].isin([country, reference]) & g["year"].between(start, end)].copy()
    missing = [geo for geo in (country, reference) if geo not in set(data["geo"])]
    if missing:
        raise ValueError(f"rd_e_gerdtot (PC_GDP, TOTAL) has no values for {missing} in {start}–{end}")
    fig, ax = cf.new_figure(width, 72)
    for geo, colour in ((country, cf.OKABE_ITO["vermillion"]), (reference, cf.OKABE_ITO["blue"])):
        cf.plot_series_with_flags(ax, data[data["geo"] == geo], x="year", y="value", flag="flag",
                                  label=geo, color=colour, legend_kw={"loc": "center right"})
    ax.set_ylim(0, data["value"].max() * 1.15)
    cf.set_ylabel(ax, "GERD", "% of GDP")
    cf.set_time_xlabel(ax)
    src = _gerd_source()
    cf.add_source_note(fig, f"Source: Eurostat rd_e_gerdtot (all sectors, % of GDP), bulk file recorded "
                       f"{src.get('vintage')}.")
    return fig, _finish(data.assign(unit="PC_GDP"), [src], src.get("vintage"))


@_figure("guide_d09_rd_countries")
def diagram_09_rd_countries(width: str = "double", year: int = 2016, country: str = "BG",
                            reference: str = "EU28"):
    """Diagram 9: GERD % of GDP in ``year`` for every EU28 member state (bars, ``country``
    highlighted), the ``reference`` aggregate as a line; flag letters under the country codes."""
    from .. import figures as cf
    from ..stats.trend import EU28

    g = _gerd()
    g = g[g["year"] == year]
    members = g[g["geo"].isin(EU28)].sort_values(["value", "geo"]).reset_index(drop=True)
    absent = sorted(set(EU28) - set(members["geo"]))
    ref = g[g["geo"] == reference]
    narrow = _narrow(width)
    fig, ax = cf.new_figure(width, 140 if narrow else 80)
    x = np.arange(len(members))
    colours = [cf.OKABE_ITO["vermillion"] if geo == country else cf.OKABE_ITO["sky_blue"]
               for geo in members["geo"]]
    # narrow: one horizontal bar per country, the highest at the top
    if narrow:
        ax.barh(x, members["value"], color=colours, height=0.75)
        ax.set_yticks(x, [geo + (f" ({f})" if f else "") for geo, f in zip(members["geo"], members["flag"])])
        ax.set_ylim(-0.6, len(members) - 0.4)
        ax.grid(axis="y", visible=False)
    else:
        ax.bar(x, members["value"], color=colours, width=0.75)
        ax.set_xticks(x, [geo + (f"\n{f}" if f else "") for geo, f in zip(members["geo"], members["flag"])])
        ax.grid(axis="x", visible=False)
    if len(ref):
        r = ref.iloc[0]
        text = f"{reference} {r['value']:.2f}" + (f" ({r['flag']})" if r["flag"] else "")
        if narrow:
            ax.axvline(r["value"], color="#333333", lw=0.8, ls="--")
            ax.annotate(text, (r["value"], -0.5), xytext=(-3, 0), textcoords="offset points",
                        fontsize=cf.SMALL_FONT_PT, ha="right", va="bottom")
        else:
            ax.axhline(r["value"], color="#333333", lw=0.8, ls="--")
            ax.annotate(text, (-0.4, r["value"]), xytext=(0, 3), textcoords="offset points",
                        fontsize=cf.SMALL_FONT_PT, va="bottom")
    for xi, (geo, v) in enumerate(zip(members["geo"], members["value"])):
        if geo != country:
            continue
        if narrow:
            ax.annotate(f"{v:.2f}", (v, xi), xytext=(2, 0), textcoords="offset points",
                        va="center", fontsize=cf.SMALL_FONT_PT)
        else:
            ax.annotate(f"{v:.2f}", (xi, v), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=cf.SMALL_FONT_PT)
    if narrow:
        cf.set_xlabel(ax, f"GERD {year}", "% of GDP")
        ax.set_ylabel("EU28 member state (Eurostat flags in brackets)")
    else:
        cf.set_ylabel(ax, f"GERD {year}", "% of GDP")
        ax.set_xlabel("EU28 member state (Eurostat flag letters below the code)")
    flags = sorted(set("".join(members["flag"]) + "".join(ref["flag"])))
    key = "; ".join(f"{f}: {cf.FLAG_MEANINGS[f]}" for f in flags)
    src = _gerd_source()
    cf.add_source_note(fig, f"Source: Eurostat rd_e_gerdtot (all sectors, % of GDP), bulk file recorded "
                       f"{src.get('vintage')}." + (f" Flags: {key}." if key else "")
                       + (f" No {year} value: {', '.join(absent)}." if absent else ""))
    plotted = pd.concat([members.assign(role=np.where(members["geo"] == country, "country", "member state")),
                         ref.assign(role="reference")], ignore_index=True).assign(unit="PC_GDP")
    return fig, _finish(plotted, [src], src.get("vintage"))


# ------------------------------------------------------------------------------------------------
# Diagrams 10–11: new-to-market product innovators (CIS 2014), offline panel unless a file is given
# ------------------------------------------------------------------------------------------------
CIS_DATASET = "inn_cis9_prod"
CIS_HOWTO = ("Source needed: Community Innovation Survey 2014, Eurostat inn_cis9_* (e.g. inn_cis9_prod, "
             "enterprises that introduced products new to the market, by size class). It is not "
             "recorded in this project. Download the table from the Eurostat database and run "
             "notebooks/guide_replication.ipynb with cis_file=<path> (the H6 notebook takes the "
             "same cis_file parameter, or fetches the table live with download=True).")


def _offline_panel(ax, title: str) -> None:
    """A hatched panel that says the data are missing and how to get them; it draws no axis, tick
    or value, so nothing on it can be read as a statistic."""
    import textwrap

    from matplotlib.patches import Rectangle

    ax.set_axis_off()
    ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, facecolor="#f4f4f4",
                           edgecolor="#8c8c8c", hatch="///", linewidth=0.6, zorder=0))
    box = dict(facecolor="white", edgecolor="none", pad=3)
    ax.text(0.5, 0.74, "Data not available offline", transform=ax.transAxes, ha="center",
            va="center", fontsize=9, weight="bold", bbox=box)
    ax.text(0.5, 0.54, title, transform=ax.transAxes, ha="center", va="center", fontsize=8, bbox=box)
    ax.text(0.5, 0.24, textwrap.fill(CIS_HOWTO, 84), transform=ax.transAxes, ha="center",
            va="center", fontsize=7, bbox=box)


def _cis_offline(width: str, title: str):
    from .. import figures as cf

    # the instructions need the full text width to stay legible
    fig, ax = cf.new_figure("double" if width == "single" else width, 62)
    _offline_panel(ax, title)
    cf.add_source_note(fig, "Source: Eurostat CIS 2014 (inn_cis9_*): no file given, nothing plotted.")
    data = pd.DataFrame({"status": ["not available offline"], "dataset": ["inn_cis9_*"]})
    src = {"publisher": "Eurostat", "dataset": "inn_cis9_* (CIS 2014)",
           "note": "not available offline; nothing plotted"}
    return fig, _finish(data, [src], None)


def _cis_source(cis_file) -> dict[str, Any]:
    from ..provenance import sha256_file
    return {"publisher": "Eurostat", "dataset": "CIS 2014 (inn_cis9_*)", "file": Path(cis_file).name,
            "sha256": sha256_file(cis_file)}


def _size_shares(df: pd.DataFrame, country: str, year: int, indicator: str | None) -> pd.DataFrame:
    from . import innovation

    t = innovation.share_by_size(df, country, year, indicator)
    return t.assign(geo=country, share_pc=t["share"] * 100)


@_figure("guide_d10_innovation")
def diagram_10_innovation(width: str = "double", cis_file: str | os.PathLike | None = None,
                          indicator: str | None = None, year: int = 2014, country: str = "BG"):
    """Diagram 10: enterprises (10+ employees) that introduced products new to the market, % of
    all enterprises, for every country in ``cis_file`` (``country`` highlighted). Without
    ``cis_file``: the offline panel, no numbers. ``indicator`` is the file's code for the
    new-to-market indicator (see :func:`clusterstats.analysis.innovation.share_by_size`)."""
    from .. import figures as cf
    from . import innovation

    title = f"Guide's Diagram 10: enterprises with products new to the market, % of enterprises, {year}"
    if cis_file is None:
        return _cis_offline(width, title)
    df, _ = innovation.load_cis(str(cis_file))
    df.attrs["path"] = str(cis_file)
    rows = []
    for geo in sorted(df["geo"].astype(str).unique()):
        t = _size_shares(df, geo, year, indicator)
        rows.append(t[t["size_class"] == innovation.SIZE_TOTAL])
    d = pd.concat(rows, ignore_index=True).dropna(subset=["share_pc"])
    if d.empty:
        raise ValueError(f"{cis_file}: no percentage for all enterprises ({innovation.SIZE_TOTAL}) in {year}")
    d = d.sort_values(["share_pc", "geo"]).reset_index(drop=True)
    fig, ax = cf.new_figure(width, 80)
    x = np.arange(len(d))
    ax.bar(x, d["share_pc"], width=0.75, color=[cf.OKABE_ITO["vermillion"] if g == country
                                                 else cf.OKABE_ITO["sky_blue"] for g in d["geo"]])
    ax.set_xticks(x, [g + (f"\n{f}" if f else "") for g, f in zip(d["geo"], d["flags"])])
    ax.grid(axis="x", visible=False)
    ax.set_ylabel(cf.axis_label("New-to-market innovators", "% of enterprises").replace(" (", "\n("))
    ax.set_xlabel("Country (Eurostat flag letters below the code)")
    cf.add_source_note(fig, f"Source: Eurostat CIS {year}, file {Path(cis_file).name}"
                       + (f", indicator {indicator}" if indicator else "") + "; enterprises with 10+ employees.")
    return fig, _finish(d, [_cis_source(cis_file)], None)


@_figure("guide_d11_innovation_size")
def diagram_11_innovation_size(width: str = "single", cis_file: str | os.PathLike | None = None,
                               indicator: str | None = None, year: int = 2014, country: str = "BG"):
    """Diagram 11: the same share for ``country`` by enterprise size class (10–49, 50–249, 250+,
    all). Without ``cis_file``: the offline panel, no numbers."""
    from .. import figures as cf
    from . import innovation

    title = (f"Guide's Diagram 11: enterprises with products new to the market by size class,\n"
             f"% of enterprises, {year}")
    if cis_file is None:
        return _cis_offline(width, title)
    df, _ = innovation.load_cis(str(cis_file))
    df.attrs["path"] = str(cis_file)
    d = _size_shares(df, country, year, indicator)
    fig, ax = cf.new_figure(width, 80)
    x = np.arange(len(d))
    ax.bar(x, d["share_pc"], width=0.7,
           color=[cf.OKABE_ITO["vermillion"] if c == innovation.SIZE_TOTAL else cf.OKABE_ITO["blue"]
                  for c in d["size_class"]])
    ax.set_xticks(x, [lab.replace(" employees", "").replace("all (10+)", "all") + (f"\n{f}" if f else "")
                      for lab, f in zip(d["label"], d["flags"])])
    ax.grid(axis="x", visible=False)
    ax.set_ylabel(cf.axis_label("New-to-market innovators", "% of enterprises").replace(" (", "\n("))
    cf.set_xlabel(ax, "Enterprise size class", "employees")
    cf.add_source_note(fig, f"Source: Eurostat CIS {year}, file {Path(cis_file).name}"
                       + (f", indicator {indicator}" if indicator else "") + f"; {country}.")
    return fig, _finish(d, [_cis_source(cis_file)], None)


# ------------------------------------------------------------------------------------------------
# Maps
# ------------------------------------------------------------------------------------------------
def _map_labels(fig) -> str:
    """Region names fit a map at least 120 mm wide; narrower maps get NUTS codes (the caption or
    the CSV names them)."""
    from .. import figures as cf
    return "name+value" if fig.get_figwidth() * cf.MM_PER_INCH >= 120 else "id+value"


@_figure("guide_map_rd_intensity")
def map_rd_intensity(width: str = "single", year: int = 2016, country: str = "BG",
                     nuts_year: int = 2016):
    """GERD % of GDP by NUTS 2 region in ``year`` (Eurostat tgs00042), flags printed by values."""
    from .. import maps
    from ..snapshot import load_snapshot

    t = load_snapshot("tgs00042")
    geo = t["geo"].astype(str)
    d = t[geo.str.fullmatch(rf"{country}[0-9A-Z]{{2}}") & (t["time"].astype(str) == str(year))
          & (t["unit"].astype(str) == "PC_GDP") & (t["sectperf"].astype(str) == "TOTAL")]
    vals = pd.DataFrame({"geo": d["geo"].astype(str).to_numpy(), "value": d["value"].to_numpy(),
                         "flag": d["flag"].astype(object).where(d["flag"].notna(), None).to_numpy()})
    gdf = maps.load_nuts(2, country, nuts_year)
    # refuses (naming them) regions of the data that the geometries' version does not have
    versions = nuts.check_map_join(vals["geo"], gdf["NUTS_ID"], nuts_year, country,
                                   what=f"the tgs00042 map of {country} {year}")
    fig, ax = maps.new_map_figure(gdf, width)
    labels = _map_labels(fig)
    src = _snapshot_source(t, filters={"sectperf": "TOTAL", "unit": "PC_GDP", "time": str(year)})
    note = (f"Source: Eurostat tgs00042 (GERD, all sectors, % of GDP), {year}, file recorded "
            f"{src.get('vintage')} (later revisions included); {versions}")
    m = maps.choropleth(ax, gdf, vals, unit="% of GDP", label=f"GERD {year}", source=note,
                        flag="flag", labels=labels)
    plotted = m.data.assign(year=year, unit="PC_GDP")
    return fig, _finish(plotted, [src, maps.gisco_source(gdf)], src.get("vintage"))


def clusters_per_region(cluster_table: pd.DataFrame | None = None, country: str = "BG") -> pd.DataFrame:
    """Printed BSMEPA clusters per NUTS 2 region of their (first-named) seat; regions with none
    are 0. ``attrs``: clusters without a seat."""
    from ..geography import nuts2_regions

    table = registry.clusters() if cluster_table is None else cluster_table
    bs = table[table["in_bsmepa"]]
    counts = bs["seat_nuts2"].dropna().astype(str).value_counts()
    regions = nuts2_regions()
    out = pd.DataFrame({"geo": regions["nuts2"].astype(str)})
    out = out[out["geo"].str.startswith(country)].sort_values("geo").reset_index(drop=True)
    out["value"] = out["geo"].map(counts).fillna(0).astype(int)
    out.attrs.update(clusters=len(bs), without_seat=int(bs["seat_nuts2"].isna().sum()))
    return out


@_figure("guide_map_clusters")
def map_clusters(width: str = "single", cluster_table: pd.DataFrame | None = None,
                 nuts_year: int = 2016):
    """Printed BSMEPA clusters per NUTS 2 region (seat's first-named town)."""
    from .. import maps

    vals = clusters_per_region(cluster_table)
    gdf = maps.load_nuts(2, "BG", nuts_year)
    versions = nuts.check_map_join(vals["geo"], gdf["NUTS_ID"], nuts_year, "BG",
                                   what="the cluster map")
    fig, ax = maps.new_map_figure(gdf, width)
    labels = _map_labels(fig)
    a = vals.attrs
    note = (f"Source: {GUIDE}, BSMEPA annex (data of {GUIDE_DATA_DATE}); the {a['clusters']} printed "
            f"rows, {a['without_seat']} without a seat not shown; a two-town seat counts in its first "
            f"town's region; 19 rows missing from the guide's text; {versions}")
    m = maps.choropleth(ax, gdf, vals, unit="number", label="Clusters", source=note,
                        labels=labels, value_format="{:.0f}", cmap="cividis")
    return fig, _finish(m.data, [REGISTRY_SOURCE, maps.gisco_source(gdf)], GUIDE_DATA_DATE)


# ------------------------------------------------------------------------------------------------
# Tables 1 and 2
# ------------------------------------------------------------------------------------------------
def table_1() -> pd.DataFrame:
    """Table 1 as printed (name, field, website, label valid until), with the guide's data-date check."""
    b = registry.load_bronze_label()
    out = b[["row", "name", "field", "www", "valid_until"]].copy()
    out["valid_on_2018_04_22"] = out["valid_until"] >= pd.Timestamp(GUIDE_DATA_DATE)
    out["valid_until"] = out["valid_until"].dt.strftime("%Y-%m-%d")
    return out


def table_2() -> pd.DataFrame:
    """Table 2 (GBARD 2016 by objective, thousand BGN, NSI via the guide) beside Eurostat
    ``gba_nabsfin07`` converted at the fixed 1.95583 BGN/EUR
    (:func:`clusterstats.nsi.reconcile_gbard_table2`); ``difference`` = guide − Eurostat."""
    from ..nsi import reconcile_gbard_table2
    from ..snapshot import load_snapshot

    gb = load_snapshot("gba_nabsfin07")
    rec = reconcile_gbard_table2(registry.load_gbard_table2(), gb)
    cols = ["objective", "nabs07", "guide_thousand_bgn", "guide_percent", "eurostat_thousand_bgn",
            "eurostat_mio_eur", "difference", "relative_difference"]
    out = rec[cols].copy()
    # MIO_EUR has 3 decimals and the rate 5, so 5 decimals of thousand BGN are exact: rounding
    # there removes only binary floating-point noise
    for c in ("eurostat_thousand_bgn", "difference"):
        out[c] = out[c].round(5)
    out["relative_difference"] = out["relative_difference"].round(8)
    out.attrs = {"source": _snapshot_source(gb), **rec.attrs}
    return out


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def _escape_latex(text: str) -> str:
    """Escape LaTeX's special characters in one pass (so inserted backslashes stay as they are)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _latex(df: pd.DataFrame, caption: str, label: str, headers: Mapping[str, str],
           formats: Mapping[str, Callable[[Any], str]]) -> str:
    """A booktabs LaTeX table (pandas Styler; needs ``\\usepackage{booktabs}``). Every cell is
    formatted and escaped here, so the Styler only lays out the rows."""
    body = pd.DataFrame({headers[c]: [_escape_latex(formats[c](v) if c in formats else v)
                                      for v in df[c]] for c in headers})
    body.columns = [_escape_latex(h) for h in body.columns]
    align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in headers)
    return body.style.hide(axis="index").to_latex(
        hrules=True, caption=_escape_latex(caption), label=label, position="htbp",
        column_format=align)


def tables(tables_dir: str | os.PathLike | None = None) -> dict[str, dict[str, Path]]:
    """Write Tables 1 and 2 as CSV and LaTeX (booktabs) to ``tables_dir`` (default
    ``<figures_dir>/tables``). Returns ``{"guide_table_1_bronze_label": {"csv": path, "tex": path},
    "guide_table_2_gbard": {...}}``; each file is written atomically."""
    from .._paths import figures_dir

    folder = Path(tables_dir) if tables_dir is not None else figures_dir() / "tables"
    t1, t2 = table_1(), table_2()
    thousands = lambda v: f"{v:,.0f}"  # noqa: E731
    specs = {
        "guide_table_1_bronze_label": (
            t1, f"Bulgarian clusters with the ECEI Bronze label. Source: {GUIDE}, Table 1 (data of "
                "April 2018). Last column: label still valid on the guide's data date, 22 April 2018.",
            "tab:guide-table-1",
            {"row": "No.", "name": "Cluster", "field": "Field", "www": "Website",
             "valid_until": "Label valid until", "valid_on_2018_04_22": "Valid in April 2018"},
            {"valid_on_2018_04_22": lambda v: "yes" if v else "no"}),
        "guide_table_2_gbard": (
            t2, "Government budget allocations for R&D (GBARD) by socio-economic objective, "
                "Bulgaria 2016, thousand BGN: the guide's Table 2 (NSI) beside Eurostat "
                f"gba_nabsfin07 (file recorded {t2.attrs['source'].get('vintage')}), million EUR "
                "converted at the fixed 1.95583 BGN/EUR. Difference = guide minus Eurostat, thousand "
                "BGN; Eurostat publishes million EUR to three decimals, a step of about 2 thousand "
                "BGN.",
            "tab:guide-table-2",
            {"objective": "Objective", "nabs07": "NABS 2007", "guide_thousand_bgn": "Guide",
             "guide_percent": "Guide (%)", "eurostat_thousand_bgn": "Eurostat",
             "difference": "Difference"},
            {"guide_thousand_bgn": thousands, "eurostat_thousand_bgn": thousands,
             "guide_percent": lambda v: f"{v:.1f}", "difference": lambda v: f"{v:+.1f}"}),
    }
    written = {}
    for stem, (df, caption, label, headers, fmt) in specs.items():
        csv_path = atomic_write_text(folder / f"{stem}.csv", df.to_csv(index=False, lineterminator="\n"))
        tex_path = atomic_write_text(folder / f"{stem}.tex", _latex(df, caption, label, headers, fmt))
        written[stem] = {"csv": csv_path, "tex": tex_path}
    return written


# ------------------------------------------------------------------------------------------------
# The notebook as a declared hypothesis without claims: every file named from its run
# ------------------------------------------------------------------------------------------------

DEFAULTS = dict(width="double", cis_file=None, cis_indicator=None)


def check_parameters(width="double", cis_file=None, cis_indicator=None) -> dict:
    """Validate the notebook's parameters (ParameterError with a one-line reason)."""
    from ..figures import _width_mm
    from ..params import ParameterError

    try:
        _width_mm(width)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"width: {exc}") from None
    if cis_file is not None and not Path(cis_file).is_file():
        raise ParameterError(f"cis_file={cis_file!r}: no such file")
    return dict(width=width, cis_file=None if cis_file is None else str(cis_file),
                cis_indicator=cis_indicator)


def tables_folder(ctx: RunContext, tables_dir: str | os.PathLike | None = None) -> Path:
    """Where a run's Tables 1-2 go: ``figures/<run>/tables`` by default, ``<tables_dir>/<run>``
    when a folder is given (so two runs never write the same table file)."""
    from ..context import resolve_folder

    if tables_dir is None or tables_dir == "":
        return ctx.figures_dir / "tables"
    return resolve_folder(tables_dir, ctx.figures_root) / ctx.name


class ReplicationHypothesis(Hypothesis):
    """The guide's Diagrams 2-11, Tables 1-2 and two maps (figures only; no claims, no verdicts).

    ``compute`` builds Tables 1-2; ``figures`` draws every registered figure (:data:`FIGURES`);
    ``save`` writes each figure through the run context with its own sources and vintage (the
    figures come from different datasets) and the tables to :func:`tables_folder`. No result
    rows are written: the notebook tests no claim.
    """

    id, notebook, claims = "GR", NOTEBOOK, ()
    defaults = DEFAULTS
    title = "The guide's figures and tables, rebuilt from the data"

    _check = staticmethod(check_parameters)

    def compute(self, ctx: RunContext) -> Evidence:
        return Evidence(rows=pd.DataFrame(), tables={"table_1": table_1(), "table_2": table_2()},
                        parameters=ctx.parameters, sources=[GUIDE], vintage=GUIDE_DATA_DATE,
                        values={"cluster_table": registry.clusters()})

    def figure(self, name: str, evidence: Evidence):
        """Draw one registered figure with the run's parameters; returns (fig, plotted)."""
        p = evidence.parameters
        kwargs: dict[str, Any] = {}
        if name in ("guide_d03_age", "guide_d04_seats", "guide_map_clusters"):
            kwargs["cluster_table"] = evidence.values["cluster_table"]
        if name in ("guide_d10_innovation", "guide_d11_innovation_size"):
            kwargs.update(cis_file=p["cis_file"], indicator=p["cis_indicator"])
        return FIGURES[name](p["width"], **kwargs)

    def figures(self, evidence: Evidence) -> dict:
        return {name: self.figure(name, evidence) for name in FIGURES}

    def judge(self, evidence: Evidence) -> pd.DataFrame:
        return evidence.rows.copy()

    def save_one(self, ctx: RunContext, name: str, fig, plotted: pd.DataFrame) -> dict[str, Path]:
        """Write one figure as ``figures/<run>/<name>.*`` with its own sources and vintage."""
        return ctx.save_figure(fig, name, data=plotted, sources=plotted.attrs.get("sources", []),
                               vintage=plotted.attrs.get("vintage"))

    def save(self, ctx: RunContext, evidence: Evidence, judged: pd.DataFrame | None = None, *,
             figures: Mapping[str, tuple[Any, pd.DataFrame]] | None = None,
             tables_dir: str | os.PathLike | None = None) -> dict[str, Any]:
        """Write the figures given (default: none; call :meth:`save_one` as each is drawn) and
        Tables 1-2 through the run context; record them in the executed notebook."""
        for name, (fig, plotted) in (figures or {}).items():
            self.save_one(ctx, name, fig, plotted)
        for files in tables(tables_folder(ctx, tables_dir)).values():
            ctx.outputs.extend(Path(f) for f in files.values())
        return ctx.finish()


#: the declared hypothesis (figures only): this module's entry point for the notebook
hypothesis = ReplicationHypothesis()
