//! The activator's per-revision throttler (Knative `pkg/activator/net` and the revision breaker of
//! `pkg/queue/breaker.go`), as pure models the simulator can drive.
//!
//! * [`num_activators`]: how many activators the KPA asks the SKS for (`computeNumActivators`).
//! * [`activator_index`], [`assigned_pods`], [`target_capacity`], [`breaker_capacity`],
//!   [`cluster_ip_capacity`]: which ready pods an activator routes to and how many requests its revision
//!   breaker lets through at once. With containerConcurrency > 0 each activator owns a contiguous slice of
//!   the string-sorted pod list plus, for the first `pods % activators` activators, one pod of the tail;
//!   with more activators than pods they share pods (`index % pods`). With containerConcurrency 0 every
//!   activator uses every pod and the breaker is unlimited.
//! * [`RevisionThrottler`]: the tracker list and the load-balancing policies (random choice of two for
//!   containerConcurrency 0, first available for 1..=3, round robin above), each pod limited to
//!   containerConcurrency requests in flight from this activator.
//! * [`RevisionBreaker`]: the revision breaker's queue. Knative builds it with queue depth 10 000 and
//!   maximum concurrency MaxInt32, so it rejects only at 2 147 493 647 requests in the breaker: in practice
//!   never. Requests wait (FIFO) until a slot frees or their own deadline passes. With containerConcurrency
//!   0 the breaker is the "infinite" one: closed while there are no pods, fully open otherwise.
//!
//! Units: counts of requests and pods; capacities as u64 (Knative's MaxInt32 is the "unlimited" value).
//! Randomness is injected through [`LbRandom`] so that the simulator's seeded RNG (or recorded draws)
//! decide the random-choice-of-two policy; nothing here reads a clock.
//!
//! Simplifications: the activator's 200 ms readiness probing of pods (which dests are ready) and the SKS
//! reconciler's choice of *which* activator endpoints are published are outside this module: the caller
//! passes the ready dests and the published activator IPs.

/// Knative's "unlimited" capacity.
pub const MAX_INT32: u64 = i32::MAX as u64;
/// `breakerQueueDepth` of the activator's revision breaker.
pub const REVISION_BREAKER_QUEUE_DEPTH: u64 = 10_000;
/// `revisionMaxConcurrency`: the revision breaker's concurrency ceiling.
pub const REVISION_BREAKER_MAX_CONCURRENCY: u64 = MAX_INT32;
/// The fewest activators the KPA asks for (so that one activator restart does not blackhole traffic).
pub const MIN_ACTIVATORS: i32 = 2;

/// `computeNumActivators`: activators needed to absorb `ready × total_value` plus the burst capacity, at
/// `activator_capacity` each; 2 when target-burst-capacity is 0 (the activator only handles cold starts).
/// A negative (−1, unlimited) burst capacity adds nothing.
pub fn num_activators(ready: i32, total_value: f64, tbc: f64, activator_capacity: f64) -> i32 {
    if tbc == 0.0 {
        return MIN_ACTIVATORS;
    }
    let needed = ((ready as f64 * total_value + tbc.max(0.0)) / activator_capacity).ceil();
    needed.max(MIN_ACTIVATORS as f64) as i32
}

/// This activator's index among the published activator IPs (sorted as strings) and their count; `None`
/// and 0 when this activator is not published, in which case it routes to every pod.
pub fn activator_index(self_ip: &str, published: &[String]) -> (Option<usize>, usize) {
    let mut sorted: Vec<&str> = published.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    match sorted.iter().position(|ip| *ip == self_ip) {
        Some(i) => (Some(i), sorted.len()),
        None => (None, 0),
    }
}

