//! Parameter sweeps: many runs of one scenario over a grid (or random samples) of scenario values and
//! seeds, in parallel, with per-run and per-point CSV outputs, sharding across machines and tuning.
//!
//! A sweep file names a base scenario and axes over any scenario value by the dotted paths `--set` takes:
//!
//! ```yaml
//! base: ../scenarios/quickstart.yaml      # relative to the sweep file
//! set: {duration: 2m}                     # fixed overrides for every run
//! seeds: 3                                # seeds 1, 2, 3 per point (or a list)
//! axes:
//!   autoscaler.config.stable-window: [30s, 60s]
//!   autoscaler.config.max-scale-down-rate: {from: 2, to: 8, step: 2}
//!   autoscaler.config.container-concurrency-target-percentage: {uniform: [50, 90], n: 3}
//! objective: {minimize: pod_seconds, constraints: ["latency_p99_ms <= 500"]}
//! check: [../traces/monday.csv, ../traces/tuesday.csv]   # re-run the chosen point on these days
//! tune: {search: adaptive, eta: 3, rungs: 4}             # how `podscale tune` searches (or `budget: 200`)
//! ```
//!
//! The base may list several services (any file `Simulation::from_path` takes): axes and `set:` are
//! top-level paths, so they change the defaults every service inherits (a service's own value for the same
//! key wins), and each results row holds the run's totals over all services (with the node cost).
//!
//! Each run is `Simulation::from_path(base, overrides, seed)` run with no time series. Runs are
//! independent, so they go to a rayon pool; results are put back in run-index order, so the outputs never
//! depend on the thread count. `--shard I/N` keeps the runs with `run % N == I`;
//! [`merge`] joins shard directories into exactly the files an unsharded sweep writes.
//!
//! Assumptions: the base scenario (and the files it refers to) is the same on every machine running a
//! shard; wall times are reported in `sweep.json` only, never in the CSV files.

pub mod adaptive;
pub mod apply;
pub mod check;
pub mod ladder;
pub mod objective;
pub mod results;
pub mod spec;
pub mod tune;

pub use adaptive::{race, race_pausing, AdaptiveOutcome, MAX_PAUSED_RUNS};
pub use ladder::{Ladder, LadderFlags};
pub use results::{PointStats, RunRow, METRICS, POINTS_FILE, RESULTS_FILE};
pub use spec::{Axis, Constraint, Objective, Search, SweepSpec, TuneSettings};
pub use tune::{tune, TuneReport};

use crate::observe::output::NoTimeseries;
use crate::report::write_atomic;
use crate::scenario::ScenarioErrors;
use crate::sim::{Simulation, SimulationError};
use rayon::prelude::*;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Manifest written next to the CSV files: what was run and how fast.
pub const MANIFEST_FILE: &str = "sweep.json";

/// Everything that can go wrong in a sweep.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A problem in the sweep file itself.
    #[error("{file}: {key}{sep}{message}", file = file.display(), sep = if key.is_empty() { "" } else { ": " })]
    Spec {
        file: PathBuf,
        key: String,
        message: String,
    },
    /// The base scenario rejects a value the sweep sets.
    #[error("{file}: {key}: the base scenario rejects {what}:\n{errors}", file = file.display())]
    Scenario {
        file: PathBuf,
        key: String,
        what: String,
        errors: ScenarioErrors,
    },
    /// A run failed while simulating.
    #[error("run {run} (point {point}, seed {seed}, {overrides}): {message}")]
    Run {
        run: u64,
        point: u64,
        seed: u64,
        overrides: String,
        message: String,
    },
    /// A results or manifest file is not what a sweep writes.
    #[error("{path}:{line}: {message}", path = path.display())]
    Malformed {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// Inconsistent request (bad shard, shards that do not fit together, ...).
    #[error("{0}")]
    Usage(String),
}

