"""Composition of R&D budgets (GBARD by NABS chapter): a country vs a reference (EU28) or peers.

The guide says only 11 % of Bulgaria's 2016 GBARD went to "industrial production and
technology" and over 47 % to "general advancement of knowledge". Whether that is unusual is a
question about *compositions* (shares summing to 1), so we compare share vectors, not euros.

What "n" is. Budget euros are not independent observations, so a chi-square test with euros
as counts has no sampling meaning: expressing the same budgets in thousand instead of million
euros multiplies chi-square by 1000 and drives p to 0. :func:`composition_test` reports that
naive test only with this note, next to two defensible summaries whose replication unit is the
*year*:

(a) Aitchison distance (Aitchison 1986) between the country's and the reference's geometric-mean
    compositions and the total-variation distance (half the L1 distance of mean shares), with a
    percentile bootstrap over years (the same resampled years for both, which keeps common
    shocks paired). A distance is >= 0, so its bootstrap interval never covers 0; use (b) to
    test "no difference".
(b) A paired sign-flip randomisation test over years (Good 2005, ch. 3): under H0 the yearly
    difference d_t = clr(x_t) - clr(r_t) is symmetric about 0, so swapping the two labels in
    any year (d_t -> -d_t) is equally likely. The statistic is the norm of the mean d_t (the
    Aitchison distance of (a)); all 2^k flips are enumerated for k <= 16 years. No Dirichlet or
    multinomial model is assumed. Years are treated as exchangeable, which serial correlation
    of budgets weakens; and with k years the smallest attainable p is 2 / 2^k.

Zeros (e.g. no defence R&D in a year) have no logarithm. Aitchison distances use multiplicative
replacement (Martín-Fernández, Barceló-Vidal & Pawlowsky-Glahn 2003): each zero becomes
``zero_fraction`` x the smallest non-zero share in the data and the other parts shrink so the
row still sums to 1. The replaced cells are listed in the note; the total-variation distance
needs no replacement. Log-ratios also make the Aitchison distance dominated by tiny parts
(e.g. Bulgaria's defence R&D of a few thousand euros), so read it together with the
total-variation distance and the per-category share differences, which are in budget terms.

References
----------
Aitchison, J. (1986). *The Statistical Analysis of Compositional Data*. Chapman & Hall.
Martín-Fernández, J. A., Barceló-Vidal, C. & Pawlowsky-Glahn, V. (2003). Dealing with zeros and
missing values in compositional data sets using nonparametric imputation. *Mathematical
Geology* 35(3), 253-278.
Good, P. I. (2005). *Permutation, Parametric and Bootstrap Tests of Hypotheses*, 3rd ed. Springer.
"""
from __future__ import annotations

import itertools
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ._tidy import result_frame, result_row

REF_AITCHISON = ("Aitchison (1986) The Statistical Analysis of Compositional Data; zeros: "
                 "Martín-Fernández et al. (2003) Math. Geology 35(3)")
REF_SIGNFLIP = "paired sign-flip randomisation test over years; Good (2005) Permutation, Parametric and Bootstrap Tests"
NAIVE_CHI2_NOTE = ("naive: budget euros are not independent observations, so this p-value has no "
                   "sampling meaning (the same budgets in thousand euros give 1000x the chi-square); "
                   "Cramér's V is scale-free and is reported as a descriptive effect only")


# ---------------------------------------------------------------- tables
def _check(df: pd.DataFrame, cols: Sequence[str | None]) -> None:
    missing = [c for c in cols if c is not None and c not in df.columns]
    if missing:
        raise KeyError(f"column(s) {missing} not in frame (columns: {list(df.columns)})")


def _amounts(df: pd.DataFrame, value: str) -> pd.Series:
    v = pd.to_numeric(df[value], errors="coerce")
    bad = v.isna() & df[value].notna()
    if bad.any():
        i = bad.idxmax()
        raise ValueError(f"value column {value!r}, row {i!r}: {df.loc[i, value]!r} is not a number")
    neg = v < 0
    if neg.any():
        i = neg.idxmax()
        raise ValueError(f"value column {value!r}, row {i!r}: negative budget {v[i]}")
    return v


