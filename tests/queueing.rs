//! The simulator against queueing theory, with fixed replicas, Poisson arrivals, exponential service and
//! no time outside the pod (so client latency = sojourn time in the pod):
//!
//! * one pod with containerConcurrency 4 is an M/M/4 queue (4 slots, one FIFO queue in the queue-proxy):
//!   the mean wait must match Erlang C. At rho = 0.8 the queue-proxy's cap of 10 x cc = 40 waiting
//!   requests is reached with probability about C(4, 3.2) x 0.8^40 < 1e-4, so rejections are negligible
//!   (and checked to be below 1e-3).
//! * one pod with processor sharing on a 1-core limit, 1 core per request, cc = 0, is an M/M/1-PS queue:
//!   mean sojourn 1 / (mu - lambda).
//!
//! Tolerances: the runs are long (hundreds of thousands of requests); the standard error of the mean
//! sojourn, allowing for the queues' autocorrelation, is under 1.5% for M/M/4 and about 2% for M/M/1-PS,
//! so the tests accept 4% and 6% respectively. Figures are printed with `--nocapture`.

mod common;

use podscale::observe::output::RunSummary;
use statrs::function::factorial::factorial;

fn run(name: &str, text: &str) -> RunSummary {
    common::summary(&common::scenario_file(name, text), &[])
}

/// Erlang C: probability that an arrival waits in M/M/c with offered load a = lambda / mu.
fn erlang_c(c: u64, a: f64) -> f64 {
    let rho = a / c as f64;
    let sum: f64 = (0..c).map(|k| a.powi(k as i32) / factorial(k)).sum();
    let top = a.powi(c as i32) / factorial(c) / (1.0 - rho);
    top / (sum + top)
}

#[test]
fn mm4_mean_wait_matches_erlang_c() {
    let (lambda, mu, c) = (32.0, 10.0, 4u64);
    let s = run(
        "mm4",
        "
duration: 4h
seed: 7
service: {containerConcurrency: 4}
autoscaler: {class: fixed, replicas: 1}
pod: {service_time: {dist: exponential, mean: 100ms}}
traffic: {kind: poisson, rate: 32}
",
    );
    let a = lambda / mu;
    let wq = erlang_c(c, a) / (c as f64 * mu - lambda);
    let sojourn = wq + 1.0 / mu;
    let sim_sojourn = s.latency_ms.mean / 1e3;
    let sim_wq = sim_sojourn - 1.0 / mu;
    println!(
        "M/M/4 rho 0.8: mean sojourn simulated {sim_sojourn:.4} s vs Erlang C {sojourn:.4} s; mean wait {sim_wq:.4} s vs {wq:.4} s; {} requests, {} rejected",
        s.requests.total, s.requests.rejected
    );
    assert!((s.requests.rejected as f64) < 1e-3 * s.requests.total as f64);
    assert!(
        (sim_sojourn - sojourn).abs() / sojourn < 0.04,
        "sojourn {sim_sojourn} vs {sojourn}"
    );
    assert!((sim_wq - wq).abs() / wq < 0.10, "wait {sim_wq} vs {wq}");
}

#[test]
fn mm1_processor_sharing_mean_sojourn_is_one_over_mu_minus_lambda() {
    let (lambda, mu) = (7.0, 10.0);
    let s = run(
        "mm1ps",
        "
duration: 8h
seed: 11
service: {containerConcurrency: 0}
autoscaler: {class: fixed, replicas: 1}
pod:
  service_time: {dist: exponential, mean: 100ms}
  service: {model: processor_sharing}
  resources: {requests: {cpu: 1}, limits: {cpu: 1}}
  usage: {cpu_per_request: 1, cpu_idle: 0}
traffic: {kind: poisson, rate: 7}
",
    );
    let expected = 1.0 / (mu - lambda);
    let sim_sojourn = s.latency_ms.mean / 1e3;
    println!(
        "M/M/1-PS rho 0.7: mean sojourn simulated {sim_sojourn:.4} s vs 1/(mu-lambda) {expected:.4} s; {} requests",
        s.requests.total
    );
    assert_eq!(s.requests.failed, 0);
    assert!(
        (sim_sojourn - expected).abs() / expected < 0.06,
        "{sim_sojourn} vs {expected}"
    );
}

#[test]
fn processor_sharing_without_contention_is_pure_service_time() {
    // Four cores, one core per request, at most 4 requests admitted (cc = 4): nobody is ever slowed down,
    // so the mean sojourn is the mean service time (the M/M/4 case without the queue would differ).
    let s = run(
        "ps4",
        "
duration: 30m
seed: 3
service: {containerConcurrency: 4}
autoscaler: {class: fixed, replicas: 1}
pod:
  service_time: 100ms
  service: {model: processor_sharing}
  resources: {limits: {cpu: 4}}
traffic: {kind: poisson, rate: 5}
",
    );
    let mean = s.latency_ms.mean;
    assert!((mean - 100.0).abs() < 5.0, "mean {mean} ms");
    assert!(s.latency_ms.max >= 100.0);
}
