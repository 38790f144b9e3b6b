"""H9 (claim C09): do clusters sit where their branch is specialised, and does ICT lead?

The guide (seed line 197): "The level of development of a given branch can be judged by the level
of clustering in it ... The cluster in the ICT sector is the largest ... the sectors with a large
number of clusters, with the leading role of ICT and the rest also being knowledge-intensive".

What is measured
    * Location quotients LQ = (E_ir/E_r)/(E_i/E) (Isard 1960) by NACE section group:
      ``level="nuts3"``: the 28 districts from Eurostat bd_enace2_r3 (employer business
      demography; ``indicator`` V16911 = employees of active enterprises, or V11910 = active
      enterprises), 10 groups of the business economy B-S without K64.2;
      ``level="nuts2"``: the 6 regions from the Labour Force Survey lfst_r_lfe2en2 (employed
      persons aged 15+, thousands), which ends in 2015, so a later ``year`` uses 2015.
    * Each printed BSMEPA cluster's free-text sector mapped to one of those groups by the reviewed
      table ``data/registry/sector_nace_map.csv`` (confidence and reason per row; "unmappable"
      rows are left out, never guessed).
    * Whether clusters sit in their sector's specialised cells:
      :func:`clusterstats.stats.location.specialisation_permutation_test` (mean log LQ of the
      clusters' own cells against shuffled seats; Phipson & Smyth 2010 p-values), and the share of
      clusters in cells with LQ > 1 and LQ >= 2 with the same permutation null.
    * The counts behind "ICT has the most clusters": clusters whose sector names ICT or
      telecommunications, and clusters by mapped NACE group.

Claim parts (``data/claims.yaml``; the module attribute :data:`hypothesis` computes, the
declared rules judge): ``C09.ict_most`` (ICT's lead over the next label, bounded by the rows
missing from the guide's text; rule ``interval_inside``), ``C09.branch`` (the permutation test,
rule ``one_sided``; the LQ-share tests are sensitivity rows) and ``C09.knowledge`` (not
testable). Runs with another level, indicator, year or mapping confidence (:data:`CHOICES`) are
sensitivity runs.

NUTS versions (issue 12): each LQ input's NUTS 2 version is derived from its codes
(:func:`clusterstats.nuts.match_version`); base and seats are summed onto the coarsest common
partition before the LQ is computed, and a comparison that would lose the region with the most
clusters or most regions is refused (:func:`harmonise_lq_inputs`). The derived versions are in the
rows' caveats (:func:`lq_nuts_versions`). Bulgaria's NUTS 2 codes are the same in every version
since 2010, so the partition is the identity.

What the data cannot show: the groups are broad (all manufacturing is one group B-E), the
business-demography data cover employer enterprises only, Sofia and Plovdiv dominate the seats,
and a cluster's seat is its registered address, not where its members work.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import nuts, registry
from ..params import ParameterError, check_alpha, check_choice
from ..snapshot import load_snapshot
from ..stats.association import binomial_share_test
from ..stats.location import location_quotient, specialisation_permutation_test
from ..context import RunContext, run_name
from ..hypothesis import Evidence, Hypothesis
from ._common import finish_rows, snapshot_vintage

NOTEBOOK = "h9_specialisation.ipynb"
HYPOTHESIS = "H9"
CLAIM_ID = "C09"
CLAIM = ("ICT has the most clusters; clustered sectors are knowledge-intensive, and clustering "
         "reflects the development of a branch (guide, seed line 197).")
DEFAULTS = dict(year=2016, indicator="V16911", level="nuts3", min_confidence="low", n_perm=9999,
                seed=0, alpha=0.05)
INDICATORS = {"V16911": "employees of active enterprises", "V11910": "active enterprises"}
LEVELS = ("nuts3", "nuts2")
#: bd_enace2_r3 groups (the business economy B-S without K64.2, which is their total)
BD_GROUPS = ["B-E", "F", "G", "H", "I", "J", "K_L_X_K642", "M_N", "P_Q", "R_S"]
BD_TOTAL = "B-S_X_K642"
GROUP_NAMES = {"B-E": "Industry (mining, manufacturing, energy, water)", "F": "Construction",
               "G": "Trade", "H": "Transport", "I": "Accommodation and food",
               "J": "Information and communication", "K_L_X_K642": "Finance and real estate",
               "M_N": "Professional, scientific, administrative", "P_Q": "Education and health",
               "R_S": "Arts, recreation, other services", "A": "Agriculture",
               "G-I": "Trade, transport, accommodation", "K": "Finance", "O-Q":
               "Public administration, education, health", "R-U": "Arts and other services",
               "other": "L, no response and unpublished cells"}
#: a bd_enace2_r3 group -> the LFS group containing it (LFS groups are coarser for G-I, O-Q, R-U)
BD_TO_LFS = {"B-E": "B-E", "F": "F", "G": "G-I", "H": "G-I", "I": "G-I", "J": "J",
             "K_L_X_K642": None, "M_N": "M_N", "P_Q": "O-Q", "R_S": "R-U"}
LFS_GROUPS = ["A", "B-E", "F", "G-I", "J", "K", "M_N", "O-Q", "R-U"]
LFS_LAST_YEAR = 2015
CONFIDENCE = ("high", "medium", "low", "none")
MAP_FILE = "sector_nace_map.csv"
SOURCE_GUIDE = "Good Practices Guide on Clusters and Technology Transfers - Bulgaria (2018), BSMEPA annex"
NUTS3_NOTE = ("NUTS 3 districts: matched by code (the NUTS correspondences cover NUTS 2 only); "
              "their NUTS 2 parents (by code) checked across versions")


# ------------------------------------------------------------------------------------------------
# the reviewed sector map
# ------------------------------------------------------------------------------------------------
def load_sector_map(path: str | Path | None = None) -> pd.DataFrame:
    """The reviewed sector -> NACE group table, validated (errors name the file, line, reason).

    Columns: sector (text exactly as in the BSMEPA ``sector`` column), nace_group (a
    bd_enace2_r3 group or ``unmappable``), ict (the text names ICT/telecommunications),
    confidence (high / medium / low, ``none`` for unmappable) and reason.
    """
    path = Path(path) if path is not None else registry.registry_dir() / MAP_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing")
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    need = ["sector", "nace_group", "ict", "confidence", "reason"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise registry.RegistryError(f"{path.name}: missing column(s) {missing} [{path}]")
    for i, r in df.iterrows():
        where = f"{path.name}: line {i + 2} ({r['sector']!r})"
        if not r["sector"].strip():
            raise registry.RegistryError(f"{where}: empty sector text")
        if r["nace_group"] not in BD_GROUPS + ["unmappable"]:
            raise registry.RegistryError(
                f"{where}: nace_group {r['nace_group']!r} is not one of {BD_GROUPS + ['unmappable']}")
        if r["confidence"] not in CONFIDENCE:
            raise registry.RegistryError(f"{where}: confidence {r['confidence']!r} not in {CONFIDENCE}")
        if (r["nace_group"] == "unmappable") != (r["confidence"] == "none"):
            raise registry.RegistryError(f"{where}: confidence 'none' goes with 'unmappable' only")
        if r["ict"] not in ("True", "False"):
            raise registry.RegistryError(f"{where}: ict must be True or False, got {r['ict']!r}")
        if not r["reason"].strip():
            raise registry.RegistryError(f"{where}: a reason is required")
    dup = df["sector"].duplicated()
    if dup.any():
        raise registry.RegistryError(f"{path.name}: sector {df.loc[dup, 'sector'].iloc[0]!r} listed twice")
    df["ict"] = df["ict"].eq("True")
    return df


def cluster_sectors(sector_map: pd.DataFrame | None = None) -> pd.DataFrame:
    """The printed BSMEPA clusters with their mapped sector and first seat town's district/region.

    Columns: cluster_id, bsmepa_row, name_bg, sector, nace_group, nace_lfs, ict, confidence,
    seat, seat_nuts3, seat_nuts2. A sector text missing from the map is an error (never guessed).
    """
    smap = load_sector_map() if sector_map is None else sector_map
    cl = registry.clusters()
    cl = cl[cl["in_bsmepa"]]
    unmapped = sorted(set(cl["sector"].dropna()) - set(smap["sector"]))
    if unmapped:
        raise registry.RegistryError(
            f"{MAP_FILE}: no row for sector text(s) {unmapped} of the BSMEPA table; add them "
            "(with 'unmappable' if no NACE group fits)")
    out = cl[["cluster_id", "bsmepa_row", "name_bg", "sector", "seat", "seat_nuts3", "seat_nuts2"]]
    out = out.merge(smap, on="sector", how="left", validate="many_to_one")
    out["nace_lfs"] = out["nace_group"].map(BD_TO_LFS)
    return out.sort_values("bsmepa_row").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# location quotients
# ------------------------------------------------------------------------------------------------
def lq_base(level: str = "nuts3", year: int = 2016, indicator: str = "V16911"
            ) -> tuple[pd.DataFrame, pd.DataFrame, int, list[str]]:
    """The LQ base by region x NACE group: (long frame region/sector/value, snapshot used, year
    used, notes).

    nuts3: bd_enace2_r3 ``indicator``, the 10 groups (which add up to the total exactly, checked).
    nuts2: lfst_r_lfe2en2, employed aged 15+, thousands; unpublished cells, L and 'no response'
    go to an ``other`` residual (TOTAL less the published groups) so that each region's total is
    its published TOTAL. LFS values are survey estimates, not counts: no CI.
    """
    notes = []
    if level == "nuts3":
        bd = load_snapshot("bd_enace2_r3")
        years = sorted(bd["time"].astype(int).unique())
        if year not in years:
            raise ParameterError(f"year={year}: bd_enace2_r3 covers {years[0]}-{years[-1]}")
        d = bd[(bd["time"].astype(int) == year) & (bd["indic_sb"] == indicator)]
        wide = d.pivot_table(index="geo", columns="nace_r2", values="value", observed=True)
        if wide.isna().any().any():
            raise ValueError(f"bd_enace2_r3 {indicator} {year}: empty cells "
                             f"{wide.columns[wide.isna().any()].tolist()}")
        gap = (wide[BD_GROUPS].sum(axis=1) - wide[BD_TOTAL]).abs().max()
        if gap > 0.5:
            raise ValueError(f"bd_enace2_r3 {indicator} {year}: groups do not add up to "
                             f"{BD_TOTAL} (largest gap {gap})")
        long = wide[BD_GROUPS].stack().rename("value").reset_index()
        long.columns = ["region", "sector", "value"]
        return long, bd, year, notes
    lfs = load_snapshot("lfst_r_lfe2en2")
    years = sorted(lfs["time"].astype(int).unique())
    used = min(year, LFS_LAST_YEAR)
    if used not in years:
        raise ParameterError(f"year={year}: lfst_r_lfe2en2 covers {years[0]}-{years[-1]}")
    if used != year:
        notes.append(f"NUTS 2 employment (LFS) ends in {LFS_LAST_YEAR}: {used} used for {year}")
    d = lfs[(lfs["time"].astype(int) == used) & (lfs["age"] == "Y_GE15")
            & lfs["geo"].astype(str).str.fullmatch(r"BG\d\d")]
    wide = d.pivot_table(index="geo", columns="nace_r2", values="value", observed=True,
                         dropna=False)
    published = wide[LFS_GROUPS]
    suppressed = [(g, s) for g in published.index for s in LFS_GROUPS if pd.isna(published.loc[g, s])]
    if suppressed:
        notes.append("LFS cells not published (too few respondents), counted in 'other': "
                     + ", ".join(f"{g} {s}" for g, s in suppressed))
    flagged = d[d["flag"].astype(str).str.contains("u", na=False)]
    if len(flagged):
        notes.append(f"{len(flagged)} LFS cells flagged 'u' (low reliability) in {used}")
    wide = published.copy()
    wide["other"] = (d.pivot_table(index="geo", columns="nace_r2", values="value",
                                   observed=True)["TOTAL"] - published.sum(axis=1)).clip(lower=0)
    long = wide.stack().dropna().rename("value").reset_index()
    long.columns = ["region", "sector", "value"]
    return long, lfs, used, notes


def lq_table(level: str = "nuts3", year: int = 2016, indicator: str = "V16911",
             ci_level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame, int, list[str]]:
    """LQ by region x NACE group on the published codes: (lq frame, snapshot used, year used,
    notes); :func:`lq_base` gives the inputs, :func:`harmonise_lq_inputs` their NUTS partition."""
    long, frame, used, notes = lq_base(level, year, indicator)
    return location_quotient(long, ci_level=ci_level if level == "nuts3" else None), frame, used, notes


def harmonise_lq_inputs(long: pd.DataFrame, units: pd.DataFrame, base_name: str, level: str = "nuts2",
                        country: str = "BG") -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Bring the LQ base (``region, sector, value``) and the cluster seats (``units.region``)
    onto one NUTS partition before any LQ is computed.

    Parameters
    ----------
    long : DataFrame
        Additive base (employment, enterprises) by region and sector.
    units : DataFrame
        One row per cluster with its ``region``.
    base_name : str
        The base's name in the NUTS version lines and refusals.
    level : {"nuts2", "nuts3"}
    country : str

    Returns
    -------
    (long, units, versions)
        ``long`` summed over the units of the common partition (``region`` = unit id), ``units``
        with ``region`` mapped to the unit (clusters in excluded units left out), and one line
        per input naming the NUTS versions its codes fit (derived, never typed).

    Raises
    ------
    clusterstats.nuts.NotComparableError
        The region with the most clusters or a majority of regions cannot be compared; at
        ``nuts3``, a seat district that is not a region of the base.

    Notes
    -----
    Versions from the codes (:func:`clusterstats.nuts.match_version`), sums over the coarsest
    common partition (:func:`clusterstats.nuts.align_inputs`, :func:`clusterstats.nuts.harmonise`);
    the LQ (Isard 1960) is then computed from the harmonised sums. NUTS 3 codes are not covered
    by the correspondences: at ``nuts3`` their NUTS 2 parents are aligned and the districts
    matched by code.
    """
    seats = units.groupby("region").size().astype(float)
    totals = long.groupby("region")["value"].sum()
    if level == "nuts3":
        lost = sorted(set(units["region"]) - set(long["region"]))
        if lost:
            raise nuts.NotComparableError(f"the NUTS 3 LQs refused: seat districts {lost} are not "
                                          f"regions of {base_name}")
        seats = seats.groupby(nuts.nuts2_parent(seats.index)).sum()
        totals = totals.groupby(nuts.nuts2_parent(totals.index)).sum()
    aligned = nuts.align_inputs({"cluster seats": seats, base_name: totals}, country,
                                leader=str(seats.idxmax()), zero_fill=("cluster seats",),
                                what=f"the {level.upper()} location quotients")
    versions = nuts.describe_versions(aligned)
    if level == "nuts3":
        return long, units, {**versions, "NUTS 3": NUTS3_NOTE}
    part, ok = aligned.partition, set(aligned.values[base_name].index)
    h = nuts.harmonise(long.rename(columns={"region": "geo"})[["geo", "sector", "value"]],
                       aligned.versions[base_name], part, other_versions="drop").data
    long_u = h.loc[h["unit_id"].isin(ok), ["unit_id", "sector", "value"]].rename(columns={"unit_id": "region"})
    to_unit = part[part["version"] == aligned.versions["cluster seats"]].set_index("code")["unit_id"]
    units_u = units.assign(region=units["region"].map(to_unit))
    units_u = units_u[units_u["region"].isin(ok)].copy()
    units_u.attrs = dict(units.attrs, outside=len(units) - len(units_u))
    # keep the base's row order (for Bulgaria the result is then the input, row for row)
    base_unit = part[part["version"] == aligned.versions[base_name]].set_index("code")["unit_id"]
    keys = pd.unique(pd.Series(list(zip(long["region"].astype(str).map(base_unit), long["sector"].astype(str)))))
    long_u = long_u.set_index(["region", "sector"]).reindex(keys).dropna().reset_index()
    return long_u, units_u, versions


