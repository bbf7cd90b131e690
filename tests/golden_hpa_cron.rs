//! Golden harness for the HPA and cron models: runs every case of `testdata/golden/hpa.yaml` and
//! `cron.yaml` (and of same-prefixed files in `$PODSCALE_EXTRA_GOLDEN`), prints `golden FILE: N/M match`
//! per file and fails listing the first mismatches.
//!
//! Conventions of the files (see their headers): quantities in milli-units, history entries as
//! `[value, seconds_before_now]`, cron instants as naive wall-clock time in the engine zone.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use podscale::autoscaler::cron::{
    apply_to_hpa, is_excluded, CronAction, CronDialect, CronHpa, CronHpaConfig, CronHpaSpec,
    CronJobSpec, CronScaleTargetRef, CronSchedule, ExcludeMode, KedaCronTrigger,
};
use podscale::autoscaler::hpa::calculator::{
    average_value_replicas, plain_metric_replicas, resource_utilization_replicas, sum_series,
    value_replicas, CalcContext,
};
use podscale::autoscaler::hpa::normalize::{
    behavior_rate_limit, behavior_stabilize, legacy_rules, legacy_stabilize,
    replicas_changed_in_period, scale_down_limit, scale_up_limit, store_scale_event,
    Recommendation, ScaleEvent,
};
use podscale::autoscaler::hpa::{
    Behavior, HpaConfig, HpaController, HpaInputs, HpaSpec, MetricObservation, MetricSpec,
    MetricTarget, PodMetricSample, PodPhase, PodState, ReadyCondition, ScalingPolicy, ScalingRules,
    SelectPolicy, ToleranceRule, Tolerances,
};
use podscale::time::{SimDuration, SimTime};
use serde_yaml::Value;

const NOW_S: u64 = 100_000;

fn now() -> SimTime {
    SimTime::from_secs(NOW_S)
}

fn ago(secs: i64) -> SimTime {
    SimTime::from_secs((NOW_S as i64 - secs) as u64)
}

/// Outcome of one file.
#[derive(Default)]
struct Tally {
    total: usize,
    matched: usize,
    mismatches: Vec<String>,
}

impl Tally {
    fn record(&mut self, id: &str, result: Result<(), String>) {
        self.total += 1;
        match result {
            Ok(()) => self.matched += 1,
            Err(e) => self.mismatches.push(format!("{id}: {e}")),
        }
    }
}

fn check<T: PartialEq + std::fmt::Debug>(what: &str, expected: T, actual: T) -> Result<(), String> {
    if expected == actual {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected:?}, actual {actual:?}"))
    }
}

#[allow(dead_code)] // the current files hold no float observations; kept for extra golden files
fn check_f64(what: &str, expected: f64, actual: f64) -> Result<(), String> {
    let scale = expected.abs().max(actual.abs()).max(f64::MIN_POSITIVE);
    if (expected - actual).abs() / scale <= 1e-9 {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected}, actual {actual}"))
    }
}

fn int(v: &Value, key: &str) -> i64 {
    v.get(key)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("golden case field `{key}` missing or not an integer: {v:?}"))
}

fn opt_int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("golden case field `{key}` missing or not a string: {v:?}"))
}

fn seq<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn case_id(v: &Value, fallback: usize) -> String {
    v.get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("#{fallback}"))
}

// ---------------------------------------------------------------- HPA

fn pods_from(
    pods: &Value,
    values_key: &str,
    resource: &str,
) -> (Vec<PodState>, Vec<Option<PodMetricSample>>) {
    let values = seq(pods, values_key);
    let requests = seq(pods, "request_m");
    let count = values.len().max(requests.len());
    let mut states = Vec::with_capacity(count);
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let flag = |key: &str, default: bool| {
            seq(pods, key)
                .get(i)
                .and_then(Value::as_bool)
                .unwrap_or(default)
        };
        let start = match seq(pods, "start").get(i).and_then(Value::as_str) {
            Some("hot") => now(),
            Some("cool") => ago(180),
            _ => SimTime::ZERO,
        };
        let phase = match seq(pods, "phase").get(i).and_then(Value::as_str) {
            Some("Pending") => PodPhase::Pending,
            Some("Failed") => PodPhase::Failed,
            Some("Succeeded") => PodPhase::Succeeded,
            _ => PodPhase::Running,
        };
        let mut requests_m = BTreeMap::new();
        if let Some(r) = requests.get(i).and_then(Value::as_i64) {
            requests_m.insert(resource.to_string(), r);
        }
        states.push(PodState {
            phase,
            deleted: flag("deleted", false),
            start_time: Some(start),
            ready: Some(ReadyCondition {
                ready: flag("ready", true),
                last_transition: start,
            }),
            requests_m,
        });
        samples.push(
            values
                .get(i)
                .and_then(Value::as_i64)
                .map(|value_m| PodMetricSample {
                    value_m,
                    timestamp: now(),
                    window: SimDuration::from_secs(60),
                }),
        );
    }
    (states, samples)
}

