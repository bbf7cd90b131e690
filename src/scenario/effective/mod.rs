//! `effective_config` in `summary.json`: the values a run actually used, after every layer is resolved
//! (Knative's defaults, the `config-autoscaler` ConfigMap, the scenario's `autoscaler.config`, KServe's
//! mapping of `scaleTarget`/`minReplicas`/`maxReplicas`/`scaleMetric` onto revision annotations, the
//! user's annotations, the HPA manifest merge, the KEDA ScaledObject, `--set`), not the document as
//! written.
//!
//! Shape (documented in README's output section): one object per concern (`autoscaler`, `kpa`, `hpa`,
//! `keda`, `pod`, `request_path`, `traffic`, `cluster`). A value that is the model's default is written
//! bare; any other value is `{"value": v, "source": s}` with `s` one of `configmap`, `scenario`,
//! `--set`, `annotation`, `kserve field`, `kserve default`, `manifest`, `containerConcurrency`.
//! Durations are strings with their unit ("60s"), rates are factors, percentages are named so.
//!
//! Simplification: sources are tracked per key for the KPA (where several layers meet); for the HPA,
//! KEDA, pod and traffic sections a value says `scenario`/`manifest` at the granularity the scenario
//! reader keeps (the inline field versus the referenced manifest), not per nested field.

mod kpa;
mod scalers;
pub use kpa::{kpa_section, KpaInputs};
pub use scalers::{hpa_section, keda_section};

use super::locate::{split_path, Segment};
use super::LoadedScenario;
use crate::sim::{AutoscalerMode, SimConfig};
use serde_json::{json, Map, Value};

/// `v` bare when `source` is `None` (the default), else `{"value": v, "source": source}`.
pub fn entry(value: Value, source: Option<&str>) -> Value {
    match source {
        None => value,
        Some(s) => json!({"value": value, "source": s}),
    }
}

/// Where the scenario's own keys came from: the file or a `--set` override.
pub struct Origins<'a> {
    loaded: &'a LoadedScenario,
}

impl<'a> Origins<'a> {
    pub fn new(loaded: &'a LoadedScenario) -> Self {
        Origins { loaded }
    }

    /// `--set` when an override names `path` (dotted, as the user writes it) or a parent of it, else
    /// `scenario`.
    pub fn scenario(&self, path: &[&str]) -> &'static str {
        let set = self.loaded.overrides.iter().any(|o| {
            let key = o.split_once('=').map_or(o.as_str(), |(k, _)| k);
            let segments: Vec<String> = split_path(key.trim())
                .into_iter()
                .filter_map(|s| match s {
                    Segment::Key(k) => Some(k),
                    Segment::Index(_) => None,
                })
                .collect();
            !segments.is_empty()
                && segments.len() <= path.len()
                && segments.iter().zip(path).all(|(a, b)| a == b)
        });
        if set {
            "--set"
        } else {
            "scenario"
        }
    }
}

/// Everything else a run used: the pod model, the request path, traffic and the cluster.
pub struct RunInputs<'a> {
    pub class: &'a str,
    pub container_concurrency: u32,
    /// Where `containerConcurrency` came from (`None` = Knative's default 0, unlimited).
    pub cc_source: Option<&'static str>,
    pub timeout_source: Option<&'static str>,
    pub kpa: Option<Value>,
    pub keda: Option<Value>,
}

