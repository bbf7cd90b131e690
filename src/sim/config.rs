//! What a run is made of once the scenario is validated: [`SimConfig`] (the service, its pods, the
//! request path and the autoscaler), [`PodModel`], [`AutoscalerMode`], [`Traffic`], and the errors a run
//! can stop with ([`SimError`]).
//!
//! Units: durations are [`SimDuration`] (integer ns); resources as in [`crate::workload::pods::ResourceModel`].

use crate::autoscaler::hpa::runtime::HpaSetup;
use crate::autoscaler::kpa::adapter::KpaSetup;
use crate::autoscaler::scaler::Scaler;
use crate::dist::DurationDist;
use crate::time::{SimDuration, SimTime};
use crate::traffic::TrafficError;
use crate::workload::cluster::ClusterModel;
use crate::workload::discipline::ServiceModel;
use crate::workload::startup::Phases;
use std::collections::BTreeMap;

/// Everything the loop needs, already validated.
pub struct SimConfig {
    /// A CronHPA acting on the deployment without an HPA (only with [`AutoscalerMode::Fixed`]).
    pub standalone_cron: Option<crate::autoscaler::cron::CronHpa>,
    pub name: String,
    pub seed: u64,
    /// Traffic runs over `[0, traffic_duration)`; the run continues for `cooldown` after it.
    pub traffic_duration: SimDuration,
    pub cooldown: SimDuration,
    /// 0 = unlimited (no queue-proxy breaker).
    pub container_concurrency: u32,
    /// Requests not answered within this time of reaching the ingress fail (Knative revision timeout).
    pub request_timeout: SimDuration,
    pub cold_start: DurationDist,
    pub service_time: DurationDist,
    pub termination_grace: SimDuration,
    /// Resource requests, limits and use as a function of load.
    pub resources: crate::workload::pods::ResourceModel,
    /// Startup phases, service discipline and cluster (defaults: `cold_start` as one number, fixed slots,
    /// unlimited capacity).
    pub pod_model: PodModel,
    /// One-way client, ingress and network delays, each sampled on the way in and on the way out.
    pub request_path: [DurationDist; 3],
    /// The activator fleet and its probing of starting pods (`request_path.activator`).
    pub activator: crate::request_path::activator_fleet::ActivatorSettings,
    pub autoscaler: AutoscalerMode,
    /// Key settings echoed into the summary (for titles and comparisons).
    pub settings: BTreeMap<String, String>,
    pub effective_config: serde_json::Value,
    /// SLO attainment to measure (`output.slo`).
    pub slo: Option<crate::observe::slo::SloSpec>,
    /// The revisions this service calls while serving (KServe components, graph routers); `None`: none.
    pub calls: Option<Box<crate::request_path::calls::CallSpec>>,
}

/// The pod and cluster models beyond the basic request path.
#[derive(Clone, Debug, Default)]
pub struct PodModel {
    /// Phase-by-phase startup; `None` = `SimConfig::cold_start` is the whole cold start.
    pub phases: Option<Phases>,
    pub service: ServiceModel,
    pub cluster: ClusterModel,
}

/// Who decides the replica count.
pub enum AutoscalerMode {
    /// No autoscaler: `replicas` pods, Ready at time 0, requests go straight to them.
    Fixed { replicas: u32 },
    /// Knative's KPA with the activator and queue-proxy statistics.
    Kpa(Box<KpaSetup>),
    /// Kubernetes' HPA (optionally with a CronHPA or KEDA cron triggers); requests go straight to the
    /// pods (no activator) and the deployment never goes below one pod.
    Hpa(Box<HpaSetup>),
    /// Any other policy implementing [`Scaler`] (for example a research policy).
    Custom(Box<dyn Scaler>),
}

/// Where requests come from: open-loop sources and closed-loop clients.
pub type Traffic = crate::traffic::TrafficPlan;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Traffic(#[from] TrafficError),
    #[error("writing the time series: {0}")]
    Output(#[from] std::io::Error),
    /// A configuration the loop cannot run (the scenario loader refuses these first in normal use).
    #[error("{0}")]
    Config(String),
    /// A scaler asked for more pods than the simulator holds (the scenario loader bounds every configured
    /// count; an unbounded KPA can still ask for more at run time).
    #[error(
        "at {at} the autoscaler asked for {asked} pods, more than the {limit} one revision may have; \
         {setting} to at most {limit}"
    )]
    TooManyPods {
        at: SimTime,
        asked: u32,
        limit: u64,
        /// The setting that bounds the count.
        setting: &'static str,
    },
}
