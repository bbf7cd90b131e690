//! The event queue: events ordered by `(time, priority, sequence)`.
//!
//! Four mechanisms keep the per-event cost low and flat in the number of pending events:
//!
//! * **Same-instant lane.** An event scheduled at the current clock whose priority is not lower than the
//!   last one in the lane is appended to a FIFO (a ring buffer, `queue::ring`) instead of the heap. Every lane entry has the
//!   current time, and appends only happen when the key does not decrease, so the lane is always sorted and
//!   popping is one comparison against the heap top. Zero-delay hops (ingress, client) cost no heap work.
//! * **Ordered lanes** ([`EventQueue::schedule_uncancellable_ordered`]): a few more sorted FIFOs for streams of
//!   events whose times do not decrease, such as an open-loop arrival process or a hop after a constant
//!   delay (`now + d` never decreases while the clock runs forward). An entry is appended when its key is not
//!   below the lane's last; otherwise it goes to the heap, so the lanes are a fast path that never changes
//!   the order. With a constant request-path delay, a request's arrival and hops skip the heap (and the
//!   simulation often takes the hops without an event at all: see `sim` and [`EventQueue::advance_to`]).
//! * **4-ary min-heap** for the rest: half the depth of a binary heap, and its four children share a cache
//!   line or two, so sifting touches fewer lines.
//! * **A second heap for timers** ([`EventQueue::schedule_timer`]): timeouts that are usually cancelled
//!   (one per pod queue, re-armed as the queue drains) live apart from the events that always run, so
//!   their cancelled entries never deepen the heap every other event goes through. `pop` takes the
//!   smallest of the lane's front, the heap's top and the *side minimum*; keys are unique, so the order is
//!   exactly that of one queue. The side minimum is the smallest key among the timer heap's top and the
//!   ordered lanes' fronts, cached in a field (`u128::MAX` when all are empty) and refreshed only when one
//!   of those fronts changes, so the choice costs one extra register comparison rather than a look at
//!   every container. A refresh with at most one of them in use (the usual case) takes that one's front
//!   without comparing.
//! * **Generation-tagged cancellation.** Every cancellable entry owns a slot in a slab holding the sequence
//!   number of its current occupant (events scheduled with [`EventQueue::schedule_uncancellable`], most of
//!   a run's, own none and skip the slab on the way in and out). Cancelling writes a tombstone into the
//!   slot (O(1), no hashing); a popped entry whose slot holds a different sequence is dead and skipped. Slots are recycled through a free list. When dead
//!   entries outnumber live ones the heap is rebuilt without them (O(n), amortised O(1) per cancel), so a
//!   run that schedules and cancels a 300 s timeout per request keeps the queue at most twice its live size
//!   instead of holding every dead timeout until its time comes.
//!
//! Ordering contract: events pop by increasing time, then increasing priority (0 first), then scheduling
//! order. [`EventQueue::schedule`] uses priority [`EventQueue::DEFAULT_PRIORITY`] (1), so a simulation that
//! only uses `schedule` sees exactly the `(time, sequence)` order of a plain FIFO-tie heap. Sequence
//! numbers are 56 bits and never reused within a run (2^56 events is far beyond any run).

use crate::time::SimTime;
use ring::Ring;

/// Handle of a scheduled event, usable to cancel it. Never confused with a later event in the same slot:
/// it carries the event's unique sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    seq: u64,
    slot: u32,
}

/// What [`EventQueue::pop_if`] found at the front of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next<E> {
    /// The next event, removed from the queue (the clock is now its time).
    Event(SimTime, E),
    /// The next event's time, which the caller declined; the event stays queued.
    Declined(SimTime),
    /// No live event is pending.
    Empty,
}

/// Scheduling errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("event scheduled at {at} but the clock is already at {now}")]
    InThePast { at: SimTime, now: SimTime },
}

