//! Pods as the simulator sees them: lifecycle state, the queue-proxy breaker (containerConcurrency slots
//! plus a queue of 10 × containerConcurrency), the queue-proxy's request statistics, and the activator's
//! per-pod in-flight count.

use crate::autoscaler::kpa::RequestStats;
use crate::time::SimTime;
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodState {
    /// Created, not Ready yet (scheduling, image pull, start, model load, readiness probe).
    Starting,
    Ready,
    /// Removed from endpoints, finishing in-flight work within the grace period.
    Terminating,
    Gone,
}

pub struct Pod {
    pub state: PodState,
    pub created: SimTime,
    pub ready_at: Option<SimTime>,
    /// Requests executing in the container.
    pub executing: u32,
    /// Requests waiting in the queue-proxy breaker (request slab indexes; timed-out entries are skipped).
    pub queue: VecDeque<u32>,
    /// Live entries of `queue` (timed-out ones removed lazily).
    pub queued: u32,
    /// Requests the activator has sent to this pod and not yet seen answered.
    pub activator_in_flight: u32,
    /// The queue-proxy's request statistics (requests queued in the breaker count as in flight).
    pub stats: RequestStats,
}

impl Pod {
    pub fn new(now: SimTime, state: PodState) -> Self {
        Pod {
            state,
            created: now,
            ready_at: (state == PodState::Ready).then_some(now),
            executing: 0,
            queue: VecDeque::new(),
            queued: 0,
            activator_in_flight: 0,
            stats: RequestStats::new(now),
        }
    }

    pub fn idle(&self) -> bool {
        self.executing == 0 && self.queued == 0
    }
}
