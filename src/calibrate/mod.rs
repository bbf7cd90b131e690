//! Calibration from production telemetry (`podscale calibrate`): the service-time distribution from a
//! latency histogram observed at low load, and the cold start from pod creation and Ready times.
//!
//! Service time: the bucket increases between the first and last histogram snapshot inside `--window`
//! (seconds-valued `le` buckets, as Prometheus histograms are) are fitted by binned maximum likelihood
//! ([`fit`]); the best of exponential, lognormal and gamma by AIC is written. Assumption: at low load
//! there is no queueing, so observed latency = service time + the fixed request path; pass that path as
//! `--overhead` (e.g. 4ms) to subtract it from every bucket edge. Under load the fit would absorb queueing
//! delay, which is why the window should be a quiet period.
//!
//! Cold start: per-pod durations ([`coldstart`]), fitted as a lognormal by exact maximum likelihood.
//!
//! The result is a `pod:` section in scenario YAML, with the fit quality as comments.

pub mod coldstart;
pub mod fit;

use crate::time::parse_duration;
use crate::traffic::prometheus::{read_histogram, Selector};
use std::fmt::Write as _;
use std::path::PathBuf;

/// `podscale calibrate` arguments.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct CalibrateArgs {
    /// Latency histogram buckets (Prometheus query_range JSON or CSV, `le` label, seconds).
    #[cfg_attr(feature = "cli", arg(long))]
    pub latency: Option<PathBuf>,
    /// Label selector for the histogram series, e.g. 'revision_app_request_latencies_bucket{revision="r1"}'.
    #[cfg_attr(feature = "cli", arg(long, default_value = ""))]
    pub series: String,
    /// Low-load window FROM..TO relative to the first sample, e.g. 0s..30m (default: everything).
    #[cfg_attr(feature = "cli", arg(long))]
    pub window: Option<String>,
    /// Fixed non-service latency to subtract from the buckets (request path), e.g. 4ms.
    #[cfg_attr(feature = "cli", arg(long, default_value = "0s"))]
    pub overhead: String,
    /// Pod start/ready data: `kubectl get pods -o json`, `kubectl get events -o json` or `kubectl get pods -w` text.
    #[cfg_attr(feature = "cli", arg(long))]
    pub pods: Option<PathBuf>,
    /// Write the fitted `pod:` section here (default: print it only).
    #[cfg_attr(feature = "cli", arg(long))]
    pub out: Option<PathBuf>,
}

/// What went wrong (already located: file, item or line, key).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CalibrateError(pub String);

/// The service-time part of a calibration.
pub struct ServiceFit {
    pub requests: f64,
    pub fits: Vec<fit::Fit>,
}

/// Fits the histogram in `path` between `from_s` and `to_s` (seconds after its first snapshot).
pub fn fit_service_time(
    path: &std::path::Path,
    selector: &Selector,
    window: (f64, Option<f64>),
    overhead_s: f64,
) -> Result<ServiceFit, CalibrateError> {
    let snapshots = read_histogram(path, selector).map_err(|e| CalibrateError(e.to_string()))?;
    let t0 = snapshots[0].t_ms;
    let inside: Vec<_> = snapshots
        .iter()
        .filter(|s| {
            let t = (s.t_ms - t0) as f64 / 1000.0;
            t >= window.0 && window.1.is_none_or(|to| t <= to)
        })
        .collect();
    let (Some(first), Some(last)) = (inside.first(), inside.last()) else {
        return Err(CalibrateError(format!(
            "{}: no histogram snapshot inside the window",
            path.display()
        )));
    };
    let mut increase = crate::backtest::bucket_increase(first, last);
    if inside.len() == 1 {
        // A single snapshot: take the counters since the process started.
        increase.clone_from(&first.buckets);
    }
    let mut bins = Vec::new();
    let mut prev = (0.0, 0.0);
    for &(le, cum) in &increase {
        let n = cum - prev.1;
        if n < -1e-9 {
            return Err(CalibrateError(format!(
                "{}: bucket le=\"{le}\" holds fewer requests than the bucket below it; cumulative buckets must not decrease",
                path.display()
            )));
        }
        let lo = (prev.0 - overhead_s).max(0.0);
        let hi = if le.is_infinite() {
            le
        } else {
            (le - overhead_s).max(1e-9)
        };
        if hi > lo {
            bins.push((lo, hi, n.max(0.0)));
        } else if let Some(last) = bins.last_mut() {
            last.2 += n.max(0.0);
        } else {
            bins.push((0.0, 1e-9, n.max(0.0)));
        }
        prev = (le, cum);
    }
    let requests: f64 = bins.iter().map(|b| b.2).sum();
    let fits = fit::fit_binned(&bins).ok_or_else(|| {
        CalibrateError(format!(
            "{}: no request was counted in the window; choose a window with traffic",
            path.display()
        ))
    })?;
    Ok(ServiceFit { requests, fits })
}

