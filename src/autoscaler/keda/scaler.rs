//! KEDA triggers over the simulator's metrics: the Prometheus scaler (with a small query language), the
//! cpu and memory scalers (which only shape the generated HPA) and the cron scaler (reused from
//! [`crate::autoscaler::cron::KedaCronTrigger`]).
//!
//! # The query language
//!
//! The simulator has no Prometheus. A `prometheus` trigger's `query` is evaluated over [`KedaMetrics`]: a
//! set of named metrics, each a list of current per-second values (one per pod, or a single value for a
//! service-wide metric). The grammar is exactly
//!
//! ```text
//! query := NAME | AGG "(" NAME ")"          (spaces allowed around tokens)
//! AGG   := sum | avg | max | min | count
//! NAME  := [A-Za-z_:][A-Za-z0-9_:]*
//! ```
//!
//! A bare `NAME` means `sum(NAME)`. A name the simulator does not publish is a query error (the trigger
//! errors, which drives `fallback`). A known metric with no series (no pods) gives 0, as KEDA's default
//! `ignoreNullValues: true` does with an empty Prometheus result. Label selectors, `rate()`, ranges and
//! arithmetic are not supported; the simulator's metrics are already per-second rates.
//!
//! # Activation and the metric value
//!
//! As in KEDA's Prometheus scaler: the trigger is active iff `value > activationThreshold` (strict, f64);
//! the value served to the HPA is 0 for NaN, ±∞ or negative values, else the value rounded to three
//! decimals (`%.3f`) in milli-units. The HPA target is `threshold × 1000` truncated, in milli-units.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::autoscaler::cron::KedaCronTrigger;
use crate::autoscaler::hpa::MetricTarget;

use super::fallback::TargetType;

/// The simulator's current metric values, by name; each a list of series values (per pod, or one).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KedaMetrics {
    pub series: BTreeMap<String, Vec<f64>>,
}

impl KedaMetrics {
    pub fn with(mut self, name: &str, values: Vec<f64>) -> Self {
        self.series.insert(name.to_string(), values);
        self
    }
}

/// An aggregation over a metric's series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Sum,
    Avg,
    Max,
    Min,
    Count,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub aggregation: Aggregation,
    pub metric: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "query {query:?} is not supported: {problem}; supported: NAME or sum|avg|max|min|count(NAME)"
)]
pub struct QueryParseError {
    pub query: String,
    pub problem: String,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

impl Query {
    pub fn parse(text: &str) -> Result<Query, QueryParseError> {
        let err = |problem: &str| QueryParseError {
            query: text.to_string(),
            problem: problem.to_string(),
        };
        let t = text.trim();
        let (aggregation, name) = match t.find('(') {
            None => (Aggregation::Sum, t),
            Some(open) => {
                let agg = match t[..open].trim() {
                    "sum" => Aggregation::Sum,
                    "avg" => Aggregation::Avg,
                    "max" => Aggregation::Max,
                    "min" => Aggregation::Min,
                    "count" => Aggregation::Count,
                    other => return Err(err(&format!("unknown aggregation {other:?}"))),
                };
                let inner = t[open + 1..]
                    .strip_suffix(')')
                    .ok_or_else(|| err("missing closing parenthesis"))?;
                (agg, inner.trim())
            }
        };
        if !valid_name(name) {
            return Err(err(&format!(
                "{name:?} is not a metric name (letters, digits, '_' and ':')"
            )));
        }
        Ok(Query {
            aggregation,
            metric: name.to_string(),
        })
    }

    /// Evaluates the query; `Err` when the metric is not published.
    pub fn eval(&self, metrics: &KedaMetrics) -> Result<f64, String> {
        let values = metrics
            .series
            .get(&self.metric)
            .ok_or_else(|| format!("metric {:?} is not published by the simulator", self.metric))?;
        if values.is_empty() {
            return Ok(0.0);
        }
        let n = values.len() as f64;
        Ok(match self.aggregation {
            Aggregation::Sum => values.iter().sum(),
            Aggregation::Avg => values.iter().sum::<f64>() / n,
            Aggregation::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Aggregation::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            Aggregation::Count => n,
        })
    }
}

/// The value KEDA serves for a float metric, milli-units: 0 for NaN/±∞/negative, else `%.3f` × 1000.
pub fn metric_value_milli(value: f64) -> i64 {
    if !value.is_finite() || value < 0.0 {
        return 0;
    }
    let text = format!("{value:.3}");
    let (whole, frac) = text.split_once('.').unwrap_or((&text, "000"));
    let whole: i64 = whole.parse().unwrap_or(i64::MAX / 1000);
    let frac: i64 = frac.parse().unwrap_or(0);
    whole.saturating_mul(1000).saturating_add(frac)
}

/// What a Prometheus scaler reports: activity and metric (milli), or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalerReport {
    pub is_active: bool,
    pub value_m: Result<i64, String>,
}

