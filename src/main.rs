//! The `podscale` command line. The only place that uses `anyhow`.

use clap::{Parser, Subcommand};
use podscale::sweep;
use std::path::PathBuf;
use std::process::ExitCode;

mod cli;
#[cfg(feature = "serve")]
mod serve;

use cli::backtest::backtest_cmd;
use cli::compare::compare;
use cli::run::run;
use cli::sweep::{sweep_cmd, sweep_merge};
use cli::trace::inspect;
use cli::tune::{tune_cmd, TuneArgs};
use cli::validate::validate;

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
  podscale tune sweeps/kpa-bursty.yaml --adaptive --eta 2 --rungs 3   # race the points (successive halving)
  podscale tune sweeps/kpa-bursty.yaml --budget 80                # the fewest rungs whose plan fits 80 full runs
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
        /// longer, so that only the last rung runs the full duration with every seed (default when the
        /// sweep file's `tune:` block asks for it).
        #[arg(long, conflicts_with_all = ["results", "grid"])]
        adaptive: bool,
        /// Run every point with every seed for the full duration, whatever the sweep file's `tune:` says.
        #[arg(long, conflicts_with_all = ["eta", "rungs", "budget"])]
        grid: bool,
        /// Reduction factor between rungs (>= 2; implies --adaptive) [default: the file's tune.eta, else 2].
        #[arg(long, conflicts_with = "results")]
        eta: Option<u32>,
        /// Number of rungs (the last is full length; 1 is the full grid; implies --adaptive) [default: the
        /// file's tune.rungs, else the fewest that fit the budget, else 3].
        #[arg(long, conflicts_with = "results")]
        rungs: Option<u32>,
        /// Most simulated time to spend, in full-length runs (the grid costs points x seeds); without
        /// --rungs, picks the fewest rungs that fit (implies --adaptive).
        #[arg(long, conflicts_with = "results")]
        budget: Option<f64>,
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
            grid,
            eta,
            rungs,
            budget,
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
                ladder: sweep::LadderFlags {
                    search: if adaptive {
                        Some(sweep::Search::Adaptive)
                    } else if grid {
                        Some(sweep::Search::Grid)
                    } else {
                        None
                    },
                    eta,
                    rungs,
                    budget,
                },
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
