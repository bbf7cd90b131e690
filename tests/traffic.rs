//! Behaviour of the traffic subsystem seen from the scenario side: specs, generated rates, closed-loop
//! clients, trace replay and its transformations, error reporting.

mod common;

use podscale::engine::{RngStreams, SimRng, Stream};
use podscale::time::{SimDuration, SimTime};
use podscale::traffic::trace::{TraceFormat, TraceOptions, TraceSource};
use podscale::traffic::{inspect, Arrival, ArrivalSource, TrafficError, TrafficSpec};
use rand::{RngExt, SeedableRng};
use std::path::{Path, PathBuf};

fn temp_file(name: &str, contents: &str) -> PathBuf {
    common::write(&common::tempdir("traffic"), name, contents)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn spec(yaml: &str) -> TrafficSpec {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

fn drain(source: &mut dyn ArrivalSource, rng: &mut SimRng) -> Vec<Arrival> {
    let mut out = Vec::new();
    while let Some(a) = source.next_arrival(rng).unwrap() {
        if let Some(prev) = out.last() {
            let prev: &Arrival = prev;
            assert!(a.at >= prev.at, "out of order: {} after {}", a.at, prev.at);
        }
        out.push(a);
    }
    out
}

fn run_open(yaml: &str, seconds: u64, seed: u64) -> Vec<Arrival> {
    let streams = RngStreams::new(seed);
    let plan = spec(yaml)
        .build(&repo(), SimDuration::from_secs(seconds), &streams)
        .unwrap();
    let mut rng = streams.stream(Stream::Traffic);
    drain(plan.open_loop.unwrap().as_mut(), &mut rng)
}

fn count_between(arrivals: &[Arrival], from_s: u64, to_s: u64) -> usize {
    arrivals
        .iter()
        .filter(|a| a.at >= SimTime::from_secs(from_s) && a.at < SimTime::from_secs(to_s))
        .count()
}

/// Poisson count with mean `mean` is within 4.5 standard deviations (false alarm rate < 1e-5).
fn assert_poisson_count(count: usize, mean: f64, what: &str) {
    let tolerance = 4.5 * mean.sqrt();
    assert!(
        (count as f64 - mean).abs() <= tolerance,
        "{what}: {count} arrivals, expected {mean} ± {tolerance:.0}"
    );
}

#[test]
fn poisson_and_constant_rates_match_their_spec() {
    let poisson = run_open("{kind: poisson, rate: 50}", 600, 1);
    assert_poisson_count(poisson.len(), 30_000.0, "poisson 50/s for 600 s");
    for window in 0..6 {
        assert_poisson_count(
            count_between(&poisson, window * 100, (window + 1) * 100),
            5_000.0,
            "per 100 s window",
        );
    }
    let constant = run_open("{kind: constant, rate: 50, start: 10s, end: 20s}", 600, 1);
    assert_eq!(constant.len(), 500);
    assert_eq!(constant[0].at, SimTime::from_secs(10));
}

#[test]
fn shaped_profiles_follow_their_rate_curves() {
    let step = run_open(
        "{kind: step, rate_before: 10, rate_after: 100, at: 60s}",
        120,
        2,
    );
    assert_poisson_count(count_between(&step, 0, 60), 600.0, "step before");
    assert_poisson_count(count_between(&step, 60, 120), 6_000.0, "step after");

    // Ramp 0 → 200 over 100 s: the rate at t is 2t, so [0,50) holds 2500 and [50,100) holds 7500.
    let ramp = run_open(
        "{kind: ramp, start_rate: 0, end_rate: 200, duration: 100s}",
        100,
        3,
    );
    assert_poisson_count(count_between(&ramp, 0, 50), 2_500.0, "ramp first half");
    assert_poisson_count(count_between(&ramp, 50, 100), 7_500.0, "ramp second half");

    // Sine mean 100, amplitude 80, period 100 s: the first half-period has mean 100 + 2*80/π.
    let sine = run_open(
        "{kind: diurnal, mean_rate: 100, amplitude: 80, period: 100s}",
        1000,
        4,
    );
    assert_poisson_count(sine.len(), 100_000.0, "sine total");
    let first_halves: usize = (0..10)
        .map(|k| count_between(&sine, k * 100, k * 100 + 50))
        .sum();
    assert_poisson_count(
        first_halves,
        10.0 * 50.0 * (100.0 + 160.0 / std::f64::consts::PI),
        "sine high halves",
    );

    let schedule = run_open(
        "{kind: piecewise, interpolation: linear, points: [{at: 0s, rate: 0}, {at: 10s, rate: 100}, {at: 20s, rate: 100}]}",
        30,
        5,
    );
    assert_poisson_count(count_between(&schedule, 0, 10), 500.0, "linear segment");
    assert_poisson_count(
        count_between(&schedule, 10, 30),
        2_000.0,
        "held after last point",
    );
}

#[test]
fn sum_merges_children_on_their_own_streams() {
    let both = run_open(
        "{kind: sum, sources: [{kind: poisson, rate: 20}, {kind: poisson, rate: 30}]}",
        1000,
        9,
    );
    let changed = run_open(
        "{kind: sum, sources: [{kind: poisson, rate: 20}, {kind: constant, rate: 1}]}",
        1000,
        9,
    );
    assert_poisson_count(both.len(), 50_000.0, "sum");
    // Child 0 draws from its own stream, so its arrivals survive a change to child 1.
    let child0_a: Vec<SimTime> = changed
        .iter()
        .map(|a| a.at)
        .filter(|t| t.0 % 1_000_000_000 != 0)
        .collect();
    let in_both = child0_a
        .iter()
        .filter(|t| both.binary_search_by_key(*t, |a| a.at).is_ok())
        .count();
    assert_eq!(in_both, child0_a.len());
    // Same seed, same output.
    assert_eq!(
        both,
        run_open(
            "{kind: sum, sources: [{kind: poisson, rate: 20}, {kind: poisson, rate: 30}]}",
            1000,
            9
        )
    );
}

/// Drives a closed-loop driver with random service times, as the simulator would.
fn simulate_closed_loop(yaml: &str, run_s: u64) -> (u64, usize, Vec<SimTime>) {
    let streams = RngStreams::new(7);
    let mut driver = spec(yaml)
        .build(&repo(), SimDuration::from_secs(run_s), &streams)
        .unwrap()
        .closed_loop
        .unwrap();
    let mut rng = streams.stream(Stream::Traffic);
    let mut service_rng = streams.stream(Stream::Service);
    // (completion time, client, send time), kept sorted: a tiny event list.
    let mut in_flight: Vec<(SimTime, u32)> = Vec::new();
    let mut max_concurrency = 0;
    let mut sends = Vec::new();
    let mut pending_sends: Vec<(SimTime, u32)> = driver
        .initial_sends()
        .into_iter()
        .map(|(c, t)| (t, c))
        .collect();
    loop {
        pending_sends.sort();
        in_flight.sort();
        let next_send = pending_sends.first().copied();
        let next_done = in_flight.first().copied();
        match (next_send, next_done) {
            (Some((ts, c)), done) if done.is_none_or(|(td, _)| ts <= td) => {
                pending_sends.remove(0);
                sends.push(ts);
                let service = SimDuration::from_millis(service_rng.random_range(5..400));
                in_flight.push((ts + service, c));
                max_concurrency = max_concurrency.max(in_flight.len());
            }
            (_, Some((td, c))) => {
                in_flight.remove(0);
                if let Some(next) = driver.on_response(c, td, &mut rng) {
                    assert!(next >= td);
                    pending_sends.push((next, c));
                }
            }
            _ => break,
        }
    }
    (driver.requests_sent(), max_concurrency, sends)
}

#[test]
fn closed_loop_respects_concurrency_total_and_duration() {
    let (sent, max_concurrency, sends) =
        simulate_closed_loop("{kind: closed_loop, clients: 5, requests: 1000}", 3600);
    assert_eq!(sent, 1000);
    assert_eq!(sends.len(), 1000);
    assert_eq!(max_concurrency, 5);

    let (_, max_concurrency, sends) =
        simulate_closed_loop("{kind: closed_loop, clients: 3, duration: 30s}", 3600);
    assert!(max_concurrency <= 3);
    assert!(sends.iter().all(|t| *t < SimTime::from_secs(30)));
    assert!(
        sends.len() > 3 * 30 * 1000 / 400,
        "clients kept sending: {}",
        sends.len()
    );

    // hey -q 2 -c 2 -z 10s: at most 2 req/s per client, so at most 40 requests.
    let (sent, _, _) =
        simulate_closed_loop("{kind: closed_loop, clients: 2, qps: 2, duration: 10s}", 60);
    assert!((38..=40).contains(&sent), "sent {sent}");
}

#[test]
fn replay_reproduces_timestamps_to_the_nanosecond() {
    let path = temp_file(
        "exact.csv",
        "time_s,service_time_ms,prompt_tokens,output_tokens\n0.000000001,12.5,100,20\n1.5,3,7,8\n1.5,,0,0\n3600.123456789,1,1,1\n",
    );
    let mut src = TraceSource::open(&path, TraceOptions::default()).unwrap();
    let got = drain(&mut src, &mut SimRng::seed_from_u64(0));
    let times: Vec<u64> = got.iter().map(|a| a.at.as_nanos()).collect();
    assert_eq!(
        times,
        vec![1, 1_500_000_000, 1_500_000_000, 3_600_123_456_789]
    );
    assert_eq!(
        got[0].attrs.service_time,
        Some(SimDuration::from_micros(12_500))
    );
    assert_eq!(got[2].attrs.service_time, None);
    assert_eq!(
        (got[0].attrs.prompt_tokens, got[0].attrs.output_tokens),
        (100, 20)
    );
}

#[test]
fn bundled_azure_llm_trace_is_read_directly() {
    let path = repo().join("traces/AzureLLMInferenceTrace_code.csv");
    let options = TraceOptions {
        format: TraceFormat::AzureLlm,
        ..TraceOptions::default()
    };
    let got = drain(
        &mut TraceSource::open(&path, options).unwrap(),
        &mut SimRng::seed_from_u64(0),
    );
    assert_eq!(got.len(), 8819);
    assert_eq!(got[0].at, SimTime::ZERO);
    // Rows 1 and 2: 18:17:03.9799600 then 18:17:04.0319600.
    assert_eq!(got[1].at, SimTime(52_000_000));
    assert_eq!(
        (got[0].attrs.prompt_tokens, got[0].attrs.output_tokens),
        (4808, 10)
    );
    let profile = inspect(&path, TraceFormat::AzureLlm, SimDuration::from_secs(60)).unwrap();
    assert_eq!(profile.requests, 8819);
    let text = profile.to_string();
    assert!(
        text.contains("requests   8819") && text.contains("peak rate"),
        "{text}"
    );
}

#[test]
fn transformations_compose_in_the_documented_order() {
    // Arrivals at 0..10 s, one per second.
    let rows: String = (0..10).map(|s| format!("{s}\n")).collect();
    let path = temp_file("ten.csv", &format!("time_s\n{rows}"));
    let options = TraceOptions {
        window_from: SimDuration::from_secs(2),
        window_to: Some(SimDuration::from_secs(5)), // keeps 2, 3, 4 → rebased 0, 1, 2; period 3 s
        looped: true,
        time_scale: 0.5, // → 0, 0.5, 1.0, then the next pass at 1.5, ...
        start: SimTime::from_secs(100), // shifted to the run's 100 s
        load_scale: 2.0, // every arrival twice
        end: SimTime::from_millis(103_000), // two passes fit in [100, 103)
        ..TraceOptions::default()
    };
    let got = drain(
        &mut TraceSource::open(&path, options).unwrap(),
        &mut SimRng::seed_from_u64(0),
    );
    let millis: Vec<u64> = got.iter().map(|a| a.at.as_nanos() / 1_000_000).collect();
    let expected: Vec<u64> = [0, 500, 1000, 1500, 2000, 2500]
        .iter()
        .flat_map(|ms| [100_000 + ms, 100_000 + ms])
        .collect();
    assert_eq!(millis, expected);

    // Fractional load scale thins with the source's stream: about 30 % of 10 000 kept.
    let rows: String = (0..10_000)
        .map(|i| format!("{}\n", i as f64 / 100.0))
        .collect();
    let path = temp_file("many.csv", &format!("time_s\n{rows}"));
    let options = TraceOptions {
        load_scale: 0.3,
        ..TraceOptions::default()
    };
    let kept = drain(
        &mut TraceSource::open(&path, options).unwrap(),
        &mut SimRng::seed_from_u64(3),
    )
    .len();
    assert!((2_800..=3_200).contains(&kept), "kept {kept}");
}

#[test]
fn counts_traces_spread_each_interval() {
    let path = temp_file("counts.csv", "time_s,count\n0,30\n60,0\n120,90\n");
    let options = TraceOptions {
        format: TraceFormat::Counts,
        ..TraceOptions::default()
    };
    let got = drain(
        &mut TraceSource::open(&path, options).unwrap(),
        &mut SimRng::seed_from_u64(1),
    );
    assert_eq!(count_between(&got, 0, 60), 30);
    assert_eq!(count_between(&got, 60, 120), 0);
    assert_eq!(
        count_between(&got, 120, 180),
        90,
        "last row reuses the previous interval length"
    );

    let mut header = "HashOwner,HashApp,HashFunction,Trigger".to_string();
    for minute in 1..=3 {
        header += &format!(",{minute}");
    }
    let path = temp_file(
        "functions.csv",
        &format!("{header}\na,b,c,http,1,2,3\nd,e,f,timer,10,0,5\n"),
    );
    let options = TraceOptions {
        format: TraceFormat::AzureFunctions,
        ..TraceOptions::default()
    };
    let got = drain(
        &mut TraceSource::open(&path, options).unwrap(),
        &mut SimRng::seed_from_u64(1),
    );
    assert_eq!(
        [
            count_between(&got, 0, 60),
            count_between(&got, 60, 120),
            count_between(&got, 120, 180)
        ],
        [11, 2, 8]
    );
}

fn malformed(err: TrafficError) -> (u64, String, String) {
    match err {
        TrafficError::Malformed {
            line,
            column,
            message,
            ..
        } => (line, column, message),
        other => panic!("expected Malformed, got {other}"),
    }
}

fn replay_error(name: &str, contents: &str, options: TraceOptions) -> TrafficError {
    let path = temp_file(name, contents);
    let mut src = match TraceSource::open(&path, options) {
        Ok(src) => src,
        Err(e) => return e,
    };
    let mut rng = SimRng::seed_from_u64(0);
    loop {
        match src.next_arrival(&mut rng) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("{name}: expected an error"),
            Err(e) => return e,
        }
    }
}

#[test]
fn malformed_rows_name_line_and_column() {
    let (line, column, message) = malformed(replay_error(
        "bad.csv",
        "time_s,prompt_tokens\n1,5\n2,x\n",
        TraceOptions::default(),
    ));
    assert_eq!((line, column.as_str()), (3, "prompt_tokens"));
    assert!(message.contains("`x`"), "{message}");

    let (line, column, _) = malformed(replay_error(
        "badtime.csv",
        "time_s\n1\nsoon\n",
        TraceOptions::default(),
    ));
    assert_eq!((line, column.as_str()), (3, "time_s"));

    let (line, column, message) = malformed(replay_error(
        "nocol.csv",
        "when,x\n1,2\n",
        TraceOptions::default(),
    ));
    assert_eq!((line, column.as_str()), (1, "time"));
    assert!(message.contains("time_s"), "{message}");

    let azure = TraceOptions {
        format: TraceFormat::AzureLlm,
        ..TraceOptions::default()
    };
    let (line, column, _) = malformed(replay_error(
        "azure.csv",
        "TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.68,1\n",
        azure,
    ));
    assert_eq!((line, column.as_str()), (1, "GeneratedTokens"));
}

#[test]
fn out_of_order_rows_are_resorted_within_the_buffer_only() {
    let contents = "time_s\n1\n3\n2\n4\n0.5\n";
    let options = TraceOptions {
        reorder_buffer: 1,
        ..TraceOptions::default()
    };
    let (line, _, message) = malformed(replay_error("order.csv", contents, options));
    assert_eq!(line, 6, "{message}");
    let options = TraceOptions {
        reorder_buffer: 4,
        ..TraceOptions::default()
    };
    let path = temp_file("order.csv", contents);
    let got = drain(
        &mut TraceSource::open(&path, options).unwrap(),
        &mut SimRng::seed_from_u64(0),
    );
    assert_eq!(
        got.iter().map(|a| a.at.as_nanos()).collect::<Vec<_>>(),
        vec![
            500_000_000,
            1_000_000_000,
            2_000_000_000,
            3_000_000_000,
            4_000_000_000
        ]
    );
}

#[test]
fn yaml_errors_keep_line_numbers_and_key_paths() {
    let yaml = "traffic:\n  kind: sum\n  sources:\n    - kind: poisson\n      rate: 1\n    - kind: poisson\n      rtae: 2\n";
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Scenario {
        traffic: TrafficSpec,
    }
    let err = serde_yaml::from_str::<Scenario>(yaml)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown field `rtae`") && err.contains("line 7"),
        "{err}"
    );
    assert!(err.contains("traffic.sources[1]"), "{err}");

    let err = serde_yaml::from_str::<Scenario>("traffic:\n  kind: poison\n  rate: 3\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown variant `poison`") && err.contains("line 2"),
        "{err}"
    );

    // `kind` need not come first.
    let ok: Scenario = serde_yaml::from_str("traffic:\n  rate: 3\n  kind: poisson\n").unwrap();
    assert_eq!(ok.traffic.describe(), "poisson 3 req/s");
    let err = serde_yaml::from_str::<Scenario>("traffic:\n  rat: 3\n  kind: poisson\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown field `rat`") && err.contains("line"),
        "{err}"
    );
}

