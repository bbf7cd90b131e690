//! KServe topologies in a scenario: an InferenceService's components, and an InferenceGraph routing among
//! InferenceServices, each component a revision of its own in one world.
//!
//! ```yaml
//! kserve:
//!   manifest: manifests/income-transformer.yaml   # InferenceServices (v1beta1), optionally one InferenceGraph
//!   explain_share: 0.05       # share of the external requests that are explain requests (needs an explainer)
//!   components:               # per revision: the sections of a `services:` entry, plus `post_time`
//!     income-transformer:
//!       pod: {service_time: 15ms}
//!       post_time: 5ms        # pod time after the predictor answered (post-processing; default 0)
//!     income-predictor:
//!       pod: {service_time: {dist: exponential, mean: 120ms}}
//! traffic: {kind: poisson, rate: 20}              # the external traffic
//! ```
//!
//! Each InferenceService `<isvc>` becomes the revisions `<isvc>-predictor`, and `<isvc>-transformer`,
//! `<isvc>-explainer` when it has them; each reads its own component's fields from the manifest
//! (`minReplicas`, `maxReplicas`, `scaleMetric`, `scaleTarget`, `containerConcurrency`, `timeout`,
//! annotations, resources) and is autoscaled on its own. An InferenceGraph `<graph>` becomes a router
//! revision `<graph>` (a pod whose service time is the router's hop, 1 ms unless
//! `components.<graph>.pod.service_time` says otherwise; its `spec.timeout` is the revision timeout and
//! its `minReplicas`/`maxReplicas`/`scaleMetric`/`scaleTarget` size it).
//!
//! Who calls whom (see [`crate::request_path::calls`]): external traffic goes to the graph's router, else
//! to the one InferenceService's transformer, else its predictor. A transformer runs its service time
//! (pre-processing), calls its predictor and waits with its slot held, then runs `post_time`. An
//! explainer calls its predictor the same way; `explain_share` of the external requests go to it instead
//! of the transformer (or predictor). The router calls the root node's steps: in order (Sequence), all at
//! once (Ensemble), one by weight (Splitter) or the first whose condition holds (Switch); a step naming an
//! InferenceService calls its transformer when it has one, else its predictor.
//!
//! The top-level sections are every component's defaults (as for `services:`); `components.<revision>`
//! sections merge on top. Errors in them name `kserve.components.<revision>.…`.

use super::manifests::{read_kserve_shape, KserveShape};
use super::services::merge as merge_value;
use super::{LoadedScenario, PreparedServices, ScenarioError, ScenarioErrors};
use crate::dist::DurationDist;
use crate::request_path::calls::{CallSpec, StepSpec};
use crate::time::SimDuration;
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;

const KEYS: &[&str] = &["manifest", "explain_share", "components"];
const COMPONENT_KEYS: &[&str] = &["service", "autoscaler", "pod", "request_path", "post_time"];
/// The router's hop when the scenario does not set one.
const ROUTER_SERVICE_TIME: &str = "1ms";

/// Prepares a scenario with a `kserve:` section: one service per component and router, with their calls.
pub fn prepare(
    loaded: &LoadedScenario,
    seed_override: Option<u64>,
) -> Result<PreparedServices, ScenarioErrors> {
    let (expanded, mut calls, names) = expand(loaded).map_err(ScenarioErrors)?;
    let mut prepared = super::services::prepare_services(&expanded, seed_override)
        .map_err(|e| ScenarioErrors(e.0.into_iter().map(|e| remap(loaded, &names, e)).collect()))?;
    for s in &mut prepared.services {
        let settings = &s.prepared.config.settings;
        let mut c = calls.remove(&s.name);
        if let Some(c) = c.as_mut() {
            for key in [
                "autoscaler",
                "metric",
                "target",
                "min-scale",
                "max-scale",
                "containerConcurrency",
            ] {
                if let Some(v) = settings.get(key) {
                    c.describe.insert(key.into(), v.clone());
                }
            }
        }
        s.prepared.config.calls = c.map(Box::new);
    }
    Ok(prepared)
}

