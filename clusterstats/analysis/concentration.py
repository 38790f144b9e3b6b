"""H3 (claim C07): are more than half of Bulgaria's clusters seated in Sofia?

The guide (seed line 193): "more than half of them are registered or headquartered in Sofia ...
Plovdiv, Burgas and Varna follow but with considerably smaller numbers."

What is counted
    Seats are printed only in the BSMEPA annex table (42 of its 53 printed rows have one; rows
    12-18, 31-36 and 59-64 are missing from the text). BULSTAT and the Trade Register list no
    addresses. The ABC's 12 "most active members" (``register="abc"``) come with a city and a
    planning region. "Sofia" is the capital city district (Sofia-grad, NUTS 3 BG411, which is
    the municipality Stolichna) unless ``sofia="city_and_province"`` adds Sofia province (BG412).

Two-town seats ("София + Габрово", 8 rows) are counted by ``count_two_town_seats``:
    ``first``  the first-listed town only (one unit per cluster);
    ``split``  half a cluster to each town (the Sofia count can be fractional; the exact test
               then uses the count rounded down, which is conservative for "more than half");
    ``both``   every town is a unit for the location quotients; for the Sofia share a cluster
               counts as Sofia if any of its towns is (the guide's "registered *or* headquartered").

Tests
    * share seated in Sofia vs one half: exact binomial test, H1 share > 0.5, Clopper-Pearson CI
      (:func:`clusterstats.stats.association.binomial_share_test`; Clopper & Pearson 1934,
      *Biometrika* 26: 404-413);
    * the same share against Sofia's share of population (NSI, 31 Dec of ``reference_year``,
      pre-2021-census vintage; Eurostat demo_r_pjanaggr3, 1 Jan, post-census vintage: two rows,
      never spliced) and of active employer enterprises (Eurostat bd_enace2_r3, V11910, NACE
      B-S_X_K642) (:func:`~clusterstats.stats.association.share_vs_reference`);
    * whether Plovdiv, Burgas and Varna are the next seats after Sofia (descriptive);
    * location quotients of cluster organisations by district (28) and NUTS 2 region (6) with
      exact CIs (:func:`clusterstats.stats.location.cluster_lq`; Isard 1960) in ``tables``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import registry
from ..geography import districts, resolve_place
from ..params import ParameterError, check_alpha, check_choice
from ..snapshot import load_snapshot
from ..stats.association import binomial_share_test, share_vs_reference
from ..stats.location import cluster_lq
from . import _common
from ._common import Analysis, finish_rows, snapshot_vintage

NOTEBOOK = "h3_concentration.ipynb"
HYPOTHESIS = "H3"
CLAIM_ID = "C07"
CLAIM = ("More than half of the clusters are registered or headquartered in Sofia; Plovdiv, "
         "Burgas and Varna follow with far fewer (guide, seed line 193).")
REGISTERS = ("bsmepa", "abc")
TWO_TOWN_RULES = ("first", "split", "both")
SOFIA_CHOICES = {"city": ("BG411",), "city_and_province": ("BG411", "BG412")}
#: the three cities the guide names after Sofia, by NUTS 3 district
FOLLOWERS = {"BG421": "Plovdiv", "BG341": "Burgas", "BG331": "Varna"}
ENTERPRISES = ("V11910", "B-S_X_K642")

DEFAULTS = dict(register="bsmepa", count_two_town_seats="first", reference_year=2016,
                sofia="city", alpha=0.05)


def output_name(parameters: dict, stem: str = NOTEBOOK.removesuffix(".ipynb")) -> str:
    """File stem for this run's rows and figures (see :func:`._common.output_name`)."""
    return _common.output_name(parameters, DEFAULTS, stem)


