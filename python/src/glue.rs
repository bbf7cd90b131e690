//! Every call from the Python bindings into the podscale library, in one place so that it can be moved
//! to the library facade (issue 11 item 6) in one edit.
//!
//! Calls used today: `scenario::load` (a path), `scenario::load_str` (text; relative trace paths resolve
//! against the caller's folder; a sweep is still staged in a temporary file), `scenario::prepare`,
//! `sim::run_with_request_log` with `observe::output::CsvTimeseries` and `sim::CsvRequestLog` over in-memory
//! buffers, `scenario::overrides::apply_override`, `sweep::SweepSpec::parse`, `sweep::execute` and
//! `sweep::write_outputs`.
//!
//! Custom policies ([`run_with_policy`]) have no hook in the simulator yet, so they are run through the
//! one public way to change the replica count from outside: the scenario's autoscaler becomes `fixed`
//! with a CronHPA whose one-shot jobs (`runOnce`, seconds-precise cron times) write each decision at its
//! exact simulated time. The run is watched through the row sink; when the policy asks for a new count,
//! the run stops, the decision is added as a job and the scenario runs again from the start. Runs are
//! deterministic, so the replayed prefix is identical and the policy is asked once per period, in order.
//! Cost: one partial run per change of the decision. Semantics of that path: no activator (the deployment
//! is driven directly, as for `class: fixed`), so 0 replicas means requests fail, not wait.

use crate::policy::{ReplicaPolicy, View};
use podscale::scenario::{self, overrides::apply_override, LoadedScenario, ScenarioErrors};
use podscale::observe::output::CsvTimeseries;
use podscale::sim::{self, CsvRequestLog, SecondRow, TimeseriesSink};
use podscale::sweep;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a scenario (or sweep) comes from.
pub enum Source {
    Path(PathBuf),
    /// YAML text; relative paths inside resolve against `base_dir`; errors name the file `<string>`.
    Text {
        text: String,
        base_dir: PathBuf,
    },
}

/// One located problem: file, line (1-based, when known), dotted key, message.
pub type Located = (String, Option<usize>, String, String);

pub enum Failure {
    /// Invalid scenario: the full text as the CLI prints it, and each problem.
    Scenario(String, Vec<Located>),
    /// The policy raised; its implementation holds the reason.
    Policy,
    Other(String),
}

/// What one run produced.
pub struct Outputs {
    pub summary_json: String,
    pub timeseries_csv: Vec<u8>,
    pub requests_csv: Option<Vec<u8>>,
    /// Simulations run (1, or more for a custom policy).
    pub runs: u32,
}

const STRING_NAME: &str = "<string>";

struct TempDir(PathBuf);

impl TempDir {
    fn with_file(name: &str, text: &str) -> Result<(TempDir, PathBuf), Failure> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "podscale-py-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = dir.join(name);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&file, text))
            .map_err(|e| Failure::Other(format!("cannot stage the scenario text: {e}")))?;
        Ok((TempDir(dir), file))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scenario_failure(errors: ScenarioErrors, staged: Option<&Path>) -> Failure {
    let mut errors = errors;
    for e in &mut errors.0 {
        if staged.is_some_and(|s| e.file == s) {
            e.file = PathBuf::from(STRING_NAME);
        }
    }
    let items = errors
        .0
        .iter()
        .map(|e| {
            (
                e.file.display().to_string(),
                e.line,
                e.key.clone(),
                e.message.clone(),
            )
        })
        .collect();
    Failure::Scenario(errors.to_string(), items)
}

/// Loads and prepares a scenario (text through `scenario::load_str`, errors naming the file `<string>`).
fn prepare(
    source: &Source,
    overrides: &[String],
    seed: Option<u64>,
) -> Result<(LoadedScenario, scenario::Prepared), Failure> {
    match source {
        Source::Path(path) => {
            let loaded = scenario::load(path, overrides).map_err(|e| scenario_failure(e, None))?;
            let prepared =
                scenario::prepare(&loaded, seed).map_err(|e| scenario_failure(e, None))?;
            Ok((loaded, prepared))
        }
        Source::Text { text, base_dir } => {
            let mut loaded =
                scenario::load_str(text, Path::new(STRING_NAME), base_dir, overrides)
                    .map_err(|e| scenario_failure(e, None))?;
            if loaded.spec.name.is_none() {
                loaded.spec.name = Some("scenario".into());
            }
            let prepared =
                scenario::prepare(&loaded, seed).map_err(|e| scenario_failure(e, None))?;
            Ok((loaded, prepared))
        }
    }
}

/// Forwards rows to a CSV buffer and, with a policy, asks it at each period boundary; stops the run
/// (with an error the caller recognises) when the policy changes its decision.
struct Watch<'a> {
    csv: CsvTimeseries<Vec<u8>>,
    policy: Option<&'a mut dyn ReplicaPolicy>,
    /// Rows up to this time were seen in an earlier run; they are replayed, not shown again.
    asked_until: u64,
    current: u32,
    change: Option<(u64, u32)>,
    failed: bool,
}

