import pytest

import podscale
from podscale.policies import PredictiveTrend


class Fixed:
    """Asks for a fixed count from t=10 s on, and records what it saw."""

    period = 5
    initial_replicas = 1

    def __init__(self, n: int):
        self.n = n
        self.calls: list[tuple[float, int]] = []

    def decide(self, now, view):
        self.calls.append((now, len(view.arrivals_history)))
        return self.n if now >= 10 else 1


def test_policy_is_asked_once_per_period_in_order_and_drives_the_pods(small: str):
    p = Fixed(4)
    r = podscale.run(small, policy=p)
    # 60 simulated seconds, period 5 s: asked at 5, 10, ..., 60, each once, with the full history.
    assert [c[0] for c in p.calls] == [5.0 * k for k in range(1, 13)]
    assert all(hist == int(now) for now, hist in p.calls)
    ts = r.timeseries
    assert ts.loc[ts.time_s <= 10, "ready_pods"].max() == 1
    # Decided at 10 s, cold start 3 s: four pods ready from about 13 s on.
    assert (ts.loc[ts.time_s >= 15, "ready_pods"] == 4).all()
    assert r.simulations == 2  # one change of decision: one stopped run and the final one


def test_policy_runs_are_deterministic(small: str):
    a = podscale.run(small, policy=PredictiveTrend(service_time_s=0.05))
    b = podscale.run(small, policy=PredictiveTrend(service_time_s=0.05))
    assert a.timeseries.equals(b.timeseries)
    assert a.summary["requests"] == b.summary["requests"]


def test_predictive_policy_scales_up_with_the_step(small: str):
    r = podscale.run(small, policy=PredictiveTrend(service_time_s=0.05, target=7))
    # 400 req/s x 50 ms = 20 in flight, / 7 per pod: at least 3 pods during the step.
    assert r.timeseries.loc[r.timeseries.time_s.between(20, 30), "ready_pods"].min() >= 3


def test_predictive_trend_extrapolates():
    p = PredictiveTrend(service_time_s=0.1, window=10, lead=5)
    assert p.predicted_rate([10] * 10) == pytest.approx(10)
    # Rising by 2 per second: 10 + 2*9 = 28 at the last second, 28 + 2*5 five seconds later.
    assert p.predicted_rate([10 + 2 * i for i in range(10)]) == pytest.approx(38)
    assert p.predicted_rate([]) == 0


def test_policy_errors_propagate(small: str):
    class Broken:
        period = 2

        def decide(self, now, view):
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        podscale.run(small, policy=Broken())

    class Negative:
        period = 2

        def decide(self, now, view):
            return -1

    with pytest.raises(ValueError, match="returned -1"):
        podscale.run(small, policy=Negative())

    class NoPeriod:
        period = 0.5

        def decide(self, now, view):
            return 1

    with pytest.raises(ValueError, match="whole number"):
        podscale.run(small, policy=NoPeriod())