# ------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------
def seat_units(register: str = "bsmepa", count_two_town_seats: str = "first") -> pd.DataFrame:
    """One row per counted seat unit: cluster_id, seat (as printed), seat_order, town, nuts3,
    nuts2, weight. Clusters without a seat are left out (their number is in ``attrs``)."""
    check_choice(register, REGISTERS, "register")
    check_choice(count_two_town_seats, TWO_TOWN_RULES, "count_two_town_seats")
    if register == "bsmepa":
        table = registry.clusters()
        in_reg = table[table["in_bsmepa"]]
        seats = registry.cluster_seats(in_reg)
        units = seats[["cluster_id", "seat", "seat_order", "town", "nuts3", "nuts2"]].copy()
        n_listed = len(in_reg)
    else:
        abc = registry.load_abc_members()
        # The ABC list gives a city; "Srednogorie" is a region, not a settlement, so only its
        # planning region (NUTS 2) is known.
        res = resolve_place(abc["city"].tolist())
        units = pd.DataFrame({"cluster_id": "ABC" + abc["row"].astype(str).str.zfill(2),
                              "seat": abc["city"], "seat_order": 1, "town": abc["city"],
                              "nuts3": res["nuts3"].to_numpy(), "nuts2": abc["nuts2"]})
        n_listed = len(abc)
    units["nuts3"] = units["nuts3"].astype("string")
    units["nuts2"] = units["nuts2"].astype("string")
    k = units.groupby("cluster_id")["seat_order"].transform("size")
    two_town = int(units.loc[k > 1, "cluster_id"].nunique())
    if count_two_town_seats == "first":
        units = units[units["seat_order"] == 1].copy()
        units["weight"] = 1.0
    elif count_two_town_seats == "split":
        units["weight"] = 1.0 / k
    else:
        units["weight"] = 1.0
    units = units.reset_index(drop=True)
    units.attrs.update(register=register, clusters_listed=n_listed,
                       clusters_with_seat=int(units["cluster_id"].nunique()),
                       two_town_clusters=two_town)
    return units


