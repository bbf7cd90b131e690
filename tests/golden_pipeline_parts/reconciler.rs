//! `kpa_reconciler*.yaml`: one `ReconcileKind` pass per case, plus the helper tables (bounds, initial scale,
//! pod retention, condition ages, applyBounds).

use podscale::autoscaler::kpa::reconcile_pass::{
    apply_bounds, can_fail_activation, in_status_for, initial_scale, is_activating,
    last_pod_retention, reconcile_pass, scale_bounds, CondStatus, Condition, PassConfig, PassInput,
    PassOutput, PodCounts, ProbeResult, Reachability, SksAction, SksMode, SksState,
};
use podscale::time::SimDuration;
use serde::Deserialize;

use crate::{parse, Annotations, Checker, Tally};

#[derive(Deserialize)]
struct File {
    helpers: Helpers,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Helpers {
    scale_bounds: Vec<BoundsRow>,
    initial_scale: Vec<InitialRow>,
    last_pod_retention: Vec<RetentionRow>,
    in_status_for: Vec<StatusForRow>,
    apply_bounds: Vec<ApplyBoundsRow>,
}

#[derive(Deserialize)]
struct BoundsRow {
    id: String,
    cfg_min: i32,
    cfg_max: i32,
    ann_min: Option<String>,
    ann_max: Option<String>,
    reachability: String,
    min: i32,
    max: i32,
}

#[derive(Deserialize)]
struct InitialRow {
    id: String,
    cfg_initial_scale: i32,
    allow_zero_initial_scale: bool,
    ann_initial_scale: Option<String>,
    initial_scale: i32,
}

#[derive(Deserialize)]
struct RetentionRow {
    id: String,
    reachability: String,
    ann_retention: Option<String>,
    cfg_retention_ns: u64,
    last_pod_retention_ns: u64,
}

#[derive(Deserialize)]
struct StatusForRow {
    id: String,
    active_status: Option<String>,
    age_ns: u64,
    active_for_ns: i64,
    inactive_for_ns: i64,
    can_fail_activation_630s: bool,
    is_active: bool,
    is_activating: bool,
    is_inactive: bool,
}

#[derive(Deserialize)]
struct ApplyBoundsRow {
    id: String,
    min: i32,
    max: i32,
    x: i32,
    result: i32,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    input: Input,
    expect: Expect,
}

#[derive(Deserialize)]
struct Input {
    config: Config,
    progress_deadline_ns: u64,
    pa: Pa,
    sks: Option<Sks>,
    decider: DeciderStatus,
    pods: Pods,
    deployment_replicas: Option<i32>,
    activator_probe: String,
}

#[derive(Deserialize)]
struct Config {
    enable_scale_to_zero: bool,
    min_scale: i32,
    max_scale: i32,
    initial_scale: i32,
    allow_zero_initial_scale: bool,
    scale_to_zero_grace_period_ns: u64,
    scale_to_zero_pod_retention_period_ns: u64,
    target_burst_capacity: f64,
    stable_window_ns: u64,
    panic_window_percentage: f64,
    activator_capacity: f64,
    container_concurrency_target_default: f64,
    container_concurrency_target_fraction: f64,
}

#[derive(Deserialize)]
struct Pa {
    annotations: Annotations,
    container_concurrency: i32,
    reachability: String,
    active: Option<Cond>,
    scale_target_initialized: Option<String>,
    desired_scale: Option<i32>,
    service_name: String,
}

#[derive(Deserialize)]
struct Cond {
    status: String,
    reason: String,
    age_ns: u64,
}

#[derive(Deserialize)]
struct Sks {
    private_service_name: String,
    service_name: String,
    mode: String,
    num_activators: i32,
    ready: String,
    activator_endpoints_populated: Option<AgedStatus>,
}

#[derive(Deserialize)]
struct AgedStatus {
    status: String,
    age_ns: u64,
}

#[derive(Deserialize)]
struct DeciderStatus {
    desired_scale: i32,
    excess_burst_capacity: i32,
}

#[derive(Deserialize)]
struct Pods {
    running_ready: i32,
    running_not_ready: i32,
    pending: i32,
    terminating: i32,
}

#[derive(Deserialize)]
struct Expect {
    error: Option<String>,
    scale_want: Option<i32>,
    scale_error: Option<String>,
    deployment_patch_replicas: Option<i32>,
    requeue_after_ns: Vec<u64>,
    activator_probe_called: bool,
    async_probe_offered: bool,
    sks: ExpectSks,
    metric: Option<ExpectMetric>,
    pod_counts: ExpectPodCounts,
    decider_spec: ExpectDeciderSpec,
    pa_status: ExpectStatus,
}

#[derive(Deserialize)]
struct ExpectSks {
    action: String,
    mode: String,
    num_activators: i32,
}

#[derive(Deserialize, PartialEq, Debug)]
struct ExpectMetric {
    scrape_target: String,
    stable_window_ns: u64,
    panic_window_ns: u64,
}

#[derive(Deserialize, PartialEq, Debug)]
struct ExpectPodCounts {
    ready: i32,
    not_ready: i32,
    pending: i32,
    terminating: i32,
}

#[derive(Deserialize)]
struct ExpectDeciderSpec {
    target_value: f64,
    total_value: f64,
    target_burst_capacity: f64,
    initial_scale: i32,
    reachable: bool,
    stable_window_ns: u64,
}

#[derive(Deserialize)]
struct ExpectStatus {
    active: ExpectCond,
    scale_target_initialized: ExpectCond,
    sks_ready: ExpectCond,
    desired_scale: Option<i32>,
    actual_scale: i32,
    service_name: String,
}

#[derive(Deserialize, PartialEq, Debug)]
struct ExpectCond {
    status: String,
    reason: String,
    ltt_age_ns: u64,
}

fn status(s: &str) -> CondStatus {
    match s {
        "True" => CondStatus::True,
        "False" => CondStatus::False,
        "Unknown" => CondStatus::Unknown,
        other => panic!("unknown condition status {other:?}"),
    }
}

fn status_str(s: CondStatus) -> &'static str {
    match s {
        CondStatus::True => "True",
        CondStatus::False => "False",
        CondStatus::Unknown => "Unknown",
    }
}