/// The whole `effective_config` object.
pub fn build(origins: &Origins, config: &SimConfig, inputs: RunInputs) -> Value {
    let spec = &origins.loaded.spec;
    let mut root = Map::new();
    root.insert("name".into(), json!(config.name));
    root.insert("seed".into(), json!(config.seed));
    root.insert(
        "duration".into(),
        json!(config.traffic_duration.to_string()),
    );
    root.insert("cooldown".into(), json!(config.cooldown.to_string()));
    // The class: the scenario's `autoscaler.class`, else an annotation chose it (or the KPA by default).
    let class_source = if spec.autoscaler.class.is_some() {
        Some(origins.scenario(&["autoscaler", "class"]))
    } else if inputs.class != "kpa" {
        Some("annotation")
    } else {
        None
    };
    let mut autoscaler = json!({ "class": entry(json!(inputs.class), class_source) });
    match &config.autoscaler {
        AutoscalerMode::Fixed { replicas } => {
            autoscaler["replicas"] = json!(replicas);
        }
        AutoscalerMode::Kpa(setup) => {
            autoscaler["reconcile_delay"] = json!(setup.reconcile_delay.to_string());
            autoscaler["initial_state"] =
                json!(format!("{:?}", setup.initial_state).to_lowercase());
            autoscaler["warm_pods"] = json!(setup.warm_pods);
            autoscaler["reachable"] = json!(setup.scaling.decider.reachable);
            if let Some(k) = inputs.kpa {
                root.insert("kpa".into(), k);
            }
        }
        AutoscalerMode::Hpa(setup) => {
            root.insert("hpa".into(), hpa_section(origins, setup));
        }
        AutoscalerMode::Custom(_) => {
            if let Some(k) = inputs.keda {
                root.insert("keda".into(), k);
            }
        }
    }
    if config.standalone_cron.is_some() {
        autoscaler["cron"] = json!(true);
    }
    root.insert("autoscaler".into(), autoscaler);
    let pod = &spec.pod;
    let pod_source = |key: &str, set: bool| set.then(|| origins.scenario(&["pod", key]));
    let mut pod_json = json!({
        "containerConcurrency": entry(json!(inputs.container_concurrency), inputs.cc_source),
        "service_model": config.pod_model.service.label(),
        "service_time": config.service_time.describe(),
        "cold_start": if config.pod_model.phases.is_some() {
            serde_json::to_value(&pod.phases).unwrap_or(Value::Null)
        } else {
            json!(config.cold_start.describe())
        },
        "termination_grace": config.termination_grace.to_string(),
        "service": serde_json::to_value(&pod.service).unwrap_or(Value::Null),
        "resources": serde_json::to_value(&pod.resources).unwrap_or(Value::Null),
        "usage": serde_json::to_value(&pod.usage).unwrap_or(Value::Null),
    });
    if let Some(p) = &pod.preset {
        pod_json["preset"] = entry(json!(p), pod_source("preset", true));
    }
    root.insert("pod".into(), pod_json);
    let [client, ingress, network] = &config.request_path;
    root.insert(
        "request_path".into(),
        json!({
            "client": client.describe(),
            "ingress": ingress.describe(),
            "network": network.describe(),
            "timeout": entry(json!(config.request_timeout.to_string()), inputs.timeout_source),
            "activator": match &config.autoscaler {
                AutoscalerMode::Kpa(setup) => json!({
                    "in_path": "when excess burst capacity < 0 or no pod is ready",
                    "capacity": setup.scaling.activator_capacity,
                    "target-burst-capacity": setup.scaling.decider.target_burst_capacity,
                    "probe_delay": setup.activator_probe_delay.to_string(),
                }),
                _ => json!({"in_path": "never (requests go straight to the pods)"}),
            },
        }),
    );
    let traffic_params = origins
        .loaded
        .document
        .get("traffic")
        .and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or(Value::Null);
    root.insert(
        "traffic".into(),
        json!({
            "kind": traffic_params.get("kind").cloned().unwrap_or(Value::Null),
            "resolved": spec.traffic.describe(),
            "params": traffic_params,
        }),
    );
    root.insert(
        "cluster".into(),
        match &spec.cluster {
            Some(c) => entry(
                serde_json::to_value(c).unwrap_or(Value::Null),
                Some(origins.scenario(&["cluster"])),
            ),
            None => json!("one node of unlimited capacity (no `cluster` section)"),
        },
    );
    Value::Object(root)
}
