//! Scenario keys of the pod and cluster models (`pod.phases`, `pod.service`, `pod.resources`, `pod.usage`,
//! `cluster`) and their validation into the simulator's [`ResourceModel`] and [`PodModel`].
//!
//! Quantities use Kubernetes' syntax (`"500m"`, `"2"`, `"2Gi"`, `"14G"`) and may be written with or without
//! quotes. CPU is converted to millicores, memory to bytes, GPUs must be whole devices. As in Kubernetes, a
//! resource with a limit but no request gets the limit as its request, and `nvidia.com/gpu` may be given
//! in requests, limits or both (then equal).

use super::{LoadedScenario, ScenarioError};
use crate::autoscaler::hpa::parse_quantity_milli;
use crate::dist::{DistSpec, DurationDist};
use crate::sim::PodModel;
use crate::time::SimDuration;
use crate::workload::cluster::{ClusterModel, Expander, NodeAutoscaling, NodePool, Policy};
use crate::workload::discipline::{GpuBatch, ServiceModel};
use crate::workload::pods::ResourceModel;
use crate::workload::startup::Phases;
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

/// `cluster`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub node_pools: Vec<NodePoolSpec>,
    /// `first_fit` (default) or `most_allocated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<String>,
    /// Legacy form of `autoscaler` (only `provision_delay` and `scale_down_unneeded`; the rest default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_autoscaler: Option<NodeAutoscalerSpec>,
    /// Cluster Autoscaler settings, with its flag names; present = pools with `max_nodes` above `nodes`
    /// grow and shrink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler: Option<CaSpec>,
}

/// `cluster.autoscaler`: Cluster Autoscaler's flags (defaults as it ships them).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CaSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_interval: Option<SimDuration>,
    /// Cloud provider time to a Ready node (not a Cluster Autoscaler flag; default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision_delay: Option<SimDuration>,
    /// GPU node Ready to GPUs allocatable (not a Cluster Autoscaler flag; default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_device_plugin_delay: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_node_provision_time: Option<SimDuration>,
    /// Cluster Autoscaler's built-in unschedulable-pod buffers (2s, 30s for GPU pods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_pod_buffer: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_gpu_pod_buffer: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_utilization_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_gpu_utilization_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_unneeded_time: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_after_add: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_empty_bulk_delete: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_node_group_backoff_duration: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_node_group_backoff_duration: Option<SimDuration>,
    /// least-waste (default), most-pods, priority or random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expander: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePoolSpec {
    pub name: String,
    #[serde(default = "one")]
    pub nodes: u32,
    pub cpu: Quantity,
    pub memory: Quantity,
    #[serde(default)]
    pub gpus: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_nodes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_nodes: Option<u32>,
    /// Price of a node-hour (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_per_hour: Option<f64>,
    /// Price of a GPU-hour on top of the node's (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_price_per_hour: Option<f64>,
    /// For the `priority` expander: higher is preferred (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// This pool's node provisioning time (overrides `autoscaler.provision-delay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision_delay: Option<SimDuration>,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeAutoscalerSpec {
    /// Time from the decision to add a node to the node being Ready (default 60s).
    #[serde(default = "default_provision")]
    pub provision_delay: SimDuration,
    /// An empty node is removed after this long (Cluster Autoscaler's scale-down-unneeded-time, 10m).
    #[serde(default = "default_unneeded")]
    pub scale_down_unneeded: SimDuration,
}

fn default_provision() -> SimDuration {
    SimDuration::from_secs(60)
}
fn default_unneeded() -> SimDuration {
    SimDuration::from_secs(600)
}

const RESOURCE_KEYS: &[&str] = &["cpu", "memory", "nvidia.com/gpu"];

/// Parses a quantity into milli-units, reporting a located error.
fn milli(
    loaded: &LoadedScenario,
    key: &str,
    q: &Quantity,
    errors: &mut Vec<ScenarioError>,
) -> Option<i64> {
    match parse_quantity_milli(&q.0) {
        Ok(v) if v >= 0 => Some(v),
        Ok(_) => {
            errors.push(loaded.error_at(key, format!("{:?} must not be negative", q.0)));
            None
        }
        Err(e) => {
            errors.push(loaded.error_at(key, e.to_string()));
            None
        }
    }
}

