//! Producing the per-second metric: request statistics, the activator's report, the scraper's sample size.
//!
//! * [`RequestStats`] models knative/networking `pkg/http/stats/request.go`, kept by every queue-proxy and,
//!   per revision, by every activator. It integrates the number of requests in flight over time; a
//!   [`RequestStats::report`] returns the **time-weighted average concurrency** of the period since the last
//!   report, plus arrival counts, and resets the period (the current concurrency carries over, so a request
//!   spanning a report boundary counts in both periods). Integration is exact: in-flight count times integer
//!   nanoseconds, accumulated in `u128`.
//! * [`ActivatorRevisionStats`] adds the activator's reporting rules (`concurrency_reporter.go`): an immediate
//!   `{concurrency 1, count 1}` stat when a revision's entry is created (the scale-from-zero poke), the
//!   subtraction of that 1 from the next periodic report, and deletion of an idle entry.
//! * The autoscaler's scraper, which samples these reports and extrapolates a revision total, is
//!   [`crate::autoscaler::kpa::scraper`] (golden-tested against Knative's `stats_scraper.go`).
//!
//! All operations are O(1) and allocation-free, so the simulator can call them on every request event.
//! Units: concurrency in requests in flight, counts in requests, rates in requests per second.
//! Simplification: the queue-proxy's 1 s ticker and the scraper are not modelled here; the caller decides
//! when to call `report` and which reports to sum.

use crate::time::{exact_f64, SimDuration, SimTime, NANOS_PER_SEC};

/// One report period's result from a [`RequestStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StatsReport {
    /// Time-weighted average requests in flight over the period (0 if no time elapsed).
    pub average_concurrency: f64,
    /// Same, for requests that came through the activator (`Knative-Proxy: activator`).
    pub average_proxied_concurrency: f64,
    /// Requests that arrived in the period.
    pub request_count: u64,
    /// Proxied requests that arrived in the period.
    pub proxied_request_count: u64,
}

impl StatsReport {
    /// The queue-proxy's stored `Stat`: averages as is, counts divided by the report period (1 s in Knative).
    pub fn to_queue_proxy_stat(&self, period: SimDuration) -> Stat {
        let seconds = period.as_secs_f64();
        let per_second = |count: u64| {
            if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            }
        };
        Stat {
            average_concurrency: self.average_concurrency,
            average_proxied_concurrency: self.average_proxied_concurrency,
            request_count: per_second(self.request_count),
            proxied_request_count: per_second(self.proxied_request_count),
        }
    }
}

/// A stat message as the autoscaler's collector receives it (Knative `metrics.Stat`): from the scraper it
/// is a revision total extrapolated from the sampled pods; from an activator it is that activator's total.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stat {
    pub average_concurrency: f64,
    pub average_proxied_concurrency: f64,
    /// Requests per second (the activator sends the raw 1 s count, which is the same number).
    pub request_count: f64,
    pub proxied_request_count: f64,
}

impl Stat {
    /// Field-wise sum, for adding up sampled pods' stats.
    pub fn add(&self, other: &Stat) -> Stat {
        Stat {
            average_concurrency: self.average_concurrency + other.average_concurrency,
            average_proxied_concurrency: self.average_proxied_concurrency
                + other.average_proxied_concurrency,
            request_count: self.request_count + other.request_count,
            proxied_request_count: self.proxied_request_count + other.proxied_request_count,
        }
    }
}

/// Time-weighted request accounting for one queue-proxy, or one activator for one revision.
#[derive(Clone, Debug)]
pub struct RequestStats {
    in_flight: u64,
    proxied_in_flight: u64,
    last_change: SimTime,
    request_count: u64,
    proxied_count: u64,
    /// Integral of `in_flight` over the period, in request-nanoseconds.
    concurrency_nanos: u128,
    proxied_concurrency_nanos: u128,
    nanos_in_use: u64,
}

impl RequestStats {
    /// Accounting that starts at `start` (Knative `NewRequestStats(startedAt)`).
    pub fn new(start: SimTime) -> Self {
        RequestStats {
            in_flight: 0,
            proxied_in_flight: 0,
            last_change: start,
            request_count: 0,
            proxied_count: 0,
            concurrency_nanos: 0,
            proxied_concurrency_nanos: 0,
            nanos_in_use: 0,
        }
    }

