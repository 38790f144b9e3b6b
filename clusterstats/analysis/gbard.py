"""H7 — the composition of public R&D budgets (GBARD by socio-economic objective, NABS 2007).

The guide (section "Number and types of technology transfers made in Bulgaria", p. 32 ff. by its table of contents; Table 2, seed lines 522–545) says only 11 % of Bulgaria's 2016 government
R&D budget went to "industrial production and technology" against over 47 % to the "general
advancement of knowledge" (GUF + other sources), i.e. to "pure science" (claim C16).

Steps:

1. Reconcile the guide's Table 2 (thousand BGN, from NSI) with Eurostat ``gba_nabsfin07``
   (MIO_EUR converted at the fixed 1.95583 BGN/EUR; :func:`clusterstats.nsi.reconcile_gbard_table2`).
2. The two shares, from Eurostat and from the guide's own table.
3. Is the composition unusual? The country's NABS shares against the reference (EU28) and a pooled
   group of peers with :func:`clusterstats.stats.composition.composition_test`. Its replication
   unit is the *year* (2008–2017), not the euro: budget euros are not independent observations,
   so the chi-square with euros as counts is reported only as a labelled naive figure.

Verdicts (declared in ``data/claims.yaml``): ``C16.table2`` (Table 2 equals Eurostat's MIO_NAC to
the guide's rounding), ``C16.industry`` and ``C16.knowledge`` (the two shares, exact values of a
complete administrative total, compared up to the guide's rounding). The comparisons with the
EU28 and the peers are *descriptive*: the guide makes none, and a non-significant difference is
never read as support. Only Bulgaria in 2016 (the guide's Table 2) gives judged rows; other
countries and years are descriptive. The module's entry point is :data:`hypothesis`.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ..context import RunContext
from ..hypothesis import Evidence, Hypothesis
from ..nsi import BGN_PER_EUR, reconcile_gbard_table2
from ..params import ParameterError, check_alpha, check_choice, check_subset
from ..registry import load_gbard_table2
from ..snapshot import load_snapshot
from ..stats.composition import composition_test
from ._common import finish_rows, snapshot_vintage

NOTEBOOK = "h7_gbard_composition.ipynb"
HYPOTHESIS = "H7"
DATASET = "gba_nabsfin07"
C16 = ("Public R&D budgets (GBARD 2016) go about 11 % to industrial production and technology versus "
       "over 47 % to the general advancement of knowledge.")
REF_GUIDE = "Good Practices Guide on Clusters and Technology Transfers - Bulgaria (2018), Table 2 (NSI)"
CHAPTERS = [f"NABS{i:02d}" for i in range(1, 15)]
INDUSTRY = ["NABS06"]
KNOWLEDGE = ["NABS12", "NABS13"]
DEFAULT_PEERS = ("RO", "HR", "HU", "PL", "SK", "CZ", "SI", "EL")
#: the notebook's parameters cell (peers as the notebook writes them: a list)
DEFAULTS = dict(country="BG", year=2016, reference="EU28", peers=list(DEFAULT_PEERS), alpha=0.05)
GROUP_LABEL = {"industry": "Industrial production and technology (NABS06)",
               "knowledge": "General advancement of knowledge (NABS12 GUF + NABS13 other)",
               "other": "All other objectives"}


@lru_cache(maxsize=1)
def _raw() -> pd.DataFrame:
    return load_snapshot(DATASET)


def gbard(unit: str = "MIO_EUR") -> pd.DataFrame:
    """GBARD by NABS chapter in ``unit``: columns geo, year (int), nabs07, value, flag."""
    d = _raw()
    s = d[d["unit"].astype(str) == unit].copy()
    for c in ("geo", "nabs07"):
        s[c] = s[c].astype(str)
    s["year"] = s["time"].astype(str).astype(int)
    s["flag"] = s["flag"].astype(object).where(s["flag"].notna(), "").astype(str).str.strip()
    return s[["geo", "year", "nabs07", "value", "flag"]].reset_index(drop=True)


def check_parameters(country: str = "BG", year: int = 2016, reference: str = "EU28",
                     peers=DEFAULT_PEERS, alpha: float = 0.05) -> dict:
    """Validate the notebook parameters (ParameterError names the valid choices)."""
    alpha = check_alpha(alpha)
    d = gbard()
    geos = sorted(d.loc[d["value"].notna(), "geo"].unique())
    country = check_choice(str(country).upper(), geos, "country")
    reference = check_choice(str(reference).upper(), geos, "reference")
    peers = check_subset([str(p).upper() for p in (peers or [])], geos, "peers") if peers else []
    years = sorted(d.loc[(d["geo"] == country) & d["value"].notna(), "year"].unique())
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ParameterError(f"year must be a year such as 2016, got {year!r}") from None
    check_choice(year, [int(y) for y in years], "year")
    return dict(country=country, year=year, reference=reference, peers=peers, alpha=alpha)


def _shares(d: pd.DataFrame, geo: str, year: int) -> pd.Series:
    """Shares of the NABS chapters in the published total (TOTAL incl. defence)."""
    s = d[(d["geo"] == geo) & (d["year"] == year)].set_index("nabs07")["value"]
    total = s.get("TOTAL", np.nan)
    if not np.isfinite(total) or total <= 0:
        raise ValueError(f"{DATASET}: no positive TOTAL for {geo} {year}")
    return s.reindex(CHAPTERS) / total


def share_groups(d: pd.DataFrame, geos, year: int) -> pd.DataFrame:
    """Industry / knowledge / other shares per geo in ``year`` (long form, with chapter sums)."""
    out = []
    for g in geos:
        try:
            s = _shares(d, g, year)
        except ValueError:
            continue
        ind, know = s[INDUSTRY].sum(min_count=1), s[KNOWLEDGE].sum(min_count=1)
        gap = 1 - s.sum()
        for key, val in (("industry", ind), ("knowledge", know), ("other", 1 - ind - know)):
            out.append(dict(geo=g, year=year, group=key, label=GROUP_LABEL[key], share=float(val),
                             missing_chapters=", ".join(s.index[s.isna()]), chapters_vs_total_gap=gap))
    return pd.DataFrame(out)


def _judged(p: dict) -> bool:
    """The claim is about Bulgaria's GBARD 2016 (the guide's Table 2)."""
    return p["country"] == "BG" and p["year"] == 2016


def reconciliation_rows(country: str, year: int) -> tuple[list[dict], pd.DataFrame]:
    """Table 2 against Eurostat: MIO_NAC (primary, ``C16.table2``) and MIO_EUR converted at the
    fixed rate (descriptive: three decimals of a million euro are a step of about 2 thousand BGN)."""
    rec = reconcile_gbard_table2(load_gbard_table2(), _raw(), year=year, geo=country)
    nac = (rec["guide_thousand_bgn"] - rec["eurostat_nac_thousand_bgn"]).abs()
    worst_nac = rec.loc[nac.idxmax()]
    worst = rec.loc[rec["relative_difference"].abs().idxmax()]
    total = rec[rec["nabs07"] == "TOTAL"].iloc[0]
    base = dict(h0="the guide's Table 2 differs from Eurostat's GBARD",
                h1="Table 2 equals Eurostat's GBARD up to rounding", n=len(rec), reference=REF_GUIDE)
    rows = [dict(base, test="reconcile_table2_nac", part="C16.table2", role="primary",
                 method="guide thousand BGN vs Eurostat MIO_NAC x 1000, 15 rows; largest absolute difference",
                 effect_name="max_abs_difference", effect=float(nac.max()), unit="thousand BGN",
                 note=f"largest at {worst_nac['objective']}",
                 caveats="Eurostat MIO_NAC has 3 decimals = 1 thousand BGN, the guide's precision"),
            dict(base, test="reconcile_table2", part=pd.NA, role="descriptive",
                 method=(f"guide thousand BGN vs Eurostat MIO_EUR x {BGN_PER_EUR} x 1000, 15 rows; "
                         "largest relative difference"),
                 statistic=float(total["difference"]), effect_name="max_relative_difference",
                 effect=float(worst["relative_difference"]), unit="relative difference",
                 note=f"largest at {worst['objective']}; statistic = difference of the totals, thousand BGN",
                 caveats="small rows magnify rounding (Eurostat MIO_EUR has 3 decimals = 1.96 thousand BGN)")]
    return rows, rec


def share_rows(d: pd.DataFrame, p: dict) -> list[dict]:
    """The industry and general-knowledge shares of GBARD (exact values of a complete total)."""
    country, year = p["country"], p["year"]
    s = _shares(d, country, year)
    flags = d[(d["geo"] == country) & (d["year"] == year) & (d["flag"] != "")]
    cav = ("share of the published TOTAL (incl. defence); " +
           (f"flags: {', '.join(f'{r.nabs07} {r.flag}' for r in flags.itertuples())}" if len(flags)
            else "no flags") + f"; Eurostat {DATASET} (vintage {_raw().attrs.get('vintage')})")
    judged = _judged(p)
    out = []
    for key, chapters, part in (("industry", INDUSTRY, "C16.industry"), ("general_knowledge", KNOWLEDGE,
                                                                          "C16.knowledge")):
        share = float(s[chapters].sum())
        out.append(dict(
            test=f"share_{key}", method=f"{' + '.join(chapters)} / TOTAL GBARD, {country} {year}, MIO_EUR",
            h0="-", h1=f"the {key.replace('_', '-')} share is the guide's", effect_name="share",
            effect=share, n=1, unit="share of GBARD", caveats=cav, reference=REF_GUIDE,
            note="; ".join(f"{c} {float(s[c]):.1%}" if pd.notna(s[c]) else f"{c} no value" for c in chapters),
            part=part if judged else pd.NA, role="primary" if judged else "descriptive"))
    return out


def composition_rows(d: pd.DataFrame, p: dict) -> tuple[list[dict], dict, list[str]]:
    """NABS composition against the reference and the pooled peers (years as the unit):
    descriptive rows — the guide compares with nobody."""
    country, year, reference, peers = p["country"], p["year"], p["reference"], p["peers"]
    chapters = d[d["nabs07"].isin(CHAPTERS)]
    rows, tables, notes = [], {}, []
    for ref, label in [(reference, reference)] + ([(peers, "peers")] if peers else []):
        try:
            ct = composition_test(chapters, "nabs07", "value", "geo", "year", target=country,
                                  reference=ref, chi2_year=year, ci_level=1 - p["alpha"], n_boot=2000)
        except ValueError as exc:
            notes.append(f"composition test vs {label}: not computed ({exc})")
            continue
        tables[f"composition_{label}"] = ct
        ref_text = ref if isinstance(ref, str) else "pooled " + "+".join(ref)
        for r in ct.to_dict("records"):
            n = int(r["n"]) if pd.notna(r["n"]) else "?"
            r.update(comparison=label, part=pd.NA, role="descriptive",
                     h0=f"{country}'s NABS composition equals {ref_text}'s",
                     h1=f"{country}'s NABS composition differs from {ref_text}'s",
                     caveats=(f"replication unit: the year ({n} years, exchangeable under H0; budgets "
                              "are autocorrelated); the guide makes no comparison"))
            rows.append(r)
    return rows, tables, notes


def judgement_rows(groups: pd.DataFrame, p: dict) -> list[dict]:
    """The two shares beside the reference's and the peers' median in ``year`` (descriptive)."""
    country, reference, year = p["country"], p["reference"], p["year"]
    wide = groups.pivot(index="geo", columns="group", values="share")
    if country not in wide.index or reference not in wide.index:
        return []
    peer_geos = [g for g in p["peers"] if g in wide.index]
    rows = []
    for key in ("industry", "knowledge"):
        own, ref_share = float(wide.loc[country, key]), float(wide.loc[reference, key])
        peer_med = float(wide.loc[peer_geos, key].median()) if peer_geos else np.nan
        rows.append(dict(
            test=f"share_{key}_vs_reference", h0="-", h1="-", part=pd.NA, role="descriptive",
            method=(f"{GROUP_LABEL[key]} share of GBARD {year}: {country} minus {reference}; "
                    f"median of {len(peer_geos)} peers in extra column"),
            effect_name="share_difference", effect=own - ref_share, n=1, unit="share of GBARD",
            caveats="one year, descriptive; the guide's 'only' and 'almost half' compare with nothing",
            reference=REF_GUIDE, peer_median=peer_med, comparison=reference,
            note=f"{country} {own:.1%}, {reference} {ref_share:.1%}, peer median {peer_med:.1%}"))
    return rows


NARRATIVE = """\
{% set p = evidence.parameters %}
{% macro verdict(r) %}{{ r.verdict if r.verdict is string else "no verdict (descriptive)" }}{% endmacro %}
{% set ind = row(test="share_industry") %}
{% set know = row(test="share_general_knowledge") %}
{% if p.country != "BG" or p.year != 2016 %}
*{{ p.country }} {{ p.year }} is shown for comparison: the guide's claim is about Bulgaria's GBARD 2016, so no row carries a verdict.*