fn ctx_for(case: &Value, rule: ToleranceRule) -> CalcContext {
    let mut config = HpaConfig::upstream_unit_tests();
    config.tolerance_rule = rule;
    let tolerances = match case.get("tolerances") {
        Some(t) => Tolerances {
            scale_down: t["scale_down"].as_f64().unwrap(),
            scale_up: t["scale_up"].as_f64().unwrap(),
        },
        None => Tolerances::symmetric(config.tolerance),
    };
    CalcContext::new(now(), &config, tolerances)
}

/// Returns (replicas, reported value, raw average) for a replica-calculator case.
fn run_calculator(case: &Value, rule: ToleranceRule) -> Result<(i32, i64, i64), String> {
    let ctx = ctx_for(case, rule);
    let kind = text(case, "kind");
    let current = opt_int(case, "current_replicas").unwrap_or(0) as i32;
    let ready_pods = opt_int(case, "ready_running_pods").unwrap_or(0) as usize;
    let err = |e: podscale::autoscaler::hpa::MetricError| e.to_string();
    match kind {
        "resource_utilization" => {
            let (pods, samples) = pods_from(&case["pods"], "usage_m", "cpu");
            let p = resource_utilization_replicas(
                current,
                int(case, "target_utilization_pct") as i32,
                "cpu",
                &pods,
                &samples,
                &ctx,
            )
            .map_err(err)?;
            Ok((p.replicas, i64::from(p.utilization_pct), p.raw_average_m))
        }
        "pods_average_value" => {
            let (pods, samples) = pods_from(&case["pods"], "value_m", "");
            let p =
                plain_metric_replicas(current, int(case, "target_m"), None, &pods, &samples, &ctx)
                    .map_err(err)?;
            Ok((p.replicas, p.usage_m, 0))
        }
        "object_value" | "external_value" => {
            let value = match opt_int(case, "value_m") {
                Some(v) => v,
                None => sum_series(
                    &seq(case, "series_m")
                        .iter()
                        .filter_map(Value::as_i64)
                        .collect::<Vec<_>>(),
                ),
            };
            let p = value_replicas(current, value, int(case, "target_m"), ready_pods, &ctx)
                .map_err(err)?;
            Ok((p.replicas, p.usage_m, 0))
        }
        "object_average_value" | "external_average_value" => {
            let value = match opt_int(case, "value_m") {
                Some(v) => v,
                None => sum_series(
                    &seq(case, "series_m")
                        .iter()
                        .filter_map(Value::as_i64)
                        .collect::<Vec<_>>(),
                ),
            };
            let p = average_value_replicas(
                int(case, "status_replicas") as i32,
                value,
                int(case, "target_m"),
                &ctx,
            );
            Ok((p.replicas, p.usage_m, 0))
        }
        other => Err(format!("unknown calculator kind {other:?}")),
    }
}

fn calculator_case(case: &Value) -> Result<(), String> {
    if let Some(expected) = case.get("expected") {
        let (replicas, reported, raw) = run_calculator(case, ToleranceRule::Interval)?;
        check("replicas", int(expected, "replicas") as i32, replicas)?;
        if let Some(u) = opt_int(expected, "utilization_pct") {
            check("utilization_pct", u, reported)?;
        }
        if let Some(u) = opt_int(expected, "usage_m") {
            check("usage_m", u, reported)?;
        }
        if let Some(r) = opt_int(expected, "raw_avg_m") {
            check("raw_avg_m", r, raw)?;
        }
        return Ok(());
    }
    let new = run_calculator(case, ToleranceRule::Interval)?.0;
    check(
        "replicas (1.33+)",
        int(&case["expected_v1_33_plus"], "replicas") as i32,
        new,
    )?;
    let old = run_calculator(case, ToleranceRule::Absolute)?.0;
    check(
        "replicas (pre-1.33)",
        int(&case["expected_pre_v1_33"], "replicas") as i32,
        old,
    )
}