/// Positions (into the string-sorted pod list of length `pods`) that activator `index` of `activators`
/// routes to, in routing order.
pub fn assigned_pods(cc: u32, pods: usize, index: Option<usize>, activators: usize) -> Vec<usize> {
    let Some(index) = index else {
        return (0..pods).collect();
    };
    if cc == 0 || pods <= 1 || activators <= 1 {
        return (0..pods).collect();
    }
    if activators > pods {
        // More activators than pods: each activator takes one pod, and pods are shared.
        return vec![index % pods];
    }
    let size = pods / activators;
    let mut slice: Vec<usize> = (index * size..index * size + size).collect();
    let rem = pods % activators;
    if index < rem {
        slice.push(pods - rem + index);
    }
    slice
}

/// `calculateCapacity` with pod trackers: cc per assigned pod, unlimited (MaxInt32) for cc 0 or overflow.
pub fn target_capacity(cc: u32, assigned: usize, pods: usize) -> u64 {
    let t = if assigned > 0 {
        cc as u64 * assigned as u64
    } else {
        0
    };
    if pods > 0 && (cc == 0 || t > MAX_INT32) {
        MAX_INT32
    } else {
        t
    }
}

/// `calculateCapacity` when the activator routes through the revision's ClusterIP: the revision's total
/// capacity split evenly over the activators (at least 1 when there is any).
pub fn cluster_ip_capacity(cc: u32, backends: usize, activators: usize) -> u64 {
    let mut t = cc as u64 * backends as u64;
    if t > 0 {
        t = (t / activators.max(1) as u64).max(1);
    }
    if backends > 0 && (cc == 0 || t > MAX_INT32) {
        MAX_INT32
    } else {
        t
    }
}

/// The revision breaker's capacity after `updateCapacity(target)`: the target for cc > 0; for cc 0 the
/// infinite breaker reports 1 (open) or 0 (closed).
pub fn breaker_capacity(cc: u32, target: u64) -> u64 {
    if cc > 0 {
        target
    } else {
        u64::from(target > 0)
    }
}

/// Load-balancing policy over the assigned pods, chosen by containerConcurrency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LbPolicy {
    /// cc 0: pick the less loaded of two random pods.
    RandomChoice2,
    /// cc 1..=3: the first pod with a free slot.
    FirstAvailable,
    /// cc > 3: round robin over pods with a free slot.
    RoundRobin,
}

impl LbPolicy {
    pub fn for_container_concurrency(cc: u32) -> Self {
        match cc {
            0 => LbPolicy::RandomChoice2,
            1..=3 => LbPolicy::FirstAvailable,
            _ => LbPolicy::RoundRobin,
        }
    }
}

/// The draws the random-choice-of-two policy consumes (Go's `rand.Intn` and `rand.Int63`).
pub trait LbRandom {
    /// Uniform in `0..n` (n ≥ 1).
    fn intn(&mut self, n: usize) -> usize;
    /// Uniform non-negative 63-bit integer; only its parity is used (a fair coin on ties).
    fn int63(&mut self) -> u64;
}

/// Any `rand` generator as an [`LbRandom`].
pub struct RandLb<R>(pub R);

