"""Custom replica policies in Python, and a bundled example.

A policy is any object with ``period`` (seconds between decisions, a whole number >= 1), optionally
``initial_replicas``, and ``decide(now, view) -> int`` returning the desired replica count. ``now`` is the
simulated time in seconds; ``view`` (a :class:`View`) describes the second that just ended and keeps the
history of the run so far. Pass it as ``podscale.run(scenario, policy=MyPolicy())``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class View:
    """What a policy sees at ``now``: the per-second row of ``[now - 1 s, now)`` and the history."""

    now: float
    arrivals: int
    completions: int
    failures: int
    in_flight: int
    activator_queue: int
    queue_proxy_queue: int
    ready_pods: int
    pending_pods: int
    starting_pods: int
    terminating_pods: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    cpu_utilization: float | None
    #: The replica count the policy last asked for.
    desired: int
    #: Per-second arrivals of every second so far (index 0 = [0 s, 1 s)), up to the moment of the call.
    arrivals_history: list[int] = field(default_factory=list)
    #: In-flight requests at the end of every second so far.
    in_flight_history: list[int] = field(default_factory=list)


class Policy(Protocol):
    period: int

    def decide(self, now: float, view: View) -> int: ...


class TargetTracking:
    """Keeps ``target`` requests in flight per pod (what the KPA does without its windows)."""

    def __init__(self, target: float = 7.0, period: int = 2, min_replicas: int = 1, max_replicas: int = 100):
        self.target, self.period = target, period
        self.min_replicas, self.max_replicas = min_replicas, max_replicas
        self.initial_replicas = min_replicas

    def decide(self, now: float, view: View) -> int:
        want = math.ceil(view.in_flight / self.target)
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
