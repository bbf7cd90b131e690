//! Reading a real KEDA ScaledObject manifest (`apiVersion: keda.sh/v1alpha1`, `kind: ScaledObject`) into
//! [`ScaledObjectSpec`](crate::autoscaler::keda::ScaledObjectSpec), with errors that name the file, the
//! line, the key and what is allowed.
//!
//! Supported: `metadata.name/namespace/annotations` (other metadata ignored); `spec.scaleTargetRef`
//! (`apiVersion` default `apps/v1`, `kind` default `Deployment`, `name` required), `pollingInterval` (30),
//! `cooldownPeriod` (300), `initialCooldownPeriod` (0), `idleReplicaCount`, `minReplicaCount` (0),
//! `maxReplicaCount` (100), `fallback` (`failureThreshold`, `replicas`, `behavior`),
//! `advanced.horizontalPodAutoscalerConfig.behavior` (as an HPA's `behavior`; `name` ignored),
//! `advanced.restoreToOriginalReplicaCount` (accepted: it only matters when the ScaledObject is deleted);
//! triggers of type `prometheus` (`query` in the language of [`crate::autoscaler::keda::scaler`],
//! `threshold`, `activationThreshold`; connection keys such as `serverAddress` are accepted and unused),
//! `cpu` and `memory` (`metricType` Utilization or AverageValue, `metadata.value`, `containerName`) and
//! `cron` (`timezone`, `start`, `end`, `desiredReplicas`). `status` is ignored.
//!
//! Rejected with a located error: other trigger types, `scalingModifiers` (formulas are not evaluated),
//! `ignoreNullValues: false`, unknown keys, and what KEDA's admission webhook rejects
//! (`minReplicaCount > maxReplicaCount`, `idleReplicaCount >= minReplicaCount`, negative counts, fallback
//! without a trigger other than cpu/memory, negative `failureThreshold` or `replicas`).
//!
//! Tested with a realistic vLLM ScaledObject in `tests/keda_manifest.rs`.
//!
//! Layout: `manifest` reads the document and its `spec` (metadata, replica counts, fallback, advanced),
//! `triggers` its `spec.triggers`, `build` turns a scenario's `autoscaler` section (a manifest path,
//! an inline manifest, or the service fields KServe would generate one from) into the KEDA setup; `ctx`
//! holds the located-error helpers they share.

mod build;
mod ctx;
mod manifest;
mod triggers;

pub use build::{build_keda, KedaServiceView};
pub use manifest::parse_scaled_object;
