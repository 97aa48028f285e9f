"""Communication topology of data-parallel jobs that span regions (seed 000 §4.2B): parameter server vs ring
all-reduce, placed carbon-aware or latency-only.

Model (every input a config knob; assumptions named):

* A job trains data-parallel over ``k`` regions. Inside a region gradients are reduced over the local fabric
  (not modelled: fast and not on the WAN); across regions one aggregate per region exchanges ``model_gb`` of
  gradients per step.
* **Ring all-reduce** over the ``k`` regions (reduce-scatter + all-gather): each region sends
  ``2(k−1)/k · model_gb`` per step to its ring successor, so every ring link carries that much and the WAN
  carries ``2(k−1) · model_gb`` per step. Time: ``2(k−1)`` phases, each bounded by the slowest link —
  ``2(k−1) · (max link RTT / 2 + model_gb/k · 8 / wan_gbps)`` s.
* **Parameter server** in region ``p`` (any region of the data-centre set; aggregation compute is taken as
  negligible — assumption): every worker region ``r ≠ p`` pushes ``model_gb`` and pulls ``model_gb`` (2 ×
  model_gb on link r–p); a worker in ``p`` itself stays local. The PS's WAN link (``wan_gbps``) serialises the
  ``n_remote`` pushes, then the pulls: ``max RTT(r, p) + 2 · n_remote · model_gb · 8 / wan_gbps`` s.
* Step time = ``compute_s`` + communication time; steps per hour = 3600 / step time.
* Round-trip times: :func:`scheduler.datacenters.rtt_ms` (great-circle fibre model × route-stretch
  assumption, or measured overrides).
* Network energy: ``network_kwh_per_gb`` (0.06 kWh/GB, the one shared constant) charged by
  :meth:`DataCenters.transfer_carbon_kg` — the mean intensity of a link's two ends. Consequence: **every ring
  order has the same communication carbon** (each region is an end of exactly two equally loaded links), so a
  carbon-aware ring order can only win through step time; carbon-aware gains come from where the parameter
  server sits and from choosing PS vs ring.
* Operational energy: GPUs × ``gpu_kw`` × PUE of each worker region, all hours of the job's reservation
  (GPUs draw power while they wait on the network), charged at that region's hourly intensity.

Placement (one static choice per job over its reservation; nothing moves mid-job):

* latency-only: the candidate with the shortest step time (ties: lowest total RTT);
* carbon-aware: among candidates whose step time is within ``(1 + latency_budget)`` × the latency-only step
  time, the one with the least carbon per step (operational + communication, kgCO2e) over the reservation.
  By construction it is never worse in carbon per step than latency-only, and never slower than the budget.

Units: GB, Gbps, ms (RTT), s (step time), kW, kWh, gCO2eq/kWh (intensity), kgCO2e; hours are UTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np

from carbonshift.scheduler.datacenters import DataCenters

#: Largest ring brute-forced ((k−1)!/2 orders: 60 at k = 6).
MAX_RING_K = 6
FAMILIES = ("ps", "ring", "both")


def ring_gb_per_link(model_gb: float, k: int) -> float:
    """GB each ring link carries per step (ring all-reduce over ``k`` regions): 2(k−1)/k × model_gb."""
    return 2.0 * (k - 1) / k * model_gb


def ps_gb_per_step(model_gb: float, n_remote: int) -> float:
    """WAN GB per step of a parameter server with ``n_remote`` worker regions outside its own: push + pull."""
    return 2.0 * model_gb * n_remote


@dataclass(frozen=True)
class Candidates:
    """Layouts of one job. ``links_*`` are padded ``[C × L]`` arrays (``links_gb`` = 0 on padding): GB per step
    on link (src, dst), charged by the transfer rule."""

    labels: list[str]
    family: np.ndarray        # [C] "ps" | "ring"
    step_s: np.ndarray        # [C] s per step (compute + communication)
    total_rtt_ms: np.ndarray  # [C] Σ RTT over the layout's links, ms (tie-break)
    links_src: np.ndarray     # [C × L] region index
    links_dst: np.ndarray     # [C × L] region index
    links_gb: np.ndarray      # [C × L] GB per step

    @property
    def wan_gb_per_step(self) -> np.ndarray:
        return self.links_gb.sum(axis=1)


def _check_job(workers: np.ndarray, n_regions: int, model_gb: float, compute_s: float) -> None:
    if len(workers) < 2 or len(set(workers.tolist())) != len(workers):
        raise ValueError(f"topology: a multi-region job needs ≥ 2 distinct worker regions, got {workers.tolist()}")
    if workers.min() < 0 or workers.max() >= n_regions:
        raise ValueError(f"topology: worker region index out of range 0..{n_regions - 1}: {workers.tolist()}")
    if model_gb <= 0 or compute_s <= 0:
        raise ValueError(f"topology: model_gb and compute_s must be > 0, got {model_gb}, {compute_s}")


def candidates(workers: np.ndarray, rtt: np.ndarray, model_gb: float, compute_s: float, wan_gbps: float,
               regions: list[str], family: str = "both") -> Candidates:
    """Every PS placement (any region) and every distinct ring order ((k−1)!/2, k ≤ :data:`MAX_RING_K`) of a
    job on ``workers`` (region indices), with step time and per-link GB per step."""
    workers = np.asarray(workers, dtype=np.int64)
    _check_job(workers, rtt.shape[0], model_gb, compute_s)
    if family not in FAMILIES:
        raise ValueError(f"topology: layout family must be one of {FAMILIES}, got {family!r}")
    k = len(workers)
    rows: list[tuple[str, str, float, float, list[int], list[int], list[float]]] = []
    if family in ("ps", "both"):
        for p in range(rtt.shape[0]):
            remote = workers[workers != p]
            n = len(remote)
            comm = rtt[remote, p].max() / 1000.0 + 2.0 * n * model_gb * 8.0 / wan_gbps
            rows.append((f"ps@{regions[p]}", "ps", compute_s + comm, float(rtt[remote, p].sum()),
                         remote.tolist(), [p] * n, [ps_gb_per_step(model_gb, 1)] * n))
    if family in ("ring", "both"):
        if k > MAX_RING_K:
            raise ValueError(f"topology: ring orders are brute-forced for k ≤ {MAX_RING_K}, job has k = {k}")
        per_link = ring_gb_per_link(model_gb, k)
        for rest in permutations(workers[1:].tolist()):
            if k > 2 and rest[0] > rest[-1]:
                continue                      # the reversed cycle: same links, same cost
            order = [int(workers[0]), *rest]
            nxt = order[1:] + order[:1]
            link_rtt = rtt[order, nxt]
            comm = 2 * (k - 1) * (link_rtt.max() / 2000.0 + model_gb / k * 8.0 / wan_gbps)
            rows.append(("ring:" + ">".join(regions[i] for i in order), "ring", compute_s + comm,
                         float(link_rtt.sum()), order, nxt, [per_link] * k))
    width = max(len(r[4]) for r in rows)

    def pad(values: list[list[int]] | list[list[float]], dtype) -> np.ndarray:
        return np.array([v + [0] * (width - len(v)) for v in values], dtype=dtype)

    return Candidates([r[0] for r in rows], np.array([r[1] for r in rows]), np.array([r[2] for r in rows]),
                      np.array([r[3] for r in rows]), pad([r[4] for r in rows], np.int64),
                      pad([r[5] for r in rows], np.int64), pad([r[6] for r in rows], np.float64))


def comm_kg_per_step(cand: Candidates, ci: np.ndarray, dcs: DataCenters) -> np.ndarray:
    """Communication carbon per step, kgCO2e ``[C × T]``, for intensity ``ci`` ``[R × T]`` (gCO2eq/kWh), by
    :meth:`DataCenters.transfer_carbon_kg` on every link."""
    kg = dcs.transfer_carbon_kg(cand.links_gb[:, :, None], ci[cand.links_src], ci[cand.links_dst])
    return kg.sum(axis=1)


@dataclass(frozen=True)
class Placement:
    """One layout of one job over its reservation. Energies kWh, carbon kgCO2e."""

    label: str
    family: str
    step_s: float
    steps: float               # steps done over the reservation
    operational_kwh: float
    operational_kg: float
    comm_kwh: float
    comm_kg: float

    @property
    def kg_per_kstep(self) -> float:
        return 1000.0 * (self.operational_kg + self.comm_kg) / self.steps


def place(workers: np.ndarray, gpus: np.ndarray, ci: np.ndarray, rtt: np.ndarray, dcs: DataCenters,
          model_gb: float, compute_s: float, gpu_kw: float, latency_budget: float,
          family: str = "both") -> tuple[Placement, Placement]:
    """(latency-only, carbon-aware) placements of a job with ``gpus[i]`` GPUs in region ``workers[i]`` over the
    hours of ``ci`` (``[R × H]`` gCO2eq/kWh, the job's reservation). ``latency_budget`` ≥ 0: allowed step-time
    slowdown over latency-only, as a fraction."""
    if latency_budget < 0:
        raise ValueError(f"topology: latency_budget must be ≥ 0, got {latency_budget}")
    workers = np.asarray(workers, dtype=np.int64)
    cand = candidates(workers, rtt, model_gb, compute_s, dcs.wan_gbps, dcs.regions, family)
    hours = ci.shape[1]
    power_kw = np.asarray(gpus, dtype=float) * gpu_kw * dcs.pue[workers]               # [k]
    op_kwh = float(power_kw.sum()) * hours
    op_kg = float(power_kw @ ci[workers].sum(axis=1)) / 1000.0
    steps = hours * 3600.0 / cand.step_s                                                # [C]
    comm_kg = comm_kg_per_step(cand, ci, dcs).mean(axis=1) * steps                      # [C] steps spread evenly
    per_step = (op_kg + comm_kg) / steps
    lat = int(np.lexsort((cand.total_rtt_ms, cand.step_s))[0])
    ok = cand.step_s <= cand.step_s[lat] * (1.0 + latency_budget) + 1e-12
    carb = int(np.flatnonzero(ok)[np.argmin(per_step[ok])])
    if per_step[lat] <= per_step[carb] * (1.0 + 1e-9):
        carb = lat                            # a tie (e.g. ring orders, equal carbon by the rule) keeps latency-only

    def build(c: int) -> Placement:
        return Placement(cand.labels[c], str(cand.family[c]), float(cand.step_s[c]), float(steps[c]), op_kwh,
                         op_kg, float(steps[c] * cand.wan_gb_per_step[c] * dcs.network_kwh_per_gb),
                         float(comm_kg[c]))

    return build(lat), build(carb)