const SEQ_BITS: u32 = 56;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
/// Slab value of a slot nobody occupies (never equal to a real sequence number, which fits 56 bits).
const VACANT: u64 = u64::MAX;
/// Heap arity.
const D: usize = 4;
/// `Entry::slot` of an event that cannot be cancelled (it owns no slab slot and is always live).
const NO_SLOT: u32 = u32::MAX;
/// Number of ordered lanes (see [`EventQueue::schedule_uncancellable_ordered`]).
pub const ORDERED_LANES: usize = 3;
/// Below this many dead entries the queue never compacts (a rebuild of a tiny heap is not worth it).
const COMPACT_MIN_DEAD: usize = 1024;

#[derive(Clone, Copy)]
struct Entry<E> {
    /// `time << 64 | priority << 56 | seq`: compares as `(time, priority, seq)` in one branch-free
    /// integer comparison (the heap's inner loop is mostly key comparisons).
    key: u128,
    slot: u32,
    event: E,
}

impl<E> Entry<E> {
    #[inline]
    fn key(&self) -> u128 {
        self.key
    }
    #[inline]
    fn time(&self) -> SimTime {
        SimTime((self.key >> 64) as u64)
    }
    #[inline]
    fn priority(&self) -> u64 {
        (self.key as u64) >> SEQ_BITS
    }
    #[inline]
    fn seq(&self) -> u64 {
        (self.key as u64) & SEQ_MASK
    }
}

