//! `podscale run`: simulates a scenario (one service, or several sharing a cluster) into its output folder,
//! through a staging folder, with the progress bar and Ctrl-C handling.

use super::staging::Staging;
use super::{interrupt, load_sim, print_warnings, say};
use anyhow::Result;
use podscale::observe::output::{RunSummary, SecondRow};
use podscale::report::{self, Progress};
use podscale::Simulation;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) fn run(
    path: &Path,
    out: Option<PathBuf>,
    seed: Option<u64>,
    overrides: &[String],
    quiet: bool,
) -> Result<ExitCode> {
    let sim = match load_sim(path, overrides, seed)? {
        Ok(sim) => sim,
        Err(code) => return Ok(code),
    };
    print_warnings(&sim);
    let out_dir = out.unwrap_or_else(|| PathBuf::from("output").join(sim.name()));
    // Before the staging folder exists, so a signal can never find it without the handler to remove it.
    interrupt::install();
    let staging = Staging::create(&out_dir)?;
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
        say(&super::tables::services_tables(&summary));
        say(&format!("\nOutputs: {}\n", out_dir.display()));
    }
    Ok(ExitCode::SUCCESS)
}

/// Simulates and writes every output into `dir` (the staging folder), with the progress bar and Ctrl-C.
pub(crate) fn simulate_into(dir: &Path, sim: Simulation, quiet: bool) -> Result<RunSummary> {
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
