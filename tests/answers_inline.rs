//! An open-loop answer that reaches its client before the next 1 s tick is taken when it leaves the pod,
//! without an event of its own (`Sim::respond`). A request log makes every answer an event again (it
//! records each one as its event is handled), so a run with a log is the reference: over random
//! scenarios (path delays constant, random or zero; KPA or fixed pods; an SLO window; traffic up to the
//! end of the run) the rows and the summary must be the same, except that the run without a log
//! handles fewer events. (`sim::hop_shortcut_tests` checks both shortcuts against a run that queues every
//! hop; this test goes through the public API and the request log.)

mod common;

use common::KeepRequests;
use podscale::observe::output::CsvTimeseries;
use podscale::Simulation;
use proptest::prelude::*;

const DELAYS: [&str; 4] = ["0s", "1ms", "3ms", "{dist: exponential, mean: 2ms}"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn answers_without_events_change_no_output(
        seed in 0u64..1_000,
        rate in 5.0f64..150.0,
        client in 0usize..4,
        ingress in 0usize..4,
        network in 0usize..4,
        kpa in any::<bool>(),
        cc in 1u32..5,
        slo_window_s in 1u64..8,
        cooldown_s in 0u64..3,
    ) {
        let autoscaler = if kpa {
            "{class: kpa, config: {stable-window: 6s}}"
        } else {
            "{class: fixed, replicas: 3}"
        };
        let text = format!(
            "name: answers\nduration: 25s\ncooldown: {cooldown_s}s\nseed: {seed}\n\
             autoscaler: {autoscaler}\n\
             service: {{containerConcurrency: {cc}}}\n\
             pod: {{cold_start: 1s, service_time: {{dist: lognormal, median: 60ms, sigma: 0.5}}}}\n\
             request_path: {{client: {}, ingress: {}, network: {}}}\n\
             traffic: {{kind: poisson, rate: {rate}}}\n\
             output: {{slo: {{p99_ms: 150, window: {slo_window_s}s}}}}\n",
            DELAYS[client], DELAYS[ingress], DELAYS[network],
        );
        let build = || Simulation::from_str(&text, "answers.yaml", &[], None).unwrap();
        let mut rows = CsvTimeseries::new(Vec::new()).unwrap();
        let mut fast = build().run(&mut rows).unwrap();
        let mut reference_rows = CsvTimeseries::new(Vec::new()).unwrap();
        let mut log = KeepRequests::default();
        let mut reference = build().run_with_log(&mut reference_rows, &mut log).unwrap();

        prop_assert_eq!(
            String::from_utf8(rows.into_inner()).unwrap(),
            String::from_utf8(reference_rows.into_inner()).unwrap()
        );
        let events = (fast.events_processed, reference.events_processed);
        fast.events_processed = 0;
        reference.events_processed = 0;
        prop_assert_eq!(&fast, &reference);
        let answered = reference.requests.completed + reference.requests.failed;
        prop_assert!(answered > 0);
        prop_assert_eq!(log.0.len() as u64, answered);
        // The reference queues every answer; the run without a log takes most of them at once.
        prop_assert!(events.0 < events.1, "{:?}", events);
    }
}
