//! Open-loop synthetic generators: evenly spaced arrivals and non-homogeneous Poisson processes.
//!
//! * [`ConstantSource`]: one request every `1 / rate` seconds, the first at `start` (a load generator with a
//!   fixed send schedule). The k-th send time is computed from k, not by adding rounded gaps, so there is no
//!   drift over long runs.
//! * [`NhppSource`]: a Poisson process whose rate follows a [`RateProfile`] (step, ramp, spike, sine/diurnal,
//!   square wave, or any piecewise schedule). It samples by *thinning with a piecewise bound* (Lewis &
//!   Shedler): within each piece of the profile, candidate points come from a homogeneous Poisson process at
//!   the piece's maximum rate and each is kept with probability `rate(t) / bound`. When a candidate falls
//!   past the end of a piece the process restarts at the piece boundary, which is exact because exponential
//!   gaps are memoryless. Memory is O(1) per arrival (O(points) for the schedule itself) and nothing is
//!   allocated per arrival.
//!
//! Units: rates in requests per second, times in integer ns. Piecewise schedules are either held
//! (piecewise-constant: each point's rate holds until the next point) or linearly interpolated between
//! points; before the first point the first rate applies and after the last point the last rate holds.
//! Negative rates (e.g. a sine with amplitude above its mean) are clipped to zero.

use super::sine_band::{SineBands, Verdict};
use super::{Arrival, ArrivalSource, TrafficError};
use crate::engine::SimRng;
use crate::time::{SimDuration, SimTime, NANOS_PER_SEC};
use rand::RngExt;
use rand_distr::{Distribution, Exp1};

/// Evenly spaced arrivals at `rate` requests per second over `[start, end)`.
pub struct ConstantSource {
    start: SimTime,
    end: SimTime,
    interval_ns: f64,
    sent: u64,
}

impl ConstantSource {
    /// `rate_per_s` must be positive and finite (checked by `TrafficSpec::validate`).
    pub fn new(rate_per_s: f64, start: SimTime, end: SimTime) -> Self {
        ConstantSource {
            start,
            end,
            interval_ns: NANOS_PER_SEC as f64 / rate_per_s,
            sent: 0,
        }
    }
}

impl ArrivalSource for ConstantSource {
    fn next_arrival(&mut self, _rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError> {
        let offset =
            SimDuration::from_secs_f64(self.sent as f64 * self.interval_ns / NANOS_PER_SEC as f64);
        let at = self.start + offset;
        if at >= self.end {
            return Ok(None);
        }
        self.sent += 1;
        Ok(Some(Arrival::plain(at)))
    }
}

/// How a piecewise schedule fills the time between its points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Piecewise-constant: a point's rate holds until the next point.
    #[default]
    Hold,
    /// Piecewise-linear between consecutive points.
    Linear,
}

/// The arrival rate (requests per second) as a function of simulated time.
#[derive(Clone, Debug, PartialEq)]
pub enum RateProfile {
    /// Points sorted by time (equal times allowed: a vertical step).
    Piecewise {
        points: Vec<(SimTime, f64)>,
        interpolation: Interpolation,
    },
    /// `mean + amplitude * sin(2π (t + phase) / period)`, clipped at zero.
    Sine {
        mean: f64,
        amplitude: f64,
        period: SimDuration,
        phase: SimDuration,
    },
    /// A square wave from t = 0: `first_rate` for `first_for`, then `second_rate` for `second_for`, repeated.
    Square {
        first_rate: f64,
        first_for: SimDuration,
        second_rate: f64,
        second_for: SimDuration,
    },
}

impl RateProfile {
    /// `rate_before` until `at`, then `rate_after`.
    pub fn step(rate_before: f64, rate_after: f64, at: SimTime) -> Self {
        RateProfile::Piecewise {
            points: vec![(SimTime::ZERO, rate_before), (at, rate_after)],
            interpolation: Interpolation::Hold,
        }
    }

    /// `start_rate` until `ramp_start`, a straight line to `end_rate` at `ramp_start + duration`, then held.
    pub fn ramp(
        start_rate: f64,
        end_rate: f64,
        ramp_start: SimTime,
        duration: SimDuration,
    ) -> Self {
        RateProfile::Piecewise {
            points: vec![(ramp_start, start_rate), (ramp_start + duration, end_rate)],
            interpolation: Interpolation::Linear,
        }
    }

    /// `base_rate`, except `spike_rate` during `[at, at + duration)`.
    pub fn spike(base_rate: f64, spike_rate: f64, at: SimTime, duration: SimDuration) -> Self {
        RateProfile::Piecewise {
            points: vec![
                (SimTime::ZERO, base_rate),
                (at, spike_rate),
                (at + duration, base_rate),
            ],
            interpolation: Interpolation::Hold,
        }
    }

