//! `spec.triggers` of a ScaledObject: `prometheus` (query, threshold, activation threshold), `cpu` and
//! `memory` (Utilization or AverageValue) and `cron`; other trigger types are refused with a located error.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use crate::autoscaler::cron::KedaCronTrigger;
use crate::autoscaler::hpa::{parse_quantity_milli, MetricTarget};
use crate::autoscaler::keda::{Query, TargetType, Trigger, TriggerKind};
use crate::scenario::ScenarioError;

use super::ctx::Ctx;

const PROMETHEUS_CONNECTION_KEYS: &[&str] = &[
    "serverAddress",
    "namespace",
    "authModes",
    "customHeaders",
    "unsafeSsl",
    "queryParameters",
    "timeout",
    "cortexOrgID",
];

pub(super) fn parse_triggers(cx: &Ctx, spec: &Mapping) -> Result<Vec<Trigger>, ScenarioError> {
    let list = spec
        .get("triggers")
        .and_then(Value::as_sequence)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| cx.err("spec.triggers", "required: a non-empty list of triggers"))?;
    let mut out = Vec::new();
    for (index, t) in list.iter().enumerate() {
        let tp = format!("spec.triggers[{index}]");
        let t = cx.map(t, &tp)?;
        cx.check_keys(
            t,
            &tp,
            &[
                "type",
                "name",
                "metadata",
                "metricType",
                "useCachedMetrics",
                "authenticationRef",
            ],
        )?;
        let mut metadata = BTreeMap::new();
        if let Some(m) = t.get("metadata") {
            for (k, v) in cx.map(m, &format!("{tp}.metadata"))? {
                let k = cx.scalar(k, &format!("{tp}.metadata"))?;
                let path = format!("{tp}.metadata.{k}");
                metadata.insert(k, cx.scalar(v, &path)?);
            }
        }
        let metric_type = t.get("metricType").and_then(Value::as_str).unwrap_or("");
        let kind_text = t.get("type").and_then(Value::as_str).unwrap_or("");
        let type_error = || {
            cx.err(
                &format!("{tp}.type"),
                format!("trigger type {kind_text:?} is not modelled: expected prometheus, cpu, memory or cron"),
            )
        };
        // Checked first so a bad type is reported before anything that depends on it.
        if !matches!(kind_text, "prometheus" | "cpu" | "memory" | "cron") {
            return Err(type_error());
        }
        let mp = |k: &str| format!("{tp}.metadata.{k}");
        let float = |k: &str, default: Option<f64>| -> Result<f64, ScenarioError> {
            match metadata.get(k) {
                None => default.ok_or_else(|| cx.err(&mp(k), "required: a number")),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| cx.err(&mp(k), format!("{v:?} is not a number"))),
            }
        };
        let external_type = match metric_type {
            "" | "AverageValue" => TargetType::AverageValue,
            "Value" => TargetType::Value,
            _ if matches!(kind_text, "cpu" | "memory") => TargetType::AverageValue,
            other => {
                return Err(cx.err(
                    &format!("{tp}.metricType"),
                    format!("{other:?}: expected AverageValue or Value"),
                ))
            }
        };
        let kind = match kind_text {
            "prometheus" => {
                for k in metadata.keys() {
                    let known = [
                        "query",
                        "threshold",
                        "activationThreshold",
                        "ignoreNullValues",
                    ];
                    if !known.contains(&k.as_str())
                        && !PROMETHEUS_CONNECTION_KEYS.contains(&k.as_str())
                    {
                        return Err(cx.err(
                            &mp(k),
                            format!("unsupported prometheus metadata {k:?}; supported: query, threshold, activationThreshold, ignoreNullValues (true), and connection keys (unused)"),
                        ));
                    }
                }
                if metadata
                    .get("ignoreNullValues")
                    .is_some_and(|v| v != "true")
                {
                    return Err(cx.err(
                        &mp("ignoreNullValues"),
                        "only true (the default) is modelled",
                    ));
                }
                let q = metadata.get("query").ok_or_else(|| {
                    cx.err(
                        &mp("query"),
                        "required: a query over the simulator's metrics",
                    )
                })?;
                let query = Query::parse(q).map_err(|e| cx.err(&mp("query"), e.to_string()))?;
                TriggerKind::Prometheus {
                    query,
                    threshold: float("threshold", None)?,
                    activation_threshold: float("activationThreshold", Some(0.0))?,
                }
            }
            "cpu" | "memory" => {
                let value = metadata
                    .get("value")
                    .ok_or_else(|| cx.err(&mp("value"), "required: the target value"))?;
                let target = match metric_type {
                    "" | "Utilization" => MetricTarget::Utilization(
                        value
                            .trim()
                            .parse::<i32>()
                            .ok()
                            .filter(|p| *p > 0)
                            .ok_or_else(|| {
                                cx.err(
                                    &mp("value"),
                                    format!("{value:?}: expected a whole percent > 0"),
                                )
                            })?,
                    ),
                    "AverageValue" => MetricTarget::AverageValue(
                        parse_quantity_milli(value)
                            .ok()
                            .filter(|m| *m > 0)
                            .ok_or_else(|| {
                                cx.err(
                                    &mp("value"),
                                    format!("{value:?}: expected a positive quantity"),
                                )
                            })?,
                    ),
                    other => {
                        return Err(cx.err(
                            &format!("{tp}.metricType"),
                            format!(
                            "{other:?}: a {kind_text} trigger takes Utilization or AverageValue"
                        ),
                        ))
                    }
                };
                TriggerKind::Resource {
                    resource: kind_text.to_string(),
                    container: metadata.get("containerName").cloned(),
                    target,
                }
            }
            "cron" => TriggerKind::Cron(Box::new(
                KedaCronTrigger::from_metadata(&metadata, index)
                    .map_err(|e| cx.err(&format!("{tp}.metadata"), e.to_string()))?,
            )),
            _ => return Err(type_error()),
        };
        out.push(Trigger {
            index,
            name: t.get("name").and_then(Value::as_str).map(str::to_string),
            metric_type: external_type,
            kind,
        });
    }
    Ok(out)
}
