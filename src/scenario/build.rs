//! Turns a loaded scenario into a ready-to-run simulation: builds distributions, resolves the autoscaler
//! configuration, and checks semantics (ranges, consistency), reporting every problem at once.

use super::{LoadedScenario, ScenarioError, ScenarioErrors};
use crate::autoscaler::kpa;
use crate::autoscaler::kpa::adapter::InitialState;
use crate::autoscaler::kpa::adapter::KpaSetup;
use crate::dist::DurationDist;
use crate::engine::RngStreams;
use crate::sim::{AutoscalerMode, SimConfig, Traffic};
use crate::time::SimDuration;
use std::collections::BTreeMap;

/// Knative's default revision timeout (timeoutSeconds).
pub const DEFAULT_REQUEST_TIMEOUT: SimDuration = SimDuration::from_secs(300);

/// A scenario ready to run.
pub struct Prepared {
    pub config: SimConfig,
    pub traffic: Traffic,
    /// What the scenario says that has no effect (see [`super::warnings`]); `run` and `validate` print them.
    pub warnings: Vec<ScenarioError>,
}

/// The revision annotation that overrides config-deployment's progress-deadline.
const PROGRESS_DEADLINE_ANNOTATION: &str = "serving.knative.dev/progress-deadline";

/// Builds the simulation from a loaded scenario, or returns every semantic error found.
pub fn prepare(
    loaded: &LoadedScenario,
    seed_override: Option<u64>,
) -> Result<Prepared, ScenarioErrors> {
    if super::services::is_multi(&loaded.document) {
        return Err(ScenarioErrors(vec![loaded.error_at(
            "services",
            "lists several services; build them with `scenario::prepare_services`, which runs this per service",
        )]));
    }
    let spec = &loaded.spec;
    let mut errors: Vec<ScenarioError> = loaded.deferred_errors.clone();
    // Sizes first: building from an oversized value (a 4-billion-node pool) would exhaust memory.
    let oversized = super::limits::check_spec(loaded);
    if !oversized.is_empty() {
        errors.extend(oversized);
        errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        return Err(ScenarioErrors(errors));
    }
    let base = loaded.base_dir.as_path();
    let dist =
        |key: &str, d: &crate::dist::DistSpec, errors: &mut Vec<ScenarioError>| -> DurationDist {
            d.build(base).unwrap_or_else(|m| {
                errors.push(loaded.error_at(key, m));
                DurationDist::constant(SimDuration::ZERO)
            })
        };
    let cold_start = dist("pod.cold_start", &spec.pod.cold_start, &mut errors);
    let service_time = dist("pod.service_time", &spec.pod.service_time, &mut errors);
    let request_path = [
        dist(
            "request_path.client",
            &spec.request_path.client,
            &mut errors,
        ),
        dist(
            "request_path.ingress",
            &spec.request_path.ingress,
            &mut errors,
        ),
        dist(
            "request_path.network",
            &spec.request_path.network,
            &mut errors,
        ),
    ];
    if spec.duration.0 == 0 {
        errors.push(loaded.error_at(
            "duration",
            "must be greater than 0s (e.g. \"60s\", \"10m\")",
        ));
    }
    if spec.duration > SimDuration::from_secs(366 * 24 * 3600) {
        errors.push(loaded.error_at(
            "duration",
            format!(
                "\"{}\" is longer than the allowed maximum of one year",
                spec.duration
            ),
        ));
    }

    // The service: a referenced manifest first, then the scenario's own fields on top.
    let mut service = super::manifests::ServiceManifest::default();
    if let Some(rel) = &spec.service.manifest {
        match super::manifests::read_service_component(
            &base.join(rel),
            spec.service.name.as_deref(),
            spec.service.component.as_deref(),
        ) {
            Ok(m) => service = m,
            Err(message) => errors.push(loaded.error_at("service.manifest", message)),
        }
    }
    let s = &spec.service;
    let cc = s
        .container_concurrency
        .or(service.container_concurrency)
        .unwrap_or(0);
    let min_replicas = s.min_replicas.or(service.min_replicas);
    let max_replicas = s.max_replicas.or(service.max_replicas);
    let scale_metric = s.scale_metric.clone().or(service.scale_metric.clone());
    let scale_target = s.scale_target.or(service.scale_target);
    let mut annotations = service.annotations.clone();
    annotations.extend(s.annotations.clone());
    if cc > 1000 {
        errors.push(loaded.error_at(
            "service.containerConcurrency",
            format!("{cc} is outside [0, 1000] (Knative's limit)"),
        ));
    }
    let timeout = s
        .timeout
        .or(service.timeout_seconds.map(SimDuration::from_secs))
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT);
    if timeout.0 == 0 {
        errors.push(loaded.error_at("service.timeout", "must be greater than 0s"));
    }

    // The class: the scenario's `autoscaler.class`, else the annotations users write.
    let annotated_class = annotations
        .get("autoscaling.knative.dev/class")
        .map(|c| if c.starts_with("hpa") { "hpa" } else { "kpa" })
        .or_else(|| {
            annotations
                .get("serving.kserve.io/autoscalerClass")
                .map(|c| match c.as_str() {
                    "hpa" => "hpa",
                    "external" => "external",
                    // KServe uses its class only in Standard mode; its default mode (every modelled
                    // version) is Knative, where the KPA scales.
                    "keda"
                        if annotations
                            .get(crate::autoscaler::keda::kserve::ANNOTATION_DEPLOYMENT_MODE)
                            .and_then(|m| {
                                crate::autoscaler::keda::kserve::DeploymentMode::from_annotation(m)
                            })
                            == Some(crate::autoscaler::keda::kserve::DeploymentMode::Standard) =>
                    {
                        "keda"
                    }
                    _ => "kpa",
                })
        });
    let class = spec
        .autoscaler
        .class
        .as_deref()
        .or(annotated_class)
        .unwrap_or("kpa");
    let mut settings = BTreeMap::new();
    let origins = super::effective::Origins::new(loaded);
    let mut kpa_effective: Option<serde_json::Value> = None;
    let mut keda_effective: Option<serde_json::Value> = None;
    let autoscaler = match class {
        "fixed" => match spec.autoscaler.replicas {
            Some(n) if n >= 1 => AutoscalerMode::Fixed { replicas: n },
            Some(n) => {
                errors.push(loaded.error_at(
                    "autoscaler.replicas",
                    format!("{n} must be at least 1 for class `fixed`"),
                ));
                AutoscalerMode::Fixed { replicas: 1 }
            }
            None => {
                errors.push(loaded.error_at(
                    "autoscaler.class",
                    "class `fixed` needs `autoscaler.replicas` (the pod count)",
                ));
                AutoscalerMode::Fixed { replicas: 1 }
            }
        },
        "kpa" => {
            // A config-autoscaler ConfigMap in the service's manifest file, unless the scenario names one.
            let mut configmap = service.configmap.clone().unwrap_or_default();
            if let Some(rel) = &spec.autoscaler.configmap {
                match super::manifests::read_configmap(&base.join(rel)) {
                    Ok(d) => configmap = d,
                    Err(message) => errors.push(loaded.error_at("autoscaler.configmap", message)),
                }
            }
            let mut data = configmap.clone();
            data.extend(spec.autoscaler.config.clone());
            let config = match kpa::AutoscalerConfig::from_configmap(&data) {
                Ok(c) => c,
                Err(errs) => {
                    for e in errs {
                        errors.push(loaded.error_at(
                            &format!("autoscaler.config.{}", e.key),
                            format!("{:?} {}", e.value, e.message),
                        ));
                    }
                    kpa::AutoscalerConfig::default()
                }
            };
            let target = match scale_target {
                Some(t) if t.fract() != 0.0 || t < 0.0 => {
                    errors.push(loaded.error_at(
                        "service.scaleTarget",
                        format!("{t} must be a whole number >= 0 (KServe's field is an integer); for fractions set the annotation autoscaling.knative.dev/target"),
                    ));
                    None
                }
                Some(t) => Some(t as u32),
                None => None,
            };
            let component = kpa::KServeComponent {
                scale_metric: scale_metric.clone(),
                scale_target: target,
                min_replicas,
                max_replicas,
                container_concurrency: Some(cc),
                annotations: annotations.clone(),
            };
            let (revision_annotations, cc) =
                kpa::kserve_annotations(&component, config.allow_zero_initial_scale);
            match kpa::resolve_revision(&config, &revision_annotations, cc) {
                Ok(mut scaling) => {
                    scaling.decider.reachable = s.reachable.unwrap_or(true);
                    settings.insert("target".into(), format!("{}", scaling.decider.target_value));
                    settings.insert(
                        "metric".into(),
                        format!("{:?}", scaling.metric).to_lowercase(),
                    );
                    settings.insert("stable-window".into(), scaling.stable_window.to_string());
                    settings.insert("panic-window".into(), scaling.panic_window.to_string());
                    settings.insert("min-scale".into(), scaling.min_scale.to_string());
                    settings.insert("max-scale".into(), scaling.max_scale.to_string());
                    settings.insert(
                        "target-burst-capacity".into(),
                        scaling.decider.target_burst_capacity.to_string(),
                    );
                    let initial_state = s.initial_state.unwrap_or(InitialState::Deployed);
                    let warm_pods = s.initial_pods.unwrap_or(scaling.min_scale.max(1));
                    if initial_state == InitialState::ScaledToZero && scaling.min_scale > 0 {
                        errors.push(loaded.error_at(
                            "service.initial_state",
                            format!("scaled_to_zero needs min-scale 0 (minReplicas: 0), but min-scale is {}", scaling.min_scale),
                        ));
                    }
                    let mut reconciler_annotations = BTreeMap::new();
                    if let Some(v) = annotations.get(PROGRESS_DEADLINE_ANNOTATION) {
                        match crate::time::parse_duration(v) {
                            Ok(d) if d > SimDuration::ZERO => {
                                reconciler_annotations.insert(
                                    PROGRESS_DEADLINE_ANNOTATION.to_string(),
                                    d.to_string(),
                                );
                            }
                            _ => errors.push(loaded.error_at(
                                &format!("service.annotations.\"{PROGRESS_DEADLINE_ANNOTATION}\""),
                                format!(
                                    "{v:?} must be a positive duration such as \"600s\" or \"10m\""
                                ),
                            )),
                        }
                    }
                    let progress_deadline = spec
                        .autoscaler
                        .progress_deadline
                        .or(service.progress_deadline)
                        .unwrap_or(SimDuration::from_secs(600));
                    if progress_deadline == SimDuration::ZERO {
                        errors.push(loaded.error_at(
                            "autoscaler.progress_deadline",
                            "0s must be a positive duration (config-deployment progress-deadline)".to_string(),
                        ));
                    }
                    let setup = KpaSetup {
                        scaling,
                        initial_state,
                        warm_pods,
                        progress_deadline,
                        annotations: reconciler_annotations,
                        activator_probe_delay: SimDuration::from_secs(1),
                        reconcile_delay: spec.autoscaler.reconcile_delay,
                    };
                    let inputs = super::effective::KpaInputs {
                        configmap: &configmap,
                        config: &config,
                        user_annotations: &annotations,
                        scenario_annotations: &s.annotations,
                        revision_annotations: &revision_annotations,
                        component: &component,
                    };
                    kpa_effective = Some(super::effective::kpa_section(&origins, &inputs, &setup));
                    AutoscalerMode::Kpa(Box::new(setup))
                }
                Err(errs) => {
                    for e in errs {
                        let short = e
                            .key
                            .strip_prefix("autoscaling.knative.dev/")
                            .unwrap_or(&e.key);
                        let user_wrote_annotation = annotations.contains_key(&e.key);
                        let key = match short {
                            "target" if !user_wrote_annotation => "service.scaleTarget".to_string(),
                            "metric" if !user_wrote_annotation => "service.scaleMetric".to_string(),
                            "min-scale" if !user_wrote_annotation => {
                                "service.minReplicas".to_string()
                            }
                            "max-scale" if !user_wrote_annotation => {
                                "service.maxReplicas".to_string()
                            }
                            _ => format!("service.annotations.\"{}\"", e.key),
                        };
                        errors.push(loaded.error_at(&key, format!("{:?} {}", e.value, e.message)));
                    }
                    AutoscalerMode::Fixed { replicas: 1 }
                }
            }
        }
        "hpa" | "external" => {
            let view = super::hpa::ServiceView {
                min_replicas,
                max_replicas,
                scale_metric: scale_metric.as_deref(),
                scale_target,
                annotations: &annotations,
                initial_pods: s.initial_pods,
                external: class == "external",
            };
            match super::hpa::build_hpa(loaded, &view, &mut errors, &mut settings) {
                Some(setup) => AutoscalerMode::Hpa(Box::new(setup)),
                None => AutoscalerMode::Fixed { replicas: 1 },
            }
        }
        "keda" => {
            let view = super::keda::KedaServiceView {
                name: loaded.name(),
                min_replicas,
                max_replicas,
                scale_metric: scale_metric.as_deref(),
                scale_target,
                annotations: &annotations,
                initial_pods: s.initial_pods,
            };
            match super::keda::build_keda(loaded, &view, &mut errors, &mut settings) {
                Some(setup) => {
                    keda_effective = Some(super::effective::keda_section(&origins, &setup));
                    AutoscalerMode::Custom(Box::new(
                        crate::autoscaler::keda::adapter::KedaAdapter::new(setup),
                    ))
                }
                None => AutoscalerMode::Fixed { replicas: 1 },
            }
        }
        other => {
            errors.push(loaded.error_at(
                "autoscaler.class",
                format!("\"{other}\" is not supported; allowed: kpa, hpa, keda, external, fixed"),
            ));
            AutoscalerMode::Fixed { replicas: 1 }
        }
    };

    let standalone_cron = if class == "fixed" {
        super::hpa::build_standalone_cron(loaded, &mut errors)
    } else {
        None
    };
    let cron_without_hpa = spec.autoscaler.cron.is_some() && class != "fixed";
    if !matches!(class, "hpa" | "external")
        && (cron_without_hpa || !spec.autoscaler.keda_cron.is_empty())
    {
        let key = if cron_without_hpa {
            "autoscaler.cron"
        } else {
            "autoscaler.keda_cron"
        };
        errors.push(loaded.error_at(
            key,
            format!("needs class hpa or external (a CronHPA alone: class fixed), but the class is `{class}`"),
        ));
    }
    let manifest_resources = service
        .resources
        .as_ref()
        .map(|r| super::podspec::ResourcesSpec {
            requests: r
                .requests
                .iter()
                .map(|(k, v)| (k.clone(), super::podspec::Quantity(v.clone())))
                .collect(),
            limits: r
                .limits
                .iter()
                .map(|(k, v)| (k.clone(), super::podspec::Quantity(v.clone())))
                .collect(),
        });
    let (resources, pod_model) =
        super::podspec::build(loaded, manifest_resources.as_ref(), &mut errors);
    let activator = super::activator::settings(loaded, pod_model.phases.is_some(), &mut errors);

    let seed = seed_override.unwrap_or(spec.seed);
    let traffic = build_traffic(loaded, seed, &mut errors);
    let Some(traffic) = traffic.filter(|_| errors.is_empty()) else {
        errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        return Err(ScenarioErrors(errors));
    };
    settings.insert("traffic".into(), spec.traffic.describe());
    settings.insert("autoscaler".into(), class.to_string());
    settings.insert("containerConcurrency".into(), cc.to_string());
    settings.insert("service_time".into(), service_time.describe());
    settings.insert(
        "cold_start".into(),
        if pod_model.phases.is_some() {
            "phases".to_string()
        } else {
            cold_start.describe()
        },
    );
    settings.insert("service_model".into(), pod_model.service.label().into());
    if let Some(p) = &spec.pod.preset {
        settings.insert("pod_preset".into(), p.clone());
    }
    let cc_source = if s.container_concurrency.is_some() {
        Some(origins.scenario(&["service", "containerConcurrency"]))
    } else {
        service.container_concurrency.map(|_| "manifest")
    };
    let timeout_source = if s.timeout.is_some() {
        Some(origins.scenario(&["service", "timeout"]))
    } else {
        service.timeout_seconds.map(|_| "manifest")
    };
    let mut config = SimConfig {
        standalone_cron,
        name: loaded.name(),
        seed,
        traffic_duration: spec.duration,
        cooldown: spec.cooldown,
        container_concurrency: cc,
        request_timeout: timeout,
        cold_start,
        service_time,
        termination_grace: spec.pod.termination_grace,
        resources,
        pod_model,
        request_path,
        activator,
        autoscaler,
        settings,
        effective_config: serde_json::Value::Null,
        slo: spec.output.slo.clone(),
        calls: None,
    };
    config.effective_config = super::effective::build(
        &origins,
        &config,
        super::effective::RunInputs {
            class,
            container_concurrency: cc,
            cc_source,
            timeout_source,
            kpa: kpa_effective,
            keda: keda_effective,
            manifest_resources: manifest_resources
                .as_ref()
                .filter(|_| {
                    spec.pod.resources.requests.is_empty() && spec.pod.resources.limits.is_empty()
                })
                .map(|r| serde_json::to_value(r).unwrap_or(serde_json::Value::Null)),
        },
    );
    let oversized = super::limits::check_built(loaded, &config);
    if !oversized.is_empty() {
        return Err(ScenarioErrors(oversized));
    }
    let warnings = super::warnings::collect(loaded, class, &service);
    Ok(Prepared {
        config,
        traffic,
        warnings,
    })
}

fn build_traffic(
    loaded: &LoadedScenario,
    seed: u64,
    errors: &mut Vec<ScenarioError>,
) -> Option<Traffic> {
    let spec = &loaded.spec.traffic;
    let problems = spec.validate("traffic");
    if !problems.is_empty() {
        for (key, message) in problems {
            errors.push(loaded.error_at(&key, message));
        }
        return None;
    }
    // Every row of every trace, streamed once, so that a scenario that validates does not fail on its input.
    let problems = crate::traffic::inspect::check_traces(
        spec,
        "traffic",
        &loaded.base_dir,
        loaded.spec.duration,
    );
    if !problems.is_empty() {
        for (key, message) in problems {
            errors.push(loaded.error_at(&key, message));
        }
        return None;
    }
    match spec.build(
        &loaded.base_dir,
        loaded.spec.duration,
        &RngStreams::new(seed),
    ) {
        Ok(plan) => Some(plan),
        Err(e) => {
            errors.push(loaded.error_at("traffic", e.to_string()));
            None
        }
    }
}
