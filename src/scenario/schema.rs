//! The scenario schema as written: the top-level spec and its `service`, `autoscaler`, `pod`,
//! `request_path` and `output` sections with their defaults (durations in simulated ns, see `time`).

use super::value::string_map;
use super::{activator, hpa, podspec};
use crate::dist::DistSpec;
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// The scenario as written (after overrides), before models are built.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Name used for the output folder and plot titles; defaults to the file stem.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated duration of the traffic, e.g. "10m".
    pub duration: SimDuration,
    /// Extra simulated time after the traffic ends, so scale-down and drain can be seen (default 0s).
    #[serde(default)]
    pub cooldown: SimDuration,
    /// Civil time (RFC 3339) of simulated time 0; used by cron schedules.
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub service: ServiceSpec,
    #[serde(default)]
    pub autoscaler: AutoscalerSpec,
    #[serde(default)]
    pub pod: PodSpec,
    #[serde(default)]
    pub request_path: RequestPathSpec,
    /// Node pools and scheduling (default: unlimited capacity).
    #[serde(default)]
    pub cluster: Option<podspec::ClusterSpec>,
    pub traffic: crate::traffic::TrafficSpec,
    #[serde(default)]
    pub output: OutputSpec,
    /// Several services sharing the cluster, as written (read by [`prepare_services`](super::prepare_services); see [`services`](super::services)).
    #[serde(default)]
    pub services: Option<Value>,
    /// Services generated from a multi-service trace, as written (see [`services::ServicesTraceSpec`](super::services::ServicesTraceSpec)).
    #[serde(default)]
    pub services_trace: Option<Value>,
    /// KServe InferenceServices with their components and an InferenceGraph, as written (read by
    /// [`prepare_services`](super::prepare_services); see [`kserve_topology`](super::kserve_topology)).
    #[serde(default)]
    pub kserve: Option<Value>,
    /// The revisions of the service behind a route, as written (see [`routes`](super::routes)).
    #[serde(default)]
    pub revisions: Option<Value>,
    /// The route over the revisions, as written (see [`routes`](super::routes)).
    #[serde(default)]
    pub route: Option<Value>,
}

fn default_seed() -> u64 {
    1
}

/// The KServe InferenceService component fields that matter for autoscaling.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Path to a real InferenceService (or Knative Service) manifest; fields set here override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The InferenceService component the manifest's fields come from (`predictor`, the default,
    /// `transformer` or `explainer`); set by the `kserve:` section for each component's revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(
        rename = "containerConcurrency",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_concurrency: Option<u32>,
    #[serde(
        rename = "minReplicas",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub min_replicas: Option<u32>,
    #[serde(
        rename = "maxReplicas",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_replicas: Option<u32>,
    #[serde(
        rename = "scaleMetric",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub scale_metric: Option<String>,
    #[serde(
        rename = "scaleTarget",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub scale_target: Option<f64>,
    /// `autoscaling.knative.dev/*` and `serving.kserve.io/*` annotations.
    #[serde(
        default,
        deserialize_with = "string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Request timeout (the revision's timeoutSeconds; Knative's default is 300 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<SimDuration>,
    /// The revision's state at time 0: `deployed` (created at 0, initial-scale pods cold-start; the
    /// default), `warm` (`initial_pods` pods Ready, autoscaler quiet) or `scaled_to_zero`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_state: Option<crate::autoscaler::kpa::adapter::InitialState>,
    /// Ready pods at time 0 for `initial_state: warm` (default: max(minReplicas, 1)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_pods: Option<u32>,
    /// Whether a route references the revision (Knative's reachability; default true). An unreachable
    /// revision ignores min-scale and scales down without rate limits or delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachable: Option<bool>,
}

/// Which autoscaler drives the replica count and its configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalerSpec {
    /// `kpa` (Knative Pod Autoscaler, the default), `hpa` (Kubernetes HPA), `keda` (a KEDA ScaledObject),
    /// `external` (KServe's name for a user-supplied HPA or KEDA), or `fixed` (no autoscaler: `replicas` pods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Pod count for `class: fixed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// `config-autoscaler` ConfigMap data, with Knative's key names and value formats.
    #[serde(
        default,
        deserialize_with = "string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub config: BTreeMap<String, String>,
    /// Path to a real `config-autoscaler` ConfigMap manifest; `config` keys override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configmap: Option<String>,
    /// KPA: lag between the reconciler patching the Deployment's replicas and the Deployment following
    /// (informer and API latency, which Knative does not fix; default 0s). The SKS mode changes at once.
    #[serde(default)]
    pub reconcile_delay: SimDuration,
    /// KPA: config-deployment `progress-deadline` (default 600s); the activation timeout is this (or the
    /// `serving.knative.dev/progress-deadline` annotation) + 30 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline: Option<SimDuration>,
    /// The HorizontalPodAutoscaler for class `hpa` (manifest or inline spec fields); see [`hpa`](super::hpa).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa: Option<hpa::HpaObjectSpec>,
    /// kube-controller-manager HPA flags (sync period, tolerance, windows).
    #[serde(default)]
    pub controller: hpa::HpaControllerSpec,
    /// metrics-server model: scrape resolution, phase and delay (Resource metrics).
    #[serde(default)]
    pub metrics_server: hpa::ScrapeSpec,
    /// Custom-metrics pipeline model (Pods, Object and External metrics).
    #[serde(default)]
    pub custom_metrics: hpa::ScrapeSpec,
    /// A CronHPA acting on the HPA or the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<hpa::CronScenarioSpec>,
    /// KEDA cron triggers, each an External metric of the HPA.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keda_cron: Vec<hpa::KedaCronSpec>,
    /// The KEDA ScaledObject for class `keda`: a path to a manifest, or the manifest inline; see [`keda`](super::keda).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaledobject: Option<Value>,
}