# ------------------------------------------------------------------------------------------------
# run
# ------------------------------------------------------------------------------------------------
def check_parameters(year=2016, indicator="V16911", level="nuts3", min_confidence="low",
                     n_perm=9999, seed=0, alpha=0.05) -> dict:
    if isinstance(year, bool) or not isinstance(year, (int, np.integer)):
        raise ParameterError(f"year must be a whole year such as 2016, got {year!r}")
    check_choice(indicator, list(INDICATORS), "indicator")
    check_choice(level, LEVELS, "level")
    check_choice(min_confidence, CONFIDENCE[:3], "min_confidence")
    if isinstance(n_perm, bool) or not isinstance(n_perm, (int, np.integer)) or n_perm < 99:
        raise ParameterError(f"n_perm must be a whole number of at least 99, got {n_perm!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed must be a non-negative whole number, got {seed!r}")
    return dict(year=int(year), indicator=indicator, level=level, min_confidence=min_confidence,
                n_perm=int(n_perm),
                seed=int(seed), alpha=check_alpha(alpha))


def _share_in_cells(units: pd.DataFrame, lq: pd.DataFrame, threshold: float, strict: bool,
                    n_perm: int, seed: int, ci_level: float = 0.95) -> tuple[pd.DataFrame, float]:
    """Share of clusters in cells with LQ > threshold (or >=), with the permutation null of
    :func:`specialisation_permutation_test`: the test is run on an indicator table whose "LQ" is
    2 in qualifying cells and 1 elsewhere (never 0, which the test would floor), so the mean over
    the clusters is 1 + share and the permutation p-value is that of the share itself."""
    hit = lq["lq"] > threshold if strict else lq["lq"] >= threshold
    indicator = lq[["region", "sector"]].assign(lq=np.where(hit, 2.0, 1.0))
    row = specialisation_permutation_test(units, indicator, n_perm=n_perm, seed=seed, log=False)
    share = float(row.loc[0, "effect"]) - 1
    # Expected share under the permutation null, exactly: each cluster's sector paired with a
    # region drawn from the clusters' own regions, averaged over clusters.
    cells = set(zip(lq.loc[hit, "region"], lq.loc[hit, "sector"]))
    used = units[units["region"].isin(lq["region"]) & units["sector"].isin(lq["sector"])]
    regions = used["region"].tolist()
    null_share = float(np.mean([np.mean([(r, s) in cells for r in regions])
                                for s in used["sector"]]))
    op = ">" if strict else ">="
    row["test"] = f"share of clusters in cells with LQ {op} {threshold:g}"
    row["method"] = (f"share of clusters whose region x sector cell has LQ {op} {threshold:g}; "
                     f"one-sided p from {n_perm} permutations of the clusters' regions (seed {seed})")
    row["statistic"] = float(round(share * row.loc[0, "n"]))
    row["effect_name"], row["effect"], row["unit"] = "share of clusters", share, "share"
    ci = binomial_share_test(int(round(share * row.loc[0, "n"])), int(row.loc[0, "n"]),
                             ci_level=ci_level)
    row["ci_low"], row["ci_high"] = ci.loc[0, "ci_low"], ci.loc[0, "ci_high"]
    row["ci_level"] = ci_level
    row["note"] = (f"statistic = clusters in such cells; expected share under the permutation "
                   f"null {null_share:.3f}; CI Clopper-Pearson (clusters as independent draws)")
    return row, null_share