fn controller_case(case: &Value) -> Result<(), String> {
    let spec_replicas = int(case, "spec_replicas") as i32;
    let mut metric_specs = Vec::new();
    let mut observations = Vec::new();
    let mut pods: Vec<PodState> = Vec::new();
    for m in seq(case, "metrics") {
        let name = m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("metric")
            .to_string();
        let target = if let Some(p) = opt_int(m, "target_utilization_pct") {
            MetricTarget::Utilization(p as i32)
        } else if let Some(v) = opt_int(m, "target_average_value_m") {
            MetricTarget::AverageValue(v)
        } else {
            MetricTarget::Value(int(m, "target_value_m"))
        };
        let error = m.get("error").and_then(Value::as_bool).unwrap_or(false);
        match text(m, "type") {
            "Resource" => {
                let (p, s) = pods_from(m, "usage_m", &name);
                pods = p;
                metric_specs.push(MetricSpec::Resource {
                    resource: name,
                    container: None,
                    target,
                });
                observations.push(MetricObservation::PerPod(s));
            }
            "Pods" => {
                let (p, s) = pods_from(m, "values_m", "");
                pods = p;
                metric_specs.push(MetricSpec::Pods { name, target });
                observations.push(MetricObservation::PerPod(s));
            }
            "Object" => {
                metric_specs.push(MetricSpec::Object { name, target });
                observations.push(if error {
                    MetricObservation::Unavailable
                } else {
                    MetricObservation::Object(int(m, "value_m"))
                });
            }
            "External" => {
                metric_specs.push(MetricSpec::External { name, target });
                observations.push(if error {
                    MetricObservation::Unavailable
                } else {
                    MetricObservation::External(vec![int(m, "value_m")])
                });
            }
            // A source type the controller does not know: Kubernetes marks the metric invalid
            // (InvalidMetricSourceType) and decides on the others. The spec entry is a placeholder.
            other => {
                metric_specs.push(MetricSpec::External { name, target });
                observations.push(MetricObservation::UnknownSourceType(other.to_string()));
            }
        }
    }
    if pods.is_empty() {
        pods = (0..spec_replicas)
            .map(|_| PodState::running(SimTime::ZERO, "cpu", 1000))
            .collect();
    }
    let spec = HpaSpec {
        min_replicas: int(case, "min") as i32,
        max_replicas: int(case, "max") as i32,
        metrics: metric_specs,
        behavior: None,
    };
    let mut controller = HpaController::new(spec, HpaConfig::upstream_unit_tests());
    // The upstream controller tests start from an empty (non-nil) recommendation history, which skips the
    // initial (current, now) record a brand-new HPA gets.
    controller.set_recommendations(Vec::new());
    let decision = controller.reconcile(
        now(),
        &HpaInputs {
            spec_replicas,
            status_replicas: int(case, "status_replicas") as i32,
            pods,
            metrics: observations,
        },
    );
    check(
        "desired",
        int(case, "expected_desired") as i32,
        decision.desired_replicas,
    )?;
    if let Some(conditions) = case.get("expected_conditions") {
        if let Some(r) = conditions.get("AbleToScale").and_then(Value::as_str) {
            check("AbleToScale", r, decision.able_to_scale)?;
        }
        if let Some(r) = conditions.get("ScalingLimited").and_then(Value::as_str) {
            check("ScalingLimited", r, decision.scaling_limited)?;
        }
        if let Some(sa) = conditions.get("ScalingActive") {
            let got = decision.scaling_active;
            match sa {
                Value::String(reason) => check(
                    "ScalingActive reason",
                    Some(reason.as_str()),
                    got.map(|(_, r)| r),
                )?,
                other => {
                    let status = other
                        .get("status")
                        .and_then(|s| s.as_str().map(|t| t == "True").or_else(|| s.as_bool()));
                    if let Some(status) = status {
                        check("ScalingActive status", Some(status), got.map(|(s, _)| s))?;
                    }
                    if let Some(reason) = other.get("reason").and_then(Value::as_str) {
                        check("ScalingActive reason", Some(reason), got.map(|(_, r)| r))?;
                    }
                }
            }
        }
    }
    if let Some(reason) = case
        .get("expected_scaling_active_reason")
        .and_then(Value::as_str)
    {
        check(
            "ScalingActive reason",
            Some(reason),
            decision.scaling_active.map(|(_, r)| r),
        )?;
    }
    Ok(())
}

