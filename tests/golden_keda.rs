//! Golden harness for KEDA: replays `testdata/golden/keda_scaledobject.yaml` (and every
//! `keda_scaledobject*` file in `$PODSCALE_EXTRA_GOLDEN`) against `podscale::autoscaler::keda`, printing
//! `golden FILE: N/M match`. The replay model is `shared/golden/KEDA.md`. A malformed case or an unknown
//! section counts as a mismatch, never a panic.

mod common;

use std::collections::BTreeMap;

use podscale::autoscaler::keda::{
    prometheus_activity, request_scale, ConditionStatus, Conditions, ExecutorInputs, ExecutorSpec,
    FallbackBehavior, FallbackReplicas, FallbackSpec, FallbackState, Health, HealthStatus,
    HpaScalingActive, MetricTargetInfo, ScalingModifiers, TargetType,
};
use podscale::time::SimTime;
use serde_yaml::Value;

type R<T> = Result<T, String>;
type Runner = fn(&Value) -> R<()>;

fn field<'a>(v: &'a Value, key: &str) -> R<&'a Value> {
    v.get(key).ok_or_else(|| format!("field `{key}` missing"))
}
fn int(v: &Value, key: &str) -> R<i64> {
    field(v, key)?
        .as_i64()
        .ok_or_else(|| format!("field `{key}` is not an integer"))
}
fn opt_int(v: &Value, key: &str) -> R<Option<i64>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("field `{key}` is not an integer")),
    }
}
fn boolean(v: &Value, key: &str) -> R<bool> {
    field(v, key)?
        .as_bool()
        .ok_or_else(|| format!("field `{key}` is not a boolean"))
}
fn text(v: &Value, key: &str) -> R<String> {
    match field(v, key)? {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("field `{key}` is not a string: {other:?}")),
    }
}
fn float(v: &Value, key: &str) -> R<f64> {
    match field(v, key)? {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("`{key}` not a float")),
        Value::String(s) => s.parse().map_err(|_| format!("`{key}` not a float")),
        other => Err(format!("field `{key}` is not a number: {other:?}")),
    }
}
fn strings(v: &Value, key: &str) -> R<Vec<String>> {
    field(v, key)?
        .as_sequence()
        .ok_or_else(|| format!("field `{key}` is not a list"))?
        .iter()
        .map(|x| {
            x.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`{key}` holds a non-string"))
        })
        .collect()
}
fn check<T: PartialEq + std::fmt::Debug>(what: &str, expected: T, actual: T) -> R<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected:?}, got {actual:?}"))
    }
}
fn status(text: &str) -> R<ConditionStatus> {
    match text {
        "True" => Ok(ConditionStatus::True),
        "False" => Ok(ConditionStatus::False),
        "Unknown" => Ok(ConditionStatus::Unknown),
        other => Err(format!("unknown condition status {other:?}")),
    }
}
fn time(ns: i64) -> R<SimTime> {
    u64::try_from(ns)
        .map(SimTime)
        .map_err(|_| format!("negative time {ns}"))
}

fn fallback_spec(v: &Value) -> R<Option<FallbackSpec>> {
    match v.get("fallback") {
        None | Some(Value::Null) => Ok(None),
        Some(f) => Ok(Some(FallbackSpec {
            failure_threshold: int(f, "failure_threshold")? as i32,
            replicas: int(f, "replicas")? as i32,
            behavior: FallbackBehavior::parse(&text(f, "behavior")?),
        })),
    }
}

// ---------------------------------------------------------------- scale_executor

