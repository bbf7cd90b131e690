//! Peak memory of trace replay: writes a 100k-row and a 1M-row per-request trace to a temporary folder,
//! replays each to the end and prints the process's peak resident set size (VmHWM from /proc/self/status,
//! Linux only) after each. Replay streams the file, so the peak should not grow with the row count.
//!
//! Run: `cargo run --release --example trace_memory`

use podscale::engine::SimRng;
use podscale::traffic::trace::{TraceOptions, TraceSource};
use podscale::traffic::ArrivalSource;
use rand::SeedableRng;
use std::io::Write;
use std::time::Instant;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("podscale-trace-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!("baseline peak RSS: {} KiB", peak_rss_kib().unwrap_or(0));
    for rows in [100_000u64, 1_000_000] {
        let path = dir.join(format!("trace_{rows}.csv"));
        {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
            writeln!(out, "time_s,service_time_s,prompt_tokens,output_tokens")?;
            for i in 0..rows {
                writeln!(
                    out,
                    "{}.{:03},0.050,{},{}",
                    i / 100,
                    (i % 100) * 10,
                    100 + i % 900,
                    20 + i % 200
                )?;
            }
        }
        let size = std::fs::metadata(&path)?.len();
        let started = Instant::now();
        let mut source = TraceSource::open(&path, TraceOptions::default())?;
        let mut rng = SimRng::seed_from_u64(1);
        let mut replayed = 0u64;
        while source.next_arrival(&mut rng)?.is_some() {
            replayed += 1;
        }
        println!(
            "{rows} rows ({:.1} MB file): replayed {replayed} in {:.2} s, peak RSS {} KiB",
            size as f64 / 1e6,
            started.elapsed().as_secs_f64(),
            peak_rss_kib().unwrap_or(0)
        );
        std::fs::remove_file(&path)?;
    }
    std::fs::remove_dir(&dir)?;
    Ok(())
}
