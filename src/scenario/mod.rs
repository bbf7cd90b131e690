//! Scenario files: the YAML schema, loading of real KServe / Knative manifests, `--set` overrides and
//! validation with errors that name the file, the line, the key, the value and what is allowed.
//!
//! A scenario reads like what a KServe user already has:
//!
//! ```yaml
//! name: quickstart
//! duration: 60s
//! seed: 1
//! service:                       # KServe InferenceService component fields (camelCase, as in the CRD)
//!   containerConcurrency: 0
//!   minReplicas: 1
//!   scaleMetric: concurrency
//!   scaleTarget: 10
//!   annotations: {autoscaling.knative.dev/window: "60s"}
//!   # manifest: my-isvc.yaml     # or read those fields from a real InferenceService
//! autoscaler:
//!   class: kpa                   # kpa | hpa | external | fixed (HPA keys: see the `hpa` module)
//!   config: {stable-window: "60s", panic-threshold-percentage: "200"}   # config-autoscaler data keys
//!   # configmap: config-autoscaler.yaml   # or a real ConfigMap manifest
//! pod:
//!   cold_start: 10s
//!   service_time: {dist: exponential, mean: 100ms}
//! request_path: {client: 1ms, ingress: 2ms, network: 1ms}   # one way, applied in each direction
//! traffic: {kind: poisson, rate: 100}
//! ```
//!
//! Loading happens in stages so that `validate` can report every problem at once: YAML syntax, then each
//! top-level section's structure (each with its line), then `--set` overrides, then semantic checks.

pub mod activator;
mod build;
pub mod effective;
mod error;
pub mod hpa;
pub mod keda;
pub mod limits;
pub mod locate;
pub mod manifests;
pub mod overrides;
mod pinpoint;
pub mod podspec;
pub mod presets;
pub mod services;
pub mod services_trace;
pub mod warnings;

pub use build::{prepare, Prepared, DEFAULT_REQUEST_TIMEOUT};
pub use error::{edit_distance, suggest, with_suggestion, ScenarioError, ScenarioErrors};
pub use services::{prepare_services, PreparedService, PreparedServices};

use crate::dist::DistSpec;
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// Several services sharing the cluster, as written (read by [`prepare_services`]; see [`services`]).
    #[serde(default)]
    pub services: Option<Value>,
    /// Services generated from a multi-service trace, as written (see [`services::ServicesTraceSpec`]).
    #[serde(default)]
    pub services_trace: Option<Value>,
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
    /// The HorizontalPodAutoscaler for class `hpa` (manifest or inline spec fields); see [`hpa`].
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
    /// The KEDA ScaledObject for class `keda`: a path to a manifest, or the manifest inline; see [`keda`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaledobject: Option<Value>,
}

/// The pod model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSpec {
    /// A named starting point (`small-cpu`, `llm-7b-gpu`, see [`presets`]); keys written here override it.
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

/// Reads a map whose values may be written as YAML strings, numbers or booleans (ConfigMap data and
/// annotations are strings in Kubernetes; users often leave the quotes off).
fn string_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    use serde::de::Error;
    let raw: BTreeMap<String, Value> = BTreeMap::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| match scalar_to_string(&v) {
            Some(s) => Ok((k, s)),
            None => Err(D::Error::custom(format!(
                "`{k}` must be a string, number or boolean, got {}",
                kind_of(&v)
            ))),
        })
        .collect()
}