/// Which runs of a sweep this process does: those with `run % count == index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Parses `I/N` with `0 <= I < N`.
    pub fn parse(text: &str) -> Result<Shard, SweepError> {
        let bad = || {
            SweepError::Usage(format!(
                "--shard \"{text}\": expected I/N with 0 <= I < N, e.g. 0/4 (in a Kubernetes Indexed Job: $JOB_COMPLETION_INDEX/N)"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// True when `run` belongs to this shard.
    pub fn contains(&self, run: u64) -> bool {
        run % self.count == self.index
    }
}

/// How to execute a sweep.
#[derive(Clone, Debug, Default)]
pub struct SweepOptions {
    /// Worker threads (0 = rayon's default: one per core).
    pub threads: usize,
    pub shard: Option<Shard>,
    /// Draw a progress bar on stderr (only if stderr is a terminal).
    pub progress: bool,
}

/// What a finished sweep (or shard) produced.
#[derive(Clone, Debug)]
pub struct SweepOutcome {
    pub rows: Vec<RunRow>,
    pub points: Vec<PointStats>,
    pub wall_s: f64,
    pub threads: usize,
}

impl SweepOutcome {
    /// Runs per wall-clock second.
    pub fn runs_per_s(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.rows.len() as f64 / self.wall_s
        } else {
            0.0
        }
    }
}

/// Builds the base scenario with `overrides` and `seed` (the library's one entry point).
fn build(
    spec: &SweepSpec,
    overrides: &[String],
    seed: Option<u64>,
) -> Result<Simulation, SimulationError> {
    Simulation::from_path(&spec.base, overrides, seed)
}

/// Checks, before anything runs, that the base scenario accepts the fixed overrides, every axis value on
/// its own, and every point. The first problem names the sweep file, the axis key and the value.
pub fn validate(spec: &SweepSpec) -> Result<(), SweepError> {
    let scenario_error = |key: &str, what: String, error: SimulationError| match error {
        SimulationError::Scenario(errors) => SweepError::Scenario {
            file: spec.path.clone(),
            key: key.to_string(),
            what,
            errors,
        },
        // The scenario is valid but cannot start (an unreadable trace).
        other => SweepError::Spec {
            file: spec.path.clone(),
            key: key.to_string(),
            message: format!("with {what} the base scenario cannot start: {other}"),
        },
    };
    if !spec.base.is_file() {
        return Err(SweepError::Spec {
            file: spec.path.clone(),
            key: "base".into(),
            message: format!(
                "scenario file {} does not exist (paths are relative to the sweep file)",
                spec.base.display()
            ),
        });
    }
    build(spec, &spec.fixed, None).map_err(|e| {
        let what = if spec.fixed.is_empty() {
            "nothing (the base scenario itself is invalid)".to_string()
        } else {
            format!("the fixed overrides {}", spec.fixed.join(", "))
        };
        scenario_error(if spec.fixed.is_empty() { "base" } else { "set" }, what, e)
    })?;
    for axis in &spec.axes {
        for (value, label) in axis.values.iter().zip(&axis.labels) {
            let mut o = spec.fixed.clone();
            o.push(format!("{}={value}", axis.path));
            build(spec, &o, None).map_err(|e| {
                scenario_error(
                    &format!("axes.{}", axis.path),
                    format!("the value {label}"),
                    e,
                )
            })?;
        }
    }
    if spec.axes.len() > 1 {
        (0..spec.point_count()).into_par_iter().try_for_each(|p| {
            let o = spec.point_overrides(p);
            build(spec, &o, None)
                .map(|_| ())
                .map_err(|e| scenario_error("axes", format!("point {p} ({})", o.join(", ")), e))
        })?;
    }
    Ok(())
}

fn progress_bar(total: u64, show: bool) -> indicatif::ProgressBar {
    if !show || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr_with_hz(4),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {pos}/{len} runs ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Runs one run of the sweep.
pub fn run_one(spec: &SweepSpec, run: u64) -> Result<RunRow, SweepError> {
    let (point, seed) = spec.run_point_seed(run);
    let overrides = spec.point_overrides(point);
    let fail = |message: String| SweepError::Run {
        run,
        point,
        seed,
        overrides: overrides.join(" "),
        message,
    };
    let summary = build(spec, &overrides, Some(seed))
        .and_then(|sim| sim.run(&mut NoTimeseries))
        .map_err(|e| fail(e.to_string()))?;
    Ok(RunRow {
        run,
        point,
        axes: spec.point_labels(point),
        seed,
        metrics: results::metrics_of(&summary),
    })
}

/// Validates the sweep, then runs it (or its shard) on `options.threads` threads.
pub fn execute(spec: &SweepSpec, options: &SweepOptions) -> Result<SweepOutcome, SweepError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| SweepError::Usage(format!("cannot start {} threads: {e}", options.threads)))?;
    let threads = pool.current_num_threads();
    pool.install(|| validate(spec))?;
    let runs: Vec<u64> = (0..spec.run_count())
        .filter(|r| options.shard.is_none_or(|s| s.contains(*r)))
        .collect();
    let bar = progress_bar(runs.len() as u64, options.progress);
    let start = Instant::now();
    let rows: Result<Vec<RunRow>, SweepError> = pool.install(|| {
        runs.par_iter()
            .map(|&r| {
                let row = run_one(spec, r);
                bar.inc(1);
                row
            })
            .collect()
    });
    bar.finish_and_clear();
    let rows = rows?;
    let wall_s = start.elapsed().as_secs_f64();
    let points = results::aggregate(&rows);
    Ok(SweepOutcome {
        rows,
        points,
        wall_s,
        threads,
    })
}

fn axis_paths(spec: &SweepSpec) -> Vec<String> {
    spec.axes.iter().map(|a| a.path.clone()).collect()
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    write_atomic(path, bytes).map_err(|e| SweepError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// The manifest: enough to check that shards belong together, plus timing.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Manifest {
    pub sweep: String,
    pub base: String,
    pub axes: Vec<String>,
    pub seeds: Vec<u64>,
    pub points: u64,
    pub total_runs: u64,
    /// `I/N`, or absent for a whole sweep.
    pub shard: Option<String>,
    pub runs: u64,
    pub threads: usize,
    pub wall_s: f64,
    pub runs_per_s: f64,
}

/// Writes `results.csv`, `points.csv` and `sweep.json` into `out`.
pub fn write_outputs(
    spec: &SweepSpec,
    options: &SweepOptions,
    outcome: &SweepOutcome,
    out: &Path,
) -> Result<(), SweepError> {
    std::fs::create_dir_all(out).map_err(|e| SweepError::Io {
        path: out.to_path_buf(),
        source: e,
    })?;
    let axes = axis_paths(spec);
    write(
        &out.join(RESULTS_FILE),
        &results::results_csv(&axes, &outcome.rows),
    )?;
    write(
        &out.join(POINTS_FILE),
        &results::points_csv(&axes, &outcome.points),
    )?;
    let manifest = Manifest {
        sweep: spec.name.clone(),
        base: spec.base.display().to_string(),
        axes,
        seeds: spec.seeds.clone(),
        points: spec.point_count(),
        total_runs: spec.run_count(),
        shard: options.shard.map(|s| format!("{}/{}", s.index, s.count)),
        runs: outcome.rows.len() as u64,
        threads: outcome.threads,
        wall_s: crate::observe::output::round6(outcome.wall_s),
        runs_per_s: crate::observe::output::round6(outcome.runs_per_s()),
    };
    let json = serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n";
    write(&out.join(MANIFEST_FILE), json.as_bytes())
}

fn read_manifest(dir: &Path) -> Result<Manifest, SweepError> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| SweepError::Io {
        path: path.clone(),
        source: e,
    })?;
    serde_json::from_str(&text).map_err(|e| SweepError::Malformed {
        path,
        line: e.line() as u64,
        message: format!("not a sweep manifest: {e}"),
    })
}

