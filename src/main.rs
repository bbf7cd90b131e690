//! The `podscale` command line. The only place that uses `anyhow`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use podscale::report::{self, AtomicFile, Progress};
use podscale::scenario;
use podscale::sim::{self, output::CsvTimeseries, SecondRow, TimeseriesSink};
use podscale::time::{parse_duration, SimDuration};
use podscale::traffic::TraceFormat;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
  podscale run scenarios/quickstart.yaml --set traffic.rate=50 --set autoscaler.config.stable-window=30s
  podscale run scenarios/quickstart.yaml --set 'service.annotations.\"autoscaling.knative.dev/target\"=5'")]
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
  podscale validate scenarios/quickstart.yaml --set traffic.rate=-1")]
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
    /// Work with traffic traces.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
}

#[derive(Subcommand)]
enum TraceCommand {
    /// Print a trace's span, request count, mean and peak rate and a per-interval rate profile.
    #[command(after_help = "Examples:
  podscale trace inspect traces/azure-llm-code-2023.csv --format azure_llm
  podscale trace inspect my-trace.csv --format requests --interval 10s")]
    Inspect {
        /// Trace file (CSV).
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
        Command::Trace {
            command:
                TraceCommand::Inspect {
                    file,
                    format,
                    interval,
                },
        } => inspect(&file, &format, &interval),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

type Loaded = (scenario::LoadedScenario, scenario::Prepared);

fn load_and_prepare(
    path: &Path,
    overrides: &[String],
    seed: Option<u64>,
) -> Result<Loaded, scenario::ScenarioErrors> {
    let loaded = scenario::load(path, overrides)?;
    let prepared = scenario::prepare(&loaded, seed)?;
    Ok((loaded, prepared))
}

fn validate(path: &Path, overrides: &[String]) -> Result<ExitCode> {
    match load_and_prepare(path, overrides, None) {
        Ok((loaded, _)) => {
            println!("{}: ok (scenario `{}`)", path.display(), loaded.name());
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{} error(s) in {}", errors.0.len(), path.display());
            Ok(ExitCode::from(1))
        }
    }
}

/// Forwards rows to the CSV and moves the progress bar.
struct ProgressSink<'a, S: TimeseriesSink> {
    inner: S,
    progress: &'a Progress,
}

impl<S: TimeseriesSink> TimeseriesSink for ProgressSink<'_, S> {
    fn row(&mut self, row: &SecondRow) -> std::io::Result<()> {
        self.progress.set(row.time_s);
        self.inner.row(row)
    }
}

fn run(
    path: &Path,
    out: Option<PathBuf>,
    seed: Option<u64>,
    overrides: &[String],
    quiet: bool,
) -> Result<ExitCode> {
    let (loaded, prepared) = match load_and_prepare(path, overrides, seed) {
        Ok(v) => v,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(1));
        }
    };
    let plots = loaded.spec.output.plots;
    let out_dir = out.unwrap_or_else(|| PathBuf::from("output").join(loaded.name()));
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create output directory {}", out_dir.display()))?;
    let total_secs = (loaded.spec.duration + loaded.spec.cooldown).whole_secs();
    let progress = Progress::new(total_secs, quiet);
    let ts_path = out_dir.join("timeseries.csv");
    let file = AtomicFile::create(&ts_path)
        .with_context(|| format!("cannot write {}", ts_path.display()))?;
    let csv = CsvTimeseries::new(std::io::BufWriter::new(file))?;
    let mut sink = ProgressSink {
        inner: csv,
        progress: &progress,
    };
    let mut request_log = if loaded.spec.output.per_request {
        let path = out_dir.join("requests.csv");
        let file = AtomicFile::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Some(sim::CsvRequestLog::new(std::io::BufWriter::new(file))?)
    } else {
        None
    };
    // On error the uncommitted files are dropped, which removes their temporary files.
    let summary = sim::run_with_request_log(
        prepared.config,
        prepared.traffic,
        &mut sink,
        request_log.as_mut().map(|l| l as &mut dyn sim::RequestLog),
    )
    .with_context(|| format!("simulating {}", path.display()))?;
    if let Some(log) = request_log {
        let mut writer = log.into_inner();
        writer.flush()?;
        writer.into_inner().map_err(|e| e.into_error())?.commit()?;
    }
    progress.finish();
    let mut writer = sink.inner.into_inner();
    writer.flush()?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.commit()?;
    let json = serde_json::to_string_pretty(&summary)? + "\n";
    report::write_atomic(&out_dir.join("summary.json"), json.as_bytes())?;
    if plots {
        report::write_plots(&out_dir)
            .with_context(|| format!("plotting into {}", out_dir.display()))?;
        report::write_html(&out_dir)
            .with_context(|| format!("writing {}", out_dir.join("report.html").display()))?;
    }
    if !quiet {
        let value = serde_json::to_value(&summary)?;
        print!("{}", report::hey_summary(&value));
        println!("\nOutputs: {}", out_dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn compare(runs: &[PathBuf], out: Option<PathBuf>) -> Result<ExitCode> {
    let out = out.unwrap_or_else(|| PathBuf::from("output").join("compare"));
    let table = report::compare(runs, &out)?;
    println!("{table}");
    println!("Outputs: {}", out.display());
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
    let profile = podscale::traffic::inspect(file, format, interval)?;
    println!("{profile}");
    Ok(ExitCode::SUCCESS)
}