impl<R: rand::Rng> LbRandom for RandLb<R> {
    fn intn(&mut self, n: usize) -> usize {
        rand::RngExt::random_range(&mut self.0, 0..n)
    }
    fn int63(&mut self) -> u64 {
        self.0.next_u64() >> 1
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Tracker {
    dest: String,
    in_flight: u64,
}

/// One activator's throttler for one revision: pod trackers (sorted by dest string), the slice assigned
/// to this activator, and the load-balancing state.
#[derive(Clone, Debug)]
pub struct RevisionThrottler {
    cc: u32,
    policy: LbPolicy,
    trackers: Vec<Tracker>,
    /// Positions in `trackers`.
    assigned: Vec<usize>,
    index: Option<usize>,
    activators: usize,
    rr_next: usize,
}

impl RevisionThrottler {
    pub fn new(cc: u32) -> Self {
        RevisionThrottler {
            cc,
            policy: LbPolicy::for_container_concurrency(cc),
            trackers: Vec::new(),
            assigned: Vec::new(),
            index: None,
            activators: 0,
            rr_next: 0,
        }
    }

    pub fn policy(&self) -> LbPolicy {
        self.policy
    }

    /// The public endpoints now list `published` activator IPs; this one is `self_ip`.
    pub fn update_activators(&mut self, self_ip: &str, published: &[String]) {
        (self.index, self.activators) = activator_index(self_ip, published);
        self.reassign();
    }

    /// (index, count) as this activator sees them.
    pub fn activator_slot(&self) -> (Option<usize>, usize) {
        (self.index, self.activators)
    }

    /// The ready dests changed. Trackers of dests that remain keep their in-flight counts; the round-robin
    /// position is kept.
    pub fn update_dests(&mut self, dests: &[String]) {
        let mut old = std::mem::take(&mut self.trackers);
        let mut next: Vec<Tracker> = Vec::with_capacity(dests.len());
        for d in dests {
            if next.iter().any(|t| &t.dest == d) {
                continue;
            }
            let tracker = match old.iter().position(|t| &t.dest == d) {
                Some(i) => old.swap_remove(i),
                None => Tracker {
                    dest: d.clone(),
                    in_flight: 0,
                },
            };
            next.push(tracker);
        }
        next.sort_by(|a, b| a.dest.cmp(&b.dest));
        self.trackers = next;
        self.reassign();
    }

    fn reassign(&mut self) {
        self.assigned = assigned_pods(self.cc, self.trackers.len(), self.index, self.activators);
    }

    /// Dests of every tracker, sorted.
    pub fn sorted_dests(&self) -> Vec<&str> {
        self.trackers.iter().map(|t| t.dest.as_str()).collect()
    }

    /// Dests this activator routes to, in routing order.
    pub fn assigned_dests(&self) -> Vec<&str> {
        self.assigned
            .iter()
            .map(|&i| self.trackers[i].dest.as_str())
            .collect()
    }

    /// In-flight requests per assigned dest, in routing order.
    pub fn assigned_in_flight(&self) -> Vec<u64> {
        self.assigned
            .iter()
            .map(|&i| self.trackers[i].in_flight)
            .collect()
    }

    /// `calculateCapacity`.
    pub fn target_capacity(&self) -> u64 {
        target_capacity(self.cc, self.assigned.len(), self.trackers.len())
    }

    /// The revision breaker's capacity after `updateCapacity`.
    pub fn breaker_capacity(&self) -> u64 {
        breaker_capacity(self.cc, self.target_capacity())
    }

    fn has_slot(&self, pos: usize) -> bool {
        self.cc == 0 || self.trackers[pos].in_flight < self.cc as u64
    }

    /// `acquireDest`: the dest of a pod with a free slot (now counted in flight), or None when every
    /// assigned pod is full (the request goes back to waiting).
    pub fn acquire(&mut self, rng: &mut dyn LbRandom) -> Option<String> {
        let n = self.assigned.len();
        if n == 0 {
            return None;
        }
        let pick = match self.policy {
            LbPolicy::FirstAvailable => (0..n).find(|&i| self.has_slot(self.assigned[i]))?,
            LbPolicy::RoundRobin => {
                if self.rr_next >= n {
                    self.rr_next = 0;
                }
                let start = self.rr_next;
                let p = (0..n)
                    .map(|i| (start + i) % n)
                    .find(|&p| self.has_slot(self.assigned[p]))?;
                self.rr_next = p + 1;
                p
            }
            LbPolicy::RandomChoice2 => {
                if n == 1 {
                    0
                } else {
                    let (mut r1, mut r2) = (0, 1);
                    if n > 2 {
                        r1 = rng.intn(n);
                        r2 = rng.intn(n - 1);
                        if r2 >= r1 {
                            r2 += 1;
                        }
                    }
                    let w = |p: usize| self.trackers[self.assigned[p]].in_flight;
                    let (mut pick, alt) = (r1, r2);
                    if w(pick) > w(alt) || (w(pick) == w(alt) && rng.int63().is_multiple_of(2)) {
                        pick = alt;
                    }
                    pick
                }
            }
        };
        let tracker = &mut self.trackers[self.assigned[pick]];
        tracker.in_flight += 1;
        Some(tracker.dest.clone())
    }

    /// A request to `dest` completed; forgotten dests are ignored.
    pub fn release(&mut self, dest: &str) {
        if let Some(t) = self.trackers.iter_mut().find(|t| t.dest == dest) {
            t.in_flight = t.in_flight.saturating_sub(1);
        }
    }
}

/// What the revision breaker did with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// A slot was free: the request runs now.
    Execute,
    /// The request waits in FIFO order for a slot.
    Wait,
    /// `ErrRequestQueueFull` (503): only when the breaker holds queue depth + max concurrency requests.
    Rejected,
}

/// The activator's revision breaker: a capacity (slots), FIFO waiters, and a hard bound on everything it
/// holds. Memory is O(1): waiters are counted, the caller keeps the requests in its own FIFO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionBreaker {
    /// None: the infinite breaker of cc 0 (no queue bound; closed at capacity 0, unlimited otherwise).
    total_slots: Option<u64>,
    max_concurrency: u64,
    capacity: u64,
    executing: u64,
    waiting: u64,
}

