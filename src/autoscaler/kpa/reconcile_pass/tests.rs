//! Unit tests for [`super`]: single reconcile passes on hand-built inputs (activation timeout, unreachable revisions,
//! annotation fallbacks, scale-to-zero grace, SKS mode and readiness, the scrape target).

use super::*;

fn pass_input() -> PassInput {
    PassInput {
        config: PassConfig {
            enable_scale_to_zero: true,
            min_scale: 0,
            max_scale: 0,
            initial_scale: 1,
            allow_zero_initial_scale: false,
            scale_to_zero_grace: SimDuration::from_secs(30),
            pod_retention: SimDuration::ZERO,
            target_burst_capacity: 211.0,
            stable_window: SimDuration::from_secs(60),
            panic_window_percentage: 10.0,
            activator_capacity: 100.0,
            container_concurrency_target_default: 100.0,
            container_concurrency_target_fraction: 0.7,
            progress_deadline: SimDuration::from_secs(600),
        },
        annotations: BTreeMap::new(),
        container_concurrency: 0,
        reachability: Reachability::Reachable,
        active: None,
        scale_target_initialized: Some(CondStatus::True),
        desired_scale: Some(1),
        service_name: "rev".into(),
        sks: Some(SksState {
            private_service_name: "rev-private".into(),
            service_name: "rev".into(),
            mode: SksMode::Proxy,
            num_activators: 3,
            ready: CondStatus::True,
            activator_endpoints_populated: None,
        }),
        decider_desired_scale: 1,
        decider_excess_burst_capacity: 0,
        pods: PodCounts::default(),
        deployment_replicas: Some(1),
        activator_probe: ProbeResult::InPath,
    }
}

fn cond(status: CondStatus, reason: &str, age_s: u64) -> Option<Condition> {
    Some(Condition {
        status,
        reason: reason.into(),
        age: SimDuration::from_secs(age_s),
    })
}

#[test]
fn activation_times_out_only_strictly_after_progress_deadline_plus_30s() {
    let mut i = pass_input();
    i.decider_desired_scale = 0;
    i.active = cond(CondStatus::Unknown, "Queued", 630);
    let o = reconcile_pass(&i);
    assert_eq!(o.scale_want, Some(-1));
    assert_eq!(
        o.requeue_after,
        vec![SimDuration::from_secs(630)],
        "the full timeout"
    );
    i.active.as_mut().unwrap().age = SimDuration(630 * NANOS_PER_SEC + 1);
    let o = reconcile_pass(&i);
    assert_eq!((o.scale_want, o.deployment_patch), (Some(0), Some(0)));
    assert_eq!(
        (o.active.status, o.active.reason.as_str()),
        (CondStatus::False, "TimedOut")
    );
}

#[test]
fn progress_deadline_annotation_sets_the_activation_timeout() {
    let mut i = pass_input();
    i.decider_desired_scale = 0;
    i.active = cond(CondStatus::Unknown, "Queued", 10);
    i.annotations
        .insert(PROGRESS_DEADLINE_ANNOTATION.into(), "100s".into());
    assert_eq!(
        reconcile_pass(&i).requeue_after,
        vec![SimDuration::from_secs(130)]
    );
}

#[test]
fn an_unreachable_revision_ignores_min_scale_retention_and_initial_scale() {
    let mut i = pass_input();
    i.reachability = Reachability::Unreachable;
    i.annotations.insert(format!("{ANN}min-scale"), "3".into());
    i.annotations
        .insert(format!("{ANN}initial-scale"), "5".into());
    i.config.pod_retention = SimDuration::from_secs(600);
    i.scale_target_initialized = None;
    i.decider_desired_scale = 0;
    i.active = cond(CondStatus::False, "NoTraffic", 40);
    let s = ResolvedSettings::resolve(&i);
    assert_eq!((s.min, s.retention), (0, SimDuration::ZERO));
    let o = reconcile_pass(&i);
    assert_eq!((o.scale_want, o.deployment_patch), (Some(0), Some(0)));
}

#[test]
fn an_unparsable_min_scale_annotation_falls_back_to_the_config_not_zero() {
    let mut i = pass_input();
    i.config.min_scale = 2;
    i.annotations
        .insert(format!("{ANN}min-scale"), "two".into());
    assert_eq!(ResolvedSettings::resolve(&i).min, 2);
}

#[test]
fn inactive_waits_for_grace_counted_from_activator_endpoints() {
    let mut i = pass_input();
    i.decider_desired_scale = 0;
    i.active = cond(CondStatus::False, "NoTraffic", 5);
    i.sks.as_mut().unwrap().activator_endpoints_populated =
        Some((CondStatus::True, SimDuration::from_secs(12)));
    let o = reconcile_pass(&i);
    assert!(o.activator_probe_called);
    assert_eq!(o.requeue_after, vec![SimDuration::from_secs(18)]);
    assert_eq!(o.deployment_patch, None);
    i.activator_probe = ProbeResult::Error;
    let o = reconcile_pass(&i);
    assert!(o.async_probe_offered && o.requeue_after.is_empty());
}

#[test]
fn no_metrics_while_active_keeps_the_previous_desired_scale_and_proxies() {
    let mut i = pass_input();
    i.decider_desired_scale = -1;
    i.active = cond(CondStatus::True, "", 100);
    i.pods.running_ready = 2;
    let o = reconcile_pass(&i);
    assert_eq!((o.scale_want, o.desired_scale), (Some(-1), Some(1)));
    assert_eq!(o.sks_mode, SksMode::Proxy);
}

#[test]
fn an_sks_spec_change_leaves_sks_ready_unknown_on_this_pass() {
    let mut i = pass_input();
    i.active = cond(CondStatus::True, "", 100);
    i.pods.running_ready = 1;
    let o = reconcile_pass(&i);
    assert_eq!(
        (o.sks_action, o.sks_mode),
        (SksAction::Update, SksMode::Serve)
    );
    assert_eq!(o.sks_ready.status, CondStatus::Unknown);
}

#[test]
fn without_a_private_service_only_the_sks_is_created() {
    let mut i = pass_input();
    i.sks = None;
    let o = reconcile_pass(&i);
    assert_eq!((o.sks_action, o.num_activators), (SksAction::Create, 2));
    assert_eq!((o.scale_want, o.metric), (None, None));
}

#[test]
fn tbc_minus_one_means_no_scrape_target() {
    let mut i = pass_input();
    i.config.target_burst_capacity = -1.0;
    let metric = reconcile_pass(&i).metric.unwrap();
    assert_eq!(metric.scrape_target, "");
    assert_eq!(metric.panic_window, SimDuration::from_secs(6));
}