/// KEDA's Prometheus `GetMetricsAndActivity` given the query result.
pub fn prometheus_activity(query: Result<f64, String>, activation_threshold: f64) -> ScalerReport {
    match query {
        Ok(v) => ScalerReport {
            is_active: v > activation_threshold,
            value_m: Ok(metric_value_milli(v)),
        },
        Err(e) => ScalerReport {
            is_active: false,
            value_m: Err(e),
        },
    }
}

/// One trigger of a ScaledObject.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerKind {
    /// `prometheus`: `query`, `threshold`, `activationThreshold` (default 0).
    Prometheus {
        query: Query,
        threshold: f64,
        activation_threshold: f64,
    },
    /// `cpu` or `memory`: a Resource metric on the generated HPA (Utilization % or AverageValue milli).
    Resource {
        resource: String,
        container: Option<String>,
        target: MetricTarget,
    },
    /// `cron`: an External metric equal to `desiredReplicas` inside the window, target AverageValue 1.
    Cron(Box<KedaCronTrigger>),
}

/// A trigger with its position and the HPA target type of its metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub index: usize,
    /// `triggers[].name` (KEDA uses it in logs and scaling-modifier formulas).
    pub name: Option<String>,
    /// `triggers[].metricType` for External metrics (AverageValue by default).
    pub metric_type: TargetType,
    pub kind: TriggerKind,
}

impl Trigger {
    /// The External metric name KEDA generates (`s<i>-<scaler>`); `None` for cpu/memory.
    pub fn external_metric_name(&self) -> Option<String> {
        match &self.kind {
            TriggerKind::Prometheus { .. } => Some(format!("s{}-prometheus", self.index)),
            TriggerKind::Cron(c) => Some(c.metric_name()),
            TriggerKind::Resource { .. } => None,
        }
    }

    /// The External metric's HPA target in milli-units (`None` for cpu/memory).
    pub fn external_target_m(&self) -> Option<i64> {
        match &self.kind {
            TriggerKind::Prometheus { threshold, .. } => Some((threshold * 1000.0) as i64),
            TriggerKind::Cron(_) => Some(KedaCronTrigger::TARGET_AVERAGE_VALUE_M),
            TriggerKind::Resource { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_grammar() {
        let q = Query::parse(" avg( vllm:num_requests_waiting ) ").unwrap();
        assert_eq!(q.aggregation, Aggregation::Avg);
        assert_eq!(q.metric, "vllm:num_requests_waiting");
        assert_eq!(Query::parse("rps").unwrap().aggregation, Aggregation::Sum);
        assert!(Query::parse("sum(rate(x[1m]))").is_err());
        assert!(Query::parse("median(x)").is_err());
        assert!(Query::parse("sum(x").is_err());
    }

    #[test]
    fn query_eval() {
        let m = KedaMetrics::default()
            .with("w", vec![1.0, 4.0, 2.5])
            .with("none", vec![]);
        let v = |q: &str| Query::parse(q).unwrap().eval(&m);
        assert_eq!(v("w"), Ok(7.5));
        assert_eq!(v("avg(w)"), Ok(2.5));
        assert_eq!(v("max(w)"), Ok(4.0));
        assert_eq!(v("min(w)"), Ok(1.0));
        assert_eq!(v("count(w)"), Ok(3.0));
        assert_eq!(v("max(none)"), Ok(0.0));
        assert!(v("missing").is_err());
    }

    #[test]
    fn milli_rounding() {
        assert_eq!(metric_value_milli(0.0004), 0);
        assert_eq!(metric_value_milli(0.4999), 500);
        assert_eq!(metric_value_milli(12345.6789), 12_345_679);
        assert_eq!(metric_value_milli(-3.0), 0);
        assert_eq!(metric_value_milli(f64::NAN), 0);
    }
}
