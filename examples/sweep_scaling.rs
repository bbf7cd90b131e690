//! A sweep's throughput against the number of threads: runs the bundled sweep `sweeps/kpa-bursty.yaml`
//! (144 runs of 20 simulated minutes) on 1 and 2 threads (or the counts given) and prints runs per second.
//! The outputs of both are compared byte for byte, as the thread count must not change them.
//!
//!     cargo run --release --example sweep_scaling            # 1 and 2 threads
//!     cargo run --release --example sweep_scaling -- 1 2 4

use podscale::sweep::{self, SweepOptions, SweepSpec};
use std::path::PathBuf;

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
        let outcome = sweep::execute(&spec, &options).map_err(|e| e.to_string())?;
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
            "{threads} thread(s): {} runs in {:.2} s = {:.1} runs/s ({same})",
            outcome.rows.len(),
            outcome.wall_s,
            outcome.runs_per_s()
        );
    }
    Ok(())
}
