"""The verdict rule values_inside (exact population values that must all lie in a range), on
hand-made rows including the boundary cases."""
import math

import pandas as pd

from clusterstats import rules


def _rows(*ranges):
    return pd.DataFrame([{"effect_name": "ratio", "effect": lo, "range_min": lo, "range_max": hi}
                         for lo, hi in ranges])


def test_all_inside_is_supported():
    assert rules.values_inside(_rows((7.2, 13.9)), low=6.5, high=14.5).verdict == rules.SUPPORTED


def test_exactly_at_the_bounds_counts_as_inside():
    assert rules.values_inside(_rows((6.5, 14.5)), low=6.5, high=14.5).verdict == rules.SUPPORTED


def test_one_value_outside_is_not_supported_not_a_straddle():
    j = rules.values_inside(_rows((7.97, 17.6)), low=6.5, high=14.5)
    assert j.verdict == rules.NOT_SUPPORTED and "17.6" in j.reason
    # interval_inside would call the same numbers an undecided straddle
    row = pd.DataFrame([{"effect": 7.97, "ci_low": 7.97, "ci_high": 17.6}])
    assert rules.interval_inside(row, low=6.5, high=14.5).verdict == rules.INCONCLUSIVE


def test_just_outside_a_bound_is_not_supported():
    assert rules.values_inside(_rows((6.4999, 10)), low=6.5, high=14.5).verdict == rules.NOT_SUPPORTED


def test_several_rows_need_all_inside():
    assert rules.values_inside(_rows((7, 8), (9, 15)), low=7, high=14).verdict == rules.NOT_SUPPORTED
    assert rules.values_inside(_rows((7, 8), (9, 14)), low=7, high=14).verdict == rules.SUPPORTED


def test_no_values_is_inconclusive_and_effect_is_the_fallback():
    nan = pd.DataFrame([{"effect": math.nan, "range_min": math.nan, "range_max": math.nan}])
    assert rules.values_inside(nan, low=1, high=2).verdict == rules.INCONCLUSIVE
    point = pd.DataFrame([{"effect": 1.5}])
    assert rules.values_inside(point, low=1, high=2).verdict == rules.SUPPORTED


def test_sensitivity_over_thresholds():
    text = rules.sensitivity(_rows((7.97, 17.6)), "values_inside", {"low": 6.5, "high": 14.5},
                             {"high": [14, 20]})
    assert text == "high=14: not supported; high=20: supported"
