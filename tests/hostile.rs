//! Issue 14's reproducers, one test each: hostile or extreme input is refused up front with the bad
//! value's key, line and allowed range; nothing aborts, hangs, fills a disk or leaves half a run.

use podscale::scenario::{self, ScenarioErrors};
use podscale::time::SimDuration;
use podscale::traffic::{inspect, TraceFormat};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("podscale-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const BASE: &str = "name: t\nduration: 10s\nservice:\n  minReplicas: 1\n  maxReplicas: 5\npod:\n  cold_start: 1s\n  service_time: 50ms\ntraffic:\n  kind: poisson\n  rate: 10\n";

/// Loads and prepares `yaml` (written to a scratch folder with `files` beside it) and returns the errors.
fn errors_of(name: &str, yaml: &str, files: &[(&str, &str)], sets: &[&str]) -> ScenarioErrors {
    let dir = scratch(name);
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let path = dir.join("s.yaml");
    std::fs::write(&path, yaml).unwrap();
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let started = Instant::now();
    let result = scenario::load(&path, &sets).and_then(|l| scenario::prepare(&l, None).map(|_| ()));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{name}: validation took {:?}",
        started.elapsed()
    );
    match result {
        Ok(()) => panic!("{name}: expected errors"),
        Err(e) => e,
    }
}

fn assert_error(errors: &ScenarioErrors, key: &str, line: Option<usize>, words: &str) {
    let found = errors.0.iter().find(|e| e.key == key);
    let Some(e) = found else {
        panic!("no error at `{key}` in:\n{errors}");
    };
    assert_eq!(e.line, line, "line of {key}: {errors}");
    assert!(
        e.message.contains(words),
        "{key}: `{words}` not in {}",
        e.message
    );
    for internal in ["Some(", "None", "Value::", "expected struct", "u32", "f64"] {
        assert!(!e.message.contains(internal), "Rust internals in: {e}");
    }
}

#[test]
fn huge_node_count_is_refused_not_allocated() {
    let yaml = format!("{BASE}cluster:\n  node_pools:\n    - {{name: a, nodes: 4294967295, cpu: 8, memory: 32Gi}}\n");
    let e = errors_of("nodes", &yaml, &[], &[]);
    assert_error(
        &e,
        "cluster.node_pools[0].nodes",
        Some(14),
        "allowed: 0 to 5000",
    );
}

#[test]
fn huge_replica_counts_are_refused() {
    let e = errors_of(
        "replicas",
        BASE,
        &[],
        &["autoscaler.class=fixed", "autoscaler.replicas=10000000"],
    );
    assert_error(&e, "autoscaler.replicas", None, "allowed: 0 to 10000");
    let yaml = BASE.replace("maxReplicas: 5", "maxReplicas: 10000000");
    assert_error(
        &errors_of("max", &yaml, &[], &[]),
        "service.maxReplicas",
        Some(5),
        "allowed: 0 to 10000",
    );
    let cron = "name: t\nduration: 10s\nautoscaler:\n  class: fixed\n  replicas: 1\n  cron:\n    jobs:\n      - {name: a, schedule: \"0 0 * * * *\", targetSize: 4}\n      - {name: b, schedule: \"0 5 * * * *\", targetSize: 99999}\ntraffic: {kind: poisson, rate: 5}\n";
    let e = errors_of("cron", cron, &[], &[]);
    assert_error(
        &e,
        "autoscaler.cron.jobs[1].targetSize",
        Some(9),
        "allowed: 0 to 10000",
    );
}

#[test]
fn endless_cooldown_is_refused_with_the_output_figure() {
    let yaml = format!("{BASE}cooldown: 100000h\n");
    let e = errors_of("cooldown", &yaml, &[], &[]);
    assert_error(&e, "cooldown", Some(12), "time-series rows");
}

#[test]
fn per_request_log_beyond_the_limit_is_refused() {
    let yaml = BASE
        .replace("rate: 10", "rate: 10000000")
        .replace("duration: 10s", "duration: 1h")
        + "output: {per_request: true}\n";
    let e = errors_of("perreq", &yaml, &[], &[]);
    assert!(
        e.0.iter()
            .any(|e| e.key == "output.per_request" && e.message.contains("GB")),
        "{e}"
    );
}

