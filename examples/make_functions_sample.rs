//! Generates `traces/synthetic_azure_functions_sample.csv`: a SYNTHETIC day in the layout of the Azure
//! Functions 2019 invocation trace (`HashOwner,HashApp,HashFunction,Trigger,1..1440`, one row per function,
//! one column per minute). No row comes from the real dataset; the hashes are random hex.
//!
//! The shapes follow what the dataset's paper (Shahrad et al., "Serverless in the Wild", ATC 2020) reports
//! qualitatively: popularity spread over orders of magnitude (here Zipf, exponent 1.1, over 80 functions
//! in 40 apps of 16 owners), HTTP functions with a diurnal curve (peak hour varying by app), timer
//! functions firing every 1, 5, 15 or 60 minutes, and queue/event functions in bursts. Deterministic (fixed
//! seed). The real files (`invocations_per_function_md.anon.d01.csv` … `d14.csv`) are in
//! <https://github.com/Azure/AzurePublicDataset> (AzureFunctionsDataset2019); they replay with the same
//! `services_trace` settings.
//!
//! Run: `cargo run --example make_functions_sample` (writes into `traces/` of the working directory).

use podscale::engine::SimRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Poisson};
use std::io::Write;

const FUNCTIONS: usize = 80;
const APPS: usize = 40;
const OWNERS: usize = 16;
const MINUTES: usize = 1440;
/// Invocations per day of the most popular function.
const TOP_DAILY: f64 = 250_000.0;

fn hex(rng: &mut SimRng) -> String {
    (0..64)
        .map(|_| char::from_digit(rng.random_range(0..16u32), 16).unwrap())
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = SimRng::seed_from_u64(2019_0701);
    std::fs::create_dir_all("traces")?;
    let owners: Vec<String> = (0..OWNERS).map(|_| hex(&mut rng)).collect();
    let apps: Vec<(usize, String, f64)> = (0..APPS)
        .map(|a| {
            // Peak hour of the app's users: mostly working hours, some evening.
            let peak = 9.0 + rng.random::<f64>() * 12.0;
            (a % OWNERS, hex(&mut rng), peak)
        })
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(
        "traces/synthetic_azure_functions_sample.csv",
    )?);
    write!(out, "HashOwner,HashApp,HashFunction,Trigger")?;
    for m in 1..=MINUTES {
        write!(out, ",{m}")?;
    }
    writeln!(out)?;
    let mut total = 0u64;
    for f in 0..FUNCTIONS {
        let app = &apps[(f * 7 + f / APPS) % APPS];
        let daily = TOP_DAILY / ((f + 1) as f64).powf(1.1);
        let trigger = match f % 5 {
            0..=2 => "http",
            3 => "timer",
            _ => "queue",
        };
        let function = hex(&mut rng);
        write!(out, "{},{},{},{trigger}", owners[app.0], app.1, function)?;
        let period = [1, 5, 15, 60][f % 4];
        let mut burst_left = 0u32;
        for m in 0..MINUTES {
            let hour = m as f64 / 60.0;
            let count = match trigger {
                "http" => {
                    let phase = (hour - app.2) / 24.0 * std::f64::consts::TAU;
                    // Trough at about a fifth of the peak, 12 h from it.
                    let shape = 0.6 + 0.4 * phase.cos();
                    let mean = daily / MINUTES as f64 * shape / 0.6;
                    if mean > 0.0 {
                        Poisson::new(mean)?.sample(&mut rng) as u64
                    } else {
                        0
                    }
                }
                "timer" => {
                    if m % period == 0 {
                        ((daily / MINUTES as f64) * period as f64).round().max(1.0) as u64
                    } else {
                        0
                    }
                }
                _ => {
                    if burst_left == 0 && rng.random::<f64>() < 0.02 {
                        burst_left = rng.random_range(3..15);
                    }
                    if burst_left > 0 {
                        burst_left -= 1;
                        let mean = daily / MINUTES as f64 * 6.0;
                        Poisson::new(mean.max(0.1))?.sample(&mut rng) as u64
                    } else {
                        0
                    }
                }
            };
            total += count;
            write!(out, ",{count}")?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    println!(
        "wrote traces/synthetic_azure_functions_sample.csv: {FUNCTIONS} functions, {APPS} apps, {OWNERS} owners, {total} invocations"
    );
    Ok(())
}