    /// Requests currently in flight (including proxied ones).
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Integrates up to `now`; an event earlier than the last change does not integrate (as in Knative).
    fn integrate(&mut self, now: SimTime) {
        if now > self.last_change {
            let dt = (now - self.last_change).as_nanos();
            self.nanos_in_use += dt;
            self.concurrency_nanos += self.in_flight as u128 * dt as u128;
            self.proxied_concurrency_nanos += self.proxied_in_flight as u128 * dt as u128;
            self.last_change = now;
        }
    }

    /// A request arrived directly (not through the activator).
    pub fn request_in(&mut self, now: SimTime) {
        self.integrate(now);
        self.in_flight += 1;
        self.request_count += 1;
    }

    /// A direct request finished. Ignored (saturating) if nothing is in flight.
    pub fn request_out(&mut self, now: SimTime) {
        self.integrate(now);
        debug_assert!(self.in_flight > 0, "request_out with nothing in flight");
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// A request arrived through the activator: counted in both the total and the proxied figures.
    pub fn proxied_in(&mut self, now: SimTime) {
        self.request_in(now);
        self.proxied_in_flight += 1;
        self.proxied_count += 1;
    }

    /// A proxied request finished.
    pub fn proxied_out(&mut self, now: SimTime) {
        self.request_out(now);
        debug_assert!(
            self.proxied_in_flight > 0,
            "proxied_out with nothing in flight"
        );
        self.proxied_in_flight = self.proxied_in_flight.saturating_sub(1);
    }

    /// Closes the period at `now`: returns its averages and counts and starts a new period.
    pub fn report(&mut self, now: SimTime) -> StatsReport {
        self.integrate(now);
        let average = |integral: u128| {
            if self.nanos_in_use == 0 {
                0.0
            } else {
                exact_f64(integral) / exact_f64(u128::from(self.nanos_in_use))
            }
        };
        let report = StatsReport {
            average_concurrency: average(self.concurrency_nanos),
            average_proxied_concurrency: average(self.proxied_concurrency_nanos),
            request_count: self.request_count,
            proxied_request_count: self.proxied_count,
        };
        self.request_count = 0;
        self.proxied_count = 0;
        self.concurrency_nanos = 0;
        self.proxied_concurrency_nanos = 0;
        self.nanos_in_use = 0;
        report
    }
}

/// One activator's accounting for one revision, with Knative's reporting rules.
///
/// Call [`request_in`](Self::request_in) / [`request_out`](Self::request_out) per request the activator
/// proxies, and [`report`](Self::report) on the activator's 1 s tick. Every returned [`Stat`] goes to the
/// collector; a stat returned by `request_in` should also poke the decider (Knative's `MultiScaler.Poke`:
/// Scale runs at once if the last desired scale was 0).
#[derive(Clone, Debug, Default)]
pub struct ActivatorRevisionStats {
    entry: Option<ActivatorEntry>,
}

#[derive(Clone, Debug)]
struct ActivatorEntry {
    stats: RequestStats,
    /// The "1" already sent when the entry was created, subtracted from the first periodic report.
    first_request_pending: bool,
}

impl ActivatorRevisionStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the activator currently has an entry for the revision.
    pub fn has_entry(&self) -> bool {
        self.entry.is_some()
    }

    /// A request for the revision arrived at the activator. Returns the immediate
    /// `{average_concurrency: 1, request_count: 1}` stat when this request created the entry.
    pub fn request_in(&mut self, now: SimTime) -> Option<Stat> {
        let created = self.entry.is_none();
        let entry = self.entry.get_or_insert_with(|| ActivatorEntry {
            stats: RequestStats::new(now),
            first_request_pending: true,
        });
        entry.stats.request_in(now);
        created.then_some(Stat {
            average_concurrency: 1.0,
            request_count: 1.0,
            ..Stat::default()
        })
    }

    /// A request the activator proxied finished.
    pub fn request_out(&mut self, now: SimTime) {
        if let Some(entry) = self.entry.as_mut() {
            entry.stats.request_out(now);
        }
    }