/// Builds the resource and pod/cluster models from `spec.pod` and `spec.cluster`.
pub fn build(
    loaded: &LoadedScenario,
    errors: &mut Vec<ScenarioError>,
) -> (ResourceModel, PodModel) {
    let spec = &loaded.spec;
    let pod = &spec.pod;
    let base = loaded.base_dir.as_path();
    let mut res = ResourceModel::default();

    // Resources: requests and limits.
    let mut requests: BTreeMap<&str, i64> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i64> = BTreeMap::new();
    for (section, map, out) in [
        ("requests", &pod.resources.requests, &mut requests),
        ("limits", &pod.resources.limits, &mut limits),
    ] {
        for (k, q) in map {
            let key = format!("pod.resources.{section}.{k}");
            let Some(name) = RESOURCE_KEYS.iter().find(|n| **n == k.as_str()) else {
                errors.push(loaded.error_at(
                    &key,
                    format!(
                        "unknown resource {k:?}; allowed: {}",
                        RESOURCE_KEYS.join(", ")
                    ),
                ));
                continue;
            };
            if let Some(v) = milli(loaded, &key, q, errors) {
                out.insert(name, v);
            }
        }
    }
    let pick = |name: &str| requests.get(name).or(limits.get(name)).copied();
    if let Some(cpu) = pick("cpu") {
        res.cpu_request_millis = cpu as f64;
    }
    if let Some(&cpu) = limits.get("cpu") {
        res.cpu_limit_millis = cpu as f64;
    }
    if let Some(mem) = pick("memory") {
        res.memory_request_bytes = (mem as f64 / 1000.0).ceil();
    }
    if let Some(&mem) = limits.get("memory") {
        res.memory_limit_bytes = (mem as f64 / 1000.0).ceil();
    }
    for name in ["cpu", "memory"] {
        if let (Some(r), Some(l)) = (requests.get(name), limits.get(name)) {
            if r > l {
                errors.push(loaded.error_at(
                    &format!("pod.resources.requests.{name}"),
                    format!(
                        "{:?} is more than the limit {:?} (Kubernetes requires request <= limit)",
                        pod.resources.requests[name].0, pod.resources.limits[name].0
                    ),
                ));
            }
        }
    }
    let gpu_key = "nvidia.com/gpu";
    if let (Some(r), Some(l)) = (requests.get(gpu_key), limits.get(gpu_key)) {
        if r != l {
            errors.push(loaded.error_at(
                "pod.resources.limits",
                "nvidia.com/gpu requests and limits must be equal (extended resources cannot be overcommitted)",
            ));
        }
    }
    if let Some(g) = pick(gpu_key) {
        if g % 1000 != 0 {
            errors.push(loaded.error_at(
                "pod.resources.limits",
                format!(
                    "nvidia.com/gpu must be a whole number of GPUs, got {}",
                    g as f64 / 1000.0
                ),
            ));
        } else {
            res.gpus = (g / 1000) as u32;
        }
    }

    // Usage model.
    let u = &pod.usage;
    let mut set = |key: &str, q: &Option<Quantity>, cpu: bool, out: &mut f64| {
        if let Some(q) = q {
            if let Some(v) = milli(loaded, &format!("pod.usage.{key}"), q, errors) {
                *out = if cpu { v as f64 } else { v as f64 / 1000.0 };
            }
        }
    };
    set("cpu_idle", &u.cpu_idle, true, &mut res.cpu_idle_millis);
    set(
        "cpu_per_request",
        &u.cpu_per_request,
        true,
        &mut res.cpu_per_request_millis,
    );
    set(
        "memory_baseline",
        &u.memory_baseline,
        false,
        &mut res.memory_baseline_bytes,
    );
    set(
        "memory_per_request",
        &u.memory_per_request,
        false,
        &mut res.memory_per_request_bytes,
    );
    set(
        "gpu_memory",
        &u.gpu_memory,
        false,
        &mut res.gpu_memory_bytes,
    );

    // Startup phases.
    let explicit = |k: &str| loaded.document.get("pod").and_then(|p| p.get(k)).is_some();
    let phases = pod.phases.as_ref().map(|ph| {
        if explicit("cold_start") && explicit("phases") {
            errors.push(loaded.error_at(
                "pod.phases",
                "give either `cold_start` (one number) or `phases`, not both",
            ));
        }
        let mut dist = |key: &str, d: &DistSpec| -> DurationDist {
            d.build(base).unwrap_or_else(|m| {
                errors.push(loaded.error_at(&format!("pod.phases.{key}"), m));
                DurationDist::constant(SimDuration::ZERO)
            })
        };
        let scheduling = dist("scheduling", &ph.scheduling);
        let image_pull_first = dist("image_pull.first", &ph.image_pull.first);
        let image_pull_cached = dist("image_pull.cached", &ph.image_pull.cached);
        let container_start = dist("container_start", &ph.container_start);
        let model_load = dist("model_load", &ph.model_load);
        let mut model_transfer = SimDuration::ZERO;
        match (&ph.model_size, &ph.model_bandwidth) {
            (Some(size), Some(bw)) => {
                let s = milli(loaded, "pod.phases.model_size", size, errors);
                let b = milli(loaded, "pod.phases.model_bandwidth", bw, errors);
                if let (Some(s), Some(b)) = (s, b) {
                    if b == 0 {
                        errors.push(loaded.error_at(
                            "pod.phases.model_bandwidth",
                            format!("{:?} must be greater than 0 (bytes per second)", bw.0),
                        ));
                    } else {
                        model_transfer = SimDuration::from_secs_f64(s as f64 / b as f64);
                    }
                }
            }
            (Some(_), None) => errors.push(loaded.error_at(
                "pod.phases.model_size",
                "needs `model_bandwidth` (bytes per second, e.g. \"500M\") to turn into a load time",
            )),
            (None, Some(_)) => errors.push(loaded.error_at(
                "pod.phases.model_bandwidth",
                "needs `model_size` (bytes, e.g. \"14G\")",
            )),
            (None, None) => {}
        }
        Phases {
            scheduling,
            image_pull_first,
            image_pull_cached,
            container_start,
            model_load,
            model_transfer,
            probe_initial_delay: ph.readiness.initial_delay,
            probe_period: ph.readiness.period,
        }
    });

    // Service model.
    let s = &pod.service;
    let model = s.model.as_deref().unwrap_or("fixed_slots");
    let service = match model {
        "fixed_slots" => ServiceModel::FixedSlots,
        "processor_sharing" => ServiceModel::ProcessorSharing,
        "gpu_batch" => {
            let max_batch = s.max_batch.unwrap_or(8);
            if max_batch == 0 || max_batch > 4096 {
                errors.push(loaded.error_at(
                    "pod.service.max_batch",
                    format!("{max_batch} is outside [1, 4096]"),
                ));
            }
            let max_batch = max_batch.clamp(1, 4096);
            let curve = s
                .batch_curve
                .clone()
                .unwrap_or_else(|| vec![(1, 1.0), (max_batch.max(2), 2.0)]);
            let ok_start = curve.first() == Some(&(1, 1.0));
            let increasing = curve.windows(2).all(|w| w[1].0 > w[0].0);
            let positive = curve.iter().all(|(_, f)| f.is_finite() && *f > 0.0);
            if !(ok_start && increasing && positive) {
                errors.push(loaded.error_at(
                    "pod.service.batch_curve",
                    format!("{curve:?} must be [batch, factor] points starting at [1, 1.0], with increasing batch sizes and positive factors"),
                ));
            }
            ServiceModel::GpuBatch(GpuBatch {
                max_batch,
                curve,
                prefill_per_token_s: s.prefill_per_token.map_or(0.0, |d| d.as_secs_f64()),
                decode_per_token_s: s.decode_per_token.map_or(0.0, |d| d.as_secs_f64()),
            })
        }
        other => {
            errors.push(loaded.error_at(
                "pod.service.model",
                format!("\"{other}\" is not a service model; allowed: fixed_slots, processor_sharing, gpu_batch"),
            ));
            ServiceModel::FixedSlots
        }
    };
    if model != "gpu_batch" {
        for (key, given) in [
            ("max_batch", s.max_batch.is_some()),
            ("batch_curve", s.batch_curve.is_some()),
            ("prefill_per_token", s.prefill_per_token.is_some()),
            ("decode_per_token", s.decode_per_token.is_some()),
        ] {
            if given {
                errors.push(loaded.error_at(
                    &format!("pod.service.{key}"),
                    format!("only applies to `model: gpu_batch` (the model is {model})"),
                ));
            }
        }
    }

    let cluster = spec
        .cluster
        .as_ref()
        .map(|c| build_cluster(loaded, c, &res, errors))
        .unwrap_or_default();
    (
        res,
        PodModel {
            phases,
            service,
            cluster,
        },
    )
}

