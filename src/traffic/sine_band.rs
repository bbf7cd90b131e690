//! Bounds of a sine rate profile over a band of its cycle, so thinning can decide most candidates without
//! evaluating the sine (see [`super::generators::NhppSource`]).
//!
//! The cycle of `mean + amplitude * sin(2π pos / cycle)` (clipped at zero, as
//! [`super::generators::RateProfile::rate_at`] computes it) is cut into [`BANDS`] bands of positions. For
//! the band a candidate falls in, `lo` is at most and `hi` at least the rate `rate_at` would compute for
//! any position in it: a candidate whose scaled uniform is below `lo` is kept and one at or above `hi` is
//! dropped, exactly as comparing with `rate_at` would decide; only those in between evaluate the sine.
//!
//! Why the outcome is the same: the bounds are the exact extremes of the sine over the band's angles,
//! widened by 1e-9 rad on each side (the computed angle of a position is within about 1e-15 rad of the
//! exact one), then moved out by 1e-9 × (|mean| + |amplitude|) (the computed rate is within about 1e-15 of
//! that scale of the exact one; the bound's own rounding is as small). The draws are untouched: the
//! same uniform is compared, only with a cheaper threshold when the answer is already known.
//!
//! Only the band of the latest candidate is kept (a few fields, no table): with a day's cycle a band lasts
//! 22.5 minutes, so its two sines are computed once per band rather than once per candidate.

use crate::time::SimTime;
use std::f64::consts::{FRAC_PI_2, TAU};

/// Bands per cycle.
pub const BANDS: u64 = 64;
/// Angle widening (rad) that covers the rounding of a position's computed angle.
const ANGLE_SLACK: f64 = 1e-9;
/// Relative widening of the rate bounds that covers the rounding of the computed rate.
const RATE_SLACK: f64 = 1e-9;

/// The bounds of the band of the latest candidate (see the module docs).
#[derive(Clone, Debug)]
pub struct SineBands {
    mean: f64,
    amplitude: f64,
    /// Cycle and phase in ns, as `rate_at` reduces them.
    cycle: u64,
    phase: u64,
    band: u64,
    lo: f64,
    hi: f64,
}

/// What the band's bounds say about a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Drop,
    /// Between the bounds: compare with the rate itself.
    Evaluate,
}

impl SineBands {
    /// Bands for `mean + amplitude * sin(2π (t + phase) / period)` with `period` and `phase` in ns.
    pub fn new(mean: f64, amplitude: f64, period_ns: u64, phase_ns: u64) -> Self {
        let cycle = period_ns.max(1);
        SineBands {
            mean,
            amplitude,
            cycle,
            phase: phase_ns % cycle,
            // No band yet: the first candidate computes its own.
            band: u64::MAX,
            lo: 0.0,
            hi: 0.0,
        }
    }

    /// Whether a candidate at `t` with scaled uniform `scaled` is kept, dropped, or needs the rate.
    #[inline]
    pub fn verdict(&mut self, t: SimTime, scaled: f64) -> Verdict {
        let pos = (t.0 % self.cycle + self.phase) % self.cycle;
        let band = (u128::from(pos) * u128::from(BANDS) / u128::from(self.cycle)) as u64;
        if band != self.band {
            self.set_band(band);
        }
        if scaled < self.lo {
            Verdict::Keep
        } else if scaled >= self.hi {
            Verdict::Drop
        } else {
            Verdict::Evaluate
        }
    }

