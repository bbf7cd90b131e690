//! The library facade: one [`Simulation`] built from a prepared scenario, run to completion with
//! [`Simulation::run`] or advanced piecewise with [`Simulation::step_until`], its per-second rows streamed
//! to a [`TimeseriesSink`] the caller provides.
//!
//! Any scenario file builds one: a single service, or several sharing a cluster (`services:`,
//! `services_trace:`, `kserve:`, `revisions:`; everything [`scenario::prepare_services`] takes). With
//! several services the rows the sink gets add all services up, the summary has a `services` block, and
//! the per-service (`services.csv`) and cluster (`cluster.csv`) rows go where
//! [`Simulation::with_service_outputs`] says (by default nowhere: a sweep needs only the summary).
//!
//! Time is simulated time ([`SimTime`], integer nanoseconds); nothing here reads a clock, so callers that
//! report wall time measure it around the calls. Stepping changes nothing in the result: any sequence of
//! `step_until` calls followed by `run` handles the same events in the same order as one `run`, so rows and
//! summary are byte-identical (tested below).
//!
//! Between steps the state visible to the caller is the simulated time reached and the last per-second row
//! ([`Simulation::last_row`]: replicas desired, ready and starting, activator state, queue, latencies of the
//! second), not the loop's internal structures, which are free to change.

use super::run::Stepper;
use super::services::MultiOutputs;
use super::{RequestLog, SimError};
use crate::observe::output::{RunSummary, SecondRow, TimeseriesSink};
use crate::scenario::{self, LoadedScenario, OutputSpec, Prepared, ScenarioError, ScenarioErrors};
use crate::time::SimTime;
use std::path::Path;

/// Why a scenario could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    /// The scenario is invalid (every problem, each located by file, line and key).
    #[error("{0}")]
    Scenario(#[from] ScenarioErrors),
    /// The run failed (an unreadable trace, a sink that could not be written).
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// One simulation run in progress.
///
/// ```
/// use podscale::observe::output::CollectTimeseries;
/// use podscale::time::SimTime;
///
/// let text = "duration: 30s\ntraffic: {kind: constant, rate: 5}\n";
/// let mut sim = podscale::Simulation::from_str(text, "inline.yaml", &[], None).unwrap();
/// let mut rows = CollectTimeseries::default();
/// sim.step_until(SimTime::from_secs(10), &mut rows).unwrap();
/// assert_eq!(sim.last_row().map(|r| r.time_s), Some(10));
/// let summary = sim.run(&mut rows).unwrap();
/// assert!(summary.requests.total > 100);
/// ```
pub struct Simulation {
    name: String,
    warnings: Vec<ScenarioError>,
    output: OutputSpec,
    /// The pods have a KV cache (LLM engine signals: extra columns, `pods.csv`).
    llm_engine: bool,
    stepper: Stepper,
    request_log: Option<Box<dyn RequestLog + Send>>,
    last_row: Option<SecondRow>,
    now: SimTime,
    /// With several services: what their output files need (`None`: one service).
    services: Option<ServicesInfo>,
    /// Replaces the summary's `effective_config` (see [`Simulation::with_effective_config`]).
    effective_config: Option<serde_json::Value>,
}

/// What a run of several services needs to write its own files.
#[derive(Clone, Debug)]
pub struct ServicesInfo {
    /// The services, in their order in `services.csv`.
    pub names: Vec<String>,
    /// The node pools (the columns of `cluster.csv`).
    pub pools: Vec<String>,
    /// Seconds per `services.csv` row (`output.service_interval`).
    pub interval_s: u64,
    /// Some service's pods have a KV cache (so `output.per_pod` writes `pods.csv`).
    pub any_llm_engine: bool,
}

/// Forwards rows to the caller's sink and keeps the last one for [`Simulation::last_row`].
struct Tee<'a> {
    inner: &'a mut dyn TimeseriesSink,
    last: &'a mut Option<SecondRow>,
}

impl TimeseriesSink for Tee<'_> {
    fn pod_engine(&mut self, s: &crate::observe::llm::PodEngineSample) -> std::io::Result<()> {
        self.inner.pod_engine(s)
    }
    fn reads_latency_percentiles(&self) -> bool {
        self.inner.reads_latency_percentiles()
    }
    fn row(&mut self, row: &SecondRow) -> std::io::Result<()> {
        self.inner.row(row)?;
        match self.last {
            Some(last) => last.clone_from(row),
            None => *self.last = Some(row.clone()),
        }
        Ok(())
    }
}