#: parameters that choose how the claim is read (data, level, mapping); a run that changes one
#: is a sensitivity run. n_perm, seed and alpha change only the precision or the level.
CHOICES = ("year", "indicator", "level", "min_confidence")


def _role(ctx: RunContext) -> str:
    """Primary in a run with the default choices (:data:`CHOICES`), else sensitivity."""
    same = all(ctx.parameters[k] == DEFAULTS[k] for k in CHOICES)
    return "primary" if same else "sensitivity"


def cluster_units(cs: pd.DataFrame, level: str, min_confidence: str) -> pd.DataFrame:
    """The clusters that enter the LQ tests: mapped at least as surely as ``min_confidence``
    and with a seat, with columns ``region`` and ``sector`` at ``level``."""
    region_col = "seat_nuts3" if level == "nuts3" else "seat_nuts2"
    sector_col = "nace_group" if level == "nuts3" else "nace_lfs"
    # CONFIDENCE is ordered high -> none: keep mappings at least as sure as min_confidence
    sure_enough = CONFIDENCE[:CONFIDENCE.index(min_confidence) + 1]
    mapped = cs[(cs["nace_group"] != "unmappable") & cs["confidence"].isin(sure_enough)]
    units = (mapped.dropna(subset=[region_col, sector_col])
             .rename(columns={"sector": "sector_text"})
             .rename(columns={region_col: "region", sector_col: "sector"}))
    units.attrs["mapped"] = len(mapped)
    return units


