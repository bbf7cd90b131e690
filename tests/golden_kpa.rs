//! Golden harness for the KPA models: replays the reference decisions of the real Knative autoscaler
//! (`testdata/golden/kpa_*`, provenance in `testdata/golden/README.md`) through podscale's models.
//!
//! Prints one line per file, `golden FILE: N/M match` (run with `--nocapture` to see it), where N/M counts
//! cases (kpa_table), op sequences (kpa_aggregation) or scenarios (kpa_stream). A case matches when every
//! compared value matches: integers and booleans exactly, floats to 1e-9 relative. The test fails listing the
//! first mismatches with expected and actual values.
//!
//! Files in the directory named by `PODSCALE_EXTRA_GOLDEN` whose names start with `kpa_table`,
//! `kpa_aggregation` or `kpa_stream` are run exactly like their namesakes.

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;

use podscale::autoscaler::kpa::aggregation::smoothing_coefficient;
use podscale::autoscaler::kpa::{
    AggregationAlgorithm, Decider, DeciderSpec, MetricCollector, NoData, ScaleReason,
    ScalingMetric, TimeWindowMax, TimedFloat64Buckets,
};
use podscale::time::{SimDuration, SimTime};
use serde::Deserialize;

/// Simulated instant standing for the files' T0: a multiple of 2 s and 15 s, as the files require, and far
/// enough from 0 that negative offsets (a panic started before T0) stay representable.
const T0_SECS: i64 = 1_000_000_020;
const MAX_REPORTED_MISMATCHES: usize = 15;

fn at(t_s: f64) -> SimTime {
    let nanos = T0_SECS as i128 * 1_000_000_000 + (t_s * 1e9).round() as i128;
    SimTime(nanos as u64)
}

fn secs(s: f64) -> SimDuration {
    SimDuration::from_secs_f64(s)
}

fn floats_match(expected: f64, actual: f64) -> bool {
    expected == actual || (expected - actual).abs() <= 1e-9 * expected.abs().max(actual.abs())
}

/// Collects mismatches for one case.
#[derive(Default)]
struct Checker {
    mismatches: Vec<String>,
}

impl Checker {
    fn exact<T: PartialEq + Debug>(&mut self, at: &str, field: &str, expected: T, actual: T) {
        if expected != actual {
            self.mismatches.push(format!(
                "{at}: {field} expected {expected:?}, actual {actual:?}"
            ));
        }
    }
    fn float(&mut self, at: &str, field: &str, expected: f64, actual: f64) {
        if !floats_match(expected, actual) {
            self.mismatches.push(format!(
                "{at}: {field} expected {expected:?}, actual {actual:?}"
            ));
        }
    }
}

