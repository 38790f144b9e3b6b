"""Change points in counts of new clusters for H1(c): when did the founding rate shift?

- :func:`pelt_poisson`: penalised optimal segmentation with PELT (Killick, Fearnhead & Eckley
  2012, *JASA* 107: 1590-1598) in ``ruptures`` (Truong, Oudre & Vayatis 2020, *Signal
  Processing* 167: 107299), with a Poisson segment cost (``ruptures`` has none; reference
  notes A7). PELT is exact for the penalised cost, so the segmentation is the global optimum.
- :func:`poisson_switchpoint`: exact Bayesian single change point for Poisson counts (Raftery &
  Akman 1986, *Biometrika* 73: 85-89; the "coal-mining disasters" model of Carlin, Gelfand &
  Smith 1992, *Appl Stat* 41: 389-405). With conjugate Gamma priors the rates integrate out
  in closed form, so the posterior of the change time is computed by enumeration; no MCMC.
- :func:`poisson_pulse`: the same for a transient "pulse" (a window with its own rate and the
  same baseline before and after), enumerating every window.

Both Bayesian functions also give the Bayes factor against "no change" (one rate throughout).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
import ruptures
from scipy.special import gammaln, logsumexp

from ._tidy import result_frame, result_row

REF_PELT = ("Killick, Fearnhead & Eckley (2012) JASA 107:1590-1598; Truong, Oudre & Vayatis "
            "(2020) Signal Processing 167:107299")
REF_BAYES = ("Raftery & Akman (1986) Biometrika 73:85-89; Carlin, Gelfand & Smith (1992) "
             "Appl Stat 41:389-405")


class ChangeResult(NamedTuple):
    """A tidy result frame plus a detail table (segments or posterior)."""

    table: pd.DataFrame
    detail: pd.DataFrame


class CostPoisson(ruptures.base.BaseCost):
    """Segment cost = Poisson negative log-likelihood at the segment's ML rate.

    -(S log(S/n) - S) for a segment of n periods with total S; the log y! terms are the same
    for every segmentation and are dropped (reference notes A7).
    """

    model = "poisson"
    min_size = 1

    def fit(self, signal):
        self.signal = np.asarray(signal, float).reshape(-1, 1)
        self.cumsum = np.concatenate([[0.0], np.cumsum(self.signal.ravel())])
        return self

    def error(self, start, end):
        s, n = self.cumsum[end] - self.cumsum[start], end - start
        return 0.0 if s == 0 else -(s * np.log(s / n) - s)


def _counts(values, name: str = "counts") -> np.ndarray:
    y = np.asarray(values, dtype=float)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence")
    if not np.isfinite(y).all() or (y < 0).any() or not np.allclose(y, np.round(y)):
        bad = np.flatnonzero(~np.isfinite(y) | (y < 0) | ~np.isclose(y, np.round(y))).tolist()
        raise ValueError(f"{name} must be non-negative integer counts; bad positions {bad}")
    return y


def penalty_value(penalty: str | float, n: int) -> float:
    """Penalty per change point, in units of the negative log-likelihood.

    "bic": each change adds two parameters (its location and a new rate), Schwarz's
    (p/2) ln n gives ln n; "aic": 2; "2logn": 2 ln n (the stricter value of reference notes
    A7); a number is used as given.
    """
    if isinstance(penalty, str):
        table = {"bic": np.log(n), "aic": 2.0, "2logn": 2 * np.log(n)}
        if penalty not in table:
            raise ValueError(f"penalty must be a number or one of {sorted(table)}, got {penalty!r}")
        return float(table[penalty])
    if not penalty >= 0:
        raise ValueError(f"penalty must be non-negative, got {penalty!r}")
    return float(penalty)


def pelt_poisson(counts: Sequence[float], penalty: str | float = "bic",
                 years: Sequence[int] | None = None, min_size: int = 1) -> ChangeResult:
    """Optimal segmentation of a count series by PELT with a Poisson cost.

    Returns a one-row result (statistic = number of change points, note lists the first
    period of each new segment) and the segments table (start/end period, total, mean rate).
    ``years`` labels the periods (default 0..n-1).

    Examples
    --------
    >>> from clusterstats import registry
    >>> clusters = registry.clusters()  # the guide's registers, one row per cluster
    >>> from clusterstats.stats import counts_from_events, pelt_poisson
    >>> c = counts_from_events(clusters["founding_year"].dropna().astype(int))
    >>> res = pelt_poisson(c["count"].tolist(), years=c["year"].tolist())
    >>> res.table.loc[0, "test"]
    'change points (PELT, Poisson cost)'
    """
    y = _counts(counts)
    n = y.size
    labels = list(years) if years is not None else list(range(n))
    if len(labels) != n:
        raise ValueError(f"years has {len(labels)} labels for {n} counts")
    if min_size < 1 or min_size > n:
        raise ValueError(f"min_size must be in [1, {n}], got {min_size}")
    pen = penalty_value(penalty, n)
    algo = ruptures.Pelt(custom_cost=CostPoisson(), min_size=min_size, jump=1).fit(y)
    bkps = algo.predict(pen=pen)
    starts = [0] + bkps[:-1]
    segments = pd.DataFrame({
        "start": [labels[s] for s in starts], "end": [labels[e - 1] for e in bkps],
        "n_periods": [e - s for s, e in zip(starts, bkps)],
        "total": [y[s:e].sum() for s, e in zip(starts, bkps)]})
    segments["rate"] = segments["total"] / segments["n_periods"]
    new_starts = segments["start"].iloc[1:].tolist()
    cost = CostPoisson().fit(y)
    rates = "; ".join(f"{a}-{b}: {r:.3g}/period" for a, b, r in
                      zip(segments["start"], segments["end"], segments["rate"]))
    row = result_row(
        test="change points (PELT, Poisson cost)",
        method=f"PELT, Poisson segment NLL, penalty {penalty!r} = {pen:.3g} per change, "
               f"min_size {min_size}",
        statistic=float(len(new_starts)), n=n, unit="count", reference=REF_PELT,
        note=(("new segments start at " + ", ".join(map(str, new_starts))) if new_starts
              else "no change point")
        + f"; segment rates {rates}; statistic = number of change points; penalised cost "
          f"{cost.sum_of_costs(bkps) + pen * len(new_starts):.4g}")
    return ChangeResult(result_frame(row), segments)


def _log_marginal(total: np.ndarray, n: np.ndarray, a: float, b: float) -> np.ndarray:
    """log of int prod Pois(y|lam) Gamma(lam|a, b) dlam, without the common -sum log y! term."""
    return a * np.log(b) - gammaln(a) + gammaln(a + total) - (a + total) * np.log(b + n)


def _prepare(df: pd.DataFrame, year: str, count: str) -> tuple[np.ndarray, np.ndarray]:
    if df is None or len(df) == 0:
        raise ValueError("empty count frame")
    for col in (year, count):
        if col not in df.columns:
            raise ValueError(f"column {col!r} not in frame (columns: {list(df.columns)})")
    data = df[[year, count]].sort_values(year)
    if data[year].duplicated().any():
        raise ValueError(f"duplicate periods in {year!r}")
    y = _counts(data[count].to_numpy(), count)
    if y.size < 3:
        raise ValueError("need at least three periods for a change point")
    return data[year].to_numpy(), y


def _prior(y: np.ndarray, shape: float, rate: float | None) -> tuple[float, float]:
    if not shape > 0:
        raise ValueError(f"prior shape must be positive, got {shape!r}")
    if rate is None:
        # Empirical-Bayes scale: prior mean = the series mean, so the prior is on the data's scale.
        rate = shape / max(y.mean(), 0.5)
    if not rate > 0:
        raise ValueError(f"prior rate must be positive, got {rate!r}")
    return float(shape), float(rate)


def _credible_set(post: np.ndarray, level: float) -> np.ndarray:
    """Indices of the highest-posterior set holding at least ``level`` of the mass."""
    order = np.argsort(post)[::-1]
    k = int(np.searchsorted(np.cumsum(post[order]), level - 1e-12) + 1)
    return np.sort(order[:k])


def poisson_switchpoint(df: pd.DataFrame, year: str = "year", count: str = "count",
                        prior_shape: float = 1.0, prior_rate: float | None = None,
                        ci_level: float = 0.95) -> ChangeResult:
    """Exact posterior of a single change in a Poisson rate (Raftery & Akman 1986).

    y_t ~ Poisson(l1) for periods up to tau, Poisson(l2) after; l1, l2 ~ Gamma(shape, rate)
    independent; tau uniform over the n-1 positions that leave both segments non-empty. The
    posterior over tau is exact by enumeration. Default prior: shape 1 with the rate set so the
    prior mean equals the series mean (empirical Bayes; pass ``prior_rate`` to fix it).

    Returns the summary row (effect = posterior mode of the first period of the new regime,
    ci_low/ci_high = range of the highest-posterior credible set, statistic = log10 Bayes
    factor of one change vs none) and the posterior table (one row per candidate change, with
    the posterior means of both rates given that change).

    Examples
    --------
    >>> from clusterstats import registry
    >>> clusters = registry.clusters()  # the guide's registers, one row per cluster
    >>> from clusterstats.stats import counts_from_events, poisson_switchpoint
    >>> c = counts_from_events(clusters["founding_year"].dropna().astype(int))
    >>> res = poisson_switchpoint(c)
    >>> res.table.loc[0, "test"]
    'single change point (Bayesian, Poisson)'
    """
    if not (0 < ci_level < 1):
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level!r}")
    periods, y = _prepare(df, year, count)
    a, b = _prior(y, prior_shape, prior_rate)
    n = y.size
    cs = np.cumsum(y)
    k = np.arange(1, n)  # periods in the first segment
    s1, s2 = cs[k - 1], cs[-1] - cs[k - 1]
    logm = _log_marginal(s1, k, a, b) + _log_marginal(s2, n - k, a, b)
    log_evidence = logsumexp(logm) - np.log(n - 1)
    post = np.exp(logm - logsumexp(logm))
    log_none = float(_log_marginal(np.array(cs[-1]), np.array(n), a, b))
    detail = pd.DataFrame({"first_year_after": periods[k], "last_year_before": periods[k - 1],
                           "posterior": post, "rate_before": (a + s1) / (b + k),
                           "rate_after": (a + s2) / (b + n - k)})
    cred = _credible_set(post, ci_level)
    mode = int(np.argmax(post))
    log10_bf = (log_evidence - log_none) / np.log(10)
    row = result_row(
        test="single change point (Bayesian, Poisson)",
        method=f"exact enumeration of tau, Gamma({a:g}, rate {b:.3g}) priors on both rates, "
               f"uniform tau; HPD credible set",
        statistic=float(log10_bf), effect_name="first period of the new regime (posterior mode)",
        effect=float(detail["first_year_after"].iloc[mode]),
        ci_low=float(detail["first_year_after"].iloc[cred].min()),
        ci_high=float(detail["first_year_after"].iloc[cred].max()), ci_level=ci_level, n=n,
        unit="period", reference=REF_BAYES,
        note=(f"statistic = log10 Bayes factor, one change vs none; posterior of the mode "
              f"{post[mode]:.3f}; rate before {detail['rate_before'].iloc[mode]:.3g}, after "
              f"{detail['rate_after'].iloc[mode]:.3g} (posterior means at the mode); credible "
              f"set {sorted(detail['first_year_after'].iloc[cred].tolist())}"))
    return ChangeResult(result_frame(row), detail)


def poisson_pulse(df: pd.DataFrame, year: str = "year", count: str = "count",
                  prior_shape: float = 1.0, prior_rate: float | None = None,
                  max_length: int | None = None, focus_year: int | None = None) -> ChangeResult:
    """Exact posterior of a transient pulse: one window [s, e] with its own Poisson rate and a
    common baseline rate before and after it (two change points, "up and back down").

    Every window with at least one baseline period before *and* after it is enumerated
    (uniform prior over windows up to ``max_length`` periods), so a spike in the last period
    of the series cannot be a pulse: whether it came back down is unobserved. Returns the summary row (effect = posterior
    probability that ``focus_year`` lies in the pulse if given, else that of the modal window;
    statistic = log10 Bayes factor pulse vs no change; note names the modal window) and the
    posterior table over windows.
    """
    periods, y = _prepare(df, year, count)
    a, b = _prior(y, prior_shape, prior_rate)
    n = y.size
    max_length = n - 2 if max_length is None else int(max_length)
    if not 1 <= max_length <= n - 2:
        raise ValueError(f"max_length must be in [1, {n - 2}], got {max_length}")
    if focus_year is not None and focus_year not in set(periods[1:-1].tolist()):
        raise ValueError(f"focus_year {focus_year} is outside the data or at its first/last "
                         f"period ({periods.min()}-{periods.max()}), where no pulse can be seen")
    cs = np.concatenate([[0.0], np.cumsum(y)])
    # A pulse needs baseline periods on both sides; a window touching either end of the series
    # is a step, which poisson_switchpoint covers.
    starts, ends = np.array([(s, e) for s in range(1, n - 1)
                             for e in range(s, min(n - 1, s + max_length))]).T
    inside = cs[ends + 1] - cs[starts]
    length = ends - starts + 1
    logm = (_log_marginal(inside, length, a, b)
            + _log_marginal(cs[-1] - inside, n - length, a, b))
    post = np.exp(logm - logsumexp(logm))
    log_none = float(_log_marginal(np.array(cs[-1]), np.array(n), a, b))
    log10_bf = (logsumexp(logm) - np.log(len(logm)) - log_none) / np.log(10)
    detail = pd.DataFrame({"start": periods[starts], "end": periods[ends], "posterior": post,
                           "rate_pulse": (a + inside) / (b + length),
                           "rate_baseline": (a + cs[-1] - inside) / (b + n - length)})
    mode = int(np.argmax(post))
    window = (detail["start"].iloc[mode], detail["end"].iloc[mode])
    if focus_year is not None:
        hit = (detail["start"] <= focus_year) & (detail["end"] >= focus_year)
        effect, name = float(detail.loc[hit, "posterior"].sum()), \
            f"posterior P({focus_year} in the pulse)"
    else:
        effect, name = float(post[mode]), "posterior probability of the modal window"
    row = result_row(
        test="pulse (two change points, Bayesian, Poisson)",
        method=f"exact enumeration of windows up to {max_length} periods, Gamma({a:g}, rate "
               f"{b:.3g}) priors on pulse and baseline rates",
        statistic=float(log10_bf), effect_name=name, effect=effect, n=n, unit="probability",
        reference=REF_BAYES,
        note=(f"statistic = log10 Bayes factor, pulse vs no change; modal window "
              f"{window[0]}-{window[1]} (posterior {post[mode]:.3f}), pulse rate "
              f"{detail['rate_pulse'].iloc[mode]:.3g} vs baseline "
              f"{detail['rate_baseline'].iloc[mode]:.3g}"))
    return ChangeResult(result_frame(row), detail)