    fn set_band(&mut self, band: u64) {
        // Positions p with floor(p * BANDS / cycle) == band lie in [first, last].
        let first = (u128::from(band) * u128::from(self.cycle)).div_ceil(u128::from(BANDS)) as u64;
        let last = ((u128::from(band + 1) * u128::from(self.cycle)).div_ceil(u128::from(BANDS))
            as u64)
            .saturating_sub(1)
            .max(first);
        let angle = |p: u64| TAU * p as f64 / self.cycle as f64;
        let (a0, a1) = (angle(first) - ANGLE_SLACK, angle(last) + ANGLE_SLACK);
        let (s0, s1) = (a0.sin(), a1.sin());
        let mut smin = s0.min(s1);
        let mut smax = s0.max(s1);
        // Angles stay within [-1e-9, 2π + 1e-9]: the only interior extremes are at π/2 and 3π/2.
        if a0 <= FRAC_PI_2 && FRAC_PI_2 <= a1 {
            smax = 1.0;
        }
        if a0 <= 3.0 * FRAC_PI_2 && 3.0 * FRAC_PI_2 <= a1 {
            smin = -1.0;
        }
        let (low_sine, high_sine) = if self.amplitude >= 0.0 {
            (smin, smax)
        } else {
            (smax, smin)
        };
        let slack = RATE_SLACK * (self.mean.abs() + self.amplitude.abs());
        self.lo = (self.mean + self.amplitude * low_sine - slack).max(0.0);
        self.hi = (self.mean + self.amplitude * high_sine + slack).max(0.0);
        self.band = band;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;
    use crate::traffic::generators::RateProfile;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Keep and Drop agree with the rate `rate_at` computes, at any time and any threshold; and the
        /// bands decide most thresholds without it.
        #[test]
        fn the_bounds_never_contradict_the_rate(
            mean in 0.0f64..500.0,
            amplitude in -600.0f64..600.0,
            period_s in 1u64..200_000,
            phase_s in 0u64..200_000,
            times in proptest::collection::vec(0u64..400_000_000_000_000, 200),
            fractions in proptest::collection::vec(0.0f64..1.0, 200),
        ) {
            let profile = RateProfile::Sine {
                mean,
                amplitude,
                period: SimDuration::from_secs(period_s),
                phase: SimDuration::from_secs(phase_s),
            };
            let bound = (mean + amplitude.abs()).max(0.0);
            let mut bands = SineBands::new(mean, amplitude, period_s * 1_000_000_000, phase_s * 1_000_000_000);
            let mut decided = 0;
            for (&t, &f) in times.iter().zip(&fractions) {
                let t = SimTime(t);
                let rate = profile.rate_at(t);
                // Thresholds near the rate itself are where a wrong bound would show.
                for scaled in [f * bound, rate, rate * (1.0 - 1e-12), rate * (1.0 + 1e-12)] {
                    match bands.verdict(t, scaled) {
                        Verdict::Keep => prop_assert!(scaled < rate, "kept {scaled} >= {rate}"),
                        Verdict::Drop => prop_assert!(scaled >= rate, "dropped {scaled} < {rate}"),
                        Verdict::Evaluate => {}
                    }
                }
                decided += u32::from(bands.verdict(t, f * bound) != Verdict::Evaluate);
            }
            if amplitude.abs() > 1.0 && mean > amplitude.abs() {
                prop_assert!(decided >= 120, "only {decided} of 200 decided without the sine");
            }
        }
    }

    #[test]
    fn every_band_covers_its_positions() {
        // A cycle not divisible by the band count: the first and last positions of each band.
        let cycle = 1_000_003u64;
        let mut bands = SineBands::new(10.0, 5.0, cycle, 0);
        let profile = RateProfile::Sine {
            mean: 10.0,
            amplitude: 5.0,
            period: SimDuration(cycle),
            phase: SimDuration(0),
        };
        for pos in 0..cycle {
            let band = pos * BANDS / cycle;
            let next = (pos + 1) * BANDS / cycle;
            let edge = pos == 0 || (pos - 1) * BANDS / cycle != band || next != band;
            if !edge {
                continue;
            }
            let t = SimTime(pos);
            let rate = profile.rate_at(t);
            assert_ne!(bands.verdict(t, rate), Verdict::Keep, "pos {pos}");
            assert_ne!(
                bands.verdict(t, rate * (1.0 - 1e-15)),
                Verdict::Drop,
                "pos {pos}"
            );
            assert!(
                bands.lo <= rate && rate <= bands.hi,
                "pos {pos}: {} {rate} {}",
                bands.lo,
                bands.hi
            );
        }
    }
}
