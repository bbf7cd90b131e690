//! Sweeps: axis expansion, determinism across thread counts and shards, merging, tuning and errors.

use podscale::sweep::{
    self, results, Constraint, Objective, PointStats, Shard, SweepError, SweepOptions, SweepSpec,
};
use std::path::{Path, PathBuf};

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("podscale-sweep-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn base_scenario() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/kpa-bursty.yaml")
}

/// Writes a sweep file into `dir` whose base is the bundled bursty scenario, shortened to `duration`.
fn write_sweep(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("sweep.yaml");
    let text = format!("base: {}\n{body}", base_scenario().display());
    std::fs::write(&path, text).unwrap();
    path
}

fn small_sweep(dir: &Path) -> SweepSpec {
    let path = write_sweep(
        dir,
        "name: small\nseeds: 2\nset: {duration: 90s}\naxes:\n  autoscaler.config.stable-window: [6s, 30s]\n  autoscaler.config.container-concurrency-target-percentage: {from: 50, to: 90, step: 40}\n",
    );
    SweepSpec::load(&path).unwrap()
}

fn run_into(spec: &SweepSpec, threads: usize, shard: Option<Shard>, out: &Path) {
    let options = SweepOptions {
        threads,
        shard,
        progress: false,
    };
    let outcome = sweep::execute(spec, &options).unwrap();
    sweep::write_outputs(spec, &options, &outcome, out).unwrap();
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn axes_expand_lists_ranges_and_samples_in_a_fixed_order() {
    let dir = tempdir("expand");
    let path = write_sweep(
        &dir,
        r#"seeds: [3, 9]
sample_seed: 7
axes:
  autoscaler.config.stable-window: {from: 30s, to: 2m, step: 30s}
  autoscaler.config.max-scale-down-rate: {from: 0.1, to: 0.3, step: 0.1}
  autoscaler.config.panic-threshold-percentage: {log-uniform: [110, 1000], n: 4}
  service.annotations."autoscaling.knative.dev/target": [5, "true", {a: 1}]
"#,
    );
    let spec = SweepSpec::load(&path).unwrap();
    assert_eq!(spec.axes[0].labels, ["30s", "1m", "1m30s", "2m"]);
    assert_eq!(spec.axes[1].labels, ["0.1", "0.2", "0.3"]);
    let samples: Vec<f64> = spec.axes[2]
        .labels
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(samples.len(), 4);
    assert!(samples.iter().all(|&v| (110.0..=1000.0).contains(&v)));
    // The same sample seed draws the same values.
    assert_eq!(SweepSpec::load(&path).unwrap().axes[2], spec.axes[2]);
    // Strings YAML would read as something else are quoted for --set; collections become flow YAML.
    assert_eq!(spec.axes[3].values, ["5", "\"true\"", "{\"a\":1}"]);
    assert_eq!(spec.point_count(), 4 * 3 * 4 * 3);
    assert_eq!(spec.run_count(), 4 * 3 * 4 * 3 * 2);
    // Last axis fastest; runs are point-major with the seeds inside.
    assert_eq!(spec.point_indices(0), [0, 0, 0, 0]);
    assert_eq!(spec.point_indices(1), [0, 0, 0, 1]);
    assert_eq!(spec.point_indices(3), [0, 0, 1, 0]);
    assert_eq!(spec.point_indices(spec.point_count() - 1), [3, 2, 3, 2]);
    assert_eq!(spec.run_point_seed(0), (0, 3));
    assert_eq!(spec.run_point_seed(1), (0, 9));
    assert_eq!(spec.run_point_seed(5), (2, 9));
    let o = spec.point_overrides(1);
    assert_eq!(o[0], "autoscaler.config.stable-window=30s");
    assert_eq!(
        o[3],
        "service.annotations.\"autoscaling.knative.dev/target\"=\"true\""
    );
}

#[test]
fn thread_count_and_sharding_do_not_change_the_outputs() {
    let dir = tempdir("determinism");
    let spec = small_sweep(&dir);
    assert_eq!(spec.run_count(), 8);
    run_into(&spec, 1, None, &dir.join("one"));
    run_into(&spec, 2, None, &dir.join("two"));
    for f in [results::RESULTS_FILE, results::POINTS_FILE] {
        assert_eq!(
            read(dir.join("one").join(f)),
            read(dir.join("two").join(f)),
            "{f}"
        );
    }
    let results = String::from_utf8(read(dir.join("one").join(results::RESULTS_FILE))).unwrap();
    let lines: Vec<&str> = results.lines().collect();
    assert_eq!(lines.len(), 9);
    assert!(lines[0].starts_with(
        "run,point,autoscaler.config.stable-window,autoscaler.config.container-concurrency-target-percentage,seed,requests,"
    ));
    assert!(lines[1].starts_with("0,0,6s,50,1,"), "{}", lines[1]);
    assert!(lines[8].starts_with("7,3,30s,90,2,"), "{}", lines[8]);
    let points = String::from_utf8(read(dir.join("one").join(results::POINTS_FILE))).unwrap();
    assert_eq!(points.lines().count(), 5);

    // Three shards (uneven: 3, 3 and 2 runs), merged in a scrambled order.
    let shards: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("shard{i}"))).collect();
    for (i, d) in shards.iter().enumerate() {
        run_into(
            &spec,
            1,
            Some(Shard {
                index: i as u64,
                count: 3,
            }),
            d,
        );
    }
    let shard1 = String::from_utf8(read(shards[1].join(results::RESULTS_FILE))).unwrap();
    let runs: Vec<&str> = shard1
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(runs, ["1", "4", "7"]);
    let merged = dir.join("merged");
    let order = [shards[2].clone(), shards[0].clone(), shards[1].clone()];
    let manifest = sweep::merge(&order, &merged).unwrap();
    assert_eq!(manifest.runs, 8);
    for f in [results::RESULTS_FILE, results::POINTS_FILE] {
        assert_eq!(read(dir.join("one").join(f)), read(merged.join(f)), "{f}");
    }

    // Missing or duplicated shards are refused.
    let e = sweep::merge(&shards[..2], &dir.join("partial")).unwrap_err();
    assert!(e.to_string().contains("6 of 8 runs"), "{e}");
    let dup = [shards[0].clone(), shards[0].clone()];
    let e = sweep::merge(&dup, &dir.join("dup")).unwrap_err();
    assert!(e.to_string().contains("more than one shard"), "{e}");
}