fn build_cluster(
    loaded: &LoadedScenario,
    c: &ClusterSpec,
    res: &ResourceModel,
    errors: &mut Vec<ScenarioError>,
) -> ClusterModel {
    let policy = match c.scheduling.as_deref().unwrap_or("first_fit") {
        "first_fit" => Policy::FirstFit,
        "most_allocated" => Policy::MostAllocated,
        other => {
            errors.push(loaded.error_at(
                "cluster.scheduling",
                format!(
                    "\"{other}\" is not a scheduling policy; allowed: first_fit, most_allocated"
                ),
            ));
            Policy::FirstFit
        }
    };
    if c.node_pools.is_empty() {
        errors.push(loaded.error_at(
            "cluster.node_pools",
            "needs at least one pool, e.g. [{name: cpu, nodes: 3, cpu: 8, memory: 32Gi}]",
        ));
    }
    let mut pools = Vec::new();
    for (i, p) in c.node_pools.iter().enumerate() {
        let key = format!("cluster.node_pools[{i}]");
        if c.node_pools[..i].iter().any(|q| q.name == p.name) {
            errors.push(loaded.error_at(
                &format!("{key}.name"),
                format!("{:?} is used by another pool", p.name),
            ));
        }
        let cpu = milli(loaded, &format!("{key}.cpu"), &p.cpu, errors).unwrap_or(0);
        let mem = milli(loaded, &format!("{key}.memory"), &p.memory, errors).unwrap_or(0);
        let min_nodes = p.min_nodes.unwrap_or(0).min(p.nodes);
        let max_nodes = p.max_nodes.unwrap_or(p.nodes);
        if p.min_nodes.is_some_and(|m| m > p.nodes) || max_nodes < p.nodes {
            errors.push(loaded.error_at(
                &key,
                format!(
                    "needs min_nodes <= nodes <= max_nodes, got {} <= {} <= {max_nodes}",
                    p.min_nodes.unwrap_or(0),
                    p.nodes
                ),
            ));
        }
        if max_nodes > p.nodes && c.node_autoscaler.is_none() && c.autoscaler.is_none() {
            errors.push(loaded.error_at(
                &format!("{key}.max_nodes"),
                "has no effect without `cluster.autoscaler` (add `autoscaler: {}` for Cluster Autoscaler's defaults)",
            ));
        }
        let price = |k: &str, v: Option<f64>, errors: &mut Vec<ScenarioError>| match v {
            Some(x) if !(x.is_finite() && x >= 0.0) => {
                errors.push(loaded.error_at(
                    &format!("{key}.{k}"),
                    format!("{x} is not a price; allowed: a finite number >= 0"),
                ));
                0.0
            }
            v => v.unwrap_or(0.0),
        };
        let price_per_hour = price("price_per_hour", p.price_per_hour, errors);
        let gpu_price_per_hour = price("gpu_price_per_hour", p.gpu_price_per_hour, errors);
        if p.provision_delay.is_some() && c.node_autoscaler.is_none() && c.autoscaler.is_none() {
            errors.push(loaded.error_at(
                &format!("{key}.provision_delay"),
                "has no effect without `cluster.autoscaler`",
            ));
        }
        pools.push(NodePool {
            name: p.name.clone(),
            nodes: p.nodes,
            cpu_millis: cpu as u64,
            memory_bytes: (mem / 1000) as u64,
            gpus: p.gpus,
            min_nodes,
            max_nodes,
            price_per_hour,
            gpu_price_per_hour,
            priority: p.priority.unwrap_or(0),
            provision_delay: p.provision_delay,
        });
    }
    let model = ClusterModel {
        pools,
        policy,
        autoscaling: build_autoscaler(loaded, c, errors),
    };
    let cluster = crate::workload::cluster::Cluster::new(model.clone());
    let req = crate::workload::cluster::PodRequest {
        cpu_millis: res.cpu_request_millis.ceil() as u64,
        memory_bytes: res.memory_request_bytes.ceil() as u64,
        gpus: res.gpus,
    };
    if !model.pools.is_empty() && !cluster.can_ever_fit(&req) {
        errors.push(loaded.error_at(
            "cluster.node_pools",
            format!(
                "no pool's node can hold one pod (requests: {} millicores, {} bytes of memory, {} GPUs)",
                req.cpu_millis, req.memory_bytes, req.gpus
            ),
        ));
    }
    model
}

