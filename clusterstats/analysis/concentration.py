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

Claim parts (``data/claims.yaml``; the module attribute :data:`hypothesis` computes, the
declared rules judge): ``C07.more_than_half`` (rule ``one_sided``) and ``C07.followers`` (rule
``within_bounds``: how many of Plovdiv, Burgas, Varna rank 2nd-4th, bounded by the clusters of
unknown seat, :func:`follower_bounds`). The comparisons with population and enterprises are
descriptive (the guide states none). Runs with another register, two-town rule, base year or
Sofia (:data:`CHOICES`) are sensitivity runs.

NUTS versions (issue 12): each NUTS 2 location-quotient input's version is derived from its codes
(:func:`clusterstats.nuts.match_version`), the inputs are summed onto the coarsest common partition
before any LQ is computed, and a comparison that would lose the leading region or most regions is
refused (:func:`nuts2_lq`); the derived versions are in the rows' caveats
(:func:`lq_nuts_versions`). Bulgaria's NUTS 2 codes are the same in every version since 2010, so
the partition is the identity.

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

from .. import nuts, registry
from ..geography import districts, resolve_place
from ..params import ParameterError, check_alpha, check_choice
from ..snapshot import load_snapshot
from ..stats.association import binomial_share_test, share_vs_reference
from ..stats.location import cluster_lq
from ..context import RunContext, run_name
from ..hypothesis import Evidence, Hypothesis
from ._common import finish_rows, snapshot_vintage

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
SOURCE_GUIDE = "Good Practices Guide on Clusters and Technology Transfers - Bulgaria (2018), "
#: the name of each location-quotient input in the NUTS version lines of the caveats
LQ_INPUTS = {"seats": "cluster seats", "population_nsi": "NSI population by district",
             "population_eurostat": "Eurostat demo_r_pjanaggr3",
             "enterprises": "Eurostat bd_enace2_r3"}
NUTS3_NOTE = ("NUTS 3 districts: matched by code (the NUTS correspondences cover NUTS 2 only); "
              "NUTS 2 = NUTS 3 parent by code (clusterstats.nuts.nuts2_parent)")


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
# compute
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


def _allocations(total: int, bins: int) -> np.ndarray:
    """Every vector of ``bins`` non-negative integers summing to at most ``total`` (stars and
    bars: choose ``bins`` bar positions among ``total + bins``)."""
    from itertools import combinations

    bars = np.array(list(combinations(range(total + bins), bins)), dtype=int).reshape(-1, bins)
    prev = np.hstack([np.full((len(bars), 1), -1), bars[:, :-1]])
    return bars - prev - 1


def follower_bounds(counts: pd.Series, followers: list[str], unknown: int,
                    leaders: tuple[str, ...] = ()) -> tuple[int, int, int]:
    """How many of ``followers`` rank 2nd-4th (at most three districts with more clusters, and
    at least one cluster): (with the counts as printed, fewest, most) when ``unknown`` clusters
    of unknown seat could sit anywhere.

    Most: every allocation of the unknown clusters to the followers. Fewest: every allocation to
    the four largest districts other than the followers and ``leaders`` (Sofia is above them
    already; raising the largest others is the cheapest way to put districts above the
    followers).
    Written here because no library answers this small combinatorial question."""
    base = counts.astype(float)

    def qualifying(matrix: np.ndarray) -> np.ndarray:
        cols = [base.index.get_loc(f) for f in followers]
        ok = np.zeros(len(matrix), dtype=int)
        for c in cols:
            above = (matrix > matrix[:, [c]]).sum(axis=1)
            ok += (above <= 3) & (matrix[:, c] > 0)
        return ok

    printed = int(qualifying(base.to_numpy()[None, :])[0])
    if unknown <= 0:
        return printed, printed, printed
    span, result = int(unknown), []
    for targets, pick in ((followers, np.max),
                          (base.drop(list(followers) + list(leaders)).nlargest(4).index.tolist(), np.min)):
        add = _allocations(span, len(targets))
        matrix = np.repeat(base.to_numpy()[None, :], len(add), axis=0)
        matrix[:, [base.index.get_loc(t) for t in targets]] += add
        result.append(int(pick(qualifying(matrix))))
    return printed, result[1], result[0]


#: parameters that choose how the claim is read (register, two-town seats, base year, which
#: Sofia); a run that changes one is a sensitivity run. alpha changes only the level.
CHOICES = ("register", "count_two_town_seats", "reference_year", "sofia")


