//! The discrete-event engine: an event queue, seeded random streams, nothing about Knative.
//!
//! * [`EventQueue`] orders events by `(time, insertion sequence)`, so events at the same instant run in
//!   the order they were scheduled (FIFO ties) and every run is reproducible bit for bit. Cancellation is
//!   lazy: a cancelled [`EventId`] is remembered and skipped when it reaches the front, which keeps both
//!   `schedule` and `cancel` O(log n) and independent of how many pods exist. Scheduling into the past is
//!   an error (it would silently reorder causality), reported as [`ScheduleError::InThePast`].
//! * [`RngStreams`] derives one independent random stream per subsystem from the scenario seed with a
//!   fixed-algorithm generator (xoshiro256++, seeded through SplitMix64), so adding draws in one subsystem
//!   never shifts the numbers another subsystem sees.

mod queue;
mod rng;

pub use queue::{EventId, EventQueue, ScheduleError};
pub use rng::{RngStreams, SimRng, Stream};