def share_table(df: pd.DataFrame, category: str, value: str, group: str, year: str | None = None,
                total_category: str | None = None, tol: float = 0.005) -> pd.DataFrame:
    """Shares of ``value`` by ``category`` within each group (and year), in long form.

    Columns: group, [year], category, value, share, sum_gap. Shares are over the sum of the
    categories, or over ``total_category`` (e.g. "Total R&D appropriations") when given; then
    ``sum_gap`` = 1 - sum of the parts' shares shows how far the chapters fall short of the
    published total (rounding, confidential cells) and gaps above ``tol`` are reported in
    ``attrs["warnings"]``. Duplicated (group, year, category) rows raise an error.
    """
    _check(df, [category, value, group, year])
    keys = [group] + ([year] if year else [])
    data = df.copy()
    data[value] = _amounts(data, value)
    dup = data.duplicated(keys + [category])
    if dup.any():
        i = dup.idxmax()
        raise ValueError(f"row {i!r}: {tuple(data.loc[i, keys + [category]])} appears twice")
    parts = data if total_category is None else data[data[category] != total_category]
    denom = parts.groupby(keys, sort=True)[value].sum(min_count=1).rename("_denom")
    if total_category is not None:
        tot = data[data[category] == total_category].set_index(keys)[value].rename("_denom")
        denom = tot.reindex(denom.index).fillna(denom) if len(tot) else denom
    out = parts.join(denom, on=keys)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = out[value] / out["_denom"]
    gap = 1 - out.groupby(keys)["share"].transform("sum")
    out["sum_gap"] = gap
    warnings = out.loc[out["sum_gap"].abs() > tol, keys].drop_duplicates()
    out = out[keys + [category, value, "share", "sum_gap"]].sort_values(keys + [category])
    out = out.reset_index(drop=True)
    out.attrs["warnings"] = [f"{tuple(r)}: parts differ from the total by more than {tol:.1%}"
                             for r in warnings.itertuples(index=False)]
    return out


def _wide(df, category, value, group, year, members) -> pd.DataFrame:
    """Year x category amounts, summed over ``members`` (pooled reference)."""
    sub = df[df[group].isin(members)]
    if sub.empty:
        raise ValueError(f"no rows for {group} in {list(members)}")
    found = set(sub[group])
    dup = sub.duplicated([group, year, category])
    if dup.any():
        i = dup.idxmax()
        raise ValueError(f"row {i!r}: {tuple(sub.loc[i, [group, year, category]])} appears twice "
                         "(filter to one unit first)")
    if len(found) < len(set(members)):
        raise ValueError(f"no rows for {sorted(set(members) - found)}")
    amounts = _amounts(sub, value)
    wide = (sub.assign(**{value: amounts})
            .pivot_table(index=year, columns=category, values=value, aggfunc="sum", dropna=False)
            if len(set(members)) > 1 else
            sub.assign(**{value: amounts}).pivot(index=year, columns=category, values=value))
    if len(set(members)) > 1:
        # pivot_table sums NaN to 0; a pooled cell is missing if any member is missing.
        miss = sub[amounts.isna()].groupby([year, category]).size()
        for (yr, cat), _ in miss.items():
            wide.loc[yr, cat] = np.nan
    return wide.sort_index()


# ---------------------------------------------------------------- compositional helpers
def _closure(x: np.ndarray) -> np.ndarray:
    return x / x.sum(axis=-1, keepdims=True)


def _replace_zeros(shares: np.ndarray, delta: float) -> np.ndarray:
    """Multiplicative replacement (Martín-Fernández et al. 2003) row by row."""
    zero = shares == 0
    nz_sum_lost = zero.sum(axis=-1, keepdims=True) * delta
    return np.where(zero, delta, shares * (1 - nz_sum_lost))


def _clr(x: np.ndarray) -> np.ndarray:
    lx = np.log(x)
    return lx - lx.mean(axis=-1, keepdims=True)


def _sign_matrix(k: int, n_perm: int, rng) -> np.ndarray:
    if k <= 16:
        return np.array(list(itertools.product([1.0, -1.0], repeat=k)))
    signs = rng.choice([1.0, -1.0], size=(n_perm, k))
    return np.vstack([np.ones(k), signs])


