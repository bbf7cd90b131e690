//! Every call from the Python bindings into the podscale library, in one place.
//!
//! Calls used: `scenario::load` (a path), `scenario::load_str` (text; relative trace paths resolve
//! against the caller's folder; a sweep is still staged in a temporary file), `Simulation::from_loaded`
//! (any scenario file, as the CLI's `run` builds it: one service, or several sharing a cluster:
//! `services:`, `services_trace:`, `kserve:`, `revisions:` + `route:`), `Simulation::with_service_outputs`
//! (the per-service `services.csv` and cluster `cluster.csv` rows, into in-memory buffers as
//! `report::run_to_dir` puts them in files), `run` / `run_with_log` with `observe::output::CsvTimeseries`
//! and `sim::CsvRequestLog` over in-memory buffers (with the LLM engine columns when the pods have a KV
//! cache, as the CLI writes them), `scenario::overrides::apply_override`, `sweep::SweepSpec::parse`,
//! `sweep::execute` and `sweep::write_outputs`.
//!
//! Custom policies ([`run_with_policy`]) replace one autoscaler with `sim::AutoscalerMode::Custom`
//! holding a [`crate::policy::PolicyScaler`]: the scenario's (`scenario::prepare`, then
//! `Simulation::new`), or, in a scenario of several services, the one named service's
//! (`scenario::prepare_services`, then `Simulation::new_services`, the facade's own path for such files);
//! the other services keep theirs. The row sink ends the run when the policy fails.

use crate::policy::{PolicyScaler, ReplicaPolicy};
use podscale::observe::output::{CsvTimeseries, SecondRow, TimeseriesSink};
use podscale::scenario::{self, overrides::apply_override, LoadedScenario, ScenarioErrors};
use podscale::sim::{AutoscalerMode, CsvRequestLog, SimulationError};
use podscale::sweep;
use podscale::Simulation;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

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
    /// An argument of the call does not fit the scenario (raised as `ValueError`).
    Argument(String),
    Other(String),
}

/// What one run produced.
pub struct Outputs {
    pub summary_json: String,
    pub timeseries_csv: Vec<u8>,
    pub requests_csv: Option<Vec<u8>>,
    /// With several services: `services.csv` and `cluster.csv`, as the CLI writes them.
    pub service_tables: Option<ServiceTables>,
}

/// The per-service and cluster tables of a run of several services.
pub struct ServiceTables {
    pub services_csv: Vec<u8>,
    pub cluster_csv: Vec<u8>,
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

/// Loads a scenario (text through `scenario::load_str`, errors naming the file `<string>`).
fn load(source: &Source, overrides: &[String]) -> Result<LoadedScenario, Failure> {
    match source {
        Source::Path(path) => {
            scenario::load(path, overrides).map_err(|e| scenario_failure(e, None))
        }
        Source::Text { text, base_dir } => {
            let mut loaded = scenario::load_str(text, Path::new(STRING_NAME), base_dir, overrides)
                .map_err(|e| scenario_failure(e, None))?;
            if loaded.spec.name.is_none() {
                loaded.spec.name = Some("scenario".into());
            }
            Ok(loaded)
        }
    }
}

fn sim_failure(e: SimulationError) -> Failure {
    match e {
        SimulationError::Scenario(errors) => scenario_failure(errors, None),
        SimulationError::Sim(e) => Failure::Other(format!("simulation failed: {e}")),
    }
}

/// Forwards rows to a CSV buffer; with a policy, stops the run (with an error the caller recognises)
/// once the policy has failed.
struct Watch {
    csv: CsvTimeseries<Vec<u8>>,
    policy_failed: Option<Arc<AtomicBool>>,
}

const STOP: &str = "podscale-python: the policy failed";

impl TimeseriesSink for Watch {
    fn row(&mut self, row: &SecondRow) -> std::io::Result<()> {
        if self
            .policy_failed
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            return Err(std::io::Error::other(STOP));
        }
        self.csv.row(row)
    }
}

