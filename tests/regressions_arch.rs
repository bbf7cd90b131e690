//! Regression tests for the two bugs issue 11 names: a stale event acting on a reused request slot, and the
//! per-second row boundary depending on when an event was scheduled.

mod common;

use common::scenario_file as write_scenario;
use std::path::Path;

/// Issue 11 item 3: 4 fixed pods, containerConcurrency 1, a CronHPA job scaling to 1 at 60 s, 100 s of
/// service, 1 s of grace and 4 closed-loop clients. The three requests killed at 61 s are answered 502; the
/// clients' next requests reuse those request slots, and before generational ids the killed requests'
/// stale `ServiceDone` at 100 s completed the new requests with 200 after 39 s.
const STALE_SLOT: &str = "
name: stale-slot
duration: 300s
cooldown: 0s
seed: 1
start_time: \"2024-01-01T00:00:00Z\"
service: {containerConcurrency: 1}
autoscaler:
  class: fixed
  replicas: 4
  cron:
    time_zone: UTC
    jobs:
      - {name: shrink, schedule: \"0 1 0 * * *\", targetSize: 1}
pod: {cold_start: 1s, service_time: 100s, termination_grace: 1s}
request_path: {client: 0s, ingress: 0s, network: 0s}
traffic: {kind: closed_loop, clients: 4}
";

fn request_rows(path: &Path) -> Vec<(f64, f64, u16)> {
    common::requests_csv(path, &[])
        .1
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_killed_requests_stale_completion_never_answers_the_request_reusing_its_slot() {
    let rows = request_rows(&write_scenario("stale", STALE_SLOT));
    let killed = rows.iter().filter(|r| r.2 == 502).count();
    assert_eq!(
        killed, 3,
        "the shrink to 1 pod kills three in-service requests: {rows:?}"
    );
    let ok: Vec<_> = rows.iter().filter(|r| r.2 == 200).collect();
    assert!(!ok.is_empty(), "some requests complete: {rows:?}");
    for r in ok {
        assert!(
            r.1 >= 100_000.0,
            "a 200 after {} ms although service takes 100 s (sent at {} s)",
            r.1,
            r.0
        );
    }
}

/// Issue 11 item 4: with `constant` traffic at 0.5 req/s, 10 ms of service and no network delay, every
/// request arrives and completes within one second `[t - 1 s, t)`, so each row counts as many completions
/// as arrivals. Before the tick had its own priority, the arrival at 2.000 s was counted in row 2 (the tick
/// at 2 s ran after it) and its completion at 2.010 s in row 3.
const ROW_BOUNDARY: &str = "
name: row-boundary
duration: 20s
cooldown: 0s
service: {containerConcurrency: 0}
autoscaler: {class: fixed, replicas: 1}
pod: {service_time: 10ms}
request_path: {client: 0s, ingress: 0s, network: 0s}
traffic: {kind: constant, rate: 0.5}
";

#[test]
fn a_row_covers_exactly_the_second_before_it() {
    let path = write_scenario("boundary", ROW_BOUNDARY);
    let (summary, rows) = common::run(&path, &[]);
    assert_eq!(summary.requests.total, 10);
    let mut arrivals = 0;
    for row in &rows {
        assert_eq!(
            row.arrivals, row.completions,
            "row {} counts {} arrivals but {} completions",
            row.time_s, row.arrivals, row.completions
        );
        arrivals += row.arrivals;
    }
    assert_eq!(arrivals, 10);
}
