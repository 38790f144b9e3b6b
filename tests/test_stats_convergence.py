"""Known-answer tests for sigma/beta convergence on constructed deterministic arithmetic."""
import math

import numpy as np
import pandas as pd
import pytest

from clusterstats.stats.convergence import beta_convergence, sigma_convergence


def _orthogonal_wiggle(x: np.ndarray, scale: float) -> np.ndarray:
    """A fixed vector orthogonal to (1, x): OLS on x recovers the line exactly, SE > 0."""
    v = np.sin(np.arange(len(x)) * 1.7)
    design = np.column_stack([np.ones_like(x), x])
    v = v - design @ np.linalg.lstsq(design, v, rcond=None)[0]
    return scale * v / np.abs(v).max()


Z = np.array([-1.5, -0.8, -0.2, 0.3, 0.9, 1.3])
Z = (Z - Z.mean()) / Z.std()   # mean 0, population sd 1


def _panel(sigmas: np.ndarray, years: np.ndarray) -> pd.DataFrame:
    rows = [{"region": f"R{i}", "year": int(t), "y": math.exp(5 + s * z)}
            for t, s in zip(years, sigmas) for i, z in enumerate(Z)]
    return pd.DataFrame(rows)


def test_sigma_convergence_recovers_slope():
    years = np.arange(2000, 2016)
    sigmas = 1.0 - 0.02 * (years - 2000) + _orthogonal_wiggle(years.astype(float), 0.01)
    out = sigma_convergence(_panel(sigmas, years), "region", "year", "y")
    row = out.iloc[0]
    assert row["effect"] == pytest.approx(-0.02, abs=1e-10)
    assert row["ci_low"] < -0.02 < row["ci_high"] < 0
    assert row["n"] == 16 and pd.isna(row["note"])
    # the per-year series is the sd of ln y, which by construction is sigma_t
    assert np.allclose(out.attrs["data"]["dispersion"], sigmas)
    assert out.attrs["model"].nobs == 16
    hac = sigma_convergence(_panel(sigmas, years), "region", "year", "y", hac_lags=2).iloc[0]
    assert hac["effect"] == pytest.approx(-0.02, abs=1e-10) and "Newey-West" in hac["method"]


def test_sigma_convergence_short_series_note_and_unbalanced_error():
    years = np.arange(2010, 2016)
    out = sigma_convergence(_panel(1 - 0.01 * (years - 2010) + _orthogonal_wiggle(years * 1.0, 0.001),
                                   years), "region", "year", "y").iloc[0]
    assert "only 6 years" in out["note"]
    df = _panel(np.ones(3), np.array([2000, 2001, 2002]))
    with pytest.raises(ValueError, match="year 2002"):
        sigma_convergence(df.iloc[:-1], "region", "year", "y")


def test_williamson_measure_needs_weight():
    df = _panel(np.array([1.0, 0.9, 0.8]), np.array([2000, 2001, 2002]))
    with pytest.raises(ValueError, match="needs a weight"):
        sigma_convergence(df, "region", "year", "y", measure="williamson")


def test_beta_convergence_recovers_known_beta_speed_and_half_life():
    beta, horizon = -0.02, 10
    y0 = np.array([2.0, 3.0, 5.0, 8.0, 13.0, 21.0])
    x = np.log(y0)
    growth = 0.05 + beta * x + _orthogonal_wiggle(x, 0.001)
    yT = y0 * np.exp(horizon * growth)
    df = pd.DataFrame({"region": [f"R{i}" for i in range(6)] * 2,
                       "year": [2005] * 6 + [2015] * 6, "y": np.r_[y0, yT]})
    out = beta_convergence(df, "region", "year", "y").set_index("effect_name")
    assert out.loc["beta", "effect"] == pytest.approx(beta, abs=1e-10)
    lam = -math.log(1 + horizon * beta) / horizon          # = -ln(0.8)/10 = 0.022314
    assert out.loc["speed_lambda", "effect"] == pytest.approx(lam, rel=1e-8)
    assert out.loc["half_life", "effect"] == pytest.approx(math.log(2) / lam, rel=1e-8)
    assert out.loc["speed_lambda", "ci_low"] <= lam <= out.loc["speed_lambda", "ci_high"]
    assert "only 6 regions" in out.loc["beta", "note"]
    model = beta_convergence(df, "region", "year", "y").attrs["model"]
    assert model.params["log_initial"] == pytest.approx(beta, abs=1e-10)


def test_beta_divergence_half_life_explained():
    y0 = np.array([2.0, 3.0, 5.0, 8.0])
    x = np.log(y0)
    yT = y0 * np.exp(10 * (0.01 + 0.03 * x + _orthogonal_wiggle(x, 0.001)))
    df = pd.DataFrame({"region": list("ABCD") * 2, "year": [2000] * 4 + [2010] * 4, "y": np.r_[y0, yT]})
    out = beta_convergence(df, "region", "year", "y").set_index("effect_name")
    assert out.loc["beta", "effect"] > 0
    assert pd.isna(out.loc["half_life", "effect"]) and "half-life is undefined" in out.loc["half_life", "note"]


def test_beta_missing_region_year_is_named():
    df = pd.DataFrame({"region": ["A", "B", "C", "A", "B"], "year": [2000] * 3 + [2010] * 2,
                       "y": [1.0, 2.0, 3.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"\['C'\]"):
        beta_convergence(df, "region", "year", "y")
