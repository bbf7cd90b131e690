use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[test]
fn ties_are_fifo() {
    let mut q = EventQueue::new();
    for i in 0..100 {
        q.schedule(SimTime::from_secs(5), i).unwrap();
    }
    let order: Vec<i32> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
    assert_eq!(order, (0..100).collect::<Vec<_>>());
}

#[test]
fn scheduling_into_the_past_is_an_error() {
    let mut q = EventQueue::new();
    q.schedule(SimTime::from_secs(5), ()).unwrap();
    q.pop();
    assert_eq!(
        q.schedule(SimTime::from_secs(4), ()),
        Err(ScheduleError::InThePast {
            at: SimTime::from_secs(4),
            now: SimTime::from_secs(5)
        })
    );
    assert!(q.schedule(SimTime::from_secs(5), ()).is_ok());
}

#[test]
fn advancing_the_clock_stops_at_the_next_event() {
    let mut q = EventQueue::new();
    q.schedule(SimTime::from_secs(5), 1).unwrap();
    let cancelled = q.schedule(SimTime::from_secs(2), 0).unwrap();
    assert!(
        !q.advance_to(SimTime::from_secs(3)),
        "an event is due at 2 s"
    );
    q.cancel(cancelled);
    assert!(
        !q.advance_to(SimTime::from_secs(3)),
        "a cancelled entry still queued counts as due"
    );
    assert_eq!(q.peek_time(), Some(SimTime::from_secs(5)));
    assert!(q.advance_to(SimTime::from_secs(3)));
    assert_eq!(q.now(), SimTime::from_secs(3));
    assert!(
        !q.advance_to(SimTime::from_secs(2)),
        "the clock never goes back"
    );
    assert!(q.schedule(SimTime::from_secs(2), 9).is_err());
    assert!(
        q.advance_to(SimTime::from_secs(5)),
        "an event at the time itself stays queued"
    );
    assert!(!q.advance_to(SimTime::from_secs(6)));
    assert_eq!(q.pop(), Some((SimTime::from_secs(5), 1)));
    assert_eq!(q.events_processed(), 1);
}

#[test]
fn cancellation_skips_only_the_cancelled_event() {
    let mut q = EventQueue::new();
    let a = q.schedule(SimTime::from_secs(1), 'a').unwrap();
    q.schedule(SimTime::from_secs(1), 'b').unwrap();
    q.cancel(a);
    assert_eq!(q.len(), 1);
    assert_eq!(q.peek_time(), Some(SimTime::from_secs(1)));
    assert_eq!(q.pop().unwrap().1, 'b');
    assert!(q.pop().is_none());
    assert!(q.is_empty());
    assert_eq!(q.events_processed(), 1);
}

#[test]
fn a_stale_id_never_cancels_the_slot_s_next_occupant() {
    let mut q = EventQueue::new();
    let a = q.schedule(SimTime::from_secs(1), 'a').unwrap();
    assert_eq!(q.pop().unwrap().1, 'a');
    // 'b' reuses a's slot; cancelling the stale id must leave it alone.
    q.schedule(SimTime::from_secs(2), 'b').unwrap();
    q.cancel(a);
    q.cancel(a);
    assert_eq!(q.len(), 1);
    assert_eq!(q.pop().unwrap().1, 'b');
}

#[test]
fn priority_orders_same_instant_events_in_the_lane_and_the_heap() {
    let mut q = EventQueue::new();
    q.schedule(SimTime::from_secs(1), "x").unwrap();
    q.pop();
    // At the current instant: lane for the first two, heap for the priority-0 one scheduled after them.
    q.schedule(SimTime::from_secs(1), "a").unwrap();
    q.schedule_with_priority(SimTime::from_secs(1), 2, "c")
        .unwrap();
    q.schedule_with_priority(SimTime::from_secs(1), 0, "tick")
        .unwrap();
    q.schedule(SimTime::from_secs(1), "b").unwrap();
    let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
    assert_eq!(order, ["tick", "a", "b", "c"]);
}

#[test]
fn cancelled_timeouts_do_not_accumulate() {
    // Each "request" schedules a far timeout and cancels it soon after, as the activator queue does.
    let mut q = EventQueue::new();
    let mut t = 0u64;
    for _ in 0..200_000 {
        let timeout = q.schedule(SimTime(t + 300_000_000_000), 0u32).unwrap();
        q.schedule(SimTime(t + 1_000), 1).unwrap();
        let (now, _) = q.pop().unwrap();
        t = now.as_nanos();
        q.cancel(timeout);
    }
    assert!(q.is_empty());
    assert!(q.held() <= 2 * COMPACT_MIN_DEAD, "held {}", q.held());
}

/// A stream at a constant delay goes through its ordered lane and never into the heap; an entry below
/// the lane's last goes to the heap, and the pop order is the time order either way.
#[test]
fn ordered_lanes_take_monotone_streams_and_keep_the_order() {
    let mut q = EventQueue::new();
    for i in 0..5u64 {
        q.schedule_uncancellable_ordered(SimTime(10 + i), 0, i)
            .unwrap();
        q.schedule_uncancellable_ordered(SimTime(100 + 2 * i), 1, 10 + i)
            .unwrap();
    }
    assert!(q.heap.is_empty(), "monotone streams stay out of the heap");
    assert_eq!(q.ordered[0].len(), 5);
    // Earlier than lane 1's last: it goes to the heap and still pops in time order.
    q.schedule_uncancellable_ordered(SimTime(101), 1, 99)
        .unwrap();
    assert_eq!(q.heap.len(), 1);
    let order: Vec<u64> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
    assert_eq!(order, vec![0, 1, 2, 3, 4, 10, 99, 11, 12, 13, 14]);
}

