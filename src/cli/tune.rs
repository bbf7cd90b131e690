//! `podscale tune`: picks the best point of a sweep (run now, read from a results folder, or raced by
//! successive halving), writes the report and patched manifests, and checks the choice across days.

use super::say;
use super::sweep::{default_sweep_out, run_sweep};
use anyhow::Result;
use podscale::sweep;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) struct TuneArgs {
    pub(crate) objective: Option<String>,
    pub(crate) constraints: Vec<String>,
    pub(crate) results: Option<PathBuf>,
    pub(crate) out: Option<PathBuf>,
    pub(crate) threads: usize,
    pub(crate) top: usize,
    pub(crate) quiet: bool,
    pub(crate) manifests: Vec<PathBuf>,
    /// Trace files to check the chosen point on (replace the sweep's `check:`).
    pub(crate) check_days: Vec<PathBuf>,
    /// Search flags (`--adaptive`, `--grid`, `--eta`, `--rungs`, `--budget`); they override the sweep
    /// file's `tune:` block.
    pub(crate) ladder: sweep::LadderFlags,
}

pub(crate) fn tune_cmd(path: &Path, args: TuneArgs) -> Result<ExitCode> {
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
    // A finished sweep given with --results is read as it is, whatever the file's `tune:` asks for.
    let ladder = if args.results.is_some() {
        None
    } else {
        match sweep::ladder::choose(&spec, &args.ladder) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(1));
            }
        }
    };
    let mut adaptive_text = String::new();
    let (axes, points) = match (args.results, ladder) {
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
