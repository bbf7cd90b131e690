//! Prometheus exports: replay as traffic (request count = integral of the rate), observations, and located
//! errors for malformed files.

mod common;

use podscale::engine::SimRng;
use podscale::traffic::prometheus::{
    read_aggregate, read_histogram, Aggregate, RateIntervals, Selector,
};
use podscale::traffic::trace::{Spread, TraceFormat, TraceOptions, TraceSource};
use podscale::traffic::{ArrivalSource, TrafficSpec};
use proptest::prelude::*;
use rand::SeedableRng;
use std::path::PathBuf;

fn temp_file(name: &str, contents: &str) -> PathBuf {
    common::write(&common::tempdir("prom"), name, contents)
}

/// A query_range answer with two revisions; `a` has the given rates at a 60 s step.
fn query_range(rates_a: &[f64]) -> String {
    let values = |rates: &[f64]| -> String {
        rates
            .iter()
            .enumerate()
            .map(|(i, r)| format!("[{},\"{r}\"]", 1_700_000_000 + 60 * i as i64))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"status":"success","data":{{"resultType":"matrix","result":[
{{"metric":{{"__name__":"rps","revision":"a"}},"values":[{}]}},
{{"metric":{{"__name__":"rps","revision":"b"}},"values":[{}]}}]}}}}"#,
        values(rates_a),
        values(&vec![100.0; rates_a.len()])
    )
}

fn replay(path: &std::path::Path, series: &str, spread: Spread, seed: u64) -> Vec<u64> {
    let options = TraceOptions {
        format: TraceFormat::Prometheus,
        series: Some(series.to_string()),
        spread,
        ..TraceOptions::default()
    };
    let mut source = TraceSource::open(path, options).unwrap();
    let mut rng = SimRng::seed_from_u64(seed);
    let mut times = Vec::new();
    while let Some(a) = source.next_arrival(&mut rng).unwrap() {
        times.push(a.at.0);
    }
    times
}

