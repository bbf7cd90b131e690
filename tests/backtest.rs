//! Backtest and calibration: figures against known truths, the bundled Azure example, the Alibaba trace
//! from ../shared when present, and the cold-start parsers.

mod common;

use podscale::backtest::{self, bucket_quantile, Observed};
use podscale::calibrate::coldstart;
use podscale::calibrate::fit::{fit_binned, fit_lognormal_samples, Fitted};
use podscale::calibrate::fit_service_time;
use podscale::traffic::prometheus::Selector;
use statrs::distribution::{ContinuousCDF, LogNormal};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    common::write(&common::tempdir("backtest"), name, contents)
}

fn run(
    scenario: &Path,
    overrides: &[String],
    observed: &[&str],
    origin_ms: Option<i64>,
) -> backtest::Backtest {
    let loaded = podscale::scenario::load(scenario, overrides).unwrap();
    let sim = podscale::Simulation::from_loaded(&loaded, None).unwrap();
    let observed: Vec<Observed> = observed
        .iter()
        .map(|o| Observed::parse(o).unwrap())
        .collect();
    backtest::run(&loaded, sim, &observed, origin_ms).unwrap()
}

#[test]
fn bucket_quantile_interpolates_like_histogram_quantile() {
    let buckets = [
        (0.1, 50.0),
        (0.2, 90.0),
        (0.5, 100.0),
        (f64::INFINITY, 100.0),
    ];
    assert!((bucket_quantile(0.5, &buckets).unwrap() - 0.1).abs() < 1e-12);
    assert!((bucket_quantile(0.7, &buckets).unwrap() - 0.15).abs() < 1e-12);
    assert!((bucket_quantile(0.99, &buckets).unwrap() - 0.47).abs() < 1e-12);
    assert_eq!(bucket_quantile(0.5, &[(1.0, 0.0)]), None);
}

#[test]
fn fixed_fleet_against_known_observations() {
    // Three warm pods that never scale, 100 ms constant service at 5 req/s: no queueing.
    let scenario = temp_file(
        "fixed.yaml",
        "duration: 10m\nservice: {minReplicas: 3, maxReplicas: 3, initial_state: warm}\n\
         pod: {cold_start: 10s, service_time: 100ms}\nrequest_path: {client: 0s, ingress: 0s, network: 0s}\n\
         traffic: {kind: poisson, rate: 5}\n",
    );
    let replicas: String = (0..10)
        .map(|m| format!("{},{}\n", 1000 + m * 60, if m < 5 { 3 } else { 5 }))
        .collect();
    let replicas = temp_file("replicas.csv", &format!("timestamp,value\n{replicas}"));
    // Observed latency: everything between 0.1 and 0.11 s, growing 300 per minute.
    let hist: String = (0..=10)
        .flat_map(|m| {
            let n = 300 * m;
            [
                format!("{},0,0.1\n", 1000 + m * 60),
                format!("{},{n},0.11\n", 1000 + m * 60),
                format!("{},{n},+Inf\n", 1000 + m * 60),
            ]
        })
        .collect();
    let hist = temp_file("hist.csv", &format!("timestamp,value,le\n{hist}"));
    let result = run(
        &scenario,
        &[],
        &[
            &format!("replicas={}", replicas.display()),
            &format!("latency={}", hist.display()),
        ],
        Some(1_000_000),
    );
    let f = &result.figures;
    // Half the time the observation is 3 (error 0), half 5 (error 2): mean |diff| 1, bias -1.
    assert!(
        (f.replicas_mae_time_weighted.unwrap() - 1.0).abs() < 1e-9,
        "{f:?}"
    );
    assert!((f.replicas_bias.unwrap() + 1.0).abs() < 1e-9);
    assert!((f.pod_seconds_rel_error_pct.unwrap() + 25.0).abs() < 1e-9);
    // Observed p99 interpolates to 0.1099 s; simulated is 100 ms (within hdrhistogram's 0.1 %).
    assert!((f.latency_observed_p99_ms.unwrap() - 109.9).abs() < 1e-6);
    let sim = f.latency_simulated_p99_ms.unwrap();
    assert!((sim - 100.0).abs() < 0.5, "{sim}");
    assert!((f.latency_p99_rel_error_pct.unwrap() - 100.0 * (sim - 109.9) / 109.9).abs() < 1e-9);
    assert_eq!(
        result.p99.len(),
        10,
        "one p99 per step between the 11 scrapes"
    );
    let out = std::env::temp_dir().join(format!("podscale-backtest-out-{}", std::process::id()));
    let files = result.write(&out).unwrap();
    assert!(files.iter().any(|f| f.ends_with("backtest_replicas.svg")));
    let csv = std::fs::read_to_string(out.join("backtest_replicas.csv")).unwrap();
    assert!(
        csv.starts_with("time_s,observed_pods,simulated_pods\n0.000,3,3\n"),
        "{csv}"
    );
}

