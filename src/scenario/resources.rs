//! `pod.resources`: the pod's Kubernetes resource requests and limits, as written in a container spec.
//!
//! ```yaml
//! pod:
//!   resources:
//!     requests: {cpu: "1", memory: 2Gi, nvidia.com/gpu: 1}
//!     limits: {cpu: "2", memory: 4Gi, nvidia.com/gpu: 1}
//! ```
//!
//! Values are Kubernetes quantities ("500m", "2", "1Gi"). They set the requests and limits of the
//! [`ResourceModel`] (the load-to-usage part keeps its defaults). The HPA divides usage by the requests for
//! Utilization targets; a GPU (requested or limited) makes the pod's GPU busy while requests execute.
//! Allowed resource names: `cpu`, `memory`, `nvidia.com/gpu`.

use super::{LoadedScenario, ScenarioError};
use crate::autoscaler::hpa::parse_quantity_milli;
use crate::sim::ResourceModel;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// `pod.resources`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSpec {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Value>,
}

const NAMES: &str = "cpu, memory, nvidia.com/gpu";

/// Applies `pod.resources` to the default resource model, pushing located errors.
pub fn resource_model(
    loaded: &LoadedScenario,
    spec: Option<&ResourcesSpec>,
    errors: &mut Vec<ScenarioError>,
) -> ResourceModel {
    let mut model = ResourceModel::default();
    let Some(spec) = spec else { return model };
    for (section, map) in [("requests", &spec.requests), ("limits", &spec.limits)] {
        for (name, value) in map {
            let key = format!("pod.resources.{section}.\"{name}\"");
            let text = super::scalar_to_string(value).unwrap_or_default();
            let milli = match parse_quantity_milli(&text) {
                Ok(m) if m >= 0 => m as f64,
                Ok(_) => {
                    errors.push(loaded.error_at(&key, format!("{text:?} must not be negative")));
                    continue;
                }
                Err(e) => {
                    errors.push(loaded.error_at(&key, e.to_string()));
                    continue;
                }
            };
            match (name.as_str(), section) {
                ("cpu", "requests") => model.cpu_request_millis = milli,
                ("cpu", _) => model.cpu_limit_millis = milli,
                ("memory", "requests") => model.memory_request_bytes = milli / 1000.0,
                ("memory", _) => model.memory_limit_bytes = milli / 1000.0,
                ("nvidia.com/gpu", _) => {
                    if milli % 1000.0 != 0.0 {
                        errors.push(
                            loaded
                                .error_at(&key, format!("{text:?} must be a whole number of GPUs")),
                        );
                    } else {
                        model.gpus = model.gpus.max((milli / 1000.0) as u32);
                    }
                }
                (other, _) => errors.push(loaded.error_at(
                    &key,
                    format!("resource \"{other}\" is not modelled; allowed: {NAMES}"),
                )),
            }
        }
    }
    model
}