pub(crate) fn scalar_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A value as the user would write it in YAML (one line, at most 60 characters), for error messages.
pub(crate) fn show_value(v: &Value) -> String {
    let text = match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Null => "nothing".to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| kind_of(other).to_string()),
    };
    let chars = text.chars().count();
    if chars > 60 {
        format!(
            "{}... ({chars} characters)",
            text.chars().take(60).collect::<String>()
        )
    } else {
        text
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A scenario file read, overridden and structurally checked, with where it came from.
#[derive(Clone, Debug)]
pub struct LoadedScenario {
    pub path: PathBuf,
    /// Folder of the scenario file: relative paths inside it resolve against this.
    pub base_dir: PathBuf,
    pub text: String,
    pub spec: ScenarioSpec,
    /// The document after overrides and presets.
    pub document: Value,
    /// The `--set KEY=VALUE` overrides applied, as given (the effective configuration names them as sources).
    pub overrides: Vec<String>,
    /// Structural errors in sections that were set aside (read as their defaults) so that the rest of the
    /// scenario could still be checked; [`prepare`] reports them together with its own.
    pub deferred_errors: Vec<ScenarioError>,
    /// Set on the single-service scenario of one `services:` entry (see [`services`]).
    pub(crate) scope: Option<ServiceScope>,
}

/// Where one service's own sections sit in a multi-service file, so that its errors point there.
#[derive(Clone, Debug)]
pub(crate) struct ServiceScope {
    /// `services[3].`
    pub prefix: String,
    /// The sections the entry writes itself; errors in inherited sections point at the top level.
    pub sections: Vec<String>,
}

impl LoadedScenario {
    /// Name for outputs: `name:` or the file stem.
    pub fn name(&self) -> String {
        self.spec.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        })
    }

    /// An error at `key`, located in the file when possible.
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        let scoped;
        let key = match &self.scope {
            Some(scope)
                if scope
                    .sections
                    .iter()
                    .any(|s| key == s || key.starts_with(&format!("{s}."))) =>
            {
                scoped = format!("{}{key}", scope.prefix);
                scoped.as_str()
            }
            _ => key,
        };
        ScenarioError {
            file: self.path.clone(),
            line: locate::locate_key_or_parent(&self.text, key),
            key: key.to_string(),
            message: message.into(),
        }
    }
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "description",
    "seed",
    "duration",
    "cooldown",
    "start_time",
    "service",
    "autoscaler",
    "pod",
    "request_path",
    "cluster",
    "traffic",
    "output",
    "services",
    "services_trace",
];

/// Reads a scenario file and applies `--set` overrides. Returns every structural error found.
pub fn load(path: &Path, overrides: &[String]) -> Result<LoadedScenario, ScenarioErrors> {
    let file = path.to_path_buf();
    let err = |line: Option<usize>, key: &str, message: String| ScenarioError {
        file: file.clone(),
        line,
        key: key.into(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        ScenarioErrors(vec![err(
            None,
            "",
            format!("cannot read the scenario file: {e}"),
        )])
    })?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_str(&text, path, &base_dir, overrides)
}

/// Loads a parsed YAML document as a scenario: it is written out as YAML and read by [`load_str`], so line
/// numbers in errors refer to that rendering (keys are kept in the document's order). Errors name `name`.
pub fn load_value(
    document: &Value,
    name: &Path,
    base_dir: &Path,
    overrides: &[String],
) -> Result<LoadedScenario, ScenarioErrors> {
    let text = serde_yaml::to_string(document).map_err(|e| {
        ScenarioErrors(vec![ScenarioError {
            file: name.to_path_buf(),
            line: None,
            key: String::new(),
            message: format!("cannot render the document as YAML: {e}"),
        }])
    })?;
    load_str(&text, name, base_dir, overrides)
}

