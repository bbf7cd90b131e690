//! SLO attainment: the share of fixed windows of simulated time (by default minutes) whose p99 latency is
//! at or under a bound, measured while the run goes, with one latency histogram for the current window.
//!
//! Definitions (what `summary.json`'s `slo` block reports):
//! - Window `k` is `[k·W, (k+1)·W)` of simulated time, W a whole number of seconds. Each response is
//!   counted in the window in which it reaches the client (its completion time), so a run never holds more
//!   than the current window: memory is flat in the simulated duration.
//! - A window's p99 is over every response in it: a 200 counts with its latency, any other status (504
//!   timeout, 503 overload, ...) counts as slower than any bound, so failures can only lower attainment.
//!   The p99 is the latency at rank ⌈0.99·n⌉ taken from an HDR histogram with 3 significant digits, as the
//!   highest value equivalent to the recorded one: the same convention and precision as `latency_ms.p99`
//!   (see [`super::latency`]). A window is *attained* when that p99, as it would be reported, is at most
//!   `p99_ms`; so a latency within 0.1 % under the bound can read back just above it and miss.
//! - A window without any response (no traffic, or every request still in flight) is *attained*; the count
//!   is reported as `windows_without_traffic` so a reader can exclude them. A stall that spans a whole
//!   window shows up in the window where its slow (or timed-out) responses arrive.
//! - Windows run from time 0 to the end of the run (traffic plus cooldown). A last window cut short by the
//!   end is evaluated like the others, on the responses it got; `last_window_s` gives its length.
//! - Requests still in flight when the run ends are in no window.

use crate::time::{SimDuration, SimTime, NANOS_PER_SEC};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Slowest latency the window histogram holds, µs (24 h; slower values saturate, as in the run histogram).
const MAX_US: u64 = 24 * 3600 * 1_000_000;

/// `output.slo` in a scenario: the latency bound and the window length.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSlo")]
pub struct SloSpec {
    /// Bound on each window's p99 latency, milliseconds.
    pub p99_ms: f64,
    /// Window length (whole seconds, at least 1 s).
    pub window: SimDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    p99_ms: f64,
    #[serde(default = "default_window")]
    window: SimDuration,
}

fn default_window() -> SimDuration {
    SimDuration::from_secs(60)
}

impl TryFrom<RawSlo> for SloSpec {
    type Error = String;
    fn try_from(r: RawSlo) -> Result<Self, String> {
        if !(r.p99_ms.is_finite() && r.p99_ms > 0.0) {
            return Err(format!(
                "output.slo.p99_ms: {} is not allowed; allowed: a number of milliseconds > 0",
                r.p99_ms
            ));
        }
        let ns = r.window.as_nanos();
        if ns == 0 || !ns.is_multiple_of(NANOS_PER_SEC) {
            return Err(format!(
                "output.slo.window: {} is not allowed; allowed: a whole number of seconds >= 1s, e.g. 60s",
                r.window
            ));
        }
        Ok(SloSpec {
            p99_ms: r.p99_ms,
            window: r.window,
        })
    }
}

/// `slo` in `summary.json`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SloSummary {
    pub p99_ms: f64,
    pub window_s: u64,
    /// Windows evaluated, including a partial last one and windows without traffic.
    pub windows: u64,
    /// Windows whose p99 was at most `p99_ms` (windows without traffic included).
    pub attained: u64,
    /// `attained / windows` (0 when the run has no window).
    pub attainment: f64,
    /// Windows with no response at all; counted as attained.
    pub windows_without_traffic: u64,
    /// Length of the last window, seconds (shorter than `window_s` when the run ends inside it).
    pub last_window_s: f64,
    /// Worst window p99 seen, milliseconds (failures count as infinitely slow, reported as `null`).
    pub worst_p99_ms: Option<f64>,
}

