//! Backtest on the Alibaba GenAI 2026 trace (Stable Diffusion serving; research/study use only, so it is
//! read from the shared traces folder and never copied into the repository).
//!
//! 1. Extracts `qps.tar.gz` and `pod_gpu_duty_cycle_anon.tar.gz` (with the system `tar`) into
//!    `output/alibaba-genai-2026/` (git-ignored).
//! 2. Calibrates the service time: the `exec_time_seconds` of `lora_request_trace.csv` are binned into
//!    Prometheus-style cumulative buckets (`le` in seconds) and fitted by binned maximum likelihood.
//! 3. Runs `examples/backtest-alibaba-genai.yaml` with the QPS series (generative requests) as traffic and
//!    the fitted service time, and compares the ready pods with the observed pod count (pods reporting a
//!    GPU duty cycle at each 57 s scrape). Prints the fit and the error figures.
//!
//! Run: `cargo run --release --example backtest_alibaba [TRACES_DIR] [--set KEY=VALUE ...]`
//! (default TRACES_DIR: `../shared/traces/alibaba-genai-2026`, then `/work/shared/traces/alibaba-genai-2026`).

use podscale::backtest::{self, Observed};
use podscale::calibrate::fit_service_time;
use podscale::traffic::prometheus::Selector;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const BOUNDS: [f64; 14] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 60.0, 90.0, 120.0, 180.0, 300.0,
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let dir = if args.first().is_some_and(|a| !a.starts_with("--")) {
        Some(PathBuf::from(args.remove(0)))
    } else {
        [
            "../shared/traces/alibaba-genai-2026",
            "/work/shared/traces/alibaba-genai-2026",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("qps.tar.gz").exists())
    };
    let Some(dir) = dir else {
        println!("skipped: the Alibaba GenAI 2026 trace is not in ../shared/traces (research use only, not bundled)");
        return Ok(());
    };
    let mut overrides = Vec::new();
    while let Some(a) = args.first() {
        if a == "--set" && args.len() > 1 {
            overrides.push(args[1].clone());
            args.drain(..2);
        } else {
            return Err(format!("unexpected argument `{a}`").into());
        }
    }
    let work = PathBuf::from("output/alibaba-genai-2026");
    let report = run(&dir, &work, &overrides)?;
    print!("{report}");
    Ok(())
}

/// Returns the printed report. All logic is in the library; this only wires the files together.
fn run(
    dir: &Path,
    work: &Path,
    overrides: &[String],
) -> Result<String, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(work)?;
    for archive in ["qps.tar.gz", "pod_gpu_duty_cycle_anon.tar.gz"] {
        let status = Command::new("tar")
            .arg("xzf")
            .arg(dir.join(archive))
            .arg("-C")
            .arg(work)
            .status()?;
        if !status.success() {
            return Err(format!("tar xzf {} failed", dir.join(archive).display()).into());
        }
    }
    // Calibration input: exec times as one cumulative-histogram scrape (t = 1 s) after an empty one (t = 0).
    let mut reader = csv::Reader::from_path(dir.join("lora_request_trace.csv"))?;
    let column = reader
        .headers()?
        .iter()
        .position(|h| h == "exec_time_seconds")
        .ok_or("no exec_time_seconds column")?;
    let mut cumulative = [0u64; BOUNDS.len() + 1];
    for record in reader.records() {
        let record = record?;
        let Ok(seconds) = record[column].parse::<f64>() else {
            continue;
        };
        let k = BOUNDS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BOUNDS.len());
        for c in &mut cumulative[k..] {
            *c += 1;
        }
    }
    let mut hist = String::from("timestamp,value,le\n");
    for (t, scale) in [(0, 0), (1, 1)] {
        for (k, c) in cumulative.iter().enumerate() {
            let le = BOUNDS.get(k).map_or("+Inf".to_string(), |b| b.to_string());
            writeln!(hist, "{t},{},{le}", c * scale)?;
        }
    }
    let hist_path = work.join("exec_time_histogram.csv");
    std::fs::write(&hist_path, hist)?;
    let fit = fit_service_time(&hist_path, &Selector::all(), (0.0, None), 0.0)?;
    let mut out = format!(
        "service time fit over {:.0} requests (exec_time_seconds, {} buckets):\n",
        fit.requests,
        BOUNDS.len() + 1
    );
    for f in &fit.fits {
        writeln!(
            out,
            "  {:<12} AIC {:>10.1}  KS {:.4}  chi2 {:>8.1} ({} df)  {}",
            f.dist.name(),
            f.aic,
            f.ks,
            f.chi_square,
            f.chi_square_df,
            f.dist.yaml()
        )?;
    }
    let mut all = vec![
        format!(
            "traffic.path={}",
            std::fs::canonicalize(work.join("qps.csv"))?.display()
        ),
        format!("pod.service_time={}", fit.fits[0].dist.yaml()),
    ];
    all.extend(overrides.iter().cloned());
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/backtest-alibaba-genai.yaml");
    let loaded = podscale::scenario::load(&scenario, &all).map_err(|e| e.to_string())?;
    let sim = podscale::Simulation::from_loaded(&loaded, None).map_err(|e| e.to_string())?;
    let observed = [Observed::parse(&format!(
        "pod_count={}",
        work.join("pod_gpu_duty_cycle_anon.csv").display()
    ))?];
    let result = backtest::run(&loaded, sim, &observed, None)?;
    let files = result.write(&work.join("backtest"))?;
    writeln!(out, "\nbacktest {} ({}):", loaded.name(), all.join(" "))?;
    out += &result.text();
    writeln!(
        out,
        "\nOutputs: {}",
        files[0]
            .parent()
            .map_or(String::new(), |p| p.display().to_string())
    )?;
    Ok(out)
}