fn history(case: &Value, key: &str) -> Vec<Recommendation> {
    seq(case, key)
        .iter()
        .map(|r| Recommendation {
            replicas: r[0].as_i64().unwrap() as i32,
            at: ago(r[1].as_i64().unwrap()),
        })
        .collect()
}

fn events(case: &Value, key: &str) -> Vec<ScaleEvent> {
    seq(case, key)
        .iter()
        .map(|r| ScaleEvent {
            change: r[0].as_i64().unwrap() as i32,
            at: ago(r[1].as_i64().unwrap()),
            outdated: false,
        })
        .collect()
}

fn policies(list: &[Value]) -> Vec<ScalingPolicy> {
    list.iter()
        .map(|p| {
            let value = p[1].as_i64().unwrap() as i32;
            let period = p[2].as_u64().unwrap();
            match p[0].as_str().unwrap() {
                "Pods" => ScalingPolicy::pods(value, period),
                _ => ScalingPolicy::percent(value, period),
            }
        })
        .collect()
}

fn select(case: &Value) -> SelectPolicy {
    match case.get("select").and_then(Value::as_str) {
        Some("Min") => SelectPolicy::Min,
        Some("Disabled") => SelectPolicy::Disabled,
        _ => SelectPolicy::Max,
    }
}

fn legacy_rules_case(case: &Value) -> Result<(), String> {
    let (replicas, reason) = legacy_rules(
        int(case, "current") as i32,
        int(case, "desired") as i32,
        int(case, "min") as i32,
        int(case, "max") as i32,
    );
    check("replicas", int(case, "expected") as i32, replicas)?;
    check(
        "condition",
        text(case, "condition"),
        reason.condition_reason(),
    )
}

fn legacy_stabilization_case(case: &Value) -> Result<(), String> {
    let mut log = history(case, "recommendations");
    let result = legacy_stabilize(
        &mut log,
        int(case, "desired") as i32,
        now(),
        SimDuration::from_secs(300),
    );
    check("stabilized", int(case, "expected") as i32, result)?;
    check(
        "log length",
        int(case, "expected_log_len") as usize,
        log.len(),
    )
}

fn behavior_stabilization_case(case: &Value) -> Result<(), String> {
    let mut log = history(case, "recommendations");
    let (result, _) = behavior_stabilize(
        &mut log,
        int(case, "current") as i32,
        int(case, "desired") as i32,
        now(),
        SimDuration::from_secs(int(case, "up_window_s") as u64),
        SimDuration::from_secs(int(case, "down_window_s") as u64),
    );
    check("stabilized", int(case, "expected") as i32, result)?;
    if case.get("expected_log").is_some() {
        let expected: Vec<i32> = seq(case, "expected_log")
            .iter()
            .map(|v| v.as_i64().unwrap() as i32)
            .collect();
        check("log", expected, log.iter().map(|r| r.replicas).collect())?;
    }
    Ok(())
}

fn behavior_rate_case(case: &Value) -> Result<(), String> {
    let mut behavior = Behavior::default();
    if case.get("scale_up").is_some() {
        behavior.scale_up.policies = policies(seq(case, "scale_up"));
    }
    if case.get("scale_down").is_some() {
        behavior.scale_down.policies = policies(seq(case, "scale_down"));
    }
    let limited = behavior_rate_limit(
        int(case, "current") as i32,
        int(case, "desired") as i32,
        int(case, "min") as i32,
        int(case, "max") as i32,
        &behavior,
        &events(case, "up_events"),
        &events(case, "down_events"),
        now(),
    );
    check("replicas", int(case, "expected") as i32, limited.replicas)?;
    check(
        "condition",
        text(case, "condition"),
        limited.reason.condition_reason(),
    )
}

