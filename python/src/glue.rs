//! Every call from the Python bindings into the podscale library, in one place.
//!
//! Calls used: `scenario::load` (a path), `scenario::load_str` (text; relative trace paths resolve
//! against the caller's folder; a sweep is still staged in a temporary file), `scenario::prepare` (the
//! bindings may replace the autoscaler before the run), `Simulation::new` and `run` / `run_with_log`
//! with `observe::output::CsvTimeseries` and `sim::CsvRequestLog` over in-memory buffers,
//! `scenario::overrides::apply_override`, `sweep::SweepSpec::parse`, `sweep::execute` and
//! `sweep::write_outputs`.
//!
//! Custom policies ([`run_with_policy`]) replace the scenario's autoscaler with
//! `sim::AutoscalerMode::Custom` holding a [`crate::policy::PolicyScaler`]; the row sink ends the run when
//! the policy fails.

use crate::policy::{PolicyScaler, ReplicaPolicy};
use podscale::scenario::{self, overrides::apply_override, LoadedScenario, ScenarioErrors};
use podscale::observe::output::{CsvTimeseries, SecondRow, TimeseriesSink};
use podscale::sim::{AutoscalerMode, CsvRequestLog};
use podscale::Simulation;
use podscale::sweep;
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
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

/// Forwards rows to a CSV buffer; with a policy, stops the run (with an error the caller recognises)
/// once the policy has failed.
struct Watch {
    csv: CsvTimeseries<Vec<u8>>,
    policy_failed: Option<Rc<Cell<bool>>>,
}

const STOP: &str = "podscale-python: the policy failed";

impl TimeseriesSink for Watch {
    fn row(&mut self, row: &SecondRow) -> std::io::Result<()> {
        if self.policy_failed.as_ref().is_some_and(|f| f.get()) {
            return Err(std::io::Error::other(STOP));
        }
        self.csv.row(row)
    }
}

/// One run.
fn simulate(
    prepared: scenario::Prepared,
    per_request: bool,
    watch: &mut Watch,
) -> Result<(String, Option<Vec<u8>>), Failure> {
    let mut log = if per_request {
        Some(CsvRequestLog::new(Vec::new()).map_err(|e| Failure::Other(e.to_string()))?)
    } else {
        None
    };
    let result = Simulation::new(prepared).and_then(|sim| match log.as_mut() {
        Some(log) => sim.run_with_log(watch, log),
        None => sim.run(watch),
    });
    if watch.policy_failed.as_ref().is_some_and(|f| f.get()) {
        return Err(Failure::Policy);
    }
    let summary = result.map_err(|e| Failure::Other(format!("simulation failed: {e}")))?;
    let json = serde_json::to_string(&summary).map_err(|e| Failure::Other(e.to_string()))?;
    Ok((json, log.map(|l| l.into_inner())))
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
        policy_failed: None,
    };
    let (summary_json, requests_csv) = simulate(prepared, per_request, &mut watch)?;
    Ok(Outputs {
        summary_json,
        timeseries_csv: watch.csv.into_inner(),
        requests_csv,
    })
}

/// Runs a scenario with `policy` in place of its autoscaler, through the simulator's public scaler
/// interface (`AutoscalerMode::Custom`, see [`crate::policy`]): one simulation, on the traffic and seed the
/// scenario's own autoscaler would get, so a comparison with it uses common random numbers.
pub fn run_with_policy<P: ReplicaPolicy + 'static>(
    source: &Source,
    overrides: &[String],
    seed: Option<u64>,
    per_request: bool,
    policy: P,
    initial_replicas: u32,
) -> Result<Outputs, Failure> {
    let (_, mut prepared) = prepare(source, overrides, seed)?;
    let failed = Rc::new(Cell::new(false));
    prepared.config.standalone_cron = None;
    prepared.config.autoscaler = AutoscalerMode::Custom(Box::new(PolicyScaler::new(
        policy,
        initial_replicas,
        failed.clone(),
    )));
    let mut watch = Watch {
        csv: new_csv()?,
        policy_failed: Some(failed),
    };
    let (summary_json, requests_csv) = simulate(prepared, per_request, &mut watch)?;
    Ok(Outputs {
        summary_json,
        timeseries_csv: watch.csv.into_inner(),
        requests_csv,
    })
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
