//! Many services in one scenario, sharing one `cluster:`.
//!
//! ```yaml
//! name: two-models
//! duration: 1h
//! cluster: {pools: [...]}             # shared by every service
//! autoscaler:                         # defaults for every service; `config` is the cluster's
//!   class: kpa                        #   config-autoscaler ConfigMap
//!   config: {stable-window: "60s"}
//! pod: {cold_start: 30s}              # defaults too (`service`, `pod`, `request_path`, `traffic`)
//! services:
//!   - name: chat                      # a DNS label, unique
//!     service: {annotations: {autoscaling.knative.dev/target: "4"}}   # per-revision annotations
//!     traffic: {kind: diurnal, mean_rate: 3, amplitude: 2}
//!   - name: embed
//!     autoscaler: {class: hpa}
//!     pod: {preset: small-cpu}
//!     traffic: {kind: poisson, rate: 20}
//! services_trace:                     # optional: more services, one per group of a multi-service trace
//!   {path: traces/azure-functions-sample.csv, format: azure_functions, group: function, top: 40}
//! ```
//!
//! Each service is the top-level sections with its entry's sections on top: maps merge key by key
//! (recursively), anything else is replaced; `traffic` is always replaced whole, and a `pod` with its own
//! `preset` replaces the top-level `pod`. So the top-level `autoscaler.config` acts as Knative's
//! cluster-wide `config-autoscaler`, and each service's annotations override it as a revision's
//! annotations do. Unlike Knative, a service may also override config-autoscaler keys in its own
//! `autoscaler.config` (a convenience; in a real cluster those would be annotations).
//!
//! Every service is then built by [`super::prepare`] exactly as a single-service file is (same checks,
//! same errors, pointed at `services[i].…`), with its own seed derived from the scenario seed and its name
//! (so adding a service never changes another's random draws).
//!
//! `services_trace` ([`ServicesTraceSpec`]) adds one service per group of the Azure Functions 2019 trace
//! ([`crate::traffic::functions`]) or per share of a split request trace such as the Azure LLM trace
//! ([`crate::traffic::split`]). A `services:` entry named like a generated service adds its own fields to
//! it (but not `traffic`, which comes from the trace).
//!
//! A `kserve:` section ([`super::kserve_topology`]) makes one service per InferenceService component
//! and InferenceGraph router, written out as `services:` entries and prepared here.
//!
//! A file without `services:`, `services_trace:` or `kserve:` is one service, exactly as before.

use super::services_trace::{generate, read_trace_spec, Generated};
pub use super::services_trace::{ServicesTraceSpec, SplitSpec};
use super::{limits, pinpoint, LoadedScenario, Prepared, ScenarioError, ScenarioErrors};
use crate::sim::AutoscalerMode;
use crate::time::SimTime;
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeSet, HashSet};

/// Sections a service entry may set (and inherits from the top level).
pub const SERVICE_SECTIONS: &[&str] = &["service", "autoscaler", "pod", "request_path", "traffic"];
const ENTRY_KEYS: &[&str] = &[
    "name",
    "service",
    "autoscaler",
    "pod",
    "request_path",
    "traffic",
];

/// One service of a prepared scenario.
pub struct PreparedService {
    pub name: String,
    pub prepared: Prepared,
}

/// Every service of a scenario, ready to run on one shared cluster (the cluster model is the same in
/// every service's `pod_model.cluster`).
pub struct PreparedServices {
    /// The run's seed (each service's own is derived from it and its name).
    pub seed: u64,
    pub services: Vec<PreparedService>,
    /// Warnings of all services, each once.
    pub warnings: Vec<ScenarioError>,
    /// With `revisions:`, the services are the revisions of one service and this routes between them
    /// (see [`super::routes`]).
    pub route: Option<crate::request_path::routes::RouteSpec>,
}

/// Whether the document describes several services.
pub fn is_multi(document: &Value) -> bool {
    document.get("services").is_some()
        || document.get("services_trace").is_some()
        || document.get("kserve").is_some()
        || super::routes::has_revisions(document)
}

/// The document with a placeholder traffic if it is a multi-service file without a top-level one (the
/// top-level [`super::ScenarioSpec`] of such a file describes the shared parts and the defaults only).
pub(crate) fn shared_part(document: &Value) -> Value {
    let mut doc = document.clone();
    if let Some(map) = doc.as_mapping_mut() {
        if is_multi(document) && !map.contains_key("traffic") {
            map.insert("traffic".into(), placeholder_traffic());
        }
    }
    doc
}

