//! Regenerates the synthetic traces bundled in `traces/` (deterministic: fixed seed).
//!
//! * `synthetic_bursty_requests.csv` (format `requests`): 30 minutes of a 2-state MMPP, 5 req/s quiet
//!   periods (mean 120 s) and 60 req/s bursts (mean 20 s), with lognormal-ish service times and token counts.
//! * `synthetic_counts_per_minute.csv` (format `counts`): 24 hours of per-minute counts following a diurnal
//!   curve (trough 20/min at 04:00, peak 600/min at 16:00) with Poisson noise.
//!
//! Run: `cargo run --example make_traces` (writes into `traces/` of the working directory).

use podscale::engine::SimRng;
use podscale::time::{SimDuration, SimTime};
use podscale::traffic::bursty::{MmppSource, MmppState};
use podscale::traffic::ArrivalSource;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, LogNormal, Poisson};
use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = SimRng::seed_from_u64(20_261_121);
    std::fs::create_dir_all("traces")?;

    let states = vec![
        MmppState {
            rate: 5.0,
            mean_duration: SimDuration::from_secs(120),
        },
        MmppState {
            rate: 60.0,
            mean_duration: SimDuration::from_secs(20),
        },
    ];
    let mut source = MmppSource::new(states, SimTime::ZERO, SimTime::from_secs(1800));
    let service = LogNormal::new((0.08f64).ln(), 0.5)?;
    let tokens = LogNormal::new((300f64).ln(), 0.8)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(
        "traces/synthetic_bursty_requests.csv",
    )?);
    writeln!(out, "time_s,service_time_s,prompt_tokens,output_tokens")?;
    let mut rows = 0;
    while let Some(arrival) = source.next_arrival(&mut rng)? {
        let prompt = tokens.sample(&mut rng).round().clamp(1.0, 8000.0) as u32;
        let output = rng.random_range(10..400u32);
        writeln!(
            out,
            "{:.6},{:.4},{prompt},{output}",
            arrival.at.as_secs_f64(),
            service.sample(&mut rng)
        )?;
        rows += 1;
    }
    println!("traces/synthetic_bursty_requests.csv: {rows} rows");

    let mut out = std::io::BufWriter::new(std::fs::File::create(
        "traces/synthetic_counts_per_minute.csv",
    )?);
    writeln!(out, "time_s,count")?;
    for minute in 0..1440u64 {
        let hour = minute as f64 / 60.0;
        let shape = 0.5 - 0.5 * (std::f64::consts::TAU * (hour - 4.0) / 24.0).cos();
        let mean = 20.0 + 580.0 * shape;
        let count = Poisson::new(mean)?.sample(&mut rng) as u64;
        writeln!(out, "{},{count}", minute * 60)?;
    }
    println!("traces/synthetic_counts_per_minute.csv: 1440 rows");
    Ok(())
}
