//! Homogeneous Poisson arrivals: exponential inter-arrival times with mean `1 / rate`.

use super::{Arrival, ArrivalSource, RequestAttrs, TrafficError};
use crate::engine::SimRng;
use crate::time::{SimDuration, SimTime};
use rand_distr::{Distribution, Exp};

/// Poisson arrivals at `rate` requests per second between `start` and `end`.
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

impl ArrivalSource for PoissonSource {
    fn next_arrival(&mut self, rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError> {
        let gap = SimDuration::from_secs_f64(self.exp.sample(rng));
        self.next += gap;
        if self.next >= self.end {
            return Ok(None);
        }
        Ok(Some(Arrival {
            at: self.next,
            attrs: RequestAttrs::default(),
        }))
    }
}
