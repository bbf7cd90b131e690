//! Knative's activator for one revision as the simulation loop runs it: the FIFO queue of requests waiting
//! for capacity, the pods it tracks with free capacity, its load-balancing policy, its reported request
//! statistics and the first-request poke.
//!
//! Model (Knative Serving's throttler and revision breaker, v1.23):
//! * A request that cannot be dispatched at once waits in FIFO order. There is no queue cap: the real
//!   breaker's queue is 10,000 + MaxInt32 deep (and with containerConcurrency 0 there is no breaker), so
//!   nothing is rejected in practice; a request waiting past the revision timeout is answered 504 by the
//!   activator's timeout handler. The queue holds exactly the waiting requests, so memory is bounded by them.
//! * Whenever a tracked pod frees a slot, the oldest waiting request is dispatched, whatever the SKS mode
//!   (Knative's trackers release into the breaker, which wakes a waiter).
//! * Load balancing by containerConcurrency: 0 → random choice of two (fewer activator in-flight wins, ties
//!   to the first draw); 1–3 → first available pod; above 3 → round robin from the last pick.
//!   "First" is the lowest pod slot, which stands in for Knative's order by pod IP.
//! * Timeouts: the revision timeout is one constant and the queue is FIFO, so deadlines are non-decreasing
//!   along it; one timer per queue, armed for the head, replaces a cancellable timer per request.
//!
//! Units: simulated time in ns ([`SimTime`]); pods are slots of the loop's pod table.
//!
//! This is one activator pod's view of one revision; [`crate::request_path::activator_fleet`] runs several
//! of them, each over its own slice of the pods. Simplification: the activator's own proxying latency is
//! zero.

use crate::engine::SimRng;
use crate::ids::RequestId;
use crate::request_path::stats::ActivatorRevisionStats;
use rand::RngExt;
use std::collections::VecDeque;

/// A set of pod slots with O(1) insert and remove and word-at-a-time ordered search, iterating in the same
/// ascending slot order a `BTreeSet<u32>` would.
#[derive(Clone, Debug, Default)]
pub(crate) struct SlotSet {
    words: Vec<u64>,
}

impl SlotSet {
    pub(crate) fn insert(&mut self, slot: u32) {
        let w = (slot / 64) as usize;
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << (slot % 64);
    }

    pub(crate) fn remove(&mut self, slot: u32) {
        if let Some(word) = self.words.get_mut((slot / 64) as usize) {
            *word &= !(1 << (slot % 64));
        }
    }

    #[inline]
    pub(crate) fn contains(&self, slot: u32) -> bool {
        self.words
            .get((slot / 64) as usize)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    /// The smallest slot at or above `from`.
    pub(crate) fn first_from(&self, from: u32) -> Option<u32> {
        let mut w = (from / 64) as usize;
        if w >= self.words.len() {
            return None;
        }
        let mut word = self.words[w] & (u64::MAX << (from % 64));
        loop {
            if word != 0 {
                return Some(w as u32 * 64 + word.trailing_zeros());
            }
            w += 1;
            word = *self.words.get(w)?;
        }
    }

    pub(crate) fn first(&self) -> Option<u32> {
        self.first_from(0)
    }
}

/// One activator's state for one revision.
pub(crate) struct Activator {
    container_concurrency: u32,
    queue: VecDeque<RequestId>,
    timer_armed: bool,
    /// Ready pods whose activator in-flight count is below containerConcurrency (cc > 0 only).
    free: SlotSet,
    last_pick: u32,
    /// The per-revision request statistics reported to the scaler.
    pub(crate) stats: ActivatorRevisionStats,
}

impl Activator {
    pub(crate) fn new(container_concurrency: u32) -> Self {
        Self {
            container_concurrency,
            queue: VecDeque::new(),
            timer_armed: false,
            free: SlotSet::default(),
            last_pick: 0,
            stats: ActivatorRevisionStats::new(),
        }
    }

    /// Requests waiting for capacity.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn push(&mut self, id: RequestId) {
        self.queue.push_back(id);
    }

