//! `services_trace:`: services generated from one multi-service trace (see [`super::services`]): the
//! Azure Functions 2019 per-minute trace grouped by function, app or owner ([`crate::traffic::functions`]),
//! or a request trace (the Azure LLM trace, any `requests` trace) split by a rule
//! ([`crate::traffic::split`]). Validation of the section, and the traffic source of each generated service.

use super::services::name_problem;
use super::{limits, pinpoint, LoadedScenario, ScenarioError};
use crate::time::SimTime;
use crate::traffic::functions::{GroupBy, Grouping, ReplayOptions};
use crate::traffic::split::{SplitRule, SplitSource};
use crate::traffic::trace::Spread;
use crate::traffic::{TraceFormat, TraceOptions, TraceSource, TrafficPlan};
use serde::Deserialize;
use std::path::PathBuf;

/// `services_trace:`: services generated from one multi-service trace.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesTraceSpec {
    pub path: PathBuf,
    /// `azure_functions` (grouped), or `azure_llm` / `requests` (split by `split`).
    pub format: TraceFormat,
    /// `azure_functions`: `function` (default), `app` or `owner`.
    #[serde(default)]
    pub group: GroupBy,
    /// `azure_functions`: keep the `top` busiest groups.
    #[serde(default)]
    pub top: Option<usize>,
    /// With `top`: one `rest` service for the other groups (default true) or drop them.
    #[serde(default = "yes")]
    pub rest: bool,
    /// `azure_llm` / `requests`: the rule that picks each request's service.
    #[serde(default)]
    pub split: Option<SplitSpec>,
    /// `azure_functions`: arrivals within each minute (`uniform`, `even`, `poisson`).
    #[serde(default)]
    pub spread: Spread,
    #[serde(default = "one")]
    pub time_scale: f64,
    #[serde(default = "one")]
    pub load_scale: f64,
    #[serde(default, rename = "loop")]
    pub looped: bool,
}

/// `split:` of a request trace.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    /// `random` (by `weights`), `prompt_tokens` or `output_tokens` (by `bounds`).
    pub by: String,
    #[serde(default)]
    pub weights: Vec<f64>,
    #[serde(default)]
    pub bounds: Vec<u32>,
    /// Service names, one per share (default `share-0`…, or `prompt-lt-1000`…).
    #[serde(default)]
    pub names: Vec<String>,
}

fn yes() -> bool {
    true
}
fn one() -> f64 {
    1.0
}

pub(super) fn read_trace_spec(
    loaded: &LoadedScenario,
    errors: &mut Vec<ScenarioError>,
) -> Option<ServicesTraceSpec> {
    let v = loaded.document.get("services_trace")?;
    match serde_yaml::from_value::<ServicesTraceSpec>(v.clone()) {
        Ok(spec) => {
            let mut bad = |k: &str, m: String| {
                errors.push(loaded.error_at(&format!("services_trace.{k}"), m))
            };
            for (k, x) in [
                ("time_scale", spec.time_scale),
                ("load_scale", spec.load_scale),
            ] {
                if !(x.is_finite() && x > 0.0 && x <= 1e6) {
                    bad(k, format!("{x} must be a number in (0, 1000000]"));
                }
            }
            match (spec.format, &spec.split) {
                (TraceFormat::AzureFunctions, Some(_)) => bad(
                    "split",
                    "applies to azure_llm and requests traces; azure_functions uses `group` and `top`".into(),
                ),
                (TraceFormat::AzureFunctions, None) => {
                    if spec.top == Some(0) {
                        bad("top", "0 must be at least 1".into());
                    }
                }
                (TraceFormat::AzureLlm | TraceFormat::Requests, None) => bad(
                    "split",
                    "is required for a request trace: {by: random, weights: [...]} or {by: prompt_tokens, bounds: [...]}".into(),
                ),
                (TraceFormat::AzureLlm | TraceFormat::Requests, Some(_)) => {}
                (other, _) => bad(
                    "format",
                    format!(
                        "\"{}\" cannot be split into services; allowed: azure_functions, azure_llm, requests",
                        other.name()
                    ),
                ),
            }
            Some(spec)
        }
        Err(e) => {
            errors.push(loaded.error_at(
                "services_trace",
                super::with_suggestion(&pinpoint::humanize(&super::strip_location(&e.to_string()))),
            ));
            None
        }
    }
}

/// The services a trace produces.
pub(super) enum Generated {
    None,
    Functions(crate::traffic::functions::GroupedCounts),
    Split(SplitRule, Vec<String>),
}

impl Generated {
    pub(super) fn names(&self) -> Vec<String> {
        match self {
            Generated::None => Vec::new(),
            Generated::Functions(g) => g.names.clone(),
            Generated::Split(_, names) => names.clone(),
        }
    }