#[test]
fn results_csv_reads_back_exactly() {
    let dir = tempdir("readback");
    let spec = small_sweep(&dir);
    run_into(&spec, 2, None, &dir);
    let (axes, rows) = results::read_results(&dir.join(results::RESULTS_FILE)).unwrap();
    assert_eq!(axes.len(), 2);
    assert_eq!(rows.len(), 8);
    let again = results::results_csv(&axes, &rows);
    assert_eq!(again, read(dir.join(results::RESULTS_FILE)));
    // Every run served traffic and the figures are consistent.
    for r in &rows {
        let m = |name: &str| r.metrics[results::METRICS.iter().position(|x| *x == name).unwrap()];
        assert!(m("requests") > 1000.0);
        assert!(m("latency_p50_ms") <= m("latency_p99_ms"));
        assert!(m("latency_p99_ms") <= m("latency_max_ms"));
        assert!(m("pod_seconds") >= 90.0, "at least one pod for 90 s");
    }
    // The confidence interval is a Student t interval: with 2 seeds, t(0.975, 1) = 12.706.
    let points = results::aggregate(&rows);
    let p = &points[0];
    let i = results::METRICS
        .iter()
        .position(|x| *x == "requests")
        .unwrap();
    let (a, b) = (rows[0].metrics[i], rows[1].metrics[i]);
    let sd = ((a - b).abs()) / 2f64.sqrt();
    let expected = 12.706_204_736 * sd / 2f64.sqrt();
    assert!((p.ci95[i].unwrap() - expected).abs() < 1e-3 * expected.max(1.0));
}

fn stats(point: u64, pod_seconds: f64, p99: f64, cold: f64) -> PointStats {
    let mut mean = vec![0.0; results::METRICS.len()];
    let set = |mean: &mut Vec<f64>, name: &str, v: f64| {
        mean[results::METRICS.iter().position(|x| *x == name).unwrap()] = v;
    };
    set(&mut mean, "pod_seconds", pod_seconds);
    set(&mut mean, "latency_p99_ms", p99);
    set(&mut mean, "cold_start_affected_pct", cold);
    PointStats {
        point,
        axes: vec![format!("{}s", 10 * (point + 1))],
        runs: 1,
        ci95: vec![None; mean.len()],
        mean,
    }
}

#[test]
fn tune_picks_the_cheapest_feasible_point_and_the_frontier() {
    let points = vec![
        stats(0, 100.0, 900.0, 0.0), // cheapest, but too slow
        stats(1, 150.0, 400.0, 5.0), // fast enough, too many cold starts
        stats(2, 200.0, 450.0, 0.5), // the answer
        stats(3, 250.0, 300.0, 0.1), // feasible, dearer
        stats(4, 260.0, 350.0, 0.1), // dominated by 3
    ];
    let objective = Objective {
        metric: "pod_seconds".into(),
        maximize: false,
        constraints: vec![
            Constraint::parse("latency_p99_ms <= 500").unwrap(),
            Constraint::parse("cold_start_affected_pct<=1").unwrap(),
        ],
    };
    let report = sweep::tune(
        "t",
        vec!["autoscaler.config.stable-window".into()],
        points,
        objective,
    );
    assert_eq!(report.best().unwrap().point, 2);
    assert_eq!(report.feasible, [2, 3, 4]);
    assert_eq!(report.frontier, [0, 1, 3]);
    let text = report.text(3);
    assert!(text.contains("stable-window: \"30s\""), "{text}");
    assert!(
        text.contains("autoscaling.knative.dev/window: \"30s\""),
        "{text}"
    );
}