# ---------------------------------------------------------------- the test
def composition_test(df: pd.DataFrame, category: str, value: str, group: str, year: str,
                     target: str = "BG", reference: str | Iterable[str] = "EU28", *,
                     years: Sequence | None = None, chi2_year=None, per_category: bool = True,
                     n_boot: int = 2000, n_perm: int = 9999, zero_fraction: float = 0.5,
                     ci_level: float = 0.95, seed: int | None = 0) -> pd.DataFrame:
    """Does ``target``'s composition of ``value`` over ``category`` differ from ``reference``'s?

    ``reference`` is one group label (e.g. "EU28") or a list of peers whose amounts are pooled
    per year (so they must share a unit, e.g. million euro). ``years`` restricts the window;
    years where any category is missing for either side are dropped and listed in the note.
    Rows (see the module docstring for the reasoning):

    * ``aitchison_distance``: distance between geometric-mean compositions over the years,
      bootstrap CI over years, sign-flip p-value;
    * ``total_variation_distance``: half the L1 distance between mean shares (the share of the
      budget that would have to move), bootstrap CI, sign-flip p-value;
    * ``share_difference`` per category (if ``per_category``): mean share difference
      target - reference in percentage points, bootstrap CI, sign-flip p-value;
    * ``naive_chi_square`` in ``chi2_year`` (default the last year): chi-square with euros as
      counts, with Cramér's V and a note on why the p-value is not meaningful.
    """
    _check(df, [category, value, group, year])
    refs = [reference] if isinstance(reference, str) else list(reference)
    ref_label = reference if isinstance(reference, str) else "pooled " + "+".join(refs)
    a = _wide(df, category, value, group, year, [target])
    b = _wide(df, category, value, group, year, refs)
    cats = sorted(set(a.columns) & set(b.columns))
    only = sorted(set(a.columns) ^ set(b.columns))
    common = sorted(set(a.index) & set(b.index))
    if years is not None:
        common = [y for y in common if y in set(years)]
    a, b = a.loc[common, cats], b.loc[common, cats]
    incomplete = [y for y in common if a.loc[y].isna().any() or b.loc[y].isna().any()
                  or a.loc[y].sum() == 0 or b.loc[y].sum() == 0]
    used = [y for y in common if y not in incomplete]
    if not used:
        raise ValueError(f"no year with all {len(cats)} categories for both {target} and {ref_label}")
    notes = []
    if incomplete:
        notes.append(f"years with missing categories dropped: {incomplete}")
    if only:
        notes.append(f"categories present on one side only, ignored: {only}")
    P, Q = _closure(a.loc[used].to_numpy(float)), _closure(b.loc[used].to_numpy(float))
    k = len(used)
    rng = np.random.default_rng(seed)

    # (a) Aitchison distance with zero replacement; TVD on raw shares.
    both = np.vstack([P, Q])
    zeros = np.argwhere(both == 0)
    delta = zero_fraction * both[both > 0].min()
    zero_note = None
    if len(zeros):
        cells = [f"{target if r < k else ref_label} {used[r % k]} {cats[c]}" for r, c in zeros]
        zero_note = (f"zero shares replaced multiplicatively by {delta:.2g} for the Aitchison "
                     f"distance: {', '.join(cells[:6])}{' ...' if len(cells) > 6 else ''}")
    d = _clr(_replace_zeros(P, delta)) - _clr(_replace_zeros(Q, delta))   # (k, D)
    diff = P - Q

    def ait(dd):
        return np.linalg.norm(dd.mean(axis=-2), axis=-1)

    def tvd(sd):
        return 0.5 * np.abs(sd.mean(axis=-2)).sum(axis=-1)

    boot_idx = rng.integers(0, k, size=(n_boot, k))
    signs = _sign_matrix(k, n_perm, rng)                                  # (m, k)
    alpha = (1 - ci_level) / 2

    def summarise(stat_obs, boot, flipped):
        lo, hi = (np.quantile(boot, alpha), np.quantile(boot, 1 - alpha)) if k > 1 else (np.nan, np.nan)
        p = float(np.mean(flipped >= stat_obs - 1e-12)) if k > 1 else np.nan
        return lo, hi, p

    span = f"{used[0]}-{used[-1]}" if k > 1 else f"{used[0]}"
    one_year = "only one year: no bootstrap CI or sign-flip p-value (the year is the replication unit)"
    base_note = notes + ([zero_note] if zero_note else [])
    few = [f"{k} years: smallest attainable sign-flip p is {2 / 2 ** k:.3g}"] if 1 < k <= 16 else []
    rows = []
    obs = ait(d)
    lo, hi, p = summarise(obs, ait(d[boot_idx]), ait(signs[:, :, None] * d[None]))
    rows.append(result_row(
        test="aitchison_distance",
        method=(f"Aitchison distance between geometric-mean {category} compositions of {target} "
                f"and {ref_label}, {span}; bootstrap over {k} years; paired sign-flip test"),
        statistic=obs, p_value=p, effect_name="aitchison_distance", effect=obs, ci_low=lo,
        ci_high=hi, ci_level=ci_level, n=k, unit="Aitchison distance (clr norm)",
        reference=f"{REF_AITCHISON}; {REF_SIGNFLIP}",
        note="; ".join(base_note + few + ["distance >= 0: its interval cannot cover 0; "
                                          "the sign-flip p tests no difference"]),
        why_nan=one_year, n_categories=len(cats)))
    obs = tvd(diff)
    lo, hi, p = summarise(obs, tvd(diff[boot_idx]), tvd(signs[:, :, None] * diff[None]))
    rows.append(result_row(
        test="total_variation_distance",
        method=(f"half the L1 distance between mean {category} shares of {target} and {ref_label}, "
                f"{span}; bootstrap over years; paired sign-flip test"),
        statistic=obs, p_value=p, effect_name="total_variation_distance", effect=obs, ci_low=lo,
        ci_high=hi, ci_level=ci_level, n=k, unit="share of budget",
        reference=f"{REF_AITCHISON}; {REF_SIGNFLIP}", note="; ".join(notes + few) or pd.NA,
        why_nan=one_year, n_categories=len(cats)))
    if per_category:
        mean_diff = diff.mean(axis=0)
        boot_diff = diff[boot_idx].mean(axis=1)                             # (n_boot, D)
        flip_diff = np.abs(np.einsum("mk,kd->md", signs, diff) / k)         # (m, D)
        for j, cat in enumerate(cats):
            lo, hi = ((np.quantile(boot_diff[:, j], alpha), np.quantile(boot_diff[:, j], 1 - alpha))
                      if k > 1 else (np.nan, np.nan))
            p = float(np.mean(flip_diff[:, j] >= abs(mean_diff[j]) - 1e-12)) if k > 1 else np.nan
            rows.append(result_row(
                test="share_difference",
                method=f"mean share of {cat!r}: {target} - {ref_label}, {span}",
                statistic=mean_diff[j], p_value=p, effect_name=f"share_diff[{cat}]",
                effect=mean_diff[j], ci_low=lo, ci_high=hi, ci_level=ci_level, n=k,
                unit="share (fraction of budget)", reference=REF_SIGNFLIP,
                note="; ".join(few) or pd.NA, why_nan=one_year, category=cat,
                target_share=P[:, j].mean(), reference_share=Q[:, j].mean()))
    cy = used[-1] if chi2_year is None else chi2_year
    if cy not in used:
        raise ValueError(f"chi2_year {cy} is not among the complete years {used}")
    table = np.vstack([a.loc[cy].to_numpy(float), b.loc[cy].to_numpy(float)])
    table = table[:, table.sum(axis=0) > 0]
    chi2, p, dof, _ = sps.chi2_contingency(table, correction=False)
    rows.append(result_row(
        test="naive_chi_square",
        method=f"Pearson chi-square, {target} vs {ref_label} {category} amounts in {cy} as counts",
        statistic=chi2, p_value=p, effect_name="cramers_v",
        effect=float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1)))),
        unit=f"{value} treated as counts", reference="Pearson (1900); Cramér (1946)",
        note=NAIVE_CHI2_NOTE, dof=dof, total_amount=float(table.sum())))
    out = result_frame(rows)
    out.attrs["shares"] = {"target": pd.DataFrame(P, index=used, columns=cats),
                           "reference": pd.DataFrame(Q, index=used, columns=cats)}
    return out
