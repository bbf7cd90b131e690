from pathlib import Path

import pandas as pd
import pytest

import podscale


def test_path_run_matches_the_cli_outputs(repo: Path, tmp_path: Path):
    import subprocess

    r = podscale.run(repo / "scenarios/quickstart.yaml", seed=3, overrides={"duration": "30s", "cooldown": "10s"})
    assert isinstance(r.timeseries, pd.DataFrame)
    assert list(r.timeseries["time_s"]) == list(range(1, 41))
    assert r.summary["seed"] == 3
    assert r.requests is None
    cli = repo / "target/release/podscale"
    if not cli.exists():
        pytest.skip("the CLI is not built (cargo build --release)")
    subprocess.run([cli, "run", repo / "scenarios/quickstart.yaml", "--quiet", "--seed", "3", "--set", "duration=30s",
                    "--set", "cooldown=10s", "--out", tmp_path], check=True)
    # Same scenario, seed and overrides: the same per-second table as the CLI's timeseries.csv.
    cli_ts = pd.read_csv(tmp_path / "timeseries.csv")
    pd.testing.assert_frame_equal(r.timeseries, cli_ts)


def test_text_dict_and_determinism(small: str):
    a = podscale.run(small)
    b = podscale.run(small)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    assert a.summary["requests"] == b.summary["requests"]
    as_dict = {
        "name": "small", "duration": "40s", "cooldown": "20s", "seed": 1,
        "service": {"containerConcurrency": 0, "scaleTarget": 10, "minReplicas": 1, "maxReplicas": 20,
                    "initial_state": "warm"},
        "autoscaler": {"class": "kpa", "config": {"stable-window": "20s"}},
        "pod": {"cold_start": "3s", "service_time": {"dist": "exponential", "mean": "50ms"}},
        "traffic": {"kind": "piecewise", "points": [{"at": "0s", "rate": 20}, {"at": "10s", "rate": 400},
                                                     {"at": "30s", "rate": 20}]},
    }
    c = podscale.run(as_dict)
    pd.testing.assert_frame_equal(a.timeseries, c.timeseries)
    # The step to 400 req/s makes the KPA add pods.
    assert a.timeseries["ready_pods"].max() > 1


def test_seed_and_overrides_change_the_run(small: str):
    base = podscale.run(small)
    other_seed = podscale.run(small, seed=99)
    assert base.summary["requests"] != other_seed.summary["requests"]
    more = podscale.run(small, overrides={"service.maxReplicas": 2})
    assert more.timeseries["ready_pods"].max() <= 2
    assert base.timeseries["ready_pods"].max() > 2


def test_per_request_log(small: str):
    r = podscale.run(small, per_request=True)
    assert r.requests is not None
    assert list(r.requests.columns) == ["sent_s", "latency_ms", "status", "pod", "via_activator", "cold_start"]
    assert len(r.requests) == r.summary["requests"]["total"]


def test_errors_are_located(small: str):
    bad = small.replace("rate: 400", "rate: -5")
    with pytest.raises(podscale.ScenarioError) as e:
        podscale.run(bad)
    assert "<string>:" in str(e.value)
    lines = [x["line"] for x in e.value.errors]
    assert 19 in lines or 20 in lines, e.value.errors  # the traffic points line
    with pytest.raises(podscale.ScenarioError) as e:
        podscale.run(small, overrides={"autoscaler.config.panic-threshold-percentage": "lots"})
    assert "panic-threshold-percentage" in str(e.value)
    assert isinstance(e.value, ValueError)


def test_missing_file_is_a_scenario_error(tmp_path: Path):
    with pytest.raises(podscale.ScenarioError) as e:
        podscale.run(str(tmp_path / "nope.yaml"))
    assert "cannot read the scenario file" in str(e.value)


def test_sweep_returns_the_results_table(repo: Path, small: str):
    spec = f"""\
name: py-sweep
base: {repo / 'scenarios/quickstart.yaml'}
set: {{duration: 20s, cooldown: 0s}}
axes:
  autoscaler.config.stable-window: [10s, 30s]
seeds: 2
"""
    try:
        df = podscale.sweep(spec, threads=1)
    except podscale.ScenarioError as e:
        pytest.fail(f"sweep spec rejected: {e}")
    assert len(df) == 4
    assert "latency_p99_ms" in df.columns
    points = podscale.sweep(spec, threads=1, points=True)
    assert len(points) == 2


def test_llm_engine_columns_match_the_cli(repo: Path, tmp_path: Path):
    import subprocess

    # Pods with a KV cache: timeseries.csv has the vLLM engine columns and requests.csv ttft_ms / tpot_ms.
    args = dict(seed=2, overrides={"duration": "90s", "cooldown": "30s"})
    r = podscale.run(repo / "scenarios/llm-azure-kpa.yaml", per_request=True, **args)
    assert r.timeseries.columns[-1] == "vllm_preemptions"
    assert r.timeseries["vllm_num_requests_running"].max() > 0
    assert list(r.requests.columns[-2:]) == ["ttft_ms", "tpot_ms"]
    assert len(r.requests) == r.summary["requests"]["total"]
    cli = repo / "target/release/podscale"
    if not cli.exists():
        pytest.skip("the CLI is not built (cargo build --release)")
    subprocess.run([cli, "run", repo / "scenarios/llm-azure-kpa.yaml", "--quiet", "--seed", "2", "--set", "duration=90s",
                    "--set", "cooldown=30s", "--set", "output.per_request=true", "--out", tmp_path], check=True)
    pd.testing.assert_frame_equal(r.timeseries, pd.read_csv(tmp_path / "timeseries.csv"))
    pd.testing.assert_frame_equal(r.requests, pd.read_csv(tmp_path / "requests.csv"))