def branch_rows(units: pd.DataFrame, lq: pd.DataFrame, p: dict, role: str) -> pd.DataFrame:
    """C09.branch: do clusters sit where their branch is specialised? The permutation test of
    the mean log LQ (the part's test) and, as sensitivity rows, the shares of clusters in cells
    with LQ > 1 and LQ >= 2 against the same permutation null."""
    perm = specialisation_permutation_test(units, lq, n_perm=p["n_perm"], seed=p["seed"])
    perm["role"] = role
    rows = [perm]
    for thr, strict in ((1.0, True), (2.0, False)):
        r, _ = _share_in_cells(units, lq, thr, strict, p["n_perm"], p["seed"], 1 - p["alpha"])
        r["role"] = "sensitivity"
        rows.append(r)
    out = pd.concat(rows, ignore_index=True)
    out["part"] = "C09.branch"
    out["h0"] = "cluster seats are unrelated to where their sector is specialised"
    out["h1"] = "clusters sit in region x sector cells with a higher LQ than shuffled seats give"
    return out


def _lead_row(test: str, method: str, leader: str, n_leader: int, rival: str, n_rival: int,
              n: int, missing: int, role: str) -> dict:
    """How far ``leader`` is ahead of ``rival`` (the largest other), with the bounds the rows
    missing from the guide's text allow (all of them could go to either)."""
    lead = n_leader - n_rival
    return dict(test=test, method=method, statistic=float(n_leader), p_value=pd.NA,
                effect_name=f"{leader} clusters less {rival} clusters", effect=float(lead),
                ci_low=float(lead - missing), ci_high=float(lead + missing), ci_level=pd.NA,
                n=n, unit="clusters", reference="descriptive count", role=role,
                note=(f"{leader} {n_leader}, {rival} {n_rival}; bounds: each of the {missing} "
                      "rows missing from the guide's text could belong to either"),
                h0="-", h1=f"{leader} has more clusters than any other", part="C09.ict_most")