fn reachability(s: &str) -> Reachability {
    match s {
        "Reachable" => Reachability::Reachable,
        "Unreachable" => Reachability::Unreachable,
        "" => Reachability::Unknown,
        other => panic!("unknown reachability {other:?}"),
    }
}

fn mode_str(m: SksMode) -> &'static str {
    match m {
        SksMode::Proxy => "Proxy",
        SksMode::Serve => "Serve",
    }
}

fn ns(n: u64) -> SimDuration {
    SimDuration(n)
}

fn condition(c: &Condition) -> ExpectCond {
    ExpectCond {
        status: status_str(c.status).to_string(),
        reason: c.reason.clone(),
        ltt_age_ns: c.age.0,
    }
}

fn config_only(
    min: i32,
    max: i32,
    initial: i32,
    allow_zero: bool,
    retention_ns: u64,
) -> PassConfig {
    PassConfig {
        enable_scale_to_zero: true,
        min_scale: min,
        max_scale: max,
        initial_scale: initial,
        allow_zero_initial_scale: allow_zero,
        scale_to_zero_grace: SimDuration::from_secs(30),
        pod_retention: ns(retention_ns),
        target_burst_capacity: 211.0,
        stable_window: SimDuration::from_secs(60),
        panic_window_percentage: 10.0,
        activator_capacity: 100.0,
        container_concurrency_target_default: 100.0,
        container_concurrency_target_fraction: 0.7,
        progress_deadline: SimDuration::from_secs(600),
    }
}

fn annotations(pairs: &[(&str, &Option<String>)]) -> Annotations {
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v| (format!("autoscaling.knative.dev/{k}"), v.clone()))
        })
        .collect()
}

