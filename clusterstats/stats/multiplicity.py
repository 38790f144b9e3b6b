"""Multiple testing: Holm within a family of tests, Benjamini–Hochberg across a report.

A *family* is the set of tests that bear on one claim of the guide (its ``claim_id``) within one
run. Verdicts use the Holm-adjusted p-value of their family, which controls the family-wise error
rate at ``alpha`` under any dependence (Holm 1979). The whole report additionally carries the
Benjamini–Hochberg q-value over every p-value in it (Benjamini & Hochberg 1995), so a reader can
see which findings survive a false-discovery-rate view of all the tests run.

Both adjustments are statsmodels' :func:`statsmodels.stats.multitest.multipletests`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["holm", "benjamini_hochberg", "adjust_within_families", "family_of"]


def _adjust(p_values, method: str) -> np.ndarray:
    from statsmodels.stats.multitest import multipletests

    p = pd.to_numeric(pd.Series(p_values), errors="coerce").to_numpy(dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN stays NaN (not counted as a test).

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    *Scandinavian Journal of Statistics* 6(2): 65-70.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    return _adjust(p_values, "holm")


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini–Hochberg q-values (false discovery rate); NaN stays NaN.

    References
    ----------
    Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate: a practical and
    powerful approach to multiple testing. *JRSS B* 57(1): 289-300.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    return _adjust(p_values, "fdr_bh")


def family_of(rows: pd.DataFrame) -> pd.Series:
    """The family of each row: its ``claim_id`` (or ``hypothesis`` when it tests no claim)."""
    claim = rows.get("claim_id", pd.Series(pd.NA, index=rows.index))
    hyp = rows.get("hypothesis", pd.Series("", index=rows.index))
    return claim.where(claim.notna() & (claim.astype(str) != ""), hyp).astype(str)


def adjust_within_families(rows: pd.DataFrame, family: str = "family") -> pd.DataFrame:
    """Add ``p_holm`` (Holm within each ``family``) to a results frame; returns a copy.

    Rows without a p-value get NaN and do not count towards their family's size.
    """
    out = rows.copy()
    if family not in out.columns:
        out[family] = family_of(out)
    out["p_holm"] = np.nan
    for _, idx in out.groupby(family, sort=False).groups.items():
        out.loc[idx, "p_holm"] = holm(out.loc[idx, "p_value"])
    return out
