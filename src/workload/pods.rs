//! Pods as the simulator sees them: lifecycle state, the node they run on, the queue-proxy breaker
//! (containerConcurrency slots plus a queue of 10 × containerConcurrency), the queue-proxy's request
//! statistics, the activator's per-pod in-flight count, the shared-rate service state (processor sharing
//! and GPU batching, see [`super::service`]) and resource use.
//!
//! Lifecycle: a pod is created `Starting`. While it has no node (`node == None`) it is *Pending*
//! (unschedulable, or waiting for the scheduler); once placed it goes through the startup phases of
//! [`super::startup`] and becomes `Ready`; on scale-down it is `Terminating` (draining) and then `Gone`.
//!
//! Resource use is kept as cumulative counters, the way cAdvisor exposes them (CPU core-seconds, GPU
//! busy-seconds), integrated exactly at every change of the pod's executing count, plus current memory.
//! The integrals are kept in integer nanoseconds (`UsageIntegrals`: time below and at the CPU limit,
//! and executing requests × ns below it), so they are exact whatever the number of changes; a read
//! converts them to seconds (a few roundings per read, none per change).
//! A metrics pipeline turns counters into rates over its own window. The load model
//! ([`ResourceModel`]): CPU = idle + per executing request, capped at the CPU limit (throttling); memory =
//! baseline + per in-flight request (executing or queued); GPU busy while at least one request executes.

use super::cluster::PodRequest;
use super::discipline::SharedRate;
use super::startup::PhaseTimes;
use crate::autoscaler::kpa::RequestStats;
use crate::engine::EventId;
use crate::time::{exact_f64, SimTime};
use std::collections::VecDeque;

/// Resource requests, limits and the load-to-usage model of a pod (validated by the scenario loader).
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceModel {
    pub cpu_request_millis: f64,
    /// 0 = no limit.
    pub cpu_limit_millis: f64,
    pub memory_request_bytes: f64,
    pub memory_limit_bytes: f64,
    pub gpus: u32,
    pub cpu_idle_millis: f64,
    pub cpu_per_request_millis: f64,
    pub memory_baseline_bytes: f64,
    pub memory_per_request_bytes: f64,
    pub gpu_memory_bytes: f64,
}

impl Default for ResourceModel {
    fn default() -> Self {
        ResourceModel {
            cpu_request_millis: 1000.0,
            cpu_limit_millis: 0.0,
            memory_request_bytes: 2.0 * 1024.0 * 1024.0 * 1024.0,
            memory_limit_bytes: 0.0,
            gpus: 0,
            cpu_idle_millis: 10.0,
            cpu_per_request_millis: 1000.0,
            memory_baseline_bytes: 512.0 * 1024.0 * 1024.0,
            memory_per_request_bytes: 16.0 * 1024.0 * 1024.0,
            gpu_memory_bytes: 0.0,
        }
    }
}

impl ResourceModel {
    /// CPU in millicores while `executing` requests run.
    pub fn cpu_millis(&self, executing: u32) -> f64 {
        let want = self.cpu_wanted_millis(executing);
        if self.cpu_limit_millis > 0.0 {
            want.min(self.cpu_limit_millis)
        } else {
            want
        }
    }

    /// CPU in millicores that `executing` requests ask for, before the limit throttles it.
    #[inline(always)]
    fn cpu_wanted_millis(&self, executing: u32) -> f64 {
        self.cpu_idle_millis + self.cpu_per_request_millis * f64::from(executing)
    }
}

/// A pod's resource use since it was created, as exact integrals in nanoseconds. Times fit `u64` (584
/// years); executing requests × time is `u128`, as thousands of requests over years exceed `u64`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct UsageIntegrals {
    /// Time at which the CPU wanted was below the limit (all of it without a limit).
    below_limit_ns: u64,
    /// Executing requests × ns over that time.
    executing_ns: u128,
    /// Time throttled at the CPU limit.
    at_limit_ns: u64,
    /// Time with at least one request executing.
    busy_ns: u64,
}

impl UsageIntegrals {
    /// CPU core-seconds: idle × time below the limit + per request × request-time below it + limit ×
    /// time at it, in millicore-ns, converted once.
    fn cpu_core_seconds(&self, model: &ResourceModel) -> f64 {
        let millicore_ns = model.cpu_idle_millis * exact_f64(self.below_limit_ns.into())
            + model.cpu_per_request_millis * exact_f64(self.executing_ns)
            + model.cpu_limit_millis * exact_f64(self.at_limit_ns.into());
        millicore_ns / 1e12
    }
}

