//! Scenario keys of the pod and cluster models (`pod.phases`, `pod.service`, `pod.resources`, `pod.usage`,
//! `cluster`) and their validation into the simulator's
//! [`ResourceModel`](crate::workload::pods::ResourceModel) and [`PodModel`](crate::sim::PodModel).
//!
//! Quantities use Kubernetes' syntax (`"500m"`, `"2"`, `"2Gi"`, `"14G"`) and may be written with or without
//! quotes. CPU is converted to millicores, memory to bytes, GPUs must be whole devices. As in Kubernetes, a
//! resource with a limit but no request gets the limit as its request, and `nvidia.com/gpu` may be given
//! in requests, limits or both (then equal).

mod build;
mod cluster;

pub use build::build;
pub use cluster::{CaSpec, ClusterSpec, NodeAutoscalerSpec, NodePoolSpec};

use crate::dist::DistSpec;
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Kubernetes quantity as written (string or number).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Quantity(pub String);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_yaml::Value::deserialize(d)?;
        super::scalar_to_string(&v)
            .map(Quantity)
            .ok_or_else(|| D::Error::custom("expected a quantity such as \"500m\", 2 or \"2Gi\""))
    }
}

fn zero() -> DistSpec {
    DistSpec::fixed(SimDuration::ZERO)
}

/// `pod.phases`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhasesSpec {
    /// Scheduler latency once a node fits.
    #[serde(default = "zero")]
    pub scheduling: DistSpec,
    #[serde(default)]
    pub image_pull: ImagePullSpec,
    #[serde(default = "zero")]
    pub container_start: DistSpec,
    /// Loading beyond the download (deserialising, copying to the GPU, warm-up).
    #[serde(default = "zero")]
    pub model_load: DistSpec,
    /// Model size in bytes (e.g. "14G"); with `model_bandwidth` adds size / bandwidth to the load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_size: Option<Quantity>,
    /// Download bandwidth in bytes per second (e.g. "500M").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_bandwidth: Option<Quantity>,
    #[serde(default)]
    pub readiness: ReadinessSpec,
}

/// `pod.phases.image_pull`: first pull on a node, and with the image cached.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagePullSpec {
    #[serde(default = "zero")]
    pub first: DistSpec,
    #[serde(default = "zero")]
    pub cached: DistSpec,
}

impl Default for ImagePullSpec {
    fn default() -> Self {
        ImagePullSpec {
            first: zero(),
            cached: zero(),
        }
    }
}

/// `pod.phases.readiness`: the readiness probe's initialDelaySeconds and periodSeconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessSpec {
    #[serde(default)]
    pub initial_delay: SimDuration,
    /// 0s = the moment the model is loaded (Knative's queue-proxy probes every few ms by default).
    #[serde(default = "default_period")]
    pub period: SimDuration,
}

fn default_period() -> SimDuration {
    SimDuration::from_secs(10)
}

impl Default for ReadinessSpec {
    fn default() -> Self {
        ReadinessSpec {
            initial_delay: SimDuration::ZERO,
            period: default_period(),
        }
    }
}

/// Largest `pod.service.kv_cache_tokens` (far above any GPU's KV cache: 10^9 tokens).
pub const MAX_KV_CACHE_TOKENS: u64 = 1_000_000_000;

/// `pod.service`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceModelSpec {
    /// `fixed_slots` (default), `processor_sharing` or `gpu_batch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// gpu_batch: largest batch (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<u32>,
    /// gpu_batch: `[batch, latency factor]` points, the first `[1, 1.0]` (default: linear to 2x at max_batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_curve: Option<Vec<(u32, f64)>>,
    /// gpu_batch: time per prompt token at batch 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_per_token: Option<SimDuration>,
    /// gpu_batch: time per output token at batch 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_per_token: Option<SimDuration>,
    /// gpu_batch: KV cache per pod in tokens (absent = unlimited; needs `decode_per_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_tokens: Option<u64>,
}

/// `pod.resources`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSpec {
    #[serde(default)]
    pub requests: BTreeMap<String, Quantity>,
    #[serde(default)]
    pub limits: BTreeMap<String, Quantity>,
}

/// `pod.usage`: CPU = cpu_idle + cpu_per_request × executing (capped at the limit); memory =
/// memory_baseline + memory_per_request × in flight; GPU memory constant while the pod runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_idle: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_per_request: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_baseline: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_per_request: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory: Option<Quantity>,
}
