//! The `podscale` command line. The only place that uses `anyhow`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use podscale::observe::output::{RunSummary, SecondRow};
use podscale::report::{self, Progress};
use podscale::scenario;
use podscale::sweep;
use podscale::time::{parse_duration, SimDuration};
use podscale::traffic::TraceFormat;
use podscale::{Simulation, SimulationError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `println!` that ends quietly on a closed pipe (see [`say`]).
macro_rules! sayln {
    ($($arg:tt)*) => {
        say(&format!("{}\n", format_args!($($arg)*)))
    };
}
#[cfg(feature = "serve")]
mod serve;

#[derive(Parser)]
#[command(
    name = "podscale",
    version,
    about = "Discrete-event simulator of request-driven autoscaling on Kubernetes (Knative KPA, activator, HPA, CronHPA)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and write summary.json, timeseries.csv, plots and report.html.
    #[command(after_help = "Examples:
  podscale run scenarios/quickstart.yaml
  podscale run scenarios/quickstart.yaml --seed 7 --out /tmp/run1
  podscale run scenarios/quickstart.yaml --set 'traffic.points[1].rate=300' --set autoscaler.config.stable-window=30s
  podscale run scenarios/kpa-bursty.yaml --set 'service.annotations.\"autoscaling.knative.dev/target\"=2'
  (an annotation takes effect only where the scenario sets no scaleTarget: KServe writes scaleTarget over it)")]
    Run {
        /// Scenario YAML file.
        scenario: PathBuf,
        /// Output directory (default: output/<scenario name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Random seed (overrides the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Override any scenario value by its dotted path, e.g. traffic.rate=50 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Print nothing but errors (and no progress bar).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check a scenario without running it; reports every error with its location and the allowed values.
    #[command(after_help = "Examples:
  podscale validate scenarios/quickstart.yaml
  podscale validate scenarios/fixed-mm1.yaml --set traffic.rate=-1     # an error naming key, line and range")]
    Validate {
        /// Scenario YAML file.
        scenario: PathBuf,
        /// Override any scenario value by its dotted path (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Put runs side by side: a table of their summaries and overlaid replica and latency plots.
    #[command(after_help = "Examples:
  podscale run scenarios/quickstart.yaml --out /tmp/a
  podscale run scenarios/quickstart.yaml --set autoscaler.config.stable-window=20s --out /tmp/b
  podscale compare /tmp/a /tmp/b --out /tmp/a-vs-b")]
    Compare {
        /// Run directories (each with summary.json and timeseries.csv).
        #[arg(required = true, num_args = 1..)]
        runs: Vec<PathBuf>,
        /// Where to write compare.csv, compare.md and the overlaid plots (default: output/compare).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a scenario over a grid of values and seeds in parallel; writes results.csv and points.csv.
    #[command(after_help = "Examples:
  podscale sweep sweeps/kpa-bursty.yaml
  podscale sweep sweeps/kpa-bursty.yaml --threads 2 --out /tmp/sweep
  podscale sweep sweeps/kpa-bursty.yaml --shard 0/4 --out /tmp/shard0   # then: podscale sweep merge
  (in a Kubernetes Indexed Job: --shard $JOB_COMPLETION_INDEX/4)")]
    #[command(args_conflicts_with_subcommands = true)]
    Sweep {
        #[command(subcommand)]
        action: Option<SweepAction>,
        /// Sweep YAML file (base scenario, axes, seeds).
        #[arg(required = true)]
        sweep: Option<PathBuf>,
        /// Output directory (default: output/<sweep name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Run only the runs with run_index % N == I, written as I/N.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Print nothing but errors (and no progress bar).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Merge the output directories of sweep shards into one results.csv and points.csv.
    #[command(after_help = "Examples:
  podscale sweep-merge /tmp/shard0 /tmp/shard1 /tmp/shard2 /tmp/shard3 --out /tmp/sweep")]
    SweepMerge {
        /// Shard output directories (each with sweep.json and results.csv).
        #[arg(required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
        /// Where to write the merged files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Find the cheapest configuration of a sweep that meets latency and cold-start bounds, and the
    /// Pareto frontier of pod-seconds against p99 latency.
    #[command(after_help = "Examples:
  podscale tune sweeps/kpa-bursty.yaml
  podscale tune sweeps/kpa-bursty.yaml --constraint 'latency_p99_ms <= 800' --constraint 'cold_start_affected_pct <= 1'
  podscale tune sweeps/kpa-bursty.yaml --results /tmp/sweep      # reuse a finished (merged) sweep
  podscale tune sweeps/azure-llm-slo.yaml --objective slo_attainment --constraint 'error_rate_5xx < 0.01'
  podscale tune sweeps/azure-llm-slo.yaml --check-days traces/AzureLLMInferenceTrace_code.csv")]
    Tune {
        /// Sweep YAML file; its `objective:` block is the default objective.
        sweep: PathBuf,
        /// Metric to optimize (default: the sweep's objective, else pod_seconds); slo_attainment is
        /// maximized, every other metric minimized. Ties go to the lower cost when the scenario has prices,
        /// else to fewer pod-seconds.
        #[arg(long)]
        objective: Option<String>,
        /// Constraint METRIC <= BOUND, METRIC < BOUND, METRIC >= BOUND or METRIC > BOUND (repeatable;
        /// replaces the sweep's constraints).
        #[arg(long = "constraint", value_name = "CONSTRAINT")]
        constraints: Vec<String>,
        /// Read results.csv from this sweep output directory instead of running the sweep.
        #[arg(long)]
        results: Option<PathBuf>,
        /// Output directory (default: output/<sweep name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// How many of the best configurations to list.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Your ConfigMap / InferenceService / Knative Service to patch with the answer (repeatable);
        /// writes <name>.patched.yaml and <name>.diff (default: fresh patch manifests).
        #[arg(long = "manifest", value_name = "FILE")]
        manifests: Vec<PathBuf>,
        /// Successive halving: run every point briefly with few seeds, and only the best 1/eta of each rung
        /// longer, so that only the last rung runs the full duration with every seed.
        #[arg(long, conflicts_with = "results")]
        adaptive: bool,
        /// With --adaptive: reduction factor between rungs (>= 2).
        #[arg(long, default_value_t = 2, requires = "adaptive")]
        eta: u32,
        /// With --adaptive: number of rungs (the last is full length; 1 is the full grid).
        #[arg(long, default_value_t = 3, requires = "adaptive")]
        rungs: u32,
        /// Re-run the chosen point and the baseline on each of these trace files (comma-separated; sets
        /// traffic.path; replaces the sweep file's `check:` list) and print a per-day table.
        #[arg(long, value_delimiter = ',', value_name = "FILES")]
        check_days: Vec<PathBuf>,
        /// Print nothing but the answer (and no progress bar).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Replay recorded traffic through the configured autoscaler and compare with observed replicas and
    /// latency (Prometheus exports); prints error figures, writes backtest.json, CSVs and overlaid plots.
    #[command(after_help = "Examples:
  podscale backtest scenarios/backtest-azure-code.yaml --observed requests=traces/azure-llm-code-rate.prom.json
  podscale backtest my.yaml --observed replicas=pods.json --observed 'latency=hist.json{revision=\"r1\"}'
Kinds: replicas, pod_count, latency (le buckets, seconds), concurrency, requests")]
    Backtest {
        /// Scenario YAML file (its traffic normally `kind: trace, format: prometheus`).
        scenario: PathBuf,
        /// Observation KIND=FILE or KIND=FILE{selector} (repeatable).
        #[arg(long = "observed", value_name = "KIND=FILE", required = true)]
        observed: Vec<String>,
        /// Unix time (s) of simulated time 0 (default: the first sample of the Prometheus traffic).
        #[arg(long)]
        origin: Option<f64>,
        /// Output directory (default: output/<scenario name>-backtest/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Random seed (overrides the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Override any scenario value by its dotted path (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Fit service time and cold start from production telemetry; prints the fit and its quality and
    /// writes the fitted values as scenario YAML.
    #[command(after_help = "Examples:
  podscale calibrate --latency hist.json --window 0s..30m --pods pods.json --out calibrated.yaml")]
    Calibrate(podscale::calibrate::CalibrateArgs),
    /// Start the teaching playground: a local web page with sliders over a bundled or pasted scenario.
    #[cfg(feature = "serve")]
    #[command(after_help = "Examples:
  podscale serve                 # http://127.0.0.1:8080/
  podscale serve --port 9000")]
    Serve {
        /// TCP port (0 picks a free one and prints it).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on; the default keeps the playground on this machine.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
    },
    /// Work with traffic traces.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
}

#[derive(Subcommand)]
enum SweepAction {
    /// Merge the output directories of sweep shards (same as `podscale sweep-merge`).
    #[command(after_help = "Examples:
  podscale sweep merge /tmp/shard0 /tmp/shard1 --out /tmp/sweep")]
    Merge {
        /// Shard output directories (each with sweep.json and results.csv).
        #[arg(required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
        /// Where to write the merged files.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum TraceCommand {
    /// Print a trace's span, request count, mean and peak rate and a per-interval rate profile.
    #[command(after_help = "Examples:
  podscale trace inspect traces/AzureLLMInferenceTrace_code.csv --format azure_llm
  podscale trace inspect my-trace.csv --format requests --interval 10s")]
    Inspect {
        /// Trace file (CSV), or `-` for standard input (at most 256 MiB, held in memory).
        file: PathBuf,
        /// Trace format: requests, azure_llm, counts or azure_functions.
        #[arg(long, default_value = "requests")]
        format: String,
        /// Width of one bar of the rate profile.
        #[arg(long, default_value = "60s")]
        interval: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            scenario,
            out,
            seed,
            overrides,
            quiet,
        } => run(&scenario, out, seed, &overrides, quiet),
        Command::Validate {
            scenario,
            overrides,
        } => validate(&scenario, &overrides),
        Command::Compare { runs, out } => compare(&runs, out),
        Command::Sweep {
            action: Some(SweepAction::Merge { dirs, out }),
            ..
        } => sweep_merge(&dirs, &out),
        Command::Sweep {
            action: None,
            sweep,
            out,
            threads,
            shard,
            quiet,
        } => match sweep {
            Some(sweep) => sweep_cmd(&sweep, out, threads, shard.as_deref(), quiet),
            None => Err(anyhow::anyhow!(
                "podscale sweep needs a sweep file (see --help)"
            )),
        },
        Command::SweepMerge { dirs, out } => sweep_merge(&dirs, &out),
        Command::Tune {
            sweep,
            objective,
            constraints,
            results,
            out,
            threads,
            top,
            quiet,
            manifests,
            adaptive,
            eta,
            rungs,
            check_days,
        } => tune_cmd(
            &sweep,
            TuneArgs {
                objective,
                constraints,
                results,
                out,
                threads,
                top,
                quiet,
                manifests,
                check_days,
                ladder: adaptive.then_some(sweep::Ladder {
                    eta,
                    rungs,
                    ..sweep::Ladder::default()
                }),
            },
        ),
        Command::Backtest {
            scenario,
            observed,
            origin,
            out,
            seed,
            overrides,
        } => backtest_cmd(&scenario, &observed, origin, out, seed, &overrides),
        Command::Calibrate(args) => {
            podscale::calibrate::run_cli(&args).map_err(anyhow::Error::from)
        }
        Command::Trace {
            command:
                TraceCommand::Inspect {
                    file,
                    format,
                    interval,
                },
        } => inspect(&file, &format, &interval),
        #[cfg(feature = "serve")]
        Command::Serve { port, host } => serve::serve(&host, port)
            .map(|()| ExitCode::SUCCESS)
            .map_err(anyhow::Error::msg),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Loads, prepares and builds the scenario (the library's one entry point); an invalid scenario prints its
/// errors and gives exit code 1.
fn load_sim(
    path: &Path,
    overrides: &[String],
    seed: Option<u64>,
) -> Result<Result<Simulation, ExitCode>> {
    refused(path, Simulation::from_path(path, overrides, seed))
}

/// Prints the errors of an invalid scenario (exit code 1); other failures are the caller's.
fn refused<T>(path: &Path, r: Result<T, SimulationError>) -> Result<Result<T, ExitCode>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(SimulationError::Scenario(errors)) => {
            eprintln!("{errors}");
            eprintln!("{} error(s) in {}", errors.0.len(), path.display());
            Ok(Err(ExitCode::from(1)))
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("loading {}", path.display()))),
    }
}

fn validate(path: &Path, overrides: &[String]) -> Result<ExitCode> {
    if let Ok(loaded) = scenario::load(path, overrides) {
        if scenario::services::is_multi(&loaded.document) {
            return match scenario::prepare_services(&loaded, None) {
                Ok(prepared) => {
                    for w in &prepared.warnings {
                        eprintln!("warning: {w}");
                    }
                    sayln!(
                        "{}: ok (scenario `{}`, {} services)",
                        path.display(),
                        loaded.name(),
                        prepared.services.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    eprintln!("{} error(s) in {}", errors.0.len(), path.display());
                    Ok(ExitCode::from(1))
                }
            };
        }
    }
    let sim = match load_sim(path, overrides, None)? {
        Ok(sim) => sim,
        Err(code) => return Ok(code),
    };
    print_warnings(&sim);
    sayln!("{}: ok (scenario `{}`)", path.display(), sim.name());
    Ok(ExitCode::SUCCESS)
}

fn run(
    path: &Path,
    out: Option<PathBuf>,
    seed: Option<u64>,
    overrides: &[String],
    quiet: bool,
) -> Result<ExitCode> {
    if let Ok(loaded) = scenario::load(path, overrides) {
        if scenario::services::is_multi(&loaded.document) {
            return run_services(loaded, out, seed, quiet);
        }
    }
    let sim = match load_sim(path, overrides, seed)? {
        Ok(sim) => sim,
        Err(code) => return Ok(code),
    };
    print_warnings(&sim);
    let out_dir = out.unwrap_or_else(|| PathBuf::from("output").join(sim.name()));
    let staging = Staging::create(&out_dir)?;
    interrupt::install();
    let summary = match simulate_into(staging.path(), sim, quiet) {
        Ok(summary) => summary,
        Err(e) => {
            drop(staging);
            if interrupt::requested() {
                eprintln!("interrupted: nothing written to {}", out_dir.display());
                return Ok(ExitCode::from(130));
            }
            return Err(e);
        }
    };
    staging.commit()?;
    if !quiet {
        let value = serde_json::to_value(&summary)?;
        say(&report::hey_summary(&value));
        say(&format!("\nOutputs: {}\n", out_dir.display()));
    }
    Ok(ExitCode::SUCCESS)
}

/// `run` for a scenario of several services sharing one cluster.
fn run_services(
    loaded: scenario::LoadedScenario,
    out: Option<PathBuf>,
    seed: Option<u64>,
    quiet: bool,
) -> Result<ExitCode> {
    let prepared = match scenario::prepare_services(&loaded, seed) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(1));
        }
    };
    for w in &prepared.warnings {
        eprintln!("warning: {w}");
    }
    let out_dir = out.unwrap_or_else(|| PathBuf::from("output").join(loaded.name()));
    let staging = Staging::create(&out_dir)?;
    interrupt::install();
    let total_secs = (loaded.spec.duration + loaded.spec.cooldown).whole_secs();
    let progress = Progress::new(total_secs, quiet);
    let mut on_row = |row: &SecondRow| {
        interrupt::check()?;
        progress.set(row.time_s);
        Ok(())
    };
    let hooks = report::DirHooks {
        on_row: Some(&mut on_row),
        check: Some(&interrupt::check),
    };
    let summary = match report::run_services_to_dir(staging.path(), &loaded, prepared, hooks) {
        Ok(s) => s,
        Err(e) => {
            drop(staging);
            if interrupt::requested() {
                eprintln!("interrupted: nothing written to {}", out_dir.display());
                return Ok(ExitCode::from(130));
            }
            return Err(e);
        }
    };
    progress.finish();
    staging.commit()?;
    if !quiet {
        let value = serde_json::to_value(&summary)?;
        say(&report::hey_summary(&value));
        if let Some(services) = &summary.services {
            say(&format!(
                "\nServices ({}; the 20 busiest):\n{}",
                services.count,
                services.table(20)
            ));
        }
        say(&format!("\nOutputs: {}\n", out_dir.display()));
    }
    Ok(ExitCode::SUCCESS)
}

/// Simulates and writes every output into `dir` (the staging folder), with the progress bar and Ctrl-C.
fn simulate_into(dir: &Path, sim: Simulation, quiet: bool) -> Result<RunSummary> {
    let total_secs = sim.end().whole_secs();
    let progress = Progress::new(total_secs, quiet);
    let mut on_row = |row: &SecondRow| {
        interrupt::check()?;
        progress.set(row.time_s);
        Ok(())
    };
    let hooks = report::DirHooks {
        on_row: Some(&mut on_row),
        check: Some(&interrupt::check),
    };
    let summary = report::run_to_dir(dir, sim, hooks)?;
    progress.finish();
    Ok(summary)
}

/// Prints what the scenario wrote that has no effect (stderr, with file:line).
fn print_warnings(sim: &Simulation) {
    for w in sim.warnings() {
        eprintln!("warning: {w}");
    }
}

/// A run's output folder while it is being written: `.<name>.partial-<pid>` beside the target, moved into
/// place only when the run is complete, so the target never holds part of a run or a mix of two.
/// Dropped without [`Staging::commit`] (error, interrupt), it is removed.
struct Staging {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl Staging {
    fn create(target: &Path) -> Result<Self> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow::anyhow!("--out {}: not a folder name", target.display()))?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        // The target is replaced whole; never replace a folder that holds something else.
        if let Ok(mut entries) = std::fs::read_dir(target) {
            let is_run =
                target.join("summary.json").exists() || target.join("timeseries.csv").exists();
            if entries.next().is_some() && !is_run {
                anyhow::bail!(
                    "--out {}: the folder exists and is not a podscale run folder (no summary.json); it would be replaced, so choose another or empty it",
                    target.display()
                );
            }
        }
        let temp = parent.join(format!(".{name}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&temp);
        std::fs::create_dir(&temp).with_context(|| format!("cannot create {}", temp.display()))?;
        interrupt::set_temporary(Some(temp.clone()));
        Ok(Staging {
            temp,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    fn path(&self) -> &Path {
        &self.temp
    }

    /// Replaces the target with the staging folder (an earlier run's folder is moved aside, then deleted).
    fn commit(mut self) -> Result<()> {
        let old = self.temp.with_extension("old");
        if self.target.exists() {
            std::fs::rename(&self.target, &old)
                .with_context(|| format!("cannot replace {}", self.target.display()))?;
        }
        std::fs::rename(&self.temp, &self.target)
            .with_context(|| format!("cannot move the run into {}", self.target.display()))?;
        self.committed = true;
        interrupt::set_temporary(None);
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.temp);
            interrupt::set_temporary(None);
        }
    }
}

/// SIGINT and SIGTERM during `run`: the handler only raises a flag (all a signal handler may safely do);
/// the run polls it once per simulated second and between output steps, stops, and removes its staging
/// folder. A second signal terminates at once, removing nothing more.
mod interrupt {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    static REQUESTED: AtomicBool = AtomicBool::new(false);
    static TEMPORARY: Mutex<Option<PathBuf>> = Mutex::new(None);

    extern "C" fn on_signal(signal: libc::c_int) {
        REQUESTED.store(true, Ordering::SeqCst);
        // SAFETY: signal() is async-signal-safe; restoring the default action makes a second signal final.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
        }
    }

    pub fn install() {
        let handler: extern "C" fn(libc::c_int) = on_signal;
        // SAFETY: the handler only stores to an atomic and calls signal(), both async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, handler as libc::sighandler_t);
            libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
        }
    }

    pub fn requested() -> bool {
        REQUESTED.load(Ordering::SeqCst)
    }

    /// An error once a signal has arrived, so that `?` unwinds the run and its temporaries.
    pub fn check() -> std::io::Result<()> {
        if requested() {
            Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "interrupted by a signal",
            ))
        } else {
            Ok(())
        }
    }

    pub fn set_temporary(path: Option<PathBuf>) {
        if let Ok(mut t) = TEMPORARY.lock() {
            *t = path;
        }
    }
}

/// Writes to stdout; a closed pipe (`podscale trace inspect ... | head -1`) ends the program quietly.
fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

fn compare(runs: &[PathBuf], out: Option<PathBuf>) -> Result<ExitCode> {
    let out = out.unwrap_or_else(|| PathBuf::from("output").join("compare"));
    let table = report::compare(runs, &out)?;
    sayln!("{table}");
    sayln!("Outputs: {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn inspect(file: &Path, format: &str, interval: &str) -> Result<ExitCode> {
    let format: TraceFormat = serde_yaml::from_str(format).map_err(|_| {
        anyhow::anyhow!(
            "unknown trace format \"{format}\"; allowed: {}",
            TraceFormat::NAMES.join(", ")
        )
    })?;
    let interval: SimDuration =
        parse_duration(interval).map_err(|e| anyhow::anyhow!("--interval: {e}"))?;
    // `-` reads the trace from standard input (held in memory, bounded; see `traffic::input`).
    let input = if file == Path::new("-") {
        podscale::traffic::TraceInput::from_reader(std::io::stdin().lock(), Some("<stdin>"))?
    } else {
        podscale::traffic::TraceInput::file(file)
    };
    let profile = podscale::traffic::inspect::inspect_input(&input, format, interval)?;
    sayln!("{profile}");
    Ok(ExitCode::SUCCESS)
}

/// Loads a sweep file and runs it (or reports why it cannot run, exit 1).
fn run_sweep(
    path: &Path,
    out: &Path,
    options: &sweep::SweepOptions,
) -> Result<Result<(sweep::SweepSpec, sweep::SweepOutcome), ExitCode>> {
    let spec = match sweep::SweepSpec::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Err(ExitCode::from(1)));
        }
    };
    let outcome = match sweep::execute(&spec, options) {
        Ok(o) => o,
        Err(e @ (sweep::SweepError::Spec { .. } | sweep::SweepError::Scenario { .. })) => {
            eprintln!("error: {e}");
            return Ok(Err(ExitCode::from(1)));
        }
        Err(e) => return Err(e).with_context(|| format!("sweep {}", path.display())),
    };
    sweep::write_outputs(&spec, options, &outcome, out)?;
    Ok(Ok((spec, outcome)))
}

fn sweep_cmd(
    path: &Path,
    out: Option<PathBuf>,
    threads: usize,
    shard: Option<&str>,
    quiet: bool,
) -> Result<ExitCode> {
    let shard = shard.map(sweep::Shard::parse).transpose()?;
    let options = sweep::SweepOptions {
        threads,
        shard,
        progress: !quiet,
    };
    let out = out.unwrap_or_else(|| default_sweep_out(path));
    let (spec, outcome) = match run_sweep(path, &out, &options)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    if !quiet {
        sayln!(
            "{} runs ({} points x {} seeds{}) in {:.2} s on {} threads: {:.1} runs/s",
            outcome.rows.len(),
            spec.point_count(),
            spec.seeds.len(),
            shard
                .map(|s| format!(", shard {}/{}", s.index, s.count))
                .unwrap_or_default(),
            outcome.wall_s,
            outcome.threads,
            outcome.runs_per_s()
        );
        sayln!("Outputs: {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn default_sweep_out(path: &Path) -> PathBuf {
    let name = sweep::SweepSpec::load(path)
        .map(|s| s.name)
        .unwrap_or_else(|_| "sweep".into());
    PathBuf::from("output").join(name)
}

fn sweep_merge(dirs: &[PathBuf], out: &Path) -> Result<ExitCode> {
    let manifest = sweep::merge(dirs, out)?;
    sayln!(
        "merged {} shard directories: {} runs of sweep `{}` into {}",
        dirs.len(),
        manifest.runs,
        manifest.sweep,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

struct TuneArgs {
    objective: Option<String>,
    constraints: Vec<String>,
    results: Option<PathBuf>,
    out: Option<PathBuf>,
    threads: usize,
    top: usize,
    quiet: bool,
    manifests: Vec<PathBuf>,
    /// Trace files to check the chosen point on (replace the sweep's `check:`).
    check_days: Vec<PathBuf>,
    /// Successive halving instead of the full grid.
    ladder: Option<sweep::Ladder>,
}

fn tune_cmd(path: &Path, args: TuneArgs) -> Result<ExitCode> {
    let spec = match sweep::SweepSpec::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut objective = spec
        .objective
        .clone()
        .unwrap_or_else(|| sweep::Objective::natural("pod_seconds"));
    if let Some(m) = args.objective {
        sweep::spec::check_metric(&m).map_err(|e| anyhow::anyhow!("--objective: {e}"))?;
        objective.maximize = sweep::objective::higher_is_better(&m);
        objective.metric = m;
    }
    if !args.constraints.is_empty() {
        objective.constraints = args
            .constraints
            .iter()
            .map(|c| sweep::Constraint::parse(c).map_err(|e| anyhow::anyhow!("--constraint: {e}")))
            .collect::<Result<_>>()?;
    }
    if let Err(e) = sweep::objective::require_inputs(&spec, &objective) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(1));
    }
    let days: Vec<sweep::check::CheckDay> = if args.check_days.is_empty() {
        spec.check.clone()
    } else {
        args.check_days
            .iter()
            .map(|p| sweep::check::CheckDay::trace_file(p))
            .collect()
    };
    let out = args.out.unwrap_or_else(|| default_sweep_out(path));
    let mut adaptive_text = String::new();
    let (axes, points) = match (args.results, args.ladder) {
        (_, Some(ladder)) => {
            let options = sweep::SweepOptions {
                threads: args.threads,
                shard: None,
                progress: false,
            };
            let outcome = match sweep::race(&spec, &objective, ladder, &options) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(1));
                }
            };
            adaptive_text = outcome.text();
            if !args.quiet {
                println!("{adaptive_text}");
            }
            (
                spec.axes.iter().map(|a| a.path.clone()).collect(),
                outcome.points,
            )
        }
        (Some(dir), None) => {
            let (manifest, axes, rows) = sweep::read_dir(&dir)?;
            if manifest.runs < manifest.total_runs {
                eprintln!(
                    "warning: {} holds {} of {} runs (a shard?); tuning on what is there",
                    dir.display(),
                    manifest.runs,
                    manifest.total_runs
                );
            }
            (axes, sweep::results::aggregate(&rows))
        }
        (None, None) => {
            let options = sweep::SweepOptions {
                threads: args.threads,
                shard: None,
                progress: !args.quiet,
            };
            let (spec, outcome) = match run_sweep(path, &out, &options)? {
                Ok(v) => v,
                Err(code) => return Ok(code),
            };
            if !args.quiet {
                sayln!(
                    "{} runs in {:.2} s on {} threads ({:.1} runs/s)\n",
                    outcome.rows.len(),
                    outcome.wall_s,
                    outcome.threads,
                    outcome.runs_per_s()
                );
            }
            (
                spec.axes.iter().map(|a| a.path.clone()).collect(),
                outcome.points,
            )
        }
    };
    let report = sweep::tune(&spec.name, axes, points, objective);
    report.write(&out, args.top)?;
    if !adaptive_text.is_empty() {
        let path = out.join("adaptive.txt");
        podscale::report::write_atomic(&path, adaptive_text.as_bytes())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    let applied = sweep::apply::write(&report, &out, &args.manifests)?;
    let mut text = report.text(args.top);
    for file in &applied {
        text.push_str(&format!("manifest: {}\n", file.display()));
    }
    if let (Some(best), false) = (report.best(), days.is_empty()) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start {} threads: {e}", args.threads))?;
        let check =
            match pool.install(|| sweep::check::run(&spec, best.point, &days, &report.objective)) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(1));
                }
            };
        let check_text = check.text();
        let path = out.join("check.txt");
        podscale::report::write_atomic(&path, check_text.as_bytes())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let path = out.join("check.csv");
        podscale::report::write_atomic(&path, &check.csv())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        text.push('\n');
        text.push_str(&check_text);
    } else if !days.is_empty() {
        text.push_str("\nNo point to check across days (none meets every constraint).\n");
    }
    say(&text);
    if !args.quiet {
        sayln!(
            "\nOutputs: {} (tune.txt, pareto.csv, pareto.png, pareto.svg)",
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn backtest_cmd(
    path: &Path,
    observed: &[String],
    origin: Option<f64>,
    out: Option<PathBuf>,
    seed: Option<u64>,
    overrides: &[String],
) -> Result<ExitCode> {
    let observed = observed
        .iter()
        .map(|o| {
            podscale::backtest::Observed::parse(o).map_err(|e| anyhow::anyhow!("--observed {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    // The backtest also reads the scenario's trace section (to align observed wall-clock times).
    let built = scenario::load(path, overrides)
        .map_err(SimulationError::from)
        .and_then(|loaded| Ok((Simulation::from_loaded(&loaded, seed)?, loaded)));
    let (sim, loaded) = match refused(path, built)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let origin_ms = origin.map(|s| (s * 1000.0).round() as i64);
    let out =
        out.unwrap_or_else(|| PathBuf::from("output").join(format!("{}-backtest", sim.name())));
    let result = podscale::backtest::run(&loaded, sim, &observed, origin_ms)?;
    result.write(&out)?;
    print!("{}", result.text());
    println!(
        "\nOutputs: {} (backtest.json, backtest_*.csv, backtest_*.svg)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
