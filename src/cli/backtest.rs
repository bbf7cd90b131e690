//! `podscale backtest`: replays a scenario against observed series and writes the comparison.

use super::refused;
use anyhow::Result;
use podscale::scenario;
use podscale::{Simulation, SimulationError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) fn backtest_cmd(
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
