//! Traffic: where requests come from.
//!
//! Open-loop sources implement [`ArrivalSource`]: they yield arrivals in non-decreasing time order,
//! independent of how the system responds. Closed-loop clients (the next request is sent when the previous
//! answer arrives, like `hey -c N`) are driven by the simulator itself, because their arrivals depend on
//! completions; their parameters are plain data in the scenario.
//!
//! Units: arrival times are [`SimTime`] (ns since the start of the run); rates are requests per second.

use crate::engine::SimRng;
use crate::time::{SimDuration, SimTime};

pub mod closed;
pub mod poisson;

/// What a request carries besides its arrival time. Service models use what they understand: a fixed-slots
/// pod with a service-time distribution ignores the token counts; an LLM pod uses them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestAttrs {
    /// Service time given by the trace (overrides the pod's service-time distribution), if any.
    pub service_time: Option<SimDuration>,
    /// Prompt (context) tokens, 0 when unknown.
    pub prompt_tokens: u32,
    /// Output (generated) tokens, 0 when unknown.
    pub output_tokens: u32,
}

/// One arrival from an open-loop source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub at: SimTime,
    pub attrs: RequestAttrs,
}

/// Errors from traffic sources (a malformed trace row, an unreadable file).
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

/// An open-loop arrival process.
///
/// Contract: successive calls return arrivals with non-decreasing `at`; `Ok(None)` means the source is
/// exhausted for good. A source holds O(1) memory in the number of arrivals it produces (trace replay
/// streams its file). The generator passed in is the source's own stream: draws must not depend on anything
/// but the source's own state.
pub trait ArrivalSource: Send {
    fn next_arrival(&mut self, rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError>;
}
