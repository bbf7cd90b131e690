//! The hop shortcuts (an answer taken when it leaves the pod, `Sim::respond`; a request handed to the
//! ingress without its event, `Sim::send_to`) against the reference that queues every hop as an event:
//! over random scenarios the rows and the summary must be the same, except that the shortcuts handle
//! fewer events.

use super::facade::Simulation;
use crate::observe::output::{CsvTimeseries, RunSummary};
use proptest::prelude::*;

/// The summary (events zeroed) and the rows' CSV of `text`, with or without the shortcuts; and the events.
fn run(text: &str, shortcuts: bool) -> (RunSummary, String, u64) {
    let mut sim = Simulation::from_str(text, "hops.yaml", &[], None).unwrap();
    if !shortcuts {
        sim = sim.every_hop_an_event();
    }
    let mut rows = CsvTimeseries::new(Vec::new()).unwrap();
    let mut summary = sim.run(&mut rows).unwrap();
    let events = std::mem::take(&mut summary.events_processed);
    (
        summary,
        String::from_utf8(rows.into_inner()).unwrap(),
        events,
    )
}

/// Runs `text` with and without the shortcuts; after checking the outputs, returns both event counts and
/// the requests sent.
fn compare(text: &str) -> Result<(u64, u64, u64), TestCaseError> {
    let (fast, fast_rows, fast_events) = run(text, true);
    let (reference, reference_rows, reference_events) = run(text, false);
    prop_assert_eq!(fast_rows, reference_rows);
    prop_assert_eq!(&fast, &reference);
    Ok((fast_events, reference_events, reference.requests.total))
}

const DELAYS: [&str; 4] = ["0s", "1ms", "3ms", "{dist: exponential, mean: 2ms}"];
const TRAFFIC: [&str; 3] = [
    "{kind: poisson, rate: RATE}",
    // Evenly spaced arrivals land on whole seconds, together with the ticks.
    "{kind: constant, rate: RATE}",
    "{kind: mmpp, states: [{rate: RATE, mean_duration: 5s}, {rate: 5, mean_duration: 5s}]}",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn the_hop_shortcuts_change_no_output(
        seed in 0u64..1_000,
        rate in 2u32..150,
        traffic in 0usize..3,
        client in 0usize..4,
        ingress in 0usize..4,
        network in 0usize..4,
        autoscaler in 0usize..3,
        cc in 1u32..5,
        constant_service in any::<bool>(),
        slo_window_s in 1u64..8,
        cooldown_s in 0u64..3,
    ) {
        let autoscaler = [
            "{class: kpa, config: {stable-window: 6s, scale-to-zero-grace-period: 2s}}",
            "{class: fixed, replicas: 3}",
            "{class: hpa, config: {metric: cpu, target: 50}}",
        ][autoscaler];
        let service_time = if constant_service {
            "100ms"
        } else {
            "{dist: lognormal, median: 60ms, sigma: 0.5}"
        };
        let text = format!(
            "name: hops\nduration: 25s\ncooldown: {cooldown_s}s\nseed: {seed}\n\
             autoscaler: {autoscaler}\n\
             service: {{containerConcurrency: {cc}}}\n\
             pod: {{cold_start: 1s, service_time: {service_time}, resources: {{requests: {{cpu: 500m}}}}}}\n\
             request_path: {{client: {}, ingress: {}, network: {}}}\n\
             traffic: {}\n\
             output: {{slo: {{p99_ms: 150, window: {slo_window_s}s}}}}\n",
            DELAYS[client], DELAYS[ingress], DELAYS[network],
            TRAFFIC[traffic].replace("RATE", &rate.to_string()),
        );
        let (fast, reference, requests) = compare(&text)?;
        prop_assert!(fast <= reference);
        // With no path delay and Poisson traffic nearly every hop is taken without an event.
        if client == 0 && ingress == 0 && network == 0 && traffic == 0 && requests > 100 {
            prop_assert!(reference - fast > requests, "{} -> {} events, {} requests", reference, fast, requests);
        }
    }

    #[test]
    fn the_hop_shortcuts_change_no_output_with_several_services(
        seed in 0u64..1_000,
        rate in 2u32..60,
        delay in 0usize..4,
    ) {
        let text = format!(
            "name: hops\nduration: 20s\ncooldown: 2s\nseed: {seed}\n\
             autoscaler: {{class: kpa, config: {{stable-window: 6s}}}}\n\
             pod: {{cold_start: 1s, service_time: {{dist: exponential, mean: 50ms}}}}\n\
             request_path: {{client: {}, ingress: 0s, network: 0s}}\n\
             services:\n\
             \x20 - name: a\n    traffic: {{kind: poisson, rate: {rate}}}\n\
             \x20 - name: b\n    traffic: {{kind: poisson, rate: 3}}\n\
             \x20   autoscaler: {{class: fixed, replicas: 1}}\n",
            DELAYS[delay],
        );
        let (fast, reference, _) = compare(&text)?;
        prop_assert!(fast < reference);
    }
}
