//! Simulated time.
//!
//! All simulated time is an integer number of **nanoseconds** since the start of the run, held in the
//! newtypes [`SimTime`] (an instant) and [`SimDuration`] (a span). Floating-point seconds appear only where
//! random distributions are sampled; [`SimDuration::from_secs_f64`] is the single audited conversion point
//! (it rounds to the nearest nanosecond and saturates instead of wrapping).
//!
//! [`parse_duration`] reads Kubernetes / Go style durations ("60s", "1m30s", "500ms", "1h") as used in
//! Knative's `config-autoscaler` ConfigMap.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// Nanoseconds per second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// An instant of simulated time, in nanoseconds since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A span of simulated time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub const fn from_secs(s: u64) -> Self {
        SimTime(s * NANOS_PER_SEC)
    }
    pub const fn from_millis(ms: u64) -> Self {
        SimTime(ms * 1_000_000)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Whole seconds since the start (truncated).
    pub const fn whole_secs(self) -> u64 {
        self.0 / NANOS_PER_SEC
    }
    pub fn as_secs_f64(self) -> f64 {
        exact_f64(u128::from(self.0)) / NANOS_PER_SEC as f64
    }
    /// Time elapsed since `earlier`; zero if `earlier` is later than `self`.
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);

    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s * NANOS_PER_SEC)
    }
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms * 1_000_000)
    }
    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us * 1_000)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        exact_f64(u128::from(self.0)) / NANOS_PER_SEC as f64
    }
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }
    /// Whole seconds (truncated).
    pub const fn whole_secs(self) -> u64 {
        self.0 / NANOS_PER_SEC
    }
    /// The one conversion from sampled floating-point seconds to integer time: rounds to the nearest
    /// nanosecond, maps negative and NaN samples to zero and saturates very large ones. Always inlined:
    /// it runs for every draw, and as a call in the event loop it cost twice its work.
    #[inline(always)]
    pub fn from_secs_f64(secs: f64) -> Self {
        if secs.is_nan() || secs <= 0.0 {
            return SimDuration::ZERO;
        }
        let nanos = secs * NANOS_PER_SEC as f64;
        if nanos >= u64::MAX as f64 {
            return SimDuration(u64::MAX);
        }
        // `f64::round` (half away from zero) without its libm call, which was a few percent of a run:
        // for 0 < x < 2^64 the fraction x - trunc(x) is exact (Sterbenz below 2^53, zero above), so
        // comparing it with one half rounds exactly as `round` does.
        if nanos < I64_LIMIT {
            // Below 2^63 (about 292 years) the signed conversions give the same integers and floats as
            // the unsigned ones, in one instruction each instead of a dozen (this runs for every draw).
            let whole = nanos as i64;
            let fraction = nanos - whole as f64;
            return SimDuration(whole as u64 + u64::from(fraction >= 0.5));
        }
        let whole = nanos as u64;
        let fraction = nanos - whole as f64;
        SimDuration(whole + u64::from(fraction >= 0.5))
    }
}

/// 2^63 as a float: below it a float truncates to an `i64` exactly as to a `u64`.
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// `x as f64`: the same value (every conversion rounds to nearest), through the signed 64-bit
/// conversion (one instruction on x86-64, against a dozen for an unsigned one and a library call for a
/// 128-bit one) whenever `x` fits an `i64`. Times and integrals of times go through it on every draw and
/// every pod report.
#[inline(always)]
pub(crate) fn exact_f64(x: u128) -> f64 {
    if x <= i64::MAX as u128 {
        // Through `u64`: a 128-bit conversion the compiler knows is non-negative stays a library call.
        x as u64 as i64 as f64
    } else {
        x as f64
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}
impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, rhs: SimDuration) {
        self.0 = self.0.saturating_add(rhs.0);
    }
}
impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    /// Panics in debug builds if `rhs` is later than `self`; use [`SimTime::saturating_since`] when that can
    /// happen.
    fn sub(self, rhs: SimTime) -> SimDuration {
        debug_assert!(self.0 >= rhs.0, "negative simulated duration");
        SimDuration(self.0.saturating_sub(rhs.0))
    }
}
impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, rhs: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(rhs.0))
    }
}
impl AddAssign for SimDuration {
    fn add_assign(&mut self, rhs: SimDuration) {
        self.0 = self.0.saturating_add(rhs.0);
    }
}

impl fmt::Display for SimDuration {
    /// Formats like Go's `time.Duration` for whole units ("1m30s", "500ms", "0s").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            return write!(f, "0s");
        }
        if !ns.is_multiple_of(NANOS_PER_SEC) {
            if ns.is_multiple_of(1_000_000) {
                return write!(f, "{}ms", ns / 1_000_000);
            }
            return write!(f, "{}s", self.as_secs_f64());
        }
        let mut s = ns / NANOS_PER_SEC;
        let h = s / 3600;
        s %= 3600;
        let m = s / 60;
        s %= 60;
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 || (h == 0 && m == 0) {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={:.3}s", self.as_secs_f64())
    }
}