fn executor_case(case: &Value) -> R<()> {
    let input = field(case, "input")?;
    let expected = field(case, "expected")?;
    let annotations = field(input, "annotations")?
        .as_mapping()
        .ok_or("annotations is not a map")?
        .iter()
        .map(|(k, v)| {
            Ok((
                k.as_str().ok_or("annotation key")?.to_string(),
                v.as_str().ok_or("annotation value")?.to_string(),
            ))
        })
        .collect::<R<BTreeMap<_, _>>>()?;
    let spec = ExecutorSpec {
        min_replica_count: opt_int(input, "min_replica_count")?.map(|x| x as i32),
        idle_replica_count: opt_int(input, "idle_replica_count")?.map(|x| x as i32),
        cooldown_period_s: opt_int(input, "cooldown_period_s")?.map(|x| x as u64),
        initial_cooldown_period_s: opt_int(input, "initial_cooldown_period_s")?.map(|x| x as u64),
        fallback: fallback_spec(input)?.map(|f| FallbackReplicas {
            replicas: f.replicas,
        }),
        annotations,
        target: "apps/v1.Deployment ns/target".into(),
    };
    let hpa_scaling_active = match input.get("hpa_scaling_active_condition") {
        None | Some(Value::Null) => None,
        Some(c) => Some(HpaScalingActive {
            status: status(&text(c, "status")?)?,
            reason: text(c, "reason")?,
            message: text(c, "message")?,
        }),
    };
    let inputs = ExecutorInputs {
        now: time(int(input, "now_ns")?)?,
        creation_time: time(int(input, "creation_time_ns")?)?,
        last_active_time: opt_int(input, "last_active_time_ns")?
            .map(time)
            .transpose()?,
        current_replicas: if boolean(input, "get_current_replicas_error")? {
            Err("stub: cannot get current replicas".into())
        } else {
            Ok(int(input, "current_replicas")? as i32)
        },
        scale_update_fails: boolean(input, "scale_update_error")?,
        is_active: boolean(input, "is_active")?,
        is_error: boolean(input, "is_error")?,
        active_triggers: strings(input, "active_triggers")?,
        external_metric_names: strings(input, "external_metric_names")?,
        hpa_name: text(input, "hpa_name")?,
        hpa_get_fails: boolean(input, "hpa_get_error")?,
        hpa_scaling_active,
    };
    let mut conditions = Conditions::default();
    let out = request_scale(&spec, &inputs, &mut conditions);

    let writes = field(expected, "scale_writes")?
        .as_sequence()
        .ok_or("scale_writes is not a list")?
        .iter()
        .map(|w| Ok((int(w, "replicas")? as i32, boolean(w, "succeeded")?)))
        .collect::<R<Vec<_>>>()?;
    let got: Vec<_> = out
        .scale_writes
        .iter()
        .map(|w| (w.replicas, w.succeeded))
        .collect();
    check("scale_writes", writes, got)?;
    let conds = field(expected, "conditions")?
        .as_sequence()
        .ok_or("conditions is not a list")?
        .iter()
        .map(|c| {
            Ok((
                text(c, "type")?,
                status(&text(c, "status")?)?,
                text(c, "reason")?,
                text(c, "message")?,
            ))
        })
        .collect::<R<Vec<_>>>()?;
    let got: Vec<_> = conditions
        .0
        .iter()
        .map(|c| {
            (
                c.kind.to_string(),
                c.status,
                c.reason.clone(),
                c.message.clone(),
            )
        })
        .collect();
    check("conditions", conds, got)?;
    check(
        "last_active_time_ns",
        opt_int(expected, "last_active_time_ns")?,
        out.last_active_time.map(|t| t.as_nanos() as i64),
    )?;
    let error = match field(expected, "error")? {
        Value::Null => None,
        _ => Some(text(expected, "error")?),
    };
    check("error", error, out.error.clone())?;
    let events = field(expected, "events")?
        .as_sequence()
        .ok_or("events is not a list")?
        .iter()
        .map(|e| Ok((text(e, "type")?, text(e, "reason")?, text(e, "note")?)))
        .collect::<R<Vec<_>>>()?;
    let got: Vec<_> = out
        .events
        .iter()
        .map(|e| {
            let kind = if e.warning { "Warning" } else { "Normal" };
            (kind.to_string(), e.reason.to_string(), e.note.clone())
        })
        .collect();
    check("events", events, got)?;
    let activity = field(expected, "triggers_activity")?
        .as_mapping()
        .ok_or("triggers_activity is not a map")?
        .iter()
        .map(|(k, v)| {
            Ok((
                k.as_str().ok_or("activity key")?.to_string(),
                v.as_bool().ok_or("activity value")?,
            ))
        })
        .collect::<R<BTreeMap<_, _>>>()?;
    check("triggers_activity", activity, out.triggers_activity)
}

// ---------------------------------------------------------------- fallback

fn health_of(v: &Value) -> R<Option<Health>> {
    match v {
        Value::Null => Ok(None),
        h => Ok(Some(Health {
            failures: int(h, "number_of_failures")? as i32,
            status: match text(h, "status")?.as_str() {
                "Happy" => HealthStatus::Happy,
                "Failing" => HealthStatus::Failing,
                other => return Err(format!("unknown health status {other:?}")),
            },
        })),
    }
}

