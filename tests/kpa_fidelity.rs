//! Scenario-level regressions for the KPA's reconciler and scraper as Knative runs them (issue 12 items 3,
//! 4 and 8): each test runs a whole scenario through the loader and the simulator and checks what a user
//! would see in the time series.

mod common;

use common::row as at;
use podscale::observe::output::{RunSummary, SecondRow};
use std::path::PathBuf;

fn yaml_path(name: &str, yaml: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("kpa_fidelity_{name}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

fn run_yaml(name: &str, yaml: &str, overrides: &[&str]) -> (RunSummary, Vec<SecondRow>) {
    common::run(&yaml_path(name, yaml), overrides)
}

/// /work/coord/repro12/tbc.yaml: 900 req/s for 60 s with target-burst-capacity −1, then silence.
const TBC: &str = r#"
name: repro-tbc-minus-one
duration: 60s
cooldown: 120s
seed: 1
service:
  scaleTarget: 10
  minReplicas: 1
autoscaler:
  config:
    target-burst-capacity: "-1"
pod:
  cold_start: 2s
  service_time: 100ms
traffic: {kind: constant, rate: 900}
"#;

#[test]
fn tbc_minus_one_holds_the_pods_for_about_a_stable_window_after_load_stops() {
    let (_, rows) = run_yaml("tbc", TBC, &[]);
    assert!(at(&rows, 58).ready_pods >= 80, "load phase (panic)");
    // No scraper: only the activator's reports feed the windows, so the quiet seconds after 60 s are
    // missing data and the stable average keeps the loaded concurrency (90 requests / target 7 = 13 pods)
    // for about one stable window (before: 11 pods at 70 s, 7 at 90 s, 3 at 110 s).
    for t in [70, 90] {
        let r = at(&rows, t);
        assert_eq!(r.ready_pods, 13, "t={t}: {r:?}");
        assert!(r.observed_stable.unwrap() > 80.0, "t={t}: {r:?}");
    }
    assert!(at(&rows, 110).ready_pods >= 10, "{:?}", at(&rows, 110));
    // Once the stable window holds nothing, the revision goes back to min-scale.
    let end = rows.last().unwrap();
    assert_eq!(end.desired_pods, Some(1), "{end:?}");
}

#[test]
fn with_a_scrape_target_quiet_seconds_are_zeros_and_the_pods_go_at_once() {
    // The same load with the default target-burst-capacity: the scraper reports 0 every second after
    // the load stops, so the stable average decays and the pods go well before a stable window.
    let (_, rows) = run_yaml(
        "tbc_default",
        TBC,
        &["autoscaler.config.target-burst-capacity=200"],
    );
    assert!(at(&rows, 58).ready_pods >= 80);
    assert!(at(&rows, 90).ready_pods < 10, "{:?}", at(&rows, 90));
}

/// An unreachable revision (no route references it) with min-scale 3, a 10 min pod retention and a 5 min
/// scale-down delay.
const UNREACHABLE: &str = r#"
name: unreachable
duration: 20s
cooldown: 160s
seed: 2
service:
  scaleTarget: 10
  minReplicas: 3
  reachable: false
  annotations:
    autoscaling.knative.dev/scale-down-delay: "5m"
autoscaler:
  config:
    scale-to-zero-pod-retention-period: "10m"
    scale-to-zero-grace-period: "30s"
pod:
  cold_start: 2s
  service_time: 100ms
traffic: {kind: constant, rate: 20}
"#;

#[test]
fn an_unreachable_revision_ignores_min_scale_retention_and_the_delay() {
    let (_, rows) = run_yaml("unreachable", UNREACHABLE, &[]);
    // No scale-down delay: the decider drops to 1 pod once panic ends (a 5 min delay would hold 2).
    assert_eq!(at(&rows, 80).ready_pods, 1, "{:?}", at(&rows, 80));
    // After the load the revision scales to zero: no min-scale floor (the active threshold is 0 too), no
    // retention; within a stable window (60 s) + the grace period (30 s) + a few seconds (before: it stayed
    // Activating with one pod, the threshold being min-scale 3).
    let end = rows.last().unwrap();
    assert_eq!(end.ready_pods + end.terminating_pods, 0, "{end:?}");
    let zero_at = rows
        .iter()
        .find(|r| r.time_s > 20 && r.desired_pods == Some(0) && r.ready_pods == 0)
        .map(|r| r.time_s)
        .unwrap();
    assert!(
        zero_at <= 20 + 60 + 30 + 10,
        "scaled to zero at {zero_at} s"
    );
}

#[test]
fn a_reachable_revision_keeps_min_scale_and_the_retention() {
    let (_, rows) = run_yaml("reachable", UNREACHABLE, &["service.reachable=true"]);
    let first = at(&rows, 1);
    assert_eq!(
        first.ready_pods + first.pending_pods + first.starting_pods,
        3,
        "min-scale 3 from time 0: {first:?}"
    );
    assert!(rows.iter().all(|r| r.time_s < 8 || r.ready_pods >= 3));
}

/// min-scale 3 with initial-scale 1, no traffic.
const CREATION: &str = r#"
name: creation
duration: 30s
seed: 3
service:
  scaleTarget: 10
  minReplicas: 3
  annotations:
    autoscaling.knative.dev/initial-scale: "1"
pod:
  cold_start: 5s
  service_time: 100ms
traffic: {kind: constant, rate: 1, start: 25s, end: 26s}
"#;

#[test]
fn the_reconciler_runs_at_pa_creation_not_at_the_first_tick() {
    let (_, rows) = run_yaml("creation", CREATION, &[]);
    // The PA's first pass at time 0 applies min-scale 3: three pods cold-start from 0 and are Ready at
    // 5 s, in the row of second 6 (before: one pod from 0 and two more from the 2 s tick: 1 ready there).
    let r = at(&rows, 6);
    assert_eq!(r.ready_pods, 3, "{r:?}");
}

#[test]
fn reconcile_delay_delays_the_deployment_scale() {
    let (_, now) = run_yaml("delay0", CREATION, &[]);
    let (_, late) = run_yaml("delay4", CREATION, &["autoscaler.reconcile_delay=4s"]);
    assert_eq!(at(&now, 6).ready_pods, 3);
    // The time-0 patch to 3 reaches the Deployment 4 s later: the two extra pods are Ready at 9 s.
    assert_eq!(at(&late, 4).desired_pods, Some(1), "{:?}", at(&late, 4));
    assert_eq!(at(&late, 5).desired_pods, Some(3), "{:?}", at(&late, 5));
    assert_eq!(at(&late, 9).ready_pods, 1, "{:?}", at(&late, 9));
    assert_eq!(at(&late, 10).ready_pods, 3, "{:?}", at(&late, 10));
}

/// A revision created at time 0 whose first pod takes longer to start than the activation timeout, with
/// no traffic until 190 s.
const SLOW_START: &str = r#"
name: slow-start
duration: 200s
seed: 4
service:
  scaleTarget: 10
  minReplicas: 0
  annotations:
    serving.knative.dev/progress-deadline: "20s"
pod:
  cold_start: 300s
  service_time: 100ms
traffic: {kind: constant, rate: 1, start: 190s, end: 191s}
"#;

#[test]
fn activation_times_out_after_the_progress_deadline_annotation_plus_30s() {
    let (_, rows) = run_yaml("slow", SLOW_START, &[]);
    // Activating from creation (0 s) with the decider wanting 0; 20 s + 30 s later the PA gives up and
    // scales to zero (before: always 630 s).
    let gave_up = rows
        .iter()
        .find(|r| r.time_s > 1 && r.pending_pods + r.starting_pods == 0)
        .map(|r| r.time_s)
        .unwrap_or(u64::MAX);
    assert!((50..=51).contains(&gave_up), "gave up at {gave_up} s");
    // The config-deployment default (600 s) keeps the pod starting through the whole run.
    let (_, rows) = run_yaml(
        "slow_default",
        &SLOW_START.replace(
            "    serving.knative.dev/progress-deadline: \"20s\"\n",
            "    x: y\n",
        ),
        &[],
    );
    assert!(rows
        .iter()
        .all(|r| r.time_s < 2 || r.starting_pods + r.pending_pods == 1));
}

#[test]
fn a_bad_progress_deadline_annotation_names_the_key() {
    let path = yaml_path("bad_pd", &SLOW_START.replace("\"20s\"", "\"soon\""));
    let err = common::errors_of(&path, &[]);
    assert!(
        err.contains("serving.knative.dev/progress-deadline"),
        "{err}"
    );
    assert!(err.contains("soon"), "{err}");
}