/// Streams responses into windows and counts the attained ones.
#[derive(Clone, Debug)]
pub struct SloTracker {
    bound_us: f64,
    p99_ms: f64,
    window_ns: u64,
    /// End of the run.
    end: SimTime,
    /// Index of the last window the run covers (a response exactly at the end belongs to it).
    last_index: u64,
    /// Index of the window being filled.
    current: u64,
    /// Latencies (µs) of the 200 responses of the current window.
    hist: Histogram<u64>,
    /// Non-200 responses of the current window.
    failures: u64,
    windows: u64,
    attained: u64,
    empty: u64,
    /// Worst p99 in µs; `None` after a window whose p99 rank fell on a failure.
    worst_us: Option<u64>,
    worst_is_failure: bool,
}

impl SloTracker {
    /// A tracker for a run that ends at `end`.
    pub fn new(spec: &SloSpec, end: SimTime) -> SloTracker {
        let window_ns = spec.window.as_nanos().max(1);
        SloTracker {
            bound_us: spec.p99_ms * 1e3,
            p99_ms: spec.p99_ms,
            window_ns,
            end,
            last_index: end.0.saturating_sub(1) / window_ns,
            current: 0,
            hist: Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds"),
            failures: 0,
            windows: 0,
            attained: 0,
            empty: 0,
            worst_us: None,
            worst_is_failure: false,
        }
    }

    /// Records a response reaching the client at `now`: `latency_us` for a 200, `None` for a failure.
    pub fn record(&mut self, now: SimTime, latency_us: Option<u64>) {
        self.roll_to((now.0 / self.window_ns).min(self.last_index));
        match latency_us {
            Some(us) => {
                self.hist.saturating_record(us.clamp(1, MAX_US));
            }
            None => self.failures += 1,
        }
    }

    /// Closes every window before window `index` (empty ones in one step).
    fn roll_to(&mut self, index: u64) {
        if index <= self.current {
            return;
        }
        self.close_current();
        // Windows strictly between the current one and `index` had no response.
        let gap = index - self.current - 1;
        self.windows += gap;
        self.attained += gap;
        self.empty += gap;
        self.current = index;
    }

    fn close_current(&mut self) {
        self.windows += 1;
        let n = self.hist.len() + self.failures;
        if n == 0 {
            self.attained += 1;
            self.empty += 1;
        } else {
            match p99_us(&self.hist, n) {
                Some(us) => {
                    if us as f64 <= self.bound_us {
                        self.attained += 1;
                    }
                    if !self.worst_is_failure && self.worst_us.is_none_or(|w| us > w) {
                        self.worst_us = Some(us);
                    }
                }
                None => self.worst_is_failure = true,
            }
        }
        self.hist.reset();
        self.failures = 0;
    }

    /// The figures of a run that ended at `at` (at or before the end this tracker was made for, after
    /// every response up to `at` was recorded): the tracker is copied and its last window cut at `at`.
    /// One difference from a run that really ends at `at`: a response at exactly `at` on a window
    /// boundary was already counted in the window that starts there, which then counts too.
    pub fn summary_at(&self, at: SimTime) -> SloSummary {
        let mut prefix = self.clone();
        let at = at.min(self.end);
        prefix.end = at;
        prefix.last_index = at.0.saturating_sub(1) / self.window_ns;
        prefix.finish()
    }

    /// Closes the last window (at the end of the run) and returns the figures.
    pub fn finish(mut self) -> SloSummary {
        let end = self.end;
        let last_index = self.last_index;
        self.roll_to(last_index);
        if end.0 > 0 {
            self.close_current();
        }
        let last_window_s = if end.0 == 0 {
            0.0
        } else {
            (end.0 - last_index * self.window_ns) as f64 / NANOS_PER_SEC as f64
        };
        SloSummary {
            p99_ms: self.p99_ms,
            window_s: self.window_ns / NANOS_PER_SEC,
            windows: self.windows,
            attained: self.attained,
            attainment: if self.windows == 0 {
                0.0
            } else {
                self.attained as f64 / self.windows as f64
            },
            windows_without_traffic: self.empty,
            last_window_s,
            worst_p99_ms: if self.worst_is_failure {
                None
            } else {
                self.worst_us.map(|us| us as f64 / 1e3)
            },
        }
    }
}