#[derive(Clone, Debug)]
enum Op {
    /// Schedule at now + delay (ns) with a priority.
    Schedule(u64, u8),
    /// Schedule a timer (the timer heap, default priority) at now + delay (ns).
    Timer(u64),
    /// Cancel the k-th id handed out so far (modulo their count), possibly already popped or cancelled.
    Cancel(usize),
    /// `schedule_uncancellable_with_priority` at this many ns after the clock, with this priority.
    Fixed(u64, u8),
    /// `schedule_uncancellable_ordered` through this lane, at this many ns after the clock.
    Ordered(usize, u64),
    Pop,
    Peek,
    /// `pop_if` taking the next event only if it is at most this many ns after the clock.
    PopIf(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop_oneof![Just(0u64), 0..5u64, 0..1_000u64], 0..3u8)
            .prop_map(|(d, p)| Op::Schedule(d, p)),
        2 => prop_oneof![Just(0u64), 0..5u64, 0..1_000u64].prop_map(Op::Timer),
        3 => (prop_oneof![Just(0u64), 0..5u64, 0..1_000u64], 0..3u8)
            .prop_map(|(d, p)| Op::Fixed(d, p)),
        4 => (0..ORDERED_LANES + 1, prop_oneof![Just(0u64), 0..5u64, 0..1_000u64, 500..600u64])
            .prop_map(|(l, d)| Op::Ordered(l, d)),
        2 => any::<usize>().prop_map(Op::Cancel),
        3 => Just(Op::Pop),
        1 => Just(Op::Peek),
        2 => prop_oneof![Just(0u64), 0..5u64, 0..1_000u64].prop_map(Op::PopIf),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The queue pops exactly what a sorted map keyed by (time, priority, seq) pops, whichever of the
    /// lane, the ordered lanes, the heap and the timer heap holds each event and whether it can be cancelled, and
    /// compaction (forced often by the many cancels) never changes the order.
    #[test]
    fn matches_a_btreemap_model(ops in prop::collection::vec(op(), 1..1_500)) {
        let mut q = EventQueue::new();
        // Compact after a handful of dead entries so that the sequences exercise compaction often.
        q.compact_min_dead = 3;
        let mut model: BTreeMap<(u64, u8, u64), u64> = BTreeMap::new();
        let mut ids: Vec<(EventId, (u64, u8, u64))> = Vec::new();
        let mut now = 0u64;
        let mut seq = 0u64;
        for op in ops {
            match op {
                Op::Schedule(d, p) => {
                    let key = (now + d, p, seq);
                    let id = q.schedule_with_priority(SimTime(now + d), p, seq).unwrap();
                    model.insert(key, seq);
                    ids.push((id, key));
                    seq += 1;
                }
                Op::Timer(d) => {
                    let key = (now + d, EventQueue::<u64>::DEFAULT_PRIORITY, seq);
                    let id = q.schedule_timer(SimTime(now + d), seq).unwrap();
                    model.insert(key, seq);
                    ids.push((id, key));
                    seq += 1;
                }
                Op::Fixed(d, p) => {
                    // Never cancelled, so it has no id for `Cancel` to pick.
                    q.schedule_uncancellable_with_priority(SimTime(now + d), p, seq).unwrap();
                    model.insert((now + d, p, seq), seq);
                    seq += 1;
                }
                Op::Ordered(lane, d) => {
                    q.schedule_uncancellable_ordered(SimTime(now + d), lane, seq).unwrap();
                    model.insert((now + d, EventQueue::<u64>::DEFAULT_PRIORITY, seq), seq);
                    seq += 1;
                }
                Op::Cancel(k) => {
                    if !ids.is_empty() {
                        let (id, key) = ids[k % ids.len()];
                        q.cancel(id);
                        model.remove(&key);
                    }
                }
                Op::Pop => {
                    let expect = model.pop_first();
                    let got = q.pop();
                    prop_assert_eq!(got.map(|(t, e)| (t.as_nanos(), e)), expect.map(|((t, _, _), e)| (t, e)));
                    if let Some((t, _)) = got { now = t.as_nanos(); }
                }
                Op::PopIf(within) => {
                    let limit = now + within;
                    let got = q.pop_if(|t| t.as_nanos() <= limit);
                    let expect = match model.first_key_value() {
                        None => Next::Empty,
                        Some((&(t, _, _), _)) if t > limit => Next::Declined(SimTime(t)),
                        Some(_) => {
                            let ((t, _, _), e) = model.pop_first().unwrap();
                            Next::Event(SimTime(t), e)
                        }
                    };
                    prop_assert_eq!(got, expect);
                    if let Next::Event(t, _) = got { now = t.as_nanos(); }
                }
                Op::Peek => {
                    prop_assert_eq!(q.peek_time().map(|t| t.as_nanos()), model.first_key_value().map(|(k, _)| k.0));
                }
            }
            prop_assert_eq!(q.len(), model.len());
        }
        while let Some((key, e)) = model.pop_first() {
            prop_assert_eq!(q.pop().map(|(t, e)| (t.as_nanos(), e)), Some((key.0, e)));
        }
        prop_assert!(q.pop().is_none());
    }
}