fn without_lists(document: &Value) -> Value {
    let mut doc = document.clone();
    if let Some(map) = doc.as_mapping_mut() {
        map.remove("services");
        map.remove("services_trace");
    }
    doc
}

fn placeholder_traffic() -> Value {
    serde_yaml::from_str("{kind: constant, rate: 1}").expect("static YAML")
}

/// Where a service's fields come from.
struct Entry {
    name: String,
    /// `services[i]` when the service has an entry.
    index: Option<usize>,
    fields: Mapping,
    /// Position among the services generated by `services_trace`.
    generated: Option<usize>,
}

/// Prepares every service of `loaded` (one, for a single-service file); see the module docs.
pub fn prepare_services(
    loaded: &LoadedScenario,
    seed_override: Option<u64>,
) -> Result<PreparedServices, ScenarioErrors> {
    if loaded.document.get("kserve").is_some() {
        return super::kserve_topology::prepare(loaded, seed_override);
    }
    if super::routes::has_revisions(&loaded.document) {
        return super::routes::prepare_revisions(loaded, seed_override);
    }
    if !is_multi(&loaded.document) {
        let prepared = super::prepare(loaded, seed_override)?;
        let warnings = prepared.warnings.clone();
        return Ok(PreparedServices {
            seed: prepared.config.seed,
            services: vec![PreparedService {
                name: loaded.name(),
                prepared,
            }],
            warnings,
            route: None,
        });
    }
    let mut errors: Vec<ScenarioError> = loaded.deferred_errors.clone();
    let mut entries = read_entries(loaded, &mut errors);
    let trace = read_trace_spec(loaded, &mut errors);
    let base_seed = seed_override.unwrap_or(loaded.spec.seed);
    let mut generated = Generated::None;
    if let Some(t) = &trace {
        generated = generate(loaded, t, entries.len(), &mut errors);
        let names = generated.names();
        let mut by_name: std::collections::HashMap<String, usize> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        for (k, name) in names.iter().enumerate() {
            match by_name.remove(name) {
                Some(i) => {
                    let e = &mut entries[i];
                    if e.fields.contains_key("traffic") {
                        errors.push(loaded.error_at(
                            &format!("services[{}].traffic", e.index.unwrap_or(0)),
                            format!("service `{name}` gets its traffic from services_trace; remove `traffic` here"),
                        ));
                    }
                    e.generated = Some(k);
                }
                None => entries.push(Entry {
                    name: name.clone(),
                    index: None,
                    fields: Mapping::new(),
                    generated: Some(k),
                }),
            }
        }
    }
    if entries.len() > limits::MAX_SERVICES {
        errors.push(loaded.error_at(
            "services",
            format!(
                "{} services is too many; allowed: at most {}",
                entries.len(),
                limits::MAX_SERVICES
            ),
        ));
    }
    if entries.is_empty() && errors.is_empty() {
        errors.push(loaded.error_at(
            "services",
            "lists no service; give at least one entry with a `name`",
        ));
    }
    if !errors.is_empty() {
        return Err(finish(errors));
    }

    let shared = without_lists(&loaded.document);
    let mut services = Vec::with_capacity(entries.len());
    let mut warnings = Vec::new();
    let mut pods_at_start: u64 = 0;
    for entry in &entries {
        let Some(service_loaded) = service_scenario(loaded, &shared, entry, &mut errors) else {
            continue;
        };
        let seed = derive_seed(base_seed, &entry.name);
        match super::prepare(&service_loaded, Some(seed)) {
            Ok(mut prepared) => {
                pods_at_start += starting_pods(&prepared.config.autoscaler);
                if prepared.traffic.closed_loop.is_some() {
                    let key = entry.index.map_or("traffic".to_string(), |i| {
                        if entry.fields.contains_key("traffic") {
                            format!("services[{i}].traffic")
                        } else {
                            "traffic".to_string()
                        }
                    });
                    errors.push(loaded.error_at(
                        &key,
                        "closed_loop traffic is supported only in a single-service scenario; use an open-loop kind",
                    ));
                }
                if let Some(k) = entry.generated {
                    let end = SimTime::ZERO + loaded.spec.duration;
                    match generated.source(loaded, trace.as_ref(), k, end) {
                        Ok((plan, describe)) => {
                            prepared.traffic = plan;
                            prepared.config.settings.insert("traffic".into(), describe);
                        }
                        Err(m) => errors.push(loaded.error_at("services_trace.path", m)),
                    }
                }
                warnings.extend(prepared.warnings.iter().cloned());
                services.push(PreparedService {
                    name: entry.name.clone(),
                    prepared,
                });
            }
            Err(e) => errors.extend(e.0),
        }
    }
    if pods_at_start > limits::MAX_TOTAL_PODS {
        errors.push(loaded.error_at(
            "services",
            format!(
                "the services start with {pods_at_start} pods together (min-scale, initial scale or fixed replicas); allowed: at most {}",
                limits::MAX_TOTAL_PODS
            ),
        ));
    }
    if !errors.is_empty() {
        return Err(finish(errors));
    }
    Ok(PreparedServices {
        seed: base_seed,
        services,
        warnings: dedup(warnings),
        route: None,
    })
}

