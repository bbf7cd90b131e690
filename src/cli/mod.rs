//! The handlers of the `podscale` subcommands, one module per command, and what they share: loading a
//! scenario with its errors printed (exit code 1), warnings on stderr and stdout that ends quietly on a
//! closed pipe. `main.rs` keeps the argument definitions and the dispatch.

/// `println!` that ends quietly on a closed pipe (see [`say`]).
macro_rules! sayln {
    ($($arg:tt)*) => {
        $crate::cli::say(&format!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) mod backtest;
pub(crate) mod compare;
mod interrupt;
pub(crate) mod run;
mod staging;
pub(crate) mod sweep;
mod tables;
pub(crate) mod trace;
pub(crate) mod tune;
pub(crate) mod validate;

use anyhow::Result;
use podscale::{Simulation, SimulationError};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Loads, prepares and builds the scenario (the library's one entry point); an invalid scenario prints its
/// errors and gives exit code 1.
pub(crate) fn load_sim(
    path: &Path,
    overrides: &[String],
    seed: Option<u64>,
) -> Result<Result<Simulation, ExitCode>> {
    refused(path, Simulation::from_path(path, overrides, seed))
}

/// Prints the errors of an invalid scenario (exit code 1); other failures are the caller's.
pub(crate) fn refused<T>(
    path: &Path,
    r: Result<T, SimulationError>,
) -> Result<Result<T, ExitCode>> {
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

/// Prints what the scenario wrote that has no effect (stderr, with file:line).
pub(crate) fn print_warnings(sim: &Simulation) {
    for w in sim.warnings() {
        eprintln!("warning: {w}");
    }
}

/// Writes to stdout; a closed pipe (`podscale trace inspect ... | head -1`) ends the program quietly.
pub(crate) fn say(text: &str) {
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