def _role(ctx: RunContext) -> str:
    """Primary in a run with the default choices (:data:`CHOICES`), else sensitivity."""
    same = all(ctx.parameters[k] == DEFAULTS[k] for k in CHOICES)
    return "primary" if same else "sensitivity"


def share_row(k: float, k_test: int, n: int, p: dict, sofia_label: str) -> pd.DataFrame:
    """C07.more_than_half: exact one-sided binomial test of "more than half in Sofia"."""
    r = binomial_share_test(k_test, n, 0.5, "greater", 1 - p["alpha"], label="share seated in Sofia")
    r.loc[0, "effect"] = k / n
    r["part"] = "C07.more_than_half"
    r["h0"] = f"at most half of the clusters with a known seat are in {sofia_label}"
    r["h1"] = f"more than half are in {sofia_label}"
    return r


def base_rows(k: float, k_test: int, n: int, shares: dict[str, float], ci: float) -> pd.DataFrame:
    """Sofia's share of clusters against its share of population and enterprises (descriptive:
    the guide states no such comparison; the rows show how strong the capital's weight is)."""
    r = share_vs_reference(k_test, n, shares, "greater", ci, label="share seated in Sofia")
    r["h0"] = [f"Sofia's share of clusters is at most its share of {nm}" for nm in shares]
    r["h1"] = [f"Sofia's share of clusters exceeds its share of {nm}" for nm in shares]
    if k != k_test and k_test:
        r["effect"] = r["effect"] * k / k_test
    r["part"], r["role"] = pd.NA, "descriptive"
    return r


def follower_row(by_district: pd.Series, n: int, unknown: int, sofia_codes) -> pd.DataFrame:
    """C07.followers: how many of Plovdiv, Burgas, Varna rank 2nd-4th, with the bounds the
    clusters of unknown seat allow (within_bounds against the guide's three)."""
    names_lat = districts().set_index("nuts3")["name_latin"]
    rank = by_district.rank(ascending=False, method="min")
    top = by_district.sort_values(ascending=False, kind="stable")
    printed, lo, hi = follower_bounds(by_district, list(FOLLOWERS), unknown, tuple(sofia_codes))
    return pd.DataFrame([{
        "test": "Plovdiv, Burgas and Varna are the next seats after Sofia",
        "method": ("seat counts by district (NUTS 3), ranked (ties share the best rank); bounds: "
                   f"the {unknown} clusters without a known seat placed anywhere"),
        "statistic": float(sum(by_district[c] for c in FOLLOWERS)), "p_value": pd.NA,
        "effect_name": "of Plovdiv, Burgas, Varna ranked 2nd-4th", "effect": float(printed),
        "ci_low": float(lo), "ci_high": float(hi), "ci_level": pd.NA, "n": n, "unit": "cities",
        "reference": "descriptive count",
        "note": ("; ".join(f"{nm}: {by_district[c]:g} clusters (rank {int(rank[c])})"
                           for c, nm in FOLLOWERS.items())
                 + "; statistic = clusters seated in the three; districts by seats: "
                 + ", ".join(f"{names_lat.get(c, c)} {v:g}" for c, v in top[top > 0].items())),
        "h0": "-", "h1": "Plovdiv, Burgas and Varna rank 2nd-4th after Sofia",
        "part": "C07.followers"}])


def nuts2_lq(counts: pd.Series, bases: pd.DataFrame, ci: float, names: dict[str, str], *,
             country: str = "BG", counts_name: str = "cluster seats",
             input_names: dict[str, str] | None = None) -> tuple[pd.DataFrame, nuts.AlignedInputs]:
    """Location quotients of ``counts`` per NUTS 2 region against each column of ``bases``, on
    the coarsest common NUTS partition of the inputs.

    Parameters
    ----------
    counts : Series
        Additive counts (cluster seats) by NUTS 2 code; a region without a row has none.
    bases : DataFrame
        Additive bases (population, enterprises) by NUTS 2 code, one column per base.
    ci : float
        Confidence level of the exact intervals.
    names : dict
        Column of ``bases`` -> its label in the table's ``base_name``.
    country : str
    counts_name, input_names : str, dict
        How the inputs are named in the NUTS version lines and refusals.

    Returns
    -------
    (DataFrame, AlignedInputs)
        The tidy LQ rows (:func:`clusterstats.stats.location.cluster_lq`) with ``base`` and the
        unit's ``label``; the alignment (versions derived from the codes, comparability report).

    Raises
    ------
    clusterstats.nuts.NotComparableError
        The region with the most counts, or a majority of regions, cannot be made comparable.

    Notes
    -----
    Each input's NUTS version is derived from its codes (:func:`clusterstats.nuts.match_version`);
    counts and bases are summed over the units of the common partition and the LQ (Isard 1960)
    recomputed from those sums (:func:`clusterstats.nuts.align_inputs`), never averaged.
    """
    label = dict(input_names or {})
    label = {c: label.get(c, c) for c in bases.columns}
    inputs = {counts_name: counts, **{label[c]: bases[c] for c in bases.columns}}
    aligned = nuts.align_inputs(inputs, country, leader=str(counts.idxmax()), zero_fill=(counts_name,),
                                what=f"the NUTS 2 location quotients of {counts_name}")
    units = aligned.partition.groupby("unit_id")["label"].first()
    frames = [cluster_lq(aligned.values[counts_name].round(6), aligned.values[label[c]], ci,
                         base_name=names[c]).assign(base=c) for c in bases.columns]
    t = pd.concat(frames, ignore_index=True)
    t["label"] = t["region"].map(units)
    return t[["base"] + [c for c in t.columns if c != "base"]], aligned


