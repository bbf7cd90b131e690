//! Property tests over random valid scenarios: every figure a run reports must be consistent with every
//! other one, whatever the traffic kind, autoscaler class, containerConcurrency, cold start, duration
//! (sub-second included) or trace replay.
//!
//! Checked on each case: conservation of requests; `latency_histogram_ms` adding up to the requests
//! measured; per-second rows summing to the summary's totals; ordered percentiles; no request faster than
//! its one-way fixed path plus the minimum service time; no pod above containerConcurrency; determinism
//! (same scenario and seed give byte-identical summary and rows).
//!
//! The case budget and the seed are fixed (`CASES`, `SEED`) so CI runs the same cases every time, in
//! well under 2 minutes in release. All glue to the library is in [`simulate`], to ease adapting it when
//! the simulator's API moves.

use std::path::{Path, PathBuf};

mod common;

use podscale::observe::output::SecondRow;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;

const CASES: u32 = 256;
/// Was `true` while the simulator wrote no row for a final partial second (issue 13, item 3). It now
/// writes one (`row_duration_s` < 1), so the checks demand exact sums, a row per started second and
/// `final_ready <= max_ready` for every run; flipping it back relaxes them.
const KNOWN_GAP_FINAL_PARTIAL_SECOND: bool = false;
const SEED: [u8; 32] = *b"podscale-issue-13-properties-v1!";

/// One simulated run: the summary as JSON (wall time zeroed) and its per-second rows as CSV text and
/// structs. The only function here that calls the library.
fn simulate(path: &Path) -> (Value, Vec<SecondRow>, String) {
    let (mut summary, rows) = common::run(path, &[]);
    summary.wall_time_s = 0.0;
    let mut csv = String::new();
    for row in &rows {
        row.write_csv(&mut csv);
    }
    (serde_json::to_value(&summary).unwrap(), rows, csv)
}

/// A random valid scenario, as the YAML a user would write, plus the figures the checks need.
#[derive(Clone, Debug)]
struct Case {
    yaml: String,
    trace: Option<String>,
    container_concurrency: u32,
    /// Client + ingress + network (one way) + the smallest service time, in ms.
    min_latency_ms: f64,
}

fn traffic() -> impl Strategy<Value = (String, Option<String>)> {
    prop_oneof![
        (1u32..80).prop_map(|r| (format!("{{kind: poisson, rate: {r}}}"), None)),
        (1u32..40).prop_map(|r| (format!("{{kind: constant, rate: {r}}}"), None)),
        (1u32..20, 20u32..120).prop_map(|(low, high)| (
            format!(
                "{{kind: mmpp, states: [{{rate: {low}, mean_duration: 5s}}, {{rate: {high}, mean_duration: 2s}}]}}"
            ),
            None
        )),
        (1u32..12).prop_map(|c| (format!("{{kind: closed_loop, clients: {c}}}"), None)),
        prop::collection::vec(0u32..30_000, 1..200).prop_map(|mut times| {
            times.sort_unstable();
            let mut csv = String::from("time_s,service_time_s,prompt_tokens,output_tokens\n");
            for t in times {
                csv.push_str(&format!("{:.3},0.05,10,10\n", f64::from(t) / 1000.0));
            }
            (
                "{kind: trace, path: trace.csv, format: requests}".to_string(),
                Some(csv),
            )
        }),
    ]
}

fn autoscaler() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u32..4).prop_map(|n| format!("autoscaler: {{class: fixed, replicas: {n}}}\n")),
        (1u32..20).prop_map(|t| format!(
            "autoscaler: {{class: kpa, config: {{stable-window: 6s, panic-window-percentage: \"50\"}}}}\nservice_target: {t}\n"
        )),
        (40u32..90).prop_map(|t| format!(
            "autoscaler: {{class: hpa, controller: {{downscale_stabilization: 10s}}}}\nservice_hpa: {t}\n"
        )),
        (1u32..4).prop_map(|n| format!(
            "autoscaler:\n  class: fixed\n  replicas: 1\n  cron:\n    jobs: [{{name: up, schedule: \"*/5 * * * * *\", targetSize: {n}}}]\n"
        )),
        (1u32..4).prop_map(|n| format!(
            "autoscaler:\n  class: hpa\n  keda_cron: [{{timezone: UTC, start: \"0 * * * *\", end: \"30 * * * *\", desiredReplicas: {n}}}]\nservice_hpa: 80\n"
        )),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        traffic(),
        autoscaler(),
        0u32..5,
        prop_oneof![Just("0s".to_string()), (1u32..5000).prop_map(|ms| format!("{ms}ms"))],
        (300u32..40_000, 0u32..10_000),
        (1u32..100, 0u32..100),
        prop::bool::ANY,
        (1u32..5, 1u32..5, 0u32..5),
    )
        .prop_map(
            |(
                (traffic, trace),
                autoscaler,
                cc,
                cold_start,
                (duration_ms, cooldown_ms),
                (service_min, service_spread),
                warm,
                (client, ingress, network),
            )| {
                // The autoscaler strategies mark the service keys they need; turn them into YAML.
                let mut service = format!(
                    "service: {{containerConcurrency: {cc}, minReplicas: 1, maxReplicas: 6, initial_state: {}",
                    if warm { "warm" } else { "deployed" }
                );
                let mut body = String::new();
                for line in autoscaler.lines() {
                    if let Some(t) = line.strip_prefix("service_target: ") {
                        service.push_str(&format!(", scaleMetric: concurrency, scaleTarget: {t}"));
                    } else if let Some(t) = line.strip_prefix("service_hpa: ") {
                        service.push_str(&format!(", scaleMetric: cpu, scaleTarget: {t}"));
                    } else {
                        body.push_str(line);
                        body.push('\n');
                    }
                }
                service.push_str("}\n");
                let service_time = if service_spread == 0 {
                    format!("{service_min}ms")
                } else {
                    format!(
                        "{{dist: uniform, min: {service_min}ms, max: {}ms}}",
                        service_min + service_spread
                    )
                };
                let yaml = format!(
                    "name: property\nduration: {duration_ms}ms\ncooldown: {cooldown_ms}ms\nseed: 3\n\
                     start_time: \"2024-01-01T00:00:00Z\"\n{service}{body}\
                     pod: {{cold_start: {cold_start}, service_time: {service_time}}}\n\
                     request_path: {{client: {client}ms, ingress: {ingress}ms, network: {network}ms}}\n\
                     traffic: {traffic}\noutput: {{plots: false}}\n"
                );
                Case {
                    yaml,
                    trace: trace.clone(),
                    container_concurrency: cc,
                    // A trace's own service times (50 ms each) replace the pod's distribution.
                    min_latency_ms: f64::from(
                        client + ingress + network + if trace.is_some() { 50 } else { service_min },
                    ),
                }
            },
        )
}

