"""Metrics against hand-computed values."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.metrics import crps, mae, mape, picp, pinball, score


def test_point_metrics_hand_computed():
    y = np.array([100.0, 200.0, 50.0])
    yhat = np.array([110.0, 180.0, 50.0])
    assert mape(y, yhat) == pytest.approx(100 * (0.1 + 0.1 + 0.0) / 3)
    assert mae(y, yhat) == pytest.approx((10 + 20 + 0) / 3)


def test_mape_skips_zero_actuals():
    assert mape(np.array([0.0, 10.0]), np.array([5.0, 12.0])) == pytest.approx(20.0)


def test_pinball_and_crps_hand_computed():
    y = np.array([10.0])
    q = np.array([[8.0, 12.0]])
    # tau 0.1: d = 2 -> 0.1*2 = 0.2 ; tau 0.9: d = -2 -> (0.9-1)*-2 = 0.2
    assert pinball(y, q, (0.1, 0.9)) == pytest.approx(0.2)
    assert crps(y, q, (0.1, 0.9)) == pytest.approx(0.4)


def test_picp_counts_inclusive_bounds():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert picp(y, np.array([1.0, 2.5, 0.0, 5.0]), np.array([1.0, 3.0, 3.0, 6.0])) == pytest.approx(0.5)


def test_score_table_accuracy_and_width():
    t = pd.DataFrame({"actual": [100.0, 100.0], "mean": [90.0, 105.0], "q0.05": [80.0, 101.0], "q0.1": [85.0, 102.0],
                      "q0.25": [88.0, 103.0], "q0.5": [90.0, 105.0], "q0.75": [95.0, 106.0], "q0.9": [99.0, 107.0],
                      "q0.95": [101.0, 108.0]})
    s = score(t)
    assert s["mape"] == pytest.approx(7.5)
    assert s["accuracy"] == pytest.approx(92.5)
    assert s["picp90"] == pytest.approx(0.5)
    assert s["width90"] == pytest.approx((21 + 7) / 2)
    assert s["picp50"] == pytest.approx(0.0)
