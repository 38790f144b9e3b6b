"""Statistical tests for the guide's claims: tidy frames in, one row per test out.

Every test returns the columns of :func:`clusterstats.stats._tidy.result_frame` (test, method,
statistic, p_value, effect_name, effect, ci_low, ci_high, ci_level, n, unit, reference, note);
model fits keep their statsmodels results objects. Submodules, by hypothesis:

=================  ==========================================================================
counts             H1(a) event-window Poisson/NB GLMs, exact rate tests, placebo windows
calibration        H1(b) BULSTAT code -> registration year (isotonic), leave-one-out, bootstrap
changepoint        H1(c) PELT with a Poisson cost, exact Bayesian switchpoint and pulse
association        H2/H3 Fisher exact, logistic, binomial share tests
location           H3/H9 location quotients, cluster LQ, specialisation permutation test
distribution       H8 median with bootstrap/order-statistic CIs, share in a range
equivalence        H0 (C03) equivalence tests (TOST): exact binomial, t-based
inequality         H4 weighted Theil T/L, Gini, Williamson, leader ratios
convergence        H4 sigma- and beta-convergence
trend              H5 segmented trend, data-chosen break, rank among countries, flags
ordinal            H6 Cochran-Armitage trend test, proportion CIs
composition        H7 compositional comparison of budget shares
multiplicity       all: Holm within a claim's family of tests, Benjamini-Hochberg across the report
=================  ==========================================================================

Names are imported lazily (``clusterstats.stats.theil_t`` works) so that importing the package
does not load scikit-learn, ruptures and statsmodels until a test needs them.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "association": ["crosstab_2x2", "fisher_exact_2x2", "logistic_association", "binomial_share_test",
                    "share_vs_reference", "fisher_power", "detectable_difference"],
    "calibration": ["base_code", "monotone_consistency", "CodeCalibration", "calibrate_code_to_year",
                    "date_codes", "draw_predictions", "code_order_bounds", "order_draws"],
    "changepoint": ["ChangeResult", "CostPoisson", "penalty_value", "pelt_poisson", "poisson_switchpoint",
                    "poisson_pulse"],
    "composition": ["share_table", "composition_test"],
    "convergence": ["sigma_convergence", "beta_convergence"],
    "counts": ["FitResult", "counts_from_events", "poisson_event_glm", "negbin_event_glm",
               "dispersion_test", "exact_rate_test", "placebo_windows", "WindowFit", "window_design",
               "negbin_window_fit", "rubin_pool", "fit_draws", "pooled_window_test",
               "poisson_dispersion_check", "placebo_draws", "year_waves"],
    "distribution": ["median_order_ci", "median_bootstrap_ci", "share_in_range"],
    "equivalence": ["tost_proportion", "tost_means"],
    "inequality": ["theil_t", "theil_l", "gini", "williamson_cv", "cv", "leader_ratios",
                   "inequality_table", "summarise_years"],
    "multiplicity": ["holm", "benjamini_hochberg", "adjust_within_families", "family_of"],
    "location": ["location_quotient", "cluster_lq", "specialisation_permutation_test"],
    "ordinal": ["cochran_armitage", "proportion_ci"],
    "trend": ["flag_years", "segmented_trend", "choose_break", "rank_among"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'clusterstats.stats' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