/// A priority queue of events of type `E`.
///
/// ```
/// use podscale::engine::EventQueue;
/// use podscale::time::SimTime;
/// let mut q = EventQueue::new();
/// q.schedule(SimTime::from_secs(2), "late").unwrap();
/// let first = q.schedule(SimTime::from_secs(1), "cancelled").unwrap();
/// q.schedule(SimTime::from_secs(1), "early").unwrap();
/// q.schedule_with_priority(SimTime::from_secs(1), 0, "tick").unwrap();
/// q.cancel(first);
/// assert_eq!(q.pop().map(|(_, e)| e), Some("tick"));
/// assert_eq!(q.pop().map(|(_, e)| e), Some("early"));
/// assert_eq!(q.pop().map(|(_, e)| e), Some("late"));
/// assert!(q.pop().is_none());
/// ```
pub struct EventQueue<E> {
    heap: Vec<Entry<E>>,
    /// Entries scheduled with [`EventQueue::schedule_timer`], a heap of its own.
    timers: Vec<Entry<E>>,
    /// Sorted FIFOs of uncancellable entries (see [`EventQueue::schedule_uncancellable_ordered`]).
    ordered: [Ring<Entry<E>>; ORDERED_LANES],
    /// Front keys of the timer heap (index 0) and of the ordered lanes (1..), `u128::MAX` when empty.
    side_fronts: [u128; 1 + ORDERED_LANES],
    /// Bit `k` set when `side_fronts[k]` holds an entry: with at most one side container in use (the
    /// usual case: the arrival lane, and a timer while a pod queue waits) the side minimum is that
    /// container's front, with no comparisons.
    side_used: u8,
    /// The smallest of `side_fronts` and which container holds it; kept in step by [`Self::pick_side_min`].
    side_min: u128,
    side_source: Source,
    /// Entries at the current time, sorted (see the module docs).
    lane: Ring<Entry<E>>,
    /// Sequence number of each slot's live occupant, or [`VACANT`].
    slots: Vec<u64>,
    free: Vec<u32>,
    live: usize,
    dead: usize,
    compact_min_dead: usize,
    next_seq: u64,
    now: SimTime,
    popped: u64,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> EventQueue<E> {
    /// Priority of events scheduled with [`EventQueue::schedule`].
    pub const DEFAULT_PRIORITY: u8 = 1;

    pub fn new() -> Self {
        EventQueue {
            heap: Vec::with_capacity(1024),
            timers: Vec::with_capacity(64),
            ordered: std::array::from_fn(|_| Ring::new()),
            side_fronts: [u128::MAX; 1 + ORDERED_LANES],
            side_used: 0,
            side_min: u128::MAX,
            side_source: Source::Timer,
            lane: Ring::new(),
            slots: Vec::with_capacity(1024),
            free: Vec::with_capacity(1024),
            live: 0,
            dead: 0,
            compact_min_dead: COMPACT_MIN_DEAD,
            next_seq: 0,
            now: SimTime::ZERO,
            popped: 0,
        }
    }

    /// The time of the last popped event (the simulation clock).
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Moves the clock to `time` for a caller that handles, without queueing it, an event due at `time`
    /// that would have been the next one popped. Returns `false`, changing nothing, when `time` is before
    /// the clock or a queued event is due before `time`. Events due exactly at `time` stay queued: the
    /// caller must know they would have come after the event it handles (scheduled after it, with the
    /// same or a later priority class).
    ///
    /// Cancelled entries not yet dropped count as due (see [`EventQueue::nothing_queued_before`]), so
    /// this may refuse where [`EventQueue::peek_time`] would allow; it never allows wrongly.
    #[inline]
    pub fn advance_to(&mut self, time: SimTime) -> bool {
        if time < self.now || !self.nothing_queued_before(time) {
            return false;
        }
        self.now = time;
        true
    }

    /// Whether every queued entry, cancelled ones included, is due at or after `time`: a cheap,
    /// read-only lower bound on [`EventQueue::peek_time`] (which first drops cancelled fronts).
    #[inline(always)]
    pub fn nothing_queued_before(&self, time: SimTime) -> bool {
        let lane = self.lane.front().map_or(u128::MAX, Entry::key);
        let heap = self.heap.first().map_or(u128::MAX, Entry::key);
        let earliest = lane.min(heap).min(self.side_min);
        earliest == u128::MAX || (earliest >> 64) as u64 >= time.0
    }

    /// The event at the front of the same-instant lane or the main heap, whichever is earlier, without
    /// removing it: a cheap guess at the next event for cache hints (events in the timer heap or the
    /// ordered lanes, and cancelled entries, are not looked at, so it may not be the next one popped).
    #[inline(always)]
    pub fn likely_next(&self) -> Option<&E> {
        match (self.lane.front(), self.heap.first()) {
            (Some(l), Some(h)) => Some(if l.key < h.key { &l.event } else { &h.event }),
            (Some(l), None) => Some(&l.event),
            (None, h) => h.map(|h| &h.event),
        }
    }

    /// Number of events delivered by [`EventQueue::pop`] so far.
    pub fn events_processed(&self) -> u64 {
        self.popped
    }

    /// Schedules `event` at `time` with the default priority (1); `time` must not be earlier than the clock.
    #[inline]
    pub fn schedule(&mut self, time: SimTime, event: E) -> Result<EventId, ScheduleError> {
        self.schedule_with_priority(time, Self::DEFAULT_PRIORITY, event)
    }

    /// Schedules `event` at `time` exactly like [`EventQueue::schedule`] (same priority, same order) for an
    /// event that will never be cancelled: it returns no [`EventId`] and takes no cancellation slot, which
    /// saves the slab's bookkeeping on the way in and out (most events of a run are of this kind).
    #[inline(always)]
    pub fn schedule_uncancellable(&mut self, time: SimTime, event: E) -> Result<(), ScheduleError> {
        self.schedule_uncancellable_with_priority(time, Self::DEFAULT_PRIORITY, event)
    }

    /// [`EventQueue::schedule_with_priority`] for an event that will never be cancelled (see
    /// [`EventQueue::schedule_uncancellable`]). Always inlined, with what it calls: most of a run's
    /// events come through here, and as a call (which the compiler chose once the queue grew) it cost four
    /// times its inlined instructions.
    #[inline(always)]
    pub fn schedule_uncancellable_with_priority(
        &mut self,
        time: SimTime,
        priority: u8,
        event: E,
    ) -> Result<(), ScheduleError> {
        let entry = self.bare_entry(time, priority, event)?;
        self.insert(entry);
        Ok(())
    }

    /// Schedules `event` at `time` like [`EventQueue::schedule`] (same priority, same order), but keeps it
    /// in the timer heap: for events that are mostly cancelled before their time (timeouts), so that
    /// their dead entries stay out of the heap the other events go through.
    pub fn schedule_timer(&mut self, time: SimTime, event: E) -> Result<EventId, ScheduleError> {
        let (entry, id) = self.entry(time, Self::DEFAULT_PRIORITY, event)?;
        push_heap(&mut self.timers, entry);
        self.timer_top_changed();
        Ok(id)
    }

    /// Schedules `event` at `time` exactly like [`EventQueue::schedule_uncancellable`] (same priority, same
    /// order), through ordered lane `lane` (< [`ORDERED_LANES`]; any other value means no lane): for one stream of events whose times
    /// mostly do not decrease, such as the next arrival of a traffic source or a hop after a constant
    /// delay. The entry is appended to the lane when its key is not below the lane's last, which costs no
    /// heap work on the way in or out; otherwise (or at the current instant) it goes where `schedule`
    /// would put it. Either way the pop order is the same.
    #[inline(always)]
    pub fn schedule_uncancellable_ordered(
        &mut self,
        time: SimTime,
        lane: usize,
        event: E,
    ) -> Result<(), ScheduleError> {
        let entry = self.bare_entry(time, Self::DEFAULT_PRIORITY, event)?;
        // A lane past the last one is no lane: the entry takes the ordinary path.
        if entry.time() == self.now || lane >= ORDERED_LANES {
            self.insert(entry);
            return Ok(());
        }
        match self.ordered[lane].back().map(Entry::key) {
            Some(back) if back > entry.key() => self.insert(entry),
            Some(_) => self.ordered[lane].push_back(entry),
            None => {
                self.set_side_front(1 + lane, entry.key());
                if entry.key() < self.side_min {
                    self.side_min = entry.key();
                    self.side_source = Source::Ordered(lane as u8);
                }
                self.ordered[lane].push_back(entry);
            }
        }
        Ok(())
    }

    /// Schedules `event` at `time`; among events at the same time, lower `priority` pops first, and equal
    /// priorities pop in scheduling order.
    #[inline]
    pub fn schedule_with_priority(
        &mut self,
        time: SimTime,
        priority: u8,
        event: E,
    ) -> Result<EventId, ScheduleError> {
        let (entry, id) = self.entry(time, priority, event)?;
        self.insert(entry);
        Ok(id)
    }

    /// Puts `entry` in the lane (same instant, key not below the lane's last) or the heap.
    #[inline(always)]
    fn insert(&mut self, entry: Entry<E>) {
        let lane_ok = entry.time() == self.now
            && self
                .lane
                .back()
                .is_none_or(|b| b.priority() <= entry.priority());
        if lane_ok {
            self.lane.push_back(entry);
        } else {
            push_heap(&mut self.heap, entry);
        }
    }

    /// A new entry without a cancellation slot (its sequence number taken).
    #[inline(always)]
    fn bare_entry(
        &mut self,
        time: SimTime,
        priority: u8,
        event: E,
    ) -> Result<Entry<E>, ScheduleError> {
        if time < self.now {
            return Err(ScheduleError::InThePast {
                at: time,
                now: self.now,
            });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.live += 1;
        Ok(Entry {
            key: (u128::from(time.as_nanos()) << 64)
                | u128::from((u64::from(priority) << SEQ_BITS) | seq),
            slot: NO_SLOT,
            event,
        })
    }

    /// A new entry (its sequence number and slot taken) for an event at `time`.
    #[inline]
    fn entry(
        &mut self,
        time: SimTime,
        priority: u8,
        event: E,
    ) -> Result<(Entry<E>, EventId), ScheduleError> {
        let mut entry = self.bare_entry(time, priority, event)?;
        let seq = entry.seq();
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = seq;
                s
            }
            None => {
                // Slots are u32 (NO_SLOT excluded): more than 4 billion cancellable events pending at once
                // would exhaust memory first.
                let s = self.slots.len() as u32;
                self.slots.push(seq);
                s
            }
        };
        entry.slot = slot;
        Ok((entry, EventId { seq, slot }))
    }

