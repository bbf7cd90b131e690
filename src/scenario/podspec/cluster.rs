//! The `cluster` keys (node pools, the cluster autoscaler) and their validation into a [`ClusterModel`].

use super::build::milli;
use super::Quantity;
use crate::scenario::{LoadedScenario, ScenarioError};
use crate::time::SimDuration;
use crate::workload::cluster::{ClusterModel, Expander, NodeAutoscaling, NodePool, Policy};
use crate::workload::pods::ResourceModel;
use serde::{Deserialize, Serialize};

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

pub(super) fn build_cluster(
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