def base_shares(reference_year: int = 2016) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Population (two vintages) and active employer enterprises by NUTS 3 district for one year.

    Returns a wide frame indexed by NUTS 3 (28 districts) with columns ``population_nsi``,
    ``population_eurostat`` and ``enterprises`` and the snapshot frames used (for vintages).
    """
    nsi = load_snapshot("nsi_population_district")
    est = load_snapshot("demo_r_pjanaggr3")
    bd = load_snapshot("bd_enace2_r3")
    years = {"nsi_population_district": set(nsi["year"].dropna().astype(int)),
             "demo_r_pjanaggr3": set(est["time"].astype(int)),
             "bd_enace2_r3": set(bd["time"].astype(int))}
    valid = sorted(set.intersection(*years.values()))
    try:
        year = int(reference_year)
    except (TypeError, ValueError):
        raise ParameterError(f"reference_year must be a year, got {reference_year!r}") from None
    if year not in valid:
        raise ParameterError(
            f"reference_year={reference_year!r}: all three bases exist only for {valid} "
            + "; ".join(f"{k} covers {min(v)}-{max(v)}" for k, v in years.items()))
    codes = districts()["nuts3"].tolist()
    n = nsi[(nsi["level"] == "district") & (nsi["year"] == year)]
    e = est[(est["time"].astype(int) == year) & est["geo"].astype(str).isin(codes)]
    b = bd[(bd["time"].astype(int) == year) & (bd["indic_sb"] == ENTERPRISES[0])
           & (bd["nace_r2"] == ENTERPRISES[1])]
    out = pd.DataFrame({
        "population_nsi": n.set_index(n["nuts3"].astype(str))["value"],
        "population_eurostat": e.set_index(e["geo"].astype(str))["value"],
        "enterprises": b.set_index(b["geo"].astype(str))["value"]}).reindex(codes)
    missing = out.columns[out.isna().any()].tolist()
    if missing:
        raise ValueError(f"base values missing for some districts in {year}: {missing}")
    out.index.name = "nuts3"
    return out, [nsi, est, bd]


# ------------------------------------------------------------------------------------------------
# run
# ------------------------------------------------------------------------------------------------
def check_parameters(register="bsmepa", count_two_town_seats="first", reference_year=2016,
                     sofia="city", alpha=0.05) -> dict:
    check_choice(register, REGISTERS, "register")
    check_choice(count_two_town_seats, TWO_TOWN_RULES, "count_two_town_seats")
    check_choice(sofia, list(SOFIA_CHOICES), "sofia")
    alpha = check_alpha(alpha)
    if isinstance(reference_year, bool) or not isinstance(reference_year, (int, np.integer)):
        raise ParameterError(f"reference_year must be a whole year such as 2016, got {reference_year!r}")
    return dict(register=register, count_two_town_seats=count_two_town_seats,
                reference_year=int(reference_year), sofia=sofia, alpha=alpha)


def _sofia_count(units: pd.DataFrame, sofia_codes, rule: str) -> tuple[float, int]:
    in_sofia = units["nuts3"].isin(list(sofia_codes)).fillna(False)
    n = int(units["cluster_id"].nunique())
    if rule == "both":
        k = float(units.loc[in_sofia, "cluster_id"].nunique())
    else:
        k = float(units.loc[in_sofia, "weight"].sum())
    return k, n


def _verdict_share(row: pd.Series, alpha: float, null: float) -> tuple[str, str]:
    share = row["effect"] if row["unit"] == "share" else None
    if row["p_value"] < alpha:
        return "supported", "significant at alpha"
    if share is not None and share <= null:
        return "not supported", "share at or below the null value"
    return "inconclusive", "not significant"


def run(**parameters) -> Analysis:
    """Run H3; parameters as :data:`DEFAULTS` (unknown names raise ParameterError)."""
    unknown = set(parameters) - set(DEFAULTS)
    if unknown:
        raise ParameterError(f"unknown parameter(s) {sorted(unknown)}; valid: {sorted(DEFAULTS)}")
    p = check_parameters(**{**DEFAULTS, **parameters})
    alpha, ci = p["alpha"], 1 - p["alpha"]
    sofia_codes = SOFIA_CHOICES[p["sofia"]]
    sofia_label = "Sofia (capital, BG411)" if p["sofia"] == "city" else \
        "Sofia capital + Sofia province (BG411+BG412)"

    base, frames = base_shares(p["reference_year"])  # first: it checks reference_year
    units = seat_units(p["register"], p["count_two_town_seats"])
    k, n = _sofia_count(units, sofia_codes, p["count_two_town_seats"])
    k_test = math.floor(k + 1e-9)
    listed = units.attrs["clusters_listed"]

    caveats = [f"{n} of {listed} listed clusters have a seat"]
    if p["register"] == "bsmepa":
        caveats.append(registry.bsmepa_coverage()["text"]
                       + "; BULSTAT and the Trade Register give no seats")
    else:
        caveats.append("ABC list: its 12 'most active members' only, a selection not a census; "
                       "'Srednogorie' is a region (no district)")
    caveats.append(f"{units.attrs['two_town_clusters']} seats name two towns (rule "
                   f"'{p['count_two_town_seats']}')")
    caveats.append("a seat is the registered address, not where members work")
    if k != k_test:
        caveats.append(f"split rule gives {k:g} Sofia clusters; the exact test uses {k_test}")
    caveat_text = "; ".join(caveats)

    # --- row 1: more than half --------------------------------------------------------------
    r1 = binomial_share_test(k_test, n, 0.5, "greater", ci, label="share seated in Sofia")
    r1.loc[0, "effect"] = k / n
    r1["h0"] = f"at most half of the clusters with a known seat are in {sofia_label}"
    r1["h1"] = f"more than half are in {sofia_label}"
    v, _ = _verdict_share(r1.iloc[0], alpha, 0.5)
    r1["verdict"] = v
    r1["verdict_text"] = {
        "supported": f"{k:g} of {n} clusters with a known seat ({k / n:.0%}) are in Sofia: "
                     "significantly more than half.",
        "not supported": f"Only {k:g} of {n} clusters with a known seat ({k / n:.0%}) are in "
                         "Sofia: not more than half, contrary to the guide.",
        "inconclusive": f"{k:g} of {n} clusters with a known seat ({k / n:.0%}) are in Sofia: "
                        f"above half but not significantly (p = {r1.loc[0, 'p_value']:.3g}).",
    }[v]

    # --- rows 2-4: beyond Sofia's weight --------------------------------------------------
    names = {"population_nsi": f"population (NSI, 31 Dec {p['reference_year']}, pre-2021-census vintage)",
             "population_eurostat": f"population (Eurostat demo_r_pjanaggr3, 1 Jan {p['reference_year']})",
             "enterprises": f"active employer enterprises (Eurostat bd_enace2_r3 V11910, {p['reference_year']})"}
    shares = {names[c]: float(base.loc[list(sofia_codes), c].sum() / base[c].sum()) for c in base}
    r2 = share_vs_reference(k_test, n, shares, "greater", ci, label="share seated in Sofia")
    r2["h0"] = [f"Sofia's share of clusters is at most its share of {nm}" for nm in shares]
    r2["h1"] = [f"Sofia's share of clusters exceeds its share of {nm}" for nm in shares]
    r2["verdict"] = np.where(r2["p_value"] < alpha, "supported", "not supported")
    r2["verdict_text"] = [
        (f"Sofia holds {k / n:.0%} of clusters but {s:.0%} of {nm.split(' (')[0]}: "
         + ("clusters are concentrated beyond Sofia's weight." if pv < alpha else
            "no significant excess over Sofia's weight."))
        for (nm, s), pv in zip(shares.items(), r2["p_value"])]
    if k != k_test:
        r2["effect"] = r2["effect"] * k / k_test if k_test else r2["effect"]

    # --- row 5: Plovdiv, Burgas, Varna follow ---------------------------------------------
    by_district = (units.dropna(subset=["nuts3"]).groupby("nuts3")["weight"].sum()
                   .reindex(base.index, fill_value=0.0))
    names_lat = districts().set_index("nuts3")["name_latin"]
    rank = by_district.rank(ascending=False, method="min")
    top = by_district.sort_values(ascending=False, kind="stable")
    top_text = ", ".join(f"{names_lat.get(c, c)} {v:g}" for c, v in top[top > 0].items())
    sofia_top = all(rank[c] == 1 for c in sofia_codes[:1])
    followers_ok = {nm: bool(rank[c] <= 4 and by_district[c] > 0) for c, nm in FOLLOWERS.items()}
    n_ok = sum(followers_ok.values())
    v5 = "supported" if n_ok == 3 and sofia_top else ("not supported" if n_ok == 0 else "partly")
    r5 = pd.DataFrame([{
        "test": "Plovdiv, Burgas and Varna are the next seats after Sofia",
        "method": "seat counts by district (NUTS 3), ranked (ties share the best rank)",
        "statistic": float(sum(by_district[c] for c in FOLLOWERS)), "p_value": pd.NA,
        "effect_name": "clusters seated in Plovdiv + Burgas + Varna",
        "effect": float(sum(by_district[c] for c in FOLLOWERS)), "ci_low": pd.NA, "ci_high": pd.NA,
        "ci_level": pd.NA, "n": n, "unit": "clusters",
        "reference": "descriptive count",
        "note": f"districts by seats: {top_text}",
        "h0": "-", "h1": "Plovdiv, Burgas and Varna rank 2nd-4th after Sofia",
        "verdict": v5,
        "verdict_text": "; ".join(
            f"{nm}: {by_district[c]:g} clusters (rank {int(rank[c])})" for c, nm in FOLLOWERS.items())
            + ("" if followers_ok["Varna"] else " - Varna has no cluster with a printed seat, "
               "so the data do not show it among the followers."),
    }])

    rows = pd.concat([r1, r2, r5], ignore_index=True)
    rows["claim_id"], rows["claim"], rows["caveats"] = CLAIM_ID, CLAIM, caveat_text

    # --- location quotients by district and NUTS 2 ----------------------------------------
    tables = {"units": units, "base": base.reset_index(), "seats_by_district": _district_table(
        by_district, base, names_lat)}
    lq_d, lq_r = [], []
    nuts2_of = districts().set_index("nuts3")["nuts2"]
    base2 = base.groupby(nuts2_of.reindex(base.index).to_numpy()).sum()
    by_region = units.dropna(subset=["nuts2"]).groupby("nuts2")["weight"].sum()
    for col in base.columns:
        d = cluster_lq(by_district.round(6), base[col], ci, base_name=names[col])
        d.insert(0, "base", col)
        lq_d.append(d)
        r = cluster_lq(by_region.round(6), base2[col], ci, base_name=names[col])
        r.insert(0, "base", col)
        lq_r.append(r)
    tables["lq_district"] = pd.concat(lq_d, ignore_index=True)
    tables["lq_nuts2"] = pd.concat(lq_r, ignore_index=True)

    sources = ["Good Practices Guide on Clusters and Technology Transfers - Bulgaria (2018), "
               + ("BSMEPA annex" if p["register"] == "bsmepa" else "ABC most active members"),
               "NSI population by district (report 02.06.2018)",
               "Eurostat demo_r_pjanaggr3", "Eurostat bd_enace2_r3"]
    vintage = snapshot_vintage(frames)
    rows = finish_rows(rows, hypothesis=HYPOTHESIS, notebook=NOTEBOOK, parameters=p,
                       data_sources="; ".join(sources), data_vintage=vintage)
    notes = [
        f"'Sofia' here is {sofia_label}. No BSMEPA seat lies in Sofia province (BG412), so "
        "the count is the same either way; only the base shares change.",
        f"{n} of {listed} listed clusters have a seat; the share is over those {n}.",
        "Population from NSI (31 December, pre-2021-census) and Eurostat (1 January, "
        "post-census) are two vintages, shown in two rows and never combined.",
        "bd_enace2_r3 counts employer enterprises of the business economy (NACE B-S without "
        "K64.2): no agriculture, public administration or enterprises without employees.",
    ]
    return Analysis(rows=rows, tables=tables, notes=notes, sources=sources, vintage=vintage,
                    models={"parameters": p, "sofia_count": k, "n": n})


def _district_table(by_district: pd.Series, base: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame({"nuts3": by_district.index, "district": names.reindex(by_district.index).to_numpy(),
                        "clusters": by_district.to_numpy()})
    out["cluster_share"] = out["clusters"] / out["clusters"].sum()
    for col in base.columns:
        out[f"{col}_share"] = (base[col] / base[col].sum()).to_numpy()
    return out


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------
def figure_seats(analysis: Analysis):
    """Dot plot: each district's share of clusters (with exact 1 - alpha CI) beside its share of
    population (NSI) and of active employer enterprises. Returns (fig, data_plotted)."""
    from .. import figures

    table = analysis.tables["seats_by_district"].copy()
    lq = analysis.tables["lq_district"]
    lq = lq[lq["base"] == "enterprises"].set_index("region")
    share_b = table.set_index("nuts3")["enterprises_share"]
    table["cluster_ci_low"] = (lq["ci_low"] * share_b).reindex(table["nuts3"]).to_numpy(dtype=float)
    table["cluster_ci_high"] = (lq["ci_high"] * share_b).reindex(table["nuts3"]).to_numpy(dtype=float)
    table = table.sort_values(["clusters", "enterprises_share"], ascending=True, kind="stable")
    fig, ax = figures.new_figure("double", 150)
    y = np.arange(len(table))
    ax.errorbar(table["cluster_share"] * 100, y,
                xerr=[(table["cluster_share"] - table["cluster_ci_low"]).clip(lower=0) * 100,
                      (table["cluster_ci_high"] - table["cluster_share"]).clip(lower=0) * 100],
                fmt="o", color="black", ms=4, lw=0.8, capsize=0, label="clusters (exact CI)")
    ax.plot(table["population_nsi_share"] * 100, y, "s", mfc="none", color="tab:blue", ms=4,
            label="population (NSI)")
    ax.plot(table["enterprises_share"] * 100, y, "^", mfc="none", color="tab:orange", ms=4,
            label="active employer enterprises")
    ax.axvline(50, color="0.6", lw=0.6, ls="--")
    ax.set_yticks(y, table["district"])
    figures.set_xlabel(ax, "Share of the country", "%")
    ax.legend(loc="lower right", frameon=False)
    p = analysis.models["parameters"]
    ax.set_title(f"Cluster seats by district vs population and enterprises, {p['reference_year']}")
    return fig, table.reset_index(drop=True)


def figure_lq_map(analysis: Analysis, level: str = "nuts3", base: str = "enterprises"):
    """Choropleth of the cluster location quotient (clusters' share / base share) by NUTS 3 or
    NUTS 2. Returns (fig, data_plotted)."""
    from .. import maps

    check_choice(level, ("nuts3", "nuts2"), "level")
    check_choice(base, ("population_nsi", "population_eurostat", "enterprises"), "base")
    lq = analysis.tables["lq_district" if level == "nuts3" else "lq_nuts2"]
    lq = lq[lq["base"] == base][["region", "effect", "ci_low", "ci_high", "statistic"]].copy()
    lq = lq.rename(columns={"region": "geo", "effect": "lq", "statistic": "clusters"})
    lq["lq"] = lq["lq"].astype(float)
    gdf = maps.load_nuts(3 if level == "nuts3" else 2, year=2021 if level == "nuts3" else 2016)
    fig, ax = maps.new_map_figure(gdf, "double")
    maps.choropleth(ax, gdf, lq, key="geo", value="lq", unit="ratio",
                    label=f"Cluster location quotient (base: {base.replace('_', ' ')})",
                    source="Source: guide annex (BSMEPA seats); Eurostat bd_enace2_r3, "
                           "demo_r_pjanaggr3; NSI.",
                    cmap="viridis", value_format="{:.1f}",
                    labels="name+value" if level == "nuts2" else "auto")
    return fig, lq.reset_index(drop=True)
