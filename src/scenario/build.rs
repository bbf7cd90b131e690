//! Turns a loaded scenario into a ready-to-run simulation: builds distributions, resolves the autoscaler
//! configuration, and checks semantics (ranges, consistency), reporting every problem at once.

use super::{LoadedScenario, ScenarioError, ScenarioErrors};
use crate::dist::DurationDist;
use crate::sim::{AutoscalerMode, SimConfig, Traffic};
use crate::time::{SimDuration, SimTime};
use crate::traffic::closed::ClosedLoopDriver;
use crate::traffic::poisson::PoissonSource;
use std::collections::BTreeMap;

/// Knative's default revision timeout (timeoutSeconds).
pub const DEFAULT_REQUEST_TIMEOUT: SimDuration = SimDuration::from_secs(300);

/// A scenario ready to run.
pub struct Prepared {
    pub config: SimConfig,
    pub traffic: Traffic,
}

/// Builds the simulation from a loaded scenario, or returns every semantic error found.
pub fn prepare(
    loaded: &LoadedScenario,
    seed_override: Option<u64>,
) -> Result<Prepared, ScenarioErrors> {
    let spec = &loaded.spec;
    let mut errors: Vec<ScenarioError> = Vec::new();
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

    let cc = spec.service.container_concurrency.unwrap_or(0);
    if cc > 1000 {
        errors.push(loaded.error_at(
            "service.containerConcurrency",
            format!("{cc} is outside [0, 1000] (Knative's limit)"),
        ));
    }
    let timeout = spec.service.timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT);
    if timeout.0 == 0 {
        errors.push(loaded.error_at("service.timeout", "must be greater than 0s"));
    }

    let class = spec.autoscaler.class.as_deref().unwrap_or("kpa");
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
        other => {
            errors.push(loaded.error_at(
                "autoscaler.class",
                format!("\"{other}\" is not supported yet; allowed: fixed"),
            ));
            AutoscalerMode::Fixed { replicas: 1 }
        }
    };

    let traffic = build_traffic(loaded, &mut errors);
    if !errors.is_empty() {
        return Err(ScenarioErrors(errors));
    }
    let mut settings = BTreeMap::new();
    settings.insert("autoscaler".into(), class.to_string());
    settings.insert("containerConcurrency".into(), cc.to_string());
    settings.insert("service_time".into(), service_time.describe());
    settings.insert("cold_start".into(), cold_start.describe());
    let config = SimConfig {
        name: loaded.name(),
        seed: seed_override.unwrap_or(spec.seed),
        traffic_duration: spec.duration,
        cooldown: spec.cooldown,
        container_concurrency: cc,
        request_timeout: timeout,
        cold_start,
        service_time,
        termination_grace: spec.pod.termination_grace,
        request_path,
        autoscaler,
        settings,
        effective_config: serde_json::to_value(&loaded.document).unwrap_or(serde_json::Value::Null),
    };
    Ok(Prepared { config, traffic })
}

fn build_traffic(loaded: &LoadedScenario, errors: &mut Vec<ScenarioError>) -> Traffic {
    let t = &loaded.spec.traffic;
    let end = SimTime::ZERO + loaded.spec.duration;
    match t.get("kind").and_then(|k| k.as_str()) {
        Some("poisson") => match t.get("rate").and_then(|r| r.as_f64()) {
            Some(rate) if rate > 0.0 && rate.is_finite() => Traffic {
                open_loop: Some(Box::new(PoissonSource::new(rate, SimTime::ZERO, end))),
                closed_loop: None,
            },
            _ => {
                errors.push(loaded.error_at(
                    "traffic.rate",
                    "must be a number of requests per second > 0",
                ));
                Traffic::default()
            }
        },
        Some("closed_loop") => {
            let clients = t.get("clients").and_then(|c| c.as_u64()).unwrap_or(0);
            if clients == 0 {
                errors.push(loaded.error_at("traffic.clients", "must be a whole number >= 1"));
            }
            Traffic {
                open_loop: None,
                closed_loop: Some(ClosedLoopDriver {
                    clients: clients as u32,
                    think_time: SimDuration::ZERO,
                    start: SimTime::ZERO,
                    end,
                }),
            }
        }
        _ => {
            errors.push(loaded.error_at("traffic.kind", "allowed: poisson, closed_loop"));
            Traffic::default()
        }
    }
}
