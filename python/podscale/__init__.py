"""podscale from Python: run scenarios, sweeps and custom replica policies; results as pandas objects.

>>> import podscale
>>> r = podscale.run("scenarios/quickstart.yaml", seed=7, overrides={"traffic.points": ...})  # doctest: +SKIP
>>> r.summary["latency_ms"]["p99"], r.timeseries["ready_pods"].max()  # doctest: +SKIP

A scenario is a path (``str`` or ``os.PathLike``), YAML text, or a dict shaped like the YAML. Overrides
use the CLI's ``--set`` paths: ``{"autoscaler.config.stable-window": "30s", "traffic.rate": 50}``.
Invalid input raises :class:`ScenarioError` with the same located messages as the CLI.

A scenario of several services sharing a cluster (``services:``, ``services_trace:``, ``kserve:``, or
``revisions:`` with ``route:``) runs as ``podscale run`` runs it; its result also has the per-service and
cluster tables:

>>> r = podscale.run("scenarios/cluster-forty-models.yaml", overrides={"duration": "1h"})  # doctest: +SKIP
>>> r.services.groupby("service")["arrivals"].sum(), r.cluster.filter(like="nodes_")  # doctest: +SKIP
>>> r.services_summary["totals"]["pod_seconds"]  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from . import _podscale
from ._errors import PodscaleError, PolicyError, ScenarioError
from .policies import PredictiveTrend, TargetTracking, View

__all__ = [
    "run",
    "sweep",
    "Result",
    "ScenarioError",
    "PodscaleError",
    "PolicyError",
    "View",
    "PredictiveTrend",
    "TargetTracking",
]


@dataclass
class Result:
    """One run: ``summary`` (the CLI's summary.json as a dict), ``timeseries`` (one row per simulated
    second, the columns of timeseries.csv) and ``requests`` (one row per request, only with
    ``per_request=True``).

    A scenario of several services sharing a cluster also fills ``services`` (the CLI's services.csv: one
    row per service per ``output.service_interval``, default 60 s, counters summed over the interval and
    gauges sampled at its end) and ``cluster`` (cluster.csv: one row per second, nodes per pool, CPU,
    memory and GPUs allocated and used, Pending pods); both are ``None`` for a single service. There
    ``timeseries`` adds every service up, and ``summary`` has the ``services`` block (per service and
    totals; :attr:`services_summary`) and, with ``revisions:``, the ``route`` block (:attr:`route`).
    """

    summary: dict
    timeseries: pd.DataFrame
    requests: pd.DataFrame | None
    services: pd.DataFrame | None = None
    cluster: pd.DataFrame | None = None

    @property
    def services_summary(self) -> dict | None:
        """The summary's ``services`` block (``count``, ``totals`` and one dict per service in
        ``services``), or ``None`` for a single service."""
        return self.summary.get("services")

    @property
    def route(self) -> dict | None:
        """The summary's ``route`` block (traffic share per revision, the split's changes), or ``None``
        without ``revisions:``."""
        return self.summary.get("route")


def _source(scenario: Any, base_dir: str | os.PathLike | None) -> dict:
    """Keyword arguments naming the scenario for the compiled module."""
    base = {"base_dir": os.fspath(base_dir)} if base_dir is not None else {}
    if isinstance(scenario, os.PathLike):
        return {"path": os.fspath(scenario)}
    if isinstance(scenario, Mapping):
        text = _podscale.yaml_from_json(json.dumps(scenario))
        return {"text": text, **base}
    if isinstance(scenario, str):
        # One line naming an existing file, or ending in .yaml/.yml, is a path; anything else is YAML.
        one_line = "\n" not in scenario.strip()
        if one_line and (os.path.exists(scenario) or scenario.endswith((".yaml", ".yml"))):
            return {"path": scenario}
        return {"text": scenario, **base}
    raise TypeError(f"scenario must be a path, YAML text or a dict, not {type(scenario).__name__}")


def _overrides(overrides: Mapping[str, Any] | None) -> list[str]:
    out = []
    for key, value in (overrides or {}).items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            text = json.dumps(value)
        else:
            text = str(value)
        out.append(f"{key}={text}")
    return out


def _frame(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data))


def run(
    scenario: str | os.PathLike | Mapping[str, Any],
    *,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    per_request: bool = False,
    policy: Any | None = None,
    policy_service: str | None = None,
    base_dir: str | os.PathLike | None = None,
) -> Result:
    """Runs one scenario: one service, or several sharing a cluster (then ``Result.services`` and
    ``Result.cluster`` are set).

    ``seed`` overrides the scenario's seed; ``overrides`` maps ``--set`` paths to values; ``per_request``
    also returns the per-request log; ``policy`` replaces the scenario's autoscaler by a custom policy
    (see :mod:`podscale.policies`); with several services it replaces the autoscaler of the one named by
    ``policy_service`` (a service's or revision's name) and the others keep theirs; ``base_dir`` is where
    relative paths in a text or dict scenario resolve (default: the current folder).
    """
    if policy is None and policy_service is not None:
        raise ValueError("policy_service names the service a policy scales; give policy= too")
    src = _source(scenario, base_dir)
    args = dict(overrides=_overrides(overrides), seed=seed, per_request=per_request, **src)
    if policy is None:
        summary, ts, req, svc, cluster = _podscale.run(**args)
    else:
        summary, ts, req, svc, cluster = _podscale.run_policy(
            _adapter(policy),
            period_s=_period(policy),
            initial_replicas=_initial(policy),
            policy_service=policy_service,
            **args,
        )
    return Result(
        summary=json.loads(summary),
        timeseries=_frame(ts),
        requests=_frame(req) if req is not None else None,
        services=_frame(svc) if svc is not None else None,
        cluster=_frame(cluster) if cluster is not None else None,
    )


def _period(policy: Any) -> int:
    period = getattr(policy, "period", None)
    if isinstance(period, bool) or not isinstance(period, (int, float)) or period < 1 or int(period) != period:
        raise ValueError(f"policy.period must be a whole number of seconds >= 1, got {period!r}")
    return int(period)


def _initial(policy: Any) -> int:
    n = getattr(policy, "initial_replicas", 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"policy.initial_replicas must be a whole number >= 0, got {n!r}")
    return n


#: The simulator's limit on pods (``scenario::limits::MAX_PODS``).
MAX_REPLICAS = 10_000


def _adapter(policy: Any):
    """Wraps the policy as the compiled module's ``step(now_s, view_dict, decide)``, called once per
    simulated second in order: ``policy.observe(now, view)`` (if the policy has it) every second, then
    ``policy.decide(now, view)`` at multiples of ``policy.period``. Keeps the run's history for the view
    and turns a failure into :class:`PolicyError` naming the simulated time."""
    if not callable(getattr(policy, "decide", None)):
        raise TypeError("a policy needs a decide(now, view) method")
    observe = getattr(policy, "observe", None)
    if observe is not None and not callable(observe):
        raise TypeError("policy.observe must be a method observe(now, view)")
    name = type(policy).__name__
    arrivals: list[int] = []
    in_flight: list[int] = []
    concurrency: list[float] = []
    state = {"desired": _initial(policy)}

    def step(now: float, row: dict, decide: bool) -> int | None:
        arrivals.append(row["arrivals"])
        in_flight.append(row["in_flight"])
        concurrency.append(row["concurrency"])
        view = View(now=now, desired=state["desired"], arrivals_history=arrivals,
                    in_flight_history=in_flight, concurrency_history=concurrency, **row)
        method = "observe"
        try:
            if observe is not None:
                observe(now, view)
            if not decide:
                return None
            method = "decide"
            n = policy.decide(now, view)
        except Exception as e:
            raise PolicyError(f"{name}.{method} raised {e!r} at simulated time {now:g} s", now) from e
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 0 <= n <= MAX_REPLICAS:
            raise PolicyError(f"{name}.decide returned {n!r} at simulated time {now:g} s; "
                              f"allowed: an int from 0 to {MAX_REPLICAS}", now)
        state["desired"] = int(n)
        return int(n)

    return step


def sweep(
    spec: str | os.PathLike | Mapping[str, Any],
    *,
    threads: int = 0,
    points: bool = False,
    base_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Runs a sweep (a path, YAML text or dict, as ``podscale sweep`` reads) and returns ``results.csv``
    as a DataFrame (one row per run), or ``points.csv`` (one row per grid point, aggregated over
    seeds) with ``points=True``. A base scenario of several services works as in the CLI: an axis is a
    top-level path (the default every service inherits) and a row holds the run's totals over all
    services, with the node cost in ``cost``."""
    src = _source(spec, base_dir)
    results, pts = _podscale.sweep(threads=threads, **src)
    return _frame(pts if points else results)