    /// The instantaneous rate at `t`, requests per second (never negative).
    pub fn rate_at(&self, t: SimTime) -> f64 {
        match self {
            RateProfile::Piecewise {
                points,
                interpolation,
            } => {
                let Some(first) = points.first() else {
                    return 0.0;
                };
                let after = points.partition_point(|p| p.0 <= t);
                if after == 0 {
                    return first.1.max(0.0);
                }
                let (t0, r0) = points[after - 1];
                match (interpolation, points.get(after)) {
                    (Interpolation::Linear, Some(&(t1, r1))) => {
                        let frac = (t.0 - t0.0) as f64 / (t1.0 - t0.0) as f64;
                        (r0 + (r1 - r0) * frac).max(0.0)
                    }
                    _ => r0.max(0.0),
                }
            }
            RateProfile::Sine {
                mean,
                amplitude,
                period,
                phase,
            } => {
                let cycle = period.0.max(1);
                let pos = (t.0 % cycle + phase.0 % cycle) % cycle;
                let angle = std::f64::consts::TAU * pos as f64 / cycle as f64;
                (mean + amplitude * angle.sin()).max(0.0)
            }
            RateProfile::Square { .. } => self.bound_from(t).0,
        }
    }

    /// An upper bound on the rate over `[t, until)` and `until` (> `t`, or `SimTime::MAX`).
    fn bound_from(&self, t: SimTime) -> (f64, SimTime) {
        match self {
            RateProfile::Piecewise {
                points,
                interpolation,
            } => {
                let after = points.partition_point(|p| p.0 <= t);
                let until = points.get(after).map_or(SimTime::MAX, |p| p.0);
                let bound = match (after, interpolation) {
                    (0, _) => points.first().map_or(0.0, |p| p.1),
                    (_, Interpolation::Hold) => points[after - 1].1,
                    (_, Interpolation::Linear) => {
                        let r0 = points[after - 1].1;
                        points.get(after).map_or(r0, |p| r0.max(p.1))
                    }
                };
                (bound.max(0.0), until)
            }
            RateProfile::Sine {
                mean, amplitude, ..
            } => ((mean + amplitude.abs()).max(0.0), SimTime::MAX),
            RateProfile::Square {
                first_rate,
                first_for,
                second_rate,
                second_for,
            } => {
                let cycle = first_for.0.saturating_add(second_for.0).max(1);
                let cycle_start = t.0 - t.0 % cycle;
                let pos = t.0 - cycle_start;
                if pos < first_for.0 {
                    (
                        first_rate.max(0.0),
                        SimTime(cycle_start.saturating_add(first_for.0)),
                    )
                } else {
                    (
                        second_rate.max(0.0),
                        SimTime(cycle_start.saturating_add(cycle)),
                    )
                }
            }
        }
    }

    /// The mean rate over `[0, horizon)`, by numerical integration (for descriptions and tests).
    pub fn mean_rate(&self, horizon: SimDuration) -> f64 {
        const STEPS: u64 = 10_000;
        let step = (horizon.0 / STEPS).max(1);
        let samples = horizon.0 / step;
        let total: f64 = (0..samples)
            .map(|i| self.rate_at(SimTime(i * step + step / 2)))
            .sum();
        total / samples.max(1) as f64
    }
}

/// A non-homogeneous Poisson process over `[start, end)` following a [`RateProfile`], by thinning: candidates
/// at the profile's bound, each kept with probability rate / bound.
pub struct NhppSource {
    profile: RateProfile,
    now: SimTime,
    end: SimTime,
    /// A rate the profile never goes below (0 when none is known): a candidate whose scaled uniform
    /// falls under it is kept without evaluating the profile. The rate is then at least as large in
    /// floating point too, so the outcome (and every draw) is the one the full test gives.
    floor: f64,
    /// For a sine: bounds over the band of the cycle the candidate is in, which decide most candidates
    /// without the sine, with the outcome the full test gives (see [`super::sine_band`]).
    bands: Option<SineBands>,
}

impl NhppSource {
    pub fn new(profile: RateProfile, start: SimTime, end: SimTime) -> Self {
        let floor = match &profile {
            // `amplitude * sin` rounds to no less than `-|amplitude|`, and adding `mean` keeps the order.
            RateProfile::Sine {
                mean, amplitude, ..
            } => (mean - amplitude.abs()).max(0.0),
            _ => 0.0,
        };
        let bands = match &profile {
            RateProfile::Sine {
                mean,
                amplitude,
                period,
                phase,
            } => Some(SineBands::new(*mean, *amplitude, period.0, phase.0)),
            _ => None,
        };
        NhppSource {
            profile,
            now: start,
            end,
            floor,
            bands,
        }
    }
}

