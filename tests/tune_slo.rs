//! Tuning you can apply: SLO attainment and the 5xx rate as objectives, the tie-break (cost when priced,
//! else pod-seconds), strict and non-strict bounds, clear errors for objectives the scenario cannot
//! measure, and the chosen point checked across several recorded stretches of traffic.

use podscale::sweep::{self, results, Constraint, Objective, PointStats, SweepOptions, SweepSpec};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_podscale");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("podscale-tune-slo-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn point(i: u64, values: &[(&str, f64)]) -> PointStats {
    let mut mean = vec![0.0; results::METRICS.len()];
    for (m, v) in values {
        mean[results::METRICS.iter().position(|x| x == m).unwrap()] = *v;
    }
    PointStats {
        point: i,
        axes: vec![i.to_string()],
        runs: 1,
        ci95: vec![None; mean.len()],
        mean,
    }
}

fn best(points: Vec<PointStats>, objective: Objective) -> u64 {
    sweep::tune("t", vec!["service.minReplicas".into()], points, objective)
        .best()
        .unwrap()
        .point
}

#[test]
fn a_run_reports_slo_attainment_per_window() {
    let dir = tempdir("run");
    let out = Command::new(BIN)
        .args(["run", "scenarios/quickstart.yaml", "--out"])
        .arg(&dir)
        .args([
            "--set",
            "output.slo={p99_ms: 250, window: 60s}",
            "--set",
            "output.plots=false",
            "-q",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let slo = &summary["slo"];
    let duration = summary["duration_s"].as_f64().unwrap();
    assert_eq!(
        slo["windows"].as_u64().unwrap(),
        (duration / 60.0).ceil() as u64,
        "{slo}"
    );
    let attained = slo["attained"].as_u64().unwrap();
    let windows = slo["windows"].as_u64().unwrap();
    assert!(attained <= windows);
    assert_eq!(
        slo["attainment"].as_f64().unwrap(),
        attained as f64 / windows as f64
    );
    // Without output.slo the summary has no slo block.
    let dir2 = tempdir("run-noslo");
    let out = Command::new(BIN)
        .args(["run", "scenarios/quickstart.yaml", "--out"])
        .arg(&dir2)
        .args(["--set", "output.plots=false", "-q"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(dir2.join("summary.json")).unwrap();
    assert!(!text.contains("\"slo\""));
    // A window that is not whole seconds is refused with the key.
    let out = Command::new(BIN)
        .args(["validate", "scenarios/quickstart.yaml", "--set"])
        .arg("output.slo={p99_ms: 250, window: 1500ms}")
        .current_dir(root())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("output.slo.window"), "{err}");
}

#[test]
fn slo_attainment_and_pod_seconds_pick_different_points_on_a_real_sweep() {
    let dir = tempdir("grid");
    let path = dir.join("s.yaml");
    std::fs::write(
        &path,
        format!(
            "base: {}\nseeds: 1\nset:\n  duration: 10m\n  cooldown: 0s\n  traffic.window: {{from: 0s, to: 10m}}\n  output.slo: {{p99_ms: 8000, window: 60s}}\naxes:\n  service.maxReplicas: [2, 4, 8]\n",
            root().join("scenarios/azure-llm-replay.yaml").display()
        ),
    )
    .unwrap();
    let spec = SweepSpec::load(&path).unwrap();
    let outcome = sweep::execute(&spec, &SweepOptions::default()).unwrap();
    let axes: Vec<String> = spec.axes.iter().map(|a| a.path.clone()).collect();
    let slo = sweep::tune(
        "s",
        axes.clone(),
        outcome.points.clone(),
        Objective::natural("slo_attainment"),
    );
    let cheap = sweep::tune(
        "s",
        axes,
        outcome.points.clone(),
        Objective::natural("pod_seconds"),
    );
    let a = slo.best().unwrap();
    let c = cheap.best().unwrap();
    let m = |p: &PointStats, k: &str| p.mean_of(k).unwrap();
    for p in &outcome.points {
        assert!(m(a, "slo_attainment") >= m(p, "slo_attainment"));
        assert!(m(c, "pod_seconds") <= m(p, "pod_seconds"));
        assert!((0.0..=1.0).contains(&m(p, "slo_attainment")));
    }
    assert_ne!(
        a.point, c.point,
        "the most SLO-attaining point should not also be the cheapest here: {:?}",
        outcome.points
    );
    assert!(m(a, "slo_attainment") > m(c, "slo_attainment"));
    assert!(slo.text(3).contains("maximize slo_attainment"));
}

#[test]
fn ties_go_to_cost_when_priced_else_to_pod_seconds() {
    let attainment = 0.9;
    // Equal attainment; point 0 has fewer pod-seconds, point 1 the lower cost.
    let priced = vec![
        point(
            0,
            &[
                ("slo_attainment", attainment),
                ("pod_seconds", 100.0),
                ("cost", 5.0),
            ],
        ),
        point(
            1,
            &[
                ("slo_attainment", attainment),
                ("pod_seconds", 200.0),
                ("cost", 4.0),
            ],
        ),
    ];
    let report = sweep::tune(
        "t",
        vec!["x".into()],
        priced,
        Objective::natural("slo_attainment"),
    );
    assert_eq!(report.best().unwrap().point, 1);
    assert!(report.text(2).contains("ties go to the lower cost"));
    let unpriced = vec![
        point(0, &[("slo_attainment", attainment), ("pod_seconds", 200.0)]),
        point(1, &[("slo_attainment", attainment), ("pod_seconds", 100.0)]),
    ];
    let report = sweep::tune(
        "t",
        vec!["x".into()],
        unpriced,
        Objective::natural("slo_attainment"),
    );
    assert_eq!(report.best().unwrap().point, 1);
    assert!(report.text(2).contains("ties go to fewer pod-seconds"));
    // Full tie: the lower point index.
    let same = vec![
        point(0, &[("error_rate_5xx", 0.0), ("pod_seconds", 100.0)]),
        point(1, &[("error_rate_5xx", 0.0), ("pod_seconds", 100.0)]),
    ];
    assert_eq!(best(same, Objective::natural("error_rate_5xx")), 0);
}

#[test]
fn strict_and_non_strict_bounds_differ_at_the_bound() {
    let points = || {
        vec![
            point(0, &[("error_rate_5xx", 0.01), ("pod_seconds", 10.0)]),
            point(1, &[("error_rate_5xx", 0.0), ("pod_seconds", 20.0)]),
        ]
    };
    let with = |c: &str| Objective {
        constraints: vec![Constraint::parse(c).unwrap()],
        ..Objective::natural("pod_seconds")
    };
    assert_eq!(best(points(), with("error_rate_5xx <= 0.01")), 0);
    assert_eq!(best(points(), with("error_rate_5xx < 0.01")), 1);
    let slo = || {
        vec![
            point(0, &[("slo_attainment", 0.95), ("pod_seconds", 10.0)]),
            point(1, &[("slo_attainment", 0.99), ("pod_seconds", 20.0)]),
        ]
    };
    let with_slo = |c: &str| Objective {
        constraints: vec![Constraint::parse(c).unwrap()],
        ..Objective::natural("pod_seconds")
    };
    assert_eq!(best(slo(), with_slo("slo_attainment >= 0.95")), 0);
    assert_eq!(best(slo(), with_slo("slo_attainment > 0.95")), 1);
}

fn tune_err(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("tune")
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn objectives_the_scenario_cannot_measure_are_errors_naming_the_key() {
    let e = tune_err(&["sweeps/kpa-bursty.yaml", "--objective", "cost"]);
    assert!(e.contains("price_per_hour") && e.contains("`cost`"), "{e}");
    let e = tune_err(&[
        "sweeps/kpa-bursty.yaml",
        "--constraint",
        "slo_attainment >= 0.9",
    ]);
    assert!(e.contains("output.slo"), "{e}");
}

#[test]
fn the_sweep_file_takes_maximize_and_check_days() {
    let dir = tempdir("spec");
    let write = |body: &str| -> Result<SweepSpec, String> {
        let p = dir.join("x.yaml");
        std::fs::write(
            &p,
            format!(
                "base: {}\n{body}",
                root().join("scenarios/quickstart.yaml").display()
            ),
        )
        .unwrap();
        SweepSpec::load(&p).map_err(|e| e.to_string())
    };
    let s = write("objective: {maximize: slo_attainment}\ncheck: [a.csv, {name: w2, set: {traffic.rate: 3}}]\n").unwrap();
    let o = s.objective.unwrap();
    assert!(o.maximize);
    assert_eq!(o.metric, "slo_attainment");
    assert_eq!(s.check.len(), 2);
    assert_eq!(s.check[0].name, "a");
    assert!(s.check[0].overrides[0].starts_with("traffic.path="));
    assert_eq!(s.check[1].overrides, ["traffic.rate=3"]);
    let e = write("objective: {maximize: slo_attainment, minimize: cost}\n").unwrap_err();
    assert!(e.contains("not both"), "{e}");
    let e = write("check: [{name: w, sett: {}}]\n").unwrap_err();
    assert!(e.contains("check[0].sett"), "{e}");
    let e = write("check: [{set: {traffic.rate: 3}}]\n").unwrap_err();
    assert!(e.contains("check[0].name"), "{e}");
}

#[test]
fn the_bundled_sweep_checks_its_answer_across_recorded_stretches() {
    let out_dir = tempdir("check");
    let out = Command::new(BIN)
        .args(["tune", "sweeps/azure-llm-slo.yaml", "-q", "--out"])
        .arg(&out_dir)
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("maximize slo_attainment subject to error_rate_5xx < 0.01"),
        "{stdout}"
    );
    assert!(stdout.contains("Check on 2 recorded periods"), "{stdout}");
    let csv = std::fs::read_to_string(out_dir.join("check.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "day,config,slo_attainment_mean,error_rate_5xx_mean,pod_seconds_mean,constraints_met"
    );
    assert_eq!(lines.len(), 5, "{csv}");
    for (line, (day, config)) in lines[1..].iter().zip([
        ("20-40m", "chosen"),
        ("20-40m", "baseline"),
        ("40-58m", "chosen"),
        ("40-58m", "baseline"),
    ]) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!((f[0], f[1]), (day, config));
        let attainment: f64 = f[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&attainment));
        let met = f[3].parse::<f64>().unwrap() < 0.01;
        assert!(f[4].parse::<f64>().unwrap() > 0.0);
        assert_eq!(f[5], met.to_string());
    }
    // The same check from the command line: one trace file, a row per configuration.
    let out_dir2 = tempdir("check2");
    let out = Command::new(BIN)
        .args(["tune", "sweeps/azure-llm-slo.yaml", "-q", "--out"])
        .arg(&out_dir2)
        .args(["--results"])
        .arg(&out_dir)
        .args(["--check-days", "traces/AzureLLMInferenceTrace_code.csv"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(out_dir2.join("check.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains("AzureLLMInferenceTrace_code,chosen,"), "{csv}");
    let _ = Path::new(&out_dir2);
}

#[test]
fn cost_is_an_objective_when_the_scenario_has_prices() {
    let dir = tempdir("cost");
    let path = dir.join("c.yaml");
    std::fs::write(
        &path,
        format!(
            "base: {}\nseeds: 1\nset: {{duration: 2m, cooldown: 0s}}\naxes:\n  service.minReplicas: [2, 6]\nobjective: {{minimize: cost}}\n",
            root().join("scenarios/cluster-two-pools-cost.yaml").display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("tune")
        .arg(&path)
        .args(["-q", "--out"])
        .arg(dir.join("out"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("minimize cost"), "{stdout}");
    assert!(stdout.contains("ties go to the lower cost"), "{stdout}");
    let spec = SweepSpec::load(&path).unwrap();
    let (_, _, rows) = sweep::read_dir(&dir.join("out")).unwrap();
    let points = results::aggregate(&rows);
    let cost = |p: &PointStats| p.mean_of("cost").unwrap();
    assert!(points.iter().all(|p| cost(p) > 0.0));
    let report = sweep::tune(
        "c",
        spec.axes.iter().map(|a| a.path.clone()).collect(),
        points.clone(),
        spec.objective.clone().unwrap(),
    );
    let best = report.best().unwrap();
    assert!(points.iter().all(|p| cost(best) <= cost(p)));
    assert!(
        stdout.contains(&format!("Set (point {}", best.point)),
        "{stdout}"
    );
}
