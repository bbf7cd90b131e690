//! The activator's load-balancing policy follows Knative's choice by containerConcurrency (first available
//! for 1..=3, round robin above 3, random choice of two for 0), observed through the per-request log.

mod common;

/// Requests per pod slot for three warm pods behind an always-present activator (TBC -1), one client at a
/// time, so every pick sees all pods free.
fn pods_used(container_concurrency: u32) -> Vec<usize> {
    let path = common::write(
        &common::tempdir("activator"),
        &format!("lb-{container_concurrency}.yaml"),
        &format!(
            "duration: 30s\nseed: 4\nservice:\n  containerConcurrency: {container_concurrency}\n  minReplicas: 3\n  initial_state: warm\n  initial_pods: 3\nautoscaler:\n  config: {{target-burst-capacity: \"-1\"}}\npod: {{service_time: 10ms}}\ntraffic: {{kind: closed_loop, clients: 1}}\n"
        ),
    );
    let (_, text) = common::requests_csv(&path, &[]);
    let mut counts = vec![0usize; 3];
    for row in text.lines().skip(1) {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(
            fields[4], "1",
            "every request goes through the activator: {row}"
        );
        counts[fields[3].parse::<usize>().unwrap()] += 1;
    }
    counts
}

#[test]
fn first_available_for_small_container_concurrency() {
    let counts = pods_used(2);
    assert!(counts[0] > 2000, "{counts:?}");
    assert_eq!(
        &counts[1..],
        &[0, 0],
        "the first pod always has a free slot: {counts:?}"
    );
}

#[test]
fn round_robin_above_three() {
    let counts = pods_used(10);
    let total: usize = counts.iter().sum();
    for c in &counts {
        assert!(
            c.abs_diff(total / 3) <= 1,
            "even spread expected: {counts:?}"
        );
    }
}

#[test]
fn random_choice_of_two_for_unlimited_concurrency() {
    let counts = pods_used(0);
    let total: usize = counts.iter().sum();
    for c in &counts {
        // Binomial(n, 1/3): well within 5 standard deviations of n/3, but not the exact split of round robin.
        let sd = (total as f64 * (1.0 / 3.0) * (2.0 / 3.0)).sqrt();
        assert!(
            ((*c as f64) - total as f64 / 3.0).abs() < 5.0 * sd,
            "{counts:?}"
        );
    }
    assert!(
        counts.iter().any(|c| c.abs_diff(total / 3) > 1),
        "random, not round robin: {counts:?}"
    );
}