def ict_rows(cs: pd.DataFrame, missing: int, role: str) -> pd.DataFrame:
    """C09.ict_most: ICT's lead over the next sector label (the part's test) and, as a
    sensitivity row, information and communication (J) against the largest other NACE group."""
    n_all, n_ict = len(cs), int(cs["ict"].sum())
    by_text = cs.loc[~cs["ict"], "sector"].value_counts()
    by_group = cs["nace_group"].value_counts().drop("unmappable", errors="ignore")
    other = by_group.drop("J", errors="ignore")
    rows = [
        _lead_row("clusters naming ICT vs the most frequent other sector label",
                  "printed BSMEPA rows whose sector text names ICT or telecommunications (column "
                  "ict of the sector map) less those with the most frequent other sector text",
                  "ICT", n_ict, f"'{by_text.index[0]}'", int(by_text.iloc[0]), n_all, missing, role),
        _lead_row("clusters by NACE group: J vs the largest other group",
                  "printed BSMEPA rows mapped to NACE group J (information and communication) less "
                  "those in the largest other group (sector map)", "J", int(by_group.get("J", 0)),
                  other.index[0], int(other.iloc[0]), n_all, missing, "sensitivity"),
    ]
    out = pd.DataFrame(rows)
    out.loc[1, "note"] += "; counts: " + ", ".join(f"{k} {v}" for k, v in
                                                   cs["nace_group"].value_counts().items())
    return out


