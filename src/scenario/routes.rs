//! Several revisions of one service behind a Knative route (issue 17): a rollout or a canary.
//!
//! ```yaml
//! name: canary-rollout
//! duration: 20m
//! traffic: {kind: poisson, rate: 40}    # the service's one traffic source, routed over the revisions
//! service: {manifest: manifests/hello.yaml}   # the template every revision starts from
//! revisions:                            # the service's revisions, oldest first
//!   - name: hello-00001                 # exists from time 0 (the running service)
//!   - name: hello-00002
//!     created_at: 5m                    # its template applied at 5 min
//!     pod: {cold_start: 40s, service_time: {kind: lognormal, median: 80ms, sigma: 0.5}}
//! route:                                # optional: else the manifest's spec.traffic or canary, else 100 % latest
//!   traffic:                            # Knative's spec.traffic, as written
//!     - {latestRevision: true, percent: 20}
//!     - {revisionName: hello-00001, percent: 80, tag: stable}
//!   rollout_duration: 2m                # serving.knative.dev/rollout-duration (also read as that annotation)
//! ```
//!
//! Each revision is built as a `services:` entry is (see [`super::services`]): the top-level sections with
//! its own on top, each with its own scaler, pods and activator on the shared cluster; errors point at
//! `revisions[i].…`. A revision entry may not set `traffic` (one source feeds the route).
//!
//! Where the route comes from, first found: `route.traffic`; the service manifest's Knative `spec.traffic`;
//! its KServe canary (v1beta1 `canaryTrafficPercent`: that percent to the latest ready revision, the rest
//! to the one before the last listed; v1alpha2 `spec.canary`: that percent to the last revision, the rest
//! to the first); else 100 % to the latest ready revision. The model of the route is in
//! [`crate::request_path::routes`].

use super::manifests::{Canary, ManifestTraffic};
use super::{LoadedScenario, PreparedServices, ScenarioError, ScenarioErrors};
use crate::request_path::routes::{RevisionPlan, RouteSpec, TargetRef, TrafficTarget};
use crate::time::{SimDuration, SimTime};
use serde_yaml::{Mapping, Value};

const REVISION_KEYS: &[&str] = &[
    "name",
    "created_at",
    "service",
    "autoscaler",
    "pod",
    "request_path",
];
const ROUTE_KEYS: &[&str] = &["traffic", "rollout_duration"];
const ROLLOUT_ANNOTATION: &str = "serving.knative.dev/rollout-duration";
/// Manifest warnings about what this module simulates.
const SIMULATED_KEYS: &[&str] = &[
    "spec.traffic",
    "spec.predictor.canaryTrafficPercent",
    "spec.canary",
    "spec.canaryTrafficPercent",
];

/// Whether the document lists a service's revisions.
pub fn has_revisions(document: &Value) -> bool {
    document.get("revisions").is_some()
}

/// Prepares every revision and the route (see the module docs).
pub(super) fn prepare_revisions(
    loaded: &LoadedScenario,
    seed_override: Option<u64>,
) -> Result<PreparedServices, ScenarioErrors> {
    let mut errors: Vec<ScenarioError> = loaded.deferred_errors.clone();
    for other in ["services", "services_trace"] {
        if loaded.document.get(other).is_some() {
            errors.push(loaded.error_at(
                other,
                "cannot be combined with `revisions:` (the revisions of one service behind a route); \
                 run the services and the rollout as separate scenarios",
            ));
        }
    }
    if loaded.document.get("traffic").is_none() {
        errors.push(loaded.error_at(
            "traffic",
            "is required with `revisions:`: one traffic source feeds the route",
        ));
    }
    let mut late = Vec::new();
    let (entries, plans) = read_revisions(loaded, &mut errors, &mut late);
    if !errors.is_empty() {
        return Err(finish(loaded, errors));
    }
    let mut doc = loaded.document.clone();
    if let Some(map) = doc.as_mapping_mut() {
        map.remove("revisions");
        map.remove("route");
        map.insert("services".into(), Value::Sequence(entries));
    }
    let synthetic = LoadedScenario {
        document: doc,
        deferred_errors: Vec::new(),
        ..loaded.clone()
    };
    let mut prepared = match super::prepare_services(&synthetic, seed_override) {
        Ok(p) => p,
        Err(e) => return Err(finish(loaded, e.0)),
    };
    let targets = match read_targets(loaded, &plans) {
        Ok(t) => t,
        Err(e) => return Err(finish(loaded, e)),
    };
    let rollout_duration = match rollout_duration(loaded) {
        Ok(d) => d,
        Err(e) => return Err(finish(loaded, vec![e])),
    };
    prepared
        .warnings
        .retain(|w| w.file == loaded.path || !SIMULATED_KEYS.contains(&w.key.as_str()));
    for w in &mut prepared.warnings {
        rename(loaded, w);
    }
    prepared.warnings.extend(late);
    prepared.route = Some(RouteSpec {
        revisions: plans,
        targets,
        rollout_duration,
    });
    Ok(prepared)
}

