//! Pods as the simulator sees them: lifecycle state, the queue-proxy breaker (containerConcurrency slots
//! plus a queue of 10 × containerConcurrency), and the activator's per-pod in-flight count.

use crate::time::SimTime;
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodState {
    /// Created, not Ready yet (scheduling, image pull, start, model load, readiness probe).
    Starting,
    Ready,
    /// Removed from endpoints, finishing in-flight work within the grace period.
    Terminating,
    Gone,
}

/// Time-weighted concurrency accounting of one reporter (a queue-proxy or the activator) over one report
/// period, following Knative's request statistics: every change first integrates the current
/// concurrency over the time since the last change.
#[derive(Clone, Debug, Default)]
pub struct ConcurrencyStats {
    pub concurrency: u32,
    pub proxied_concurrency: u32,
    last_change: SimTime,
    integral_ns: f64,
    proxied_integral_ns: f64,
    in_use_ns: u64,
    pub request_count: u32,
    pub proxied_count: u32,
}

/// One period's report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StatsReport {
    pub average_concurrency: f64,
    pub average_proxied_concurrency: f64,
    pub request_count: f64,
    pub proxied_request_count: f64,
}

impl ConcurrencyStats {
    pub fn new(now: SimTime) -> Self {
        ConcurrencyStats {
            last_change: now,
            ..Default::default()
        }
    }

    #[inline]
    fn integrate(&mut self, now: SimTime) {
        if now > self.last_change {
            let dt = (now - self.last_change).0;
            self.in_use_ns += dt;
            self.integral_ns += f64::from(self.concurrency) * dt as f64;
            self.proxied_integral_ns += f64::from(self.proxied_concurrency) * dt as f64;
            self.last_change = now;
        }
    }

    #[inline]
    pub fn request_in(&mut self, now: SimTime, proxied: bool) {
        self.integrate(now);
        self.concurrency += 1;
        self.request_count += 1;
        if proxied {
            self.proxied_concurrency += 1;
            self.proxied_count += 1;
        }
    }

    #[inline]
    pub fn request_out(&mut self, now: SimTime, proxied: bool) {
        self.integrate(now);
        self.concurrency = self.concurrency.saturating_sub(1);
        if proxied {
            self.proxied_concurrency = self.proxied_concurrency.saturating_sub(1);
        }
    }

    /// Closes the period at `now` and starts a new one; the current concurrency carries over.
    pub fn report(&mut self, now: SimTime) -> StatsReport {
        self.integrate(now);
        let secs = self.in_use_ns as f64;
        let (avg, proxied_avg) = if self.in_use_ns > 0 {
            (self.integral_ns / secs, self.proxied_integral_ns / secs)
        } else {
            (0.0, 0.0)
        };
        let report = StatsReport {
            average_concurrency: avg,
            average_proxied_concurrency: proxied_avg,
            request_count: f64::from(self.request_count),
            proxied_request_count: f64::from(self.proxied_count),
        };
        self.integral_ns = 0.0;
        self.proxied_integral_ns = 0.0;
        self.in_use_ns = 0;
        self.request_count = 0;
        self.proxied_count = 0;
        report
    }
}

pub struct Pod {
    pub state: PodState,
    pub created: SimTime,
    pub ready_at: Option<SimTime>,
    /// Requests executing in the container.
    pub executing: u32,
    /// Requests waiting in the queue-proxy breaker (request slab indexes; timed-out entries are skipped).
    pub queue: VecDeque<u32>,
    /// Live entries of `queue` (timed-out ones removed lazily).
    pub queued: u32,
    /// Requests the activator has sent to this pod and not yet seen answered.
    pub activator_in_flight: u32,
    pub stats: ConcurrencyStats,
}

impl Pod {
    pub fn new(now: SimTime, state: PodState) -> Self {
        Pod {
            state,
            created: now,
            ready_at: (state == PodState::Ready).then_some(now),
            executing: 0,
            queue: VecDeque::new(),
            queued: 0,
            activator_in_flight: 0,
            stats: ConcurrencyStats::new(now),
        }
    }

    pub fn idle(&self) -> bool {
        self.executing == 0 && self.queued == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_weighted_average_spans_periods() {
        let mut s = ConcurrencyStats::new(SimTime::ZERO);
        // One request in flight from 0.5 s to 1.5 s, a second one from 0.75 s to 1.0 s.
        s.request_in(SimTime::from_millis(500), false);
        s.request_in(SimTime::from_millis(750), true);
        s.request_out(SimTime::from_millis(1000), true);
        let r1 = s.report(SimTime::from_secs(1));
        assert!((r1.average_concurrency - 0.75).abs() < 1e-12, "{r1:?}");
        assert!((r1.average_proxied_concurrency - 0.25).abs() < 1e-12);
        assert_eq!((r1.request_count, r1.proxied_request_count), (2.0, 1.0));
        s.request_out(SimTime::from_millis(1500), false);
        let r2 = s.report(SimTime::from_secs(2));
        assert!((r2.average_concurrency - 0.5).abs() < 1e-12, "{r2:?}");
        assert_eq!(r2.request_count, 0.0);
    }
}