/// An in-memory file the simulation writes (it owns a boxed writer) and the caller reads after the run.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Runs `sim` to the end. The rows (and the per-request log) are written as the CLI writes
/// `timeseries.csv` (and `requests.csv`); with several services, `services.csv` and `cluster.csv` too.
fn simulate(
    sim: Simulation,
    per_request: bool,
    policy_failed: Option<Arc<AtomicBool>>,
) -> Result<Outputs, Failure> {
    let io = |e: std::io::Error| Failure::Other(e.to_string());
    let engine = sim.has_llm_engine();
    let (services, cluster) = (Buffer::default(), Buffer::default());
    let multi = sim.services().is_some();
    let sim = if multi {
        sim.with_service_outputs(Box::new(services.clone()), Box::new(cluster.clone()), None)
            .map_err(sim_failure)?
    } else {
        sim
    };
    let mut watch = Watch {
        csv: CsvTimeseries::with_engine_columns(Vec::new(), engine).map_err(io)?,
        policy_failed,
    };
    let mut log = if per_request {
        Some(CsvRequestLog::with_llm_columns(Vec::new(), engine).map_err(io)?)
    } else {
        None
    };
    let result = match log.as_mut() {
        Some(log) => sim.run_with_log(&mut watch, log),
        None => sim.run(&mut watch),
    };
    if watch
        .policy_failed
        .as_ref()
        .is_some_and(|f| f.load(Ordering::Relaxed))
    {
        return Err(Failure::Policy);
    }
    let summary = result.map_err(sim_failure)?;
    let summary_json =
        serde_json::to_string(&summary).map_err(|e| Failure::Other(e.to_string()))?;
    Ok(Outputs {
        summary_json,
        timeseries_csv: watch.csv.into_inner(),
        requests_csv: log.map(|l| l.into_inner()),
        service_tables: multi.then(|| ServiceTables {
            services_csv: services.take(),
            cluster_csv: cluster.take(),
        }),
    })
}

/// Runs a scenario (one service or several) with `--set` style overrides, as `podscale run` does.
pub fn run(
    source: &Source,
    overrides: &[String],
    seed: Option<u64>,
    per_request: bool,
) -> Result<Outputs, Failure> {
    let loaded = load(source, overrides)?;
    let sim = Simulation::from_loaded(&loaded, seed).map_err(sim_failure)?;
    simulate(sim, per_request, None)
}

/// Runs a scenario with `policy` in place of an autoscaler, through the simulator's public scaler
/// interface (`AutoscalerMode::Custom`, see [`crate::policy`]): one simulation, on the traffic and seed the
/// scenario's own autoscaler would get, so a comparison with it uses common random numbers.
///
/// In a scenario of several services (they share a cluster, and with `revisions:` a route), the policy
/// scales the service (or revision) named `service` and every other keeps its own autoscaler; a
/// single-service scenario takes no `service`.
pub fn run_with_policy<P: ReplicaPolicy + 'static>(
    source: &Source,
    overrides: &[String],
    seed: Option<u64>,
    per_request: bool,
    policy: P,
    initial_replicas: u32,
    service: Option<&str>,
) -> Result<Outputs, Failure> {
    let loaded = load(source, overrides)?;
    let failed = Arc::new(AtomicBool::new(false));
    let scaler = AutoscalerMode::Custom(Box::new(PolicyScaler::new(
        policy,
        initial_replicas,
        failed.clone(),
    )));
    let scenario_err = |e| scenario_failure(e, None);
    let sim = if scenario::services::is_multi(&loaded.document) {
        let mut prepared = scenario::prepare_services(&loaded, seed).map_err(scenario_err)?;
        let names: Vec<&str> = prepared.services.iter().map(|s| s.name.as_str()).collect();
        let listed = names.join(", ");
        let Some(name) = service else {
            return Err(Failure::Argument(format!(
                "{} runs {} services sharing a cluster; a policy replaces one service's autoscaler: \
                 name it with policy_service= (one of: {listed})",
                loaded.path.display(),
                names.len()
            )));
        };
        let Some(target) = prepared.services.iter_mut().find(|s| s.name == name) else {
            return Err(Failure::Argument(format!(
                "policy_service={name:?} is not a service of {}; allowed: {listed}",
                loaded.path.display()
            )));
        };
        target.prepared.config.standalone_cron = None;
        target.prepared.config.autoscaler = scaler;
        // As `Simulation::from_loaded` builds a file of several services.
        let interval_s = loaded.spec.output.service_interval.whole_secs();
        let document = serde_json::to_value(&loaded.document).unwrap_or_default();
        Simulation::new_services(&loaded.name(), prepared, interval_s)
            .map_err(sim_failure)?
            .with_output(loaded.spec.output.clone())
            .with_effective_config(document)
    } else {
        if let Some(name) = service {
            return Err(Failure::Argument(format!(
                "policy_service={name:?} names a service of a scenario of several services; {} has one \
                 (leave policy_service out)",
                loaded.path.display()
            )));
        }
        let mut prepared = scenario::prepare(&loaded, seed).map_err(scenario_err)?;
        prepared.config.standalone_cron = None;
        prepared.config.autoscaler = scaler;
        Simulation::new(prepared)
            .map_err(sim_failure)?
            .with_output(loaded.spec.output.clone())
    };
    simulate(sim, per_request, Some(failed))
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
