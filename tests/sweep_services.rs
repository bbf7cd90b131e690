//! Multi-service files everywhere a single service runs: a sweep and `tune`'s input check over a scenario of
//! two services (axes on top-level sections, which every service inherits), the facade's per-service
//! outputs, and backtest's refusal.

use podscale::observe::output::NoTimeseries;
use podscale::sweep::{self, SweepOptions, SweepSpec};
use podscale::Simulation;
use std::path::{Path, PathBuf};

const SCENARIO: &str = "\
name: two-services
duration: 3m
cooldown: 1m
seed: 4
cluster: {node_pools: [{name: cpu, nodes: 1, max_nodes: 6, cpu: 8, memory: 32Gi, price_per_hour: 0.4}], autoscaler: {}}
autoscaler: {class: kpa, config: {scale-to-zero-grace-period: 30s, stable-window: 20s}}
pod: {cold_start: 3s, service_time: {dist: exponential, mean: 100ms}}
service: {containerConcurrency: 2}
services:
  - name: busy
    traffic: {kind: poisson, rate: 30}
  - name: rare
    traffic: {kind: poisson, rate: 0.1}
";

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("podscale-svc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_files(dir: &Path) -> (PathBuf, PathBuf) {
    let base = dir.join("two.yaml");
    std::fs::write(&base, SCENARIO).unwrap();
    let sweep = dir.join("sweep.yaml");
    std::fs::write(
        &sweep,
        "name: two\nbase: two.yaml\nseeds: 2\naxes:\n  service.minReplicas: [0, 2]\n\
         objective: {minimize: cost, constraints: [\"latency_p99_ms <= 5000\"]}\n",
    )
    .unwrap();
    (base, sweep)
}

#[test]
fn a_sweep_over_two_services_varies_both_and_reports_run_totals_and_cost() {
    let dir = tempdir("sweep");
    let (base, sweep_path) = write_files(&dir);
    let spec = SweepSpec::load(&sweep_path).unwrap();
    sweep::validate(&spec).unwrap();
    // `tune` checks the base has prices before running (the cluster is shared, so the first service's).
    sweep::objective::require_inputs(&spec, spec.objective.as_ref().unwrap()).unwrap();
    let outcome = sweep::execute(
        &spec,
        &SweepOptions {
            threads: 1,
            shard: None,
            progress: false,
        },
    )
    .unwrap();
    assert_eq!(outcome.rows.len(), 4);
    let metric = |name: &str| sweep::METRICS.iter().position(|m| *m == name).unwrap();
    for row in &outcome.rows {
        // Each row is the run-level totals of the same run made directly, summed over both services.
        let overrides = spec.point_overrides(row.point);
        let summary = Simulation::from_path(&base, &overrides, Some(row.seed))
            .unwrap()
            .run(&mut NoTimeseries)
            .unwrap();
        let services = summary.services.as_ref().expect("a services block");
        assert_eq!(services.count, 2);
        let per_service: u64 = services.services.iter().map(|s| s.requests.total).sum();
        assert_eq!(row.metrics[metric("requests")], per_service as f64);
        assert_eq!(
            row.metrics[metric("requests")],
            summary.requests.total as f64
        );
        assert!(row.metrics[metric("cost")] > 0.0, "the pool has a price");
        // minReplicas is top-level: both services inherit it, so each holds at least 2 pods.
        if row.axes[0] == "2" {
            for s in &services.services {
                assert!(s.max_ready >= 2, "{} max_ready {}", s.service, s.max_ready);
            }
        }
    }
    let mean_ready = |p: usize| outcome.points[p].mean_of("mean_ready").unwrap();
    assert!(
        mean_ready(1) > mean_ready(0) + 1.0,
        "{} vs {}",
        mean_ready(1),
        mean_ready(0)
    );
}

#[test]
fn the_facade_writes_per_service_rows_where_asked_and_only_for_several_services() {
    let dir = tempdir("facade");
    let (base, _) = write_files(&dir);
    let rows = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sim = Simulation::from_path(&base, &["duration=1m".into()], None).unwrap();
    assert_eq!(sim.services().unwrap().names, ["busy", "rare"]);
    let summary = sim
        .with_service_outputs(
            Box::new(Shared(rows.clone())),
            Box::new(std::io::sink()),
            None,
        )
        .unwrap()
        .run(&mut NoTimeseries)
        .unwrap();
    let text = String::from_utf8(rows.lock().unwrap().clone()).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("service,time_s,"));
    // A row per service per minute (60 s of traffic and 60 s of cooldown).
    let data: Vec<&str> = lines.collect();
    assert_eq!(data.len(), 4, "{text}");
    assert!(data[0].starts_with("busy,60,") && data[1].starts_with("rare,60,"));
    assert_eq!(summary.effective_config["services"][1]["name"], "rare");

    let single = Simulation::from_str(
        "duration: 10s\ntraffic: {kind: constant, rate: 1}\n",
        "one.yaml",
        &[],
        None,
    )
    .unwrap();
    assert!(single.services().is_none());
    let e = single
        .with_service_outputs(Box::new(std::io::sink()), Box::new(std::io::sink()), None)
        .err()
        .unwrap();
    assert!(e.to_string().contains("several services"), "{e}");
}

#[test]
fn backtest_refuses_several_services_and_says_why() {
    let dir = tempdir("backtest");
    let (base, _) = write_files(&dir);
    let loaded = podscale::scenario::load(&base, &[]).unwrap();
    let sim = Simulation::from_loaded(&loaded, None).unwrap();
    let e = podscale::backtest::run(&loaded, sim, &[], Some(0))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("two.yaml"), "{e}");
    assert!(e.contains("2 services"), "{e}");
    assert!(e.contains("one service at a time"), "{e}");
}

#[test]
fn a_race_over_two_services_continues_its_runs_to_the_same_outcome() {
    // The paused runs of several services (per-service statistics, the node cost) read and continued
    // give what runs started again from t = 0 give; the first rungs are the runs' first parts.
    let dir = tempdir("race");
    let (_, sweep_path) = write_files(&dir);
    let spec = SweepSpec::load(&sweep_path).unwrap();
    let objective = spec.objective.clone().unwrap();
    let ladder = sweep::Ladder::default();
    let options = SweepOptions {
        threads: 2,
        shard: None,
        progress: false,
    };
    let continued = sweep::race(&spec, &objective, ladder, &options).unwrap();
    let restarted = sweep::race_pausing(&spec, &objective, ladder, &options, 0).unwrap();
    assert_eq!(continued.points, restarted.points);
    assert!(continued.run_equivalents < restarted.run_equivalents);
    // Every point's full-length figures are the grid's own runs of it.
    let grid = sweep::execute(&spec, &options).unwrap();
    for p in &continued.points {
        let g = grid.points.iter().find(|g| g.point == p.point).unwrap();
        assert_eq!(p.mean, g.mean, "point {}", p.point);
    }
    std::fs::remove_dir_all(&dir).ok();
}
