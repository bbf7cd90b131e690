import pytest

import podscale
from podscale.policies import PredictiveTrend, TargetTracking

# Traffic that rises steadily from 20 to 420 req/s between 10 s and 40 s, then holds (50 ms requests).
RAMP = """\
name: ramp
duration: 60s
cooldown: 10s
seed: 3
service: {containerConcurrency: 0, scaleTarget: 7, minReplicas: 1, maxReplicas: 40, initial_state: warm}
autoscaler: {class: kpa}
pod:
  cold_start: 5s
  service_time: {dist: exponential, mean: 50ms}
traffic:
  kind: piecewise
  interpolation: linear
  points: [{at: 0s, rate: 20}, {at: 10s, rate: 20}, {at: 40s, rate: 420}, {at: 60s, rate: 420}]
"""


class Recorder:
    """Asks for a fixed count from t=10 s on, and records every call."""

    period = 5
    initial_replicas = 1

    def __init__(self, n: int):
        self.n = n
        self.seen: list[float] = []
        self.calls: list[tuple[float, int]] = []

    def observe(self, now, view):
        self.seen.append(now)

    def decide(self, now, view):
        self.calls.append((now, len(view.arrivals_history)))
        return self.n if now >= 10 else 1


def test_policy_sees_each_second_once_in_order_and_drives_the_pods(small: str):
    p = Recorder(4)
    r = podscale.run(small, policy=p)
    # 60 simulated seconds: observe() at every second once, in order; decide() at 5, 10, ..., 60.
    assert p.seen == [float(t) for t in range(1, 61)]
    assert [c[0] for c in p.calls] == [5.0 * k for k in range(1, 13)]
    assert all(hist == int(now) for now, hist in p.calls)
    ts = r.timeseries
    assert r.summary["autoscaler"] == "policy"
    assert (ts.scale_reason == "policy").all()
    assert ts.loc[ts.time_s <= 10, "ready_pods"].max() == 1
    # Decided at 10 s (written at once: desired 4 in row 10), cold start 3 s: four pods from 13 s on.
    assert ts.loc[ts.time_s == 10, "desired_pods"].item() == 4
    assert ts.loc[ts.time_s.between(10, 12), "ready_pods"].max() == 1
    assert (ts.loc[ts.time_s >= 14, "ready_pods"] == 4).all()


def test_policy_runs_are_deterministic(small: str):
    a = podscale.run(small, policy=PredictiveTrend(service_time_s=0.05))
    b = podscale.run(small, policy=PredictiveTrend(service_time_s=0.05))
    assert a.timeseries.equals(b.timeseries)
    assert a.summary == b.summary


def test_policy_and_kpa_get_the_same_traffic(small: str):
    # Common random numbers: the open-loop arrivals depend on the seed only, not on the autoscaler.
    kpa = podscale.run(small, seed=11)
    pol = podscale.run(small, seed=11, policy=TargetTracking(target=7))
    assert kpa.summary["autoscaler"] == "kpa"
    assert list(kpa.timeseries.arrivals) == list(pol.timeseries.arrivals)
    assert kpa.summary["requests"]["total"] == pol.summary["requests"]["total"]
    other = podscale.run(small, seed=12, policy=TargetTracking(target=7))
    assert list(other.timeseries.arrivals) != list(pol.timeseries.arrivals)


def test_predictive_policy_scales_ahead_of_the_reactive_one():
    def first_second_with(r, pods: int) -> int:
        ts = r.timeseries
        return int(ts.loc[ts.desired_pods >= pods, "time_s"].min())

    pred = podscale.run(RAMP, policy=PredictiveTrend(service_time_s=0.05, target=7, window=10, lead=10, period=1))
    react = podscale.run(RAMP, policy=TargetTracking(target=7, period=1))
    kpa = podscale.run(RAMP)
    # 420 req/s x 50 ms = 21 in flight: 3 pods at 7. Extrapolating the ramp 10 s ahead asks for them
    # several seconds before the reactive policy sees that much concurrency, and before the KPA.
    assert first_second_with(pred, 3) + 5 <= first_second_with(react, 3)
    assert first_second_with(pred, 3) < first_second_with(kpa, 3)
    # ... so that, with a 5 s cold start, three pods are Ready by the time the load needs them.
    ts = pred.timeseries
    assert ts.loc[ts.time_s.between(38, 60), "ready_pods"].min() >= 3


