//! Homogeneous Poisson arrivals: exponential inter-arrival times with mean `1 / rate`.

use super::{Arrival, ArrivalSource, TrafficError};
use crate::engine::SimRng;
use crate::time::{SimDuration, SimTime};
use rand_distr::{Distribution, Exp};

/// Poisson arrivals at `rate` requests per second between `start` and `end`.
#[derive(Clone, Debug)]
pub struct PoissonSource {
    next: SimTime,
    end: SimTime,
    exp: Exp<f64>,
}

impl PoissonSource {
    /// `rate` must be positive and finite (validated by the scenario loader).
    pub fn new(rate_per_s: f64, start: SimTime, end: SimTime) -> Self {
        PoissonSource {
            next: start,
            end,
            exp: Exp::new(rate_per_s).expect("rate validated as positive"),
        }
    }
}

impl PoissonSource {
    /// The next arrival time, `None` at the end. Inlined into the simulator's arrival handler, which
    /// holds Poisson sources by value (see [`ArrivalSource::as_poisson`]).
    #[inline(always)]
    pub fn next_time(&mut self, rng: &mut SimRng) -> Option<SimTime> {
        let gap = SimDuration::from_secs_f64(self.exp.sample(rng));
        self.next += gap;
        (self.next < self.end).then_some(self.next)
    }
}

impl ArrivalSource for PoissonSource {
    fn next_arrival(&mut self, rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError> {
        Ok(self.next_time(rng).map(Arrival::plain))
    }

    fn as_poisson(&self) -> Option<&PoissonSource> {
        Some(self)
    }
}
