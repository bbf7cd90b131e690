//! One run written to a folder: `timeseries.csv`, `requests.csv` (when `output.per_request`), `pods.csv`
//! (when `output.per_pod` and the pods have a KV cache),
//! `summary.json` and, when `output.plots`, the plots and `report.html`. The CLI's `run` calls it on its
//! staging folder (which it moves into place only when the run completed); tests and examples call it
//! directly.
//!
//! Every file is written through [`AtomicFile`], so an error or an interrupt leaves no partial file behind.
//! `summary.json` carries the wall time measured around the simulation here (the core reads no clock).

use super::{write_atomic, write_html, write_plots, AtomicFile, SUMMARY_FILE, TIMESERIES_FILE};
use crate::observe::llm::{CsvPods, PodEngineSample, PodSink};
use crate::observe::output::{CsvTimeseries, RunSummary, SecondRow, TimeseriesSink};
use crate::scenario::{LoadedScenario, Prepared};
use crate::sim::{CsvRequestLog, RequestLog, Simulation};
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

    fn row(&mut self, row: &SecondRow) -> std::io::Result<()> {
        if let Some(f) = self.on_row.as_mut() {
            f(row)?;
        }
        self.inner.row(row)
    }
}

/// Request logs go through a box in the facade; this one hands its file back for the commit.
struct SharedLog(std::rc::Rc<std::cell::RefCell<Option<CsvRequestLog<BufWriter<AtomicFile>>>>>);

impl RequestLog for SharedLog {
    fn record(&mut self, r: &crate::sim::RequestRecord) -> std::io::Result<()> {
        match self.0.borrow_mut().as_mut() {
            Some(log) => log.record(r),
            None => Ok(()),
        }
    }
}

fn commit(writer: BufWriter<AtomicFile>) -> Result<()> {
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.commit()?;
    Ok(())
}

/// Runs the prepared scenario and writes every output into `dir` (which must exist). Returns the summary,
/// with `wall_time_s` measured around the simulation.
pub fn run_to_dir(
    dir: &Path,
    loaded: &LoadedScenario,
    prepared: Prepared,
    hooks: DirHooks<'_>,
) -> Result<RunSummary> {
    let DirHooks { on_row, check } = hooks;
    let check = || check.map_or(Ok(()), |c| c());
    let ts_path = dir.join(TIMESERIES_FILE);
    let file = AtomicFile::create(&ts_path)
        .with_context(|| format!("cannot write {}", ts_path.display()))?;
    let engine = prepared
        .config
        .pod_model
        .service
        .kv_cache_tokens()
        .is_some();
    let mut sink = HookSink {
        inner: CsvTimeseries::with_engine_columns(BufWriter::new(file), engine)?,
        on_row,
        pods: None,
    };
    if engine && loaded.spec.output.per_pod {
        let path = dir.join("pods.csv");
        let file = AtomicFile::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        sink.pods = Some(CsvPods::new(BufWriter::new(file))?);
    }
    let log = std::rc::Rc::new(std::cell::RefCell::new(None));
    if loaded.spec.output.per_request {
        let path = dir.join("requests.csv");
        let file = AtomicFile::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        *log.borrow_mut() = Some(CsvRequestLog::with_llm_columns(
            BufWriter::new(file),
            engine,
        )?);
    }
    let mut sim = Simulation::new(prepared)?;
    if log.borrow().is_some() {
        sim = sim.with_request_log(Box::new(SharedLog(log.clone())));
    }
    // On error the uncommitted files are dropped, which removes their temporary files.
    let wall = std::time::Instant::now();
    let mut summary = sim
        .run(&mut sink)
        .with_context(|| format!("simulating {}", loaded.path.display()))?;
    summary.wall_time_s = wall.elapsed().as_secs_f64();
    check()?;
    if let Some(log) = log.borrow_mut().take() {
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
    if loaded.spec.output.plots {
        check()?;
        write_plots(dir).context("plotting")?;
        check()?;
        write_html(dir).context("writing report.html")?;
    }
    check()?;
    Ok(summary)
}