/// Parses a Go `time.ParseDuration` style string: a sequence of decimal numbers, each with a unit suffix
/// (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), e.g. "60s", "1m30s", "1.5h", "250ms". A bare number is rejected,
/// as Go does (except "0"). Negative durations are rejected: no simulator input needs them.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; expected e.g. \"60s\", \"1m30s\" or \"500ms\"".into());
    }
    if s == "0" {
        return Ok(SimDuration::ZERO);
    }
    if s.starts_with('-') {
        return Err(format!("negative duration \"{s}\" is not allowed"));
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: f64 = 0.0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if start == i {
            return Err(format!(
                "invalid duration \"{s}\": expected a number at position {start}; examples: \"60s\", \"1m30s\", \"500ms\""
            ));
        }
        let number: f64 = s[start..i]
            .parse()
            .map_err(|_| format!("invalid number \"{}\" in duration \"{s}\"", &s[start..i]))?;
        let ustart = i;
        while i < bytes.len() && !(bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let unit = &s[ustart..i];
        let nanos_per_unit = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "missing unit in duration \"{s}\"; allowed units: ns, us, ms, s, m, h (e.g. \"60s\")"
                ))
            }
            other => {
                return Err(format!(
                    "unknown unit \"{other}\" in duration \"{s}\"; allowed units: ns, us, ms, s, m, h"
                ))
            }
        };
        total += number * nanos_per_unit;
    }
    if total >= u64::MAX as f64 {
        return Err(format!("duration \"{s}\" is too large"));
    }
    Ok(SimDuration(total.round() as u64))
}

impl<'de> serde::Deserialize<'de> for SimDuration {
    /// Accepts a Go-style duration string ("30s", "1m30s", "250ms") or a plain number of seconds.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SimDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a duration such as \"30s\", \"1m30s\", \"250ms\", or a number of seconds",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SimDuration, E> {
                parse_duration(v).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<SimDuration, E> {
                if !(v >= 0.0 && v.is_finite()) {
                    return Err(E::custom(format!(
                        "duration {v} must be a non-negative number of seconds"
                    )));
                }
                Ok(SimDuration::from_secs_f64(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SimDuration, E> {
                Ok(SimDuration::from_secs(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SimDuration, E> {
                if v < 0 {
                    return Err(E::custom(format!("duration {v} must not be negative")));
                }
                Ok(SimDuration::from_secs(v as u64))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl serde::Serialize for SimDuration {
    /// Serializes as a Go-style duration string, the form the input accepts.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("60s").unwrap(), SimDuration::from_secs(60));
        assert_eq!(parse_duration("1m30s").unwrap(), SimDuration::from_secs(90));
        assert_eq!(
            parse_duration("500ms").unwrap(),
            SimDuration::from_millis(500)
        );
        assert_eq!(
            parse_duration("1.5h").unwrap(),
            SimDuration::from_secs(5400)
        );
        assert_eq!(parse_duration("0").unwrap(), SimDuration::ZERO);
        assert!(parse_duration("60").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn displays_like_go() {
        assert_eq!(SimDuration::from_secs(90).to_string(), "1m30s");
        assert_eq!(SimDuration::from_secs(3600).to_string(), "1h");
        assert_eq!(SimDuration::from_millis(250).to_string(), "250ms");
        assert_eq!(SimDuration::ZERO.to_string(), "0s");
    }

    #[test]
    fn float_conversion_rounds_and_clamps() {
        assert_eq!(SimDuration::from_secs_f64(0.1), SimDuration(100_000_000));
        assert_eq!(SimDuration::from_secs_f64(-3.0), SimDuration::ZERO);
        assert_eq!(SimDuration::from_secs_f64(f64::NAN), SimDuration::ZERO);
        assert_eq!(SimDuration::from_secs_f64(1e30), SimDuration(u64::MAX));
    }

    /// The reference the integer rounding replaced (libm's `round`, half away from zero).
    fn reference(secs: f64) -> SimDuration {
        if secs.is_nan() || secs <= 0.0 {
            return SimDuration::ZERO;
        }
        let nanos = (secs * NANOS_PER_SEC as f64).round();
        if nanos >= u64::MAX as f64 {
            SimDuration(u64::MAX)
        } else {
            SimDuration(nanos as u64)
        }
    }

    #[test]
    fn float_conversion_rounds_halves_like_round() {
        for nanos in [
            0.5,
            1.5,
            2.5,
            0.49999999999999994,
            4503599627370495.5,
            9007199254740993.0,
        ] {
            let secs = nanos / 1e9;
            assert_eq!(SimDuration::from_secs_f64(secs), reference(secs), "{nanos}");
        }
    }

    proptest::proptest! {
        /// Exactly `round`'s result for any float: tiny, huge, near halves, any bit pattern.
        #[test]
        fn float_conversion_matches_round(
            bits in proptest::prelude::any::<u64>(),
            secs in 0.0f64..1e10,
            half in 0u64..1u64 << 60,
        ) {
            let from_bits = f64::from_bits(bits);
            proptest::prop_assert_eq!(SimDuration::from_secs_f64(from_bits), reference(from_bits));
            proptest::prop_assert_eq!(SimDuration::from_secs_f64(secs), reference(secs));
            let near_half = (half as f64 + 0.5) / 1e9;
            proptest::prop_assert_eq!(SimDuration::from_secs_f64(near_half), reference(near_half));
        }

        /// The signed fast path gives the 128-bit conversion's float, at and above 2^63 and 2^64 too.
        #[test]
        fn float_conversion_matches_the_unsigned_one(
            hi in proptest::prelude::any::<u64>(),
            lo in proptest::prelude::any::<u64>(),
            small in 0u64..1 << 63,
        ) {
            for x in [u128::from(hi) << 64 | u128::from(lo), u128::from(lo), u128::from(small)] {
                proptest::prop_assert_eq!(exact_f64(x).to_bits(), (x as f64).to_bits());
            }
        }

        /// The signed fast path of `as_secs_f64` gives the unsigned conversion's float, above 2^63 too.
        #[test]
        fn seconds_as_float_match_the_unsigned_conversion(n in proptest::prelude::any::<u64>()) {
            let want = (n as f64 / NANOS_PER_SEC as f64).to_bits();
            proptest::prop_assert_eq!(SimDuration(n).as_secs_f64().to_bits(), want);
            proptest::prop_assert_eq!(SimTime(n).as_secs_f64().to_bits(), want);
        }
    }
}