/// An error about `services[i].…` of the expanded file, pointed at `kserve.components.<name>.…`.
fn remap(loaded: &LoadedScenario, names: &[String], e: ScenarioError) -> ScenarioError {
    let Some(rest) = e.key.strip_prefix("services[") else {
        return e;
    };
    let Some((i, tail)) = rest.split_once(']') else {
        return e;
    };
    let Some(name) = i.parse::<usize>().ok().and_then(|i| names.get(i)) else {
        return e;
    };
    loaded.error_at(&format!("kserve.components.{name}{tail}"), e.message)
}

type Expanded = (LoadedScenario, BTreeMap<String, CallSpec>, Vec<String>);

fn expand(loaded: &LoadedScenario) -> Result<Expanded, Vec<ScenarioError>> {
    let err = |key: &str, m: String| vec![loaded.error_at(key, m)];
    let section = loaded
        .document
        .get("kserve")
        .cloned()
        .unwrap_or(Value::Null);
    let Some(map) = section.as_mapping() else {
        return Err(err(
            "kserve",
            "must be a map with `manifest` (and optionally `explain_share`, `components`)".into(),
        ));
    };
    for k in map.keys() {
        let k = k.as_str().unwrap_or("");
        if !KEYS.contains(&k) {
            return Err(err(
                &format!("kserve.{k}"),
                format!("unknown field `{k}`, expected one of `manifest`, `explain_share`, `components`"),
            ));
        }
    }
    for other in ["services", "services_trace"] {
        if loaded.document.get(other).is_some() {
            return Err(err(
                other,
                "cannot be combined with `kserve:` (the services are the manifest's components)"
                    .into(),
            ));
        }
    }
    if loaded
        .document
        .get("service")
        .and_then(|s| s.get("manifest"))
        .is_some()
    {
        return Err(err(
            "service.manifest",
            "with `kserve:`, the manifest is `kserve.manifest`; `service` holds defaults for every component".into(),
        ));
    }
    let Some(manifest) = map.get("manifest").and_then(Value::as_str) else {
        return Err(err(
            "kserve.manifest",
            "is required: the path of a file with InferenceServices".into(),
        ));
    };
    let shape = read_kserve_shape(&loaded.base_dir.join(manifest))
        .map_err(|m| err("kserve.manifest", m))?;
    let explain_share = match map.get("explain_share") {
        None => 0.0,
        Some(v) => match v.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => x,
            _ => {
                return Err(err(
                    "kserve.explain_share",
                    format!("must be a number in [0, 1], got {}", super::show_value(v)),
                ))
            }
        },
    };
    let user: Mapping = match map.get("components") {
        None => Mapping::new(),
        Some(Value::Mapping(m)) => m.clone(),
        Some(v) => {
            return Err(err(
                "kserve.components",
                format!(
                    "must be a map from revision name to its sections, got {}",
                    super::show_value(v)
                ),
            ))
        }
    };
    let mut plan = plan(&shape, explain_share).map_err(|m| err("kserve", m))?;
    let names: Vec<String> = plan.iter().map(|c| c.name.clone()).collect();
    for (k, v) in &user {
        let k = k.as_str().unwrap_or("");
        let Some(c) = plan.iter_mut().find(|c| c.name == k) else {
            return Err(err(
                &format!("kserve.components.{k}"),
                format!(
                    "`{k}` is not a revision of this topology; allowed: {}",
                    names.join(", ")
                ),
            ));
        };
        let Some(fields) = v.as_mapping() else {
            return Err(err(
                &format!("kserve.components.{k}"),
                "must be a map of sections".into(),
            ));
        };
        for (f, fv) in fields {
            let f = f.as_str().unwrap_or("");
            if !COMPONENT_KEYS.contains(&f) {
                return Err(err(
                    &format!("kserve.components.{k}.{f}"),
                    format!(
                        "unknown field `{f}`, expected one of {} (the external traffic is the top-level `traffic`)",
                        COMPONENT_KEYS.join(", ")
                    ),
                ));
            }
            if f == "post_time" {
                let key = format!("kserve.components.{k}.post_time");
                let spec: crate::dist::DistSpec =
                    serde_yaml::from_value(fv.clone()).map_err(|e| {
                        err(
                            &key,
                            super::pinpoint::humanize(&super::strip_location(&e.to_string())),
                        )
                    })?;
                c.calls.post_time = spec.build(&loaded.base_dir).map_err(|m| err(&key, m))?;
                continue;
            }
            let slot = c
                .entry
                .entry(f.into())
                .or_insert(Value::Mapping(Mapping::new()));
            merge_value(slot, fv);
        }
    }
    let mut doc = loaded.document.clone();
    let out = doc.as_mapping_mut().expect("the document is a map");
    out.remove("kserve");
    let mut services = Vec::with_capacity(plan.len());
    let mut calls = BTreeMap::new();
    for c in plan {
        let mut entry = c.entry;
        entry.insert("name".into(), c.name.clone().into());
        if let Some(isvc) = &c.isvc {
            let service = entry
                .entry("service".into())
                .or_insert(Value::Mapping(Mapping::new()));
            let mut from_manifest = Mapping::new();
            from_manifest.insert("manifest".into(), manifest.into());
            from_manifest.insert("name".into(), isvc.as_str().into());
            from_manifest.insert("component".into(), c.component.into());
            let mut base = Value::Mapping(from_manifest);
            merge_value(&mut base, service);
            *service = base;
        }
        services.push(Value::Mapping(entry));
        let mut spec = c.calls;
        spec.describe.insert("component".into(), c.component.into());
        if !spec.steps.is_empty() {
            spec.describe
                .insert("calls".into(), steps_text(&spec.steps));
        }
        calls.insert(c.name, spec);
    }
    out.insert("services".into(), Value::Sequence(services));
    let expanded = LoadedScenario {
        document: doc,
        deferred_errors: loaded.deferred_errors.clone(),
        ..loaded.clone()
    };
    Ok((expanded, calls, names))
}