fn pass_input(i: &Input) -> PassInput {
    let c = &i.config;
    PassInput {
        config: PassConfig {
            enable_scale_to_zero: c.enable_scale_to_zero,
            min_scale: c.min_scale,
            max_scale: c.max_scale,
            initial_scale: c.initial_scale,
            allow_zero_initial_scale: c.allow_zero_initial_scale,
            scale_to_zero_grace: ns(c.scale_to_zero_grace_period_ns),
            pod_retention: ns(c.scale_to_zero_pod_retention_period_ns),
            target_burst_capacity: c.target_burst_capacity,
            stable_window: ns(c.stable_window_ns),
            panic_window_percentage: c.panic_window_percentage,
            activator_capacity: c.activator_capacity,
            container_concurrency_target_default: c.container_concurrency_target_default,
            container_concurrency_target_fraction: c.container_concurrency_target_fraction,
            progress_deadline: ns(i.progress_deadline_ns),
        },
        annotations: i.pa.annotations.clone(),
        container_concurrency: i.pa.container_concurrency,
        reachability: reachability(&i.pa.reachability),
        active: i.pa.active.as_ref().map(|a| Condition {
            status: status(&a.status),
            reason: a.reason.clone(),
            age: ns(a.age_ns),
        }),
        scale_target_initialized: i.pa.scale_target_initialized.as_deref().map(status),
        desired_scale: i.pa.desired_scale,
        service_name: i.pa.service_name.clone(),
        sks: i.sks.as_ref().map(|k| SksState {
            private_service_name: k.private_service_name.clone(),
            service_name: k.service_name.clone(),
            mode: match k.mode.as_str() {
                "Proxy" => SksMode::Proxy,
                "Serve" => SksMode::Serve,
                other => panic!("unknown SKS mode {other:?}"),
            },
            num_activators: k.num_activators,
            ready: status(&k.ready),
            activator_endpoints_populated: k
                .activator_endpoints_populated
                .as_ref()
                .map(|a| (status(&a.status), ns(a.age_ns))),
        }),
        decider_desired_scale: i.decider.desired_scale,
        decider_excess_burst_capacity: i.decider.excess_burst_capacity,
        pods: PodCounts {
            running_ready: i.pods.running_ready,
            running_not_ready: i.pods.running_not_ready,
            pending: i.pods.pending,
            terminating: i.pods.terminating,
        },
        deployment_replicas: i.deployment_replicas,
        activator_probe: match i.activator_probe.as_str() {
            "true" => ProbeResult::InPath,
            "false" => ProbeResult::NotInPath,
            "error" => ProbeResult::Error,
            other => panic!("unknown activator_probe {other:?}"),
        },
    }
}

fn check_case(case: &Case, c: &mut Checker) {
    let at = case.id.as_str();
    let input = pass_input(&case.input);
    let out: PassOutput = reconcile_pass(&input);
    let e = &case.expect;
    c.exact(at, "error", e.error.as_deref(), None);
    c.exact(at, "scale_error", e.scale_error.as_deref(), None);
    c.exact(at, "scale_want", e.scale_want, out.scale_want);
    c.exact(
        at,
        "deployment_patch_replicas",
        e.deployment_patch_replicas,
        out.deployment_patch,
    );
    let requeues: Vec<u64> = out.requeue_after.iter().map(|d| d.0).collect();
    c.exact(at, "requeue_after_ns", &e.requeue_after_ns, &requeues);
    c.exact(
        at,
        "activator_probe_called",
        e.activator_probe_called,
        out.activator_probe_called,
    );
    c.exact(
        at,
        "async_probe_offered",
        e.async_probe_offered,
        out.async_probe_offered,
    );
    let action = match out.sks_action {
        SksAction::Create => "create",
        SksAction::Update => "update",
        SksAction::None => "none",
    };
    c.exact(at, "sks.action", e.sks.action.as_str(), action);
    c.exact(at, "sks.mode", e.sks.mode.as_str(), mode_str(out.sks_mode));
    c.exact(
        at,
        "sks.num_activators",
        e.sks.num_activators,
        out.num_activators,
    );
    let metric = out.metric.as_ref().map(|m| ExpectMetric {
        scrape_target: m.scrape_target.clone(),
        stable_window_ns: m.stable_window.0,
        panic_window_ns: m.panic_window.0,
    });
    c.exact(at, "metric", e.metric.as_ref(), metric.as_ref());
    let counts = input.pods.by_state();
    let counts = ExpectPodCounts {
        ready: counts.0,
        not_ready: counts.1,
        pending: counts.2,
        terminating: counts.3,
    };
    c.exact(at, "pod_counts", &e.pod_counts, &counts);
    let s = podscale::autoscaler::kpa::reconcile_pass::ResolvedSettings::resolve(&input);
    let d = &e.decider_spec;
    c.exact(
        at,
        "decider_spec.target_value",
        d.target_value,
        s.target_value,
    );
    c.exact(at, "decider_spec.total_value", d.total_value, s.total_value);
    c.exact(
        at,
        "decider_spec.target_burst_capacity",
        d.target_burst_capacity,
        s.target_burst_capacity,
    );
    c.exact(at, "decider_spec.initial_scale", d.initial_scale, s.initial);
    c.exact(
        at,
        "decider_spec.reachable",
        d.reachable,
        input.reachability != Reachability::Unreachable,
    );
    c.exact(
        at,
        "decider_spec.stable_window_ns",
        d.stable_window_ns,
        s.stable_window.0,
    );
    let p = &e.pa_status;
    c.exact(at, "pa_status.active", &p.active, &condition(&out.active));
    c.exact(
        at,
        "pa_status.scale_target_initialized",
        &p.scale_target_initialized,
        &condition(&out.scale_target_initialized),
    );
    c.exact(
        at,
        "pa_status.sks_ready",
        &p.sks_ready,
        &condition(&out.sks_ready),
    );
    c.exact(
        at,
        "pa_status.desired_scale",
        p.desired_scale,
        out.desired_scale,
    );
    c.exact(
        at,
        "pa_status.actual_scale",
        p.actual_scale,
        out.actual_scale,
    );
    c.exact(
        at,
        "pa_status.service_name",
        p.service_name.as_str(),
        out.service_name.as_str(),
    );
}

