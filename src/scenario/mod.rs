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
pub mod kserve_topology;
pub mod limits;
pub mod locate;
pub mod manifests;
pub mod overrides;
mod pinpoint;
pub mod podspec;
pub mod presets;
pub mod routes;
pub mod services;
pub mod services_trace;
pub mod warnings;

pub use build::{prepare, Prepared, DEFAULT_REQUEST_TIMEOUT};
pub use error::{edit_distance, suggest, with_suggestion, ScenarioError, ScenarioErrors};
pub use services::{prepare_services, PreparedService, PreparedServices};

mod load;
mod schema;
mod value;

pub(crate) use load::{check_section, strip_location, ServiceScope};
pub use load::{load, load_str, load_value, LoadedScenario};
pub use schema::{AutoscalerSpec, OutputSpec, PodSpec, RequestPathSpec, ScenarioSpec, ServiceSpec};
pub(crate) use value::{scalar_to_string, show_value};