{% endif %}
{% if "reconcile_table2_nac" in rows.test.tolist() %}
{% set nac = row(test="reconcile_table2_nac") %}
{% set eur = row(test="reconcile_table2") %}
* **The guide's Table 2 equals Eurostat: {{ verdict(nac) }}.** The largest difference from Eurostat's
  national-currency series is {{ nac.effect|num }} thousand BGN ({{ nac.verdict_text }}); against the euro
  series converted at the fixed rate the largest relative gap is {{ eur.effect|pct(2) }} ({{ eur.note }}).
{% endif %}
* **Industrial production and technology: {{ verdict(ind) }}.** {{ ind.effect|pct(1) }} of GBARD
  {%- if ind.verdict is string %} ({{ ind.verdict_text }}; with the text's whole-per-cent rounding: {{ ind.verdict_sensitivity }}){% endif %}.
* **General advancement of knowledge: {{ verdict(know) }}.** {{ know.effect|pct(1) }} ({{ know.note }})
  {%- if know.verdict is string %}; {{ know.verdict_text }}; other readings of "over 47 %": {{ know.verdict_sensitivity }}{% endif %}.
{% if "share_industry_vs_reference" in rows.test.tolist() %}
{% set ri = row(test="share_industry_vs_reference") %}
{% set rk = row(test="share_knowledge_vs_reference") %}
{% set nabs06 = row(test="share_difference", category="NABS06", comparison=p.reference) %}
* **Is the split unusual? (descriptive, no verdict)** The guide's "only" and "almost half" compare with
  nothing. In {{ p.year }}: {{ ri.note }} for industry; {{ rk.note }} for general knowledge. Over the
  years, {{ p.country }}'s industry share differs from the {{ p.reference }}'s by {{ nabs06.effect|num }}
  on average (sign-flip p = {{ nabs06.p_value|p }}){% if nabs06.p_value >= p.alpha %}: no evidence of a
  difference, which is not evidence that the shares are alike either{% else %}: a difference at the
  {{ p.alpha|pct }} level, which the guide does not claim{% endif %}.
{% endif %}
"""


class GbardHypothesis(Hypothesis):
    """H7: the composition of public R&D budgets, 11 % industry vs over 47 % knowledge (C16)."""

    id, notebook, claims = HYPOTHESIS, NOTEBOOK, ("C16",)
    defaults = DEFAULTS
    title = "Public R&D budgets by objective"
    narrative_template = NARRATIVE

    _check = staticmethod(check_parameters)

    def compute(self, ctx: RunContext) -> Evidence:
        p = ctx.parameters
        d = gbard()
        rows, tables, notes = [], {}, []
        dropped = [g for g in p["peers"] if g in (p["country"], p["reference"])]
        if dropped:  # a country is never its own peer
            notes.append(f"peers {', '.join(dropped)} left out: they are the country or the reference")
            p = dict(p, peers=[g for g in p["peers"] if g not in dropped])
        if p["country"] == "BG" and p["year"] == 2016:
            rec_rows, tables["reconciliation"] = reconciliation_rows(p["country"], p["year"])
            rows += rec_rows if _judged(p) else [dict(r, part=pd.NA, role="descriptive") for r in rec_rows]
        elif p["country"] == "BG":
            notes.append(f"the guide's Table 2 is for 2016; no reconciliation for {p['year']}")
        rows += share_rows(d, p)
        comp, comp_tables, comp_notes = composition_rows(d, p)
        rows += comp
        tables.update(comp_tables)
        notes += comp_notes
        tables["share_groups"] = share_groups(d, [p["country"], p["reference"]] + list(p["peers"]), p["year"])
        rows += judgement_rows(tables["share_groups"], p)
        for r in rows:
            r["claim_id"], r["claim"] = "C16", C16
        vintage = snapshot_vintage([_raw()])
        sources = [f"Eurostat {DATASET} (vintage {_raw().attrs.get('vintage')}), MIO_EUR"] + (
            ["guide Table 2 (NSI), data/registry/gbard_2016_table2.csv"] if "reconciliation" in tables else [])
        rows_df = finish_rows(rows, hypothesis=HYPOTHESIS, notebook=NOTEBOOK, parameters=ctx.parameters,
                              data_sources="; ".join(sources), data_vintage=vintage, run_id=ctx.name)
        return Evidence(rows=rows_df, tables=tables, notes=notes, sources=sources, vintage=vintage,
                        parameters=ctx.parameters)

    def figures(self, evidence: Evidence) -> dict:
        return {"h7_gbard_shares": figure_shares(evidence)}


#: the declared hypothesis: this module's one entry point
hypothesis = GbardHypothesis()


def run(country: str = "BG", year: int = 2016, reference: str = "EU28", peers=DEFAULT_PEERS,
        alpha: float = 0.05) -> Evidence:
    """Run H7 (compute and judge, nothing written); see the module docstring."""
    return hypothesis.run(country=country, year=year, reference=reference, peers=list(peers or []),
                          alpha=alpha)


def figure_shares(analysis: Evidence):
    """Industry / general-knowledge / other shares of GBARD: country, reference, each peer."""
    from .. import figures as cf

    p = analysis.parameters
    data = analysis.tables["share_groups"].copy()
    order = list(dict.fromkeys(data["geo"]))
    fig, ax = cf.new_figure("double", 90)
    colors = list(cf.OKABE_ITO.values())
    width = 0.27
    for k, key in enumerate(["industry", "knowledge", "other"]):
        v = data[data["group"] == key].set_index("geo").reindex(order)["share"] * 100
        x = np.arange(len(order)) + (k - 1) * width
        ax.bar(x, v, width, label=GROUP_LABEL[key], color=colors[k + 1])
    ax.axhline(11, color=colors[1], lw=0.7, ls=":")
    ax.axhline(47, color=colors[2], lw=0.7, ls=":")
    ax.set_xticks(np.arange(len(order)),
                  [f"{g}\n(country)" if g == p["country"] else f"{g}\n(reference)" if g == p["reference"] else g
                   for g in order])
    cf.set_ylabel(ax, f"Share of GBARD {p['year']}", "%")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("Dotted lines: the guide's 11 % (industry) and 47 % (general knowledge)", fontsize=7)
    cf.add_source_note(fig, "Source: " + "; ".join(analysis.sources) + ". Shares of total GBARD incl. defence.")
    data["share_pc"] = data["share"] * 100
    return fig, data
