//! The `podscale` command line. The only place that uses `anyhow`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use podscale::scenario;
use podscale::sim::{self, output::CsvTimeseries, RunSummary};
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
    /// Run one scenario and write summary.json, timeseries.csv and plots.
    #[command(
        after_help = "Examples:\n  podscale run scenarios/quickstart.yaml\n  podscale run scenarios/quickstart.yaml --seed 7 --out /tmp/run1\n  podscale run scenarios/quickstart.yaml --set traffic.rate=50 --set autoscaler.config.stable-window=30s\n  podscale run scenarios/quickstart.yaml --set 'service.annotations.\"autoscaling.knative.dev/target\"=5'"
    )]
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
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check a scenario without running it; reports every error with its location and the allowed values.
    #[command(
        after_help = "Examples:\n  podscale validate scenarios/quickstart.yaml\n  podscale validate scenarios/quickstart.yaml --set traffic.rate=-1"
    )]
    Validate {
        scenario: PathBuf,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
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
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load_and_prepare(
    path: &Path,
    overrides: &[String],
    seed: Option<u64>,
) -> Result<(scenario::LoadedScenario, scenario::Prepared), scenario::ScenarioErrors> {
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
    let out_dir = out.unwrap_or_else(|| PathBuf::from("output").join(loaded.name()));
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create output directory {}", out_dir.display()))?;
    let ts_final = out_dir.join("timeseries.csv");
    let ts_tmp = out_dir.join(".timeseries.csv.tmp");
    let file = std::fs::File::create(&ts_tmp)
        .with_context(|| format!("cannot write {}", ts_tmp.display()))?;
    let mut sink = CsvTimeseries::new(std::io::BufWriter::new(file))?;
    let summary = match sim::run(prepared.config, prepared.traffic, &mut sink) {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&ts_tmp);
            return Err(e).with_context(|| format!("simulating {}", path.display()));
        }
    };
    sink.into_inner().flush()?;
    std::fs::rename(&ts_tmp, &ts_final)?;
    let json = serde_json::to_string_pretty(&summary)? + "\n";
    let sum_tmp = out_dir.join(".summary.json.tmp");
    std::fs::write(&sum_tmp, json)?;
    std::fs::rename(&sum_tmp, out_dir.join("summary.json"))?;
    if !quiet {
        print_summary(&summary, &out_dir);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(s: &RunSummary, out_dir: &Path) {
    println!(
        "scenario {} (seed {}), {:.0} s simulated in {:.3} s wall",
        s.scenario, s.seed, s.duration_s, s.wall_time_s
    );
    println!(
        "requests: {} total, {} completed, {} failed ({} timed out, {} rejected), {} waited for a cold start",
        s.requests.total, s.requests.completed, s.requests.failed, s.requests.timed_out, s.requests.rejected, s.requests.cold_start_affected
    );
    let l = &s.latency_ms;
    println!(
        "latency ms: mean {:.2}, p50 {:.2}, p95 {:.2}, p99 {:.2}, max {:.2}",
        l.mean, l.p50, l.p95, l.p99, l.max
    );
    println!(
        "pods: max ready {}, mean ready {:.2}, pod-seconds {:.0}, cold starts {}, scale events {}",
        s.replicas.max_ready, s.replicas.mean_ready, s.pod_seconds, s.cold_starts, s.scale_events
    );
    println!("outputs in {}", out_dir.display());
}