/// The steps as the summary shows them: `a -> b` (a sequence), `all(a, b)`, `pick(a 80, b 20)`,
/// `switch(a, b)`.
fn steps_text(steps: &[StepSpec]) -> String {
    let text: Vec<String> = steps
        .iter()
        .map(|s| match s {
            StepSpec::All(t) if t.len() == 1 => t[0].clone(),
            StepSpec::All(t) => format!("all({})", t.join(", ")),
            StepSpec::Pick(t) => {
                let parts: Vec<String> = t.iter().map(|(n, w)| format!("{n} {w}")).collect();
                format!("pick({})", parts.join(", "))
            }
            StepSpec::Switch(t) => {
                let parts: Vec<&str> = t.iter().map(|(_, n)| n.as_str()).collect();
                format!("switch({})", parts.join(", "))
            }
        })
        .collect();
    text.join(" -> ")
}

/// One revision of the topology before the scenario's sections are added.
struct Component {
    name: String,
    /// The InferenceService it reads its fields from (`None`: the graph's router).
    isvc: Option<String>,
    component: &'static str,
    entry: Mapping,
    calls: CallSpec,
}

fn callee(isvc: &str, component: &'static str) -> Component {
    Component {
        name: format!("{isvc}-{component}"),
        isvc: Some(isvc.to_string()),
        component,
        entry: Mapping::new(),
        calls: CallSpec::callee(),
    }
}

