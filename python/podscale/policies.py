"""Custom replica policies in Python, and a bundled example.

A policy is any object with ``period`` (seconds between decisions, a whole number >= 1), optionally
``initial_replicas`` (pods Ready at time 0, default 1) and ``observe(now, view)`` (called every second),
and ``decide(now, view) -> int`` returning the desired replica count. ``now`` is the simulated time in
seconds; ``view`` (a :class:`View`) describes the second that just ended and keeps the history of the run
so far. Pass it as ``podscale.run(scenario, policy=MyPolicy())``: the policy replaces the scenario's
autoscaler inside the simulation (the simulator's scaler interface), on the same traffic and seed.
Returning 0 scales to zero: requests then wait in the activator until a pod is Ready (as with the KPA).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class View:
    """What a policy sees at ``now`` (whole seconds): the second ``[now - 1 s, now)`` as the simulator's
    autoscalers see it on their 1 s tick, and the run's history.

    The per-second fields are the data the KPA and the HPA get: ready pods, the deployment's replicas,
    arrivals, requests in flight, each ready pod's queue-proxy report and the activator's report. Latency
    and the other timeseries.csv columns are written after the tick and are not part of it.
    """

    now: float
    #: Pods Ready at ``now``.
    ready_pods: int
    #: The deployment's replica count (its spec) at ``now``, before this decision.
    replicas: int
    #: Requests sent during the second.
    arrivals: int
    #: Requests sent and not yet answered, at ``now``.
    in_flight: int
    #: Sum over ready pods of the queue-proxy's average concurrency over the second (requests).
    concurrency: float
    #: One dict per ready pod: ``age_s``, ``concurrency``, ``proxied_concurrency`` (the part that came
    #: through the activator), ``requests`` and ``proxied_requests`` (arrivals at the pod in the second).
    pods: list[dict]
    #: The activator's report (average concurrency, requests per second); ``None`` when it holds no entry.
    activator_concurrency: float | None
    activator_requests: float | None
    #: Estimated average requests waiting in the activator over the second.
    activator_waiting: float
    #: Whether the activator was in the request path at ``now`` (0 replicas or no ready pod, or a backlog).
    activator_in_path: bool
    #: The replica count the policy last asked for (its ``initial_replicas`` before the first decision).
    desired: int
    #: Per-second arrivals of every second so far, this one last (index 0 = [0 s, 1 s)). Shared with the
    #: run: read it, do not modify it.
    arrivals_history: list[int] = field(default_factory=list)
    #: In-flight requests at the end of every second so far.
    in_flight_history: list[int] = field(default_factory=list)
    #: ``concurrency`` of every second so far.
    concurrency_history: list[float] = field(default_factory=list)


class Policy(Protocol):
    period: int

    def decide(self, now: float, view: View) -> int: ...

    # Optional: ``observe(self, now: float, view: View) -> None`` is called every second before
    # ``decide``; ``initial_replicas: int`` (default 1) pods are Ready at time 0.


class TargetTracking:
    """Keeps ``target`` concurrent requests per pod (what the KPA does without its windows): the pods'
    average concurrency over the second plus the requests waiting in the activator, divided by ``target``."""

    def __init__(self, target: float = 7.0, period: int = 2, min_replicas: int = 1, max_replicas: int = 100):
        self.target, self.period = target, period
        self.min_replicas, self.max_replicas = min_replicas, max_replicas
        self.initial_replicas = min_replicas

    def decide(self, now: float, view: View) -> int:
        want = math.ceil((view.concurrency + view.activator_waiting) / self.target)
        return max(self.min_replicas, min(self.max_replicas, want))


class PredictiveTrend:
    """Pre-scales from the recent arrival trend.

    Fits a least-squares line to the last ``window`` seconds of arrivals, extrapolates it ``lead`` seconds
    ahead (about one cold start, so new pods are ready when the load arrives), and converts the larger of
    the current and the predicted rate into pods by Little's law: ``rate x service_time / target``
    concurrent requests per pod. Never scales down by more than ``max_step_down`` pods per decision.
    """

    def __init__(
        self,
        service_time_s: float,
        target: float = 7.0,
        window: int = 20,
        lead: float = 10.0,
        period: int = 2,
        min_replicas: int = 1,
        max_replicas: int = 100,
        max_step_down: int = 2,
    ):
        self.service_time_s, self.target = service_time_s, target
        self.window, self.lead, self.period = window, lead, period
        self.min_replicas, self.max_replicas = min_replicas, max_replicas
        self.max_step_down = max_step_down
        self.initial_replicas = min_replicas

    def predicted_rate(self, history: list[int]) -> float:
        """Arrivals per second expected ``lead`` seconds after the last full second."""
        ys = history[-self.window:]
        n = len(ys)
        if n == 0:
            return 0.0
        if n == 1:
            return float(ys[0])
        xs = range(n)
        mx, my = (n - 1) / 2, sum(ys) / n
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
        return max(0.0, my + slope * ((n - 1 - mx) + self.lead))

    def decide(self, now: float, view: View) -> int:
        rate_now = sum(view.arrivals_history[-5:]) / max(1, len(view.arrivals_history[-5:]))
        rate = max(rate_now, self.predicted_rate(view.arrivals_history))
        # Little's law plus what is already queued.
        concurrency = max(rate * self.service_time_s, view.in_flight)
        want = math.ceil(concurrency / self.target)
        want = max(want, view.desired - self.max_step_down)
        return max(self.min_replicas, min(self.max_replicas, want))
