//! Bursty open-loop traffic: on/off square waves and Markov-modulated Poisson processes (MMPP).
//!
//! * On/off ([`on_off_profile`]): deterministic periods, `on_rate` for `on` then `off_rate` for `off`,
//!   repeating from t = 0 (or starting in the off phase). Arrivals within each phase are Poisson; it is a
//!   [`RateProfile`] driven by [`NhppSource`](super::generators::NhppSource).
//! * MMPP ([`MmppSource`]): a hidden state with exponentially distributed sojourn times (mean given per
//!   state); while in a state, arrivals are Poisson at that state's rate. The run starts in state 0.
//!   Simplification: on leaving a state the next one is drawn uniformly among the *other* states (with two
//!   states this is the classic interrupted/switched Poisson process); a general transition matrix is not
//!   modelled. Exact: a gap that overruns the state's end is discarded and redrawn from the boundary, which
//!   is correct because exponential gaps are memoryless.
//!
//! Units: rates in requests per second, durations as [`SimDuration`]. O(1) memory per arrival.

use super::generators::RateProfile;
use super::{Arrival, ArrivalSource, TrafficError};
use crate::engine::SimRng;
use crate::time::{SimDuration, SimTime};
use rand::RngExt;
use rand_distr::{Distribution, Exp1};

/// A square wave: `on_rate` for `on`, `off_rate` for `off`, repeated forever from t = 0.
pub fn on_off_profile(
    on_rate: f64,
    off_rate: f64,
    on: SimDuration,
    off: SimDuration,
    start_on: bool,
) -> RateProfile {
    if start_on {
        RateProfile::Square {
            first_rate: on_rate,
            first_for: on,
            second_rate: off_rate,
            second_for: off,
        }
    } else {
        RateProfile::Square {
            first_rate: off_rate,
            first_for: off,
            second_rate: on_rate,
            second_for: on,
        }
    }
}

/// One state of an MMPP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MmppState {
    /// Arrival rate in this state, requests per second (may be 0).
    pub rate: f64,
    /// Mean sojourn time in this state (exponentially distributed).
    pub mean_duration: SimDuration,
}

/// A Markov-modulated Poisson process over `[start, end)`.
pub struct MmppSource {
    states: Vec<MmppState>,
    current: usize,
    state_end: Option<SimTime>,
    now: SimTime,
    end: SimTime,
}

impl MmppSource {
    /// `states` must be non-empty with positive mean durations (checked by `TrafficSpec::validate`).
    pub fn new(states: Vec<MmppState>, start: SimTime, end: SimTime) -> Self {
        MmppSource {
            states,
            current: 0,
            state_end: None,
            now: start,
            end,
        }
    }

    fn sojourn(&self, rng: &mut SimRng) -> SimDuration {
        let unit_exp: f64 = Exp1.sample(rng);
        SimDuration::from_secs_f64(unit_exp * self.states[self.current].mean_duration.as_secs_f64())
            .max(SimDuration(1))
    }
}

impl ArrivalSource for MmppSource {
    fn next_arrival(&mut self, rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError> {
        loop {
            if self.now >= self.end || self.states.is_empty() {
                return Ok(None);
            }
            let state_end = match self.state_end {
                Some(t) => t,
                None => {
                    let t = self.now + self.sojourn(rng);
                    self.state_end = Some(t);
                    t
                }
            };
            let rate = self.states[self.current].rate;
            let candidate = if rate > 0.0 {
                let unit_exp: f64 = Exp1.sample(rng);
                self.now + SimDuration::from_secs_f64(unit_exp / rate)
            } else {
                SimTime::MAX
            };
            if candidate < state_end {
                self.now = candidate;
                if candidate >= self.end {
                    return Ok(None);
                }
                return Ok(Some(Arrival::plain(candidate)));
            }
            self.now = state_end;
            self.state_end = None;
            if self.states.len() > 1 {
                let pick = rng.random_range(0..self.states.len() - 1);
                self.current = if pick >= self.current { pick + 1 } else { pick };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::generators::NhppSource;
    use rand::SeedableRng;

    #[test]
    fn on_off_has_no_arrivals_in_off_phases() {
        let end = SimTime::from_secs(100);
        let profile = on_off_profile(
            100.0,
            0.0,
            SimDuration::from_secs(5),
            SimDuration::from_secs(15),
            true,
        );
        let mut src = NhppSource::new(profile, SimTime::ZERO, end);
        let mut rng = SimRng::seed_from_u64(11);
        let mut n = 0;
        while let Some(a) = src.next_arrival(&mut rng).unwrap() {
            assert!(
                a.at.0 % 20_000_000_000 < 5_000_000_000,
                "arrival in off phase at {}",
                a.at
            );
            n += 1;
        }
        // 5 on-phases of 5 s at 100/s: 2500 expected, sd 50.
        assert!((2350..=2650).contains(&n), "count {n}");
    }

    #[test]
    fn mmpp_long_run_rate_is_the_time_weighted_mean() {
        let states = vec![
            MmppState {
                rate: 10.0,
                mean_duration: SimDuration::from_secs(30),
            },
            MmppState {
                rate: 100.0,
                mean_duration: SimDuration::from_secs(10),
            },
        ];
        let mut src = MmppSource::new(states, SimTime::ZERO, SimTime::from_secs(20_000));
        let mut rng = SimRng::seed_from_u64(5);
        let mut n = 0u64;
        while src.next_arrival(&mut rng).unwrap().is_some() {
            n += 1;
        }
        // Time-weighted mean: (10*30 + 100*10) / 40 = 32.5 /s; the modulation dominates the variance
        // (about 500 switching cycles), so allow 10 %.
        let rate = n as f64 / 20_000.0;
        assert!((29.0..=36.0).contains(&rate), "rate {rate}");
    }
}
