//! Unit tests of `activator_fleet` (kept beside it so the model reads on its own).

use super::*;
use crate::engine::{RngStreams, Stream};
use proptest::prelude::*;

fn rng() -> SimRng {
    RngStreams::new(1).stream(Stream::LoadBalancing)
}

fn id(n: u32) -> RequestId {
    RequestId::new(n, 0)
}

/// cc 1, capacity 100, TBC 211: num_activators(r) = max(2, ceil((r + 211) / 100)) = 3 for r < 90.
fn fleet(cc: u32, replicas: u32) -> ActivatorFleet {
    ActivatorFleet::new(
        cc,
        replicas,
        FleetSizing {
            total_value: cc.max(1) as f64,
            ..FleetSizing::default()
        },
    )
}

fn ready(f: &mut ActivatorFleet, pods: &[u32]) {
    for &p in pods {
        f.pod_routable(p);
    }
    f.set_ready(f.routable().len() as u32);
}

#[test]
fn one_replica_is_one_activator_over_every_pod() {
    let mut f = fleet(1, 1);
    ready(&mut f, &[0, 1, 2]);
    assert_eq!(f.published(), 1);
    assert_eq!(f.assigned(0), &[0, 1, 2]);
    assert_eq!((f.route(), f.route()), (0, 0));
}

#[test]
fn the_published_count_is_num_activators_capped_by_replicas() {
    let f = fleet(1, 5);
    assert_eq!(f.published(), 3, "ceil(211 / 100) = 3 with no pod ready");
    let mut g = fleet(1, 2);
    ready(&mut g, &[0]);
    assert_eq!(g.published(), 2);
    let mut zero_tbc = ActivatorFleet::new(
        10,
        20,
        FleetSizing {
            total_value: 10.0,
            target_burst_capacity: 0.0,
            activator_capacity: 100.0,
        },
    );
    ready(&mut zero_tbc, &(0..40).collect::<Vec<_>>());
    assert_eq!(zero_tbc.published(), 2, "TBC 0 always asks for 2");
}

#[test]
fn slices_with_remainder_and_shared_pods_when_fewer_pods_than_activators() {
    let mut f = fleet(1, 3);
    ready(&mut f, &[10, 11, 12, 13, 14, 15, 16]);
    assert_eq!(f.assigned(0), &[10, 11, 16]);
    assert_eq!(f.assigned(1), &[12, 13]);
    assert_eq!(f.assigned(2), &[14, 15]);
    let mut g = fleet(1, 3);
    ready(&mut g, &[4, 9]);
    assert_eq!(
        (g.assigned(0), g.assigned(1), g.assigned(2)),
        (&[4][..], &[9][..], &[4][..])
    );
}

#[test]
fn an_activator_without_a_pod_queues_until_its_slice_gets_one() {
    let mut f = fleet(1, 3);
    let mut r = rng();
    // No pod: every member queues what it gets.
    for n in 0..3 {
        let a = f.route();
        assert_eq!(a, n as usize);
        f.push(a, id(n));
        assert_eq!(f.pick(a, &mut r), None);
    }
    assert_eq!(f.queued(), 3);
    // One pod: with fewer pods than activators every member shares pod 0.
    ready(&mut f, &[0]);
    assert_eq!(f.pick(0, &mut r), Some(0));
    f.dispatched(0, 0);
    // Member 0 holds pod 0's only slot of member 0; member 1 has its own tracker (cc per activator).
    assert_eq!(f.pick(0, &mut r), None);
    assert_eq!(f.pick(1, &mut r), Some(0));
    f.released(0, 0);
    assert_eq!(f.pick(0, &mut r), Some(0));
}

#[test]
fn an_unpublished_member_drains_its_queue_over_every_pod() {
    let mut f = fleet(1, 3);
    f.push(2, id(7));
    // 6 ready pods at cc 1 ask for ceil((6 + 211) / 100) = 3 activators: all 3 published.
    ready(&mut f, &(0..6).collect::<Vec<_>>());
    assert_eq!(f.assigned(2), &[4, 5]);
    // Shrink to 2 published (replicas stay 3): sizing with TBC 0.
    f.sizing.target_burst_capacity = 0.0;
    assert!(f.set_ready(6));
    assert_eq!(f.published(), 2);
    assert_eq!(f.assigned(2), &[0, 1, 2, 3, 4, 5], "index −1: every pod");
    assert_eq!(f.assigned(0), &[0, 1, 2]);
    assert_eq!(f.queued_at(2), 1);
}