fn limit_function_case(case: &Value) -> Result<(), String> {
    let rules = ScalingRules {
        select_policy: select(case),
        policies: policies(seq(case, "policies")),
        ..ScalingRules::default_scale_up()
    };
    let current = int(case, "current") as i32;
    let (limit, _) = match text(case, "fn") {
        "scale_up_limit" => scale_up_limit(current, &rules, &[], &[], now()),
        "scale_down_limit" => scale_down_limit(current, &rules, &[], &[], now()),
        other => return Err(format!("unknown fn {other:?}")),
    };
    check("limit", int(case, "expected") as i32, limit)
}

fn store_event_case(case: &Value) -> Result<(), String> {
    let mut log = events(case, "prev_events");
    check(
        "change in 60s",
        int(case, "expected_change_in_60s") as i32,
        replicas_changed_in_period(&log, SimDuration::from_secs(60), now()),
    )?;
    // Without behavior the controller keeps no events at all.
    if let Some(list) = case.get("behavior_policies").and_then(Value::as_sequence) {
        let rules = ScalingRules {
            policies: policies(list),
            ..ScalingRules::default_scale_up()
        };
        store_scale_event(&mut log, &rules, 5, now());
    }
    let expected: Vec<(i32, bool)> = seq(case, "expected_events_after")
        .iter()
        .map(|e| (e[0].as_i64().unwrap() as i32, e[1].as_bool().unwrap()))
        .collect();
    check(
        "events after",
        expected,
        log.iter().map(|e| (e.change, e.outdated)).collect(),
    )
}

fn run_hpa_file(doc: &Value) -> Tally {
    let mut tally = Tally::default();
    type Runner = fn(&Value) -> Result<(), String>;
    let sections: [(&str, Runner); 9] = [
        ("replica_calculator_cases", calculator_case),
        ("controller_cases", controller_case),
        ("legacy_rules_cases", legacy_rules_case),
        ("legacy_stabilization_cases", legacy_stabilization_case),
        ("behavior_stabilization_cases", behavior_stabilization_case),
        ("behavior_rate_cases", behavior_rate_case),
        ("limit_function_cases", limit_function_case),
        ("store_event_cases", store_event_case),
        ("derived_edge_cases", calculator_case),
    ];
    for (section, runner) in sections {
        for (i, case) in seq(doc, section).iter().enumerate() {
            let id = format!("{section}/{}", case_id(case, i));
            tally.record(&id, runner(case));
        }
    }
    unknown_sections(doc, &sections.map(|(s, _)| s), &["meta"], &mut tally);
    tally
}

/// A section the harness does not know counts as one failing case, so new golden data cannot be skipped.
fn unknown_sections(doc: &Value, known: &[&str], ignored: &[&str], tally: &mut Tally) {
    if let Some(map) = doc.as_mapping() {
        for key in map.keys().filter_map(Value::as_str) {
            if !known.contains(&key) && !ignored.contains(&key) {
                tally.record(
                    key,
                    Err("unknown section: the harness has no runner for it".into()),
                );
            }
        }
    }
}

// ---------------------------------------------------------------- cron

fn naive(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .unwrap_or_else(|e| panic!("bad golden time {s:?}: {e}"))
}

fn in_zone(tz: Tz, s: &str) -> DateTime<Utc> {
    tz.from_local_datetime(&naive(s))
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn fmt_in(tz: Tz, t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "never".into())
}

fn next_fire_case(case: &Value) -> Result<(), String> {
    let tz = Tz::UTC;
    let parsed = CronSchedule::parse(text(case, "schedule"), CronDialect::CronHpa, tz);
    if case.get("valid").and_then(Value::as_bool) == Some(false) {
        return check("valid", false, parsed.is_ok());
    }
    let schedule = parsed.map_err(|e| e.to_string())?;
    let mut t = in_zone(tz, text(case, "from"));
    for expected in seq(case, "next") {
        let next = schedule.next_fire_after(t);
        check(
            "next",
            expected.as_str().unwrap().to_string(),
            fmt_in(tz, next),
        )?;
        t = next.unwrap();
    }
    Ok(())
}

fn interplay_case(case: &Value) -> Result<(), String> {
    let hpa = &case["hpa"];
    let expected = &case["expected"];
    let adj = apply_to_hpa(
        int(hpa, "min") as i32,
        int(hpa, "max") as i32,
        int(hpa, "current") as i32,
        int(case, "D") as i32,
    );
    check("min", int(expected, "min") as i32, adj.min_replicas)?;
    check("max", int(expected, "max") as i32, adj.max_replicas)?;
    check(
        "hpa_updated",
        expected["hpa_updated"].as_bool().unwrap(),
        adj.hpa_updated,
    )?;
    check(
        "workload_replicas_written",
        opt_int(expected, "workload_replicas_written").map(|v| v as i32),
        adj.workload_replicas,
    )?;
    let rules: Vec<u8> = seq(case, "rules_fired")
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    check("rules_fired", rules, adj.rules_fired)
}