#[test]
fn trace_rates_loops_windows_and_time_scales_are_bounded() {
    let counts = [("c.csv", "time,count\n0,1e15\n60,1\n")];
    let yaml = BASE.replace(
        "  kind: poisson\n  rate: 10\n",
        "  kind: trace\n  path: c.csv\n  format: counts\n",
    );
    let e = errors_of("counts", &yaml, &counts, &[]);
    let err = &e.0[0];
    assert_eq!(err.key, "traffic.path");
    assert!(
        err.message.contains("c.csv:2") && err.message.contains("at most 10000000 req/s"),
        "{err}"
    );

    let twin = [("two.csv", "time_s\n0\n0\n")];
    let looped = BASE.replace(
        "  kind: poisson\n  rate: 10\n",
        "  kind: trace\n  path: two.csv\n  format: requests\n  loop: true\n",
    );
    assert_error(
        &errors_of("twin", &looped, &twin, &[]),
        "traffic.loop",
        Some(13),
        "minimum loop period",
    );

    let window = looped.replace("loop: true\n", "loop: true\n  window: {to: 1ns}\n");
    assert_error(
        &errors_of("window", &window, &twin, &[]),
        "traffic.loop",
        Some(13),
        "minimum loop period",
    );

    let scale = looped.replace("loop: true\n", "time_scale: 1e-300\n");
    assert_error(
        &errors_of("scale", &scale, &twin, &[]),
        "traffic.time_scale",
        Some(13),
        "0.000001 <= time_scale",
    );
}

#[test]
fn validate_reads_every_trace_row() {
    let bad = [("r.csv", "time_s,service_time_s\n0,0.1\n1,0.1\n2,oops\n")];
    let yaml = BASE.replace(
        "  kind: poisson\n  rate: 10\n",
        "  kind: trace\n  path: r.csv\n  format: requests\n",
    );
    let e = errors_of("rows", &yaml, &bad, &[]);
    assert!(
        e.0[0].message.contains("r.csv:4") && e.0[0].message.contains("service_time_s"),
        "{e}"
    );
}

#[test]
fn echoed_values_are_truncated() {
    let field = "9".repeat(1_000_000) + "x";
    let trace = format!("time_s\n0\n{field}\n");
    let yaml = BASE.replace(
        "  kind: poisson\n  rate: 10\n",
        "  kind: trace\n  path: r.csv\n  format: requests\n",
    );
    let e = errors_of("echo", &yaml, &[("r.csv", &trace)], &[]);
    assert!(
        e.to_string().len() < 1000,
        "message of {} bytes",
        e.to_string().len()
    );
}

#[test]
fn inspect_interval_and_huge_counts_are_refused() {
    let dir = scratch("inspect");
    let path = dir.join("c.csv");
    std::fs::write(&path, "time,count\n0,5\n60,1e15\n").unwrap();
    let e = inspect(&path, TraceFormat::Counts, SimDuration::from_secs(60)).unwrap_err();
    assert!(e.to_string().contains("c.csv:3"), "{e}");
    let requests =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/synthetic_bursty_requests.csv");
    let e = inspect(&requests, TraceFormat::Requests, SimDuration(1)).unwrap_err();
    assert!(e.to_string().contains("at least 1ms"), "{e}");
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    let yaml = format!(
        "name: t\nduration: 10s\nx: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let e = errors_of("deep", &yaml, &[], &[]);
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].line, Some(3));
    assert!(e.0[0].message.contains("at most 40 levels"), "{e}");
}

#[test]
fn errors_point_at_the_value_in_flow_and_nested_maps() {
    let yaml = "name: t\nduration: 10s\npod: { service_time: 5 seconds }\nrequest_path:\n  network: {x: 1}\ntraffic: {kind: poisson, rate: 10}\n";
    let e = errors_of("flow", yaml, &[], &[]);
    assert_error(&e, "pod.service_time", Some(3), "unknown unit");
    assert_error(&e, "request_path.network.x", Some(5), "unknown field");
}