def test_predictive_policy_scales_up_with_the_step(small: str):
    r = podscale.run(small, policy=PredictiveTrend(service_time_s=0.05, target=7))
    # 400 req/s x 50 ms = 20 in flight, / 7 per pod: at least 3 pods during the step.
    assert r.timeseries.loc[r.timeseries.time_s.between(20, 30), "ready_pods"].min() >= 3


class ToZero:
    """One pod while there is traffic, none after 5 quiet seconds; wakes on the activator's requests."""

    period = 1
    initial_replicas = 1

    def decide(self, now, view):
        if view.activator_requests or any(view.arrivals_history[-5:]):
            return 1
        return 0


def test_zero_replicas_put_the_activator_in_the_path(small: str):
    # Traffic for 10 s, 20 s of silence, then traffic again at 30 s.
    spec = small.replace(
        "points: [{at: 0s, rate: 20}, {at: 10s, rate: 400}, {at: 30s, rate: 20}]",
        "points: [{at: 0s, rate: 20}, {at: 10s, rate: 0}, {at: 30s, rate: 20}]",
    )
    r = podscale.run(spec, policy=ToZero())
    ts = r.timeseries
    quiet = ts[ts.time_s.between(20, 30)]
    assert (quiet.ready_pods == 0).all() and (quiet.desired_pods == 0).all()
    assert quiet.activator_in_path.all()
    # Requests after 30 s wait in the activator for the cold start instead of failing.
    assert ts.loc[ts.time_s.between(31, 34), "activator_queue"].max() > 0
    assert r.summary["requests"]["failed"] == 0
    assert r.summary["requests"]["cold_start_affected"] > 0
    # Once a pod is Ready and the held requests have drained, the activator leaves the path.
    assert not ts.loc[ts.time_s == 40, "activator_in_path"].item()


def test_predictive_trend_extrapolates():
    p = PredictiveTrend(service_time_s=0.1, window=10, lead=5)
    assert p.predicted_rate([10] * 10) == pytest.approx(10)
    # Rising by 2 per second: 10 + 2*9 = 28 at the last second, 28 + 2*5 five seconds later.
    assert p.predicted_rate([10 + 2 * i for i in range(10)]) == pytest.approx(38)
    assert p.predicted_rate([]) == 0


def test_policy_errors_name_the_simulated_time(small: str):
    class Broken:
        period = 2

        def decide(self, now, view):
            if now >= 6:
                raise KeyError("boom")
            return 1

    with pytest.raises(podscale.PolicyError, match=r"Broken.decide raised KeyError\('boom'\) at simulated time 6 s") as e:
        podscale.run(small, policy=Broken())
    assert e.value.now == 6
    assert isinstance(e.value.__cause__, KeyError)

    class BadObserve:
        period = 2

        def observe(self, now, view):
            if now == 3:
                raise ZeroDivisionError("x")

        def decide(self, now, view):
            return 1

    with pytest.raises(podscale.PolicyError, match="BadObserve.observe raised .* at simulated time 3 s"):
        podscale.run(small, policy=BadObserve())

    class Negative:
        period = 2

        def decide(self, now, view):
            return -1

    with pytest.raises(podscale.PolicyError, match="returned -1 at simulated time 2 s; allowed: an int from 0 to 10000"):
        podscale.run(small, policy=Negative())

    class NotAnInt:
        period = 2

        def decide(self, now, view):
            return "3"

    with pytest.raises(podscale.PolicyError, match="returned '3'"):
        podscale.run(small, policy=NotAnInt())

    class NoPeriod:
        period = 0.5

        def decide(self, now, view):
            return 1

    with pytest.raises(ValueError, match="whole number"):
        podscale.run(small, policy=NoPeriod())


def test_too_many_replicas_is_refused(small: str):
    class Huge:
        period = 1

        def decide(self, now, view):
            return 10**9

    with pytest.raises(podscale.PolicyError, match="returned 1000000000 at simulated time 1 s; allowed: an int from 0 to 10000"):
        podscale.run(small, policy=Huge())

    # The compiled side checks too, for a step callable that bypasses the package's wrapper.
    from podscale import _podscale

    def step(now, view, decide):
        return 20_000 if decide else None

    with pytest.raises(ValueError, match="at simulated t=1 s is 20000; allowed: 0 <= replicas <= 10000"):
        _podscale.run_policy(step, period_s=1, initial_replicas=1, text=small)
