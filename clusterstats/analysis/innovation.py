"""H6 — product innovation new to the market, by enterprise size (Community Innovation Survey 2014).

The guide (section "Number and types of technology transfers made in Bulgaria", p. 32 ff. by its table of contents; seed lines 508–514, diagrams 10–11) says only 5.7 % of enterprises introduced
products new to the market in 2014 (claim C14), and that the share rises with enterprise size
(C15). The source is Eurostat's CIS 2014 (``inn_cis9_*`` tables; metadata:
https://ec.europa.eu/eurostat/cache/metadata/en/inn_cis9_esms.htm). CIS covers enterprises with
10 or more employees; size classes 10–49, 50–249 and 250+ (``GE250``), total ``GE10``.

**No CIS file or response is stored in this project** (the shared mirror has none, see its
PROVENANCE.md). So the analysis gets the data in one of two ways, and otherwise *stops politely*:

* ``cis_file``: a file the user downloaded from the Eurostat database
  (https://ec.europa.eu/eurostat/databrowser/), any format :func:`clusterstats.read_eurostat_file`
  reads (SDMX TSV, SDMX-CSV, ...);
* ``download=True``: :func:`clusterstats.get_eurostat` (cache, mirror or live, honouring
  ``CLUSTERSTATS_OFFLINE``).

Without data, the rows test the parts ``C14.no_data`` and ``C15.no_data``, which
``data/claims.yaml`` judges with the ``not_testable`` rule ("not testable offline"), and
``evidence.values["message"]`` says exactly how to get the data. With data they test
``C14.share`` (the guide's 5.7 % up to its rounding) and ``C15.rising`` (each published share
above the one before). The module's entry point is :data:`hypothesis`.
This is a deliberate design choice: *no exception*, so ``make reproduce`` finishes and the report
still lists both claims; the notebook shows the message and skips the figure.

What could not be verified offline: the exact dataset code holding the new-to-market indicator
(``inn_cis9_prod`` is the likely one), the name and codes of its indicator dimension and the order
of its dimensions. The code therefore finds the size dimension by its codes (``10-49`` …), takes the
indicator code from the ``indicator`` parameter (listing the codes present when it is missing),
and derives enterprise totals from a count (``NR``) and a percentage unit when both are present.

Statistics: the share with a Wilson CI, and the Cochran–Armitage trend test across the three size
classes (Cochran 1954; Armitage 1955), both *descriptive*: CIS counts are grossed-up estimates,
not sampled firms, so the binomial precision is overstated and never decides a verdict.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..context import RunContext
from ..hypothesis import Evidence, Hypothesis
from ..params import ParameterError, check_alpha, check_choice
from ..stats.ordinal import cochran_armitage, proportion_ci
from ._common import finish_rows

NOTEBOOK = "h6_innovation_by_size.ipynb"
HYPOTHESIS = "H6"
DEFAULT_DATASET = "inn_cis9_prod"
DEFAULTS = dict(cis_file=None, country="BG", year=2014, indicator=None, dataset=DEFAULT_DATASET,
                download=False, alpha=0.05)
SIZE_ORDER = ["10-49", "50-249", "GE250"]
SIZE_TOTAL = "GE10"
SIZE_LABEL = {"10-49": "10-49 employees", "50-249": "50-249 employees", "GE250": "250+ employees",
              "GE10": "all (10+ employees)"}
#: dimensions that are never the indicator dimension
_NOT_INDICATOR = {"freq", "unit", "geo", "time", "value", "flag", "nace_r2", "sizeclas", "size_emp"}
C14 = "Only 5.7 % of enterprises introduced products new to the market in 2014."
C15 = "The share of enterprises with new-to-market products rises with enterprise size."
GUIDE_SHARE = 5.7
REF_GUIDE = ("Good Practices Guide on Clusters and Technology Transfers - Bulgaria (2018), section "
             "'Number and types of technology transfers made in Bulgaria' (p. 32 ff.), diagrams 10-11, seed lines 508-518")
DATABASE_URL = "https://ec.europa.eu/eurostat/databrowser/"
METADATA_URL = "https://ec.europa.eu/eurostat/cache/metadata/en/inn_cis9_esms.htm"


def how_to_get_data(country: str = "BG", year: int = 2014, dataset: str = DEFAULT_DATASET) -> str:
    """The instructions shown when no CIS data are available."""
    return (
        f"The Community Innovation Survey {year} data are not stored in this project, so claims "
        f"C14 and C15 cannot be tested offline. To test them:\n"
        f"1. Open the Eurostat database ({DATABASE_URL}), search for the CIS {year} table "
        f"'{dataset}' (product and process innovation by NACE Rev. 2 activity and size class; "
        f"metadata: {METADATA_URL}).\n"
        f"2. Filter: geo = {country}, time = {year}, all size classes (10-49, 50-249, GE250, GE10), "
        f"the core NACE aggregate, the indicator 'enterprises that introduced new or significantly "
        f"improved products new to the market', and both units: number of enterprises (NR) and "
        f"percentage of enterprises.\n"
        f"3. Download it as SDMX-TSV or SDMX-CSV and run this notebook with "
        f"cis_file='path/to/the/file' (and indicator='<the indicator code in the file>'), or run it "
        f"online with download=True (the package fetches '{dataset}' through clusterstats.get_eurostat "
        f"and caches it). No number is invented in the meantime.")


def check_parameters(cis_file: str | None = None, country: str = "BG", year: int = 2014,
                     indicator: str | None = None, dataset: str = DEFAULT_DATASET,
                     download: bool = False, alpha: float = 0.05) -> dict:
    """Validate the notebook parameters (cheap: does not read the data)."""
    alpha = check_alpha(alpha)
    if not (isinstance(country, str) and len(country) == 2 and country.isalpha()):
        raise ParameterError(f"country must be a two-letter Eurostat code such as 'BG', got {country!r}")
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ParameterError(f"year must be a CIS reference year such as 2014, got {year!r}") from None
    if cis_file is not None and not Path(cis_file).is_file():
        raise ParameterError(f"cis_file={cis_file!r}: no such file")
    check_choice(bool(download), (True, False), "download")
    return dict(cis_file=None if cis_file is None else str(cis_file), country=country.upper(),
                year=year, indicator=indicator, dataset=dataset, download=bool(download), alpha=alpha)


def load_cis(cis_file: str | None = None, *, dataset: str = DEFAULT_DATASET, country: str = "BG",
             download: bool = False) -> tuple[pd.DataFrame | None, str]:
    """The CIS table from ``cis_file`` or (``download=True``) from get_eurostat; (None, why) if neither."""
    if cis_file is not None:
        from ..formats import read_eurostat_file

        return read_eurostat_file(cis_file), f"file {Path(cis_file).name}"
    if not download:
        return None, "no cis_file given and download=False"
    from ..eurostat import EurostatError, get_eurostat

    try:
        return get_eurostat(dataset, {"geo": country}), f"Eurostat {dataset} via get_eurostat"
    except (EurostatError, OSError) as exc:
        offline = os.environ.get("CLUSTERSTATS_OFFLINE", "")
        return None, f"get_eurostat({dataset!r}) failed{' (offline)' if offline else ''}: {exc}"


def _size_column(df: pd.DataFrame, path: str) -> str:
    for col in df.columns:
        if col in ("value", "flag", "time"):
            continue
        codes = set(df[col].astype(str).unique())
        if {"10-49", "50-249"} <= codes:
            return col
    raise ValueError(f"{path}: no size-class dimension (codes 10-49, 50-249, GE250) in columns "
                     f"{list(df.columns)}")


def share_by_size(df: pd.DataFrame, country: str, year: int, indicator: str | None) -> pd.DataFrame:
    """One row per size class: share (0–1), successes and totals when derivable, flags.

    Totals are derived as NR × 100 / percentage when both units are present for the same
    indicator and size class (labelled ``totals_derived``). Raises ValueError naming the codes
    found when the indicator or the country/year is missing.
    """
    path = str(df.attrs.get("path") or df.attrs.get("dataset") or "CIS table")
    size = _size_column(df, path)
    d = df.copy()
    for c in d.columns:
        if c not in ("value", "flag"):
            d[c] = d[c].astype(str)
    ind_cols = [c for c in d.columns if c not in _NOT_INDICATOR | {size} and d[c].nunique() > 1]
    if indicator is None:
        if len(ind_cols) == 1 and d[ind_cols[0]].nunique() > 1:
            raise ParameterError(f"{path}: several indicator codes in column {ind_cols[0]!r}: "
                                 f"{sorted(d[ind_cols[0]].unique())}; pass indicator='<code>' for "
                                 "'enterprises that introduced products new to the market'")
    else:
        hits = [c for c in d.columns if c not in ("value", "flag") and indicator in set(d[c])]
        if not hits:
            raise ParameterError(f"{path}: indicator {indicator!r} not found; codes by column: "
                                 + "; ".join(f"{c}: {sorted(d[c].unique())[:20]}" for c in ind_cols))
        d = d[d[hits[0]] == indicator]
    if "geo" in d and country not in set(d["geo"]):
        raise ParameterError(f"{path}: country {country!r} not in the file; countries: {sorted(d['geo'].unique())}")
    d = d[(d.get("geo", country) == country) & (d["time"].astype(str) == str(year))]
    if d.empty:
        raise ParameterError(f"{path}: no rows for {country} in {year}")
    units = sorted(d["unit"].unique()) if "unit" in d else ["?"]
    pc_units = [u for u in units if u.startswith("PC")]
    out = []
    for cls in SIZE_ORDER + [SIZE_TOTAL]:
        s = d[d[size] == cls]
        if s.empty:
            continue
        nr = s[s["unit"] == "NR"]["value"] if "unit" in s else pd.Series(dtype=float)
        pc = s[s["unit"] == pc_units[0]]["value"] if pc_units else pd.Series(dtype=float)
        if len(nr) > 1 or len(pc) > 1:
            raise ValueError(f"{path}: {cls}: more than one row per unit; filter NACE to one aggregate")
        x = float(nr.iloc[0]) if len(nr) else np.nan
        share = float(pc.iloc[0]) / 100 if len(pc) else np.nan
        total = x / share if np.isfinite(x) and np.isfinite(share) and share > 0 else np.nan
        flags = ", ".join(sorted({str(f) for f in s["flag"].dropna() if str(f).strip()})) if "flag" in s else ""
        out.append(dict(size_class=cls, label=SIZE_LABEL[cls], share=share, successes=x,
                        totals=total, totals_derived=bool(np.isfinite(total)),
                        percent_unit=pc_units[0] if pc_units else None, flags=flags))
    return pd.DataFrame(out)


def _judged(p: dict) -> bool:
    return p["country"] == "BG" and p["year"] == 2014


def not_testable_rows(p: dict, why: str) -> list[dict]:
    """One row per claim, testing the ``*.no_data`` parts (judged "not testable offline" by the
    declared ``not_testable`` rule); the caveats say how to get the data."""
    msg = how_to_get_data(p["country"], p["year"], p["dataset"])
    return [dict(claim_id=cid, claim=claim, test=test, part=f"{cid}.no_data", role="primary",
                 h0="(not run)", h1="(not run)", method="not run: no CIS data available",
                 note=(f"Not tested: the CIS {p['year']} data are not in this project ({why}); see the "
                       f"notebook for how to get {p['dataset']}."),
                 caveats=msg.replace("\n", " "), reference=REF_GUIDE)
            for cid, claim, test in (("C14", C14, "share_new_to_market"), ("C15", C15, "cochran_armitage"))]


_CAVEAT = ("CIS counts are grossed-up estimates, not sampled enterprises: binomial CIs and "
           "p-values overstate the precision; totals derived as NR x 100 / percentage")


def share_row(table: pd.DataFrame, p: dict) -> dict | None:
    """C14: the published share of all enterprises (GE10), with a (descriptive) Wilson CI."""
    tot = table[table["size_class"] == SIZE_TOTAL]
    if not len(tot) or not np.isfinite(tot["share"].iloc[0]):
        return None
    r = tot.iloc[0]
    ci = proportion_ci(tot, "successes", "totals", ci_level=1 - p["alpha"]).iloc[0] if r["totals_derived"] else None
    return dict(claim_id="C14", claim=C14, h0="-", h1="the share is the guide's 5.7 %",
                test="share_new_to_market", part="C14.share" if _judged(p) else pd.NA,
                role="primary" if _judged(p) else "descriptive",
                method=f"share of enterprises (10+ employees) with new-to-market product innovation, "
                       f"{p['country']} {p['year']}",
                effect_name="share", effect=float(r["share"]),
                ci_low=None if ci is None else ci["ci_low"], ci_high=None if ci is None else ci["ci_high"],
                ci_level=1 - p["alpha"], n=None if ci is None else float(r["totals"]),
                unit="share of enterprises", reference=REF_GUIDE,
                note="the Wilson interval treats grossed-up counts as a sample (descriptive only)",
                caveats=_CAVEAT + (f"; flags {r['flags']}" if r["flags"] else ""))


def trend_rows(table: pd.DataFrame, p: dict) -> list[dict]:
    """C15: whether each published share is above the one before (judged), and the
    Cochran–Armitage test on the grossed-up counts (descriptive)."""
    sizes = table[table["size_class"].isin(SIZE_ORDER)].reset_index(drop=True)
    if len(sizes) < 2:
        return []
    shares = sizes["share"].to_numpy(float)
    text = ", ".join(f"{c} {s:.1%}" for c, s in zip(sizes["size_class"], shares))
    rows = [dict(claim_id="C15", claim=C15, h0="-", h1="the share rises with size class",
                 test="monotone_shares", part="C15.rising" if _judged(p) else pd.NA,
                 role="primary" if _judged(p) else "descriptive",
                 method="published shares in size-class order; effect 1 when each is above the one before",
                 effect_name="monotone", effect=float(bool(np.all(np.diff(shares) > 0))), n=len(sizes),
                 unit="1 = rising", note=f"shares {text}", caveats=_CAVEAT, reference=REF_GUIDE)]
    if sizes["totals_derived"].all():
        ca = cochran_armitage(sizes, "size_class", "successes", "totals", scores=list(range(len(sizes))),
                              alternative="increasing", ci_level=1 - p["alpha"]).iloc[0].to_dict()
        ca.update(claim_id="C15", claim=C15, h0="no linear trend of the share across size classes",
                  h1="the share rises with size class", part=pd.NA, role="descriptive", caveats=_CAVEAT)
        rows.append(ca)
    return rows


NARRATIVE = """\
{% set p = evidence.parameters %}
{% if not evidence.values.available %}
**The analysis stops here: no CIS data.** Both claims are *not testable offline*:

{{ evidence.values.message }}
{% else %}
{% for r in rows[rows.part.notna()].itertuples() %}
* **{{ r.claim_id }} ({{ r.test }}): {{ r.verdict }}.** {{ r.verdict_text }}{% if r.note is string %} ({{ r.note }}){% endif %}.
{% endfor %}
{% for r in rows[rows.test == "cochran_armitage"].itertuples() %}
* Cochran–Armitage trend on the grossed-up counts (descriptive): one-sided p = {{ r.p_value|p }}.
{% endfor %}
{% endif %}
"""


class InnovationHypothesis(Hypothesis):
    """H6: new-to-market product innovation by enterprise size (C14, C15)."""

    id, notebook, claims = HYPOTHESIS, NOTEBOOK, ("C14", "C15")
    defaults = DEFAULTS
    title = "New-to-market product innovation by enterprise size"
    narrative_template = NARRATIVE

    _check = staticmethod(check_parameters)

    def compute(self, ctx: RunContext) -> Evidence:
        p = ctx.parameters
        df, how = load_cis(p["cis_file"], dataset=p["dataset"], country=p["country"], download=p["download"])
        if df is None:
            rows = finish_rows(not_testable_rows(p, how), hypothesis=HYPOTHESIS, notebook=NOTEBOOK,
                               parameters=p, data_sources=f"Eurostat {p['dataset']} (not available offline)",
                               data_vintage="none", run_id=ctx.name)
            return Evidence(rows=rows, notes=[how], sources=[f"Eurostat {p['dataset']}"], parameters=p,
                            values={"available": False,
                                    "message": how_to_get_data(p["country"], p["year"], p["dataset"])})
        table = share_by_size(df, p["country"], p["year"], p["indicator"])
        source = f"{how} ({df.attrs.get('dataset', p['dataset'])}, sha256 {str(df.attrs.get('sha256', ''))[:12]})"
        vintage = str(df.attrs.get("vintage") or df.attrs.get("retrieved_at") or "unknown (user file)")
        share = share_row(table, p)
        trend = trend_rows(table, p)
        notes = ([] if share else ["no total (GE10) share in the file: C14 not tested"]) + (
            [] if trend else ["fewer than two size classes with values: C15 not tested"])
        rows = finish_rows(([share] if share else []) + trend, hypothesis=HYPOTHESIS, notebook=NOTEBOOK,
                           parameters=p, data_sources=source, data_vintage=vintage, run_id=ctx.name)
        return Evidence(rows=rows, tables={"by_size": table}, notes=notes, sources=[source],
                        vintage=vintage, parameters=p, values={"available": True, "message": ""})

    def figures(self, evidence: Evidence) -> dict:
        if not evidence.values.get("available"):
            return {}
        return {"h6_innovation_by_size": figure_by_size(evidence)}


#: the declared hypothesis: this module's one entry point
hypothesis = InnovationHypothesis()


def run(cis_file: str | None = None, country: str = "BG", year: int = 2014, indicator: str | None = None,
        dataset: str = DEFAULT_DATASET, download: bool = False, alpha: float = 0.05) -> Evidence:
    """Run H6 (compute and judge, nothing written): C14 and C15 from CIS data, or rows judged
    "not testable offline" without it (``evidence.values["available"]``, ``["message"]``)."""
    return hypothesis.run(cis_file=cis_file, country=country, year=year, indicator=indicator,
                          dataset=dataset, download=download, alpha=alpha)


def figure_by_size(analysis: Evidence):
    """Share with new-to-market products by size class (bars), the guide's 5.7 % as a line."""
    from .. import figures as cf

    if not analysis.values.get("available", False):
        raise ValueError("no CIS data: nothing to plot (see evidence.values['message'])")
    p = analysis.parameters
    data = analysis.tables["by_size"].copy()
    data["share_pc"] = data["share"] * 100
    fig, ax = cf.new_figure("single")
    ax.bar(data["label"], data["share_pc"], color=["#0072B2"] * (len(data) - 1) + ["#D55E00"])
    ax.axhline(GUIDE_SHARE, color="#333333", ls="--", lw=0.7, label="guide: 5.7 %")
    ax.legend(fontsize=7)
    cf.set_ylabel(ax, "Enterprises with new-to-market products", "% of enterprises")
    ax.set_xlabel("Enterprise size class")
    ax.tick_params(axis="x", labelrotation=20)
    ax.set_title(f"{p['country']} {p['year']}", fontsize=8)
    cf.add_source_note(fig, "Source: " + "; ".join(analysis.sources) + ".")
    return fig, data
