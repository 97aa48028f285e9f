"""Feasibility domain of migrating a training job to follow surplus renewable energy (seed 001).

A job checkpoints, ships its checkpoint over the WAN, restores at the destination and resumes there while
the destination's renewable window lasts. For every point of a grid of checkpoint size (GB) × WAN bandwidth
(Gbps) × window length (h) the model gives

* ``transfer_h``  = size · 8 / (bandwidth · link_efficiency) / 3600  — hours on the wire;
* ``restore_h``   = size / restore_gb_per_s / 3600 + startup_h       — read the checkpoint, restart workers;
* ``move_h``      = transfer_h + restore_h                             — wall-clock the job does not compute;
* ``move_energy_kwh`` = size · network_kwh_per_gb + idle_kw · move_h   — energy of moving the data plus the
  job's reserved hardware idling while it moves;
* ``compute_kwh`` = max(window_h − move_h, 0) · job_kw                 — compute energy the window still offers;
* ``saving_kg``   = compute_kwh · (ci_source − ci_dest) / 1000         — emissions avoided by running that
  compute at the destination instead of the source (gCO2eq/kWh → kgCO2e);
* ``move_kg``     = move_energy_kwh · ci_source / 1000                 — emissions of the move (charged at the
  dirtier end, conservatively).

The move is **time-feasible** when ``move_h ≤ max_move_share · window_h`` (default 10 %) and
**energy-feasible** when ``saving_kg ≥ move_kg``; it is feasible when both hold.

Energy intensity of data transmission: 0.06 kWh/GB, the 2015 figure of Aslan, Mayers, Koomey & France,
"Electricity Intensity of Internet Data Transmission: Untangling the Estimates", *Journal of Industrial
Ecology* 22(4):785–798 (2018), which also finds the intensity halving roughly every two years; using the 2015
value overstates a 2020s move, so energy feasibility is judged conservatively. The value is the one constant
:data:`scheduler.datacenters.DEFAULT_NETWORK_KWH_PER_GB`, shared with the scheduler. Every parameter is a knob.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from carbonshift.scheduler.datacenters import DEFAULT_NETWORK_KWH_PER_GB


@dataclass(frozen=True)
class MoveTiming:
    """How long a move takes and how much of a window it may take: the settings the feasibility grid
    (:class:`MoveParams`) and the migration model (:class:`scheduler.policies.migration.MigrationOptions`) share,
    defined here once.

    link_efficiency: share of the nominal WAN bandwidth a bulk transfer achieves (0–1].
    restore_gb_per_s: checkpoint read/deserialise throughput at the destination, GB/s.
    startup_h: fixed restart cost (scheduling, worker start, warm-up), hours.
    max_move_share: largest share of the window the move may take (time feasibility), (0, 1].
    """

    link_efficiency: float = 0.7
    restore_gb_per_s: float = 2.0
    startup_h: float = 0.05
    max_move_share: float = 0.10

    def in_range(self) -> dict[str, bool]:
        """``field -> whether its value is in range``; a subclass adds its own fields' checks."""
        return {"link_efficiency": 0 < self.link_efficiency <= 1, "restore_gb_per_s": self.restore_gb_per_s > 0,
                "startup_h": self.startup_h >= 0, "max_move_share": 0 < self.max_move_share <= 1}

    def __post_init__(self) -> None:
        bad = [k for k, ok in self.in_range().items() if not ok]
        if bad:
            raise ValueError(f"{type(self).__name__}: out of range: "
                             f"{', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")

    def timing(self) -> dict[str, float]:
        """The :class:`MoveTiming` fields of this object, as keyword arguments."""
        return {f.name: getattr(self, f.name) for f in fields(MoveTiming)}


