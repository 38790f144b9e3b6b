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
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ..nsi import BGN_PER_EUR, reconcile_gbard_table2
from ..params import ParameterError, check_alpha, check_choice, check_subset
from ..registry import load_gbard_table2
from ..snapshot import load_snapshot
from ..stats.composition import composition_test
from ._common import Analysis, finish_rows, snapshot_vintage

NOTEBOOK = "h7_gbard_composition.ipynb"
DATASET = "gba_nabsfin07"
C16 = ("Public R&D budgets (GBARD 2016) go about 11 % to industrial production and technology versus "
       "over 47 % to the general advancement of knowledge.")
REF_GUIDE = "Good Practices Guide on Clusters and Technology Transfers - Bulgaria (2018), Table 2 (NSI)"
CHAPTERS = [f"NABS{i:02d}" for i in range(1, 15)]
INDUSTRY = ["NABS06"]
KNOWLEDGE = ["NABS12", "NABS13"]
DEFAULT_PEERS = ("RO", "HR", "HU", "PL", "SK", "CZ", "SI", "EL")
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


def run(country: str = "BG", year: int = 2016, reference: str = "EU28", peers=DEFAULT_PEERS,
        alpha: float = 0.05) -> Analysis:
    """Reconciliation, the two shares (C16) and the composition tests; see the module docstring."""
    params = check_parameters(country, year, reference, peers, alpha)
    country, year, reference, peers, alpha = params.values()
    level = 1 - alpha
    d = gbard()
    rows, notes, tables = [], [], {}
    is_bg = country == "BG"
    vintage_text = f"Eurostat {DATASET} (vintage {_raw().attrs.get('vintage')})"

    # ---- 1. reconcile the guide's Table 2 with Eurostat (BG 2016 only: that is what Table 2 is)
    if is_bg and year == 2016:
        t2 = load_gbard_table2()
        rec = reconcile_gbard_table2(t2, _raw(), year=year, geo=country)
        tables["reconciliation"] = rec
        worst = rec.loc[rec["relative_difference"].abs().idxmax()]
        max_rel = float(worst["relative_difference"])
        total = rec[rec["nabs07"] == "TOTAL"].iloc[0]
        nac_match = bool(np.allclose(rec["guide_thousand_bgn"], rec["eurostat_nac_thousand_bgn"], atol=1.0))
        rows.append(dict(
            claim_id="C16", claim=C16, h0="the guide's Table 2 differs from Eurostat's GBARD",
            h1="Table 2 equals Eurostat's GBARD up to rounding",
            test="reconcile_table2",
            method=(f"guide thousand BGN vs Eurostat MIO_EUR x {BGN_PER_EUR} x 1000, 15 rows; "
                    "largest relative difference"),
            statistic=float(total["difference"]), effect_name="max_relative_difference",
            effect=max_rel, n=len(rec), unit="relative difference",
            verdict="supported" if abs(max_rel) < 0.01 else "partly" if abs(max_rel) < 0.05 else "not supported",
            verdict_text=(f"Table 2 matches Eurostat: the largest relative gap is {max_rel:+.2%} "
                          f"({worst['objective']}); the total differs by {float(total['difference']):+.0f} "
                          "thousand BGN" + ("; Eurostat's MIO_NAC equals the guide to the thousand BGN."
                                            if nac_match else ".")),
            caveats="small rows magnify rounding (Eurostat MIO_EUR has 3 decimals = 1.96 thousand BGN)",
            reference=REF_GUIDE))
        g_ind = float(rec.loc[rec["nabs07"].isin(INDUSTRY), "percent_recomputed"].sum())
        g_know = float(rec.loc[rec["nabs07"].isin(KNOWLEDGE), "percent_recomputed"].sum())
        notes.append(f"guide's Table 2 recomputed: industry {g_ind:.2f} %, general knowledge {g_know:.2f} %")
    elif is_bg:
        notes.append(f"the guide's Table 2 is for 2016; no reconciliation for {year}")

    # ---- 2. the two shares from Eurostat
    s = _shares(d, country, year)
    ind, know = float(s[INDUSTRY].sum()), float(s[KNOWLEDGE].sum())
    flags = d[(d["geo"] == country) & (d["year"] == year) & (d["flag"] != "")]
    cav = ("share of the published TOTAL (incl. defence); " +
           (f"flags: {', '.join(f'{r.nabs07} {r.flag}' for r in flags.itertuples())}" if len(flags)
            else "no flags") + f"; {vintage_text}")
    ok_ind = abs(100 * ind - 11) < 0.5
    ok_know = 100 * know > 47
    rows.append(dict(
        claim_id="C16", claim=C16, h0="the industry share does not round to 11 %",
        h1="the industry share is about 11 %", test="share_industry",
        method=f"NABS06 / TOTAL GBARD, {country} {year}, MIO_EUR", effect_name="share", effect=ind,
        n=1, unit="share of GBARD",
        verdict=("supported" if ok_ind else "not supported") if is_bg else "inconclusive",
        verdict_text=f"{country} {year}: {ind:.1%} of GBARD went to industrial production and technology"
                     + (" (the guide: 11 %)." if is_bg else "."),
        caveats=cav, reference=REF_GUIDE))
    rows.append(dict(
        claim_id="C16", claim=C16, h0="the general-knowledge share is 47 % or less",
        h1="the general-knowledge share is over 47 %", test="share_general_knowledge",
        method=f"(NABS12 GUF + NABS13 other) / TOTAL GBARD, {country} {year}, MIO_EUR",
        effect_name="share", effect=know, n=1, unit="share of GBARD",
        verdict=("supported" if ok_know else "not supported") if is_bg else "inconclusive",
        verdict_text=(f"{country} {year}: {know:.1%} went to the general advancement of knowledge "
                      f"(GUF {float(s['NABS12']):.1%} + other {float(s['NABS13']):.1%})"
                      + (" (the guide: over 47 %)." if is_bg else ".")),
        caveats=cav, reference=REF_GUIDE))

    # ---- 3. composition against the reference and the pooled peers (years are the unit)
    chapters = d[d["nabs07"].isin(CHAPTERS)]
    comparisons = [(reference, reference)] + ([(peers, "peers")] if peers else [])
    for ref, label in comparisons:
        try:
            ct = composition_test(chapters, "nabs07", "value", "geo", "year", target=country,
                                  reference=ref, chi2_year=year, ci_level=level, n_boot=2000)
        except ValueError as exc:
            notes.append(f"composition test vs {label}: not computed ({exc})")
            continue
        tables[f"composition_{label}"] = ct
        ref_text = ref if isinstance(ref, str) else "pooled " + "+".join(ref)
        for r in ct.to_dict("records"):
            r.update(claim_id="C16", claim=C16, caveats=(f"replication unit: the year ({int(r['n']) if pd.notna(r['n']) else '?'} "
                                                          "years, exchangeable under H0; budgets are autocorrelated); "
                                                          + vintage_text),
                     verdict="inconclusive")
            r["h0"] = f"{country}'s NABS composition equals {ref_text}'s"
            r["h1"] = f"{country}'s NABS composition differs from {ref_text}'s"
            if r["test"] == "share_difference":
                cat = r.get("category")
                r["verdict_text"] = (f"{cat}: {country} {float(r['target_share']):.1%} vs {ref_text} "
                                     f"{float(r['reference_share']):.1%} on average "
                                     f"({float(r['effect']) * 100:+.1f} pp, sign-flip p = {float(r['p_value']):.3f}).")
            elif r["test"] == "naive_chi_square":
                r["verdict_text"] = ("Naive chi-square with euros as counts: no sampling meaning, shown "
                                     f"only for comparison (Cramér's V = {float(r['effect']):.2f}).")
            else:
                r["verdict_text"] = (f"{r['effect_name'].replace('_', ' ')} between {country} and {ref_text} = "
                                     f"{float(r['effect']):.3f} (sign-flip p = {float(r['p_value']):.3f}); "
                                     "the guide makes no comparison, this shows whether the split is unusual.")
            r["comparison"] = label
            rows.append(r)
    groups = share_groups(d, [country, reference] + list(peers), year)
    tables["share_groups"] = groups
    # the guide's "only 11 %" and "almost half" read as judgements: set them beside the reference
    wide = groups.pivot(index="geo", columns="group", values="share")
    peer_geos = [g for g in peers if g in wide.index]
    for key in ("industry", "knowledge"):
        if country not in wide.index or reference not in wide.index:
            break
        own, ref_share = float(wide.loc[country, key]), float(wide.loc[reference, key])
        peer_med = float(wide.loc[peer_geos, key].median()) if peer_geos else np.nan
        rows.append(dict(
            claim_id="C16", claim=C16, h0="-", h1="-", test=f"share_{key}_vs_reference",
            method=(f"{GROUP_LABEL[key]} share of GBARD {year}: {country} minus {reference}; "
                    f"median of {len(peer_geos)} peers in extra column"),
            effect_name="share_difference", effect=own - ref_share, n=1, unit="share of GBARD",
            verdict="inconclusive",
            verdict_text=(f"{year}: {country} {own:.1%} vs {reference} {ref_share:.1%}"
                          + (f" and a peer median of {peer_med:.1%}" if np.isfinite(peer_med) else "")
                          + "; the guide's judgement ('only', 'almost half') has no comparison behind it."),
            caveats=f"one year, descriptive; {vintage_text}", reference=REF_GUIDE,
            peer_median=peer_med, comparison=reference))
    frames = [_raw()]
    vintage = snapshot_vintage(frames)
    sources = [vintage_text + ", MIO_EUR"] + (
        ["guide Table 2 (NSI), data/registry/gbard_2016_table2.csv"] if is_bg and year == 2016 else [])
    rows_df = finish_rows(rows, hypothesis="H7", notebook=NOTEBOOK, parameters=params,
                          data_sources="; ".join(sources), data_vintage=vintage)
    an = Analysis(rows=rows_df, tables=tables, notes=notes, sources=sources, vintage=vintage)
    an.params = params  # type: ignore[attr-defined]
    return an


def figure_shares(analysis: Analysis):
    """Industry / general-knowledge / other shares of GBARD: country, reference, each peer."""
    from .. import figures as cf

    p = analysis.params  # type: ignore[attr-defined]
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