/// Reads a sweep output directory (whole or a shard): manifest, axis paths and rows.
pub fn read_dir(dir: &Path) -> Result<(Manifest, Vec<String>, Vec<RunRow>), SweepError> {
    let manifest = read_manifest(dir)?;
    let (axes, rows) = results::read_results(&dir.join(RESULTS_FILE))?;
    Ok((manifest, axes, rows))
}

/// Joins shard directories into `out`: the same `results.csv` and `points.csv` an unsharded sweep writes.
/// Fails if the shards come from different sweeps, overlap, or leave runs missing.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Manifest, SweepError> {
    let mut first: Option<Manifest> = None;
    let mut axes_first: Vec<String> = Vec::new();
    let mut rows: Vec<RunRow> = Vec::new();
    let mut wall_s = 0.0;
    for dir in dirs {
        let (m, axes, mut r) = read_dir(dir)?;
        match &first {
            None => {
                axes_first = axes;
                first = Some(m.clone());
            }
            Some(f) => {
                if f.sweep != m.sweep
                    || f.axes != m.axes
                    || f.seeds != m.seeds
                    || f.total_runs != m.total_runs
                    || axes != axes_first
                {
                    return Err(SweepError::Usage(format!(
                        "{} holds sweep `{}` ({} runs over {}), but {} holds `{}` ({} runs over {}); shards must come from the same sweep",
                        dir.display(), m.sweep, m.total_runs, m.axes.join(", "),
                        dirs[0].display(), f.sweep, f.total_runs, f.axes.join(", ")
                    )));
                }
            }
        }
        wall_s += m.wall_s;
        rows.append(&mut r);
    }
    let Some(first) = first else {
        return Err(SweepError::Usage(
            "nothing to merge: give shard directories".into(),
        ));
    };
    rows.sort_by_key(|r| r.run);
    for w in rows.windows(2) {
        if w[0].run == w[1].run {
            return Err(SweepError::Usage(format!(
                "run {} appears in more than one shard directory",
                w[0].run
            )));
        }
    }
    if rows.len() as u64 != first.total_runs {
        let missing = (0..first.total_runs)
            .find(|r| rows.binary_search_by_key(r, |row| row.run).is_err())
            .unwrap_or(0);
        return Err(SweepError::Usage(format!(
            "the shards hold {} of {} runs (run {missing} is missing, among others perhaps); merge every shard",
            rows.len(),
            first.total_runs
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| SweepError::Io {
        path: out.to_path_buf(),
        source: e,
    })?;
    let points = results::aggregate(&rows);
    write(
        &out.join(RESULTS_FILE),
        &results::results_csv(&axes_first, &rows),
    )?;
    write(
        &out.join(POINTS_FILE),
        &results::points_csv(&axes_first, &points),
    )?;
    let manifest = Manifest {
        shard: None,
        runs: rows.len() as u64,
        threads: 0,
        wall_s: crate::observe::output::round6(wall_s),
        runs_per_s: if wall_s > 0.0 {
            crate::observe::output::round6(rows.len() as f64 / wall_s)
        } else {
            0.0
        },
        ..first
    };
    let json = serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n";
    write(&out.join(MANIFEST_FILE), json.as_bytes())?;
    Ok(manifest)
}