def lq_tables(units: pd.DataFrame, base: pd.DataFrame, by_district: pd.Series, ci: float,
              names: dict[str, str]) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Location quotients of cluster organisations by district and NUTS 2 region, each base, and
    the NUTS version line of each input (derived from the codes, :func:`nuts2_lq`)."""
    missing = sorted(set(by_district.index[by_district > 0]) - set(base.index))
    if missing:
        raise nuts.NotComparableError(f"cluster seats in districts {missing} have no base value")
    lq_d = pd.concat([cluster_lq(by_district.round(6), base[col], ci, base_name=names[col]).assign(base=col)
                      for col in base.columns], ignore_index=True)
    base2 = base.groupby(nuts.nuts2_parent(base.index)).sum()
    by_region = units.dropna(subset=["nuts2"]).groupby("nuts2")["weight"].sum()
    lq_r, aligned = nuts2_lq(by_region, base2, ci, names, input_names=LQ_INPUTS,
                             counts_name=LQ_INPUTS["seats"])
    versions = {**nuts.describe_versions(aligned), "NUTS 3": NUTS3_NOTE}
    tables = {"lq_district": lq_d[["base"] + [c for c in lq_d.columns if c != "base"]], "lq_nuts2": lq_r}
    return tables, versions


def lq_nuts_versions(reference_year: int = 2016, register: str = "bsmepa",
                     count_two_town_seats: str = "first") -> dict[str, str]:
    """The NUTS version of each location-quotient input, derived from its codes (one line per
    input, as in the rows' caveats); ``LQ_NUTS_VERSIONS`` is this function."""
    base, _ = base_shares(reference_year)
    units = seat_units(register, count_two_town_seats)
    by_district = (units.dropna(subset=["nuts3"]).groupby("nuts3")["weight"].sum()
                   .reindex(base.index, fill_value=0.0))
    return lq_tables(units, base, by_district, 0.95, _base_names(reference_year))[1]


#: kept name (issue 12 replaced the hand-written dict): the derived NUTS versions of the LQ inputs
LQ_NUTS_VERSIONS = lq_nuts_versions


def lq_nuts_caveat(versions: dict[str, str]) -> str:
    """The caveat line naming each LQ input's NUTS version."""
    return ("NUTS versions of the LQ inputs (derived from their codes): "
            + "; ".join(f"{k}: {v}" for k, v in versions.items()))


def _caveats(units: pd.DataFrame, p: dict, k: float, k_test: int, versions: dict[str, str]) -> str:
    n, listed = units.attrs["clusters_with_seat"], units.attrs["clusters_listed"]
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
    caveats.append(lq_nuts_caveat(versions))
    return "; ".join(caveats)


def _unknown_seats(units: pd.DataFrame, register: str) -> int:
    """Clusters of the register whose seat is not known (no printed seat, or a missing row)."""
    unknown = units.attrs["clusters_listed"] - units.attrs["clusters_with_seat"]
    if register == "bsmepa":
        unknown += len(registry.bsmepa_coverage()["missing"])
    return int(unknown)


def _base_names(year: int) -> dict[str, str]:
    return {"population_nsi": f"population (NSI, 31 Dec {year}, pre-2021-census vintage)",
            "population_eurostat": f"population (Eurostat demo_r_pjanaggr3, 1 Jan {year})",
            "enterprises": f"active employer enterprises (Eurostat bd_enace2_r3 V11910, {year})"}


NOTES = [
    "No BSMEPA seat lies in Sofia province (BG412), so the Sofia count is the same for either "
    "reading of 'Sofia'; only the base shares change.",
    "Population from NSI (31 December, pre-2021-census) and Eurostat (1 January, post-census) are "
    "two vintages, shown in two rows and never combined.",
    "bd_enace2_r3 counts employer enterprises of the business economy (NACE B-S without K64.2): "
    "no agriculture, public administration or enterprises without employees.",
    "Sofia's share against its share of population and enterprises is descriptive: the guide "
    "states no such comparison, so those rows carry no verdict.",
]


NARRATIVE = """\
{% set half = row(part="C07.more_than_half") %}
{% set fol = row(part="C07.followers") %}
* **More than half in Sofia: {{ half.verdict }}.** {{ evidence.values.sofia_count|num }} of the
  {{ half.n|num }} clusters with a known seat ({{ half.effect|pct }}, interval {{ half|ci }}) are
  seated in {{ evidence.values.sofia_label }}; one-sided p = {{ half.p_value|p }} (Holm within the
  claim: {{ half.p_holm|p }}). Rule: {{ half.verdict_text }}. Under other levels:
  {{ half.verdict_sensitivity }}. The share is over the clusters with a printed seat only
  ({{ evidence.values.unknown|num }} clusters of the register have no known seat).
* **Plovdiv, Burgas and Varna follow: {{ fol.verdict }}.** {{ fol.effect|num }} of the three rank
  2nd-4th by the printed seats ({{ fol.note }}). With the clusters of unknown seat placed anywhere
  the number could be anything from {{ fol.ci_low|num }} to {{ fol.ci_high|num }}: {{ fol.verdict_text }}.
* **Concentration beyond Sofia's weight (descriptive, no verdict).**
{% for r in rows.itertuples() if r.role == "descriptive" %}
  Against its share of {{ r.test.split(" vs ")[1] }}: ratio {{ r.effect|num }} (interval {{ {"ci_low": r.ci_low, "ci_high": r.ci_high}|ci }}, one-sided p = {{ r.p_value|p }}).
{% endfor %}
"""


class ConcentrationHypothesis(Hypothesis):
    """H3: are more than half of Bulgaria's clusters seated in Sofia? (claim C07)"""

    id, notebook, claims = HYPOTHESIS, NOTEBOOK, (CLAIM_ID,)
    defaults = DEFAULTS
    title = "Are more than half of the clusters seated in Sofia?"
    narrative_template = NARRATIVE

    _check = staticmethod(check_parameters)

    def compute(self, ctx: RunContext) -> Evidence:
        p = ctx.parameters
        ci, sofia_codes = 1 - p["alpha"], SOFIA_CHOICES[p["sofia"]]
        sofia_label = ("Sofia (capital, BG411)" if p["sofia"] == "city" else
                       "Sofia capital + Sofia province (BG411+BG412)")
        base, frames = base_shares(p["reference_year"])  # first: it checks reference_year
        units = seat_units(p["register"], p["count_two_town_seats"])
        k, n = _sofia_count(units, sofia_codes, p["count_two_town_seats"])
        k_test, names = math.floor(k + 1e-9), _base_names(p["reference_year"])
        shares = {names[c]: float(base.loc[list(sofia_codes), c].sum() / base[c].sum()) for c in base}
        by_district = (units.dropna(subset=["nuts3"]).groupby("nuts3")["weight"].sum()
                       .reindex(base.index, fill_value=0.0))
        unknown = _unknown_seats(units, p["register"])
        lq, versions = lq_tables(units, base, by_district, ci, names)
        rows = pd.concat([share_row(k, k_test, n, p, sofia_label).assign(role=_role(ctx)),
                          follower_row(by_district, n, unknown, sofia_codes).assign(role=_role(ctx)),
                          base_rows(k, k_test, n, shares, ci)], ignore_index=True)
        rows["claim_id"], rows["claim"] = CLAIM_ID, CLAIM
        sources = [SOURCE_GUIDE + ("BSMEPA annex" if p["register"] == "bsmepa" else "ABC most active members"),
                   "NSI population by district (report 02.06.2018)",
                   "Eurostat demo_r_pjanaggr3", "Eurostat bd_enace2_r3"]
        vintage = snapshot_vintage(frames)
        rows = finish_rows(rows, hypothesis=HYPOTHESIS, notebook=NOTEBOOK, parameters=p,
                           caveats=_caveats(units, p, k, k_test, versions), data_sources="; ".join(sources),
                           data_vintage=vintage, run_id=ctx.name)
        names_lat = districts().set_index("nuts3")["name_latin"]
        tables = {"units": units, "base": base.reset_index(),
                  "seats_by_district": _district_table(by_district, base, names_lat),
                  **lq}
        values = {"sofia_count": k, "n": n, "unknown": unknown, "sofia_label": sofia_label,
                  "listed": units.attrs["clusters_listed"], "nuts_versions": versions}
        return Evidence(rows=rows, tables=tables, notes=list(NOTES), sources=sources,
                        vintage=vintage, parameters=p, values=values,
                        models={"parameters": p, "sofia_count": k, "n": n})

    def figures(self, evidence: Evidence) -> dict:
        out = {"h3_seats_by_district": figure_seats(evidence)}
        for level in ("nuts3", "nuts2"):
            out[f"h3_cluster_lq_{level}"] = figure_lq_map(evidence, level=level, base="enterprises")
        return out


#: the declared hypothesis: this module's one entry point
hypothesis = ConcentrationHypothesis()


def run(**parameters) -> Evidence:
    """Run H3 (compute and judge, nothing written); parameters as :data:`DEFAULTS`."""
    return hypothesis.run(**parameters)


def output_name(parameters: dict, stem: str = NOTEBOOK.removesuffix(".ipynb")) -> str:
    """The run's name for these parameters (:func:`clusterstats.context.run_name`)."""
    return run_name(stem, parameters, DEFAULTS)


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
def figure_seats(analysis: Evidence):
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
    p = analysis.parameters
    ax.set_title(f"Cluster seats by district vs population and enterprises, {p['reference_year']}")
    return fig, table.reset_index(drop=True)


def figure_lq_map(analysis: Evidence, level: str = "nuts3", base: str = "enterprises"):
    """Choropleth of the cluster location quotient (clusters' share / base share) by NUTS 3 or
    NUTS 2. Returns (fig, data_plotted)."""
    from .. import maps

    check_choice(level, ("nuts3", "nuts2"), "level")
    check_choice(base, ("population_nsi", "population_eurostat", "enterprises"), "base")
    lq = analysis.tables["lq_district" if level == "nuts3" else "lq_nuts2"]
    lq = lq[lq["base"] == base][["region", "effect", "ci_low", "ci_high", "statistic"]].copy()
    lq = lq.rename(columns={"region": "geo", "effect": "lq", "statistic": "clusters"})
    lq["lq"] = lq["lq"].astype(float)
    map_year = 2021 if level == "nuts3" else 2016
    gdf = maps.load_nuts(3 if level == "nuts3" else 2, year=map_year)
    versions = map_join(lq["geo"], gdf["NUTS_ID"], map_year, level)
    fig, ax = maps.new_map_figure(gdf, "double")
    maps.choropleth(ax, gdf, lq, key="geo", value="lq", unit="ratio",
                    label=f"Cluster location quotient (base: {base.replace('_', ' ')})",
                    source="Source: guide annex (BSMEPA seats); Eurostat bd_enace2_r3, "
                           f"demo_r_pjanaggr3; NSI. {versions}",
                    cmap="viridis", value_format="{:.1f}",
                    labels="name+value" if level == "nuts2" else "auto")
    return fig, lq.reset_index(drop=True)


def map_join(codes, map_codes, map_year: int, level: str = "nuts2", country: str = "BG") -> str:
    """Check that regions (NUTS 2 units or NUTS 3 districts) can be drawn on GISCO geometries of
    NUTS ``map_year`` without losing any; returns the source-line text naming both versions.

    NUTS 2 codes are checked by :func:`clusterstats.nuts.check_map_join` (versions from the
    codes). NUTS 3 codes, which the correspondences do not cover, must each be a region of the
    map, and their NUTS 2 parents are checked the same way. Raises
    :class:`clusterstats.nuts.NotComparableError` naming the regions that would be dropped.
    """
    codes, map_codes = [str(c) for c in codes], [str(c) for c in map_codes]
    if level == "nuts2":
        return nuts.check_map_join(codes, map_codes, map_year, country, what="the NUTS 2 LQ map")
    lost = sorted(set(codes) - set(map_codes))
    if lost:
        raise nuts.NotComparableError(f"the NUTS 3 LQ map refused: districts {', '.join(lost)} are not "
                                      f"regions of the NUTS {map_year} geometries")
    text = nuts.check_map_join(nuts.nuts2_parent(codes), nuts.nuts2_parent(map_codes), map_year,
                               country, what="the NUTS 3 LQ map")
    return text + "; NUTS 3 districts matched by code"
