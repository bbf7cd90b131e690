from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo() -> Path:
    return REPO


# A small, fast KPA scenario: warm pod, a step of Poisson traffic.
SMALL = """\
name: small
duration: 40s
cooldown: 20s
seed: 1
service:
  containerConcurrency: 0
  scaleTarget: 10
  minReplicas: 1
  maxReplicas: 20
  initial_state: warm
autoscaler:
  class: kpa
  config: {stable-window: "20s"}
pod:
  cold_start: 3s
  service_time: {dist: exponential, mean: 50ms}
traffic:
  kind: piecewise
  points: [{at: 0s, rate: 20}, {at: 10s, rate: 400}, {at: 30s, rate: 20}]
"""


@pytest.fixture
def small() -> str:
    return SMALL
