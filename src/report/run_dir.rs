//! One run written to a folder: `timeseries.csv`, `requests.csv` (when `output.per_request`), `pods.csv`
//! (when `output.per_pod` and the pods have a KV cache), `summary.json` and, when `output.plots`, the plots
//! and `report.html`. A run of several services (any file [`crate::scenario::prepare_services`] takes)
//! also writes `services.csv`, `cluster.csv` and the cluster plot, and its `pods.csv` has a `service`
//! column. [`run_to_dir`] is the one path for both; the CLI's `run` calls it on its staging folder (which
//! it moves into place only when the run completed); tests and examples call it directly.
//!
//! Every file is written through [`AtomicFile`], so an error or an interrupt leaves no partial file behind.
//! `summary.json` carries the wall time measured around the simulation here (the core reads no clock).

use super::{write_atomic, write_html, write_plots, AtomicFile, SUMMARY_FILE, TIMESERIES_FILE};
use crate::observe::llm::{CsvPods, PodEngineSample, PodSink};
use crate::observe::output::{CsvTimeseries, RunSummary, SecondRow, TimeseriesSink};
use crate::sim::{CsvRequestLog, Simulation};
use anyhow::{Context, Result};
use std::io::{BufWriter, Write};
use std::path::Path;

/// A per-row callback: progress, cancellation (return an error to stop).
pub type RowHook<'b> = dyn FnMut(&SecondRow) -> std::io::Result<()> + 'b;

/// The caller's hooks into a [`run_to_dir`]: progress and cancellation (`DirHooks::default()`: none).
#[derive(Default)]
pub struct DirHooks<'a> {
    /// Called with every per-second row before it is written; an error stops the run (the CLI moves its
    /// progress bar here and stops on Ctrl-C).
    pub on_row: Option<&'a mut RowHook<'a>>,
    /// Called between the output phases (after the simulation, before and after plotting); an error stops.
    pub check: Option<&'a dyn Fn() -> std::io::Result<()>>,
}

struct HookSink<'a, 'b, S> {
    inner: S,
    on_row: Option<&'a mut RowHook<'b>>,
    /// `pods.csv` (`output.per_pod` on a run whose pods have a KV cache).
    pods: Option<CsvPods<BufWriter<AtomicFile>>>,
}

impl<S: TimeseriesSink> TimeseriesSink for HookSink<'_, '_, S> {
    fn pod_engine(&mut self, s: &PodEngineSample) -> std::io::Result<()> {
        match self.pods.as_mut() {
            Some(p) => p.sample(s),
            None => Ok(()),
        }
    }

    fn reads_latency_percentiles(&self) -> bool {
        self.on_row.is_some() || self.inner.reads_latency_percentiles()
    }

    fn row(&mut self, row: &SecondRow) -> std::io::Result<()> {
        if let Some(f) = self.on_row.as_mut() {
            f(row)?;
        }
        self.inner.row(row)
    }
}

fn commit(writer: BufWriter<AtomicFile>) -> Result<()> {
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.commit()?;
    Ok(())
}