    pub(crate) fn front(&self) -> Option<RequestId> {
        self.queue.front().copied()
    }

    pub(crate) fn pop_front(&mut self) -> Option<RequestId> {
        self.queue.pop_front()
    }

    /// Arms the queue's timer if it is not; returns whether the caller must schedule it (for the head).
    pub(crate) fn arm_timer(&mut self) -> bool {
        !std::mem::replace(&mut self.timer_armed, true)
    }

    /// The timer fired; the caller re-arms it for the new head, if any, with [`Self::arm_timer`].
    pub(crate) fn timer_fired(&mut self) {
        self.timer_armed = false;
    }

    /// A pod became a routing target with no activator requests on it.
    pub(crate) fn pod_ready(&mut self, pod: u32) {
        if self.container_concurrency > 0 {
            self.free.insert(pod);
        }
    }

    /// A pod stopped being a routing target (terminating).
    pub(crate) fn pod_removed(&mut self, pod: u32) {
        self.free.remove(pod);
    }

    /// The pods this activator routes to changed wholesale (a new slice after the pod list or the
    /// activator count changed): the free set becomes those of `pods` below containerConcurrency.
    pub(crate) fn retarget(&mut self, pods: &[u32], in_flight: impl Fn(u32) -> u32) {
        self.free = SlotSet::default();
        if self.container_concurrency > 0 {
            for &pod in pods {
                if in_flight(pod) < self.container_concurrency {
                    self.free.insert(pod);
                }
            }
        }
    }

    /// Picks a pod per Knative's policy for the containerConcurrency, or `None` when no pod has capacity.
    /// `ready` is the routing targets in slot order and `in_flight(pod)` the activator's requests on a pod.
    #[inline]
    pub(crate) fn pick(
        &mut self,
        ready: &[u32],
        in_flight: impl Fn(u32) -> u32,
        rng: &mut SimRng,
    ) -> Option<u32> {
        let cc = self.container_concurrency;
        if cc == 0 {
            let n = ready.len();
            return match n {
                0 => None,
                1 => Some(ready[0]),
                _ => {
                    let a = rng.random_range(0..n);
                    let mut b = rng.random_range(0..n - 1);
                    if b >= a {
                        b += 1;
                    }
                    let (pa, pb) = (ready[a], ready[b]);
                    Some(if in_flight(pb) < in_flight(pa) {
                        pb
                    } else {
                        pa
                    })
                }
            };
        }
        if cc <= 3 {
            return self.free.first();
        }
        let next = self
            .last_pick
            .checked_add(1)
            .and_then(|from| self.free.first_from(from))
            .or_else(|| self.free.first());
        if let Some(p) = next {
            self.last_pick = p;
        }
        next
    }

    /// The activator sent a request to `pod`, which now has `in_flight` of its requests.
    pub(crate) fn dispatched(&mut self, pod: u32, in_flight: u32) {
        if self.container_concurrency > 0 && in_flight >= self.container_concurrency {
            self.free.remove(pod);
        }
    }

    /// One of its requests left `pod`, which now has `in_flight`; `routable` is whether the pod is still a
    /// routing target.
    pub(crate) fn released(&mut self, pod: u32, in_flight: u32, routable: bool) {
        let cc = self.container_concurrency;
        if cc > 0 && routable && in_flight < cc {
            self.free.insert(pod);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// The bitset answers every ordered query as the BTreeSet it replaced.
        #[test]
        fn slot_set_matches_btreeset(ops in proptest::collection::vec((any::<bool>(), 0u32..300), 0..200),
                                     probes in proptest::collection::vec(0u32..400, 1..20)) {
            let mut set = SlotSet::default();
            let mut reference = BTreeSet::new();
            for (insert, slot) in ops {
                if insert { set.insert(slot); reference.insert(slot); }
                else { set.remove(slot); reference.remove(&slot); }
            }
            prop_assert_eq!(set.first(), reference.first().copied());
            for from in probes {
                prop_assert_eq!(set.first_from(from), reference.range(from..).next().copied());
            }
        }
    }
}