fn finish(errors: Vec<ScenarioError>) -> ScenarioErrors {
    let mut errors = dedup(errors);
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    ScenarioErrors(errors)
}

/// An error inherited from the top level is found once per service; report it once.
fn dedup(errors: Vec<ScenarioError>) -> Vec<ScenarioError> {
    let mut seen = HashSet::new();
    errors
        .into_iter()
        .filter(|e| seen.insert((e.line, e.key.clone(), e.message.clone())))
        .collect()
}

/// Pods a service holds from time 0, whatever its traffic.
fn starting_pods(mode: &AutoscalerMode) -> u64 {
    match mode {
        AutoscalerMode::Fixed { replicas } => u64::from(*replicas),
        AutoscalerMode::Kpa(k) => u64::from(k.scaling.min_scale.max(k.scaling.initial_scale)),
        AutoscalerMode::Hpa(h) => u64::try_from(h.spec.min_replicas).unwrap_or(0),
        AutoscalerMode::Custom(_) => 0,
    }
}

/// The service's seed: the scenario seed mixed with the service name.
pub fn derive_seed(seed: u64, name: &str) -> u64 {
    // FNV-1a: stable across platforms and releases (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = (seed ^ h).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Knative service names are DNS-1035 labels.
pub(super) fn name_problem(name: &str) -> Option<&'static str> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if name.is_empty() || name.len() > 63 {
        Some("must be 1 to 63 characters")
    } else if !ok_chars {
        Some("may contain only lowercase letters, digits and '-'")
    } else if !name.as_bytes()[0].is_ascii_lowercase() {
        Some("must start with a lowercase letter")
    } else if name.ends_with('-') {
        Some("must not end with '-'")
    } else {
        None
    }
}