/// Runs `sim` and writes every output into `dir` (which must exist): the rows, the summary and what the
/// scenario's `output:` asks for ([`Simulation::output`]). Returns the summary, with `wall_time_s`
/// measured around the simulation.
///
/// This is the one path from a scenario to a run folder (the CLI's `run` uses it on its staging folder):
///
/// ```no_run
/// use podscale::{report, Simulation};
/// use std::path::Path;
///
/// let sim = Simulation::from_path(Path::new("scenarios/quickstart.yaml"), &[], Some(1))?;
/// std::fs::create_dir_all("output/quickstart")?;
/// let summary = report::run_to_dir(Path::new("output/quickstart"), sim, report::DirHooks::default())?;
/// println!("p99 {:.1} ms", summary.latency_ms.p99);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run_to_dir(dir: &Path, sim: Simulation, hooks: DirHooks<'_>) -> Result<RunSummary> {
    let DirHooks { on_row, check } = hooks;
    let check = || check.map_or(Ok(()), |c| c());
    let output = sim.output().clone();
    let (sim, service_files) = with_service_files(dir, sim, output.per_pod)?;
    let ts_path = dir.join(TIMESERIES_FILE);
    let file = AtomicFile::create(&ts_path)
        .with_context(|| format!("cannot write {}", ts_path.display()))?;
    let engine = sim.has_llm_engine();
    let mut sink = HookSink {
        inner: CsvTimeseries::with_engine_columns(BufWriter::new(file), engine)?,
        on_row,
        pods: None,
    };
    if engine && output.per_pod {
        let path = dir.join("pods.csv");
        let file = AtomicFile::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        sink.pods = Some(CsvPods::new(BufWriter::new(file))?);
    }
    let mut log = None;
    if output.per_request {
        let path = dir.join("requests.csv");
        let file = AtomicFile::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        log = Some(CsvRequestLog::with_llm_columns(
            BufWriter::new(file),
            engine,
        )?);
    }
    let name = sim.name().to_string();
    // On error the uncommitted files are dropped, which removes their temporary files.
    let wall = std::time::Instant::now();
    let result = match log.as_mut() {
        Some(log) => sim.run_with_log(&mut sink, log),
        None => sim.run(&mut sink),
    };
    let mut summary = result.with_context(|| format!("simulating {name}"))?;
    summary.wall_time_s = wall.elapsed().as_secs_f64();
    check()?;
    for shared in service_files.iter() {
        if let Some(mut w) = lock(shared).take() {
            w.flush()?;
            commit(w)?;
        }
    }
    if let Some(log) = log {
        let mut writer = log.into_inner();
        writer.flush()?;
        commit(writer)?;
    }
    if let Some(pods) = sink.pods.take() {
        let mut writer = pods.into_inner();
        writer.flush()?;
        commit(writer)?;
    }
    let mut writer = sink.inner.into_inner();
    writer.flush()?;
    commit(writer)?;
    let json = serde_json::to_string_pretty(&summary)? + "\n";
    write_atomic(&dir.join(SUMMARY_FILE), json.as_bytes())?;
    if output.plots {
        check()?;
        write_plots(dir).context("plotting")?;
        if !service_files.is_empty() {
            super::plots::write_cluster_plot(dir).context("plotting the cluster")?;
        }
        check()?;
        write_html(dir).context("writing report.html")?;
    }
    check()?;
    Ok(summary)
}

type Shared = std::sync::Arc<std::sync::Mutex<Option<BufWriter<AtomicFile>>>>;

/// The file behind `shared`; a writer that panicked elsewhere left it as it was, which is still a file.
fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Option<BufWriter<AtomicFile>>> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A file shared between the simulation (which writes it) and the caller (which commits it afterwards).
struct SharedFile(Shared);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match lock(&self.0).as_mut() {
            Some(w) => w.write(buf),
            None => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match lock(&self.0).as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

/// With several services, points their rows at `services.csv`, `cluster.csv` and (with `per_pod` and some
/// service's pods having a KV cache) `pods.csv` in `dir`; returns the files to commit after the run (none
/// with one service).
fn with_service_files(
    dir: &Path,
    sim: Simulation,
    per_pod: bool,
) -> Result<(Simulation, Vec<Shared>)> {
    let Some(info) = sim.services() else {
        return Ok((sim, Vec::new()));
    };
    let create = |name: &str| -> Result<Shared> {
        let path = dir.join(name);
        let file = AtomicFile::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(std::sync::Arc::new(std::sync::Mutex::new(Some(
            BufWriter::new(file),
        ))))
    };
    let mut files = vec![create("services.csv")?, create("cluster.csv")?];
    if per_pod && info.any_llm_engine {
        files.push(create("pods.csv")?);
    }
    let writer = |f: &Shared| Box::new(SharedFile(f.clone())) as Box<dyn Write + Send>;
    let sim = sim.with_service_outputs(
        writer(&files[0]),
        writer(&files[1]),
        files.get(2).map(writer),
    )?;
    Ok((sim, files))
}

/// Runs every service of a multi-service scenario on one cluster into `dir`: [`run_to_dir`] of the
/// scenario's [`Simulation`] (kept for callers that prepared the services themselves).
pub fn run_services_to_dir(
    dir: &Path,
    loaded: &crate::scenario::LoadedScenario,
    prepared: crate::scenario::PreparedServices,
    hooks: DirHooks<'_>,
) -> Result<RunSummary> {
    let interval_s = loaded.spec.output.service_interval.whole_secs();
    let sim = Simulation::new_services(&loaded.name(), prepared, interval_s)
        .with_context(|| format!("building {}", loaded.path.display()))?
        .with_output(loaded.spec.output.clone())
        .with_effective_config(
            serde_json::to_value(&loaded.document).unwrap_or(serde_json::Value::Null),
        );
    run_to_dir(dir, sim, hooks)
}