#[test]
fn request_count_matches_the_integral_of_the_rate() {
    let rates = [2.0, 0.5, 0.0, 7.25, 3.0, 1.0 / 3.0, 12.0, 4.0];
    let path = temp_file("qr.json", &query_range(&rates));
    let integral: f64 = rates.iter().map(|r| r * 60.0).sum(); // 1745
    let expected = RateIntervals::open(
        &path,
        &Selector::parse(r#"rps{revision="a"}"#).unwrap(),
        None,
    )
    .unwrap()
    .expected_total();
    assert!(
        (expected - integral).abs() < 1e-9,
        "{expected} vs {integral}"
    );

    // Even and uniform place round(count) per step (stochastic rounding only on the fractional part).
    let even = replay(&path, r#"{revision="a"}"#, Spread::Even, 1);
    assert!(
        (even.len() as f64 - integral).abs() <= 2.0,
        "even: {}",
        even.len()
    );
    let uniform = replay(&path, r#"{revision="a"}"#, Spread::Uniform, 2);
    assert!(
        (uniform.len() as f64 - integral).abs() <= 2.0,
        "uniform: {}",
        uniform.len()
    );
    // Poisson: the count varies; 5 standard deviations around the integral.
    let poisson = replay(&path, r#"{revision="a"}"#, Spread::Poisson, 3);
    let sd = integral.sqrt();
    assert!(
        (poisson.len() as f64 - integral).abs() < 5.0 * sd,
        "poisson: {}",
        poisson.len()
    );
    // Time order, and every arrival inside the 8 steps; the empty third step gets none.
    for times in [&even, &uniform, &poisson] {
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(*times.last().unwrap() < 8 * 60_000_000_000);
        assert!(!times
            .iter()
            .any(|t| (120_000_000_000..180_000_000_000).contains(t)));
    }
    // Per-step counts follow the rate: step 7 (12 req/s) holds 720 requests under `even`.
    let step7 = even
        .iter()
        .filter(|t| (360_000_000_000..420_000_000_000).contains(*t))
        .count();
    assert_eq!(step7, 720);
    // No selector: both revisions summed (b is 100 req/s throughout).
    let both = replay(&path, "", Spread::Even, 4);
    assert!((both.len() as f64 - integral - 8.0 * 6000.0).abs() <= 2.0);
}

#[test]
fn scenario_traffic_section_accepts_the_prometheus_format() {
    let spec: TrafficSpec = serde_yaml::from_str(
        "{kind: trace, format: prometheus, path: x.json, series: 'rps{revision=\"a\"}', spread: poisson}",
    )
    .unwrap();
    assert!(
        matches!(spec, TrafficSpec::Trace(ref t) if t.series.as_deref() == Some("rps{revision=\"a\"}"))
    );
    let bad: TrafficSpec = serde_yaml::from_str(
        "{kind: trace, format: prometheus, path: x.json, series: 'rps{revision=~\"a.*\"}'}",
    )
    .unwrap();
    let errors = format!("{:?}", bad.validate("traffic"));
    assert!(
        errors.contains("traffic.series") && errors.contains("not supported"),
        "{errors}"
    );
}

#[test]
fn csv_export_with_labels_sums_and_counts_series() {
    let path = temp_file(
        "pods.csv",
        "value,timestamp_anon,container_ip\n10,100,a\n20,100,b\n30,157,a\n0,157,b\n5,157,c\nNaN,214,a\n",
    );
    let sum = read_aggregate(&path, &Selector::all(), Aggregate::Sum).unwrap();
    assert_eq!(sum, vec![(100_000, 30.0), (157_000, 35.0)]);
    let count = read_aggregate(&path, &Selector::all(), Aggregate::Count).unwrap();
    assert_eq!(count, vec![(100_000, 2.0), (157_000, 3.0)]);
    let only_b = read_aggregate(
        &path,
        &Selector::parse(r#"{container_ip="b"}"#).unwrap(),
        Aggregate::Sum,
    )
    .unwrap();
    assert_eq!(only_b, vec![(100_000, 20.0), (157_000, 0.0)]);
    let not_a = read_aggregate(
        &path,
        &Selector::parse(r#"{container_ip!="a"}"#).unwrap(),
        Aggregate::Count,
    )
    .unwrap();
    assert_eq!(not_a, vec![(100_000, 1.0), (157_000, 2.0)]);
}

#[test]
fn histogram_buckets_are_summed_per_le() {
    let path = temp_file(
        "hist.csv",
        "timestamp,value,le,pod\n0,1,0.1,p1\n0,2,0.1,p2\n0,5,+Inf,p1\n0,5,+Inf,p2\n0,4,0.5,p1\n0,4,0.5,p2\n",
    );
    let snapshots = read_histogram(&path, &Selector::all()).unwrap();
    assert_eq!(snapshots.len(), 1);
    assert_eq!(
        snapshots[0].buckets,
        vec![(0.1, 3.0), (0.5, 8.0), (f64::INFINITY, 10.0)]
    );
}

#[test]
fn malformed_files_name_file_location_and_key() {
    let bad_value = temp_file(
        "bad.json",
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"x"]]}]}}"#,
    );
    let e = read_aggregate(&bad_value, &Selector::all(), Aggregate::Sum)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.json") && e.contains("data.result[0].values[1]") && e.contains("\"x\""),
        "{e}"
    );

    let syntax = temp_file("syntax.json", "{\"status\":\"success\",\n\"data\": [oops]}");
    let e = read_aggregate(&syntax, &Selector::all(), Aggregate::Sum)
        .unwrap_err()
        .to_string();
    assert!(e.contains("syntax.json: line 2"), "{e}");

    let vector = temp_file(
        "vector.json",
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
    );
    let e = read_aggregate(&vector, &Selector::all(), Aggregate::Sum)
        .unwrap_err()
        .to_string();
    assert!(e.contains("data.resultType") && e.contains("matrix"), "{e}");

    let csv = temp_file("bad.csv", "timestamp,value\n1,2\n2,abc\n");
    let e = read_aggregate(&csv, &Selector::all(), Aggregate::Sum)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.csv: line 3, column value") && e.contains("abc"),
        "{e}"
    );

    let no_time = temp_file("notime.csv", "when,value\n1,2\n");
    let e = read_aggregate(&no_time, &Selector::all(), Aggregate::Sum)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 1") && e.contains("timestamp"), "{e}");

    let e = read_aggregate(
        &csv,
        &Selector::parse(r#"{job="none"}"#).unwrap(),
        Aggregate::Sum,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no sample matches"), "{e}");

    let negative = temp_file("neg.csv", "timestamp,value\n0,1\n60,-2\n");
    let options = TraceOptions {
        format: TraceFormat::Prometheus,
        ..TraceOptions::default()
    };
    let e = TraceSource::open(&negative, options)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("neg.csv") && e.contains("negative"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Under `even` spread every step holds its count rounded up or down, so the total is the integral
    /// up to one request per step, and arrivals never leave their step.
    #[test]
    fn even_spread_keeps_each_step_count(rates in proptest::collection::vec(0.0f64..50.0, 2..12), seed in 0u64..1000) {
        let path = temp_file(&format!("p{seed}-{}.json", rates.len()), &query_range(&rates));
        let times = replay(&path, r#"{revision="a"}"#, Spread::Even, seed);
        for (i, r) in rates.iter().enumerate() {
            let lo = i as u64 * 60_000_000_000;
            let n = times.iter().filter(|t| (lo..lo + 60_000_000_000).contains(*t)).count() as f64;
            let count = r * 60.0;
            prop_assert!(n == count.floor() || n == count.ceil(), "step {i}: {n} for {count}");
        }
    }
}