fn parse_window(text: &str) -> Result<(f64, Option<f64>), CalibrateError> {
    let (from, to) = text.split_once("..").ok_or_else(|| {
        CalibrateError(format!(
            "--window `{text}`: expected FROM..TO such as 0s..30m (TO may be empty)"
        ))
    })?;
    let d = |t: &str| {
        parse_duration(t)
            .map(|d| d.as_secs_f64())
            .map_err(|e| CalibrateError(format!("--window: {e}")))
    };
    let from = if from.trim().is_empty() {
        0.0
    } else {
        d(from)?
    };
    let to = if to.trim().is_empty() {
        None
    } else {
        Some(d(to)?)
    };
    if to.is_some_and(|t| t <= from) {
        return Err(CalibrateError(format!(
            "--window `{text}`: the end must be after the start"
        )));
    }
    Ok((from, to))
}

/// Runs `podscale calibrate`: prints the fits and the YAML, writes the YAML to `--out`.
pub fn run_cli(args: &CalibrateArgs) -> Result<std::process::ExitCode, CalibrateError> {
    if args.latency.is_none() && args.pods.is_none() {
        return Err(CalibrateError(
            "give --latency FILE and/or --pods FILE".into(),
        ));
    }
    let mut yaml = String::from("# fitted by podscale calibrate\npod:\n");
    if let Some(path) = &args.latency {
        let selector =
            Selector::parse(&args.series).map_err(|m| CalibrateError(format!("--series: {m}")))?;
        let window = args
            .window
            .as_deref()
            .map_or(Ok((0.0, None)), parse_window)?;
        let overhead = parse_duration(&args.overhead)
            .map_err(|e| CalibrateError(format!("--overhead: {e}")))?;
        let fit = fit_service_time(path, &selector, window, overhead.as_secs_f64())?;
        println!(
            "service time from {} ({:.0} requests):",
            path.display(),
            fit.requests
        );
        println!(
            "  {:<12} {:>12} {:>10} {:>8} {:>14}  parameters",
            "dist", "log L", "AIC", "KS", "chi2 (df)"
        );
        for f in &fit.fits {
            println!(
                "  {:<12} {:>12.1} {:>10.1} {:>8.4} {:>9.1} ({:>2})  {}",
                f.dist.name(),
                f.log_likelihood,
                f.aic,
                f.ks,
                f.chi_square,
                f.chi_square_df,
                f.dist.yaml()
            );
        }
        let best = &fit.fits[0];
        let _ = writeln!(
            yaml,
            "  # {} by AIC over {:.0} requests; KS {:.4}, chi-square {:.1} on {} df",
            best.dist.name(),
            fit.requests,
            best.ks,
            best.chi_square,
            best.chi_square_df
        );
        let _ = writeln!(yaml, "  service_time: {}", best.dist.yaml());
    }
    if let Some(path) = &args.pods {
        let samples = coldstart::read(path).map_err(CalibrateError)?;
        let (dist, ks) = fit::fit_lognormal_samples(&samples).ok_or_else(|| {
            CalibrateError(format!(
                "{}: no pod with both a start and a Ready time",
                path.display()
            ))
        })?;
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        println!(
            "cold start from {} ({} pods): median {:.1} s, p90 {:.1} s, max {:.1} s; lognormal KS {:.4}",
            path.display(),
            samples.len(),
            q(0.5),
            q(0.9),
            q(1.0),
            ks
        );
        let _ = writeln!(
            yaml,
            "  # lognormal over {} pods; KS {ks:.4}",
            samples.len()
        );
        let _ = writeln!(yaml, "  cold_start: {}", dist.yaml());
    }
    println!("\n{yaml}");
    if let Some(out) = &args.out {
        crate::report::write_atomic(out, yaml.as_bytes())
            .map_err(|e| CalibrateError(format!("{}: {e}", out.display())))?;
        println!("written to {}", out.display());
    }
    Ok(std::process::ExitCode::SUCCESS)
}
