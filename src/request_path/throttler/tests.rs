//! Unit tests of `throttler` (kept beside it so the model reads on its own).

use super::*;
use proptest::prelude::*;

fn dests(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("10.0.0.{}:8012", 100 + i)).collect()
}

fn throttler(cc: u32, activators: usize, me: usize, pods: usize) -> RevisionThrottler {
    let ips: Vec<String> = (0..activators)
        .map(|j| format!("10.1.0.{}", 100 + j))
        .collect();
    let mut t = RevisionThrottler::new(cc);
    t.update_activators(&ips[me], &ips);
    t.update_dests(&dests(pods));
    t
}

struct NoRandom;
impl LbRandom for NoRandom {
    fn intn(&mut self, _: usize) -> usize {
        panic!("no draw expected")
    }
    fn int63(&mut self) -> u64 {
        panic!("no draw expected")
    }
}

#[test]
fn tbc_zero_asks_for_two_activators_whatever_the_load() {
    assert_eq!(num_activators(500, 10.0, 0.0, 100.0), 2);
    assert_eq!(num_activators(0, 10.0, 211.0, 100.0), 3);
    assert_eq!(
        num_activators(30, 10.0, -1.0, 100.0),
        3,
        "TBC −1 adds nothing"
    );
}

#[test]
fn remainder_pods_go_one_each_to_the_first_activators() {
    // 7 pods over 3 activators: slices of 2, the tail pod 6 goes to activator 0.
    assert_eq!(assigned_pods(1, 7, Some(0), 3), vec![0, 1, 6]);
    assert_eq!(assigned_pods(1, 7, Some(1), 3), vec![2, 3]);
    assert_eq!(assigned_pods(1, 7, Some(2), 3), vec![4, 5]);
}

#[test]
fn fewer_pods_than_activators_share_pods_round_the_list() {
    assert_eq!(assigned_pods(2, 2, Some(3), 5), vec![1]);
    assert_eq!(target_capacity(2, 1, 2), 2);
}

#[test]
fn an_unpublished_activator_routes_to_every_pod() {
    let mut t = RevisionThrottler::new(3);
    t.update_activators("10.9.9.9", &["10.1.0.100".into(), "10.1.0.101".into()]);
    t.update_dests(&dests(4));
    assert_eq!(t.activator_slot(), (None, 0));
    assert_eq!(t.breaker_capacity(), 12);
}

#[test]
fn container_concurrency_zero_uses_all_pods_and_an_open_breaker() {
    let t = throttler(0, 3, 2, 6);
    assert_eq!(t.assigned_dests().len(), 6);
    assert_eq!((t.target_capacity(), t.breaker_capacity()), (MAX_INT32, 1));
}

#[test]
fn dests_sort_as_strings_not_as_addresses() {
    let mut t = RevisionThrottler::new(1);
    t.update_dests(&["10.0.0.9:8012".into(), "10.0.0.10:8012".into()]);
    assert_eq!(t.sorted_dests(), vec!["10.0.0.10:8012", "10.0.0.9:8012"]);
}

#[test]
fn first_available_skips_full_pods_and_returns_none_when_all_are_full() {
    let mut t = throttler(1, 1, 0, 2);
    assert_eq!(t.acquire(&mut NoRandom).as_deref(), Some("10.0.0.100:8012"));
    assert_eq!(t.acquire(&mut NoRandom).as_deref(), Some("10.0.0.101:8012"));
    assert_eq!(t.acquire(&mut NoRandom), None);
    t.release("10.0.0.100:8012");
    assert_eq!(t.acquire(&mut NoRandom).as_deref(), Some("10.0.0.100:8012"));
}

#[test]
fn round_robin_position_survives_a_pod_update_and_in_flight_counts_are_kept() {
    let mut t = throttler(4, 1, 0, 3);
    assert_eq!(t.policy(), LbPolicy::RoundRobin);
    t.acquire(&mut NoRandom);
    t.acquire(&mut NoRandom);
    t.update_dests(&dests(4));
    assert_eq!(t.assigned_in_flight(), vec![1, 1, 0, 0]);
    assert_eq!(t.acquire(&mut NoRandom).as_deref(), Some("10.0.0.102:8012"));
}

#[test]
fn revision_breaker_queues_twenty_thousand_without_rejecting() {
    let mut b = RevisionBreaker::for_revision(1);
    b.set_capacity(1);
    let admissions: Vec<Admission> = (0..20_001).map(|_| b.admit()).collect();
    assert!(!admissions.contains(&Admission::Rejected));
    assert_eq!((b.executing(), b.waiting()), (1, 20_000));
    assert_eq!(b.complete(), 1, "a completion starts the oldest waiter");
}

#[test]
fn revision_breaker_starts_waiters_when_capacity_appears() {
    let mut b = RevisionBreaker::for_revision(2);
    for _ in 0..100 {
        assert_eq!(b.admit(), Admission::Wait);
    }
    assert_eq!(b.set_capacity(6), 6);
    assert_eq!((b.executing(), b.waiting()), (6, 94));
}

#[test]
fn bare_breaker_rejects_only_beyond_queue_depth_plus_max_concurrency() {
    let mut b = RevisionBreaker::queue(3, 5, 1);
    let rejected = (0..10).filter(|_| b.admit() == Admission::Rejected).count();
    assert_eq!((rejected, b.pending()), (2, Some(8)));
}

#[test]
fn infinite_breaker_releases_everyone_at_the_first_pod() {
    let mut b = RevisionBreaker::for_revision(0);
    for _ in 0..500 {
        b.admit();
    }
    assert_eq!((b.executing(), b.pending()), (0, None));
    assert_eq!(b.set_capacity(MAX_INT32), 500);
}

proptest! {
    #[test]
    fn slices_partition_the_pods_when_there_are_enough(
        cc in 1u32..20, activators in 1usize..12, extra in 0usize..40,
    ) {
        let pods = activators + extra;
        let mut seen = vec![0u32; pods];
        let mut capacity = 0;
        for j in 0..activators {
            let a = assigned_pods(cc, pods, Some(j), activators);
            capacity += target_capacity(cc, a.len(), pods);
            for p in a {
                seen[p] += 1;
            }
        }
        prop_assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
        prop_assert_eq!(capacity, cc as u64 * pods as u64);
    }

    #[test]
    fn breaker_admits_within_capacity_and_rejects_only_when_full(
        depth in 0u64..20, max in 1u64..20, capacity in 0u64..25, ops in proptest::collection::vec(0u8..3, 0..200),
    ) {
        let mut b = RevisionBreaker::queue(depth, max, capacity);
        for op in ops {
            match op {
                0 => {
                    let held = b.executing() + b.waiting();
                    let a = b.admit();
                    prop_assert_eq!(a == Admission::Rejected, held == depth + max);
                    if a == Admission::Execute {
                        // A shrunk capacity never cuts running requests, but no new one starts above it.
                        prop_assert!(b.executing() <= b.capacity());
                    }
                }
                1 => { b.complete(); }
                _ => { b.set_capacity(capacity / 2); }
            }
                            prop_assert!(b.waiting() == 0 || b.executing() >= b.capacity());
        }
    }
}