#[test]
fn bundled_azure_prometheus_export_replays_with_the_trace_request_count() {
    let result = run(
        &repo().join("scenarios/backtest-azure-code.yaml"),
        &[],
        &[&format!(
            "requests={}",
            repo()
                .join("traces/azure-llm-code-rate.prom.json")
                .display()
        )],
        None,
    );
    let f = &result.figures;
    // 8,819 requests in the trace; Poisson spreading varies the count (sd ~ 94).
    assert!(
        (f.simulated_requests as f64 - 8819.0).abs() < 5.0 * 94.0,
        "{}",
        f.simulated_requests
    );
    assert!((f.request_rate_observed_mean.unwrap() - 8819.0 / 58.0 / 60.0).abs() < 0.05);
    assert!(f.request_rate_mae.unwrap() < 0.5, "{f:?}");
}

#[test]
fn alibaba_trace_from_shared_when_present() {
    let dir = [
        "../shared/traces/alibaba-genai-2026",
        "/work/shared/traces/alibaba-genai-2026",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.join("qps.tar.gz").exists());
    let Some(dir) = dir else {
        eprintln!("skipped: Alibaba GenAI 2026 trace not found in ../shared/traces (research use only, not bundled)");
        return;
    };
    let work = std::env::temp_dir().join(format!("podscale-alibaba-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    for archive in ["qps.tar.gz", "pod_gpu_duty_cycle_anon.tar.gz"] {
        let ok = std::process::Command::new("tar")
            .arg("xzf")
            .arg(dir.join(archive))
            .arg("-C")
            .arg(&work)
            .status();
        if !ok.is_ok_and(|s| s.success()) {
            eprintln!("skipped: cannot run tar to extract {archive}");
            return;
        }
    }
    let result = run(
        &repo().join("examples/backtest-alibaba-genai.yaml"),
        &[
            format!("traffic.path={}", work.join("qps.csv").display()),
            "duration=2h".into(),
        ],
        &[&format!(
            "pod_count={}",
            work.join("pod_gpu_duty_cycle_anon.csv").display()
        )],
        None,
    );
    let f = &result.figures;
    // 2 h at a 57 s scrape: ~126 observations; the fleet reported ~110 pods.
    assert!(f.replicas_samples > 120, "{f:?}");
    let observed = f.replicas_observed_mean.unwrap();
    assert!((100.0..115.0).contains(&observed), "{observed}");
    assert!(f.replicas_mae_time_weighted.unwrap().is_finite());
    std::fs::remove_dir_all(&work).ok();
}

/// Cumulative buckets with exact expected counts of `n` draws from `cdf`.
fn buckets_from(cdf: impl Fn(f64) -> f64, n: f64, bounds: &[f64]) -> String {
    let mut csv = String::from("timestamp,value,le\n");
    for t in [0, 60] {
        for b in bounds {
            let count = if t == 0 { 0.0 } else { (n * cdf(*b)).round() };
            csv += &format!("{t},{count},{b}\n");
        }
        csv += &format!("{t},{},+Inf\n", if t == 0 { 0.0 } else { n });
    }
    csv
}

#[test]
fn binned_fit_recovers_a_lognormal() {
    let truth = LogNormal::new(0.05f64.ln(), 0.4).unwrap();
    let bounds = [
        0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0,
    ];
    let path = temp_file(
        "ln.csv",
        &buckets_from(|x| truth.cdf(x), 100_000.0, &bounds),
    );
    let fit = fit_service_time(&path, &Selector::all(), (0.0, None), 0.0).unwrap();
    assert_eq!(fit.requests, 100_000.0);
    let Fitted::LogNormal { median_s, sigma } = fit.fits[0].dist else {
        panic!("lognormal should win: {:?}", fit.fits[0].dist)
    };
    assert!((median_s / 0.05 - 1.0).abs() < 0.01, "{median_s}");
    assert!((sigma / 0.4 - 1.0).abs() < 0.02, "{sigma}");
    assert!(fit.fits[0].ks < 0.005);
    // The exponential is clearly worse on this data.
    let exp = fit
        .fits
        .iter()
        .find(|f| f.dist.name() == "exponential")
        .unwrap();
    assert!(exp.ks > 0.1 && exp.aic > fit.fits[0].aic + 1000.0);
    // Subtracting a 5 ms overhead shifts the fit down.
    let shifted = fit_service_time(&path, &Selector::all(), (0.0, None), 0.005).unwrap();
    let Fitted::LogNormal { median_s: m2, .. } = shifted.fits[0].dist else {
        panic!()
    };
    assert!(m2 < median_s);
}

#[test]
fn exponential_data_gives_gamma_shape_near_one() {
    let bins: Vec<(f64, f64, f64)> = (0..20)
        .map(|k| {
            let (lo, hi) = (k as f64 * 0.05, (k + 1) as f64 * 0.05);
            (
                lo,
                hi,
                50_000.0 * ((-lo / 0.2f64).exp() - (-hi / 0.2f64).exp()),
            )
        })
        .chain(std::iter::once((
            1.0,
            f64::INFINITY,
            50_000.0 * (-5.0f64).exp(),
        )))
        .collect();
    let fits = fit_binned(&bins).unwrap();
    let gamma = fits.iter().find_map(|f| match f.dist {
        Fitted::Gamma { shape, mean_s } => Some((shape, mean_s)),
        _ => None,
    });
    let (shape, mean) = gamma.unwrap();
    assert!(
        (shape - 1.0).abs() < 0.02 && (mean - 0.2).abs() < 0.002,
        "{shape} {mean}"
    );
    let exp = fits.iter().find_map(|f| match f.dist {
        Fitted::Exponential { mean_s } => Some(mean_s),
        _ => None,
    });
    assert!((exp.unwrap() - 0.2).abs() < 0.002);
}

#[test]
fn cold_starts_from_pods_json_events_and_watch_output() {
    let pods = temp_file(
        "pods.json",
        r#"{"items":[
 {"metadata":{"name":"a","creationTimestamp":"2026-01-01T00:00:00Z"},"status":{"conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:00:30Z"}]}},
 {"metadata":{"name":"b","creationTimestamp":"2026-01-01T00:01:00Z"},"status":{"conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:01:40Z"}]}},
 {"metadata":{"name":"c","creationTimestamp":"2026-01-01T00:02:00Z"},"status":{"conditions":[{"type":"Ready","status":"False","lastTransitionTime":"2026-01-01T00:02:01Z"}]}}]}"#,
    );
    assert_eq!(coldstart::read(&pods).unwrap(), vec![30.0, 40.0]);
    let events = temp_file(
        "events.json",
        r#"{"items":[
 {"involvedObject":{"kind":"Pod","name":"a"},"reason":"Scheduled","eventTime":"2026-01-01T00:00:01.000000Z"},
 {"involvedObject":{"kind":"Pod","name":"a"},"reason":"Pulled","firstTimestamp":"2026-01-01T00:00:10Z"},
 {"involvedObject":{"kind":"Pod","name":"a"},"reason":"Started","firstTimestamp":"2026-01-01T00:00:21Z"}]}"#,
    );
    assert_eq!(coldstart::read(&events).unwrap(), vec![20.0]);
    let watch = temp_file(
        "watch.txt",
        "NAME READY STATUS RESTARTS AGE\nold 1/1 Running 0 3h\nnew 0/1 Pending 0 0s\nnew 0/1 ContainerCreating 0 1s\n\
         new 0/1 Running 0 14s\nnew 1/1 Running 0 2m5s\nnew 1/1 Running 0 3m\n",
    );
    assert_eq!(coldstart::read(&watch).unwrap(), vec![125.0]);
    let bad = temp_file(
        "bad.txt",
        "NAME READY STATUS RESTARTS AGE\nnew 0/1 Pending 0 soon\n",
    );
    let e = coldstart::read(&bad).unwrap_err();
    assert!(e.contains("bad.txt:2") && e.contains("AGE `soon`"), "{e}");
    let (dist, ks) = fit_lognormal_samples(&[30.0, 40.0]).unwrap();
    let Fitted::LogNormal { median_s, .. } = dist else {
        panic!()
    };
    assert!((median_s - (1200.0f64).sqrt()).abs() < 1e-9 && ks < 0.5);
}