def knowledge_row(role: str) -> pd.DataFrame:
    """C09.knowledge: not tested; the recorded data have no knowledge-intensity split by region."""
    return pd.DataFrame([dict(
        test="clustered sectors are knowledge-intensive", method="not computed", role=role,
        effect_name="-", reference="-", part="C09.knowledge", h0="-",
        h1="the sectors with many clusters are knowledge-intensive",
        note=("needs employment in knowledge-intensive activities by region (Eurostat htec "
              "tables), which are not among the recorded data; the broad NACE groups cannot "
              "tell high- from low-tech manufacturing"))])


def _caveats(n_units: int, n_all: int, level: str, versions: dict[str, str]) -> str:
    return "; ".join([
        f"{n_units} of {n_all} printed BSMEPA clusters have both a seat and a mappable sector",
        registry.bsmepa_coverage()["text"],
        "sectors hand-mapped from free text to broad NACE groups (data/registry/sector_nace_map.csv)",
        "first-listed seat town used for two-town seats; a seat is not where members work",
        "employer enterprises of the business economy only" if level == "nuts3" else
        "LFS survey estimates, some cells unpublished or of low reliability",
        "NUTS versions of the LQ inputs (derived from their codes): "
        + "; ".join(f"{k}: {v}" for k, v in versions.items()),
    ])


def _notes(units: pd.DataFrame, n_all: int, p: dict, lq_notes: list[str]) -> list[str]:
    top2 = units["region"].value_counts().head(2)
    n_mapped, n_units = units.attrs["mapped"], len(units)
    return lq_notes + [
        f"{int(top2.sum())} of the {n_units} clusters tested sit in two regions "
        f"({', '.join(top2.index)}): the test mostly asks whether those regions' clusters are in "
        "the sectors those regions specialise in.",
        f"{n_all - n_mapped} clusters have an unmappable sector (or a mapping below "
        f"min_confidence={p['min_confidence']!r}) and {n_mapped - n_units} more lack a seat; "
        "they are left out of the LQ tests.",
        "The NACE groups are broad: all of manufacturing, mining and energy is one group (B-E), "
        "so 'electrical engineering' and 'food' clusters fall in the same cell.",
        "A cluster counts in the district of its first-listed seat town.",
    ]


