"""The equivalence_interval rule (appended to clusterstats.rules on branch clusters10) on
hand-made rows, including the boundary cases."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from clusterstats import rules


def _rows(*intervals, level=0.9):
    return pd.DataFrame([{"effect_name": "share", "effect": (lo + hi) / 2 if not math.isnan(lo) else math.nan,
                          "ci_low": lo, "ci_high": hi, "ci_level": level} for lo, hi in intervals])


def judge(rows, **kw):
    return rules.judge_part(rows, "equivalence_interval", {"low": 0.6, "high": 0.714, **kw})


def test_inside_supported_outside_not_straddle_inconclusive():
    assert judge(_rows((0.62, 0.70))).verdict == rules.SUPPORTED
    assert judge(_rows((0.30, 0.55))).verdict == rules.NOT_SUPPORTED
    assert judge(_rows((0.75, 0.90))).verdict == rules.NOT_SUPPORTED
    assert judge(_rows((0.50, 0.75))).verdict == rules.INCONCLUSIVE


def test_interval_exactly_on_the_margin_counts_as_inside():
    assert judge(_rows((0.6, 0.714))).verdict == rules.SUPPORTED
    # touching the margin from outside is not "wholly outside"
    assert judge(_rows((0.5, 0.6))).verdict == rules.INCONCLUSIVE


def test_nan_interval_is_a_point_and_nan_effect_is_inconclusive():
    point = pd.DataFrame([{"effect": 0.65, "ci_low": math.nan, "ci_high": math.nan,
                           "ci_level": math.nan}])
    assert judge(point).verdict == rules.SUPPORTED
    assert judge(_rows((math.nan, math.nan))).verdict == rules.INCONCLUSIVE


def test_several_rows_every_one_must_be_inside():
    assert judge(_rows((0.62, 0.70), (0.61, 0.71))).verdict == rules.SUPPORTED
    assert judge(_rows((0.62, 0.70), (0.55, 0.71))).verdict == rules.INCONCLUSIVE
    assert judge(_rows((0.62, 0.70), (0.2, 0.3))).verdict == rules.NOT_SUPPORTED


def test_interval_of_the_wrong_level_is_refused():
    with pytest.raises(ValueError, match="0.9 interval"):
        judge(_rows((0.62, 0.70), level=0.95))
    assert judge(_rows((0.62, 0.70), level=0.8), alpha=0.1).verdict == rules.SUPPORTED


def test_sensitivity_varies_the_margin_without_recomputing():
    text = rules.sensitivity(_rows((0.62, 0.70)), "equivalence_interval",
                             {"low": 0.6, "high": 0.714}, {"low": [0.636], "high": [0.692]})
    assert text == "low=0.636: inconclusive; high=0.692: inconclusive"
