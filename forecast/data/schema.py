"""The canonical hourly panel and forecast-table schemas — the single place they are defined.

Panel: one long table, one row per (region, hour).

| column            | dtype               | unit / meaning                                                      |
|-------------------|---------------------|---------------------------------------------------------------------|
| region            | str                 | zone id (Electricity Maps, e.g. ``US-CAL-CISO``) or DACF region      |
| time              | datetime64[ns, UTC] | start of the hour; the row covers [time, time + 1 h)                 |
| ci_direct         | float               | average carbon intensity, direct (operational) factors, gCO2eq/kWh  |
| ci_lca            | float               | average carbon intensity, life-cycle factors, gCO2eq/kWh            |
| renewable_pct     | float               | share of renewable electricity, % (0–100)                            |
| low_carbon_pct    | float               | share of renewable + nuclear electricity, % (0–100)                  |
| estimated         | bool                | the source marked the hour as estimated                              |

Optional covariate columns (NaN where the source has none). ``obs_*`` are *observed* weather
(Open-Meteo reanalysis; using them as known-future inputs is the "oracle weather" setting);
``fc_*`` are genuine day-ahead *forecasts* (DACF's GFS features and source-production forecasts)
and may be used as known-future inputs.

| column                  | unit                                                |
|-------------------------|-----------------------------------------------------|
| obs_temperature_c       | °C (Open-Meteo ``temperature_2m``)                  |
| obs_humidity_pct        | % (``relative_humidity_2m``)                         |
| obs_cloudcover_pct      | % (``cloudcover``)                                   |
| obs_windspeed_kmh       | km/h (``windspeed_10m``)                             |
| fc_wind_speed_ms        | m/s, GFS area-weighted mean                          |
| fc_temperature_k        | K, GFS                                               |
| fc_dewpoint_k           | K, GFS                                               |
| fc_dswrf_wm2            | W/m², GFS downward short-wave radiation              |
| fc_precip_mm            | kg/m² ≈ mm, GFS                                      |
| fc_<source>_mw          | MW, day-ahead production forecast per source (DACF)  |
| fc_temperature_c        | °C, Open-Meteo forecast (``temperature_2m``)          |
| fc_humidity_pct         | %, Open-Meteo forecast (``relative_humidity_2m``)     |
| fc_cloudcover_pct       | %, Open-Meteo forecast (``cloud_cover``)              |
| fc_windspeed_kmh        | km/h, Open-Meteo forecast (``wind_speed_10m``)        |
| fc_shortwave_wm2        | W/m², Open-Meteo forecast (``shortwave_radiation``)   |

The Open-Meteo ``fc_*`` columns (any Electricity Maps zone, ``backtest.weather_forecasts``) hold, at hour t,
the forecast published at least ``horizon_h`` hours before t (:mod:`forecast.data.openmeteo_forecast`).

``mix_<source>_pct`` (DACF regions): the *observed* share of each source in generation at hour t, % (0–100) —
history only: a model may read them at hours before its issue time (``models.gbm.past_covariates``), never as
known-future inputs.

Forecast table: the one hand-off from forecasting to scheduling, one row per
(region, issue_time, time).

| column      | dtype               | meaning                                                       |
|-------------|---------------------|---------------------------------------------------------------|
| region      | str                 | as in the panel                                               |
| issue_time  | datetime64[ns, UTC] | when the forecast was made; it used data strictly before it   |
| time        | datetime64[ns, UTC] | target hour (start)                                           |
| horizon_h   | int                 | (time − issue_time) in hours, ≥ 1 for hour starts after issue |
| mean        | float               | point forecast (used for MAPE), unit of the target            |
| q0.05 … q0.95 | float             | quantiles at QUANTILE_LEVELS, non-decreasing                   |
"""
from __future__ import annotations

TARGETS: dict[str, str] = {
    "ci_direct": "gCO2eq/kWh",
    "ci_lca": "gCO2eq/kWh",
    "renewable_pct": "%",
    "low_carbon_pct": "%",
}
PANEL_KEYS: tuple[str, str] = ("region", "time")
PANEL_COLUMNS: tuple[str, ...] = ("region", "time", *TARGETS, "estimated")
OBSERVED_WEATHER: dict[str, str] = {
    "obs_temperature_c": "°C",
    "obs_humidity_pct": "%",
    "obs_cloudcover_pct": "%",
    "obs_windspeed_kmh": "km/h",
}
FORECAST_WEATHER: dict[str, str] = {
    "fc_wind_speed_ms": "m/s",
    "fc_temperature_k": "K",
    "fc_dewpoint_k": "K",
    "fc_dswrf_wm2": "W/m²",
    "fc_precip_mm": "mm",
}

QUANTILE_LEVELS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
QUANTILE_COLUMNS: tuple[str, ...] = tuple(f"q{q:g}" for q in QUANTILE_LEVELS)
FORECAST_COLUMNS: tuple[str, ...] = ("region", "issue_time", "time", "horizon_h", "mean", *QUANTILE_COLUMNS)
#: Longest forecast horizon, h, that any config, backtest or trained forecaster may ask for (one week ahead).
MAX_HORIZON_H: int = 168
#: Default horizon buckets (h, inclusive upper edges; bucket k covers (edges[k-1], edges[k]]) for ensemble
#: weights and conformal corrections; the last edge is MAX_HORIZON_H.
DEFAULT_BUCKETS: tuple[int, ...] = (6, 12, 24, 48, 96, MAX_HORIZON_H)
