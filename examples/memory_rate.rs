//! Memory does not grow with the request rate: runs the KPA benchmark scenario (`benches/kpa-cc4-1h.yaml`:
//! containerConcurrency 4, exponential 0.1 s service, lognormal cold starts, from one warm pod) for 2 simulated
//! minutes at 100 req/s and at 100,000 req/s, each in a fresh child process, and prints each child's peak
//! resident set (VmHWM from /proc/self/status, Linux only) and the ratio. `maxReplicas` is raised to 5000 so
//! the high rate can be served (about 3,600 pods at the 70 % target) rather than rejected.
//!
//!     cargo run --release --example memory_rate              # both rates, then the ratio
//!     cargo run --release --example memory_rate -- 1000      # one rate (req/s), one line

use podscale::observe::output::NoTimeseries;
use podscale::Simulation;
use std::path::PathBuf;
use std::process::Command;

const DURATION: &str = "2m";

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One run in this process; prints `rate requests wall peak_kib` on one line for the parent to parse.
fn run(rate: &str) -> Result<(), String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/kpa-cc4-1h.yaml");
    let overrides = [
        format!("duration={DURATION}"),
        format!("traffic.rate={rate}"),
        "service.maxReplicas=5000".to_string(),
    ];
    let sim = Simulation::from_path(&path, &overrides, None).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let summary = sim.run(&mut NoTimeseries).map_err(|e| e.to_string())?;
    let wall = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib().ok_or("no VmHWM in /proc/self/status (Linux only)")?;
    println!(
        "{rate} {} {wall:.3} {peak} {}",
        summary.requests.total, summary.replicas.max_ready
    );
    Ok(())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(rate) = args.first() {
        return run(rate);
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut peaks = Vec::new();
    println!("KPA cc 4, {DURATION} simulated, one child process per rate");
    println!(
        "{:>8} {:>11} {:>9} {:>9} {:>14}",
        "req/s", "requests", "wall s", "max pods", "peak RSS MiB"
    );
    for rate in ["100", "100000"] {
        let out = Command::new(&me)
            .arg(rate)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "the {rate} req/s run failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = line.split_whitespace().collect();
        let [_, requests, wall, peak, pods] = f[..] else {
            return Err(format!("unexpected child output: {line}"));
        };
        let peak: f64 = peak.parse().map_err(|_| format!("bad peak in {line}"))?;
        peaks.push(peak);
        println!(
            "{rate:>8} {requests:>11} {wall:>9} {pods:>9} {:>14.1}",
            peak / 1024.0
        );
    }
    println!(
        "peak RSS at 100,000 req/s / at 100 req/s: {:.2}",
        peaks[1] / peaks[0]
    );
    Ok(())
}