    pub(super) fn source(
        &self,
        loaded: &LoadedScenario,
        spec: Option<&ServicesTraceSpec>,
        k: usize,
        end: SimTime,
    ) -> Result<(TrafficPlan, String), String> {
        let spec = spec.expect("a generated service has a trace");
        let path = loaded.base_dir.join(&spec.path);
        match self {
            Generated::None => Err("no trace".into()),
            Generated::Functions(g) => {
                let source = g.source(
                    k,
                    ReplayOptions {
                        spread: spec.spread,
                        time_scale: spec.time_scale,
                        load_scale: spec.load_scale,
                        looped: spec.looped,
                        end,
                    },
                );
                let describe = format!(
                    "azure_functions {} ({:.0} invocations in the file)",
                    g.names[k],
                    g.total(k)
                );
                Ok((
                    TrafficPlan {
                        open_loop: Some(Box::new(source)),
                        closed_loop: None,
                    },
                    describe,
                ))
            }
            Generated::Split(rule, names) => {
                let options = TraceOptions {
                    format: spec.format,
                    time_scale: spec.time_scale,
                    looped: spec.looped,
                    end,
                    ..TraceOptions::default()
                };
                let inner = TraceSource::open(&path, options).map_err(|e| e.to_string())?;
                let source = SplitSource::new(inner, rule.clone(), k, spec.load_scale);
                Ok((
                    TrafficPlan {
                        open_loop: Some(Box::new(source)),
                        closed_loop: None,
                    },
                    format!("{} split: {}", spec.format.name(), names[k]),
                ))
            }
        }
    }
}

pub(super) fn generate(
    loaded: &LoadedScenario,
    spec: &ServicesTraceSpec,
    listed: usize,
    errors: &mut Vec<ScenarioError>,
) -> Generated {
    let path = loaded.base_dir.join(&spec.path);
    let room = limits::MAX_SERVICES.saturating_sub(listed);
    match spec.format {
        TraceFormat::AzureFunctions => {
            let grouping = Grouping {
                by: spec.group,
                top: spec.top,
                rest: spec.rest,
            };
            match crate::traffic::functions::read_grouped(&path, grouping, room) {
                Ok(g) => Generated::Functions(g),
                Err(e) => {
                    errors.push(loaded.error_at("services_trace", e.to_string()));
                    Generated::None
                }
            }
        }
        TraceFormat::AzureLlm | TraceFormat::Requests => {
            let Some(split) = &spec.split else {
                return Generated::None;
            };
            let at = |k: &str| format!("services_trace.split.{k}");
            let rule = match split.by.as_str() {
                "random" => {
                    if split.weights.is_empty()
                        || split.weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
                        || split.weights.iter().sum::<f64>() <= 0.0
                    {
                        errors.push(loaded.error_at(
                            &at("weights"),
                            "must be a non-empty list of non-negative numbers with a positive sum",
                        ));
                        return Generated::None;
                    }
                    SplitRule::Random {
                        weights: split.weights.clone(),
                        seed: loaded.spec.seed,
                    }
                }
                "prompt_tokens" | "output_tokens" => {
                    if split.bounds.is_empty() || split.bounds.windows(2).any(|w| w[0] >= w[1]) {
                        errors.push(loaded.error_at(
                            &at("bounds"),
                            "must be a non-empty list of increasing token counts, e.g. [1000, 4000]",
                        ));
                        return Generated::None;
                    }
                    if split.by == "prompt_tokens" {
                        SplitRule::PromptTokens {
                            bounds: split.bounds.clone(),
                        }
                    } else {
                        SplitRule::OutputTokens {
                            bounds: split.bounds.clone(),
                        }
                    }
                }
                other => {
                    errors.push(loaded.error_at(
                        &at("by"),
                        format!("\"{other}\" is not a split rule; allowed: random, prompt_tokens, output_tokens"),
                    ));
                    return Generated::None;
                }
            };
            if rule.services() > room {
                errors.push(loaded.error_at(
                    "services_trace.split",
                    format!(
                        "{} shares is too many; allowed: at most {room} more services",
                        rule.services()
                    ),
                ));
                return Generated::None;
            }
            let names = if split.names.is_empty() {
                rule.names()
            } else if split.names.len() != rule.services() {
                errors.push(loaded.error_at(
                    &at("names"),
                    format!(
                        "gives {} names for {} shares",
                        split.names.len(),
                        rule.services()
                    ),
                ));
                return Generated::None;
            } else {
                split.names.clone()
            };
            for (i, name) in names.iter().enumerate() {
                if let Some(problem) = name_problem(name) {
                    errors.push(loaded.error_at(
                        &format!("services_trace.split.names[{i}]"),
                        format!("\"{name}\" {problem}"),
                    ));
                }
            }
            // Open once now so that a missing file or a bad header is reported by `validate`.
            if let Err(e) = TraceSource::open(
                &path,
                TraceOptions {
                    format: spec.format,
                    ..TraceOptions::default()
                },
            ) {
                errors.push(loaded.error_at("services_trace.path", e.to_string()));
                return Generated::None;
            }
            Generated::Split(rule, names)
        }
        _ => Generated::None,
    }
}