#[test]
fn validation_names_keys_values_and_ranges() {
    let s = spec("{kind: sum, sources: [{kind: poisson, rate: 10}, {kind: poisson, rate: -1}, {kind: trace, path: x.csv, format: requests, time_scale: 0}]}");
    let errors = s.validate("traffic");
    let keys: Vec<&str> = errors.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        vec!["traffic.sources[1].rate", "traffic.sources[2].time_scale"]
    );
    assert!(
        errors[0].1.contains("-1") && errors[0].1.contains("0 < rate"),
        "{}",
        errors[0].1
    );
    let err = s
        .build(
            Path::new("."),
            SimDuration::from_secs(10),
            &RngStreams::new(1),
        )
        .err()
        .unwrap();
    assert!(
        err.to_string().starts_with("traffic.sources[1].rate"),
        "{err}"
    );
    assert!(spec("{kind: poisson, rate: 5}")
        .validate("traffic")
        .is_empty());
}

#[test]
fn descriptions_are_short_and_specific() {
    assert_eq!(
        spec("{kind: poisson, rate: 100}").describe(),
        "poisson 100 req/s"
    );
    assert_eq!(
        spec("{kind: closed_loop, clients: 5, think_time: 0s}").describe(),
        "5 closed-loop clients"
    );
    assert_eq!(
        spec("{kind: sum, sources: [{kind: constant, rate: 2.5}, {kind: trace, path: a/b.csv, format: azure_llm, load_scale: 2}]}").describe(),
        "constant 2.5 req/s + trace b.csv, load x2"
    );
}