    /// Cancels a pending event. Cancelling an event that already ran or was cancelled is a no-op.
    ///
    /// A cancelled entry at the top of the timer heap (a pod queue's timer when the queue empties, the
    /// usual case with few pods) leaves at once, so `dead` stays zero and the pops that follow skip
    /// the dead-entry checks.
    pub fn cancel(&mut self, id: EventId) {
        if let Some(s) = self.slots.get_mut(id.slot as usize) {
            if *s == id.seq {
                *s = VACANT;
                self.free.push(id.slot);
                self.live -= 1;
                self.dead += 1;
                let is_id = |e: &Entry<E>| e.slot == id.slot && e.seq() == id.seq;
                if self.timers.first().is_some_and(is_id) {
                    self.drop_dead_timer_tops();
                } else if self.dead >= self.compact_min_dead && self.dead > self.live {
                    self.compact();
                }
            }
        }
    }

    /// Pops dead entries off the timer heap's top, and refreshes the side minimum if any left.
    fn drop_dead_timer_tops(&mut self) {
        let mut changed = false;
        while let Some(h) = self.timers.first() {
            if self.is_live(h) {
                break;
            }
            pop_heap(&mut self.timers);
            self.dead -= 1;
            changed = true;
        }
        if changed {
            self.timer_top_changed();
        }
    }

