"""Prophet's dependency noise is handled where it arises: a fit, with the CLI's logging, prints neither the plotly
import ERROR nor the yearly-seasonality warning (the model records the latter in its ``notes``), nor the
``holidays`` package's "available only from 2001 to 2035" warning for India (zone IN-WE) — and the filters are
gone after the fit."""
from __future__ import annotations

import subprocess
import sys

import pytest

CODE = """
import pandas as pd
from carbonshift.experiments.output import setup_logging
setup_logging(False)
from carbonshift.forecast.data.panel import load_dacf_panel
from carbonshift.forecast.models.prophet import ProphetForecaster
p = load_dacf_panel(["SE"])
p = p[(p["time"] >= "2020-10-01") & (p["time"] < "2021-01-31")].reset_index(drop=True)
m = ProphetForecaster(horizon=24, train_days=60).fit(p, "ci_direct", pd.Timestamp("2021-01-10", tz="UTC"))
import logging, warnings
from carbonshift.forecast.data.panel import load_panel
q = load_panel(["IN-WE"], [2023], weather=False)
q = q[q["time"] < "2023-03-01"].reset_index(drop=True)
ProphetForecaster(horizon=24, train_days=40, regressors=False).fit(q, "ci_direct", pd.Timestamp("2023-02-20", tz="UTC"))
print("NOTES", m.notes, "FILTERS", logging.getLogger("prophet").filters + logging.getLogger("prophet.plot").filters)
warnings.warn("Requested Holidays are available only from 2001 to 2035.", UserWarning)   # outside a fit: shown
"""


@pytest.mark.slow   # a subprocess, two Prophet fits
def test_a_prophet_fit_prints_no_plotly_error_nor_seasonality_warning():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "plotly" not in proc.stderr and "Yearly seasonality" not in proc.stderr, proc.stderr
    assert proc.stderr.count("Requested Holidays are available only from 2001 to 2035") == 1, proc.stderr
    assert "NOTES ['yearly seasonality fitted on 60 days of SE (< 730: under-identified)']" in proc.stdout
    assert "FILTERS []" in proc.stdout     # only during the fit: Prophet's other messages still reach the log
