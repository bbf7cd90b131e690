"""Scenarios of several services sharing a cluster (services:, services_trace:, kserve:, revisions:)."""

import subprocess
from pathlib import Path

import pandas as pd
import pytest

import podscale

FORTY = "scenarios/cluster-forty-models.yaml"
# 30 min of the 40-model day, one services.csv row per service per second (so per-second gauges add up to
# pod-seconds).
SHORT = {"duration": "30m", "cooldown": "5m", "output.service_interval": "1s"}

# Two services on one priced CPU pool: a busy one and a rarely called one.
TWO = """\
name: two-services
duration: 3m
cooldown: 1m
seed: 4
cluster: {node_pools: [{name: cpu, nodes: 1, max_nodes: 6, cpu: 8, memory: 32Gi, price_per_hour: 0.4}], autoscaler: {}}
autoscaler: {class: kpa, config: {scale-to-zero-grace-period: 30s, stable-window: 20s}}
pod: {cold_start: 3s, service_time: {dist: exponential, mean: 100ms}, resources: {requests: {cpu: "1", memory: 1Gi}}}
service: {containerConcurrency: 2}
output: {service_interval: 10s}
services:
  - name: busy
    traffic: {kind: poisson, rate: 30}
  - name: rare
    traffic: {kind: poisson, rate: 0.2}
"""


@pytest.fixture(scope="module")
def forty() -> podscale.Result:
    return podscale.run(Path(__file__).resolve().parents[2] / FORTY, overrides=SHORT)


def test_forty_models_tables_agree_with_the_summary(forty: podscale.Result):
    r = forty
    assert r.services is not None and r.cluster is not None
    assert r.route is None
    block = r.services_summary
    assert block is r.summary["services"]
    assert block["count"] == 40
    per = {s["service"]: s for s in block["services"]}
    assert set(r.services["service"]) == set(per)
    # services.csv: one row per service per second; cluster.csv: one row per second, nodes per pool.
    seconds = int(r.summary["duration_s"])
    assert len(r.services) == 40 * seconds
    assert list(r.cluster["time_s"]) == list(range(1, seconds + 1))
    assert {"nodes_a10g-x4", "nodes_a100-x8", "gpus_allocated", "pending_pods"} <= set(r.cluster.columns)

    by = r.services.groupby("service")
    # Counters: every request is in exactly one service's rows.
    for name, s in per.items():
        assert by["arrivals"].sum()[name] == s["requests"]["total"], name
        assert by["completions"].sum()[name] == s["requests"]["completed"], name
        assert by["failures"].sum()[name] == s["requests"]["failed"], name
    totals = block["totals"]
    assert r.services["arrivals"].sum() == totals["requests"]["total"] == r.summary["requests"]["total"]
    assert r.timeseries["arrivals"].sum() == totals["requests"]["total"]
    assert totals["requests"]["total"] > 1000

    # Pod-seconds: pods sampled every second (Pending, starting, Ready, terminating) against the summary's
    # exact pod lifetimes; the sampling is within 1 % per busy service and over the run.
    pods = r.services[["ready_pods", "pending_pods", "starting_pods", "terminating_pods"]].sum(axis=1)
    sampled = pods.groupby(r.services["service"]).sum()
    for name, s in per.items():
        if s["pod_seconds"] > 1000:
            assert sampled[name] == pytest.approx(s["pod_seconds"], rel=0.01), name
    assert sampled.sum() == pytest.approx(totals["pod_seconds"], rel=0.01)
    assert totals["pod_seconds"] == pytest.approx(r.summary["pod_seconds"], abs=1e-3)
    # GPUs allocated on the nodes, second by second, against the GPU-seconds of the pods.
    assert r.cluster["gpus_allocated"].sum() == pytest.approx(r.summary["gpu_seconds"], rel=0.01)
    assert r.summary["gpu_seconds"] > 0
    # Cost attributed to services adds up to the run's node cost.
    assert sum(s["cost"] for s in per.values()) == pytest.approx(totals["cost"], rel=1e-6)


def test_forty_models_frames_match_the_cli(forty: podscale.Result, repo: Path, tmp_path: Path):
    cli = repo / "target/release/podscale"
    if not cli.exists():
        pytest.skip("the CLI is not built (cargo build --release)")
    sets = [a for k, v in SHORT.items() for a in ("--set", f"{k}={v}")]
    subprocess.run([cli, "run", repo / FORTY, "--quiet", *sets, "--out", tmp_path], check=True)
    for name, frame in [("services", forty.services), ("cluster", forty.cluster), ("timeseries", forty.timeseries)]:
        pd.testing.assert_frame_equal(frame, pd.read_csv(tmp_path / f"{name}.csv"), obj=name)


def test_same_seed_same_frames_other_seed_other_frames():
    a = podscale.run(TWO)
    b = podscale.run(TWO)
    for name in ["services", "cluster", "timeseries"]:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)
    assert a.summary["services"] == b.summary["services"]
    c = podscale.run(TWO, seed=5)
    assert not c.services.equals(a.services)
    # The per-request log holds every service's requests (no service column, as the CLI's requests.csv).
    d = podscale.run(TWO, per_request=True)
    assert len(d.requests) == d.summary["services"]["totals"]["requests"]["total"]
    pd.testing.assert_frame_equal(d.services, a.services)
    # Rows every output.service_interval (10 s here), one per service.
    assert list(a.services["time_s"].unique()) == list(range(10, 241, 10))
    assert list(a.services["service"].unique()) == ["busy", "rare"]
    # The busy service scales out; its Pending pods make the Cluster Autoscaler add nodes to the pool.
    per = {s["service"]: s for s in a.summary["services"]["services"]}
    assert per["busy"]["max_ready"] > per["rare"]["max_ready"] == 1
    assert a.cluster["pending_pods"].max() > 0
    assert a.cluster["nodes_cpu"].max() > a.cluster["nodes_cpu"].iloc[0] == 1


