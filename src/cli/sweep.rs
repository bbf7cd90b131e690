//! `podscale sweep` and `sweep merge`: runs a sweep file (whole or one shard) and merges shard folders.

use anyhow::{Context, Result};
use podscale::sweep;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Loads a sweep file and runs it (or reports why it cannot run, exit 1).
pub(crate) fn run_sweep(
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

pub(crate) fn sweep_cmd(
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

pub(crate) fn default_sweep_out(path: &Path) -> PathBuf {
    let name = sweep::SweepSpec::load(path)
        .map(|s| s.name)
        .unwrap_or_else(|_| "sweep".into());
    PathBuf::from("output").join(name)
}

pub(crate) fn sweep_merge(dirs: &[PathBuf], out: &Path) -> Result<ExitCode> {
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
