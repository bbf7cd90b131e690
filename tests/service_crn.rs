//! Common random numbers for service draws: a request's service time is a function of the seed, its
//! revision and its arrival index only, so two configurations that start services in different orders
//! still give every request the same service time.
//!
//! The scenario has fixed pods with containerConcurrency 1 and no path delays, so on each pod a request
//! starts when it arrives or when the pod's previous request finishes, whichever is later, and its
//! service time can be read off the per-request log exactly: finished - max(sent, previous finished on
//! the same pod). With 2 pods requests queue and start out of arrival order; with 20 they rarely wait.
//! A shared service stream (as before) handed draws out in start order, so the two runs disagreed.

mod common;

use common::KeepRequests;
use podscale::sim::{RequestRecord, Simulation};
use std::collections::BTreeMap;

const SCENARIO: &str = "
name: service-crn
duration: 10m
cooldown: 1m
seed: 11
service: {containerConcurrency: 1}
autoscaler: {class: fixed, replicas: 2}
pod:
  service_time: {dist: exponential, mean: 100ms}
request_path: {client: 0s, ingress: 0s, network: 0s}
traffic: {kind: poisson, rate: 12}
";

/// Service time of every successful request, keyed by its send time (ns), and whether some request
/// started before one sent earlier (service starts out of arrival order).
fn service_times(overrides: &[&str]) -> (BTreeMap<u64, u64>, bool) {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let sim = Simulation::from_str(SCENARIO, "service-crn.yaml", &overrides, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut log = KeepRequests::default();
    sim.run_with_log(&mut podscale::observe::output::NoTimeseries, &mut log)
        .unwrap();
    let mut by_pod: BTreeMap<u32, Vec<RequestRecord>> = BTreeMap::new();
    for r in log.0.iter().filter(|r| r.status == 200) {
        by_pod.entry(r.pod.unwrap().slot()).or_default().push(*r);
    }
    let mut service = BTreeMap::new();
    let mut starts = Vec::new();
    for requests in by_pod.values_mut() {
        requests.sort_by_key(|r| r.sent);
        let mut free_at = 0;
        for r in requests.iter() {
            let start = r.sent.as_nanos().max(free_at);
            free_at = r.finished.as_nanos();
            starts.push((r.sent.as_nanos(), start));
            assert!(service.insert(r.sent.as_nanos(), free_at - start).is_none());
        }
    }
    starts.sort_unstable();
    let out_of_order = starts.windows(2).any(|w| w[1].1 < w[0].1);
    (service, out_of_order)
}

#[test]
fn every_request_gets_the_same_service_time_whatever_order_services_start_in() {
    let (two, two_reordered) = service_times(&[]);
    let (twenty, _) = service_times(&["autoscaler.replicas=20"]);
    assert!(
        two_reordered,
        "with 2 pods some service must start out of arrival order"
    );
    assert!(two.len() > 6_000, "{} requests", two.len());
    let mut compared = 0;
    for (sent, s) in &two {
        if let Some(t) = twenty.get(sent) {
            assert_eq!(s, t, "request sent at {sent} ns");
            compared += 1;
        }
    }
    // Only requests one run refused (a full pod queue with 2 pods) are missing from the other.
    assert!(compared + 50 > two.len().max(twenty.len()), "{compared}");
    let mean = two.values().sum::<u64>() as f64 / two.len() as f64 / 1e9;
    assert!((mean - 0.1).abs() < 0.01, "mean service {mean} s");
}