    /// The periodic report at `now`, or `None` if there is no entry. An entry whose period average
    /// concurrency was 0 is dropped after reporting, so the next request sends a fresh immediate "1".
    pub fn report(&mut self, now: SimTime) -> Option<Stat> {
        let entry = self.entry.as_mut()?;
        let report = entry.stats.report(now);
        let first_adjustment = if entry.first_request_pending {
            1.0
        } else {
            0.0
        };
        entry.first_request_pending = false;
        if report.average_concurrency == 0.0 {
            self.entry = None;
        }
        Some(Stat {
            average_concurrency: (report.average_concurrency - first_adjustment).max(0.0),
            average_proxied_concurrency: 0.0,
            request_count: report.request_count as f64 - first_adjustment,
            proxied_request_count: 0.0,
        })
    }
}

/// The queue-proxy's and the activator's report period (`reportingPeriod`, `reportInterval`): 1 s.
pub const REPORT_PERIOD: SimDuration = SimDuration(NANOS_PER_SEC);

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> SimTime {
        SimTime::from_millis(v)
    }

    #[test]
    fn average_is_time_weighted_and_a_spanning_request_counts_in_both_periods() {
        let mut stats = RequestStats::new(ms(0));
        stats.request_in(ms(0));
        stats.request_in(ms(500));
        stats.request_out(ms(750));
        // 1 in flight for 500 ms, 2 for 250 ms, 1 for 250 ms: 1.25 on average.
        let first = stats.report(ms(1000));
        assert_eq!(first.average_concurrency, 1.25);
        assert_eq!(first.request_count, 2);
        // The first request is still in flight: it counts for the part of the second period it spans.
        stats.request_out(ms(1400));
        let second = stats.report(ms(2000));
        assert!((second.average_concurrency - 0.4).abs() < 1e-12);
        assert_eq!(second.request_count, 0);
        let idle = stats.report(ms(3000));
        assert_eq!(idle.average_concurrency, 0.0);
    }

    #[test]
    fn proxied_requests_are_counted_in_both_figures() {
        let mut stats = RequestStats::new(ms(0));
        stats.proxied_in(ms(0));
        stats.request_in(ms(0));
        let report = stats.report(ms(1000));
        assert_eq!(report.average_concurrency, 2.0);
        assert_eq!(report.average_proxied_concurrency, 1.0);
        assert_eq!((report.request_count, report.proxied_request_count), (2, 1));
        let stat = report.to_queue_proxy_stat(SimDuration::from_millis(500));
        assert_eq!(stat.request_count, 4.0);
    }

    #[test]
    fn events_out_of_order_do_not_integrate_backwards() {
        let mut stats = RequestStats::new(ms(1000));
        stats.request_in(ms(900));
        let report = stats.report(ms(2000));
        assert_eq!(report.average_concurrency, 1.0);
    }

    #[test]
    fn activator_sends_an_immediate_one_and_subtracts_it_once() {
        let mut activator = ActivatorRevisionStats::new();
        let poke = activator
            .request_in(ms(200))
            .expect("first request creates the entry");
        assert_eq!((poke.average_concurrency, poke.request_count), (1.0, 1.0));
        assert!(activator.request_in(ms(300)).is_none());
        // Two requests in flight from 300 ms: average over [200, 1000] = (100*1 + 700*2) / 800.
        let first = activator.report(ms(1000)).unwrap();
        assert!((first.average_concurrency - (1500.0 / 800.0 - 1.0)).abs() < 1e-12);
        assert_eq!(first.request_count, 1.0);
        activator.request_out(ms(1000));
        activator.request_out(ms(1000));
        let second = activator.report(ms(2000)).unwrap();
        assert_eq!(
            (second.average_concurrency, second.request_count),
            (0.0, 0.0)
        );
        assert!(
            !activator.has_entry(),
            "an idle entry is dropped after reporting"
        );
        assert!(activator.report(ms(3000)).is_none());
        assert!(
            activator.request_in(ms(3500)).is_some(),
            "the next request pokes again"
        );
    }

    #[test]
    fn sample_size_matches_knative_table() {
        let table = [
            (0, 0),
            (1, 1),
            (3, 3),
            (4, 4),
            (5, 4),
            (6, 5),
            (8, 6),
            (10, 7),
            (15, 8),
            (20, 9),
            (30, 11),
            (50, 12),
            (100, 14),
            (200, 15),
            (1000, 16),
        ];
        for (population, expected) in table {
            assert_eq!(
                crate::autoscaler::kpa::scraper::sample_size(population),
                expected,
                "N = {population}"
            );
        }
    }
}
