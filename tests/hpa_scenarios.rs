//! The Kubernetes HPA, CronHPA and KEDA cron in the simulation: the bundled scenarios' outcomes, the KServe /
//! Knative class selection, manifests, and scenario errors.

mod common;

use common::{bundled, errors_of, row, run, tempdir, write};
use podscale::autoscaler::hpa::{MetricSpec, MetricTarget};
use podscale::observe::output::SecondRow;
use podscale::scenario;
use podscale::sim::AutoscalerMode;
use std::path::Path;

#[test]
fn gpu_llm_gets_two_replicas_under_load_and_one_five_minutes_after() {
    let (summary, rows) = run(&bundled("hpa-gpu-llm.yaml"), &[]);
    assert_eq!(summary.autoscaler, "hpa");
    assert_eq!(summary.requests.failed, 0);
    assert_eq!(summary.replicas.max_ready, 2);
    assert_eq!(summary.replicas.max_desired, 2);
    assert_eq!(summary.replicas.final_ready, 1);
    // Two custom-metric scrapes (15 s, 30 s), then the sync at 30 s sees the GPU 100 % busy: 2 replicas.
    let first_two = rows.iter().find(|r| r.desired_pods == Some(2)).unwrap();
    assert_eq!(first_two.time_s, 30);
    let at = row(&rows, 60);
    assert_eq!(at.hpa_metric, Some(100.0));
    assert_eq!(at.target_per_pod, Some(50.0));
    assert_eq!(at.observed_stable, Some(100.0));
    assert_eq!(at.hpa_proposal, Some(2));
    // The second replica is Ready after its 60 s model load and both serve until the load ends at 120 s.
    for t in 95..=120 {
        assert_eq!(row(&rows, t).ready_pods, 2, "t = {t}");
    }
    // No activator with the HPA.
    assert!(rows
        .iter()
        .all(|r| !r.activator_in_path && r.activator_queue == 0));
    // Idle GPUs from ~125 s, but the default 5-minute downscale stabilization holds 2 replicas.
    let back_to_one = rows
        .iter()
        .find(|r| r.time_s > 120 && r.desired_pods == Some(1))
        .unwrap()
        .time_s;
    assert!(
        (120 + 290..=120 + 330).contains(&back_to_one),
        "scaled back to 1 at {back_to_one} s"
    );
    assert_eq!(row(&rows, back_to_one - 1).desired_pods, Some(2));
    assert_eq!(row(&rows, 300).hpa_limit_reason, "too_many_replicas");
    assert_eq!(row(&rows, 300).hpa_recommendation, Some(4));
}

fn peak_window(rows: &[SecondRow]) -> (f64, u64) {
    // The first two minutes of the 08:00 peak.
    let window: Vec<&SecondRow> = rows
        .iter()
        .filter(|r| (601..=720).contains(&r.time_s))
        .collect();
    let worst_p99 = window
        .iter()
        .filter_map(|r| r.latency_p99_ms)
        .fold(0.0, f64::max);
    let failures = window.iter().map(|r| r.failures).sum();
    (worst_p99, failures)
}

#[test]
fn cronhpa_scales_ahead_of_the_daily_peak_and_releases_after_it() {
    let path = bundled("cronhpa-daily-peak.yaml");
    let (summary, rows) = run(&path, &[]);
    // 07:55 Asia/Shanghai is 300 s after the 07:50 start; 09:10 is 4800 s. Row t covers [t - 1 s, t), so
    // a job firing at exactly 300 s shows in row 301.
    let fires: Vec<(u64, String)> = rows
        .iter()
        .filter_map(|r| r.cron_fire.clone().map(|c| (r.time_s, c)))
        .collect();
    assert_eq!(
        fires,
        vec![
            (301, "before-peak=4".to_string()),
            (4801, "after-peak=1".to_string())
        ]
    );
    assert_eq!(row(&rows, 300).desired_pods, Some(1));
    assert_eq!(row(&rows, 301).desired_pods, Some(4));
    // minReplicas 4 holds from the job to the release; the HPA adds pods on top during the peak.
    for r in rows.iter().filter(|r| (301..4801).contains(&r.time_s)) {
        assert!(r.desired_pods.unwrap() >= 4, "t = {}", r.time_s);
    }
    assert!(summary.replicas.max_desired >= 5);
    assert_eq!(row(&rows, 4800).desired_pods, Some(4));
    // The release lowers minReplicas; the HPA's next sync (15 s period) scales in.
    let released = rows
        .iter()
        .find(|r| r.time_s >= 4801 && r.desired_pods == Some(1))
        .map(|r| r.time_s);
    assert!(
        released.is_some_and(|t| t <= 4801 + 15),
        "released at {released:?}"
    );
    assert_eq!(summary.replicas.final_ready, 1);

    // The same day without the CronHPA: the peak starts on one pod and queues until the HPA catches up.
    let mut loaded = scenario::load(&path, &[]).unwrap();
    loaded.spec.autoscaler.cron = None;
    let (plain, plain_rows) =
        common::run_sim(podscale::Simulation::from_loaded(&loaded, None).unwrap());
    let (cron_p99, cron_failures) = peak_window(&rows);
    let (plain_p99, plain_failures) = peak_window(&plain_rows);
    assert!(
        plain_p99 > 3.0 * cron_p99,
        "peak p99: {plain_p99} ms without cron, {cron_p99} ms with"
    );
    assert!(plain_failures > cron_failures);
    assert!(plain.requests.failed > summary.requests.failed);
    assert!(plain.pod_seconds < summary.pod_seconds);
}