fn build_autoscaler(
    loaded: &LoadedScenario,
    c: &ClusterSpec,
    errors: &mut Vec<ScenarioError>,
) -> Option<NodeAutoscaling> {
    let d = NodeAutoscaling::default();
    let a = match (&c.node_autoscaler, &c.autoscaler) {
        (None, None) => return None,
        (Some(_), Some(_)) => {
            errors.push(loaded.error_at(
                "cluster.node_autoscaler",
                "give either `node_autoscaler` (legacy) or `autoscaler`, not both",
            ));
            return None;
        }
        (Some(l), None) => {
            return Some(NodeAutoscaling {
                provision_delay: l.provision_delay,
                scale_down_unneeded_time: l.scale_down_unneeded,
                ..d
            })
        }
        (None, Some(a)) => a,
    };
    let key = |k: &str| format!("cluster.autoscaler.{k}");
    let expander = match a.expander.as_deref() {
        None => d.expander,
        Some(s) => Expander::parse(s).unwrap_or_else(|| {
            errors.push(loaded.error_at(
                &key("expander"),
                format!("\"{s}\" is not an expander; allowed: {}", Expander::NAMES),
            ));
            d.expander
        }),
    };
    let mut threshold = |k: &str, v: Option<f64>, default: f64| match v {
        Some(x) if !(0.0..=1.0).contains(&x) => {
            errors.push(loaded.error_at(
                &key(k),
                format!("{x} is out of range; allowed: a fraction in [0, 1]"),
            ));
            default
        }
        v => v.unwrap_or(default),
    };
    let util = threshold(
        "scale-down-utilization-threshold",
        a.scale_down_utilization_threshold,
        d.scale_down_utilization_threshold,
    );
    let gpu_util = threshold(
        "scale-down-gpu-utilization-threshold",
        a.scale_down_gpu_utilization_threshold,
        d.scale_down_gpu_utilization_threshold,
    );
    let scan_interval = a.scan_interval.unwrap_or(d.scan_interval);
    if scan_interval == SimDuration::ZERO {
        errors.push(loaded.error_at(
            &key("scan-interval"),
            "must be longer than 0s (Cluster Autoscaler's default is 10s)",
        ));
    }
    let initial = a
        .initial_node_group_backoff_duration
        .unwrap_or(d.initial_node_group_backoff_duration);
    let max_backoff = a
        .max_node_group_backoff_duration
        .unwrap_or(d.max_node_group_backoff_duration);
    if initial > max_backoff {
        errors.push(loaded.error_at(
            &key("initial-node-group-backoff-duration"),
            format!("must not exceed max-node-group-backoff-duration ({max_backoff})"),
        ));
    }
    Some(NodeAutoscaling {
        scan_interval: if scan_interval == SimDuration::ZERO {
            d.scan_interval
        } else {
            scan_interval
        },
        provision_delay: a.provision_delay.unwrap_or(d.provision_delay),
        gpu_device_plugin_delay: a
            .gpu_device_plugin_delay
            .unwrap_or(d.gpu_device_plugin_delay),
        max_node_provision_time: a
            .max_node_provision_time
            .unwrap_or(d.max_node_provision_time),
        new_pod_buffer: a.new_pod_buffer.unwrap_or(d.new_pod_buffer),
        new_gpu_pod_buffer: a.new_gpu_pod_buffer.unwrap_or(d.new_gpu_pod_buffer),
        scale_down_enabled: a.scale_down_enabled.unwrap_or(d.scale_down_enabled),
        scale_down_utilization_threshold: util,
        scale_down_gpu_utilization_threshold: gpu_util,
        scale_down_unneeded_time: a
            .scale_down_unneeded_time
            .unwrap_or(d.scale_down_unneeded_time),
        scale_down_delay_after_add: a
            .scale_down_delay_after_add
            .unwrap_or(d.scale_down_delay_after_add),
        max_empty_bulk_delete: a.max_empty_bulk_delete.unwrap_or(d.max_empty_bulk_delete),
        initial_node_group_backoff_duration: initial,
        max_node_group_backoff_duration: max_backoff,
        expander,
    })
}
