//! Adaptive tuning (successive halving): it picks the full grid's point on the bundled sweep while running
//! far fewer full-length runs, common random numbers hold across points, and mixed axes (annotations,
//! minReplicas, initial-scale, scale-down-delay) race like any other.

mod common;

use common::KeepRequests;
use podscale::sim::Simulation;
use podscale::sweep::{self, Ladder, Objective, SweepOptions, SweepSpec};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn objective_of(spec: &SweepSpec) -> Objective {
    spec.objective.clone().expect("the sweep has an objective")
}

#[test]
fn adaptive_search_picks_the_full_grid_s_point_on_the_bundled_sweep() {
    let spec = SweepSpec::load(&root().join("sweeps/kpa-bursty.yaml")).unwrap();
    let objective = objective_of(&spec);
    let axes: Vec<String> = spec.axes.iter().map(|a| a.path.clone()).collect();
    let options = SweepOptions::default();

    let grid = sweep::execute(&spec, &options).unwrap();
    let full = sweep::tune(
        &spec.name,
        axes.clone(),
        grid.points.clone(),
        objective.clone(),
    );
    let grid_best = full.best().expect("the bundled sweep has a feasible point");

    let outcome = sweep::race(&spec, &objective, Ladder::default(), &options).unwrap();
    let fast = sweep::tune(&spec.name, axes, outcome.points.clone(), objective);
    let fast_best = fast.best().expect("the survivors include a feasible point");
    assert_eq!(fast_best.point, grid_best.point);
    // The survivor's full-fidelity figures are the grid's own runs of that point, bit for bit.
    assert_eq!(fast_best.mean, grid_best.mean);

    assert_eq!(outcome.grid_runs, grid.rows.len() as u64);
    assert_eq!(outcome.rungs.len(), 3);
    assert_eq!(outcome.rungs[0].points as u64, spec.point_count());
    assert_eq!(outcome.rungs[0].seeds, 1);
    assert_eq!(outcome.rungs[2].seeds, spec.seeds.len());
    assert_eq!(
        outcome.rungs[2].horizon.as_nanos(),
        outcome.duration.as_nanos()
    );
    assert!(
        outcome.full_runs * 4 <= outcome.grid_runs,
        "{} full runs of {}",
        outcome.full_runs,
        outcome.grid_runs
    );
    // The default ladder (eta 2, 3 rungs) simulates under half the grid's time, survivors continuing
    // their runs from the last rung's horizon.
    assert!(outcome.run_equivalents <= 0.5 * outcome.grid_runs as f64);
    assert!(outcome.text().contains("saved"));
}

#[test]
fn survivors_continue_their_runs_and_the_outcome_does_not_depend_on_it() {
    // The bundled sweep, raced twice: continuing every survivor's runs, and with no run kept paused
    // (every rung starts again from t = 0). A run stepped to a horizon in pieces is the same run, so
    // the rows and the chosen points are the same; only the simulated time differs, by what the
    // ladder's plan says.
    let spec = SweepSpec::load(&root().join("sweeps/kpa-bursty.yaml")).unwrap();
    let objective = objective_of(&spec);
    let options = SweepOptions::default();
    let ladder = Ladder::default();
    let continued = sweep::race(&spec, &objective, ladder, &options).unwrap();
    let restarted = sweep::race_pausing(&spec, &objective, ladder, &options, 0).unwrap();
    assert_eq!(continued.points, restarted.points);
    assert_eq!(continued.rungs, restarted.rungs);
    let planned = ladder.cost(spec.point_count(), spec.seeds.len());
    assert!(
        (continued.run_equivalents - planned).abs() < 1e-6,
        "{} vs {planned}",
        continued.run_equivalents
    );
    // Without continuing, each rung costs points x seeds x its horizon.
    let from_zero: f64 = ladder
        .plan(spec.point_count(), spec.seeds.len())
        .iter()
        .map(|r| (r.points * r.seeds) as f64 / r.shrink as f64)
        .sum();
    assert!((restarted.run_equivalents - from_zero).abs() < 1e-6);
    assert!(continued.run_equivalents < restarted.run_equivalents);
}