#[test]
fn kpa_and_hpa_differ_on_the_same_bursty_traffic() {
    let path = bundled("kpa-vs-hpa-bursty.yaml");
    let (kpa, kpa_rows) = run(&path, &[]);
    let (hpa, hpa_rows) = run(&path, &["autoscaler.class=hpa"]);
    assert_eq!(
        (kpa.autoscaler.as_str(), hpa.autoscaler.as_str()),
        ("kpa", "hpa")
    );
    assert_eq!(kpa.requests.total, hpa.requests.total, "same traffic");
    // The HPA reacts a scrape plus a sync late, so bursts start on too few pods and the queue-proxy
    // queues overflow; its 5-minute downscale window keeps pods through the 3 quiet minutes.
    assert!(
        hpa.requests.failed > 10 * kpa.requests.failed.max(1),
        "failed: kpa {} hpa {}",
        kpa.requests.failed,
        hpa.requests.failed
    );
    // (Each scale-down also costs both the queue-proxy's 30 s drain, which narrows the gap.)
    assert!(
        hpa.pod_seconds > 1.1 * kpa.pod_seconds,
        "pod-seconds: kpa {} hpa {}",
        kpa.pod_seconds,
        hpa.pod_seconds
    );
    // The KPA buffers requests in the activator while new pods start (long waits, few failures); the HPA
    // has no activator, so nothing ever waits there.
    assert_eq!(hpa.requests.cold_start_affected, 0);
    assert!(kpa.latency_ms.p99 > hpa.latency_ms.p99);
    assert!(kpa_rows.iter().any(|r| r.activator_in_path));
    assert!(hpa_rows.iter().all(|r| !r.activator_in_path));
    // Between bursts (minute 3.5), the KPA is back to one pod; the HPA still holds its burst size.
    assert_eq!(row(&kpa_rows, 230).ready_pods, 1);
    assert!(row(&hpa_rows, 230).ready_pods >= 4);
    assert_eq!(
        row(&hpa_rows, 230).hpa_limit_reason,
        "scale_down_stabilized"
    );
}

const BASE_NO_SERVICE: &str = "
duration: 3m
pod: {cold_start: 5s, service_time: 500ms}
traffic: {kind: poisson, rate: 10}
output: {plots: false}
";

fn base() -> String {
    format!("{BASE_NO_SERVICE}service: {{minReplicas: 1, maxReplicas: 6}}\n")
}

