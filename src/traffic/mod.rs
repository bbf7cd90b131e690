//! Traffic: where requests come from.
//!
//! Open-loop sources implement [`ArrivalSource`]: they yield arrivals in non-decreasing time order,
//! independent of how the system responds. Closed-loop clients (the next request is sent when the previous
//! answer arrives, like `hey -c N`) cannot be a source, because their arrivals depend on completions; they
//! are the pure state machine [`closed_loop::ClosedLoopDriver`] that the simulator drives.
//!
//! * [`generators`]: constant (evenly spaced), Poisson, and non-homogeneous Poisson processes whose rate
//!   follows a step, ramp, spike, sine/diurnal curve or a piecewise schedule; [`bursty`]: on/off and
//!   Markov-modulated Poisson; [`sum::SumSource`]: several sources merged in time order.
//! * [`trace`]: replay of recorded traffic, streamed from a file or read from any reader ([`input`]), with
//!   time/load scaling, windows and looping.
//! * [`spec::TrafficSpec`]: the scenario's `traffic:` section (serde), its validation and construction.
//! * [`prometheus`]: Prometheus `query_range` JSON / CSV exports, as a rate series or as observations.
//! * [`inspect()`]: a streamed profile of a trace file for `podscale trace inspect`.
//!
//! Units: arrival times are [`SimTime`] (integer ns since the start of the run); rates are requests per
//! second (`f64`), converted to integer time only through [`SimDuration::from_secs_f64`] or exact integer
//! arithmetic. Every source is deterministic for a given random stream, and holds O(1) memory in the number
//! of arrivals it produces (O(schedule points) for piecewise schedules, O(columns) for per-minute traces).

use crate::engine::SimRng;
use crate::time::{SimDuration, SimTime};

pub mod bursty;
pub mod closed_loop;
pub mod functions;
pub mod generators;
pub mod input;
pub mod inspect;
pub mod poisson;
pub mod prometheus;
pub mod sine_band;
pub mod spec;
pub mod split;
pub mod sum;
pub mod trace;

pub use closed_loop::{ClientId, ClosedLoopDriver, ClosedLoopSpec, ThinkTime};
pub use input::TraceInput;
pub use inspect::{inspect, inspect_input, TraceProfile};
pub use spec::{TrafficPlan, TrafficSpec};
pub use trace::{TraceFormat, TraceOptions, TraceSource};

/// What a request carries besides its arrival time. Service models use what they understand: a fixed-slots
/// pod with a service-time distribution ignores the token counts; an LLM pod uses them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
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

impl Arrival {
    /// An arrival without trace attributes.
    pub fn plain(at: SimTime) -> Self {
        Arrival {
            at,
            attrs: RequestAttrs::default(),
        }
    }
}

/// Errors from traffic sources (a malformed trace row, an unreadable file, an unusable configuration).
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    /// A trace row (or header) that cannot be read: `line` is 1-based and counts the header line.
    #[error("{path}:{line}: column `{column}`: {message}")]
    Malformed {
        path: String,
        line: u64,
        column: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// A configuration that cannot be built (reported by `TrafficSpec::validate` first in normal use).
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

/// An open-loop arrival process.
///
/// Contract: successive calls return arrivals with non-decreasing `at`; `Ok(None)` means the source is
/// exhausted for good. A source holds O(1) memory in the number of arrivals it produces (trace replay
/// streams its file). The generator passed in is the source's own stream: draws must not depend on anything
/// but the source's own state.
pub trait ArrivalSource: Send {
    fn next_arrival(&mut self, rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError>;

    /// The source as a [`poisson::PoissonSource`] if it is one, in its current state: the simulator then
    /// draws from a copy it holds by value, without a dynamic call per arrival. `None` (the default) for
    /// every other source.
    fn as_poisson(&self) -> Option<&poisson::PoissonSource> {
        None
    }
}

impl<S: ArrivalSource + ?Sized> ArrivalSource for Box<S> {
    fn next_arrival(&mut self, rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError> {
        (**self).next_arrival(rng)
    }

    fn as_poisson(&self) -> Option<&poisson::PoissonSource> {
        (**self).as_poisson()
    }
}