/// Runs `run` on the built-in file and every extra file with `prefix`, prints the summary lines, and fails
/// with the first mismatches.
fn run_golden(builtin: &str, prefix: &str, run: fn(&Path) -> (usize, usize, Vec<String>)) {
    let files = common::golden_files(builtin, prefix);
    let mut failures = Vec::new();
    for file in files {
        let (matched, total, mismatches) = run(&file);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        println!("golden {name}: {matched}/{total} match");
        failures.extend(mismatches.into_iter().map(|m| format!("{name}: {m}")));
    }
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(MAX_REPORTED_MISMATCHES).collect();
        panic!(
            "{} golden mismatches; first ones:\n{}",
            failures.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn metric(name: &str) -> ScalingMetric {
    match name {
        "concurrency" => ScalingMetric::Concurrency,
        "rps" => ScalingMetric::Rps,
        other => panic!("unknown scaling metric {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// kpa_table

#[derive(Deserialize)]
struct TableFile {
    cases: Vec<TableCase>,
}

#[derive(Deserialize)]
struct TableCase {
    name: String,
    config: TableConfig,
    creation: Creation,
    initial_state: PanicState,
    pre_state: Option<PreState>,
    steps: Vec<TableStep>,
}

#[derive(Deserialize, Clone)]
struct TableConfig {
    target_value: f64,
    total_value: f64,
    target_burst_capacity: f64,
    panic_threshold: f64,
    max_scale_up_rate: f64,
    max_scale_down_rate: f64,
    activator_capacity: f64,
    stable_window_s: f64,
    scale_down_delay_s: f64,
    reachable: bool,
    activation_scale: i32,
    scaling_metric: String,
}

impl TableConfig {
    fn spec(&self) -> DeciderSpec {
        DeciderSpec {
            target_value: self.target_value,
            total_value: self.total_value,
            target_burst_capacity: self.target_burst_capacity,
            panic_threshold: self.panic_threshold,
            max_scale_up_rate: self.max_scale_up_rate,
            max_scale_down_rate: self.max_scale_down_rate,
            activator_capacity: self.activator_capacity,
            stable_window: secs(self.stable_window_s),
            scale_down_delay: secs(self.scale_down_delay_s),
            reachable: self.reachable,
            activation_scale: self.activation_scale,
            scaling_metric: metric(&self.scaling_metric),
        }
    }
}

#[derive(Deserialize)]
struct Creation {
    ready_pods: u32,
    #[serde(default)]
    ready_count_error: bool,
}

#[derive(Deserialize)]
struct PanicState {
    in_panic: bool,
    max_panic_pods: i32,
}

#[derive(Deserialize)]
struct PreState {
    in_panic: bool,
    panic_time_s: f64,
    max_panic_pods: i32,
}

#[derive(Deserialize)]
struct TableStep {
    t_s: f64,
    ready_pods: u32,
    observed_stable: f64,
    observed_panic: f64,
    #[serde(default)]
    metrics_error: bool,
    #[serde(default)]
    ready_count_error: bool,
    update_spec_before_scale: Option<TableConfig>,
    expect: TableExpect,
}

#[derive(Deserialize)]
struct TableExpect {
    scale_valid: bool,
    desired_pod_count: i32,
    excess_burst_capacity: i32,
    in_panic: bool,
    max_panic_pods: i32,
}

fn run_table(path: &Path) -> (usize, usize, Vec<String>) {
    let file: TableFile =
        serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut matched = 0;
    let mut mismatches = Vec::new();
    for case in &file.cases {
        let mut check = Checker::default();
        // A failed pod count at creation counts as 0 ready pods, as Knative does.
        let created_ready = if case.creation.ready_count_error {
            0
        } else {
            case.creation.ready_pods
        };
        let mut decider = Decider::new(case.config.spec(), at(0.0), created_ready);
        let here = format!("case {:?} creation", case.name);
        check.exact(
            &here,
            "in_panic",
            case.initial_state.in_panic,
            decider.in_panic(),
        );
        check.exact(
            &here,
            "max_panic_pods",
            case.initial_state.max_panic_pods,
            decider.max_panic_pods(),
        );
        if let Some(pre) = &case.pre_state {
            decider.set_panic_state(
                pre.in_panic.then(|| at(pre.panic_time_s)),
                pre.max_panic_pods,
            );
        }
        for (i, step) in case.steps.iter().enumerate() {
            if let Some(update) = &step.update_spec_before_scale {
                decider.update(update.spec());
            }
            let result = if step.ready_count_error {
                // The pod lister failed: Scale returns invalid before reading metrics or touching state.
                decider.invalid(ScaleReason::ReadyCountUnavailable)
            } else {
                let observed = if step.metrics_error {
                    Err(NoData)
                } else {
                    Ok((step.observed_stable, step.observed_panic))
                };
                decider.scale(at(step.t_s), step.ready_pods, observed)
            };
            let here = format!("case {:?} step {i} (t={}s)", case.name, step.t_s);
            let e = &step.expect;
            check.exact(&here, "valid", e.scale_valid, result.valid);
            check.exact(
                &here,
                "desired_pod_count",
                e.desired_pod_count,
                result.desired_pod_count,
            );
            check.exact(
                &here,
                "excess_burst_capacity",
                e.excess_burst_capacity,
                result.excess_burst_capacity,
            );
            check.exact(&here, "in_panic", e.in_panic, result.in_panic);
            check.exact(
                &here,
                "max_panic_pods",
                e.max_panic_pods,
                result.max_panic_pods,
            );
        }
        if check.mismatches.is_empty() {
            matched += 1;
        }
        mismatches.extend(check.mismatches);
    }
    (matched, file.cases.len(), mismatches)
}

#[test]
fn golden_kpa_table() {
    run_golden("kpa_table.yaml", "kpa_table", run_table);
}

// ---------------------------------------------------------------------------------------------------------
// kpa_aggregation

#[derive(Deserialize)]
struct AggregationFile {
    sequences: Vec<Sequence>,
}

#[derive(Deserialize)]
struct Sequence {
    name: String,
    ops: Vec<Op>,
}

#[derive(Deserialize)]
struct Op {
    op: String,
    kind: Option<String>,
    window_s: Option<f64>,
    granularity_s: Option<f64>,
    t_s: Option<f64>,
    value: Option<f64>,
    num_buckets: Option<usize>,
    result: Option<serde_yaml::Value>,
}

impl Op {
    fn field<T: Copy>(&self, value: Option<T>, name: &str) -> T {
        value.unwrap_or_else(|| panic!("op {:?} lacks {name}", self.op))
    }
    fn result_f64(&self) -> Option<f64> {
        self.result.as_ref().and_then(|r| r.as_f64())
    }
    fn result_num_buckets(&self) -> Option<usize> {
        self.result
            .as_ref()
            .and_then(|r| r.get("num_buckets"))
            .and_then(|n| n.as_u64())
            .map(|n| n as usize)
    }
}

fn run_aggregation(path: &Path) -> (usize, usize, Vec<String>) {
    let file: AggregationFile =
        serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut matched = 0;
    let mut mismatches = Vec::new();
    for sequence in &file.sequences {
        let mut check = Checker::default();
        let mut buckets: Option<TimedFloat64Buckets> = None;
        let mut max_window: Option<TimeWindowMax> = None;
        // Knative's ResizeWindow reads the wall clock, which in these tests is about the latest op time.
        let mut latest_t = 0.0f64;
        for (i, op) in sequence.ops.iter().enumerate() {
            if let Some(t) = op.t_s {
                latest_t = latest_t.max(t);
            }
            let here = format!("sequence {:?} op {i} ({})", sequence.name, op.op);
            let need_buckets = |b: &Option<TimedFloat64Buckets>| -> TimedFloat64Buckets {
                b.clone()
                    .unwrap_or_else(|| panic!("{here}: no buckets created"))
            };
            match op.op.as_str() {
                "compute_smoothing_coeff" => {
                    let expected = op.result_f64().expect("result");
                    let nb = op.field(op.num_buckets, "num_buckets");
                    check.float(&here, "coefficient", expected, smoothing_coefficient(nb));
                }
                "new" => {
                    let algorithm = match op.kind.as_deref() {
                        Some("linear") => AggregationAlgorithm::Linear,
                        Some("weighted") => AggregationAlgorithm::WeightedExponential,
                        other => panic!("{here}: unknown kind {other:?}"),
                    };
                    let created = TimedFloat64Buckets::new(
                        secs(op.field(op.window_s, "window_s")),
                        secs(op.field(op.granularity_s, "granularity_s")),
                        algorithm,
                    );
                    if let Some(expected) = op.result_num_buckets() {
                        check.exact(&here, "num_buckets", expected, created.num_buckets());
                    }
                    buckets = Some(created);
                }
                "record" => {
                    let b = buckets.as_mut().expect("buckets");
                    b.record(at(op.field(op.t_s, "t_s")), op.field(op.value, "value"));
                }
                "window_average" => {
                    let b = need_buckets(&buckets);
                    let actual = b.window_average(at(op.field(op.t_s, "t_s")));
                    check.float(&here, "average", op.result_f64().expect("result"), actual);
                }
                "is_empty" => {
                    let b = need_buckets(&buckets);
                    let expected = op.result.as_ref().and_then(|r| r.as_bool()).expect("bool");
                    check.exact(
                        &here,
                        "is_empty",
                        expected,
                        b.is_empty(at(op.field(op.t_s, "t_s"))),
                    );
                }
                "sum_valid_buckets" => {
                    let b = need_buckets(&buckets);
                    let mut sum = 0.0;
                    b.for_each_valid_bucket(at(op.field(op.t_s, "t_s")), |_, v| sum += v);
                    check.float(&here, "sum", op.result_f64().expect("result"), sum);
                }
                "nonzero_buckets" => {
                    let b = need_buckets(&buckets);
                    let mut actual = BTreeMap::new();
                    b.for_each_valid_bucket(at(op.field(op.t_s, "t_s")), |time, v| {
                        if v != 0.0 {
                            let offset = time.as_nanos() as i128 / 1_000_000_000 - T0_SECS as i128;
                            actual.insert(offset.to_string(), v);
                        }
                    });
                    let expected: BTreeMap<String, f64> = op
                        .result
                        .as_ref()
                        .and_then(|r| r.as_mapping())
                        .expect("map")
                        .iter()
                        .map(|(k, v)| {
                            let key = match k {
                                serde_yaml::Value::String(s) => s.clone(),
                                other => format!("{}", other.as_i64().expect("bucket key")),
                            };
                            (key, v.as_f64().expect("bucket value"))
                        })
                        .collect();
                    let same = expected.len() == actual.len()
                        && expected
                            .iter()
                            .all(|(k, v)| actual.get(k).is_some_and(|a| floats_match(*v, *a)));
                    if !same {
                        check.exact(
                            &here,
                            "buckets",
                            format!("{expected:?}"),
                            format!("{actual:?}"),
                        );
                    }
                }
                "resize" => {
                    let b = buckets.as_mut().expect("buckets");
                    b.resize_window(secs(op.field(op.window_s, "window_s")), at(latest_t));
                    if let Some(expected) = op.result_num_buckets() {
                        check.exact(&here, "num_buckets", expected, b.num_buckets());
                    }
                }
                "smoothing_coeff" => {
                    let b = need_buckets(&buckets);
                    check.float(
                        &here,
                        "coefficient",
                        op.result_f64().expect("result"),
                        b.smoothing_coeff(),
                    );
                }
                "new_max_time_window" => {
                    max_window = Some(TimeWindowMax::new(
                        secs(op.field(op.window_s, "window_s")),
                        secs(op.field(op.granularity_s, "granularity_s")),
                    ));
                }
                "max_record_then_current" => {
                    let w = max_window.as_mut().expect("max window");
                    w.record(
                        at(op.field(op.t_s, "t_s")),
                        op.field(op.value, "value") as i32,
                    );
                    let expected = op.result_f64().expect("result") as i32;
                    check.exact(&here, "current", expected, w.current());
                }
                other => panic!("{here}: unknown op {other:?}"),
            }
        }
        if check.mismatches.is_empty() {
            matched += 1;
        }
        mismatches.extend(check.mismatches);
    }
    (matched, file.sequences.len(), mismatches)
}

#[test]
fn golden_kpa_aggregation() {
    run_golden("kpa_aggregation.yaml", "kpa_aggregation", run_aggregation);
}

// ---------------------------------------------------------------------------------------------------------
// kpa_stream

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum StreamLine {
    Scenario { scenario: Scenario },
    Init(InitLine),
    Sec(SecLine),
}

#[derive(Deserialize)]
struct Scenario {
    id: u64,
    scaling_metric: String,
    aggregation: String,
    target_value: f64,
    total_value: f64,
    target_burst_capacity: f64,
    panic_threshold_fraction: f64,
    stable_window_s: f64,
    panic_window_s: f64,
    max_scale_up_rate: f64,
    max_scale_down_rate: f64,
    activation_scale: i32,
    scale_down_delay_s: f64,
    reachable: bool,
    scrape_target_set: bool,
    initial_ready_pods: u32,
    t0_unix: u64,
}

#[derive(Deserialize)]
struct InitLine {
    scenario_id: u64,
    in_panic: bool,
    max_panic_pods: i32,
}

#[derive(Deserialize)]
struct SecLine {
    scenario_id: u64,
    t: u64,
    ready_pods: u32,
    records: Option<Vec<StreamRecord>>,
    scale: Option<StreamScale>,
}

#[derive(Deserialize)]
struct StreamRecord {
    concurrency: f64,
    rps: f64,
    offset_ms: u64,
}

#[derive(Deserialize)]
struct StreamScale {
    valid: bool,
    desired_pod_count: i32,
    excess_burst_capacity: i32,
    in_panic: bool,
    max_panic_pods: i32,
    observed_stable: Option<f64>,
    observed_panic: Option<f64>,
    metrics_error: Option<String>,
}

/// The stream generator created each decider at its own wall clock, years after the streams' `t0_unix`, so a
/// decider that starts in panic (more than one ready pod) keeps that panic until a tick is over the threshold
/// again: its panic start lies in the future of every tick. Creating the decider this far after T0 reproduces
/// that; with creation at T0 the six scenarios that start with 3 ready pods and never re-enter panic leave
/// panic after one stable window instead.
const GENERATOR_CREATION_LEAD: SimDuration = SimDuration::from_secs(100 * 365 * 24 * 3600);

struct StreamRun {
    id: u64,
    t0: SimTime,
    ready_pods: u32,
    collector: MetricCollector,
    decider: Decider,
    check: Checker,
}

fn run_stream(path: &Path) -> (usize, usize, Vec<String>) {
    let text = read(path);
    let mut runs: Vec<StreamRun> = Vec::new();
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parsed: StreamLine = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), line_no + 1));
        match parsed {
            StreamLine::Scenario { scenario: s } => {
                let t0 = SimTime::from_secs(s.t0_unix);
                let algorithm = match s.aggregation.as_str() {
                    "linear" => AggregationAlgorithm::Linear,
                    "weighted-exponential" => AggregationAlgorithm::WeightedExponential,
                    other => panic!("unknown aggregation {other:?}"),
                };
                let spec = DeciderSpec {
                    target_value: s.target_value,
                    total_value: s.total_value,
                    target_burst_capacity: s.target_burst_capacity,
                    panic_threshold: s.panic_threshold_fraction,
                    max_scale_up_rate: s.max_scale_up_rate,
                    max_scale_down_rate: s.max_scale_down_rate,
                    activator_capacity: 100.0,
                    stable_window: secs(s.stable_window_s),
                    scale_down_delay: secs(s.scale_down_delay_s),
                    reachable: s.reachable,
                    activation_scale: s.activation_scale,
                    scaling_metric: metric(&s.scaling_metric),
                };
                runs.push(StreamRun {
                    id: s.id,
                    t0,
                    ready_pods: s.initial_ready_pods,
                    collector: MetricCollector::new(
                        spec.scaling_metric,
                        algorithm,
                        secs(s.stable_window_s),
                        secs(s.panic_window_s),
                        s.scrape_target_set,
                    ),
                    decider: Decider::new(spec, t0 + GENERATOR_CREATION_LEAD, s.initial_ready_pods),
                    check: Checker::default(),
                });
            }
            StreamLine::Init(init) => {
                let run = runs
                    .iter_mut()
                    .find(|r| r.id == init.scenario_id)
                    .expect("init before its scenario");
                let here = format!("scenario {} init", run.id);
                run.check
                    .exact(&here, "in_panic", init.in_panic, run.decider.in_panic());
                let actual = run.decider.max_panic_pods();
                run.check
                    .exact(&here, "max_panic_pods", init.max_panic_pods, actual);
            }
            StreamLine::Sec(sec) => {
                let run = runs
                    .iter_mut()
                    .find(|r| r.id == sec.scenario_id)
                    .expect("sec before its scenario");
                run.ready_pods = sec.ready_pods;
                let second = run.t0 + SimDuration::from_secs(sec.t);
                for record in sec.records.iter().flatten() {
                    let when = second + SimDuration::from_millis(record.offset_ms);
                    run.collector
                        .record_totals(when, record.concurrency, record.rps);
                }
                let Some(expected) = sec.scale else { continue };
                let observed = run.collector.stable_and_panic(second);
                let result = run.decider.scale(second, run.ready_pods, observed);
                let here = format!("scenario {} t={}", run.id, sec.t);
                let check = &mut run.check;
                check.exact(&here, "valid", expected.valid, result.valid);
                check.exact(
                    &here,
                    "desired_pod_count",
                    expected.desired_pod_count,
                    result.desired_pod_count,
                );
                check.exact(
                    &here,
                    "excess_burst_capacity",
                    expected.excess_burst_capacity,
                    result.excess_burst_capacity,
                );
                check.exact(&here, "in_panic", expected.in_panic, result.in_panic);
                check.exact(
                    &here,
                    "max_panic_pods",
                    expected.max_panic_pods,
                    result.max_panic_pods,
                );
                match (&expected.metrics_error, observed) {
                    (Some(_), Err(NoData)) => {}
                    (Some(message), Ok(values)) => check.exact(
                        &here,
                        "metrics",
                        format!("error {message:?}"),
                        format!("{values:?}"),
                    ),
                    (None, Err(NoData)) => {
                        check.exact(&here, "metrics", "values", "no data available")
                    }
                    (None, Ok((stable, panic))) => {
                        if let Some(e) = expected.observed_stable {
                            check.float(&here, "observed_stable", e, stable);
                        }
                        if let Some(e) = expected.observed_panic {
                            check.float(&here, "observed_panic", e, panic);
                        }
                    }
                }
            }
        }
    }
    let total = runs.len();
    let matched = runs
        .iter()
        .filter(|r| r.check.mismatches.is_empty())
        .count();
    let mismatches = runs.into_iter().flat_map(|r| r.check.mismatches).collect();
    (matched, total, mismatches)
}

#[test]
fn golden_kpa_stream() {
    run_golden("kpa_stream.jsonl", "kpa_stream", run_stream);
}