const STOP: &str = "podscale-python: policy decision changed";

impl TimeseriesSink for Watch<'_> {
    fn row(&mut self, row: &SecondRow) -> std::io::Result<()> {
        self.csv.row(row)?;
        let Some(policy) = self.policy.as_deref_mut() else {
            return Ok(());
        };
        let t = row.time_s;
        if t <= self.asked_until {
            return Ok(()); // replayed: seen in an earlier run
        }
        let view = view(row);
        if policy.observe(&view).is_err() {
            self.failed = true;
            return Err(std::io::Error::other(STOP));
        }
        if t % policy.period_s().max(1) != 0 {
            return Ok(());
        }
        // A stop happens only at a decision, so every row up to it has been observed.
        self.asked_until = t;
        match policy.decide(&view) {
            Ok(n) if n == self.current => Ok(()),
            Ok(n) => {
                self.change = Some((t, n));
                Err(std::io::Error::other(STOP))
            }
            Err(_) => {
                self.failed = true;
                Err(std::io::Error::other(STOP))
            }
        }
    }
}

fn view(row: &SecondRow) -> View {
    View {
        now_s: row.time_s,
        arrivals: row.arrivals,
        completions: row.completions,
        failures: row.failures,
        in_flight: row.in_flight,
        activator_queue: row.activator_queue,
        queue_proxy_queue: row.queue_proxy_queue,
        ready_pods: row.ready_pods,
        pending_pods: row.pending_pods,
        starting_pods: row.starting_pods,
        terminating_pods: row.terminating_pods,
        latency_p50_ms: row.latency_p50_ms,
        latency_p99_ms: row.latency_p99_ms,
        cpu_utilization: row.cpu_utilization,
    }
}

/// One run; `Ok(None)` when a policy changed its decision and the run was stopped.
fn simulate(
    prepared: scenario::Prepared,
    per_request: bool,
    watch: &mut Watch<'_>,
) -> Result<Option<(String, Option<Vec<u8>>)>, Failure> {
    let mut log = if per_request {
        Some(CsvRequestLog::new(Vec::new()).map_err(|e| Failure::Other(e.to_string()))?)
    } else {
        None
    };
    let result = sim::run_with_request_log(
        prepared.config,
        prepared.traffic,
        watch,
        log.as_mut().map(|l| l as &mut dyn sim::RequestLog),
    );
    if watch.failed {
        return Err(Failure::Policy);
    }
    if watch.change.is_some() {
        return Ok(None);
    }
    let summary = result.map_err(|e| Failure::Other(format!("simulation failed: {e}")))?;
    let json = serde_json::to_string(&summary).map_err(|e| Failure::Other(e.to_string()))?;
    Ok(Some((json, log.map(|l| l.into_inner()))))
}

fn new_csv() -> Result<CsvTimeseries<Vec<u8>>, Failure> {
    CsvTimeseries::new(Vec::new()).map_err(|e| Failure::Other(e.to_string()))
}

/// Runs a scenario with `--set` style overrides.
pub fn run(
    source: &Source,
    overrides: &[String],
    seed: Option<u64>,
    per_request: bool,
) -> Result<Outputs, Failure> {
    let (_, prepared) = prepare(source, overrides, seed)?;
    let mut watch = Watch {
        csv: new_csv()?,
        policy: None,
        asked_until: 0,
        current: 0,
        change: None,
        failed: false,
    };
    let (summary_json, requests_csv) = simulate(prepared, per_request, &mut watch)?
        .ok_or_else(|| Failure::Other("run stopped without a policy".into()))?;
    Ok(Outputs {
        summary_json,
        timeseries_csv: watch.csv.into_inner(),
        requests_csv,
        runs: 1,
    })
}

/// Runs a scenario with `policy` deciding the replica count (see the module docs for how).
pub fn run_with_policy(
    source: &Source,
    overrides: &[String],
    seed: Option<u64>,
    per_request: bool,
    policy: &mut dyn ReplicaPolicy,
    initial_replicas: u32,
) -> Result<Outputs, Failure> {
    // Validate the scenario as written first, so its errors are located in the user's file.
    let (loaded, _) = prepare(source, overrides, seed)?;
    let start_text = loaded
        .spec
        .start_time
        .clone()
        .unwrap_or_else(|| "2024-01-01T00:00:00Z".into());
    let civil_start = chrono::DateTime::parse_from_rfc3339(&start_text)
        .map_err(|e| Failure::Other(format!("start_time {start_text:?}: {e}")))?
        .with_timezone(&chrono::Utc);
    let mut doc = loaded.document.clone();
    let base_dir = loaded.base_dir.clone();
    let mut decisions: Vec<(u64, u32)> = Vec::new();
    let mut asked_until = 0;
    for runs in 1.. {
        let autoscaler = policy_autoscaler(initial_replicas, &decisions, civil_start);
        doc.as_mapping_mut()
            .ok_or_else(|| Failure::Other("the scenario is not a map".into()))?
            .insert("autoscaler".into(), autoscaler);
        let text = serde_yaml::to_string(&doc).map_err(|e| Failure::Other(e.to_string()))?;
        let staged = Source::Text {
            text,
            base_dir: base_dir.clone(),
        };
        let (_, prepared) = prepare(&staged, &[], seed)?;
        let mut watch = Watch {
            csv: new_csv()?,
            policy: Some(&mut *policy),
            asked_until,
            current: decisions.last().map_or(initial_replicas, |d| d.1),
            change: None,
            failed: false,
        };
        match simulate(prepared, per_request, &mut watch)? {
            Some((summary_json, requests_csv)) => {
                return Ok(Outputs {
                    summary_json,
                    timeseries_csv: watch.csv.into_inner(),
                    requests_csv,
                    runs,
                })
            }
            None => {
                let change = watch.change.expect("stopped runs carry the change");
                asked_until = change.0;
                decisions.push(change);
            }
        }
    }
    unreachable!("the loop returns")
}