#[test]
fn dispatch_next_takes_the_head_and_a_free_pod_or_changes_nothing() {
    let mut f = fleet(1, 1);
    let mut r = rng();
    assert_eq!(f.dispatch_next(0, &mut r), None, "empty queue");
    for n in 0..3 {
        let a = f.route();
        f.push(a, id(n));
    }
    assert_eq!(f.dispatch_next(0, &mut r), None, "no pod yet");
    assert_eq!(f.queued(), 3);
    ready(&mut f, &[4, 9]);
    assert_eq!(f.dispatch_next(0, &mut r), Some((id(0), 4)));
    assert_eq!(f.dispatch_next(0, &mut r), Some((id(1), 9)));
    assert_eq!(f.dispatch_next(0, &mut r), None, "both pods full at cc 1");
    assert_eq!((f.queued(), f.in_flight(0, 4)), (1, 1));
    f.released(0, 4);
    assert_eq!(f.dispatch_next(0, &mut r), Some((id(2), 4)));
    assert_eq!(f.queued(), 0);
}

#[test]
fn a_removed_pod_is_no_longer_picked_and_a_late_release_does_not_free_it() {
    let mut f = fleet(2, 1);
    let mut r = rng();
    ready(&mut f, &[0, 1]);
    assert_eq!(f.pick(0, &mut r), Some(0));
    f.dispatched(0, 0);
    f.pod_removed(0);
    f.released(0, 0);
    assert_eq!(f.pick(0, &mut r), Some(1));
    assert_eq!(f.in_flight(0, 0), 0);
}

#[test]
fn reports_add_up_and_each_member_pokes_once() {
    let mut f = fleet(1, 3);
    let now = SimTime::from_secs(1);
    assert!(f.request_in(0, now).is_some());
    assert!(f.request_in(0, now).is_none());
    assert!(
        f.request_in(1, now).is_some(),
        "a second activator pokes too"
    );
    assert!(f.stats(1).has_entry() && !f.stats(2).has_entry());
    let sum = f.report(SimTime::from_secs(2)).expect("two entries");
    // Member 0 had 2 in flight for the second and member 1 had 1, minus each member's "1" already sent.
    assert_eq!(sum.average_concurrency, 1.0);
    assert_eq!(sum.request_count, 1.0);
    assert_eq!(fleet(1, 2).report(now), None);
}

#[test]
fn probe_optimisation_routes_at_the_first_probe_tick_but_never_after_kubelet_ready() {
    let s = ActivatorSettings::default();
    let at =
        |c: u64, k: u64| activator_routes_at(SimTime::from_millis(c), SimTime::from_millis(k), &s);
    assert_eq!(at(10_050, 15_000), SimTime::from_millis(10_200));
    assert_eq!(at(10_200, 15_000), SimTime::from_millis(10_200));
    assert_eq!(at(10_150, 10_170), SimTime::from_millis(10_170));
    assert_eq!(at(9_000, 9_000), SimTime::from_millis(9_000));
    let off = ActivatorSettings {
        probe_optimisation: false,
        ..ActivatorSettings::default()
    };
    assert_eq!(
        activator_routes_at(SimTime::from_secs(1), SimTime::from_secs(5), &off),
        SimTime::from_secs(5)
    );
}

proptest! {
    /// Whatever the sequence of pods appearing and leaving and of ready counts, each member's slice is
    /// what the golden-tested assignment gives for the routable pods, and a member's pick is a pod of
    /// its slice with a free slot.
    #[test]
    fn slices_follow_the_assignment_rule(
        cc in 0u32..4, replicas in 1u32..6,
        ops in proptest::collection::vec((0u8..3, 0u32..12), 1..60),
    ) {
        let mut f = fleet(cc, replicas);
        let mut r = rng();
        for (op, x) in ops {
            match op {
                0 => f.pod_routable(x),
                1 => f.pod_removed(x),
                _ => {
                    let a = (x as usize) % f.replicas();
                    if let Some(p) = f.pick(a, &mut r) {
                        prop_assert!(f.assigned(a).contains(&p));
                        prop_assert!(cc == 0 || f.in_flight(a, p) < cc);
                        f.dispatched(a, p);
                    }
                }
            }
            f.set_ready(f.routable().len() as u32);
            let pods = f.routable().to_vec();
            for a in 0..f.replicas() {
                let index = (a < f.published()).then_some(a);
                let mut want: Vec<u32> = assigned_pods(cc, pods.len(), index, f.published())
                    .into_iter().map(|i| pods[i]).collect();
                want.sort_unstable();
                prop_assert_eq!(f.assigned(a), &want[..]);
            }
        }
    }
}
