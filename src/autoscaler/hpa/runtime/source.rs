//! Where each HPA metric's value comes from in the simulation ([`MetricSource`]) and when a metrics
//! pipeline scrapes ([`ScrapeConfig`]): periodic instants `phase + k × period` on simulated time (ns).

use crate::autoscaler::hpa::MetricSpec;
use crate::time::{SimDuration, SimTime};

/// Where the value of one `spec.metrics` entry comes from in the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricSource {
    /// Resource `cpu`: millicores over the metrics-server window.
    Cpu,
    /// Resource `memory`: working-set bytes at the scrape.
    Memory,
    /// GPU busy fraction × 100 (`DCGM_FI_DEV_GPU_UTIL`).
    GpuUtilPercent,
    /// GPU busy fraction, 0–1 (`DCGM_FI_PROF_SM_ACTIVE`, `DCGM_FI_PROF_GR_ENGINE_ACTIVE`).
    GpuBusyRatio,
    /// Time-averaged requests in the pod (executing and queued).
    PodConcurrency,
    /// Requests per second reaching the pod.
    PodRps,
    /// Requests per second arriving at the service.
    ServiceRps,
    /// Requests in flight at the service, time-averaged.
    ServiceConcurrency,
    /// The KEDA cron trigger with this index (its External metric).
    KedaCron(usize),
    /// `vllm:num_requests_running`: requests in the pod's running batch at the scrape (a gauge).
    VllmRunning,
    /// `vllm:num_requests_waiting`: requests queued in the pod at the scrape (a gauge).
    VllmWaiting,
    /// `vllm:kv_cache_usage_perc`: the pod's KV cache use at the scrape, 0–1 (a gauge; 0 without
    /// `pod.service.kv_cache_tokens`).
    VllmKvCacheUsage,
}

impl MetricSource {
    /// The scenario name of a source (`metric_sources` values).
    pub const NAMES: &'static [&'static str] = &[
        "cpu",
        "memory",
        "gpu_util_percent",
        "gpu_busy_ratio",
        "pod_concurrency",
        "pod_rps",
        "service_rps",
        "service_concurrency",
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "cpu" => MetricSource::Cpu,
            "memory" => MetricSource::Memory,
            "gpu_util_percent" => MetricSource::GpuUtilPercent,
            "gpu_busy_ratio" => MetricSource::GpuBusyRatio,
            "pod_concurrency" => MetricSource::PodConcurrency,
            "pod_rps" => MetricSource::PodRps,
            "service_rps" => MetricSource::ServiceRps,
            "service_concurrency" => MetricSource::ServiceConcurrency,
            "vllm:num_requests_running" => MetricSource::VllmRunning,
            "vllm:num_requests_waiting" => MetricSource::VllmWaiting,
            "vllm:kv_cache_usage_perc" => MetricSource::VllmKvCacheUsage,
            _ => return None,
        })
    }

    /// The source a metric name implies when the scenario does not say: DCGM GPU metric names, names
    /// mentioning concurrency / in-flight requests or requests per second.
    pub fn guess(metric: &MetricSpec) -> Option<Self> {
        let per_pod = matches!(metric, MetricSpec::Pods { .. });
        match metric {
            MetricSpec::Resource { resource, .. } => match resource.as_str() {
                "cpu" => Some(MetricSource::Cpu),
                "memory" => Some(MetricSource::Memory),
                _ => None,
            },
            MetricSpec::Pods { name, .. }
            | MetricSpec::Object { name, .. }
            | MetricSpec::External { name, .. } => {
                let n = name.to_ascii_lowercase();
                if per_pod && n.contains("num_requests_waiting") {
                    Some(MetricSource::VllmWaiting)
                } else if per_pod && n.contains("kv_cache_usage") {
                    Some(MetricSource::VllmKvCacheUsage)
                } else if per_pod && n.contains("num_requests_running") {
                    Some(MetricSource::VllmRunning)
                } else if n.contains("gpu_util") || n.contains("gpu-util") {
                    Some(MetricSource::GpuUtilPercent)
                } else if n.contains("sm_active") || n.contains("gr_engine_active") {
                    Some(MetricSource::GpuBusyRatio)
                } else if n.contains("concurrency")
                    || n.contains("in_flight")
                    || n.contains("inflight")
                {
                    Some(if per_pod {
                        MetricSource::PodConcurrency
                    } else {
                        MetricSource::ServiceConcurrency
                    })
                } else if n.contains("per_second") || n == "rps" || n.ends_with("_rps") {
                    Some(if per_pod {
                        MetricSource::PodRps
                    } else {
                        MetricSource::ServiceRps
                    })
                } else {
                    None
                }
            }
        }
    }

    /// Whether this source gives one value per pod (Resource / Pods metrics).
    pub fn per_pod(self) -> bool {
        !matches!(
            self,
            MetricSource::ServiceRps | MetricSource::ServiceConcurrency | MetricSource::KedaCron(_)
        )
    }
}

/// A scraper's timing: a scrape at `phase + k × resolution` (k ≥ 1 when phase is 0); the HPA reads the
/// newest sample at least `delay` old.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScrapeConfig {
    pub resolution: SimDuration,
    pub phase: SimDuration,
    pub delay: SimDuration,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            resolution: SimDuration::from_secs(15),
            phase: SimDuration::ZERO,
            delay: SimDuration::ZERO,
        }
    }
}

impl ScrapeConfig {
    pub(super) fn due(&self, now: SimTime) -> bool {
        periodic_due(now, self.phase, self.resolution)
    }
}

pub(super) fn periodic_due(now: SimTime, phase: SimDuration, period: SimDuration) -> bool {
    let (t, p, r) = (now.as_nanos(), phase.as_nanos(), period.as_nanos());
    r > 0 && t > 0 && t >= p && (t - p).is_multiple_of(r)
}