#[test]
fn every_error_of_a_section_is_reported() {
    let yaml = "name: t\nduration: 10s\npod:\n  cold_start: 3 parsecs\n  service_time: 5 seconds\ntraffic: {kind: poisson, rate: 10}\n";
    let e = errors_of("several", yaml, &[], &[]);
    assert_error(&e, "pod.cold_start", Some(4), "parsecs");
    assert_error(&e, "pod.service_time", Some(5), "seconds");
    let list = "name: t\nduration: 10s\ntraffic:\n  kind: sum\n  sources:\n    - {kind: poisson, rate: 5}\n    - {kind: poisson, rate: abc}\n";
    assert_error(
        &errors_of("list", list, &[], &[]),
        "traffic.sources[1].rate",
        Some(7),
        "expected a number",
    );
}

#[test]
fn a_failing_set_is_named() {
    let e = errors_of("set", BASE, &[], &["traffic.rate=5", "pod.cold_start=xx"]);
    assert_eq!(e.0[0].key, "--set pod.cold_start=xx", "{e}");
}

#[test]
fn errors_in_a_referenced_manifest_name_its_file_and_line() {
    let manifest = "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: x\nspec:\n  predictor:\n    minReplicas: [1\n";
    let yaml = BASE.replace("service:\n", "service:\n  manifest: isvc.yaml\n");
    let e = errors_of("manifest", &yaml, &[("isvc.yaml", manifest)], &[]);
    let err =
        e.0.iter()
            .find(|e| e.key == "service.manifest")
            .expect("manifest error");
    assert!(err.message.contains("isvc.yaml:"), "{err}");
}

#[test]
fn warnings_name_what_has_no_effect() {
    let dir = scratch("warn");
    let path = dir.join("w.yaml");
    std::fs::write(
        &path,
        "name: w\nduration: 10\nservice:\n  scaleTarget: 5\n  annotations: {autoscaling.knative.dev/target: \"3\"}\nautoscaler:\n  class: kpa\n  controller: {sync_period: 15s}\ntraffic: {kind: poisson, rate: 10}\n",
    )
    .unwrap();
    let loaded = scenario::load(&path, &[]).unwrap();
    let prepared = scenario::prepare(&loaded, None).unwrap();
    let keys: Vec<(&str, Option<usize>)> = prepared
        .warnings
        .iter()
        .map(|w| (w.key.as_str(), w.line))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("duration", Some(2)),
            (
                "service.annotations.\"autoscaling.knative.dev/target\"",
                Some(5)
            ),
            ("autoscaler.controller", Some(8)),
        ]
    );
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_podscale"))
}

#[test]
fn broken_pipe_on_stdout_ends_quietly() {
    let trace =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/synthetic_bursty_requests.csv");
    let mut child = bin()
        .args([
            "trace",
            "inspect",
            trace.to_str().unwrap(),
            "--interval",
            "1s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once, like `| head -0`
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?} {stderr}", out.status);
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial") || n.ends_with(".old"))
        .collect()
}

#[test]
fn interrupted_run_leaves_the_previous_output_whole_and_no_temporaries() {
    let dir = scratch("sigint");
    let scenario = dir.join("s.yaml");
    std::fs::write(
        &scenario,
        BASE.replace("duration: 10s", "duration: 4800h")
            .replace("rate: 10", "rate: 50")
            + "output: {plots: false}\n",
    )
    .unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("summary.json"), "previous run").unwrap();
    let mut child = bin()
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while leftovers(&dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !leftovers(&dir).is_empty(),
        "the run never staged its output"
    );
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(leftovers(&dir), Vec::<String>::new());
    assert_eq!(
        std::fs::read_to_string(out.join("summary.json")).unwrap(),
        "previous run"
    );
    assert!(!out.join("timeseries.csv").exists());
}

#[test]
fn completed_run_replaces_the_folder_whole() {
    let dir = scratch("replace");
    let scenario = dir.join("s.yaml");
    std::fs::write(&scenario, BASE.to_string() + "output: {plots: false}\n").unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("stale.txt"), "from another run").unwrap();
    let refused = bin()
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "replaced a folder that is not a run folder"
    );
    assert!(out.join("stale.txt").exists());
    std::fs::write(out.join("summary.json"), "{}").unwrap();
    let status = bin()
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(out.join("summary.json").exists() && out.join("timeseries.csv").exists());
    assert!(!out.join("stale.txt").exists(), "a folder mixing two runs");
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}
