//! Memory does not grow with simulated duration: runs the KPA benchmark scenario (`benches/kpa-cc4-1h.yaml`,
//! Poisson 200 req/s, containerConcurrency 4, cold starts) for 1 h and for 24 h at the same rate, each in a
//! fresh process, and prints the peak resident set (VmHWM from /proc/self/status, Linux only).
//!
//!     cargo run --release --example memory_duration            # both durations, a table
//!     cargo run --release --example memory_duration -- 6h      # one duration, one line

use podscale::observe::output::NoTimeseries;
use podscale::Simulation;
use std::path::PathBuf;
use std::process::Command;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn run(duration: &str) -> Result<(), String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/kpa-cc4-1h.yaml");
    let overrides = [format!("duration={duration}")];
    let sim = Simulation::from_path(&path, &overrides, None).map_err(|e| e.to_string())?;
    let before = peak_rss_kib();
    let started = std::time::Instant::now();
    let summary = sim.run(&mut NoTimeseries).map_err(|e| e.to_string())?;
    let wall = started.elapsed().as_secs_f64();
    let after = peak_rss_kib();
    let mib = |k: Option<u64>| {
        k.map(|k| format!("{:.1}", k as f64 / 1024.0))
            .unwrap_or("?".into())
    };
    println!(
        "{duration:>6}  requests {:>11}  wall {wall:>7.2} s  {:>5.2} M req/s  peak RSS before run {} MiB, after {} MiB",
        summary.requests.total,
        summary.requests.total as f64 / wall / 1e6,
        mib(before),
        mib(after),
    );
    Ok(())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(d) = args.first() {
        return run(d);
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    for d in ["1h", "24h"] {
        let status = Command::new(&me)
            .arg(d)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("the {d} run failed"));
        }
    }
    Ok(())
}