/// Points an error of the built `services[i]` entries at `revisions[i]`, sorted by line.
fn finish(loaded: &LoadedScenario, mut errors: Vec<ScenarioError>) -> ScenarioErrors {
    for e in &mut errors {
        rename(loaded, e);
    }
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    ScenarioErrors(errors)
}

fn rename(loaded: &LoadedScenario, e: &mut ScenarioError) {
    if e.file == loaded.path && e.key.starts_with("services[") {
        e.key = e.key.replacen("services[", "revisions[", 1);
        e.line = super::locate::locate_key_or_parent(&loaded.text, &e.key);
    }
}

/// The `services:` entries of the revisions, and each revision's name and creation time.
fn read_revisions(
    loaded: &LoadedScenario,
    errors: &mut Vec<ScenarioError>,
    late: &mut Vec<ScenarioError>,
) -> (Vec<Value>, Vec<RevisionPlan>) {
    let (mut entries, mut plans) = (Vec::new(), Vec::new());
    let Some(list) = loaded
        .document
        .get("revisions")
        .and_then(Value::as_sequence)
    else {
        errors.push(loaded.error_at(
            "revisions",
            "must be a list of revisions (`- name: hello-00001`), oldest first",
        ));
        return (entries, plans);
    };
    if list.is_empty() {
        errors.push(loaded.error_at("revisions", "lists no revision; give at least one"));
    }
    if list.len() > super::limits::MAX_SERVICES {
        errors.push(loaded.error_at(
            "revisions",
            format!(
                "{} revisions is too many; allowed: at most {}",
                list.len(),
                super::limits::MAX_SERVICES
            ),
        ));
        return (entries, plans);
    }
    let end = SimTime::ZERO + loaded.spec.duration;
    let mut last = SimTime::ZERO;
    let top_initial_state = loaded
        .document
        .get("service")
        .and_then(|s| s.get("initial_state"))
        .is_some();
    for (i, item) in list.iter().enumerate() {
        let at = |k: &str| format!("revisions[{i}].{k}");
        let Some(map) = item.as_mapping() else {
            errors.push(loaded.error_at(
                &format!("revisions[{i}]"),
                format!(
                    "a revision is a map with `name`, `created_at` and its own sections ({}), got {}",
                    REVISION_KEYS[2..].join(", "),
                    super::show_value(item)
                ),
            ));
            continue;
        };
        let mut fields = Mapping::new();
        for (k, v) in map {
            let key = k.as_str().unwrap_or("");
            if key == "traffic" {
                errors.push(loaded.error_at(
                    &at(key),
                    "a revision has no traffic of its own: the top-level `traffic` feeds the route, which \
                     splits it over the revisions (see `route.traffic`)",
                ));
            } else if !REVISION_KEYS.contains(&key) {
                let hint = super::suggest(key, REVISION_KEYS.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                errors.push(loaded.error_at(
                    &at(key),
                    format!(
                        "unknown field `{key}`, expected one of {}{hint}",
                        REVISION_KEYS.join(", ")
                    ),
                ));
            } else if key != "created_at" {
                fields.insert(k.clone(), v.clone());
            }
        }
        let created_at = match map.get("created_at") {
            None => SimTime::ZERO,
            Some(v) => match duration_of(v) {
                Ok(d) => SimTime::ZERO + d,
                Err(m) => {
                    errors.push(loaded.error_at(&at("created_at"), m));
                    SimTime::ZERO
                }
            },
        };
        if i == 0 && created_at > SimTime::ZERO {
            errors.push(loaded.error_at(
                &at("created_at"),
                "the first revision is the running service and exists from time 0; remove `created_at` \
                 or list an older revision first",
            ));
        } else if created_at < last {
            errors.push(loaded.error_at(
                &at("created_at"),
                "revisions are listed oldest first; this one is created before the one above it",
            ));
        } else if created_at >= end {
            late.push(loaded.error_at(
                &at("created_at"),
                format!(
                    "is at or after the end of the traffic ({}): the revision is never created in this run",
                    loaded.spec.duration
                ),
            ));
        }
        last = last.max(created_at);
        if created_at > SimTime::ZERO {
            // A revision created during the run starts fresh: its pods cold-start.
            let own = fields
                .get("service")
                .and_then(|s| s.get("initial_state"))
                .and_then(Value::as_str);
            match own {
                Some(s) if s != "deployed" => errors.push(loaded.error_at(
                    &at("service.initial_state"),
                    format!("{s:?}: a revision created during the run is `deployed` (its pods cold-start); allowed: deployed"),
                )),
                None if top_initial_state => {
                    let service = fields
                        .entry("service".into())
                        .or_insert_with(|| Value::Mapping(Mapping::new()));
                    if let Some(m) = service.as_mapping_mut() {
                        m.insert("initial_state".into(), "deployed".into());
                    }
                }
                _ => {}
            }
        }
        let name = map.get("name").and_then(Value::as_str).unwrap_or("");
        fields.insert(
            "name".into(),
            map.get("name").cloned().unwrap_or(Value::Null),
        );
        entries.push(Value::Mapping(fields));
        plans.push(RevisionPlan {
            name: name.to_string(),
            created_at,
        });
    }
    (entries, plans)
}

fn duration_of(v: &Value) -> Result<SimDuration, String> {
    match v {
        Value::String(s) => crate::time::parse_duration(s),
        Value::Number(n) => n
            .as_u64()
            .map(SimDuration::from_secs)
            .ok_or_else(|| format!("{n} must be a duration such as \"5m\"")),
        other => Err(format!(
            "must be a duration such as \"5m\", got {}",
            super::show_value(other)
        )),
    }
}

/// The route's targets (see the module docs for where they come from).
fn read_targets(
    loaded: &LoadedScenario,
    plans: &[RevisionPlan],
) -> Result<Vec<TrafficTarget>, Vec<ScenarioError>> {
    let index = |name: &str| plans.iter().position(|p| p.name == name);
    let names = || {
        plans
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(route) = loaded.document.get("route") {
        let Some(map) = route.as_mapping() else {
            return Err(vec![loaded.error_at(
                "route",
                "must be a map with `traffic` and `rollout_duration`",
            )]);
        };
        for k in map.keys() {
            let key = k.as_str().unwrap_or("");
            if !ROUTE_KEYS.contains(&key) {
                return Err(vec![loaded.error_at(
                    &format!("route.{key}"),
                    format!("unknown field; allowed: {}", ROUTE_KEYS.join(", ")),
                )]);
            }
        }
        if let Some(list) = route.get("traffic") {
            return scenario_targets(loaded, list, &index, &names);
        }
    }
    let manifest = manifest(loaded);
    if let Some(traffic) = manifest.as_ref().and_then(|m| m.traffic.as_ref()) {
        return manifest_targets(traffic, &index, &names);
    }
    let latest = |percent| TrafficTarget {
        target: TargetRef::Latest,
        percent,
        tag: None,
    };
    let named = |i, percent| TrafficTarget {
        target: TargetRef::Revision(i),
        percent,
        tag: None,
    };
    let n = plans.len();
    match manifest.as_ref().and_then(|m| m.canary) {
        Some(Canary::Latest(p)) if n >= 2 => Ok(vec![latest(p), named(n - 2, 100 - p)]),
        Some(Canary::Endpoint(p)) if n >= 2 => Ok(vec![named(n - 1, p), named(0, 100 - p)]),
        Some(_) => Err(vec![loaded.error_at(
            "revisions",
            "the manifest's canary split needs at least two revisions (the previous one and the canary)",
        )]),
        None => Ok(vec![latest(100)]),
    }
}

fn scenario_targets(
    loaded: &LoadedScenario,
    list: &Value,
    index: &dyn Fn(&str) -> Option<usize>,
    names: &dyn Fn() -> String,
) -> Result<Vec<TrafficTarget>, Vec<ScenarioError>> {
    let Some(items) = list.as_sequence() else {
        return Err(vec![loaded.error_at(
            "route.traffic",
            "must be a list of targets (`- {latestRevision: true, percent: 100}`)",
        )]);
    };
    let mut errors = Vec::new();
    let mut targets = Vec::new();
    let mut sum = 0;
    for (i, item) in items.iter().enumerate() {
        let at = |k: &str| format!("route.traffic[{i}].{k}");
        for k in item.as_mapping().into_iter().flat_map(|m| m.keys()) {
            let key = k.as_str().unwrap_or("");
            if !["percent", "revisionName", "latestRevision", "tag"].contains(&key) {
                errors.push(loaded.error_at(
                    &at(key),
                    "unknown field; allowed: percent, revisionName, latestRevision, tag",
                ));
            }
        }
        let percent = match item.get("percent") {
            None => 0,
            Some(v) => match v.as_u64().filter(|&p| p <= 100) {
                Some(p) => p as u32,
                None => {
                    errors.push(loaded.error_at(
                        &at("percent"),
                        format!(
                            "must be a whole number in [0, 100], got {}",
                            super::show_value(v)
                        ),
                    ));
                    0
                }
            },
        };
        sum += percent;
        let latest = item.get("latestRevision").and_then(Value::as_bool) == Some(true);
        let tag = item.get("tag").and_then(Value::as_str).map(str::to_string);
        let target = match (latest, item.get("revisionName").and_then(Value::as_str)) {
            (true, None) => TargetRef::Latest,
            (false, Some(name)) => match index(name) {
                Some(r) => TargetRef::Revision(r),
                None => {
                    errors.push(loaded.error_at(
                        &at("revisionName"),
                        format!(
                            "{name:?} is not a revision of `revisions:`; allowed: {}",
                            names()
                        ),
                    ));
                    continue;
                }
            },
            (true, Some(_)) => {
                errors.push(loaded.error_at(
                    &at("revisionName"),
                    "a target with `latestRevision: true` must not also name `revisionName`",
                ));
                continue;
            }
            (false, None) => {
                errors.push(loaded.error_at(
                    &format!("route.traffic[{i}]"),
                    "names no revision; give `revisionName` or `latestRevision: true`",
                ));
                continue;
            }
        };
        targets.push(TrafficTarget {
            target,
            percent,
            tag,
        });
    }
    if errors.is_empty() && sum != 100 {
        errors.push(loaded.error_at(
            "route.traffic",
            format!("the targets' percentages sum to {sum}; they must sum to 100"),
        ));
    }
    if errors.is_empty() {
        Ok(targets)
    } else {
        Err(errors)
    }
}

fn manifest_targets(
    traffic: &[ManifestTraffic],
    index: &dyn Fn(&str) -> Option<usize>,
    names: &dyn Fn() -> String,
) -> Result<Vec<TrafficTarget>, Vec<ScenarioError>> {
    let mut errors = Vec::new();
    let mut targets = Vec::new();
    for t in traffic {
        let target = match &t.revision_name {
            None => TargetRef::Latest,
            Some(name) => match index(name) {
                Some(r) => TargetRef::Revision(r),
                None => {
                    errors.push(ScenarioError {
                        file: t.file.clone(),
                        line: t.line,
                        key: format!("{}.revisionName", t.key),
                        message: format!(
                            "{name:?} is not a revision of the scenario's `revisions:`; allowed: {}",
                            names()
                        ),
                    });
                    continue;
                }
            },
        };
        targets.push(TrafficTarget {
            target,
            percent: t.percent,
            tag: t.tag.clone(),
        });
    }
    if errors.is_empty() {
        Ok(targets)
    } else {
        Err(errors)
    }
}

/// The service manifest, if the scenario names one that reads (its errors are reported by `prepare`).
fn manifest(loaded: &LoadedScenario) -> Option<super::manifests::ServiceManifest> {
    let rel = loaded.spec.service.manifest.as_ref()?;
    super::manifests::read_service_manifest_named(
        &loaded.base_dir.join(rel),
        loaded.spec.service.name.as_deref(),
    )
    .ok()
}

/// `route.rollout_duration`, else the annotation on the scenario's service or in its manifest.
fn rollout_duration(loaded: &LoadedScenario) -> Result<SimDuration, ScenarioError> {
    if let Some(v) = loaded
        .document
        .get("route")
        .and_then(|r| r.get("rollout_duration"))
    {
        return duration_of(v).map_err(|m| loaded.error_at("route.rollout_duration", m));
    }
    if let Some(v) = loaded.spec.service.annotations.get(ROLLOUT_ANNOTATION) {
        let key = format!("service.annotations.\"{ROLLOUT_ANNOTATION}\"");
        return crate::time::parse_duration(v).map_err(|m| loaded.error_at(&key, m));
    }
    if let Some(v) = manifest(loaded).and_then(|m| m.annotations.get(ROLLOUT_ANNOTATION).cloned()) {
        return crate::time::parse_duration(&v).map_err(|m| {
            loaded.error_at(
                "service.manifest",
                format!("the manifest's {ROLLOUT_ANNOTATION}: {m}"),
            )
        });
    }
    Ok(SimDuration::ZERO)
}