#[test]
fn relative_trace_paths_resolve_against_the_scenario_folder() {
    let plan = spec("{kind: trace, path: AzureLLMInferenceTrace_code.csv, format: azure_llm, window: {from: 10s, to: 70s}}")
        .build(&repo().join("traces"), SimDuration::from_secs(3600), &RngStreams::new(1))
        .unwrap();
    let got = drain(
        plan.open_loop.unwrap().as_mut(),
        &mut SimRng::seed_from_u64(0),
    );
    assert!(
        !got.is_empty() && got.iter().all(|a| a.at < SimTime::from_secs(60)),
        "{} arrivals, last {:?}",
        got.len(),
        got.last()
    );
    let missing = spec("{kind: trace, path: nope.csv, format: requests}").build(
        Path::new("/nonexistent"),
        SimDuration::from_secs(1),
        &RngStreams::new(1),
    );
    assert!(
        matches!(missing, Err(TrafficError::Io { ref path, .. }) if path.contains("/nonexistent/nope.csv"))
    );
}

#[test]
fn alibaba_trace_replays_with_service_times_when_present() {
    let path = repo().join("../shared/traces/alibaba-genai-2026/lora_request_trace.csv");
    let path = if path.exists() {
        path
    } else {
        PathBuf::from("/work/shared/traces/alibaba-genai-2026/lora_request_trace.csv")
    };
    if !path.exists() {
        eprintln!("skipped: Alibaba trace not present");
        return;
    }
    let options = TraceOptions {
        time_column: Some("gmt_create".into()),
        service_time_column: Some("exec_time_seconds".into()),
        ..TraceOptions::default()
    };
    let got = drain(
        &mut TraceSource::open(&path, options).unwrap(),
        &mut SimRng::seed_from_u64(0),
    );
    assert_eq!(got.len(), 26_823);
    assert_eq!(got[0].attrs.service_time, Some(SimDuration::from_secs(32)));
}