fn cron_spec(kind: &str, jobs: Vec<CronJobSpec>, exclude_dates: Vec<String>) -> CronHpaSpec {
    CronHpaSpec {
        scale_target_ref: CronScaleTargetRef {
            api_version: if kind == "Deployment" {
                "apps/v1".into()
            } else {
                "autoscaling/v2".into()
            },
            kind: kind.into(),
            name: "web".into(),
        },
        exclude_dates,
        jobs,
    }
}

fn job(name: &str, schedule: &str, target_size: i32, run_once: bool) -> CronJobSpec {
    CronJobSpec {
        name: name.into(),
        schedule: schedule.into(),
        target_size,
        run_once,
    }
}

fn plain_target_case(case: &Value) -> Result<(), String> {
    let target = int(case, "D") as i32;
    let start = in_zone(Tz::UTC, "2024-03-05 10:00:00");
    let mut cron = CronHpa::new(
        cron_spec(
            "Deployment",
            vec![job("j", "0 */1 * * * *", target, false)],
            vec![],
        ),
        CronHpaConfig::default(),
        start,
    )
    .map_err(|e| e.to_string())?;
    let mut workload = int(case, "workload_replicas") as i32;
    let at = cron.next_fire().ok_or("job never fires")?;
    check("fire at", SimTime::from_secs(60), at)?;
    for firing in cron.fire_due(at) {
        match firing.action {
            CronAction::SetWorkloadReplicas(n) => workload = n,
            other => return Err(format!("unexpected action {other:?}")),
        }
    }
    check("replicas", int(case, "expected_replicas") as i32, workload)
}

fn exclude_case(case: &Value) -> Result<(), String> {
    let schedule = CronSchedule::parse(text(case, "expr"), CronDialect::CronHpa, Tz::UTC)
        .map_err(|e| e.to_string())?;
    let now = in_zone(Tz::UTC, text(case, "now"));
    check(
        "intended_skip",
        case["intended_skip"].as_bool().unwrap(),
        is_excluded(&schedule, now, ExcludeMode::Intended),
    )?;
    check(
        "bug_compatible_skip",
        case["bug_compatible_skip"].as_bool().unwrap(),
        is_excluded(&schedule, now, ExcludeMode::BugCompatible),
    )
}

fn lifecycle_case(case: &Value) -> Result<(), String> {
    let start = in_zone(Tz::UTC, "2020-11-14 12:00:00");
    let config = CronHpaConfig::default();
    let new = |spec| CronHpa::new(spec, config, start).map_err(|e| e.to_string());
    let id = text(case, "id");
    match id {
        "lc_runonce_flag" | "lc_date_implies_runonce" => {
            let j = &case["job"];
            let mut cron = new(cron_spec(
                "Deployment",
                vec![job(
                    "once",
                    text(j, "schedule"),
                    3,
                    j["runOnce"].as_bool().unwrap(),
                )],
                vec![],
            ))?;
            // 08:00 next morning is 20 h after the start; 2020-11-15 00:00 is 12 h after it.
            let expected_first = if id == "lc_runonce_flag" {
                20 * 3600
            } else {
                12 * 3600
            };
            let at = cron.next_fire().ok_or("never fires")?;
            check("first fire", SimTime::from_secs(expected_first), at)?;
            check("firings", 1, cron.fire_due(at).len())?;
            check("next fire after the first run", None, cron.next_fire())?;
            // A later reconcile with the same spec must not resurrect it.
            cron.update_spec(cron.spec().clone(), at + SimDuration::from_secs(1))
                .map_err(|e| e.to_string())?;
            check("next fire after reconcile", None, cron.next_fire())
        }
        "lc_edit_job" | "lc_edit_target_or_excludes" => {
            let spec = cron_spec(
                "Deployment",
                vec![
                    job("a", "@every 1h", 2, false),
                    job("b", "@every 1h", 4, false),
                ],
                vec![],
            );
            let mut cron = new(spec.clone())?;
            let half = SimTime::from_secs(1800);
            let mut edited = spec;
            if id == "lc_edit_job" {
                edited.jobs[0].target_size = 5;
            } else {
                edited.exclude_dates = vec!["* * * 15 11 *".into()];
            }
            cron.update_spec(edited, half).map_err(|e| e.to_string())?;
            check(
                "a re-added from the edit time",
                Some(SimTime::from_secs(5400)),
                cron.next_fire_of("a"),
            )?;
            let b_expected = if id == "lc_edit_job" { 3600 } else { 5400 };
            check(
                "b",
                Some(SimTime::from_secs(b_expected)),
                cron.next_fire_of("b"),
            )
        }
        other => Err(format!("no scenario for lifecycle case {other:?}")),
    }
}

