//! A sweep's throughput against the number of threads: runs the bundled sweep `sweeps/kpa-bursty.yaml`
//! (144 runs of 20 simulated minutes) on 1 and 2 threads (or the counts given) and prints runs per second.
//! The outputs of both are compared byte for byte, as the thread count must not change them.
//!
//!     cargo run --release --example sweep_scaling            # 1 and 2 threads
//!     cargo run --release --example sweep_scaling -- 1 2 4

//!
//! Each line also gives the CPU time the process used (utime + stime from /proc/self/stat, Linux) over the
//! wall time: on a machine shared with other work, that ratio shows how many cores the sweep actually got.

use podscale::sweep::{self, SweepOptions, SweepSpec};
use std::path::PathBuf;

/// User + system CPU seconds of this process so far (clock ticks assumed to be 100 per second).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() -> Result<(), String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sweeps/kpa-bursty.yaml");
    let spec = SweepSpec::load(&path).map_err(|e| e.to_string())?;
    let mut counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().map_err(|_| format!("{a} is not a thread count")))
        .collect::<Result<_, _>>()?;
    if counts.is_empty() {
        counts = vec![1, 2];
    }
    let mut reference: Option<Vec<u8>> = None;
    for threads in counts {
        let options = SweepOptions {
            threads,
            shard: None,
            progress: false,
        };
        let cpu_before = cpu_seconds();
        let outcome = sweep::execute(&spec, &options).map_err(|e| e.to_string())?;
        let cores_used = match (cpu_before, cpu_seconds()) {
            (Some(a), Some(b)) if outcome.wall_s > 0.0 => {
                format!("{:.2}", (b - a) / outcome.wall_s)
            }
            _ => "?".into(),
        };
        let axes: Vec<String> = spec.axes.iter().map(|a| a.path.clone()).collect();
        let csv = sweep::results::results_csv(&axes, &outcome.rows);
        let same = match &reference {
            None => {
                reference = Some(csv);
                "reference"
            }
            Some(r) if *r == csv => "identical results.csv",
            Some(_) => "DIFFERENT results.csv",
        };
        println!(
            "{threads} thread(s): {} runs in {:.2} s = {:.1} runs/s, {cores_used} cores busy on average ({same})",
            outcome.rows.len(),
            outcome.wall_s,
            outcome.runs_per_s()
        );
    }
    Ok(())
}