NARRATIVE = """\
{% set ict = row(part="C09.ict_most", test="clusters naming ICT*") %}
{% set grp = row(part="C09.ict_most", test="clusters by NACE group*") %}
{% set perm = row(part="C09.branch", test="clusters in specialised cells (permutation)") %}
{% set know = row(part="C09.knowledge") %}
* **ICT has the most clusters: {{ ict.verdict }}.** {{ ict.note }}: a lead of
  {{ ict.effect|num }} clusters among the printed rows; {{ ict.verdict_text }}. By the broad NACE
  groups the LQ data use: {{ grp.note }} ({{ grp.verdict }}).
* **Clustering follows the development of a branch: {{ perm.verdict }}.** The clusters' own
  region x sector cells have a geometric mean LQ of {{ perm.effect|num }} ({{ perm.note }};
  one-sided p = {{ perm.p_value|p }}, Holm {{ perm.p_holm|p }}). Rule: {{ perm.verdict_text }}.
{% for r in rows.itertuples() if r.part == "C09.branch" and r.test.startswith("share") %}
  The {{ r.test }}: {{ r.effect|pct }} (p = {{ r.p_value|p }}; {{ r.note }}) → {{ r.verdict }}.
{% endfor %}
  No evidence for the claim is not evidence against it: the test is weak by construction (broad
  groups, seats are not workplaces, rows missing from the guide's text).
* **Clustered sectors are knowledge-intensive: {{ know.verdict }}** ({{ know.note }}).
"""


def base_name(level: str, indicator: str) -> str:
    """The LQ base's name in the NUTS version lines."""
    return f"Eurostat bd_enace2_r3 {indicator}" if level == "nuts3" else "Eurostat lfst_r_lfe2en2"


def harmonised_lq(cs: pd.DataFrame, p: dict):
    """The LQ table on the inputs' common NUTS partition and the clusters that enter the tests:
    (lq, units, snapshot, year used, notes, NUTS version lines)."""
    long, frame, year_used, notes = lq_base(p["level"], p["year"], p["indicator"])
    units = cluster_units(cs, p["level"], p["min_confidence"])
    long, units, versions = harmonise_lq_inputs(long, units, base_name(p["level"], p["indicator"]),
                                                p["level"])
    if units.attrs.get("outside"):
        notes = notes + [f"{units.attrs['outside']} clusters seated in regions that cannot be "
                         "compared across NUTS versions are left out"]
    ci = 1 - p["alpha"] if p["level"] == "nuts3" else None
    return location_quotient(long, ci_level=ci), units, frame, year_used, notes, versions


def lq_nuts_versions(level: str = "nuts3", year: int = 2016, indicator: str = "V16911",
                     min_confidence: str = "low") -> dict[str, str]:
    """The NUTS version of each LQ input, derived from its codes (``LQ_NUTS_VERSIONS`` is this
    function)."""
    p = dict(level=level, year=year, indicator=indicator, min_confidence=min_confidence, alpha=0.05)
    return harmonised_lq(cluster_sectors(), p)[-1]


#: kept name (issue 12 replaced the hand-written dict): the derived NUTS versions of the LQ inputs
LQ_NUTS_VERSIONS = lq_nuts_versions


class SpecialisationHypothesis(Hypothesis):
    """H9: do clusters sit where their branch is specialised, and does ICT lead? (claim C09)"""

    id, notebook, claims = HYPOTHESIS, NOTEBOOK, (CLAIM_ID,)
    defaults = DEFAULTS
    title = "Do clusters follow the development of their branch? Does ICT lead?"
    narrative_template = NARRATIVE

    _check = staticmethod(check_parameters)

    def compute(self, ctx: RunContext) -> Evidence:
        p, role = ctx.parameters, _role(ctx)
        cs = cluster_sectors()
        lq, units, frame, year_used, lq_notes, versions = harmonised_lq(cs, p)
        missing = len(registry.bsmepa_coverage()["missing"])
        rows = pd.concat([branch_rows(units, lq, p, role), ict_rows(cs, missing, role),
                          knowledge_row(role)], ignore_index=True)
        rows["claim_id"], rows["claim"] = CLAIM_ID, CLAIM
        if p["level"] == "nuts3":
            data_name = (f"Eurostat bd_enace2_r3 {p['indicator']} ({INDICATORS[p['indicator']]}), "
                         f"{year_used}, 28 districts")
        else:
            data_name = f"Eurostat lfst_r_lfe2en2 (employed 15+, LFS), {year_used}, 6 NUTS 2 regions"
        sources = [SOURCE_GUIDE, "data/registry/sector_nace_map.csv (reviewed mapping)", data_name]
        vintage = snapshot_vintage([frame])
        rows = finish_rows(rows, hypothesis=HYPOTHESIS, notebook=NOTEBOOK, parameters=p,
                           caveats=_caveats(len(units), len(cs), p["level"], versions),
                           data_sources="; ".join(sources), data_vintage=vintage, run_id=ctx.name)
        counts = units.groupby(["region", "sector"]).size().rename("clusters").reset_index()
        lq_with = lq.merge(counts, on=["region", "sector"], how="left")
        lq_with["clusters"] = lq_with["clusters"].fillna(0).astype(int)
        return Evidence(rows=rows, tables={"lq": lq_with, "clusters": cs, "units": units},
                        notes=_notes(units, len(cs), p, lq_notes), sources=sources,
                        vintage=vintage, parameters=p,
                        values={"year_used": year_used, "role": role,
                                "nuts_versions": versions},
                        models={"parameters": p, "year_used": year_used})

    def figures(self, evidence: Evidence) -> dict:
        return {"h9_lq_heatmap": figure_lq_heatmap(evidence),
                "h9_clusters_by_sector": figure_sectors(evidence)}