#[test]
fn tune_on_a_real_sweep_meets_its_constraints_and_writes_a_plot() {
    let dir = tempdir("tune");
    let spec = small_sweep(&dir);
    let outcome = sweep::execute(&spec, &SweepOptions::default()).unwrap();
    let p99 = |p: &PointStats| p.mean_of("latency_p99_ms").unwrap();
    let cost = |p: &PointStats| p.mean_of("pod_seconds").unwrap();
    // A bound between the best and worst p99 makes some points infeasible.
    let lo = outcome.points.iter().map(p99).fold(f64::INFINITY, f64::min);
    let hi = outcome.points.iter().map(p99).fold(0.0, f64::max);
    assert!(lo < hi);
    let bound = (lo + hi) / 2.0;
    let objective = Objective {
        metric: "pod_seconds".into(),
        maximize: false,
        constraints: vec![Constraint::parse(&format!("latency_p99_ms <= {bound}")).unwrap()],
    };
    let axes = spec.axes.iter().map(|a| a.path.clone()).collect();
    let report = sweep::tune("small", axes, outcome.points.clone(), objective);
    let best = report.best().unwrap();
    assert!(p99(best) <= bound);
    for p in &outcome.points {
        if p99(p) <= bound {
            assert!(cost(best) <= cost(p));
        }
    }
    report.write(&dir, 3).unwrap();
    let png = read(dir.join("pareto.png"));
    assert_eq!(&png[1..4], b"PNG");
    assert!(String::from_utf8(read(dir.join("pareto.svg")))
        .unwrap()
        .contains("<svg"));
    assert!(read(dir.join("pareto.csv")).starts_with(b"point,"));
}

fn load_err(dir: &Path, body: &str) -> String {
    let path = write_sweep(dir, body);
    match SweepSpec::load(&path) {
        Ok(spec) => sweep::validate(&spec).unwrap_err().to_string(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_sweep_files_are_reported_with_file_key_and_allowed_values() {
    let dir = tempdir("errors");
    let e = load_err(&dir, "axis: {}\n");
    assert!(
        e.contains("sweep.yaml: axis: unknown key; allowed: base, name"),
        "{e}"
    );
    assert!(e.contains("did you mean `axes`"), "{e}");
    let e = load_err(
        &dir,
        "axes: {autoscaler.config.stable-window: {from: 10s, to: 5s, step: 1s}}\n",
    );
    assert!(
        e.contains("axes.autoscaler.config.stable-window: needs step > 0s and from <= to"),
        "{e}"
    );
    let e = load_err(&dir, "axes: {traffic.rate: {from: 1, to: 5}}\n");
    assert!(e.contains("`step` is missing"), "{e}");
    let e = load_err(&dir, "axes: {traffic.rate: {gaussian: [1, 2], n: 3}}\n");
    assert!(e.contains("allowed: a list of values"), "{e}");
    let e = load_err(&dir, "axes: {traffic.rate: {log-uniform: [0, 2], n: 3}}\n");
    assert!(e.contains("min > 0"), "{e}");
    let e = load_err(&dir, "seeds: 0\n");
    assert!(e.contains("seeds: must be between 1 and 10000"), "{e}");
    let e = load_err(&dir, "axes: {seed: [1, 2]}\n");
    assert!(e.contains("use `seeds:`"), "{e}");
    let e = load_err(&dir, "objective: {minimize: pod_secnds}\n");
    assert!(
        e.contains("objective.minimize: unknown metric `pod_secnds`"),
        "{e}"
    );
    assert!(e.contains("did you mean `pod_seconds`"), "{e}");
    let e = load_err(&dir, "objective: {constraints: [\"p99 = 5\"]}\n");
    assert!(e.contains("objective.constraints[0]"), "{e}");
    let e = load_err(&dir, "axes: [1, 2]\n");
    assert!(e.contains("axes: must be a map"), "{e}");

    // Paths the scenario rejects are caught before anything runs, naming the axis and the value.
    let e = load_err(&dir, "axes: {pod.colds_start: [1s, 2s]}\n");
    assert!(
        e.contains("sweep.yaml: axes.pod.colds_start: the base scenario rejects the value 1s"),
        "{e}"
    );
    assert!(e.contains("unknown field `colds_start`"), "{e}");
    let e = load_err(
        &dir,
        "axes: {autoscaler.config.stable-window: [30s, forever]}\n",
    );
    assert!(
        e.contains(
            "axes.autoscaler.config.stable-window: the base scenario rejects the value forever"
        ),
        "{e}"
    );
    let e = load_err(&dir, "set: {traffic.rate: fast}\n");
    assert!(
        e.contains("sweep.yaml: set: the base scenario rejects the fixed overrides"),
        "{e}"
    );

    let missing = dir.join("missing.yaml");
    std::fs::write(&missing, "base: nowhere.yaml\n").unwrap();
    let e = sweep::validate(&SweepSpec::load(&missing).unwrap()).unwrap_err();
    assert!(matches!(e, SweepError::Spec { .. }));
    assert!(e.to_string().contains("base: scenario file"), "{e}");
    assert!(SweepSpec::load(&dir.join("absent.yaml")).is_err());

    for bad in ["3/3", "1", "a/b", "0/0", "-1/2"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(Shard::parse("2/5").unwrap(), Shard { index: 2, count: 5 });
}