pub fn run(text: &str) -> (usize, usize, Vec<String>) {
    let file: File = parse(text);
    let mut t = Tally::default();
    let h = &file.helpers;
    for r in &h.scale_bounds {
        t.case(|c| {
            let ann = annotations(&[("min-scale", &r.ann_min), ("max-scale", &r.ann_max)]);
            let cfg = config_only(r.cfg_min, r.cfg_max, 1, false, 0);
            let got = scale_bounds(&cfg, &ann, reachability(&r.reachability));
            c.exact(&r.id, "(min, max)", (r.min, r.max), got);
        });
    }
    for r in &h.initial_scale {
        t.case(|c| {
            let ann = annotations(&[("initial-scale", &r.ann_initial_scale)]);
            let cfg = config_only(0, 0, r.cfg_initial_scale, r.allow_zero_initial_scale, 0);
            c.exact(
                &r.id,
                "initial_scale",
                r.initial_scale,
                initial_scale(&cfg, &ann),
            );
        });
    }
    for r in &h.last_pod_retention {
        t.case(|c| {
            let ann = annotations(&[("scale-to-zero-pod-retention-period", &r.ann_retention)]);
            let cfg = config_only(0, 0, 1, false, r.cfg_retention_ns);
            let got = last_pod_retention(&cfg, &ann, reachability(&r.reachability));
            c.exact(
                &r.id,
                "last_pod_retention_ns",
                r.last_pod_retention_ns,
                got.0,
            );
        });
    }
    for r in &h.in_status_for {
        t.case(|c| {
            let cond = r.active_status.as_deref().map(|s| Condition {
                status: status(s),
                reason: String::new(),
                age: ns(r.age_ns),
            });
            let cond = cond.as_ref();
            let signed = |d: Option<SimDuration>| d.map_or(-1, |d| d.0 as i64);
            let id = r.id.as_str();
            c.exact(
                id,
                "active_for_ns",
                r.active_for_ns,
                signed(in_status_for(cond, CondStatus::True)),
            );
            c.exact(
                id,
                "inactive_for_ns",
                r.inactive_for_ns,
                signed(in_status_for(cond, CondStatus::False)),
            );
            let timeout = SimDuration::from_secs(630);
            c.exact(
                id,
                "can_fail_activation_630s",
                r.can_fail_activation_630s,
                can_fail_activation(cond, timeout),
            );
            c.exact(
                id,
                "is_active",
                r.is_active,
                cond.is_some_and(|c| c.status == CondStatus::True),
            );
            c.exact(id, "is_activating", r.is_activating, is_activating(cond));
            c.exact(
                id,
                "is_inactive",
                r.is_inactive,
                cond.is_some_and(|c| c.status == CondStatus::False),
            );
        });
    }
    for r in &h.apply_bounds {
        t.case(|c| c.exact(&r.id, "result", r.result, apply_bounds(r.min, r.max, r.x)));
    }
    for case in &file.cases {
        t.case(|c| check_case(case, c));
    }
    t.finish()
}
