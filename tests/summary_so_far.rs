//! `Simulation::summary_so_far`: the summary of a run stepped to a time, read without ending it. An
//! adaptive tune ranks each point on it at a short horizon and then continues the survivors' runs, so
//! two things must hold:
//! - the summary of the first `h` of a run is the summary a run of length `h` (no cooldown) gives, over
//!   random scenarios (KPA or fixed pods; Poisson, MMPP or evenly spaced traffic; path delays; SLO
//!   windows): the same
//!   requests, latencies, pod-seconds, scale decisions and SLO windows. `events_processed` may differ
//!   (a run that ends pops one event past its end), and so does a request sent at exactly `h`: a run of
//!   length `h` sends over `[0, h)`, the first part of a longer run includes it;
//! - reading it changes nothing: a run read at several times ends exactly as one never read.

use podscale::observe::output::{CollectTimeseries, NoTimeseries, RunSummary};
use podscale::time::SimTime;
use podscale::Simulation;
use proptest::prelude::*;

/// `traffic`: 0 Poisson, 1 MMPP, 2 evenly spaced (arrivals every 25 ms, so on the very time a prefix
/// ends; with a 1 ms client delay, no ingress delay and 49 ms of service some are served up to exactly
/// that time and answered 1 ms after it, before the next tick: a step must not take those answers).
fn scenario(seed: u64, kpa: bool, traffic: u8, delay_ms: (u64, u64), slo: bool) -> String {
    let autoscaler = if kpa {
        "{class: kpa, config: {stable-window: 6s, scale-to-zero-grace-period: 4s}}"
    } else {
        "{class: fixed, replicas: 3}"
    };
    let (traffic, service_time) = match traffic {
        0 => (
            "{kind: poisson, rate: 60}",
            "{dist: lognormal, median: 60ms, sigma: 0.4}",
        ),
        1 => (
            "{kind: mmpp, states: [{rate: 20, mean_duration: 10s}, {rate: 120, mean_duration: 4s}]}",
            "{dist: lognormal, median: 60ms, sigma: 0.4}",
        ),
        _ => ("{kind: constant, rate: 40}", "49ms"),
    };
    let slo = if slo {
        "output: {slo: {p99_ms: 150, window: 7s}}\n"
    } else {
        ""
    };
    format!(
        "name: prefix\nduration: 90s\ncooldown: 0s\nseed: {seed}\n\
         autoscaler: {autoscaler}\n\
         service: {{containerConcurrency: 4, minReplicas: 0, maxReplicas: 30}}\n\
         pod: {{cold_start: {{dist: lognormal, median: 2s, sigma: 0.3}}, \
         service_time: {service_time}}}\n\
         request_path: {{client: {}ms, ingress: {}ms, network: 0s}}\n\
         traffic: {traffic}\n{slo}",
        delay_ms.0, delay_ms.1
    )
}

fn sim(text: &str, overrides: &[String]) -> Simulation {
    Simulation::from_str(text, "prefix.yaml", overrides, None).expect("the scenario is valid")
}

/// The summary's fields but the event count and the resolved scenario (whose `duration` differs).
fn json(summary: &RunSummary) -> serde_json::Map<String, serde_json::Value> {
    let mut v = serde_json::to_value(summary).unwrap();
    let map = v.as_object_mut().unwrap();
    map.remove("events_processed");
    map.remove("effective_config");
    map.clone()
}

/// The fields that differ, with both values (a whole summary is too long to read in a failure).
fn differences(
    a: &serde_json::Map<String, serde_json::Value>,
    b: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: {v} vs {:?}", b.get(k)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn the_first_part_of_a_run_summarises_like_a_run_of_that_length(
        seed in 0u64..1_000,
        kpa in any::<bool>(),
        traffic in 0u8..3,
        client_ms in 0u64..3,
        ingress_ms in 0u64..2,
        slo in any::<bool>(),
        horizon_s in 5u64..80,
    ) {
        let text = scenario(seed, kpa, traffic, (client_ms, ingress_ms), slo);
        let short = sim(&text, &[format!("duration={horizon_s}s")])
            .run(&mut NoTimeseries)
            .unwrap();
        let mut long = sim(&text, &[]);
        long.step_until(SimTime::from_secs(horizon_s), &mut NoTimeseries).unwrap();
        let mut prefix = long.summary_so_far().unwrap();
        prop_assert!(short.requests.total > 0);
        if traffic == 2 {
            // The one request sent at exactly the horizon: a run of that length sends over [0, h),
            // the first part of a longer run includes it (not yet answered).
            prop_assert!(prefix.requests.in_flight_at_end >= 1);
            prefix.requests.total -= 1;
            prefix.requests.in_flight_at_end -= 1;
        }
        let diff = differences(&json(&prefix), &json(&short));
        prop_assert!(diff.is_empty(), "{}", diff.join("\n"));
        prop_assert_eq!(json(&prefix).len(), json(&short).len());
    }
}

#[test]
fn reading_the_summary_so_far_changes_nothing() {
    for seed in [3, 17, 40] {
        let text = scenario(seed, true, 1, (1, 1), true);
        let mut plain_rows = CollectTimeseries::default();
        let plain = sim(&text, &[]).run(&mut plain_rows).unwrap();
        let mut read_rows = CollectTimeseries::default();
        let mut read = sim(&text, &[]);
        let mut totals = Vec::new();
        for t in [10, 33, 60, 61] {
            read.step_until(SimTime::from_secs(t), &mut read_rows)
                .unwrap();
            totals.push(read.summary_so_far().unwrap().requests.total);
        }
        let ended = read.run(&mut read_rows).unwrap();
        assert_eq!(
            serde_json::to_value(&ended).unwrap(),
            serde_json::to_value(&plain).unwrap()
        );
        assert_eq!(read_rows.0, plain_rows.0);
        // The summaries read on the way grow with the run.
        assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
        assert!(totals[0] > 0 && *totals.last().unwrap() < plain.requests.total);
    }
}