@dataclass(frozen=True)
class MoveParams(MoveTiming):
    """Everything but the three grid axes: the move's timing (:class:`MoveTiming`) and

    network_kwh_per_gb: energy intensity of the transfer, kWh/GB.
    idle_kw: power the job's reserved hardware draws while it does not compute during the move, kW.
    job_kw: power of the running job (GPUs × kW × PUE), kW.
    ci_source, ci_dest: carbon intensity at the source and at the destination during the window, gCO2eq/kWh.
    """

    network_kwh_per_gb: float = DEFAULT_NETWORK_KWH_PER_GB
    idle_kw: float = 2.0
    job_kw: float = 8.0
    ci_source: float = 400.0
    ci_dest: float = 50.0

    def in_range(self) -> dict[str, bool]:
        return {**super().in_range(), "network_kwh_per_gb": self.network_kwh_per_gb >= 0,
                "idle_kw": self.idle_kw >= 0, "job_kw": self.job_kw > 0, "ci_source": self.ci_source >= 0,
                "ci_dest": self.ci_dest >= 0}


def move_hours(size_gb: np.ndarray | float, bandwidth_gbps: np.ndarray | float,
               params: MoveTiming = MoveTiming()) -> np.ndarray:
    """Transfer + restore time of a checkpoint of ``size_gb`` over ``bandwidth_gbps``, hours (broadcasts)."""
    size = np.asarray(size_gb, dtype=float)
    bw = np.asarray(bandwidth_gbps, dtype=float)
    if np.any(size < 0) or np.any(bw <= 0):
        raise ValueError("move_hours: size_gb must be ≥ 0 and bandwidth_gbps > 0")
    transfer_h = size * 8.0 / (bw * params.link_efficiency) / 3600.0
    restore_h = size / params.restore_gb_per_s / 3600.0 + params.startup_h
    return transfer_h + restore_h


def move_energy_kwh(size_gb: np.ndarray | float, move_h: np.ndarray | float,
                    params: MoveParams = MoveParams()) -> np.ndarray:
    """Energy of one move: data over the network plus idle reserved hardware while moving, kWh."""
    return np.asarray(size_gb, dtype=float) * params.network_kwh_per_gb + params.idle_kw * np.asarray(move_h)


@dataclass
class FeasibilityGrid:
    """Feasibility model evaluated on ``size_gb × bandwidth_gbps × window_h`` (arrays indexed [s, b, w])."""

    size_gb: np.ndarray
    bandwidth_gbps: np.ndarray
    window_h: np.ndarray
    params: MoveParams
    move_h: np.ndarray = field(repr=False)
    move_energy_kwh: np.ndarray = field(repr=False)
    compute_kwh: np.ndarray = field(repr=False)
    saving_kg: np.ndarray = field(repr=False)
    move_kg: np.ndarray = field(repr=False)
    time_ok: np.ndarray = field(repr=False)
    energy_ok: np.ndarray = field(repr=False)

    @property
    def feasible(self) -> np.ndarray:
        return self.time_ok & self.energy_ok

    def summary(self) -> dict[str, float]:
        """Shares of the grid that are time-, energy- and jointly feasible, and how often time is the binding
        constraint (infeasible on time although energy pays off)."""
        n = self.feasible.size
        return {
            "grid_points": float(n),
            "share_time_feasible": float(self.time_ok.mean()),
            "share_energy_feasible": float(self.energy_ok.mean()),
            "share_feasible": float(self.feasible.mean()),
            "share_time_binding": float((~self.time_ok & self.energy_ok).sum() / max(n - self.feasible.sum(), 1)),
            "share_energy_ok_when_time_ok": float(self.energy_ok[self.time_ok].mean()) if self.time_ok.any()
            else float("nan"),
        }