impl ArrivalSource for NhppSource {
    fn next_arrival(&mut self, rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError> {
        loop {
            if self.now >= self.end {
                return Ok(None);
            }
            let (bound, until) = self.profile.bound_from(self.now);
            let until = until.min(self.end);
            if bound <= 0.0 {
                self.now = until;
                continue;
            }
            let unit_exp: f64 = Exp1.sample(rng);
            let candidate = self.now + SimDuration::from_secs_f64(unit_exp / bound);
            if candidate >= until {
                self.now = until;
                continue;
            }
            self.now = candidate;
            let scaled = rng.random::<f64>() * bound;
            let verdict = match self.bands.as_mut() {
                Some(bands) => bands.verdict(candidate, scaled),
                None => Verdict::Evaluate,
            };
            let keep = match verdict {
                Verdict::Keep => true,
                Verdict::Drop => false,
                Verdict::Evaluate => {
                    scaled < self.floor || scaled < self.profile.rate_at(candidate)
                }
            };
            if keep {
                return Ok(Some(Arrival::plain(candidate)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn count_in(
        source: &mut dyn ArrivalSource,
        rng: &mut SimRng,
        from: u64,
        to: u64,
    ) -> (u64, u64) {
        let (mut inside, mut total) = (0, 0);
        let mut last = SimTime::ZERO;
        while let Some(a) = source.next_arrival(rng).unwrap() {
            assert!(a.at >= last, "arrivals out of order");
            last = a.at;
            total += 1;
            if a.at >= SimTime::from_secs(from) && a.at < SimTime::from_secs(to) {
                inside += 1;
            }
        }
        (inside, total)
    }

    #[test]
    fn constant_is_evenly_spaced_without_drift() {
        let mut src = ConstantSource::new(3.0, SimTime::ZERO, SimTime::from_secs(1000));
        let mut rng = SimRng::seed_from_u64(1);
        let mut times = Vec::new();
        while let Some(a) = src.next_arrival(&mut rng).unwrap() {
            times.push(a.at.0);
        }
        assert_eq!(times.len(), 3000);
        assert_eq!(times[2999], 999_666_666_667);
        assert!(times
            .windows(2)
            .all(|w| (333_333_333..=333_333_334).contains(&(w[1] - w[0]))));
    }

    #[test]
    fn linear_profile_interpolates_and_holds_ends() {
        let p = RateProfile::ramp(
            10.0,
            30.0,
            SimTime::from_secs(10),
            SimDuration::from_secs(20),
        );
        assert_eq!(p.rate_at(SimTime::from_secs(0)), 10.0);
        assert!((p.rate_at(SimTime::from_secs(20)) - 20.0).abs() < 1e-9);
        assert_eq!(p.rate_at(SimTime::from_secs(100)), 30.0);
    }

    #[test]
    fn spike_counts_match_the_profile() {
        let profile = RateProfile::spike(
            10.0,
            200.0,
            SimTime::from_secs(100),
            SimDuration::from_secs(10),
        );
        let mut src = NhppSource::new(profile, SimTime::ZERO, SimTime::from_secs(200));
        let mut rng = SimRng::seed_from_u64(7);
        let (spike, total) = count_in(&mut src, &mut rng, 100, 110);
        // Expected 2000 in the spike (sd ~45) and 1900 outside (sd ~44).
        assert!((1860..=2140).contains(&spike), "spike count {spike}");
        assert!(
            (1760..=2040).contains(&(total - spike)),
            "base count {}",
            total - spike
        );
    }

    #[test]
    fn zero_rate_pieces_produce_nothing_and_terminate() {
        let profile = RateProfile::step(0.0, 50.0, SimTime::from_secs(30));
        let mut src = NhppSource::new(profile, SimTime::ZERO, SimTime::from_secs(40));
        let mut rng = SimRng::seed_from_u64(3);
        let (before, total) = count_in(&mut src, &mut rng, 0, 30);
        assert_eq!(before, 0);
        assert!((400..=600).contains(&total), "total {total}");
    }

    /// Thinning with the full test on every candidate: what `NhppSource` did before its floor.
    fn thinned_without_floor(
        profile: &RateProfile,
        end: SimTime,
        rng: &mut SimRng,
    ) -> Vec<SimTime> {
        let mut out = Vec::new();
        let mut now = SimTime::ZERO;
        while now < end {
            let (bound, until) = profile.bound_from(now);
            let until = until.min(end);
            if bound <= 0.0 {
                now = until;
                continue;
            }
            let unit_exp: f64 = Exp1.sample(rng);
            let candidate = now + SimDuration::from_secs_f64(unit_exp / bound);
            if candidate >= until {
                now = until;
                continue;
            }
            now = candidate;
            if rng.random::<f64>() * bound < profile.rate_at(candidate) {
                out.push(candidate);
            }
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The floor only skips evaluating the sine: the arrivals (and so every later draw) are the same.
        #[test]
        fn the_sine_floor_keeps_every_arrival(
            mean in 0.0f64..200.0,
            amplitude in -300.0f64..300.0,
            period_s in 1u64..600,
            phase_s in 0u64..600,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let profile = RateProfile::Sine {
                mean,
                amplitude,
                period: SimDuration::from_secs(period_s),
                phase: SimDuration::from_secs(phase_s),
            };
            let end = SimTime::from_secs(30);
            let mut rng = SimRng::seed_from_u64(seed);
            let expected = thinned_without_floor(&profile, end, &mut rng);
            let mut src = NhppSource::new(profile, SimTime::ZERO, end);
            let mut rng = SimRng::seed_from_u64(seed);
            let mut got = Vec::new();
            while let Some(a) = src.next_arrival(&mut rng).unwrap() {
                got.push(a.at);
            }
            proptest::prop_assert_eq!(got, expected);
        }
    }
}
