"""Known answers for the BULSTAT code -> year calibration (constructed sequences, sklearn)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression

from clusterstats.stats.calibration import (base_code, calibrate_code_to_year, date_codes,
                                            monotone_consistency)


def codes(offsets, prefix=175000000):
    return [str(prefix + k) for k in offsets]


def test_base_code_maps_branches_and_split_codes():
    assert base_code("1176430940012") == "117643094"
    assert base_code("11764309 4") == "117643094"  # PDF-to-text split
    assert base_code(177127402) == "177127402"
    with pytest.raises(ValueError, match="not a 9- or 13-digit"):
        base_code("12345")


def test_strictly_monotone_sequence_loo_by_hand():
    # Constructed: codes 0..9 (offsets), year = 2000 + offset. Leaving out an interior point,
    # linear interpolation between its neighbours gives its year exactly; leaving out an end
    # point clips to the neighbour's year, an error of 1. So MAE = 2/10 and 8 of 10 exact.
    df = pd.DataFrame({"code": codes(range(10)), "year": [2000 + k for k in range(10)]})
    fit = calibrate_code_to_year(df, n_boot=0)
    mae = fit.summary.iloc[0]
    exact = fit.summary.iloc[1]
    assert mae["effect"] == pytest.approx(0.2)
    assert exact["statistic"] == 8 and exact["effect"] == pytest.approx(0.8)
    assert fit.summary.iloc[2]["effect"] == pytest.approx(1.0)  # Spearman rho
    assert (fit.points["consistency"] == "consistent").all()


def test_pooling_by_hand_and_against_sklearn():
    # Pool-adjacent-violators by hand: years 2000, 2002, 2001, 2003 -> 2000, 2001.5, 2001.5, 2003.
    df = pd.DataFrame({"code": codes([0, 10, 20, 30]), "year": [2000, 2002, 2001, 2003]})
    fit = calibrate_code_to_year(df, n_boot=0)
    assert fit.points["fitted"].tolist() == [2000, 2001.5, 2001.5, 2003]
    assert fit.points["consistency"].tolist() == ["consistent", "ambiguous", "ambiguous",
                                                  "consistent"]
    # sklearn directly, predicting between calibration codes (linear interpolation).
    sk = IsotonicRegression(out_of_bounds="clip").fit([0, 10, 20, 30], [2000, 2002, 2001, 2003])
    dated = date_codes(fit, codes([5, 25]))
    np.testing.assert_allclose(dated["predicted"], sk.predict([5, 25]))
    assert dated["predicted"].tolist() == [2000.75, 2002.25]
    assert dated["predicted_year"].tolist() == [2001, 2002]
    assert date_codes(fit, codes([5, 25]), rounding="floor")["predicted_year"].tolist() == [2000, 2002]


def test_single_outlier_is_inconsistent():
    assert monotone_consistency([2000, 2001, 1995, 2002, 2003]).tolist() == [
        "consistent", "consistent", "inconsistent", "consistent", "consistent"]
    df = pd.DataFrame({"code": codes([0, 1, 2, 3, 4]), "year": [2000, 2001, 1995, 2002, 2003]})
    pts = calibrate_code_to_year(df, n_boot=0).points
    assert "older organisation" in pts.loc[2, "inconsistency_note"]


def test_date_codes_clips_flags_and_skips_unknown_series():
    df = pd.DataFrame({"code": codes(range(0, 50, 5)), "year": [2008 + k // 2 for k in range(10)]})
    fit = calibrate_code_to_year(df, n_boot=200, seed=1)
    out = date_codes(fit, ["175000100", "175000022", "1750000220011", "131531726", "x"])
    assert out.loc[0, "predicted_year"] == 2012 and not out.loc[0, "in_range"]
    assert "after the calibrated range" in out.loc[0, "note"]
    assert out.loc[1, "in_range"] and out.loc[1, "low"] <= out.loc[1, "predicted"] <= out.loc[1, "high"]
    assert out.loc[2, "predicted"] == out.loc[1, "predicted"]  # branch -> parent
    assert pd.isna(out.loc[3, "predicted_year"]) and "no calibration for code series 13" in out.loc[3, "note"]
    assert "not a 9- or 13-digit" in out.loc[4, "note"]
    again = date_codes(calibrate_code_to_year(df, n_boot=200, seed=1), ["175000022"])
    assert again.loc[0, "low"] == out.loc[1, "low"]  # seeded


@pytest.mark.parametrize("frame, kwargs, match", [
    (pd.DataFrame({"code": [], "year": []}), {}, "no calibration points"),
    (pd.DataFrame({"code": ["123"], "year": [2000]}), {}, "row 0: '123' is not"),
    (pd.DataFrame({"code": codes([0, 1]), "year": [2000, 2001]}), {}, "at least 3"),
    (pd.DataFrame({"code": codes([0, 1, 2]), "year": [2000, 2001, 2002]}), {"ci_level": 1.5}, "ci_level"),
])
def test_bad_input(frame, kwargs, match):
    with pytest.raises(ValueError, match=match):
        calibrate_code_to_year(frame, n_boot=0, **kwargs)