#: the declared hypothesis: this module's one entry point
hypothesis = SpecialisationHypothesis()


def run(**parameters) -> Evidence:
    """Run H9 (compute and judge, nothing written); parameters as :data:`DEFAULTS`."""
    return hypothesis.run(**parameters)


def output_name(parameters: dict, stem: str = NOTEBOOK.removesuffix(".ipynb")) -> str:
    """The run's name for these parameters (:func:`clusterstats.context.run_name`)."""
    return run_name(stem, parameters, DEFAULTS)


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------
def figure_lq_heatmap(analysis: Evidence):
    """Heatmap of LQ (log colour scale centred on 1) region x NACE group, the number of clusters
    seated in each cell written in it. Returns (fig, data_plotted)."""
    from matplotlib.colors import LogNorm

    from .. import figures
    from ..geography import districts, nuts2_regions

    p = analysis.parameters
    lq = analysis.tables["lq"].copy()
    grid = lq.pivot(index="region", columns="sector", values="lq")
    cnt = lq.pivot(index="region", columns="sector", values="clusters").fillna(0).astype(int)
    if p["level"] == "nuts3":
        names = districts().set_index("nuts3")["name_latin"]
    else:
        names = nuts2_regions().set_index("nuts2")["name_latin"]
    fig, ax = figures.new_figure("double", 190 if p["level"] == "nuts3" else 90)
    vals = grid.to_numpy(dtype=float)
    positive = vals[vals > 0]
    span = float(max(np.max(positive), 1 / np.min(positive))) if positive.size else 2.0
    img = ax.imshow(np.where(vals > 0, vals, np.nan), cmap="RdBu_r", aspect="auto",
                    norm=LogNorm(vmin=1 / span, vmax=span))
    ax.grid(False)  # the house-style grid would cut through the cells
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=45, ha="right")
    ax.set_yticks(range(grid.shape[0]), [f"{names.get(r, r)} ({r})" for r in grid.index])
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if cnt.iloc[i, j]:
                ax.text(j, i, str(cnt.iloc[i, j]), ha="center", va="center", fontsize=7,
                        fontweight="bold")
    cbar = fig.colorbar(img, ax=ax, shrink=0.6)
    cbar.set_label(figures.axis_label("Location quotient", "ratio, log scale"))
    ax.set_title(f"Specialisation by NACE group ({analysis.models['year_used']}); "
                 "numbers = clusters seated in the cell")
    return fig, lq[["region", "sector", "e_ir", "lq", "ci_low", "ci_high", "clusters"]]


def figure_sectors(analysis: Evidence):
    """Bar chart of printed BSMEPA clusters by mapped NACE group, the part whose sector text names
    ICT/telecommunications shaded darker. Returns (fig, data_plotted)."""
    from .. import figures

    cs = analysis.tables["clusters"]
    tab = (cs.groupby("nace_group")["ict"].agg(clusters="size", naming_ict="sum")
           .sort_values("clusters", ascending=True).reset_index())
    tab["label"] = [f"{GROUP_NAMES.get(g, g)} ({g})" if g != "unmappable" else "unmappable"
                    for g in tab["nace_group"]]
    fig, ax = figures.new_figure("double", 85)
    y = np.arange(len(tab))
    ax.barh(y, tab["clusters"], color="0.75", label="all clusters")
    ax.barh(y, tab["naming_ict"], color="0.25", label="sector text names ICT/telecom")
    ax.set_yticks(y, tab["label"])
    figures.set_xlabel(ax, "Clusters (printed BSMEPA rows)", "number")
    ax.legend(loc="lower right", frameon=False)
    return fig, tab
