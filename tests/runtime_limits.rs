//! Issue 14, run-time side: a KPA without a max-scale can ask for more pods than the simulator holds
//! (`scenario::limits::MAX_PODS`); the run stops with an error naming the time, the figure, the limit and
//! the setting to change, instead of allocating the pods. A bounded revision under the same load runs.

use podscale::observe::output::CollectTimeseries;
use podscale::scenario::limits::MAX_PODS;
use podscale::sim::SimError;
use podscale::time::SimTime;
use podscale::{Simulation, SimulationError};

/// Unbounded KPA (maxReplicas 0), a tiny per-pod target and about 200 requests in flight: the decider
/// wants 200 / 0.01 = 20,000 pods.
fn scenario(max_replicas: u32) -> String {
    format!(
        "name: unbounded\nduration: 20s\nservice:\n  minReplicas: 1\n  maxReplicas: {max_replicas}\n  \
         scaleMetric: concurrency\n  annotations: {{autoscaling.knative.dev/target: \"0.01\"}}\n  \
         initial_state: warm\npod:\n  cold_start: 1s\n  service_time: 100ms\n\
         traffic:\n  kind: constant\n  rate: 2000\n"
    )
}

#[test]
fn an_unbounded_kpa_asking_for_too_many_pods_stops_with_a_clear_error() {
    let mut sim = Simulation::from_str(&scenario(0), "unbounded.yaml", &[], None).unwrap();
    let mut rows = CollectTimeseries::default();
    let err = sim
        .step_until(SimTime::from_secs(20), &mut rows)
        .expect_err("20,000 pods is over the limit");
    let SimulationError::Sim(SimError::TooManyPods { asked, limit, .. }) = &err else {
        panic!("wrong error: {err}");
    };
    assert!(u64::from(*asked) > MAX_PODS, "{err}");
    assert_eq!(*limit, MAX_PODS);
    let text = err.to_string();
    for words in [
        "at t=",
        &format!("asked for {asked} pods"),
        &format!("more than the {MAX_PODS}"),
        "service.maxReplicas",
        "autoscaling.knative.dev/max-scale",
        "config-autoscaler",
    ] {
        assert!(text.contains(words), "`{words}` not in: {text}");
    }
    // It stopped at the decision, seconds into the run, with no row past it and no pod created for it.
    let last = rows.0.last().expect("rows before the refusal");
    assert!(last.time_s < 20, "ran on to {} s", last.time_s);
    // A stopped run stays stopped: finishing it reports the same refusal, not a summary.
    let before = rows.0.len();
    let again = sim.run(&mut rows).expect_err("still refused");
    assert_eq!(again.to_string(), text);
    assert_eq!(rows.0.len(), before, "no row after the refusal");
    assert!(rows
        .0
        .iter()
        .all(|r| u64::from(r.ready_pods) + u64::from(r.starting_pods) <= MAX_PODS));
}

#[test]
fn a_bounded_kpa_under_the_same_load_runs_to_the_end() {
    let sim = Simulation::from_str(&scenario(50), "bounded.yaml", &[], None).unwrap();
    let mut rows = CollectTimeseries::default();
    let summary = sim.run(&mut rows).unwrap();
    assert_eq!(summary.replicas.max_desired, 50);
    assert_eq!(rows.0.last().map(|r| r.time_s), Some(20));
}