    /// Time of the next live event without removing it.
    #[inline]
    pub fn peek_time(&mut self) -> Option<SimTime> {
        let (key, _) = self.front();
        (key != u128::MAX).then_some(SimTime((key >> 64) as u64))
    }

    /// Removes and returns the next live event, advancing the clock to its time.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let (_, source) = self.front();
        self.take(source)
    }

    /// Removes the next live event if `take(its time)` is true; otherwise leaves it queued. Same as
    /// [`EventQueue::peek_time`] followed by [`EventQueue::pop`], with one look at the fronts instead of two
    /// (the simulation loop does this once per event).
    #[inline]
    pub fn pop_if(&mut self, take: impl FnOnce(SimTime) -> bool) -> Next<E> {
        let (key, source) = self.front();
        if key == u128::MAX {
            return Next::Empty;
        }
        let time = SimTime((key >> 64) as u64);
        if !take(time) {
            return Next::Declined(time);
        }
        match self.take(source) {
            Some((t, e)) => Next::Event(t, e),
            None => Next::Empty,
        }
    }

    /// The smallest live key (`u128::MAX` if none) and which container holds it. Keys are unique, so
    /// exactly one container holds the smallest; a real key never reaches `u128::MAX` since times stay
    /// below `u64::MAX`.
    #[inline]
    fn front(&mut self) -> (u128, Source) {
        self.drop_dead_fronts();
        let lane = self.lane.front().map_or(u128::MAX, Entry::key);
        let heap = self.heap.first().map_or(u128::MAX, Entry::key);
        let (key, source) = if lane < heap {
            (lane, Source::Lane)
        } else {
            (heap, Source::Heap)
        };
        if self.side_min < key {
            (self.side_min, self.side_source)
        } else {
            (key, source)
        }
    }

    /// Removes the front entry of `source` (chosen by [`Self::front`]) and advances the clock to it.
    #[inline]
    fn take(&mut self, source: Source) -> Option<(SimTime, E)> {
        let entry = match source {
            Source::Lane => self.lane.pop_front()?,
            Source::Heap => pop_heap_inline(&mut self.heap)?,
            Source::Timer => {
                let e = pop_heap(&mut self.timers)?;
                self.timer_top_changed();
                e
            }
            Source::Ordered(i) => {
                let lane = &mut self.ordered[i as usize];
                let e = lane.pop_front()?;
                let front = lane.front().map_or(u128::MAX, Entry::key);
                self.set_side_front(1 + i as usize, front);
                self.pick_side_min();
                e
            }
        };
        if entry.slot != NO_SLOT {
            self.slots[entry.slot as usize] = VACANT;
            self.free.push(entry.slot);
        }
        self.live -= 1;
        let time = entry.time();
        self.now = time;
        self.popped += 1;
        Some((time, entry.event))
    }

    /// Refreshes the timer heap's front key and the side minimum after the timer heap's top changed.
    #[inline]
    fn timer_top_changed(&mut self) {
        let front = self.timers.first().map_or(u128::MAX, Entry::key);
        self.set_side_front(0, front);
        self.pick_side_min();
    }

    /// Recomputes every side front and the side minimum (after a compaction).
    fn sync_side_min(&mut self) {
        for i in 0..ORDERED_LANES {
            let front = self.ordered[i].front().map_or(u128::MAX, Entry::key);
            self.set_side_front(1 + i, front);
        }
        self.timer_top_changed();
    }

    /// Records side container `k`'s front key (`u128::MAX`: empty).
    #[inline(always)]
    fn set_side_front(&mut self, k: usize, key: u128) {
        self.side_fronts[k] = key;
        if key == u128::MAX {
            self.side_used &= !(1 << k);
        } else {
            self.side_used |= 1 << k;
        }
    }

    /// The side minimum from the cached front keys.
    #[inline]
    fn pick_side_min(&mut self) {
        let used = self.side_used;
        if used & used.wrapping_sub(1) == 0 {
            // None or one in use: its front (or nothing).
            let (key, source) = match used {
                0 => (u128::MAX, Source::Timer),
                1 => (self.side_fronts[0], Source::Timer),
                _ => {
                    let k = used.trailing_zeros() as usize;
                    (self.side_fronts[k], Source::Ordered(k as u8 - 1))
                }
            };
            self.side_min = key;
            self.side_source = source;
            return;
        }
        let mut key = self.side_fronts[0];
        let mut source = Source::Timer;
        for i in 0..ORDERED_LANES {
            if self.side_fronts[1 + i] < key {
                key = self.side_fronts[1 + i];
                source = Source::Ordered(i as u8);
            }
        }
        self.side_min = key;
        self.side_source = source;
    }

    /// Number of live (scheduled, not yet popped, not cancelled) events.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    #[inline]
    fn is_live(&self, e: &Entry<E>) -> bool {
        e.slot == NO_SLOT || self.slots[e.slot as usize] == e.seq()
    }

    #[inline]
    fn drop_dead_fronts(&mut self) {
        if self.dead == 0 {
            return;
        }
        self.drop_dead_fronts_slow();
    }

    fn drop_dead_fronts_slow(&mut self) {
        while let Some(l) = self.lane.front() {
            if self.is_live(l) {
                break;
            }
            self.lane.pop_front();
            self.dead -= 1;
        }
        while let Some(h) = self.heap.first() {
            if self.is_live(h) {
                break;
            }
            pop_heap(&mut self.heap);
            self.dead -= 1;
        }
        // With many services some cancelled wake-up nearly always waits deep in the heap, so this runs
        // on most pops: the side minimum is refreshed only when the timer heap's top actually changed.
        self.drop_dead_timer_tops();
    }

    /// Drops every dead entry and restores the heap order bottom-up.
    fn compact(&mut self) {
        let slots = &self.slots;
        let live = |e: &Entry<E>| e.slot == NO_SLOT || slots[e.slot as usize] == e.seq();
        self.lane.retain(live);
        self.heap.retain(live);
        self.timers.retain(live);
        self.dead = 0;
        heapify(&mut self.heap);
        heapify(&mut self.timers);
        self.sync_side_min();
    }

    /// Entries physically held (live and dead), for tests of the compaction bound.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.heap.len()
            + self.lane.len()
            + self.timers.len()
            + self.ordered.iter().map(Ring::len).sum::<usize>()
    }
}

