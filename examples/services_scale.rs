//! Scale of a many-service run (issue 16 item 6): N services (default 1,000), each a KPA-scaled revision
//! with its own diurnal Poisson traffic (popularity Zipf-like, exponent 0.8 unless given; the total rate is `--rate`,
//! default 3,000 req/s), on one cluster, for a simulated duration. Prints simulated requests per CPU
//! second of the run (one thread, so per core; wall time is printed too) and the peak resident set (VmHWM from /proc/self/status, Linux only) of a fresh
//! process per configuration, so memory can be compared across durations and service counts.
//!
//!     cargo run --release --example services_scale                    # the table: 1,000 x 1 h, 1,000 x 24 h (twice), 100 x 24 h
//!     cargo run --release --example services_scale -- 1000 24h 3000   # one run: services, duration, total rate
//!     cargo run --release --example services_scale -- 1000 1h 3000 1.6   # ... and the popularity exponent
//!     PODSCALE_EVERY_SECOND=1 cargo run ...   # step every scaler every second (no skipping at rest)
//!
//! With the default exponent (0.8) even the least popular service gets a request every second or two, so
//! no KPA ever rests; with a steeper one (1.6, closer to a Functions day where most functions are rare)
//! most services sit at zero most of the time and their scalers are left out of the tick.
//!
//! The per-second rows go to no sink and the per-service rows to `io::sink()` (one per service per hour),
//! so the figure is the simulation's, not the disk's. The allocator is the library's default, mimalloc
//! (feature `mimalloc`); `--no-default-features --features cli` measures the system allocator.

use podscale::observe::output::NoTimeseries;
use podscale::scenario::{self, prepare_services};
use podscale::sim::{self, MultiOutputs, ServiceRun};
use std::path::Path;
use std::process::Command;

/// CPU seconds (user + system) this process has used: the figure that counts on a shared machine, where
/// wall time includes waiting for a core.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The scenario text: `services` services sharing one pool, total mean rate `rate` req/s, the `i`-th
/// busiest service's share proportional to `1 / i^zipf`.
pub fn scenario_text(services: usize, duration: &str, rate: f64, zipf: f64) -> String {
    let weights: Vec<f64> = (0..services)
        .map(|i| 1.0 / ((i + 1) as f64).powf(zipf))
        .collect();
    let sum: f64 = weights.iter().sum();
    let mut text = format!(
        "name: scale-{services}\nduration: {duration}\nseed: 7\n\
         output: {{plots: false, service_interval: 3600s}}\n\
         pod: {{cold_start: 5s, service_time: {{dist: exponential, mean: 50ms}}, termination_grace: 5s,\n\
         \x20 resources: {{requests: {{cpu: 250m, memory: 256Mi}}}}}}\n\
         service: {{containerConcurrency: 0, minReplicas: 0, maxReplicas: 50}}\n\
         autoscaler: {{class: kpa, config: {{scale-to-zero-grace-period: \"30s\"}}}}\n\
         cluster:\n  node_pools: [{{name: cpu, nodes: 400, cpu: 64, memory: 256Gi}}]\n\
         services:\n"
    );
    for (i, w) in weights.iter().enumerate() {
        let mean = rate * w / sum;
        text.push_str(&format!(
            "  - {{name: s{i:04}, traffic: {{kind: diurnal, mean_rate: {mean:.6}, amplitude: {:.6}, phase: {}s}}}}\n",
            mean * 0.6,
            (i * 3607) % 86_400
        ));
    }
    text
}

fn run(services: usize, duration: &str, rate: f64, zipf: f64) -> Result<(), String> {
    let text = scenario_text(services, duration, rate, zipf);
    let loaded = scenario::load_str(&text, Path::new("scale.yaml"), Path::new("."), &[])
        .map_err(|e| e.to_string())?;
    let prepared = prepare_services(&loaded, None).map_err(|e| e.to_string())?;
    let pools = vec!["cpu".to_string()];
    let mut outputs = MultiOutputs::new(
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
        3600,
        &pools,
    )
    .map_err(|e| e.to_string())?;
    outputs.every_second = std::env::var_os("PODSCALE_EVERY_SECOND").is_some();
    let skipped = outputs.skipped_ticks.clone();
    let runs: Vec<ServiceRun> = prepared
        .services
        .into_iter()
        .map(|s| ServiceRun {
            config: s.prepared.config,
            traffic: s.prepared.traffic,
        })
        .collect();
    let before = peak_rss_kib();
    let cpu_before = cpu_seconds();
    let started = std::time::Instant::now();
    let summary = sim::run_services("scale", prepared.seed, runs, outputs, &mut NoTimeseries)
        .map_err(|e| e.to_string())?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let after = peak_rss_kib();
    let mib = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0));
    let ticks = services as f64 * summary.duration_s;
    println!(
        "{services:>6} services {duration:>5} zipf {zipf}  requests {:>11}  events {:>11}  wall {wall:>7.1} s  CPU {cpu:>7.1} s  {:>5.2} M req per CPU-s  max ready pods {:>5}  scaler ticks skipped {:.0} %  peak RSS before run {} MiB, after {} MiB",
        summary.requests.total,
        summary.events_processed,
        summary.requests.total as f64 / cpu / 1e6,
        summary.replicas.max_ready,
        100.0 * skipped.load(std::sync::atomic::Ordering::Relaxed) as f64 / ticks.max(1.0),
        mib(before),
        mib(after),
    );
    Ok(())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() >= 2 {
        let services: usize = args[0].parse().map_err(|_| "services: a whole number")?;
        let rate: f64 = args
            .get(2)
            .map_or(Ok(3000.0), |r| r.parse())
            .map_err(|_| "rate: a number")?;
        let zipf: f64 = args
            .get(3)
            .map_or(Ok(0.8), |r| r.parse())
            .map_err(|_| "zipf: a number")?;
        return run(services, &args[1], rate, zipf);
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    for (services, duration, rate, zipf) in [
        (1000, "1h", "3000", "0.8"),
        (1000, "24h", "3000", "0.8"),
        (1000, "24h", "3000", "1.6"),
        (100, "24h", "3000", "0.8"),
    ] {
        let status = Command::new(&me)
            .args([services.to_string().as_str(), duration, rate, zipf])
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("the {services} x {duration} run failed"));
        }
    }
    Ok(())
}
