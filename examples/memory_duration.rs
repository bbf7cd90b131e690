//! Memory does not grow with simulated duration: runs the KPA benchmark scenario (`benches/kpa-cc4-1h.yaml`,
//! Poisson 200 req/s, containerConcurrency 4, cold starts) for 1 h and for 24 h at the same rate, each in a
//! fresh process, and prints the peak resident set (VmHWM from /proc/self/status, Linux only).
//!
//! Without `--plots` the rows go nowhere (the simulation alone); with `--plots` each run goes through
//! `report::run_to_dir` into a scratch folder with `output.plots=true`, as `podscale run` does: rows to
//! `timeseries.csv`, the summary, every chart (PNG and SVG) and `report.html`, which read the rows back in
//! one streamed pass into at most `report::MAX_ROWS` buckets.
//!
//!     cargo run --release --example memory_duration                # both durations, a table
//!     cargo run --release --example memory_duration -- --plots     # the same with outputs and plots
//!     cargo run --release --example memory_duration -- 6h          # one duration, one line

use podscale::observe::output::NoTimeseries;
use podscale::{report, Simulation};
use std::path::PathBuf;
use std::process::Command;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn run(duration: &str, plots: bool) -> Result<(), String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/kpa-cc4-1h.yaml");
    let mut overrides = vec![format!("duration={duration}")];
    if plots {
        overrides.push("output.plots=true".into());
    }
    let sim = Simulation::from_path(&path, &overrides, None).map_err(|e| e.to_string())?;
    let before = peak_rss_kib();
    let started = std::time::Instant::now();
    let summary = if plots {
        let dir = std::env::temp_dir().join(format!(
            "podscale-memory-duration-{}-{duration}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let result = report::run_to_dir(&dir, sim, report::DirHooks::default());
        // Best effort: a leftover scratch folder is harmless.
        let _ = std::fs::remove_dir_all(&dir);
        result.map_err(|e| format!("{e:#}"))?
    } else {
        sim.run(&mut NoTimeseries).map_err(|e| e.to_string())?
    };
    let wall = started.elapsed().as_secs_f64();
    let after = peak_rss_kib();
    let mib = |k: Option<u64>| {
        k.map(|k| format!("{:.1}", k as f64 / 1024.0))
            .unwrap_or("?".into())
    };
    let what = if plots { "with plots" } else { "no output" };
    println!(
        "{duration:>6}  {what}  requests {:>11}  wall {wall:>7.2} s  {:>5.2} M req/s  peak RSS before run {} MiB, after {} MiB",
        summary.requests.total,
        summary.requests.total as f64 / wall / 1e6,
        mib(before),
        mib(after),
    );
    Ok(())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plots = args.iter().any(|a| a == "--plots");
    if let Some(d) = args.iter().find(|a| *a != "--plots") {
        return run(d, plots);
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    for d in ["1h", "24h"] {
        let mut command = Command::new(&me);
        command.arg(d);
        if plots {
            command.arg("--plots");
        }
        let status = command.status().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("the {d} run failed"));
        }
    }
    Ok(())
}