/// Which container holds the front entry.
#[derive(Clone, Copy)]
enum Source {
    Lane,
    Heap,
    Timer,
    /// An ordered lane (always live: only uncancellable entries go there).
    Ordered(u8),
}

// The heap's functions stay in this file, with the queue that calls them: moved to a submodule of their
// own, they were no longer inlined into the event loop (another codegen unit) and the limit bench's
// fixed-replicas ratio fell from 0.79-0.80 to 0.73-0.74 (session 9, measured alternating).

/// Restores the heap order bottom-up (O(n)).
fn heapify<E: Copy>(h: &mut [Entry<E>]) {
    let n = h.len();
    if n > 1 {
        for i in (0..=(n - 2) / D).rev() {
            sift_down(h, i);
        }
    }
}

fn pop_heap<E: Copy>(h: &mut Vec<Entry<E>>) -> Option<Entry<E>> {
    let last = h.pop()?;
    if h.is_empty() {
        return Some(last);
    }
    let top = std::mem::replace(&mut h[0], last);
    sift_down(h, 0);
    Some(top)
}

/// [`pop_heap`] with the sift inline, for the pop of the main heap in [`EventQueue::pop`] (most events'
/// way out).
#[inline(always)]
fn pop_heap_inline<E: Copy>(h: &mut Vec<Entry<E>>) -> Option<Entry<E>> {
    let last = h.pop()?;
    if h.is_empty() {
        return Some(last);
    }
    let top = std::mem::replace(&mut h[0], last);
    sift_down_inline(h, 0);
    Some(top)
}