fn read_entries(loaded: &LoadedScenario, errors: &mut Vec<ScenarioError>) -> Vec<Entry> {
    let Some(list) = loaded.document.get("services") else {
        return Vec::new();
    };
    let Some(list) = list.as_sequence() else {
        errors.push(loaded.error_at(
            "services",
            format!(
                "must be a list of services (`- name: ...`), got {}",
                super::show_value(list)
            ),
        ));
        return Vec::new();
    };
    if list.len() > limits::MAX_SERVICES {
        errors.push(loaded.error_at(
            "services",
            format!(
                "{} services is too many; allowed: at most {}",
                list.len(),
                limits::MAX_SERVICES
            ),
        ));
        return Vec::new();
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut entries = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let at = |k: &str| {
            if k.is_empty() {
                format!("services[{i}]")
            } else {
                format!("services[{i}].{k}")
            }
        };
        let Some(map) = item.as_mapping() else {
            errors.push(loaded.error_at(
                &at(""),
                format!(
                    "a service is a map with `name` and its sections ({}), got {}",
                    SERVICE_SECTIONS.join(", "),
                    super::show_value(item)
                ),
            ));
            continue;
        };
        for key in map.keys() {
            let k = key.as_str().unwrap_or("");
            if !ENTRY_KEYS.contains(&k) {
                let hint = super::suggest(k, ENTRY_KEYS.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                let allowed: Vec<String> = ENTRY_KEYS.iter().map(|k| format!("`{k}`")).collect();
                errors.push(loaded.error_at(
                    &at(k),
                    format!(
                        "unknown field `{k}`, expected one of {}{hint}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        let name = match map.get("name") {
            None => {
                errors.push(
                    loaded.error_at(&at("name"), "is required (a DNS label such as `chat-7b`)"),
                );
                continue;
            }
            Some(v) => match v.as_str() {
                Some(s) => s.to_string(),
                None => {
                    errors.push(loaded.error_at(
                        &at("name"),
                        format!("must be a string, got {}", super::show_value(v)),
                    ));
                    continue;
                }
            },
        };
        if let Some(problem) = name_problem(&name) {
            errors.push(loaded.error_at(&at("name"), format!("\"{name}\" {problem}")));
        }
        if !seen.insert(name.clone()) {
            errors.push(loaded.error_at(
                &at("name"),
                format!("\"{name}\" is already the name of another service; names must be unique"),
            ));
        }
        for section in SERVICE_SECTIONS {
            if let Some(v) = map.get(*section) {
                if let Some(message) = section_problem(section, v) {
                    errors.push(loaded.error_at(&at(section), message));
                }
            }
        }
        let mut fields = map.clone();
        fields.remove("name");
        entries.push(Entry {
            name,
            index: Some(i),
            fields,
            generated: None,
        });
    }
    entries
}

/// The structural error of one section of an entry, if any.
fn section_problem(section: &str, v: &Value) -> Option<String> {
    fn check<T: serde::de::DeserializeOwned>(v: &Value) -> Option<String> {
        serde_yaml::from_value::<T>(v.clone()).err().map(|e| {
            super::with_suggestion(&pinpoint::humanize(&super::strip_location(&e.to_string())))
        })
    }
    match section {
        "service" => check::<super::ServiceSpec>(v),
        "autoscaler" => check::<super::AutoscalerSpec>(v),
        // A preset fills the pod section before it is read.
        "pod" if v.get("preset").is_some() => None,
        "pod" => check::<super::PodSpec>(v),
        "request_path" => check::<super::RequestPathSpec>(v),
        "traffic" => check::<crate::traffic::TrafficSpec>(v),
        _ => None,
    }
}

/// Deep merge: maps key by key, anything else replaced.
pub(super) fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// The single-service scenario of one entry: the shared part with the entry's sections on top.
fn service_scenario(
    loaded: &LoadedScenario,
    shared: &Value,
    entry: &Entry,
    errors: &mut Vec<ScenarioError>,
) -> Option<LoadedScenario> {
    let mut doc = shared.clone();
    let map = doc.as_mapping_mut()?;
    if entry.fields.contains_key("traffic") || entry.generated.is_some() {
        map.remove("traffic");
    }
    for (k, v) in &entry.fields {
        let replace = k.as_str() == Some("traffic")
            || (k.as_str() == Some("pod") && v.get("preset").is_some());
        match map.get_mut(k) {
            Some(slot) if !replace => merge(slot, v),
            _ => {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    map.insert("name".into(), Value::String(entry.name.clone()));
    let prefix = entry.index.map(|i| format!("services[{i}]."));
    if entry.generated.is_some() {
        map.insert("traffic".into(), placeholder_traffic());
    } else if !map.contains_key("traffic") {
        let key = prefix.clone().unwrap_or_default() + "traffic";
        errors.push(loaded.error_at(
            &key,
            format!(
                "service `{}` has no traffic and there is no top-level `traffic` to inherit",
                entry.name
            ),
        ));
        return None;
    }
    if let Err(message) = super::presets::apply(&mut doc) {
        let key = prefix.clone().unwrap_or_default() + "pod.preset";
        errors.push(loaded.error_at(&key, message));
        return None;
    }
    let owned: Vec<String> = entry
        .fields
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    let scope = prefix.map(|p| super::ServiceScope {
        prefix: p,
        sections: owned,
    });
    let spec: super::ScenarioSpec = match serde_yaml::from_value(doc.clone()) {
        Ok(s) => s,
        Err(e) => {
            let key = scope
                .as_ref()
                .map(|s| s.prefix.trim_end_matches('.').to_string())
                .unwrap_or_else(|| "services_trace".into());
            errors.push(loaded.error_at(
                &key,
                format!(
                    "service `{}`: {}",
                    entry.name,
                    pinpoint::humanize(&super::strip_location(&e.to_string()))
                ),
            ));
            return None;
        }
    };
    Some(LoadedScenario {
        path: loaded.path.clone(),
        base_dir: loaded.base_dir.clone(),
        text: loaded.text.clone(),
        spec,
        document: doc,
        deferred_errors: Vec::new(),
        overrides: loaded.overrides.clone(),
        scope,
    })
}
