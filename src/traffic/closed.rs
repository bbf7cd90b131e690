//! Minimal closed-loop driver used until the full traffic subsystem lands: N clients, each sending its
//! next request when the previous answer arrives, after an optional think time.

use crate::engine::SimRng;
use crate::time::{SimDuration, SimTime};

/// `hey -c clients -z (end - start)` with a think time between requests.
#[derive(Clone, Debug)]
pub struct ClosedLoopDriver {
    pub clients: u32,
    pub think_time: SimDuration,
    pub start: SimTime,
    pub end: SimTime,
}

impl ClosedLoopDriver {
    /// Every client sends its first request at `start`.
    pub fn initial_sends(&mut self) -> Vec<(u32, SimTime)> {
        (0..self.clients).map(|c| (c, self.start)).collect()
    }

    /// The client's next send time after a response at `now`, or `None` when the run is over for it.
    pub fn on_response(
        &mut self,
        _client: u32,
        now: SimTime,
        _rng: &mut SimRng,
    ) -> Option<SimTime> {
        let next = now + self.think_time;
        (next < self.end).then_some(next)
    }
}