/// Adds `entry` to heap `h`. The first comparison is inline: an entry that does not go above its
/// parent (most of them) costs no call.
#[inline(always)]
fn push_heap<E: Copy>(h: &mut Vec<Entry<E>>, entry: Entry<E>) {
    let i = h.len();
    h.push(entry);
    if i > 0 && entry.key() < h[(i - 1) / D].key() {
        sift_up(h, i);
    }
}

fn sift_up<E: Copy>(h: &mut [Entry<E>], mut i: usize) {
    // A hole moves up instead of the entry being swapped level by level: one copy per level, not three.
    let moving = h[i];
    while i > 0 {
        let parent = (i - 1) / D;
        if moving.key() < h[parent].key() {
            h[i] = h[parent];
            i = parent;
        } else {
            break;
        }
    }
    h[i] = moving;
}

fn sift_down<E: Copy>(h: &mut [Entry<E>], i: usize) {
    sift_down_inline(h, i);
}

#[inline(always)]
fn sift_down_inline<E: Copy>(h: &mut [Entry<E>], mut i: usize) {
    let n = h.len();
    let moving = h[i];
    let key = moving.key();
    // Plain index code: the iterator-adapter form of this loop did not optimise to the same code and
    // cost a tenth of a run. The entry moves down as a hole (one copy per level, not a swap).
    loop {
        let first = i * D + 1;
        let (best, best_key) = if first + D <= n {
            // All four children: the smallest by a two-round tournament, whose picks compile to
            // conditional moves (a scan's branch on each child mispredicts about half the time).
            let c = &h[first..first + D];
            let (a, ka) = min_of(0, c[0].key(), 1, c[1].key());
            let (b, kb) = min_of(2, c[2].key(), 3, c[3].key());
            let (k, kk) = min_of(a, ka, b, kb);
            (first + k, kk)
        } else if first < n {
            // The last parent, with one to three children.
            let mut best = first;
            let mut best_key = h[first].key();
            let mut c = first + 1;
            while c < n {
                let k = h[c].key();
                if k < best_key {
                    best = c;
                    best_key = k;
                }
                c += 1;
            }
            (best, best_key)
        } else {
            break;
        };
        if best_key >= key {
            break;
        }
        h[i] = h[best];
        i = best;
    }
    h[i] = moving;
}

/// The smaller of two keys with its index (the first on a tie, which keys being unique never gives).
#[inline(always)]
fn min_of(a: usize, ka: u128, b: usize, kb: u128) -> (usize, u128) {
    if kb < ka {
        (b, kb)
    } else {
        (a, ka)
    }
}

mod ring;
#[cfg(test)]
mod tests;