fn fallback_case(case: &Value) -> R<()> {
    let input = field(case, "input")?;
    let fallback = fallback_spec(input)?;
    let modifiers = match input.get("scaling_modifiers") {
        None | Some(Value::Null) => ScalingModifiers::default(),
        Some(m) => ScalingModifiers {
            formula: text(m, "formula").unwrap_or_default(),
            target: text(m, "target").unwrap_or_default(),
            activation_target: text(m, "activation_target").unwrap_or_default(),
            metric_type: text(m, "metric_type").unwrap_or_default(),
        },
    };
    let metric = MetricTargetInfo {
        name: text(input, "metric_name")?,
        target_type: match text(input, "metric_target_type")?.as_str() {
            "Value" => TargetType::Value,
            _ => TargetType::AverageValue,
        },
        target: float(input, "metric_target_as_float64")?,
    };
    let mut state = FallbackState::default();
    if let Some(h) = health_of(field(input, "initial_health")?)? {
        state.health.insert(metric.name.clone(), h);
    }
    let current = int(input, "current_replicas")? as i32;
    let ready = int(input, "ready_running_pods")? as i32;
    let steps = field(input, "steps")?.as_sequence().ok_or("steps")?;
    let expected = field(case, "expected_steps")?
        .as_sequence()
        .ok_or("expected_steps")?;
    check("step count", expected.len(), steps.len())?;
    for (i, (step, exp)) in steps.iter().zip(expected).enumerate() {
        let scaler = if boolean(step, "scaler_error")? {
            Err("scaler error".to_string())
        } else {
            Ok(int(step, "scaler_metric_milli")?)
        };
        let r = state.get_metrics(
            fallback.as_ref(),
            &modifiers,
            &metric,
            scaler,
            current,
            ready,
        );
        let want_metrics = match field(exp, "metrics")? {
            Value::Null => None,
            Value::Sequence(ms) => Some(
                ms.iter()
                    .map(|m| Ok((text(m, "name")?, int(m, "value_milli")?)))
                    .collect::<R<Vec<_>>>()?,
            ),
            other => return Err(format!("metrics: {other:?}")),
        };
        let got_metrics = r
            .metrics
            .as_ref()
            .ok()
            .map(|ms| ms.iter().map(|m| (m.name.clone(), m.value_m)).collect());
        let step_check = || -> R<()> {
            check("metrics", want_metrics, got_metrics)?;
            let want_err = match field(exp, "error")? {
                Value::Null => None,
                _ => Some(text(exp, "error")?),
            };
            check("error", want_err, r.metrics.clone().err())?;
            check(
                "fallback_active",
                boolean(exp, "fallback_active")?,
                r.fallback_active,
            )?;
            check(
                "health",
                health_of(field(exp, "health")?)?,
                state.health.get(&metric.name).copied(),
            )?;
            let want_cond = match field(exp, "fallback_condition")? {
                Value::Null => None,
                c => Some((text(c, "status")?, text(c, "reason")?)),
            };
            let got_cond = state.condition.map(|exists| {
                if exists {
                    ("True".to_string(), "FallbackExists".to_string())
                } else {
                    ("False".to_string(), "NoFallbackFound".to_string())
                }
            });
            check("fallback_condition", want_cond, got_cond)
        };
        step_check().map_err(|e| format!("step {i}: {e}"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- activation

fn activation_case(case: &Value) -> R<()> {
    let input = field(case, "input")?;
    let expected = field(case, "expected")?;
    let query = if boolean(input, "query_error")? {
        Err("query error".to_string())
    } else {
        Ok(float(input, "query_value")?)
    };
    let r = prometheus_activity(query, float(input, "activation_threshold")?);
    check("is_active", boolean(expected, "is_active")?, r.is_active)?;
    check(
        "metric_value_milli",
        opt_int(expected, "metric_value_milli")?,
        r.value_m.clone().ok(),
    )?;
    check("error", boolean(expected, "error")?, r.value_m.is_err())
}

// ---------------------------------------------------------------- driver

#[derive(Default)]
struct Tally {
    matched: usize,
    total: usize,
    mismatches: Vec<String>,
}

fn run_doc(doc: &Value) -> Tally {
    let mut tally = Tally::default();
    let runners: [(&str, Runner); 3] = [
        ("scale_executor", executor_case),
        ("fallback", fallback_case),
        ("activation", activation_case),
    ];
    let Some(map) = doc.as_mapping() else {
        tally.total = 1;
        tally.mismatches.push("file is not a YAML mapping".into());
        return tally;
    };
    for (key, cases) in map {
        let section = key.as_str().unwrap_or("?");
        if section == "meta" {
            continue;
        }
        let Some(runner) = runners.iter().find(|(s, _)| *s == section).map(|(_, r)| r) else {
            tally.total += 1;
            tally.mismatches.push(format!(
                "{section}: unknown section: the harness has no runner for it"
            ));
            continue;
        };
        for (i, case) in cases.as_sequence().into_iter().flatten().enumerate() {
            tally.total += 1;
            let id = case
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("{section}#{i}"), str::to_string);
            match runner(case) {
                Ok(()) => tally.matched += 1,
                Err(e) => tally.mismatches.push(format!("{id}: {e}")),
            }
        }
    }
    tally
}

#[test]
fn golden_keda() {
    let mut failures = Vec::new();
    for path in common::golden_files("keda_scaledobject.yaml", "keda_scaledobject") {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let tally = match serde_yaml::from_str::<Value>(&text) {
            Ok(doc) => run_doc(&doc),
            Err(e) => Tally {
                matched: 0,
                total: 1,
                mismatches: vec![format!("not valid YAML: {e}")],
            },
        };
        let name = path.file_name().unwrap().to_string_lossy();
        println!("golden {name}: {}/{} match", tally.matched, tally.total);
        assert!(tally.total > 0, "{} has no cases", path.display());
        for m in tally.mismatches.iter().take(15) {
            failures.push(format!("{}: {m}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}