/// Nanoseconds as seconds.
fn secs(ns: u64) -> f64 {
    exact_f64(ns.into()) / 1e9
}

/// Cumulative use since the pod was created, plus current memory.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PodUsage {
    pub cpu_core_seconds: f64,
    pub gpu_busy_seconds: f64,
    pub memory_bytes: f64,
    pub gpu_memory_bytes: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodState {
    /// Created, not Ready yet: Pending while `Pod::node` is `None` (no node fits, or the scheduler has
    /// not bound it yet), then image pull, container start, model load, readiness probe.
    Starting,
    Ready,
    /// Removed from endpoints, finishing in-flight work within the grace period.
    Terminating,
    Gone,
}

pub struct Pod {
    /// The generation of the slot this pod occupies (see [`crate::ids`]).
    pub generation: u32,
    pub state: PodState,
    pub created: SimTime,
    pub ready_at: Option<SimTime>,
    /// Requests executing in the container.
    pub executing: u32,
    /// Requests waiting in the queue-proxy breaker (timed-out entries are skipped).
    pub queue: VecDeque<crate::ids::RequestId>,
    /// Live entries of `queue` (entries of requests killed with the pod are removed lazily).
    pub queued: u32,
    /// The queue's timeout timer (its time and event), armed at the earliest deadline in the queue.
    pub queue_timer: Option<(SimTime, EventId)>,
    /// While terminating: when the queue-proxy's drain (its quiet period) ends; the pod leaves once it is
    /// idle at or after this time, or at the end of the termination grace period.
    pub drain_until: SimTime,
    /// The queue-proxy's request statistics (requests queued in the breaker count as in flight).
    pub stats: RequestStats,
    /// Cumulative use, integrated up to `usage_updated`.
    usage: UsageIntegrals,
    usage_updated: SimTime,
    /// What the pod asks the scheduler for (its revision's resource requests; pods of different
    /// revisions in one cluster may differ).
    pub shape: PodRequest,
    /// Node the pod is bound to (`None` = Pending: not scheduled).
    pub node: Option<u32>,
    /// When the scheduler bound it (placement plus scheduling latency); before that it counts as Pending.
    pub bound_at: SimTime,
    /// When it was placed on its node (its resources, GPUs included, are reserved from then on).
    pub placed_at: SimTime,
    /// The pending PodReady (while starting) or PodGraceOver (while terminating) event, cancelled when the
    /// pod goes away first, so a stale event never hits a reused slot.
    pub lifecycle_event: Option<EventId>,
    /// Duration of each startup phase (known once placed).
    pub phases: PhaseTimes,
    /// Processor-sharing / GPU-batching state (unused with fixed slots).
    pub rate: SharedRate,
    /// Counters at the previous per-second row (for the utilization columns).
    pub last_tick: PodUsage,
}

impl Pod {
    pub fn new(now: SimTime, state: PodState, shape: PodRequest) -> Self {
        Pod {
            generation: 0,
            state,
            created: now,
            ready_at: (state == PodState::Ready).then_some(now),
            executing: 0,
            queue: VecDeque::new(),
            queued: 0,
            queue_timer: None,
            drain_until: now,
            stats: RequestStats::new(now),
            usage: UsageIntegrals::default(),
            usage_updated: now,
            shape,
            node: None,
            bound_at: now,
            placed_at: now,
            lifecycle_event: None,
            phases: PhaseTimes::default(),
            rate: SharedRate::new(now),
            last_tick: PodUsage::default(),
        }
    }

    /// Integrates resource use up to `now` at the current load. Call before the executing count changes.
    /// Always inlined: it runs at every service start and end, where it is integer adds (the float
    /// version's division and dependent add were a tenth of a fixed-replica run's time).
    #[inline(always)]
    pub fn integrate_usage(&mut self, now: SimTime, model: &ResourceModel) {
        let dt = now.0.saturating_sub(self.usage_updated.0);
        let executing = self.executing;
        if model.cpu_limit_millis > 0.0
            && model.cpu_wanted_millis(executing) >= model.cpu_limit_millis
        {
            self.usage.at_limit_ns += dt;
        } else {
            self.usage.below_limit_ns += dt;
            self.usage.executing_ns += u128::from(executing) * u128::from(dt);
        }
        if executing > 0 {
            self.usage.busy_ns += dt;
        }
        self.usage_updated = self.usage_updated.max(now);
    }