def test_single_service_runs_have_no_service_tables(small: str):
    r = podscale.run(small)
    assert r.services is None and r.cluster is None
    assert r.services_summary is None and r.route is None


def test_kserve_transformer_and_predictor(repo: Path):
    r = podscale.run(repo / "scenarios/kserve-transformer-predictor.yaml", overrides={"duration": "2m"})
    per = {s["service"]: s for s in r.services_summary["services"]}
    assert set(per) == {"income-transformer", "income-predictor"}
    assert set(r.services["service"]) == set(per)
    # Each component is scaled as its manifest says.
    assert per["income-transformer"]["component"]["metric"] == "rps"
    assert per["income-predictor"]["component"]["metric"] == "concurrency"
    # Every request enters at the transformer, which calls the predictor once.
    by = r.services.groupby("service")["arrivals"].sum()
    assert by["income-transformer"] == per["income-transformer"]["requests"]["total"] > 200
    assert by["income-predictor"] == per["income-predictor"]["requests"]["total"]
    assert per["income-predictor"]["requests"]["total"] == per["income-transformer"]["requests"]["total"]
    # The rows every 10 s (output.service_interval of the scenario).
    assert r.services["time_s"].min() == 10


def test_revisions_and_route(repo: Path):
    r = podscale.run(repo / "scenarios/knative-canary-rollout.yaml", overrides={"duration": "6m"})
    route = r.route
    assert route is not None
    shares = {rev["name"]: rev for rev in route["revisions"]}
    assert set(shares) == {"hello-00001", "hello-00002"}
    assert sum(rev["requests"] for rev in shares.values()) == route["requests"]
    # The canary gets part of the traffic once Ready, the stable revision keeps the most.
    assert 0 < shares["hello-00002"]["requests"] < shares["hello-00001"]["requests"]
    by = r.services.groupby("service")["arrivals"].sum()
    assert by["hello-00002"] == shares["hello-00002"]["requests"]
    assert by["hello-00001"] == shares["hello-00001"]["requests"]


def test_an_error_in_one_service_is_located():
    bad = TWO.replace("rate: 0.2", "rate: -1")
    with pytest.raises(podscale.ScenarioError) as e:
        podscale.run(bad)
    [err] = [x for x in e.value.errors if "rate" in x["key"]]
    assert err["file"] == "<string>"
    assert err["line"] == 14  # the `rare` service's traffic line
    assert err["key"].startswith("services[1].traffic"), err
    assert "<string>:14:" in str(e.value)


def test_a_policy_scales_one_named_service():
    class Three:
        period = 5

        def __init__(self):
            self.arrivals = 0

        def observe(self, now, view):
            self.arrivals += view.arrivals

        def decide(self, now, view):
            return 3

    policy = Three()
    r = podscale.run(TWO, policy=policy, policy_service="rare")
    per = {s["service"]: s for s in r.summary["services"]["services"]}
    assert per["rare"]["autoscaler"] == "policy"
    assert per["busy"]["autoscaler"] == "kpa"
    rare = r.services[r.services["service"] == "rare"]
    assert (rare["desired_pods"].iloc[1:] == 3).all()
    # The policy sees its own service's traffic, not the cluster's (the busy service has 100 times more).
    assert policy.arrivals == per["rare"]["requests"]["total"] > 0
    # The busy service keeps the KPA and its pods.
    assert per["busy"]["max_ready"] > 3
    # Without a name, or with a name that is not a service, the call is refused naming the services.
    with pytest.raises(ValueError, match="policy_service=.*busy, rare"):
        podscale.run(TWO, policy=Three())
    with pytest.raises(ValueError, match="allowed: busy, rare"):
        podscale.run(TWO, policy=Three(), policy_service="nope")
    with pytest.raises(ValueError, match="give policy= too"):
        podscale.run(TWO, policy_service="rare")


def test_a_sweep_over_a_multi_service_base(tmp_path: Path):
    (tmp_path / "two.yaml").write_text(TWO)
    spec = "name: two\nbase: two.yaml\nseeds: 2\naxes:\n  service.minReplicas: [0, 2]\n"
    df = podscale.sweep(spec, threads=1, base_dir=tmp_path)
    assert len(df) == 4
    assert (df["cost"] > 0).all()
    # minReplicas is a top-level default every service inherits: both keep two pods when idle.
    mean_ready = df.groupby("service.minReplicas")["mean_ready"].mean()
    assert mean_ready[2] > mean_ready[0]
    # A row is the run's totals over both services: the same as that run on its own.
    row = df[(df["service.minReplicas"] == 2) & (df["seed"] == 1)].iloc[0]
    one = podscale.run(tmp_path / "two.yaml", seed=1, overrides={"service.minReplicas": 2})
    assert row["requests"] == one.summary["requests"]["total"] == one.services["arrivals"].sum()
    assert row["pod_seconds"] == pytest.approx(one.summary["services"]["totals"]["pod_seconds"])