/// The p99 (µs) of `n` responses of which `h` holds the 200s and the rest failed (slower than any value);
/// `None` when rank ⌈0.99·n⌉ falls on a failure.
fn p99_us(h: &Histogram<u64>, n: u64) -> Option<u64> {
    // ⌈0.99·n⌉ in integers: (99n + 99) / 100.
    let rank = (99 * n).div_ceil(100).max(1);
    if rank > h.len() {
        return None;
    }
    let mut seen = 0u64;
    for v in h.iter_recorded() {
        seen += v.count_since_last_iteration();
        if seen >= rank {
            return Some(h.highest_equivalent(v.value_iterated_to()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(p99_ms: f64, window_s: u64) -> SloSpec {
        SloSpec {
            p99_ms,
            window: SimDuration::from_secs(window_s),
        }
    }

    fn at(s: f64) -> SimTime {
        SimTime((s * 1e9) as u64)
    }

    #[test]
    fn window_boundary_is_half_open() {
        let mut t = SloTracker::new(&spec(100.0, 60), at(120.0));
        // 59.999 s: window 0, slow. 60 s exactly: window 1, fast.
        t.record(at(59.999), Some(500_000));
        t.record(at(60.0), Some(10_000));
        let s = t.finish();
        assert_eq!((s.windows, s.attained), (2, 1));
        assert_eq!(s.windows_without_traffic, 0);
        assert_eq!(s.worst_p99_ms, Some(500.223)); // 500 ms read back at HDR precision
        assert_eq!(s.last_window_s, 60.0);
    }

    #[test]
    fn empty_windows_count_as_attained_and_are_reported() {
        let mut t = SloTracker::new(&spec(100.0, 10), at(60.0));
        t.record(at(5.0), Some(200_000)); // window 0 missed
        t.record(at(45.0), Some(1_000)); // windows 1..3 empty, window 4 attained
        let s = t.finish();
        assert_eq!(s.windows, 6);
        assert_eq!(s.windows_without_traffic, 4); // 1, 2, 3 and 5
        assert_eq!(s.attained, 5);
        assert!((s.attainment - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn partial_last_window_is_evaluated() {
        let mut t = SloTracker::new(&spec(100.0, 60), at(100.0));
        t.record(at(10.0), Some(1_000));
        t.record(at(95.0), Some(300_000));
        let s = t.finish();
        assert_eq!((s.windows, s.attained), (2, 1));
        assert_eq!(s.last_window_s, 40.0);
        // A response at exactly the end belongs to the last covered window.
        let mut t = SloTracker::new(&spec(100.0, 60), at(120.0));
        t.record(at(120.0), Some(300_000));
        let s = t.finish();
        assert_eq!((s.windows, s.attained), (2, 1));
    }

    #[test]
    fn p99_rank_and_failures() {
        // 100 responses: 99 fast and 1 slow -> rank 99 is fast: attained.
        let mut t = SloTracker::new(&spec(100.0, 60), at(60.0));
        for _ in 0..99 {
            t.record(at(1.0), Some(50_000));
        }
        t.record(at(2.0), Some(900_000));
        let s = t.finish();
        assert_eq!(s.attained, 1);
        // 100 responses with 2 slow -> rank 99 is slow: missed.
        let mut t = SloTracker::new(&spec(100.0, 60), at(60.0));
        for _ in 0..98 {
            t.record(at(1.0), Some(50_000));
        }
        t.record(at(2.0), Some(900_000));
        t.record(at(2.0), Some(900_000));
        assert_eq!(t.finish().attained, 0);
        // 99 fast and 1 failure: rank 99 is fast. 98 fast and 2 failures: rank 99 is a failure.
        let mut t = SloTracker::new(&spec(100.0, 60), at(60.0));
        for _ in 0..99 {
            t.record(at(1.0), Some(50_000));
        }
        t.record(at(2.0), None);
        assert_eq!(t.finish().attained, 1);
        let mut t = SloTracker::new(&spec(100.0, 60), at(60.0));
        for _ in 0..98 {
            t.record(at(1.0), Some(50_000));
        }
        t.record(at(2.0), None);
        t.record(at(2.0), None);
        let s = t.finish();
        assert_eq!(s.attained, 0);
        assert_eq!(s.worst_p99_ms, None);
    }

    #[test]
    fn bound_compares_the_reported_p99() {
        // Between 65.536 ms and 131.072 ms the histogram's ranges are 64 µs wide. 99.9 ms reads back as
        // 99.903 ms (<= 100: attained); 100 ms reads back as 100.031 ms, as `latency_ms.p99` would
        // report it, so it misses a 100 ms bound.
        let mut t = SloTracker::new(&spec(100.0, 1), at(1.0));
        t.record(at(0.5), Some(99_900));
        let s = t.finish();
        assert_eq!(s.attained, 1);
        assert_eq!(s.worst_p99_ms, Some(99.903));
        let mut t = SloTracker::new(&spec(100.0, 1), at(1.0));
        t.record(at(0.5), Some(100_000));
        let s = t.finish();
        assert_eq!(s.attained, 0);
        assert_eq!(s.worst_p99_ms, Some(100.031));
    }

    #[test]
    fn no_run_time_no_window() {
        let t = SloTracker::new(&spec(100.0, 60), SimTime::ZERO);
        let s = t.finish();
        assert_eq!((s.windows, s.attained, s.attainment), (0, 0, 0.0));
    }

    #[test]
    fn rejects_bad_specs() {
        let bad = |y: &str| serde_yaml::from_str::<SloSpec>(y).unwrap_err().to_string();
        assert!(bad("{p99_ms: 0}").contains("p99_ms"));
        assert!(bad("{p99_ms: 500, window: 1500ms}").contains("whole number of seconds"));
        assert!(bad("{p99_ms: 500, windw: 60s}").contains("windw"));
        let ok: SloSpec = serde_yaml::from_str("{p99_ms: 500}").unwrap();
        assert_eq!(ok.window, SimDuration::from_secs(60));
    }

    proptest::proptest! {
        /// Against a brute-force count (sort each window, take rank ⌈0.99·n⌉, failures as +∞) on
        /// latencies below 2.048 ms, where the histogram is exact.
        #[test]
        fn matches_brute_force(
            events in proptest::collection::vec((0u64..10_000, proptest::option::weighted(0.9, 1u64..2_000)), 0..300),
            window_s in 1u64..5,
            end_ms in 1u64..10_000,
            bound_us in 1u64..2_000,
        ) {
            let end = SimTime(end_ms * 1_000_000);
            let w = window_s * NANOS_PER_SEC;
            let mut events: Vec<(u64, Option<u64>)> = events
                .into_iter()
                .map(|(t, l)| (t * 1_000_000 % (end.0 + 1), l))
                .collect();
            events.sort_by_key(|e| e.0);
            let spec = SloSpec { p99_ms: bound_us as f64 / 1e3, window: SimDuration::from_secs(window_s) };
            let mut t = SloTracker::new(&spec, end);
            for &(at_ns, l) in &events {
                t.record(SimTime(at_ns), l);
            }
            let s = t.finish();
            let last = (end.0 - 1) / w;
            proptest::prop_assert_eq!(s.windows, last + 1);
            let mut attained = 0;
            let mut empty = 0;
            for k in 0..=last {
                let mut lat: Vec<u64> = events
                    .iter()
                    .filter(|e| (e.0 / w).min(last) == k)
                    .map(|e| e.1.unwrap_or(u64::MAX))
                    .collect();
                if lat.is_empty() {
                    empty += 1;
                    attained += 1;
                    continue;
                }
                lat.sort_unstable();
                let rank = (99 * lat.len()).div_ceil(100).max(1);
                if lat[rank - 1] <= bound_us {
                    attained += 1;
                }
            }
            proptest::prop_assert_eq!(s.attained, attained);
            proptest::prop_assert_eq!(s.windows_without_traffic, empty);
        }
    }
}