    /// Cumulative CPU and GPU use up to `now`, and current memory, like a cAdvisor scrape.
    pub fn usage(&mut self, now: SimTime, model: &ResourceModel) -> PodUsage {
        self.integrate_usage(now, model);
        let in_flight = f64::from(self.executing + self.queued);
        PodUsage {
            cpu_core_seconds: self.usage.cpu_core_seconds(model),
            gpu_busy_seconds: if model.gpus > 0 {
                secs(self.usage.busy_ns)
            } else {
                0.0
            },
            memory_bytes: model.memory_baseline_bytes + model.memory_per_request_bytes * in_flight,
            gpu_memory_bytes: model.gpu_memory_bytes,
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
    fn cpu_use_integrates_load_and_is_capped_by_the_limit() {
        let model = ResourceModel {
            cpu_limit_millis: 1500.0,
            ..ResourceModel::default()
        };
        let mut pod = Pod::new(SimTime::ZERO, PodState::Ready, PodRequest::default());
        pod.integrate_usage(SimTime::from_secs(10), &model); // idle: 10 m for 10 s
        pod.executing = 2;
        pod.integrate_usage(SimTime::from_secs(20), &model); // 2 requests want 2010 m, capped at 1500 m
        let u = pod.usage(SimTime::from_secs(20), &model);
        assert!((u.cpu_core_seconds - (0.1 + 15.0)).abs() < 1e-9, "{u:?}");
        assert!(
            (u.memory_bytes - (model.memory_baseline_bytes + 2.0 * model.memory_per_request_bytes))
                .abs()
                < 1.0
        );
    }

    proptest::proptest! {
        /// Whatever the load changes, the integrals are exact: CPU core-seconds are the exact sum of
        /// millicores × ns (integer models make it an integer) rounded once, GPU busy time is exact, and
        /// reading the usage at extra times (a scrape, a row) changes no later figure by a single bit.
        #[test]
        fn usage_integrals_are_exact_and_split_free(
            steps in proptest::collection::vec((0u64..5_000_000_000, 0u32..40), 1..60),
            limit in proptest::prop_oneof![proptest::strategy::Just(0u32), 500u32..20_000],
            gpus in 0u32..2,
            reads in proptest::collection::vec(proptest::bool::ANY, 60),
        ) {
            let model = ResourceModel {
                cpu_limit_millis: f64::from(limit),
                cpu_idle_millis: 10.0,
                cpu_per_request_millis: 250.0,
                gpus,
                ..ResourceModel::default()
            };
            let mut plain = Pod::new(SimTime::ZERO, PodState::Ready, PodRequest::default());
            let mut scraped = Pod::new(SimTime::ZERO, PodState::Ready, PodRequest::default());
            let (mut now, mut exact_millicore_ns, mut exact_busy_ns) = (0u64, 0u128, 0u64);
            for (i, &(dt, executing)) in steps.iter().enumerate() {
                // The executing count changes at `now` (integrate first, as the simulator does) and holds
                // for `dt`.
                for pod in [&mut plain, &mut scraped] {
                    pod.integrate_usage(SimTime(now), &model);
                    pod.executing = executing;
                }
                if reads[i] {
                    scraped.usage(SimTime(now + dt / 2), &model);
                }
                let wanted = 10 + 250 * u64::from(executing);
                let millicores = if limit > 0 { wanted.min(u64::from(limit)) } else { wanted };
                exact_millicore_ns += u128::from(millicores) * u128::from(dt);
                if executing > 0 {
                    exact_busy_ns += dt;
                }
                now += dt;
            }
            let (a, b) = (plain.usage(SimTime(now), &model), scraped.usage(SimTime(now), &model));
            proptest::prop_assert_eq!(a.cpu_core_seconds.to_bits(), b.cpu_core_seconds.to_bits());
            proptest::prop_assert_eq!(a.gpu_busy_seconds.to_bits(), b.gpu_busy_seconds.to_bits());
            let exact = exact_millicore_ns as f64 / 1e12;
            proptest::prop_assert!(
                (a.cpu_core_seconds - exact).abs() <= exact * 1e-15,
                "{} against {}", a.cpu_core_seconds, exact
            );
            let busy = if gpus > 0 { exact_busy_ns as f64 / 1e9 } else { 0.0 };
            proptest::prop_assert_eq!(a.gpu_busy_seconds, busy);
        }
    }
}