fn scratch(n: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("podscale-props-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn num(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("summary has no number at {path}"))
}

fn check(case: &Case, dir: &Path) -> Result<(), TestCaseError> {
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, &case.yaml).unwrap();
    if let Some(trace) = &case.trace {
        std::fs::write(dir.join("trace.csv"), trace).unwrap();
    }
    let (summary, rows, csv) = simulate(&path);

    // Determinism: a second run is byte-identical.
    let (again, _, csv_again) = simulate(&path);
    prop_assert_eq!(&summary, &again, "summary differs between identical runs");
    prop_assert!(
        csv == csv_again,
        "timeseries differs between identical runs"
    );

    // Conservation: every request sent is completed, failed or still in flight.
    let total = num(&summary, "/requests/total");
    let completed = num(&summary, "/requests/completed");
    let failed = num(&summary, "/requests/failed");
    let in_flight = num(&summary, "/requests/in_flight_at_end");
    prop_assert_eq!(
        total,
        completed + failed + in_flight,
        "{}",
        summary["requests"]
    );

    // Rows sum to the summary's totals.
    let sum = |f: fn(&SecondRow) -> u64| rows.iter().map(f).sum::<u64>() as f64;
    let duration_s = num(&summary, "/duration_s");
    let partial = duration_s.fract() != 0.0;
    if let Some(last) = rows.last() {
        let expected = duration_s - (duration_s.ceil() - 1.0);
        prop_assert!(
            (last.row_duration_s - expected).abs() < 1e-9,
            "last row lasts {} s, the run's last (partial) second {} s",
            last.row_duration_s,
            expected
        );
        prop_assert!(rows[..rows.len() - 1]
            .iter()
            .all(|r| r.row_duration_s == 1.0));
    }
    let pairs = [
        ("arrivals", sum(|r| r.arrivals), total),
        ("completions", sum(|r| r.completions), completed),
        ("failures", sum(|r| r.failures), failed),
    ];
    for (what, over_rows, in_summary) in pairs {
        if partial && KNOWN_GAP_FINAL_PARTIAL_SECOND {
            // Only what happened after the last whole second may be missing from the rows.
            prop_assert!(
                over_rows <= in_summary,
                "{what}: rows {over_rows} > summary {in_summary}"
            );
        } else {
            prop_assert_eq!(over_rows, in_summary, "{} over the rows", what);
        }
    }
    if !(partial && KNOWN_GAP_FINAL_PARTIAL_SECOND) {
        prop_assert_eq!(
            rows.len() as f64,
            duration_s.ceil(),
            "one row per (partial) second"
        );
    }

    // The histogram counts each measured (completed) request exactly once.
    let buckets = summary["latency_histogram_ms"].as_array().unwrap();
    let counted: f64 = buckets.iter().map(|b| num(b, "/count")).sum();
    prop_assert_eq!(counted, completed, "histogram {:?}", buckets);

    if completed > 0.0 {
        let order: Vec<f64> = [
            "min", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "p999", "max",
        ]
        .iter()
        .filter_map(|k| summary["latency_ms"].get(*k).and_then(Value::as_f64))
        .collect();
        prop_assert!(
            order.windows(2).all(|w| w[0] <= w[1]),
            "percentiles out of order: {}",
            summary["latency_ms"]
        );
        // HDR's lowest equivalent value may sit up to 0.1 % under the true fastest latency.
        let min = num(&summary, "/latency_ms/min");
        prop_assert!(
            min >= case.min_latency_ms * 0.999 - 0.001,
            "a request took {} ms, under its fixed path plus minimum service time {} ms",
            min,
            case.min_latency_ms
        );
    }

    if case.container_concurrency > 0 {
        let most = num(&summary, "/replicas/max_pod_concurrency");
        prop_assert!(
            most <= f64::from(case.container_concurrency),
            "a pod ran {most} at once"
        );
    }
    // max_ready is sampled per row; the last row is sampled at the end, so it sees final_ready too
    // (the sub-second run had max_ready 0, final_ready 1 before that row existed).
    if !(partial && KNOWN_GAP_FINAL_PARTIAL_SECOND) {
        let max_ready = num(&summary, "/replicas/max_ready");
        prop_assert!(
            num(&summary, "/replicas/final_ready") <= max_ready,
            "{}",
            summary["replicas"]
        );
    }
    Ok(())
}

#[test]
fn random_valid_scenarios_report_consistent_figures() {
    let config = Config {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
    let counter = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&case(), |case| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = scratch(n);
        let outcome = check(&case, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        outcome
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