fn metadata(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.as_str().unwrap().to_string(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("{v:?}")),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn keda_parse_case(case: &Value) -> Result<(), String> {
    let result = KedaCronTrigger::from_metadata(&metadata(&case["metadata"]), 0);
    check("error", case["error"].as_bool().unwrap(), result.is_err())
}

fn keda_trigger(tz: &str, start: &str, end: &str, index: usize) -> Result<KedaCronTrigger, String> {
    let meta = BTreeMap::from([
        ("timezone".to_string(), tz.to_string()),
        ("start".to_string(), start.to_string()),
        ("end".to_string(), end.to_string()),
        ("desiredReplicas".to_string(), "10".to_string()),
    ]);
    KedaCronTrigger::from_metadata(&meta, index).map_err(|e| e.to_string())
}

fn keda_metric_name_case(case: &Value) -> Result<(), String> {
    let trigger = keda_trigger(
        text(case, "timezone"),
        text(case, "start"),
        text(case, "end"),
        int(case, "trigger_index") as usize,
    )?;
    check(
        "name",
        text(case, "name").to_string(),
        trigger.metric_name(),
    )
}

fn keda_activity_case(case: &Value) -> Result<(), String> {
    let tz_name = text(case, "tz");
    let trigger = keda_trigger(tz_name, text(case, "start"), text(case, "end"), 0)?;
    let now = match case.get("now_utc").and_then(Value::as_str) {
        Some(s) => in_zone(Tz::UTC, s),
        None => in_zone(tz_name.parse().unwrap(), text(case, "now")),
    };
    check(
        "active",
        case["active"].as_bool().unwrap(),
        trigger.is_active(now),
    )?;
    if let Some(metric) = opt_int(case, "metric") {
        check("metric", metric * 1000, trigger.metric_value_m(now))?;
    }
    Ok(())
}

fn keda_hpa_case(case: &Value) -> Result<(), String> {
    // Outside its window (`active: false`) the cron trigger's metric is 0, whatever desiredReplicas says.
    let active = case.get("active").and_then(Value::as_bool).unwrap_or(true);
    let metric_m = if active {
        int(case, "desired_replicas") * 1000
    } else {
        0
    };
    let proposal = |rule| {
        let config = HpaConfig {
            tolerance_rule: rule,
            ..HpaConfig::default()
        };
        let ctx = CalcContext::new(now(), &config, Tolerances::symmetric(config.tolerance));
        average_value_replicas(
            int(case, "status_replicas") as i32,
            metric_m,
            KedaCronTrigger::TARGET_AVERAGE_VALUE_M,
            &ctx,
        )
        .replicas
    };
    match opt_int(case, "hpa_proposal") {
        Some(p) => {
            check("proposal", p as i32, proposal(ToleranceRule::Interval))?;
            check(
                "proposal (pre-1.33)",
                p as i32,
                proposal(ToleranceRule::Absolute),
            )
        }
        None => {
            check(
                "proposal (1.33+)",
                int(case, "hpa_proposal_v1_33_plus") as i32,
                proposal(ToleranceRule::Interval),
            )?;
            check(
                "proposal (pre-1.33)",
                int(case, "hpa_proposal_pre_v1_33") as i32,
                proposal(ToleranceRule::Absolute),
            )
        }
    }
}

fn run_cron_file(doc: &Value) -> Tally {
    let mut tally = Tally::default();
    type Runner = fn(&Value) -> Result<(), String>;
    let sections: [(&str, Runner); 9] = [
        ("cronhpa_next_fire_cases", next_fire_case),
        ("cronhpa_hpa_interplay_cases", interplay_case),
        ("cronhpa_plain_target_cases", plain_target_case),
        ("cronhpa_exclude_dates_cases", exclude_case),
        ("cronhpa_lifecycle_cases", lifecycle_case),
        ("keda_parse_cases", keda_parse_case),
        ("keda_metric_name_cases", keda_metric_name_case),
        ("keda_activity_cases", keda_activity_case),
        ("keda_hpa_arithmetic_cases", keda_hpa_case),
    ];
    for (section, runner) in sections {
        for (i, case) in seq(doc, section).iter().enumerate() {
            let id = format!("{section}/{}", case_id(case, i));
            tally.record(&id, runner(case));
        }
    }
    unknown_sections(doc, &sections.map(|(s, _)| s), &["meta"], &mut tally);
    tally
}

// ---------------------------------------------------------------- driver

fn run_file(path: &Path, runner: fn(&Value) -> Tally) -> Tally {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Value = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
    let tally = runner(&doc);
    let name = path.file_name().unwrap().to_string_lossy();
    println!("golden {name}: {}/{} match", tally.matched, tally.total);
    tally
}

fn run_all(prefix: &str, runner: fn(&Value) -> Tally) {
    let mut failures = Vec::new();
    for path in common::golden_files(&format!("{prefix}.yaml"), prefix) {
        let tally = run_file(&path, runner);
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

#[test]
fn golden_hpa() {
    run_all("hpa", run_hpa_file);
}

#[test]
fn golden_cron() {
    run_all("cron", run_cron_file);
}

/// Issue 12 item 10: every case shape of the formats runs, including ones the bundled files lack.
#[test]
fn harness_takes_unknown_metric_types_and_inactive_keda_windows() {
    let unknown_only: Value = serde_yaml::from_str(
        "{id: u1, min: 1, max: 10, spec_replicas: 3, status_replicas: 3,
          metrics: [{type: FancyNewSource, name: m, target_value_m: 100, error: true}],
          expected_desired: 3,
          expected_conditions: {ScalingActive: {status: 'False', reason: InvalidMetricSourceType}}}",
    )
    .unwrap();
    assert_eq!(controller_case(&unknown_only), Ok(()));
    // Beside a valid metric that scales up, the unknown one does not block it (ValidMetricFound).
    let with_valid: Value = serde_yaml::from_str(
        "{id: u2, min: 1, max: 10, spec_replicas: 3, status_replicas: 3,
          metrics: [{type: External, name: qps, target_value_m: 100, value_m: 600},
                    {type: Bogus, name: m, target_value_m: 100, error: true}],
          expected_desired: 6, expected_conditions: {ScalingActive: ValidMetricFound}}",
    )
    .unwrap();
    assert_eq!(controller_case(&with_valid), Ok(()));
    // ... but it blocks a scale-down, reporting its own reason.
    let blocks_down: Value = serde_yaml::from_str(
        "{id: u3, min: 1, max: 10, spec_replicas: 5, status_replicas: 5,
          metrics: [{type: External, name: qps, target_value_m: 100, value_m: 50},
                    {type: Bogus, name: m, target_value_m: 100, error: true}],
          expected_desired: 5, expected_conditions: {ScalingActive: InvalidMetricSourceType}}",
    )
    .unwrap();
    assert_eq!(controller_case(&blocks_down), Ok(()));
    let wrong: Value = serde_yaml::from_str(
        "{id: u4, min: 1, max: 10, spec_replicas: 3, status_replicas: 3,
          metrics: [{type: FancyNewSource, name: m, target_value_m: 100, error: true}],
          expected_desired: 3, expected_conditions: {ScalingActive: ValidMetricFound}}",
    )
    .unwrap();
    assert!(
        controller_case(&wrong).is_err(),
        "a wrong expectation must fail"
    );

    let inactive: Value = serde_yaml::from_str(
        "{id: k1, desired_replicas: 10, status_replicas: 4, active: false, hpa_proposal: 0}",
    )
    .unwrap();
    assert_eq!(keda_hpa_case(&inactive), Ok(()));
    let active: Value = serde_yaml::from_str(
        "{id: k2, desired_replicas: 10, status_replicas: 4, active: true, hpa_proposal: 0}",
    )
    .unwrap();
    assert!(keda_hpa_case(&active).is_err());
}