/// The revisions of `shape`, the external entry first, and their calls.
fn plan(shape: &KserveShape, explain_share: f64) -> Result<Vec<Component>, String> {
    let mut out = Vec::new();
    let front = |name: &str| {
        let s = shape.services.iter().find(|s| s.name == name);
        let c = if s.is_some_and(|s| s.transformer) {
            "transformer"
        } else {
            "predictor"
        };
        format!("{name}-{c}")
    };
    if let Some(g) = &shape.graph {
        if explain_share > 0.0 {
            return Err("explain_share with an InferenceGraph is not simulated (explain requests go to one InferenceService's explainer); remove it".into());
        }
        let steps = match g.router_type.as_str() {
            "Sequence" => g
                .steps
                .iter()
                .map(|s| StepSpec::All(vec![front(&s.service)]))
                .collect(),
            "Ensemble" => vec![StepSpec::All(
                g.steps.iter().map(|s| front(&s.service)).collect(),
            )],
            "Splitter" => vec![StepSpec::Pick(
                g.steps
                    .iter()
                    .map(|s| (front(&s.service), s.weight.unwrap_or(0)))
                    .collect(),
            )],
            _ => vec![StepSpec::Switch(
                g.steps
                    .iter()
                    .filter_map(|s| Some((s.condition?, front(&s.service))))
                    .collect(),
            )],
        };
        let mut service = Mapping::new();
        if let Some(t) = g.timeout_seconds {
            service.insert("timeout".into(), format!("{t}s").into());
        }
        if let Some(n) = g.min_replicas {
            service.insert("minReplicas".into(), n.into());
        }
        if let Some(n) = g.max_replicas {
            service.insert("maxReplicas".into(), n.into());
        }
        if let Some(m) = &g.scale_metric {
            service.insert("scaleMetric".into(), m.as_str().into());
        }
        if let Some(t) = g.scale_target {
            service.insert("scaleTarget".into(), t.into());
        }
        let mut pod = Mapping::new();
        pod.insert("service_time".into(), ROUTER_SERVICE_TIME.into());
        let mut entry = Mapping::new();
        entry.insert("service".into(), Value::Mapping(service));
        entry.insert("pod".into(), Value::Mapping(pod));
        out.push(Component {
            name: g.name.clone(),
            isvc: None,
            component: "router",
            entry,
            calls: CallSpec {
                steps,
                post_time: DurationDist::constant(SimDuration::ZERO),
                external: true,
                divert: None,
                describe: BTreeMap::new(),
            },
        });
    } else if shape.services.len() > 1 {
        let names: Vec<&str> = shape.services.iter().map(|s| s.name.as_str()).collect();
        return Err(format!(
            "the manifest holds {} InferenceServices ({}) and no InferenceGraph to route among them; keep one, or add an InferenceGraph",
            names.len(),
            names.join(", ")
        ));
    }
    for s in &shape.services {
        let predictor = format!("{}-predictor", s.name);
        let calls_predictor = || CallSpec {
            steps: vec![StepSpec::All(vec![predictor.clone()])],
            ..CallSpec::callee()
        };
        let entry = shape.graph.is_none();
        let explainer = s.explainer.then(|| format!("{}-explainer", s.name));
        if explain_share > 0.0 && explainer.is_none() {
            return Err(format!(
                "explain_share is {explain_share} but InferenceService `{}` has no spec.explainer",
                s.name
            ));
        }
        let divert = explainer
            .filter(|_| explain_share > 0.0)
            .map(|e| (e, explain_share));
        let mut p = callee(&s.name, "predictor");
        if s.transformer {
            let mut t = callee(&s.name, "transformer");
            t.calls = CallSpec {
                external: entry,
                divert: divert.clone().filter(|_| entry),
                ..calls_predictor()
            };
            out.push(t);
        } else {
            p.calls.external = entry;
            p.calls.divert = divert.filter(|_| entry);
        }
        out.push(p);
        if s.explainer {
            let mut e = callee(&s.name, "explainer");
            e.calls = calls_predictor();
            out.push(e);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &out {
        if !seen.insert(c.name.as_str()) {
            return Err(format!("two revisions would be named `{}`; rename the InferenceGraph or an InferenceService", c.name));
        }
        if let Some(p) = super::services::name_problem(&c.name) {
            return Err(format!("revision name `{}` {p}", c.name));
        }
    }
    Ok(out)
}
