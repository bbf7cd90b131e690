//! The `autoscaler.cron` (CronHPA) and `autoscaler.keda_cron` keys, and how a CronHPA is built from a
//! manifest or inline jobs (on the HPA, or alone on the deployment with class `fixed`).

use super::{read, DEFAULT_START_TIME};
use crate::autoscaler::cron::{
    parse_cronhpa_manifest, CronHpa, CronHpaConfig, CronHpaSpec, CronJobSpec, CronScaleTargetRef,
};
use crate::scenario::{LoadedScenario, ScenarioError};
use serde::{Deserialize, Serialize};
use serde_yaml::Value;

/// `autoscaler.cron`: a CronHPA.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronScenarioSpec {
    /// Path to a real CronHorizontalPodAutoscaler manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// Inline `spec.jobs` entries: `{name, schedule, targetSize, runOnce}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<Value>,
    #[serde(
        rename = "excludeDates",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exclude_dates: Option<Vec<String>>,
    /// The cronhpa controller's zone (IANA name; default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// `hpa` or `deployment` (default: the manifest's scaleTargetRef, else `hpa`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// One `autoscaler.keda_cron` entry: a KEDA ScaledObject cron trigger's metadata.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KedaCronSpec {
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(rename = "desiredReplicas", default)]
    pub desired_replicas: Option<Value>,
}

/// A CronHPA acting on the deployment alone (scenario class `fixed`): the jobs write the replica count,
/// nothing else changes it.
pub fn build_standalone_cron(
    loaded: &LoadedScenario,
    errors: &mut Vec<ScenarioError>,
) -> Option<CronHpa> {
    let c = loaded.spec.autoscaler.cron.as_ref()?;
    if c.target.as_deref() == Some("hpa") {
        errors.push(loaded.error_at(
            "autoscaler.cron.target",
            "\"hpa\" needs autoscaler.class hpa; with class fixed the CronHPA acts on the deployment",
        ));
        return None;
    }
    let start_text = loaded
        .spec
        .start_time
        .as_deref()
        .unwrap_or(DEFAULT_START_TIME);
    let civil_start = match chrono::DateTime::parse_from_rfc3339(start_text) {
        Ok(t) => t.with_timezone(&chrono::Utc),
        Err(e) => {
            errors.push(loaded.error_at(
                "start_time",
                format!("\"{start_text}\" is not an RFC 3339 time ({e}); e.g. \"2024-03-05T07:50:00+08:00\""),
            ));
            return None;
        }
    };
    let mut with_target = c.clone();
    with_target.target = Some("deployment".into());
    build_cron(loaded, &with_target, civil_start, errors)
}

pub(super) fn build_cron(
    loaded: &LoadedScenario,
    c: &CronScenarioSpec,
    civil_start: chrono::DateTime<chrono::Utc>,
    errors: &mut Vec<ScenarioError>,
) -> Option<CronHpa> {
    let mut spec = match &c.manifest {
        Some(rel) => match read(loaded, rel)
            .and_then(|t| parse_cronhpa_manifest(&t).map_err(|e| e.to_string()))
        {
            Ok(s) => s,
            Err(m) => {
                errors.push(loaded.error_at("autoscaler.cron.manifest", m));
                return None;
            }
        },
        None => CronHpaSpec {
            scale_target_ref: CronScaleTargetRef {
                api_version: "autoscaling/v2".into(),
                kind: "HorizontalPodAutoscaler".into(),
                name: "predictor".into(),
            },
            exclude_dates: Vec::new(),
            jobs: Vec::new(),
        },
    };
    if let Some(jobs) = &c.jobs {
        match serde_yaml::from_value::<Vec<CronJobSpec>>(jobs.clone()) {
            Ok(j) => spec.jobs = j,
            Err(e) => {
                errors.push(loaded.error_at(
                    "autoscaler.cron.jobs",
                    format!("{e}; each job is {{name, schedule, targetSize, runOnce}}"),
                ));
                return None;
            }
        }
    }
    if let Some(ex) = &c.exclude_dates {
        spec.exclude_dates = ex.clone();
    }
    match c.target.as_deref() {
        None => {}
        Some("hpa") => {
            spec.scale_target_ref.kind = "HorizontalPodAutoscaler".into();
            spec.scale_target_ref.api_version = "autoscaling/v2".into();
        }
        Some("deployment") => {
            spec.scale_target_ref.kind = "Deployment".into();
            spec.scale_target_ref.api_version = "apps/v1".into();
        }
        Some(other) => {
            errors.push(loaded.error_at(
                "autoscaler.cron.target",
                format!("\"{other}\" is not allowed; allowed: hpa, deployment"),
            ));
            return None;
        }
    }
    if spec.jobs.is_empty() {
        errors.push(loaded.error_at(
            "autoscaler.cron",
            "a CronHPA needs at least one job (`jobs` or a manifest with spec.jobs)",
        ));
        return None;
    }
    for (i, j) in spec.jobs.iter().enumerate() {
        if j.target_size < 1 {
            errors.push(loaded.error_at(
                "autoscaler.cron.jobs",
                format!(
                    "jobs[{i}].targetSize {} must be at least 1 (the HPA never scales to zero)",
                    j.target_size
                ),
            ));
        }
    }
    let tz_text = c.time_zone.as_deref().unwrap_or("UTC");
    let Ok(tz) = tz_text.parse::<chrono_tz::Tz>() else {
        errors.push(loaded.error_at("autoscaler.cron.time_zone", format!("\"{tz_text}\" is not an IANA time zone name (e.g. UTC, Asia/Shanghai, Europe/Berlin)")));
        return None;
    };
    let config = CronHpaConfig {
        time_zone: tz,
        ..CronHpaConfig::default()
    };
    match CronHpa::new(spec, config, civil_start) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(loaded.error_at("autoscaler.cron", e.to_string()));
            None
        }
    }
}
