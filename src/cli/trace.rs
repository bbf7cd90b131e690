//! `podscale trace inspect`: the profile of a trace file (or standard input) at a chosen interval.

use anyhow::Result;
use podscale::time::{parse_duration, SimDuration};
use podscale::traffic::TraceFormat;
use std::path::Path;
use std::process::ExitCode;

pub(crate) fn inspect(file: &Path, format: &str, interval: &str) -> Result<ExitCode> {
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
