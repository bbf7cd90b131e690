//! The discrete-event engine: an event queue, seeded random streams, nothing about Knative.
//!
//! * [`EventQueue`] orders events by `(time, priority, insertion sequence)`: at one instant lower priority
//!   runs first and equal priorities run in the order they were scheduled (FIFO ties), so every run is
//!   reproducible bit for bit. Same-instant events go through a FIFO lane without heap work, the rest through
//!   a 4-ary heap; cancellation is O(1) through a generation-tagged slab, and dead entries are dropped in bulk
//!   once they outnumber live ones, so cancelled timeouts do not pile up. Scheduling into the past is an
//!   error (it would silently reorder causality), reported as [`ScheduleError::InThePast`].
//! * [`RngStreams`] derives one independent random stream per subsystem from the scenario seed with a
//!   fixed-algorithm generator (xoshiro256++, seeded through SplitMix64), so adding draws in one subsystem
//!   never shifts the numbers another subsystem sees.
//! * A request's own draws (service time, call picks, path delays) come from a [`RequestRng`] built from
//!   the request's [`DrawKey`], so they depend on the seed, the revision and the request's arrival index
//!   only, not on the order in which a configuration starts services (common random numbers).
//! * [`prefetch`]: cache hints for passes over many services' state (no effect on results).

pub mod prefetch;
mod queue;
mod rng;

pub use queue::{EventId, EventQueue, Next, ScheduleError};
pub use rng::{Draw, DrawKey, DrawKeys, RequestRng, RngStreams, SimRng, Stream};