impl RevisionBreaker {
    /// A `queue.Breaker` with the given queue depth, maximum concurrency and initial capacity.
    pub fn queue(queue_depth: u64, max_concurrency: u64, capacity: u64) -> Self {
        RevisionBreaker {
            total_slots: Some(queue_depth + max_concurrency),
            max_concurrency,
            capacity: capacity.min(max_concurrency),
            executing: 0,
            waiting: 0,
        }
    }

    /// The activator's breaker for containerConcurrency `cc` (capacity 0 until pods arrive).
    pub fn for_revision(cc: u32) -> Self {
        if cc == 0 {
            RevisionBreaker {
                total_slots: None,
                max_concurrency: MAX_INT32,
                capacity: 0,
                executing: 0,
                waiting: 0,
            }
        } else {
            Self::queue(
                REVISION_BREAKER_QUEUE_DEPTH,
                REVISION_BREAKER_MAX_CONCURRENCY,
                0,
            )
        }
    }

    fn open_slots(&self) -> u64 {
        match self.total_slots {
            None if self.capacity > 0 => u64::MAX,
            _ => self.capacity.saturating_sub(self.executing),
        }
    }

    /// Capacity as `Capacity()` reports it (1 = open for the infinite breaker).
    pub fn capacity(&self) -> u64 {
        match self.total_slots {
            None => u64::from(self.capacity > 0),
            Some(_) => self.capacity,
        }
    }

    pub fn executing(&self) -> u64 {
        self.executing
    }
    pub fn waiting(&self) -> u64 {
        self.waiting
    }
    /// Requests in the breaker (executing + waiting); None for the infinite breaker, which keeps no count.
    pub fn pending(&self) -> Option<u64> {
        self.total_slots.map(|_| self.executing + self.waiting)
    }

    /// A request arrives.
    pub fn admit(&mut self) -> Admission {
        if let Some(total) = self.total_slots {
            if self.executing + self.waiting >= total {
                return Admission::Rejected;
            }
        }
        if self.waiting == 0 && self.open_slots() > 0 {
            self.executing += 1;
            Admission::Execute
        } else {
            self.waiting += 1;
            Admission::Wait
        }
    }

    /// `updateCapacity`: returns how many waiters start now (the oldest first).
    pub fn set_capacity(&mut self, capacity: u64) -> u64 {
        self.capacity = match self.total_slots {
            None => capacity,
            Some(_) => capacity.min(self.max_concurrency),
        };
        self.start_waiters()
    }

    fn start_waiters(&mut self) -> u64 {
        let started = self.waiting.min(self.open_slots());
        self.waiting -= started;
        self.executing += started;
        started
    }

    /// An executing request finished; returns how many waiters start (0 or 1).
    pub fn complete(&mut self) -> u64 {
        self.executing = self.executing.saturating_sub(1);
        self.start_waiters()
    }

    /// A waiting request gave up (its deadline passed: 504 from the activator's timeout handler).
    pub fn abandon_waiting(&mut self) {
        self.waiting = self.waiting.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests;