impl Simulation {
    /// Builds the run of a prepared scenario (see [`scenario::prepare`]). It asks for no output files
    /// beyond the rows and the summary; [`Simulation::with_output`] sets them.
    pub fn new(prepared: Prepared) -> Result<Self, SimulationError> {
        let name = prepared.config.name.clone();
        let llm_engine = prepared
            .config
            .pod_model
            .service
            .kv_cache_tokens()
            .is_some();
        let stepper = Stepper::new(prepared.config, prepared.traffic)?;
        Ok(Simulation {
            name,
            warnings: prepared.warnings,
            output: no_files(),
            llm_engine,
            stepper,
            request_log: None,
            last_row: None,
            now: SimTime::ZERO,
            services: None,
            effective_config: None,
        })
    }

    /// Builds the run of several services sharing one cluster (see [`scenario::prepare_services`]) named
    /// `name`; the per-service and cluster rows go nowhere until [`Simulation::with_service_outputs`].
    pub fn new_services(
        name: &str,
        prepared: scenario::PreparedServices,
        interval_s: u64,
    ) -> Result<Self, SimulationError> {
        let first = prepared.services.first().map(|s| &s.prepared.config);
        let pools: Vec<String> = first
            .map(|c| {
                c.pod_model
                    .cluster
                    .pools
                    .iter()
                    .map(|p| p.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let any_llm_engine = prepared.services.iter().any(|s| {
            let service = &s.prepared.config.pod_model.service;
            service.kv_cache_tokens().is_some()
        });
        let names = prepared.services.iter().map(|s| s.name.clone()).collect();
        let info = ServicesInfo {
            names,
            pools,
            interval_s: interval_s.max(1),
            any_llm_engine,
        };
        let runs: Vec<super::ServiceRun> = prepared
            .services
            .into_iter()
            .map(|s| super::ServiceRun {
                config: s.prepared.config,
                traffic: s.prepared.traffic,
            })
            .collect();
        let outputs = discarded_outputs(&info)?;
        let stepper = Stepper::new_services(name, prepared.seed, runs, prepared.route, outputs)?;
        Ok(Simulation {
            name: name.to_string(),
            warnings: prepared.warnings,
            output: no_files(),
            // The world's rows add the services up and carry no engine columns; each service's engine
            // gauges go to its `pods.csv` rows.
            llm_engine: false,
            stepper,
            request_log: None,
            last_row: None,
            now: SimTime::ZERO,
            services: Some(info),
            effective_config: None,
        })
    }

    /// With several services, sends the `services.csv` and `cluster.csv` rows (headers first) and, if
    /// `pods` is given, the per-pod engine rows (`pods.csv`, with a `service` column) to these writers.
    /// Call it before the first step; a run of one service refuses it.
    pub fn with_service_outputs(
        mut self,
        services: Box<dyn std::io::Write + Send>,
        cluster: Box<dyn std::io::Write + Send>,
        pods: Option<Box<dyn std::io::Write + Send>>,
    ) -> Result<Self, SimulationError> {
        let Some(info) = &self.services else {
            return Err(SimError::Config(
                "per-service outputs need a scenario with several services".into(),
            )
            .into());
        };
        if self.now > SimTime::ZERO || self.last_row.is_some() {
            return Err(SimError::Config(
                "per-service outputs must be set before the run starts".into(),
            )
            .into());
        }
        let mut outputs = MultiOutputs::new(services, cluster, info.interval_s, &info.pools)
            .map_err(SimError::from)?;
        if let Some(pods) = pods {
            outputs = outputs.with_pods(pods).map_err(SimError::from)?;
        }
        self.stepper.set_service_outputs(outputs);
        Ok(self)
    }

    /// Puts `value` in the summary's `effective_config` instead of what the run resolved.
    pub fn with_effective_config(mut self, value: serde_json::Value) -> Self {
        self.effective_config = Some(value);
        self
    }

    /// With several services, what their output files need (`None` with one service).
    pub fn services(&self) -> Option<&ServicesInfo> {
        self.services.as_ref()
    }

    /// Prepares a loaded scenario (with `seed` replacing the scenario's seed if given) and builds its run.
    pub fn from_loaded(
        loaded: &LoadedScenario,
        seed: Option<u64>,
    ) -> Result<Self, SimulationError> {
        if scenario::services::is_multi(&loaded.document) {
            let prepared = scenario::prepare_services(loaded, seed)?;
            let interval_s = loaded.spec.output.service_interval.whole_secs();
            // The services' resolved values are not gathered into one block: the summary keeps the
            // document as written.
            let document = serde_json::to_value(&loaded.document).unwrap_or_default();
            return Ok(Self::new_services(&loaded.name(), prepared, interval_s)?
                .with_output(loaded.spec.output.clone())
                .with_effective_config(document));
        }
        Ok(Self::new(scenario::prepare(loaded, seed)?)?.with_output(loaded.spec.output.clone()))
    }

    /// Loads the scenario file at `path` with `key=value` overrides (as `--set` takes them); a file of
    /// several services builds their shared-cluster run.
    pub fn from_path(
        path: &Path,
        overrides: &[String],
        seed: Option<u64>,
    ) -> Result<Self, SimulationError> {
        Self::from_loaded(&scenario::load(path, overrides)?, seed)
    }

    /// Loads scenario text; errors name `name` as the file, and relative paths in the scenario (traces,
    /// empirical samples) resolve against the current directory. See [`scenario::load_str`] for another base.
    #[allow(clippy::should_implement_trait)] // it also takes overrides and a seed, so not `FromStr`
    pub fn from_str(
        text: &str,
        name: &str,
        overrides: &[String],
        seed: Option<u64>,
    ) -> Result<Self, SimulationError> {
        let loaded = scenario::load_str(text, Path::new(name), Path::new(""), overrides)?;
        Self::from_loaded(&loaded, seed)
    }

    /// Also hands every finished request to `log` (memory and disk then grow with the request count).
    pub fn with_request_log(mut self, log: Box<dyn RequestLog + Send>) -> Self {
        self.request_log = Some(log);
        self
    }

    /// Sets which files a run folder gets besides the rows and the summary (the scenario's `output:`;
    /// read by `report::run_to_dir`).
    pub fn with_output(mut self, output: OutputSpec) -> Self {
        self.output = output;
        self
    }

    /// The scenario's `output:` section (per-request log, plots).
    /// Whether the pods have a KV cache (`pod.service.kv_cache_tokens`): rows then carry the LLM engine
    /// columns and the sink receives per-pod engine samples.
    pub fn has_llm_engine(&self) -> bool {
        self.llm_engine
    }

    pub fn output(&self) -> &OutputSpec {
        &self.output
    }

    /// The scenario's name (its `name:` or its file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the scenario says that has no effect.
    pub fn warnings(&self) -> &[ScenarioError] {
        &self.warnings
    }

    /// The simulated time reached: every event at or before it has been handled.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// The end of the run (traffic duration plus cooldown).
    pub fn end(&self) -> SimTime {
        self.stepper.end()
    }

    /// The most recent per-second row (`None` before the first second has passed).
    pub fn last_row(&self) -> Option<&SecondRow> {
        self.last_row.as_ref()
    }

    /// Handles every event at or before `t` (capped at the end of the run), streaming the rows of the seconds
    /// passed to `sink`. Returns whether the run has nothing left to do. Steps backwards do nothing.
    pub fn step_until(
        &mut self,
        t: SimTime,
        sink: &mut dyn TimeseriesSink,
    ) -> Result<bool, SimulationError> {
        let t = t.min(self.end());
        let mut tee = Tee {
            inner: sink,
            last: &mut self.last_row,
        };
        let log = self
            .request_log
            .as_mut()
            .map(|l| l.as_mut() as &mut dyn RequestLog);
        let done = self.stepper.step_until(t, &mut tee, log)?;
        self.now = self.now.max(t);
        Ok(done)
    }

    /// The summary of the run so far, as if it had been a run ending at [`Simulation::now`] without a
    /// cooldown: requests answered by then, those still in flight counted as in flight at the end, live
    /// pods counted up to then, time-weighted means over the rows written so far (whole seconds). The
    /// run is unchanged and can be stepped on; `events_processed` is the events handled so far. This is
    /// what `podscale tune` ranks a point on at a short horizon before continuing its survivors.
    pub fn summary_so_far(&self) -> Result<RunSummary, SimulationError> {
        let summary = self.stepper.summary_at(self.now)?;
        Ok(finish_summary(self.effective_config.clone(), summary))
    }

    /// Every hop as an event of its own (the reference the shortcuts are checked against).
    #[cfg(test)]
    pub(crate) fn every_hop_an_event(mut self) -> Self {
        self.stepper.every_hop_an_event();
        self
    }

    /// The world of the run, for crate tests that check its state between steps.
    #[cfg(test)]
    pub(crate) fn world(&self) -> &crate::sim::world::Sim {
        self.stepper.world()
    }

    /// Runs to the end, streaming the remaining rows to `sink`, and returns the summary (`wall_time_s` is 0:
    /// the caller measures wall time).
    pub fn run(mut self, sink: &mut dyn TimeseriesSink) -> Result<RunSummary, SimulationError> {
        self.step_until(self.end(), sink)?;
        let mut tee = Tee {
            inner: sink,
            last: &mut self.last_row,
        };
        let summary = self.stepper.finish(&mut tee)?;
        Ok(finish_summary(self.effective_config, summary))
    }

    /// [`Simulation::run`], also handing every finished request to `log`, which the caller keeps (for a
    /// log it reads afterwards; [`Simulation::with_request_log`] is for one the simulation owns, and gets
    /// nothing from here on).
    pub fn run_with_log(
        mut self,
        sink: &mut dyn TimeseriesSink,
        log: &mut dyn RequestLog,
    ) -> Result<RunSummary, SimulationError> {
        let end = self.end();
        let mut tee = Tee {
            inner: sink,
            last: &mut self.last_row,
        };
        self.stepper.step_until(end, &mut tee, Some(log))?;
        let summary = self.stepper.finish(&mut tee)?;
        Ok(finish_summary(self.effective_config, summary))
    }

    /// [`Simulation::run`], also returning the request log given to [`Simulation::with_request_log`].
    pub fn run_returning_log(
        mut self,
        sink: &mut dyn TimeseriesSink,
    ) -> Result<(RunSummary, Option<Box<dyn RequestLog + Send>>), SimulationError> {
        self.step_until(self.end(), sink)?;
        let mut tee = Tee {
            inner: sink,
            last: &mut self.last_row,
        };
        let summary = self.stepper.finish(&mut tee)?;
        Ok((
            finish_summary(self.effective_config, summary),
            self.request_log,
        ))
    }
}

fn finish_summary(
    effective_config: Option<serde_json::Value>,
    mut summary: RunSummary,
) -> RunSummary {
    if let Some(value) = effective_config {
        summary.effective_config = value;
    }
    summary
}

/// Per-service and cluster rows that go nowhere (a run that needs only the summary).
fn discarded_outputs(info: &ServicesInfo) -> Result<MultiOutputs, SimError> {
    Ok(MultiOutputs::new(
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
        info.interval_s,
        &info.pools,
    )?)
}

/// The outputs of a library run before [`Simulation::from_loaded`] applies a scenario's `output:`
/// section: no file of its own (rows go to the caller's sink).
fn no_files() -> OutputSpec {
    OutputSpec {
        per_request: false,
        per_pod: false,
        plots: false,
        slo: None,
        ..OutputSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::output::{CollectTimeseries, CsvTimeseries};

    const SCENARIO: &str = "\
duration: 40s
cooldown: 20s
seed: 3
autoscaler: {class: kpa}
pod: {cold_start: 2s, service_time: {dist: exponential, mean: 80ms}}
service: {containerConcurrency: 2, scaleTarget: 1}
traffic: {kind: piecewise, points: [{at: 0s, rate: 5}, {at: 15s, rate: 60}, {at: 30s, rate: 0}]}
";

    fn csv_of(rows: &[SecondRow]) -> String {
        let mut csv = CsvTimeseries::new(Vec::new()).unwrap();
        for r in rows {
            csv.row(r).unwrap();
        }
        String::from_utf8(csv.into_inner()).unwrap()
    }

    #[test]
    fn stepping_gives_the_same_rows_and_summary_as_one_run() {
        let whole = Simulation::from_str(SCENARIO, "s.yaml", &[], None).unwrap();
        let mut rows = CollectTimeseries::default();
        let summary = whole.run(&mut rows).unwrap();
        assert_eq!(rows.0.len(), 60);

        // Uneven steps, some inside a second, one backwards, one past the end.
        let mut stepped = Simulation::from_str(SCENARIO, "s.yaml", &[], None).unwrap();
        let mut stepped_rows = CollectTimeseries::default();
        for ms in [
            0, 1, 999, 1000, 1500, 7_250, 7_000, 13_001, 39_999, 40_000, 52_345,
        ] {
            let done = stepped
                .step_until(SimTime::from_millis(ms), &mut stepped_rows)
                .unwrap();
            assert!(!done);
            assert_eq!(
                stepped.last_row().map(|r| r.time_s),
                (ms >= 1000).then_some(stepped.now().whole_secs())
            );
        }
        assert!(stepped
            .step_until(SimTime::from_secs(10_000), &mut stepped_rows)
            .unwrap());
        let stepped_summary = stepped.run(&mut stepped_rows).unwrap();
        assert_eq!(csv_of(&rows.0), csv_of(&stepped_rows.0));
        assert_eq!(
            serde_json::to_string(&summary).unwrap(),
            serde_json::to_string(&stepped_summary).unwrap()
        );
        assert!(summary.requests.total > 900, "{}", summary.requests.total);
        assert!(summary.replicas.max_ready > 1, "the KPA must scale up");
    }

    #[test]
    fn the_facade_matches_sim_run() {
        let loaded = scenario::load_str(SCENARIO, Path::new("s.yaml"), Path::new(""), &[]).unwrap();
        let p = scenario::prepare(&loaded, Some(9)).unwrap();
        let mut direct = CollectTimeseries::default();
        let a = crate::sim::run(p.config, p.traffic, &mut direct).unwrap();
        let mut via = CollectTimeseries::default();
        let b = Simulation::from_loaded(&loaded, Some(9))
            .unwrap()
            .run(&mut via)
            .unwrap();
        assert_eq!(csv_of(&direct.0), csv_of(&via.0));
        assert_eq!(a, b);
    }

    #[test]
    fn a_sink_that_skips_percentiles_changes_nothing_else() {
        use crate::observe::output::NoTimeseries;
        /// Collects rows but says it does not read their latency percentiles.
        #[derive(Default)]
        struct NoPercentiles(Vec<SecondRow>);
        impl TimeseriesSink for NoPercentiles {
            fn row(&mut self, row: &SecondRow) -> std::io::Result<()> {
                self.0.push(row.clone());
                Ok(())
            }
            fn reads_latency_percentiles(&self) -> bool {
                false
            }
        }
        let run = |sink: &mut dyn TimeseriesSink| {
            Simulation::from_str(SCENARIO, "s.yaml", &[], None)
                .unwrap()
                .run(sink)
                .unwrap()
        };
        let mut full = CollectTimeseries::default();
        let with = run(&mut full);
        let mut bare = NoPercentiles::default();
        let without = run(&mut bare);
        let discarded = run(&mut NoTimeseries);
        assert_eq!(with, without);
        assert_eq!(with, discarded);
        assert_eq!(full.0.len(), bare.0.len());
        let mut rows_with_latency = 0;
        for (a, b) in full.0.iter().zip(&bare.0) {
            let mut a = a.clone();
            if a.latency_p99_ms.is_some() {
                rows_with_latency += 1;
            }
            assert_eq!(b.latency_p50_ms, None);
            assert_eq!(b.latency_p99_ms, None);
            a.latency_p50_ms = None;
            a.latency_p95_ms = None;
            a.latency_p99_ms = None;
            assert_eq!(csv_of(&[a]), csv_of(std::slice::from_ref(b)));
        }
        assert!(rows_with_latency >= 25, "{rows_with_latency}");
    }

    #[test]
    fn errors_name_the_given_name() {
        let Err(SimulationError::Scenario(e)) = Simulation::from_str(
            "duration: 10s\ntraffic: {kind: constant, rate: -1}\n",
            "mine.yaml",
            &[],
            None,
        ) else {
            panic!("a negative rate must be refused");
        };
        let text = e.to_string();
        assert!(text.contains("mine.yaml:2"), "{text}");
        assert!(text.contains("traffic.rate"), "{text}");
    }
}