def evaluate(size_gb: np.ndarray, bandwidth_gbps: np.ndarray, window_h: np.ndarray,
             params: MoveParams = MoveParams()) -> FeasibilityGrid:
    """Evaluate the model on the outer product of the three 1-D axes (vectorised, no loops)."""
    axes = {"size_gb": size_gb, "bandwidth_gbps": bandwidth_gbps, "window_h": window_h}
    arrs = {}
    for name, a in axes.items():
        a = np.asarray(a, dtype=float)
        if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
            raise ValueError(f"evaluate: {name} must be a non-empty 1-D finite array, got shape {a.shape}")
        arrs[name] = a
    if np.any(arrs["window_h"] <= 0):
        raise ValueError("evaluate: window_h must be > 0")
    s = arrs["size_gb"][:, None, None]
    b = arrs["bandwidth_gbps"][None, :, None]
    w = arrs["window_h"][None, None, :]
    mh = np.broadcast_to(move_hours(s, b, params), (s.shape[0], b.shape[1], 1))
    me = move_energy_kwh(s, mh, params)
    compute = np.maximum(w - mh, 0.0) * params.job_kw
    saving = compute * (params.ci_source - params.ci_dest) / 1000.0
    move_kg = me * params.ci_source / 1000.0
    shape = (s.shape[0], b.shape[1], w.shape[2])
    return FeasibilityGrid(
        size_gb=arrs["size_gb"], bandwidth_gbps=arrs["bandwidth_gbps"], window_h=arrs["window_h"], params=params,
        move_h=np.broadcast_to(mh, shape).copy(), move_energy_kwh=np.broadcast_to(me, shape).copy(),
        compute_kwh=compute, saving_kg=saving, move_kg=np.broadcast_to(move_kg, shape).copy(),
        time_ok=mh <= params.max_move_share * w, energy_ok=saving >= move_kg,
    )


def min_window_h(size_gb: np.ndarray | float, bandwidth_gbps: np.ndarray | float,
                 params: MoveParams = MoveParams()) -> np.ndarray:
    """Shortest window (h) for which a move is time-feasible: move_h / max_move_share."""
    return move_hours(size_gb, bandwidth_gbps, params) / params.max_move_share


def domain_figure(grid: FeasibilityGrid, title: str | None = None):
    """Checkpoint size (GB) × WAN bandwidth (Gbps) plane with one contour per window length: below/right of the
    contour for window W the move takes ≤ max_move_share·W. Hatched where the move's energy is not repaid for
    the shortest window. An axis is logarithmic when its range spans two decades or more. The title states the
    model's parameters (job power kW, source → destination intensity gCO2eq/kWh, link efficiency). Returns a
    matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.artist import Artist
    from matplotlib.patches import Patch

    s, b = grid.size_gb, grid.bandwidth_gbps
    p = grid.params
    need = min_window_h(s[:, None], b[None, :], p)  # [s, b]
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    levels = np.unique(grid.window_h)
    cs = ax.contour(b, s, need, levels=levels, cmap="viridis")
    ax.clabel(cs, fmt=lambda v: f"{v:g} h", fontsize=8)
    not_repaid = ~grid.energy_ok[:, :, 0]
    if not_repaid.any():
        ax.contourf(b, s, not_repaid.astype(float), levels=[0.5, 1.5], colors="none", hatches=["//"])
    for axis_values, set_scale in ((b, ax.set_xscale), (s, ax.set_yscale)):
        if axis_values.min() > 0 and axis_values.max() / axis_values.min() >= 100:
            set_scale("log")
    ax.set_xlabel("WAN bandwidth (Gbps)")
    ax.set_ylabel("checkpoint size (GB)")
    ax.set_title(title or f"Checkpoint-move feasibility: time-feasible below each window's contour (move ≤ "
                          f"{p.max_move_share:.0%} of the window)\njob {p.job_kw:g} kW, {p.ci_source:g} → "
                          f"{p.ci_dest:g} gCO2eq/kWh, link efficiency {p.link_efficiency:g}, restart "
                          f"{p.startup_h:g} h (model, no measured data)", fontsize=9)
    handles: list[Artist] = [Patch(facecolor="none", edgecolor="k", hatch="//",
                     label=f"move energy not repaid in a {levels[0]:g} h window")]
    # Colormap on a scalar returns an RGBA tuple; its stub's return type also allows an array
    handles += [plt.Line2D([], [], color=cs.cmap(cs.norm(v)), label=f"{v:g} h window")  # type: ignore[arg-type]
                for v in levels]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    fig.tight_layout()
    return fig