/// [`load`] for scenario text that is not in a file: errors name `name` as the file (for example
/// `playground.yaml`), and relative paths inside the scenario (traces, empirical samples, manifests)
/// resolve against `base_dir`.
pub fn load_str(
    text: &str,
    name: &Path,
    base_dir: &Path,
    overrides: &[String],
) -> Result<LoadedScenario, ScenarioErrors> {
    let path = name;
    let file = path.to_path_buf();
    let err = |line: Option<usize>, key: &str, message: String| ScenarioError {
        file: file.clone(),
        line,
        key: key.into(),
        message,
    };
    let text = text.to_string();
    if let Err((line, message)) = limits::check_text(&text) {
        return Err(ScenarioErrors(vec![err(
            line,
            "",
            format!("refused before parsing: {message}"),
        )]));
    }
    let mut document: Value = serde_yaml::from_str(&text).map_err(|e| {
        ScenarioErrors(vec![err(
            e.location().map(|l| l.line()),
            "",
            format!("malformed YAML: {}", strip_location(&e.to_string())),
        )])
    })?;
    if !document.is_mapping() {
        return Err(ScenarioErrors(vec![err(
            Some(1),
            "",
            "a scenario is a YAML map with keys such as `duration`, `traffic`, `service`".into(),
        )]));
    }

    // Structure, one top-level section at a time so one bad section does not hide the others. Each section
    // is parsed from the original text with every other line blanked, which keeps serde's line numbers.
    let mut errors = Vec::new();
    let mut set_aside: Vec<String> = Vec::new();
    let map = document.as_mapping().expect("checked above");
    for key in map.keys() {
        let Some(k) = key.as_str() else {
            errors.push(err(
                None,
                "",
                format!("top-level keys must be strings, got {}", show_value(key)),
            ));
            continue;
        };
        if !TOP_LEVEL_KEYS.contains(&k) {
            set_aside.push(k.to_string());
            let hint = suggest(k, TOP_LEVEL_KEYS.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            errors.push(err(
                locate::locate_key(&text, k),
                k,
                format!("unknown key; allowed: {}{hint}", TOP_LEVEL_KEYS.join(", ")),
            ));
        }
    }
    for section in [
        "service",
        "autoscaler",
        "pod",
        "request_path",
        "cluster",
        "traffic",
        "output",
    ] {
        if map.contains_key(section) {
            let found = pinpoint::section_errors(&text, section, path, map.get(section));
            if !found.is_empty() {
                errors.extend(found);
                set_aside.push(section.to_string());
            }
        }
    }
    let multi = services::is_multi(&document);
    for required in ["duration", "traffic"] {
        if required == "traffic" && multi {
            continue;
        }
        if !map.contains_key(required)
            && !overrides
                .iter()
                .any(|o| o.starts_with(&format!("{required}=")))
        {
            errors.push(err(None, required, "is required".into()));
        }
    }
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    let required_missing = errors
        .iter()
        .any(|e| e.key == "duration" || e.key == "traffic" || e.key.starts_with("traffic."));
    if required_missing || set_aside.iter().any(|k| k == "traffic") {
        return Err(ScenarioErrors(errors));
    }
    // Read the broken sections as their defaults, so the semantic checks of everything else still run.
    let deferred_errors = std::mem::take(&mut errors);
    if let Some(map) = document.as_mapping_mut() {
        for key in &set_aside {
            map.remove(key.as_str());
        }
    }

    let before_overrides = document.clone();
    for o in overrides {
        if let Err(message) = overrides::apply_override(&mut document, o) {
            errors.push(err(None, &format!("--set {o}"), message));
        }
    }
    if let Err(message) = presets::apply(&mut document) {
        errors.push(err(
            locate::locate_key(&text, "pod.preset"),
            "pod.preset",
            message,
        ));
    }
    if !errors.is_empty() {
        errors.extend(deferred_errors);
        return Err(ScenarioErrors(errors));
    }
    let spec: ScenarioSpec =
        serde_yaml::from_value(services::shared_part(&document)).map_err(|e| {
            // A whole-document error has no key path: find the top-level value that caused it.
            if let Some((key, message)) = scalar_field_error(&document) {
                let from_set = overrides.iter().any(|o| o.starts_with(&format!("{key}=")));
                let key = if from_set {
                    format!("--set {key}")
                } else {
                    key.to_string()
                };
                let line = if from_set {
                    None
                } else {
                    locate::locate_key(&text, &key)
                };
                return ScenarioErrors(vec![err(line, &key, message)]);
            }
            let msg = with_suggestion(&pinpoint::humanize(&strip_location(&e.to_string())));
            // Name the override that breaks the scenario on its own, if one does.
            let culprit = overrides.iter().find(|o| {
                let mut alone = before_overrides.clone();
                overrides::apply_override(&mut alone, o).is_ok()
                    && serde_yaml::from_value::<ScenarioSpec>(services::shared_part(&alone))
                        .is_err()
            });
            let key = match culprit {
                Some(o) => format!("--set {o}"),
                None if overrides.is_empty() => String::new(),
                None => format!("(after --set {})", overrides.join(", ")),
            };
            ScenarioErrors(vec![err(e.location().map(|l| l.line()), &key, msg)])
        })?;
    Ok(LoadedScenario {
        path: file,
        base_dir: base_dir.to_path_buf(),
        text,
        spec,
        document,
        overrides: overrides.to_vec(),
        deferred_errors,
        scope: None,
    })
}

pub(crate) fn check_section(text: &str, section: &str, path: &Path) -> Option<ScenarioError> {
    let mut inside = false;
    let masked: String = text
        .lines()
        .map(|line| {
            let top_level = !line.is_empty() && !line.starts_with([' ', '\t', '#', '-']);
            if top_level {
                inside = line.starts_with(&format!("{section}:"));
            }
            if inside {
                line
            } else {
                ""
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let result = match section {
        "service" => serde_yaml::from_str::<Section<ServiceSpec>>(&masked).map(|_| ()),
        "autoscaler" => serde_yaml::from_str::<Section<AutoscalerSpec>>(&masked).map(|_| ()),
        "pod" => serde_yaml::from_str::<Section<PodSpec>>(&masked).map(|_| ()),
        "request_path" => serde_yaml::from_str::<Section<RequestPathSpec>>(&masked).map(|_| ()),
        "cluster" => serde_yaml::from_str::<Section<podspec::ClusterSpec>>(&masked).map(|_| ()),
        "output" => serde_yaml::from_str::<Section<OutputSpec>>(&masked).map(|_| ()),
        "traffic" => {
            serde_yaml::from_str::<Section<crate::traffic::TrafficSpec>>(&masked).map(|_| ())
        }
        _ => Ok(()),
    };
    result.err().map(|e| {
        let message = pinpoint::humanize(&strip_location(&e.to_string()));
        let (key, message) = match message.split_once(": ") {
            Some((k, m)) if !k.contains(' ') => (k.to_string(), m.to_string()),
            _ => (section.to_string(), message),
        };
        let key = match message
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
        {
            Some(field) => format!("{key}.{field}"),
            None => key,
        };
        ScenarioError {
            file: path.to_path_buf(),
            line: e.location().map(|l| l.line()),
            key,
            message: with_suggestion(&message),
        }
    })
}

/// The first top-level scalar field (`duration`, `seed`, ...) that does not read as its type, with the
/// reason and what is allowed.
fn scalar_field_error(document: &Value) -> Option<(&'static str, String)> {
    fn check<T: serde::de::DeserializeOwned>(v: &Value, allowed: &str) -> Result<(), String> {
        serde_yaml::from_value::<T>(v.clone())
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "{}; allowed: {allowed}",
                    pinpoint::humanize(&strip_location(&e.to_string()))
                )
            })
    }
    let duration = "a duration such as \"90s\", \"10m\" or \"1h30m\"";
    type Check = fn(&Value, &str) -> Result<(), String>;
    let fields: [(&'static str, Check, &str); 6] = [
        ("duration", check::<SimDuration>, duration),
        ("cooldown", check::<SimDuration>, duration),
        (
            "seed",
            check::<u64>,
            "a whole number from 0 to 18446744073709551615",
        ),
        ("name", check::<String>, "a string"),
        ("description", check::<String>, "a string"),
        (
            "start_time",
            check::<String>,
            "an RFC 3339 time such as \"2024-03-05T07:50:00+08:00\"",
        ),
    ];
    fields.iter().find_map(|(key, check, allowed)| {
        let value = document.get(*key)?;
        check(value, allowed).err().map(|m| (*key, m))
    })
}

/// A masked document holding one top-level section.
type Section<T> = BTreeMap<String, T>;

/// serde_yaml appends " at line L column C"; the line is reported separately.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}
