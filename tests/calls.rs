//! Calls between revisions (`request_path::calls`): a caller's pod slot stays busy while its callee
//! answers, end-to-end latency includes every hop, and a callee's failure or the caller's own deadline
//! fails the caller with the right status.

use podscale::dist::DurationDist;
use podscale::report::{run_services_to_dir, DirHooks};
use podscale::request_path::calls::{CallSpec, StepSpec};
use podscale::scenario::{load_str, prepare_services, PreparedServices};
use podscale::time::SimDuration;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn run(name: &str, text: &str, edit: impl FnOnce(&mut PreparedServices)) -> Value {
    let dir = std::env::temp_dir().join(format!("podscale-calls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let loaded = load_str(text, Path::new("calls.yaml"), &root, &[]).unwrap();
    let mut prepared = prepare_services(&loaded, None).unwrap();
    edit(&mut prepared);
    run_services_to_dir(&dir, &loaded, prepared, DirHooks::default()).unwrap();
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    serde_json::from_str(&summary).unwrap()
}

fn ms(n: u64) -> DurationDist {
    DurationDist::constant(SimDuration::from_millis(n))
}

/// `front` calls `back` between 10 ms of pre- and 5 ms of post-processing.
fn front_calls_back(p: &mut PreparedServices) {
    p.services[0].prepared.config.calls = Some(Box::new(CallSpec {
        steps: vec![StepSpec::All(vec!["back".into()])],
        post_time: ms(5),
        external: true,
        divert: None,
        describe: Default::default(),
    }));
    p.services[1].prepared.config.calls = Some(Box::new(CallSpec::callee()));
}

fn pair(back_service: &str, back_timeout: &str, front_timeout: &str) -> String {
    format!(
        "name: pair
duration: 60s
cooldown: 10s
output: {{plots: false, service_interval: 10s}}
request_path: {{client: 1ms, ingress: 1ms, network: 1ms}}
autoscaler: {{class: fixed, replicas: 20}}
traffic: {{kind: poisson, rate: 5}}
services:
  - name: front
    service: {{containerConcurrency: 1, timeout: {front_timeout}}}
    pod: {{service_time: 10ms}}
  - name: back
    service: {{containerConcurrency: 1, timeout: {back_timeout}}}
    pod: {{service_time: {back_service}}}
"
    )
}

fn service<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["services"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["service"] == name)
        .unwrap()
}

#[test]
fn end_to_end_latency_covers_every_hop() {
    let s = run("hops", &pair("100ms", "60s", "60s"), front_calls_back);
    let total = s["requests"]["total"].as_u64().unwrap();
    assert!(total > 200, "{total}");
    // External requests only: the back service's calls are not counted again.
    let back = service(&s, "back");
    assert_eq!(back["requests"]["total"].as_u64().unwrap(), total);
    assert_eq!(s["requests"]["failed"], 0);
    // 10 ms pre + 100 ms predictor + 5 ms post + 6 ms of one-way hops each way, at least.
    let min = s["latency_ms"]["min"].as_f64().unwrap();
    assert!(min >= 10.0 + 100.0 + 5.0 + 12.0 - 0.5, "{min}");
    // The front service's latency is the end-to-end one; the back's is its own hop.
    let front = service(&s, "front");
    let back_min = back["latency_ms"]["min"].as_f64().unwrap();
    assert!((100.0..110.0).contains(&back_min), "{back_min}");
    assert!(front["latency_ms"]["min"].as_f64().unwrap() >= min - 1.0);
}

#[test]
fn without_calls_the_front_answers_alone() {
    let s = run("alone", &pair("100ms", "60s", "60s"), |_| {});
    let min = s["latency_ms"]["min"].as_f64().unwrap();
    assert!(min < 30.0, "{min}");
}

#[test]
fn a_callee_timeout_fails_the_caller_with_504() {
    // The back service takes 2 s and times out at 1 s: every call answers 504, and so does the front.
    let s = run("child-timeout", &pair("2s", "1s", "60s"), front_calls_back);
    let total = s["requests"]["total"].as_u64().unwrap();
    assert!(total > 200);
    assert_eq!(s["status_codes"]["504"].as_u64().unwrap(), total);
    assert_eq!(s["requests"]["completed"], 0);
    // The timeout happened at the back, and is counted there once.
    assert_eq!(
        service(&s, "back")["requests"]["timed_out"]
            .as_u64()
            .unwrap(),
        total
    );
    assert_eq!(service(&s, "front")["requests"]["timed_out"], 0);
    assert_eq!(s["requests"]["timed_out"].as_u64().unwrap(), total);
}

#[test]
fn the_callers_deadline_cuts_the_wait() {
    // The front times out at 500 ms while the back takes 2 s: the front answers 504 at its deadline.
    let s = run(
        "parent-timeout",
        &pair("2s", "60s", "500ms"),
        front_calls_back,
    );
    let total = s["requests"]["total"].as_u64().unwrap();
    assert_eq!(s["status_codes"]["504"].as_u64().unwrap(), total);
    let front = service(&s, "front");
    assert_eq!(front["requests"]["timed_out"].as_u64().unwrap(), total);
}

#[test]
fn requests_in_flight_at_the_end_count_external_requests_only() {
    // Cut while many calls are out: the run's counters still add up to its external requests.
    let text = pair("2s", "60s", "60s").replace("cooldown: 10s", "cooldown: 0s");
    let s = run("cut", &text, front_calls_back);
    let r = &s["requests"];
    let at_end = r["in_flight_at_end"].as_u64().unwrap();
    assert!(at_end > 0);
    assert_eq!(
        r["total"].as_u64().unwrap(),
        r["completed"].as_u64().unwrap() + r["failed"].as_u64().unwrap() + at_end
    );
    // Every external request in flight is at the front; some of them wait for the back.
    let front = service(&s, "front")["requests"]["in_flight_at_end"]
        .as_u64()
        .unwrap();
    let back = service(&s, "back")["requests"]["in_flight_at_end"]
        .as_u64()
        .unwrap();
    assert_eq!(front, at_end);
    assert!(back > 0 && back <= front, "{back} {front}");
}