fn setup_of(path: &Path, overrides: &[&str]) -> podscale::autoscaler::hpa::runtime::HpaSetup {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let loaded = scenario::load(path, &overrides).unwrap_or_else(|e| panic!("{e}"));
    match scenario::prepare(&loaded, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .config
        .autoscaler
    {
        AutoscalerMode::Hpa(setup) => *setup,
        _ => panic!("expected the HPA"),
    }
}

#[test]
fn kserve_and_knative_annotations_select_the_hpa() {
    let dir = tempdir("select");
    let kserve = write(
        &dir,
        "kserve.yaml",
        &format!("{BASE_NO_SERVICE}\nservice:\n  minReplicas: 2\n  maxReplicas: 5\n  scaleMetric: memory\n  scaleTarget: 70\n  annotations: {{serving.kserve.io/autoscalerClass: hpa}}\n"),
    );
    let s = setup_of(&kserve, &[]);
    assert_eq!((s.spec.min_replicas, s.spec.max_replicas), (2, 5));
    assert_eq!(
        s.spec.metrics,
        vec![MetricSpec::Resource {
            resource: "memory".into(),
            container: None,
            target: MetricTarget::Utilization(70)
        }]
    );
    assert_eq!(s.initial_replicas, 2);
    let knative = write(
        &dir,
        "knative.yaml",
        &format!("{BASE_NO_SERVICE}\nservice:\n  maxReplicas: 3\n  annotations:\n    autoscaling.knative.dev/class: hpa.autoscaling.knative.dev\n    autoscaling.knative.dev/metric: memory\n    autoscaling.knative.dev/target: \"600\"\n"),
    );
    let s = setup_of(&knative, &[]);
    assert_eq!(
        s.spec.metrics[0],
        MetricSpec::Resource {
            resource: "memory".into(),
            container: None,
            target: MetricTarget::AverageValue(600 * 1024 * 1024 * 1000)
        }
    );
    // Default: CPU 80 %, and KServe raises a max below min to min.
    let plain = write(&dir, "plain.yaml", &base());
    let s = setup_of(&plain, &["autoscaler.class=hpa", "service.maxReplicas=0"]);
    assert_eq!(s.spec.max_replicas, 1);
    assert_eq!(
        s.spec.metrics[0],
        MetricSpec::Resource {
            resource: "cpu".into(),
            container: None,
            target: MetricTarget::Utilization(80)
        }
    );
    // Arena-style GPU target.
    let s = setup_of(
        &plain,
        &[
            "autoscaler.class=hpa",
            "service.scaleMetric=gpu",
            "service.scaleTarget=40",
        ],
    );
    assert_eq!(
        s.spec.metrics[0],
        MetricSpec::Pods {
            name: "DCGM_FI_DEV_GPU_UTIL".into(),
            target: MetricTarget::AverageValue(40_000)
        }
    );
}

#[test]
fn a_real_hpa_manifest_with_behavior_limits_scale_up() {
    let dir = tempdir("manifest");
    write(
        &dir,
        "hpa.yaml",
        "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: predictor}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: predictor}
  minReplicas: 1
  maxReplicas: 8
  metrics:
  - type: Pods
    pods:
      metric: {name: requests_in_flight}
      target: {type: AverageValue, averageValue: \"1\"}
  behavior:
    scaleUp:
      policies: [{type: Pods, value: 1, periodSeconds: 60}]
",
    );
    let path = write(
        &dir,
        "s.yaml",
        &format!(
            "{}\nautoscaler:\n  class: hpa\n  hpa: {{manifest: hpa.yaml}}\n",
            base()
        ),
    );
    let (summary, rows) = run(&path, &[]);
    // 10 req/s × 0.5 s = 5 in flight: the metric asks for 5 pods, the policy allows one more per minute.
    let seen = row(&rows, 30).hpa_metric.unwrap();
    assert!((3.5..=6.5).contains(&seen), "{seen}");
    assert!(rows.iter().any(|r| r.hpa_limit_reason == "scale_up_limit"));
    let mut changes = Vec::new();
    for w in rows.windows(2) {
        if w[1].desired_pods != w[0].desired_pods {
            changes.push((w[1].time_s, w[1].desired_pods.unwrap()));
        }
    }
    assert!(changes.len() >= 2, "{changes:?}");
    for pair in changes.windows(2) {
        assert_eq!(pair[1].1, pair[0].1 + 1, "{changes:?}");
        assert!(pair[1].0 - pair[0].0 >= 60, "{changes:?}");
    }
    assert_eq!(summary.autoscaler, "hpa");
}

#[test]
fn keda_cron_window_sets_a_replica_floor() {
    let dir = tempdir("keda");
    let path = write(
        &dir,
        "keda.yaml",
        "duration: 20m
start_time: \"2024-01-01T00:00:00Z\"
service: {minReplicas: 1, maxReplicas: 6, scaleMetric: cpu, scaleTarget: 80}
autoscaler:
  class: hpa
  keda_cron: [{timezone: UTC, start: \"5 0 * * *\", end: \"10 0 * * *\", desiredReplicas: 3}]
  controller: {downscale_stabilization: 1m}
pod: {cold_start: 5s, service_time: 100ms}
traffic: {kind: poisson, rate: 1}
output: {plots: false}
",
    );
    let (_, rows) = run(&path, &[]);
    // The window opens at 00:05 (300 s): the next sync (300 s) sees the External metric at 3.
    assert_eq!(row(&rows, 299).desired_pods, Some(1));
    assert_eq!(row(&rows, 300).desired_pods, Some(3));
    assert_eq!(row(&rows, 595).desired_pods, Some(3));
    // It closes at 00:10; the 1-minute downscale stabilization then lets the CPU metric win again.
    let down = rows
        .iter()
        .find(|r| r.time_s > 600 && r.desired_pods == Some(1))
        .unwrap()
        .time_s;
    assert!((660..=690).contains(&down), "back to 1 at {down}");
}

#[test]
fn hpa_runs_are_deterministic() {
    let path = bundled("kpa-vs-hpa-bursty.yaml");
    let a = run(&path, &["autoscaler.class=hpa", "duration=5m"]).1;
    let b = run(&path, &["autoscaler.class=hpa", "duration=5m"]).1;
    assert_eq!(a, b);
}

#[test]
fn bad_hpa_input_is_reported_with_key_value_and_allowed() {
    let dir = tempdir("errors");
    let path = write(&dir, "s.yaml", &base());
    let e = errors_of(&path, &["autoscaler.class=hpa", "service.minReplicas=0"]);
    assert!(
        e.contains("service.minReplicas") && e.contains("no scale to zero"),
        "{e}"
    );
    let e = errors_of(&path, &["autoscaler.class=hpa", "service.scaleMetric=rps"]);
    assert!(
        e.contains("service.scaleMetric") && e.contains("cpu, memory, gpu"),
        "{e}"
    );
    let e = errors_of(&path, &["autoscaler.class=hpv"]);
    assert!(
        e.contains("\"hpv\"") && e.contains("kpa, hpa, keda, external, fixed"),
        "{e}"
    );
    let e = errors_of(
        &path,
        &[
            "autoscaler.class=hpa",
            "autoscaler.controller.sync_period=1500ms",
        ],
    );
    assert!(
        e.contains("autoscaler.controller.sync_period") && e.contains("whole number of seconds"),
        "{e}"
    );
    let e = errors_of(
        &path,
        &["autoscaler.class=hpa", "pod.resources.requests.cpu=lots"],
    );
    assert!(
        e.contains("pod.resources.requests.cpu") && e.contains("lots"),
        "{e}"
    );
    let custom = write(
        &dir,
        "custom.yaml",
        &format!("{}\nautoscaler:\n  class: hpa\n  hpa:\n    maxReplicas: 4\n    metrics: [{{type: Pods, pods: {{metric: {{name: queue_depth}}, target: {{type: AverageValue, averageValue: 3}}}}}}]\n", base()),
    );
    let e = errors_of(&custom, &[]);
    assert!(
        e.contains("queue_depth") && e.contains("metric_sources") && e.contains("pod_concurrency"),
        "{e}"
    );
    // With a source named, it runs.
    setup_of(
        &custom,
        &["autoscaler.hpa.metric_sources.queue_depth=pod_concurrency"],
    );
    let cron = write(
        &dir,
        "cron.yaml",
        &format!("{}\nautoscaler:\n  class: kpa\n  cron:\n    time_zone: Mars/Olympus\n    jobs: [{{name: a, schedule: \"0 0 8 * * *\", targetSize: 2}}]\n", base()),
    );
    let e = errors_of(&cron, &[]);
    assert!(
        e.contains("autoscaler.cron") && e.contains("needs class hpa"),
        "{e}"
    );
    let e = errors_of(&cron, &["autoscaler.class=hpa"]);
    assert!(e.contains("Mars/Olympus") && e.contains("IANA"), "{e}");
    let e = errors_of(&cron, &["autoscaler.class=hpa", "start_time=yesterday"]);
    assert!(e.contains("start_time") && e.contains("RFC 3339"), "{e}");
}

#[test]
fn standalone_cronhpa_sets_the_deployment_on_schedule() {
    let (s, rows) = run(&bundled("cronhpa-standalone"), &[]);
    let at = |t: u64| rows.iter().find(|r| r.time_s == t).unwrap();
    // 07:55 Asia/Shanghai is 300 s after the 07:50 start; 09:10 is 4800 s; row t covers [t - 1 s, t).
    assert_eq!(at(301).cron_fire.as_deref(), Some("before-peak=4"));
    assert_eq!(at(300).desired_pods, Some(1));
    assert_eq!(at(301).desired_pods, Some(4));
    assert_eq!(
        at(330).ready_pods,
        4,
        "the new pods are ready after their 20 s cold start"
    );
    assert!(rows
        .iter()
        .filter(|r| (330..4800).contains(&r.time_s))
        .all(|r| r.ready_pods == 4));
    assert_eq!(at(4801).cron_fire.as_deref(), Some("after-peak=1"));
    assert_eq!(rows.last().unwrap().ready_pods, 1);
    // Four pods at 0.2 s per request and containerConcurrency 1 carry the 12 req/s peak without loss.
    assert_eq!(s.requests.failed, 0);
}