/// `autoscaler: {class: fixed, replicas, cron: {jobs: [one-shot job per decision]}}`.
fn policy_autoscaler(
    initial: u32,
    decisions: &[(u64, u32)],
    civil_start: chrono::DateTime<chrono::Utc>,
) -> serde_yaml::Value {
    use chrono::{Datelike, Timelike};
    let jobs: Vec<serde_json::Value> = decisions
        .iter()
        .enumerate()
        .map(|(i, &(t, n))| {
            let at = civil_start + chrono::Duration::seconds(t as i64);
            serde_json::json!({
                "name": format!("policy-{i}"),
                // cronhpa dialect: seconds minutes hours day-of-month month day-of-week.
                "schedule": format!("{} {} {} {} {} *", at.second(), at.minute(), at.hour(), at.day(), at.month()),
                "targetSize": n,
                "runOnce": true,
            })
        })
        .collect();
    let mut value = serde_json::json!({"class": "fixed", "replicas": initial});
    if !jobs.is_empty() {
        value["cron"] = serde_json::json!({"jobs": jobs, "time_zone": "UTC"});
    }
    serde_yaml::to_value(value).expect("plain JSON converts to YAML")
}

/// JSON (a Python dict) to block YAML, so errors in a dict scenario get useful line numbers.
pub fn yaml_from_json(json: &str) -> Result<String, Failure> {
    let value: serde_yaml::Value = serde_json::from_str(json)
        .map_err(|e| Failure::Other(format!("the scenario dict is not plain data: {e}")))?;
    serde_yaml::to_string(&value).map_err(|e| Failure::Other(e.to_string()))
}

/// The scenario with overrides applied, as YAML (what `--set` would run).
pub fn apply_overrides(text: &str, overrides: &[String]) -> Result<String, Failure> {
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| Failure::Other(format!("malformed YAML: {e}")))?;
    for o in overrides {
        apply_override(&mut doc, o).map_err(|e| Failure::Other(format!("override {o}: {e}")))?;
    }
    serde_yaml::to_string(&doc).map_err(|e| Failure::Other(e.to_string()))
}

/// Runs a sweep and returns `results.csv` and `points.csv`.
pub fn sweep(source: &Source, threads: usize) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    let (path, text) = match source {
        Source::Path(p) => (
            p.clone(),
            std::fs::read_to_string(p)
                .map_err(|e| Failure::Other(format!("cannot read {}: {e}", p.display())))?,
        ),
        // The base scenario path inside the sweep resolves against the caller's folder.
        Source::Text { text, base_dir } => (base_dir.join(STRING_NAME), text.clone()),
    };
    let spec = sweep::SweepSpec::parse(&path, &text).map_err(sweep_failure)?;
    let options = sweep::SweepOptions {
        threads,
        shard: None,
        progress: false,
    };
    let outcome = sweep::execute(&spec, &options).map_err(sweep_failure)?;
    let (dir, _) = TempDir::with_file("sweep.yaml", &text)?;
    let out = dir.0.join("out");
    sweep::write_outputs(&spec, &options, &outcome, &out).map_err(sweep_failure)?;
    let read = |name: &str| {
        std::fs::read(out.join(name)).map_err(|e| Failure::Other(format!("reading {name}: {e}")))
    };
    Ok((read("results.csv")?, read("points.csv")?))
}

fn sweep_failure(e: sweep::SweepError) -> Failure {
    let text = e.to_string();
    match e {
        sweep::SweepError::Spec {
            file, key, message, ..
        } => Failure::Scenario(text, vec![(file.display().to_string(), None, key, message)]),
        sweep::SweepError::Scenario { errors, .. } => match scenario_failure(errors, None) {
            Failure::Scenario(_, items) => Failure::Scenario(text, items),
            other => other,
        },
        other => Failure::Other(other.to_string()),
    }
}