/// The pod model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSpec {
    /// A named starting point (`small-cpu`, `llm-7b-gpu`, see [`presets`](super::presets)); keys written here override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Startup phase by phase; replaces `cold_start` (giving both is an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<podspec::PhasesSpec>,
    /// The service discipline.
    #[serde(default)]
    pub service: podspec::ServiceModelSpec,
    /// Kubernetes resource requests and limits.
    #[serde(default)]
    pub resources: podspec::ResourcesSpec,
    /// Resource use as a function of load.
    #[serde(default)]
    pub usage: podspec::UsageSpec,
    /// Time from pod creation to Ready (scheduling, image pull, start, model load, readiness probe). With
    /// `request_path.activator.kubelet_readiness_delay` set, the time to the user container being ready;
    /// the kubelet's Ready follows that much later.
    #[serde(default = "default_cold_start")]
    pub cold_start: DistSpec,
    /// Time the container works on one request once it holds a slot.
    #[serde(default = "default_service_time")]
    pub service_time: DistSpec,
    /// terminationGracePeriodSeconds: in-flight requests get this long to finish after a pod is told to stop.
    #[serde(default = "default_grace")]
    pub termination_grace: SimDuration,
}

fn default_cold_start() -> DistSpec {
    DistSpec::fixed(SimDuration::from_secs(10))
}
fn default_service_time() -> DistSpec {
    DistSpec::fixed(SimDuration::from_millis(100))
}
fn default_grace() -> SimDuration {
    SimDuration::from_secs(30)
}

impl Default for PodSpec {
    fn default() -> Self {
        PodSpec {
            preset: None,
            phases: None,
            service: podspec::ServiceModelSpec::default(),
            resources: podspec::ResourcesSpec::default(),
            usage: podspec::UsageSpec::default(),
            cold_start: default_cold_start(),
            service_time: default_service_time(),
            termination_grace: default_grace(),
        }
    }
}

/// Time a request spends outside the pod, one way; each part is applied on the way in and on the way out
/// (sampled independently each way).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestPathSpec {
    /// Client-side time (connection handling, serialization).
    #[serde(default = "zero_dist")]
    pub client: DistSpec,
    /// Ingress gateway (Istio, Kourier) processing.
    #[serde(default = "zero_dist")]
    pub ingress: DistSpec,
    /// Network transit.
    #[serde(default = "zero_dist")]
    pub network: DistSpec,
    /// The activator fleet and its probing of starting pods.
    #[serde(default)]
    pub activator: activator::ActivatorSpec,
}

fn zero_dist() -> DistSpec {
    DistSpec::fixed(SimDuration::ZERO)
}

impl Default for RequestPathSpec {
    fn default() -> Self {
        RequestPathSpec {
            client: zero_dist(),
            ingress: zero_dist(),
            network: zero_dist(),
            activator: activator::ActivatorSpec::default(),
        }
    }
}

/// What a run writes besides `summary.json` and `timeseries.csv`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Write `requests.csv` with one row per request (memory and disk grow with the request count).
    #[serde(default)]
    pub per_request: bool,
    /// Write `pods.csv`: each Ready pod's vLLM gauges every second (pods with a KV cache only).
    #[serde(default)]
    pub per_pod: bool,
    /// Render plots and the HTML report.
    #[serde(default = "yes")]
    pub plots: bool,
    /// Several services: one `services.csv` row per service every this long (whole seconds, default 60s).
    #[serde(default = "default_service_interval")]
    pub service_interval: SimDuration,
    /// SLO attainment in the summary: `{p99_ms: 500, window: 60s}` (see [`crate::observe::slo`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<crate::observe::slo::SloSpec>,
}

fn default_service_interval() -> SimDuration {
    SimDuration::from_secs(60)
}

fn yes() -> bool {
    true
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec {
            per_request: false,
            per_pod: false,
            plots: true,
            service_interval: default_service_interval(),
            slo: None,
        }
    }
}
