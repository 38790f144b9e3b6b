"""Each verdict rule on hand-made evidence, including the boundary cases: a value exactly at a
threshold, a missing interval, several rows, and the claim-level combination of parts."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from clusterstats import rules
from clusterstats.rules import (INCONCLUSIVE, NOT_SUPPORTED, NOT_TESTABLE, PARTLY, SUPPORTED,
                                combine_parts, judge_part, sensitivity)


def rows(*dicts) -> pd.DataFrame:
    return pd.DataFrame(list(dicts))


@pytest.mark.parametrize("lo, hi, expected", [
    (0.55, 0.80, SUPPORTED),        # wholly inside
    (0.50, 1.00, SUPPORTED),        # exactly on both bounds: inside (closed range)
    (0.45, 0.80, INCONCLUSIVE),     # straddles the lower bound
    (0.20, 0.49, NOT_SUPPORTED),    # wholly below
    (0.20, 0.50, INCONCLUSIVE),     # touches the bound from below: not wholly outside
])
def test_interval_inside_boundaries(lo, hi, expected):
    r = rows({"effect": (lo + hi) / 2, "ci_low": lo, "ci_high": hi, "effect_name": "share"})
    assert rules.interval_inside(r, low=0.5, high=1.0).verdict == expected


def test_interval_inside_point_without_interval_and_several_rows():
    point = rows({"effect": 6.0, "ci_low": math.nan, "ci_high": math.nan})
    assert rules.interval_inside(point, low=6, high=7).verdict == SUPPORTED
    assert rules.interval_inside(rows({"effect": 8.0}), low=6, high=7).verdict == NOT_SUPPORTED
    several = rows({"effect": 9, "ci_low": 8, "ci_high": 10}, {"effect": 20, "ci_low": 15, "ci_high": 25})
    judged = rules.interval_inside(several, low=7, high=14)
    assert judged.verdict == NOT_SUPPORTED and "20" in judged.reason
    assert rules.interval_inside(rows({"effect": math.nan}), low=0, high=1).verdict == INCONCLUSIVE


@pytest.mark.parametrize("p, lo, hi, expected", [
    (0.01, 1.5, 3.0, SUPPORTED),
    (0.05, 0.9, 3.0, INCONCLUSIVE),   # p exactly alpha is not below it
    (0.60, 0.8, 1.4, INCONCLUSIVE),   # not significant: never "supported"
    (0.99, 0.3, 0.8, NOT_SUPPORTED),  # interval wholly below the null: the data point the other way
])
def test_one_sided(p, lo, hi, expected):
    r = rows({"effect": (lo + hi) / 2, "ci_low": lo, "ci_high": hi, "p_value": p})
    assert rules.one_sided(r, alpha=0.05, null=1.0, direction="greater").verdict == expected


def test_one_sided_uses_the_holm_adjusted_p_and_checks_direction():
    r = rows({"effect": 2.0, "ci_low": 1.2, "ci_high": 3.0, "p_value": 0.02, "p_holm": 0.08})
    assert rules.one_sided(r, alpha=0.05, null=1.0).verdict == INCONCLUSIVE
    less = rows({"effect": 0.5, "ci_low": 1.1, "ci_high": 1.6, "p_value": 0.9})
    assert rules.one_sided(less, null=1.0, direction="less").verdict == NOT_SUPPORTED
    with pytest.raises(ValueError, match="direction"):
        rules.one_sided(r, direction="two-sided")


@pytest.mark.parametrize("p, lo, hi, expected", [
    (0.01, 0.60, 0.72, SUPPORTED),
    (0.30, 0.48, 0.77, INCONCLUSIVE),   # equivalence not shown: no support from non-significance
    (0.99, 0.10, 0.30, NOT_SUPPORTED),
])
def test_equivalence(p, lo, hi, expected):
    r = rows({"effect": (lo + hi) / 2, "ci_low": lo, "ci_high": hi, "p_value": p})
    assert rules.equivalence(r, low=0.55, high=0.78, alpha=0.05).verdict == expected


def test_equals_and_within_bounds():
    assert rules.equals(rows({"effect": 243.0}), value=243).verdict == SUPPORTED
    assert rules.equals(rows({"effect": 74.0}), value=82).verdict == NOT_SUPPORTED
    assert rules.equals(rows({"effect": 11.04}), value=11, tolerance=0.05).verdict == SUPPORTED
    bounds = {"effect": 32, "ci_low": 32, "ci_high": 51}
    assert rules.within_bounds(rows(bounds), value=43).verdict == INCONCLUSIVE
    assert rules.within_bounds(rows(bounds), value=51).verdict == INCONCLUSIVE    # on the bound
    assert rules.within_bounds(rows(bounds), value=3).verdict == NOT_SUPPORTED
    exact = {"effect": 42, "ci_low": 42, "ci_high": 42}
    assert rules.within_bounds(rows(exact), value=42).verdict == SUPPORTED
    assert rules.not_testable(rows({"effect": None})).verdict == NOT_TESTABLE


def test_judge_part_and_sensitivity():
    r = rows({"effect": 0.75, "ci_low": 0.58, "ci_high": 0.87, "effect_name": "share"})
    assert judge_part(r, "interval_inside", {"low": 0.5, "high": 1}).verdict == SUPPORTED
    assert judge_part(r.iloc[0:0], "interval_inside", {"low": 0.5, "high": 1}).verdict == INCONCLUSIVE
    text = sensitivity(r, "interval_inside", {"low": 0.5, "high": 1}, {"low": [0.55, 0.6]})
    assert text == "low=0.55: supported; low=0.6: inconclusive"
    assert sensitivity(r, "interval_inside", {"low": 0.5, "high": 1}, None) == ""
    with pytest.raises(KeyError, match="unknown verdict rule"):
        judge_part(r, "no_such_rule", {})


@pytest.mark.parametrize("parts, expected", [
    ([SUPPORTED, SUPPORTED], SUPPORTED),
    ([SUPPORTED, NOT_SUPPORTED], PARTLY),
    ([SUPPORTED, INCONCLUSIVE], PARTLY),
    ([NOT_SUPPORTED, INCONCLUSIVE], NOT_SUPPORTED),
    ([NOT_SUPPORTED, NOT_SUPPORTED], NOT_SUPPORTED),
    ([INCONCLUSIVE, NOT_TESTABLE], INCONCLUSIVE),
    ([NOT_TESTABLE], NOT_TESTABLE),
    ([], INCONCLUSIVE),
])
def test_combine_parts(parts, expected):
    assert combine_parts(parts) == expected


def test_every_rule_named_in_claims_exists_and_every_part_is_justified():
    from clusterstats import claims

    for claim in claims.load().values():
        for part in claim.parts:
            assert part.rule in rules.RULES
            assert len(part.justification) > 20, part.id