#[test]
fn every_configuration_sees_the_same_arrivals_at_a_given_seed() {
    // Open-loop traffic draws from its own stream, seeded by the run's seed only: the arrival count (and
    // times) cannot depend on the autoscaler's settings. Very different configurations must agree.
    let dir = std::env::temp_dir().join(format!("podscale-crn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = write(
        &dir,
        "crn.yaml",
        "seeds: [1, 2]\nset: {duration: 3m}\naxes:\n  autoscaler.config.stable-window: [6s, 90s]\n  service.minReplicas: [1, 6]\n",
    );
    let spec = SweepSpec::load(&path).unwrap();
    let outcome = sweep::execute(&spec, &SweepOptions::default()).unwrap();
    let requests = sweep::METRICS
        .iter()
        .position(|m| *m == "requests")
        .unwrap();
    let pod_seconds = sweep::METRICS
        .iter()
        .position(|m| *m == "pod_seconds")
        .unwrap();
    for seed in [1, 2] {
        let rows: Vec<_> = outcome.rows.iter().filter(|r| r.seed == seed).collect();
        assert_eq!(rows.len(), 4);
        assert!(rows
            .iter()
            .all(|r| r.metrics[requests] == rows[0].metrics[requests]));
        // ... while the configurations do differ in what they cost.
        assert!(rows
            .iter()
            .any(|r| r.metrics[pod_seconds] != rows[0].metrics[pod_seconds]));
    }
    let per_seed: Vec<f64> = outcome.rows.iter().map(|r| r.metrics[requests]).collect();
    assert_ne!(
        per_seed[0], per_seed[1],
        "different seeds draw different arrivals"
    );
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let base = root().join("scenarios/kpa-bursty.yaml");
    std::fs::write(&path, format!("base: {}\n{body}", base.display())).unwrap();
    path
}

#[test]
fn mixed_axes_race_and_print_as_annotations_and_scenario_values() {
    let dir = std::env::temp_dir().join(format!("podscale-mixed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = write(
        &dir,
        "mixed.yaml",
        r#"seeds: 2
set: {duration: 2m}
axes:
  service.annotations."autoscaling.knative.dev/target-utilization-percentage": [50, 90]
  service.minReplicas: [1, 3]
  autoscaler.config.initial-scale: [1, 2]
  autoscaler.config.scale-down-delay: [0s, 30s]
objective: {minimize: pod_seconds, constraints: ["latency_p99_ms <= 2000"]}
"#,
    );
    let spec = SweepSpec::load(&path).unwrap();
    assert_eq!(spec.point_count(), 16);
    let objective = objective_of(&spec);
    let ladder = Ladder {
        eta: 2,
        rungs: 3,
        min_survivors: 2,
        budget: None,
    };
    let outcome = sweep::race(&spec, &objective, ladder, &SweepOptions::default()).unwrap();
    let sizes: Vec<usize> = outcome.rungs.iter().map(|r| r.points).collect();
    assert_eq!(sizes, [16, 8, 4]);
    assert_eq!(outcome.full_runs, 8);
    assert_eq!(outcome.full_runs_saved(), 24);
    // minReplicas 3 costs more pod-seconds than 1 under the same arrivals, so the cheapest feasible point
    // keeps minReplicas at 1 (axis 1, label "1").
    let axes: Vec<String> = spec.axes.iter().map(|a| a.path.clone()).collect();
    let report = sweep::tune("mixed", axes, outcome.points, objective);
    let best = report.best().expect("a feasible point");
    assert_eq!(best.axes[1], "1");
    let text = report.settings_text(best);
    assert!(
        text.contains("autoscaling.knative.dev/target-utilization-percentage"),
        "{text}"
    );
    assert!(text.contains("scale-down-delay"), "{text}");
    assert!(text.contains("service.minReplicas"), "{text}");
}

#[test]
fn a_one_rung_ladder_is_the_full_grid_and_bad_ladders_are_refused() {
    let dir = std::env::temp_dir().join(format!("podscale-ladder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = write(
        &dir,
        "one.yaml",
        "seeds: 2\nset: {duration: 60s}\naxes:\n  autoscaler.config.stable-window: [6s, 60s]\n",
    );
    let spec = SweepSpec::load(&path).unwrap();
    let objective = Objective {
        metric: "pod_seconds".into(),
        maximize: false,
        constraints: vec![],
    };
    let options = SweepOptions::default();
    let one = Ladder {
        rungs: 1,
        ..Ladder::default()
    };
    let outcome = sweep::race(&spec, &objective, one, &options).unwrap();
    let grid = sweep::execute(&spec, &options).unwrap();
    assert_eq!(outcome.full_runs, 4);
    assert_eq!(outcome.full_runs_saved(), 0);
    let means: Vec<_> = outcome.points.iter().map(|p| p.mean.clone()).collect();
    let grid_means: Vec<_> = grid.points.iter().map(|p| p.mean.clone()).collect();
    assert_eq!(means, grid_means);
    let bad = Ladder {
        eta: 1,
        ..Ladder::default()
    };
    let err = sweep::race(&spec, &objective, bad, &options).unwrap_err();
    assert!(err.to_string().contains("eta >= 2"), "{err}");
}

#[test]
fn configurations_differing_only_in_autoscaler_knobs_see_identical_arrival_times() {
    // Two points of one sweep that differ only in the KPA's stable window and scale-down delay, at the
    // same seed: every request must be sent at the same nanosecond in both, while what happens to the
    // requests (latency, the pod that serves them) differs.
    let dir = std::env::temp_dir().join(format!("podscale-crn-times-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = write(
        &dir,
        "crn-times.yaml",
        "seeds: [5]\nset: {duration: 4m, cooldown: 2m}\naxes:\n  autoscaler.config.stable-window: [6s, 90s]\n  autoscaler.config.scale-down-delay: [0s, 2m]\n",
    );
    let spec = SweepSpec::load(&path).unwrap();
    let run = |point: u64| {
        let sim = Simulation::from_path(&spec.base, &spec.point_overrides(point), Some(5)).unwrap();
        let mut log = KeepRequests::default();
        sim.run_with_log(&mut podscale::observe::output::NoTimeseries, &mut log)
            .unwrap();
        let mut sent: Vec<u64> = log.0.iter().map(|r| r.sent.as_nanos()).collect();
        sent.sort_unstable();
        let latency: u64 = log
            .0
            .iter()
            .map(|r| r.finished.as_nanos() - r.sent.as_nanos())
            .sum();
        (sent, latency)
    };
    let (a_sent, a_latency) = run(0); // stable-window 6s, scale-down-delay 0s
    let (b_sent, b_latency) = run(3); // stable-window 90s, scale-down-delay 2m
    assert!(a_sent.len() > 5_000, "{} requests", a_sent.len());
    assert_eq!(a_sent.len(), b_sent.len());
    assert!(
        a_sent == b_sent,
        "arrival times differ between configurations"
    );
    assert_ne!(
        a_latency, b_latency,
        "the configurations should behave differently"
    );
}
