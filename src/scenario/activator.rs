//! `request_path.activator`: how many activator pods run and when a starting pod becomes a routing target
//! for them (the queue-proxy probe optimisation). Read into
//! [`ActivatorSettings`](crate::request_path::activator_fleet::ActivatorSettings); see
//! [`crate::request_path::activator_fleet`] for the model.

use super::{LoadedScenario, ScenarioError};
use crate::request_path::activator_fleet::{
    ActivatorSettings, DEFAULT_PROBE_PERIOD, MAX_ACTIVATOR_REPLICAS,
};
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};

/// The activator fleet as written in the scenario.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivatorSpec {
    /// Activator pods; the ServerlessService publishes `min(num_activators, replicas)` of them per
    /// revision. 1 (the default) is one activator standing for the fleet.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Route to a starting pod from the activator's first successful queue-proxy probe, before the
    /// kubelet marks it Ready (Knative's default unless the revision has an exec or startup probe).
    #[serde(default = "yes")]
    pub probe_optimisation: bool,
    /// The activator's probe period for pods not yet seen healthy (Knative: 200ms).
    #[serde(default = "default_probe_period")]
    pub probe_period: SimDuration,
    /// With the single-number `pod.cold_start` (which then ends when the user container is ready): how
    /// much later the kubelet marks the pod Ready. With `pod.phases` the kubelet's probe is
    /// `pod.phases.readiness` and this must stay 0s.
    #[serde(default)]
    pub kubelet_readiness_delay: SimDuration,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_probe_period() -> SimDuration {
    DEFAULT_PROBE_PERIOD
}

impl Default for ActivatorSpec {
    fn default() -> Self {
        ActivatorSpec {
            replicas: one(),
            probe_optimisation: yes(),
            probe_period: default_probe_period(),
            kubelet_readiness_delay: SimDuration::ZERO,
        }
    }
}

/// The longest probe period or kubelet delay accepted (beyond it a pod would effectively never be probed).
const MAX_PROBE_DURATION: SimDuration = SimDuration::from_secs(3600);

/// Validates `request_path.activator`; `phases` is whether the scenario uses `pod.phases`.
pub(crate) fn settings(
    loaded: &LoadedScenario,
    phases: bool,
    errors: &mut Vec<ScenarioError>,
) -> ActivatorSettings {
    let spec = &loaded.spec.request_path.activator;
    let key = |k: &str| format!("request_path.activator.{k}");
    if spec.replicas == 0 || spec.replicas > MAX_ACTIVATOR_REPLICAS {
        errors.push(loaded.error_at(
            &key("replicas"),
            format!(
                "{} activator pods: allowed 1 to {MAX_ACTIVATOR_REPLICAS} (Knative's activator HPA runs 1 to 20)",
                spec.replicas
            ),
        ));
    }
    for (name, value) in [
        ("probe_period", spec.probe_period),
        ("kubelet_readiness_delay", spec.kubelet_readiness_delay),
    ] {
        if value > MAX_PROBE_DURATION {
            errors.push(loaded.error_at(
                &key(name),
                format!("{value} is too long: allowed 0s to {MAX_PROBE_DURATION}"),
            ));
        }
    }
    if phases && spec.kubelet_readiness_delay > SimDuration::ZERO {
        errors.push(loaded.error_at(
            &key("kubelet_readiness_delay"),
            format!(
                "{} is only for the single-number pod.cold_start; with pod.phases the kubelet's probe is pod.phases.readiness (initial_delay, period)",
                spec.kubelet_readiness_delay
            ),
        ));
    }
    ActivatorSettings {
        replicas: spec.replicas.clamp(1, MAX_ACTIVATOR_REPLICAS),
        probe_optimisation: spec.probe_optimisation,
        probe_period: spec.probe_period,
        kubelet_readiness_delay: spec.kubelet_readiness_delay,
    }
}
