//! Validation of `pod.*` (resources, usage, phases, service model) and `cluster` into the simulator's
//! [`ResourceModel`] and [`PodModel`].

use super::cluster::build_cluster;
use super::{Quantity, ResourcesSpec, MAX_KV_CACHE_TOKENS};
use crate::autoscaler::hpa::parse_quantity_milli;
use crate::dist::{DistSpec, DurationDist};
use crate::scenario::{LoadedScenario, ScenarioError};
use crate::sim::PodModel;
use crate::time::SimDuration;
use crate::workload::discipline::{GpuBatch, ServiceModel};
use crate::workload::pods::ResourceModel;
use crate::workload::startup::Phases;
use std::collections::BTreeMap;

const RESOURCE_KEYS: &[&str] = &["cpu", "memory", "nvidia.com/gpu"];

/// Parses a quantity into milli-units, reporting a located error.
pub(super) fn milli(
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

/// Builds the resource and pod/cluster models from `spec.pod` and `spec.cluster`; `manifest_resources`
/// (the service manifest's container resources, already validated) apply when `pod.resources` is empty.
pub fn build(
    loaded: &LoadedScenario,
    manifest_resources: Option<&ResourcesSpec>,
    errors: &mut Vec<ScenarioError>,
) -> (ResourceModel, PodModel) {
    let spec = &loaded.spec;
    let pod = &spec.pod;
    let scenario_resources =
        !(pod.resources.requests.is_empty() && pod.resources.limits.is_empty());
    let resources_spec = match manifest_resources {
        Some(m) if !scenario_resources => m,
        _ => &pod.resources,
    };
    let base = loaded.base_dir.as_path();
    let mut res = ResourceModel::default();

    // Resources: requests and limits.
    let mut requests: BTreeMap<&str, i64> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i64> = BTreeMap::new();
    for (section, map, out) in [
        ("requests", &resources_spec.requests, &mut requests),
        ("limits", &resources_spec.limits, &mut limits),
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
                        resources_spec.requests[name].0, resources_spec.limits[name].0
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
            let decode_per_token_s = s.decode_per_token.map_or(0.0, |d| d.as_secs_f64());
            if let Some(kv) = s.kv_cache_tokens {
                if kv == 0 || kv > MAX_KV_CACHE_TOKENS {
                    errors.push(loaded.error_at(
                        "pod.service.kv_cache_tokens",
                        format!("{kv} is outside [1, {MAX_KV_CACHE_TOKENS}] tokens"),
                    ));
                } else if decode_per_token_s <= 0.0 {
                    errors.push(loaded.error_at(
                        "pod.service.kv_cache_tokens",
                        "needs a positive `pod.service.decode_per_token` (the KV cache grows by one token per decoded token)".to_string(),
                    ));
                }
            }
            ServiceModel::GpuBatch(GpuBatch {
                max_batch,
                curve,
                prefill_per_token_s: s.prefill_per_token.map_or(0.0, |d| d.as_secs_f64()),
                decode_per_token_s,
                kv_cache_tokens: s
                    .kv_cache_tokens
                    .filter(|&kv| kv > 0 && kv <= MAX_KV_CACHE_TOKENS && decode_per_token_s > 0.0),
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
            ("kv_cache_tokens", s.kv_cache_tokens.is_some()),
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
