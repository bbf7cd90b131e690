//! `podscale compare`: the side-by-side table of several run folders.

use anyhow::Result;
use podscale::report;
use std::path::PathBuf;
use std::process::ExitCode;

pub(crate) fn compare(runs: &[PathBuf], out: Option<PathBuf>) -> Result<ExitCode> {
    let out = out.unwrap_or_else(|| PathBuf::from("output").join("compare"));
    let table = report::compare(runs, &out)?;
    sayln!("{table}");
    sayln!("Outputs: {}", out.display());
    Ok(ExitCode::SUCCESS)
}
