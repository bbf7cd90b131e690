//! Unit tests for [`super`]: ConfigMap keys and their errors, per-revision annotations, KServe annotation mapping.

use super::*;
use crate::autoscaler::kpa::ScalingMetric;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn annotation(name: &str, value: &str) -> (String, String) {
    (format!("{ANNOTATION_PREFIX}{name}"), value.to_string())
}

fn errors_for(pairs: &[(&str, &str)]) -> Vec<ConfigError> {
    AutoscalerConfig::from_configmap(&map(pairs)).expect_err("expected errors")
}

#[test]
fn empty_configmap_gives_knative_defaults() {
    let config = AutoscalerConfig::from_configmap(&BTreeMap::new()).unwrap();
    assert_eq!(config, AutoscalerConfig::default());
    assert_eq!(config.container_concurrency_target_fraction, 0.7);
    assert_eq!(config.target_burst_capacity, 211.0);
}

#[test]
fn values_parse_in_knative_formats() {
    let config = AutoscalerConfig::from_configmap(&map(&[
        ("stable-window", "1m30s"),
        ("container-concurrency-target-percentage", "80"),
        ("enable-scale-to-zero", "false"),
        ("max-scale-up-rate", "10"),
        ("_example", "ignored documentation block"),
    ]))
    .unwrap();
    assert_eq!(config.stable_window, SimDuration::from_secs(90));
    assert!((config.container_concurrency_target_fraction - 0.8).abs() < 1e-12);
    assert!(!config.enable_scale_to_zero);
    assert_eq!(config.max_scale_up_rate, 10.0);
}

#[test]
fn each_configmap_rule_is_enforced_and_all_errors_are_collected() {
    let cases: &[(&str, &str)] = &[
        ("container-concurrency-target-percentage", "0"),
        ("requests-per-second-target-default", "0.001"),
        ("target-burst-capacity", "-2"),
        ("stable-window", "5s"),
        ("panic-window-percentage", "0.5"),
        ("max-scale-up-rate", "1"),
        ("max-scale-down-rate", "0.5"),
        ("activator-capacity", "0.5"),
        ("scale-to-zero-grace-period", "0s"),
        ("scale-down-delay", "1500ms"),
        ("initial-scale", "0"),
        ("max-scale", "-1"),
        ("enable-scale-to-zero", "yes"),
        ("min-scale", "many"),
    ];
    for (key, value) in cases {
        let errors = errors_for(&[(key, value)]);
        assert_eq!(errors.len(), 1, "{key}={value}: {errors:?}");
        assert_eq!(errors[0].key, *key);
        assert_eq!(errors[0].value, *value);
    }
    let all = errors_for(cases);
    assert_eq!(all.len(), cases.len(), "{all:?}");
}

#[test]
fn error_display_names_key_value_and_range() {
    let errors = errors_for(&[("stable-window", "5s")]);
    assert_eq!(
        errors[0].to_string(),
        "stable-window: \"5s\" must be within [6s, 1h]"
    );
}

#[test]
fn cross_key_rules() {
    let errors = errors_for(&[("min-scale", "5"), ("max-scale", "3")]);
    assert_eq!(errors[0].key, "min-scale");
    let errors = errors_for(&[("max-scale-limit", "10"), ("max-scale", "20")]);
    assert_eq!(errors[0].key, "max-scale");
    let errors = errors_for(&[
        ("container-concurrency-target-percentage", "1"),
        ("container-concurrency-target-default", "0.005"),
    ]);
    assert_eq!(errors[0].key, "container-concurrency-target-percentage");
    assert!(AutoscalerConfig::from_configmap(&map(&[
        ("initial-scale", "0"),
        ("allow-zero-initial-scale", "true")
    ]))
    .is_ok());
}

#[test]
fn unknown_key_suggests_the_near_miss() {
    let errors = errors_for(&[("stable-windw", "60s")]);
    assert_eq!(errors[0].key, "stable-windw");
    assert!(
        errors[0].message.contains("did you mean \"stable-window\""),
        "{}",
        errors[0]
    );
    let errors = errors_for(&[("completely-unrelated-setting", "1")]);
    assert!(!errors[0].message.contains("did you mean"), "{}", errors[0]);
}

#[test]
fn metric_target_resolution_matches_knative_examples() {
    let config = AutoscalerConfig::default();
    let none = BTreeMap::new();
    let cc10 = resolve_revision(&config, &none, 10).unwrap();
    assert!((cc10.decider.target_value - 7.0).abs() < 1e-9);
    assert_eq!(cc10.decider.total_value, 10.0);
    let cc0 = resolve_revision(&config, &none, 0).unwrap();
    assert!((cc0.decider.target_value - 70.0).abs() < 1e-9);
    assert_eq!(cc0.panic_window, SimDuration::from_secs(6));
    assert_eq!(cc0.decider.panic_threshold, 2.0);
    let rps: BTreeMap<_, _> = [annotation("metric", "rps")].into_iter().collect();
    let rps = resolve_revision(&config, &rps, 0).unwrap();
    assert!((rps.decider.target_value - 140.0).abs() < 1e-9);
    assert_eq!(rps.decider.total_value, 200.0);
    // The target annotation is capped by containerConcurrency for the concurrency metric.
    let target: BTreeMap<_, _> = [annotation("target", "50")].into_iter().collect();
    let capped = resolve_revision(&config, &target, 10).unwrap();
    assert_eq!(capped.decider.total_value, 10.0);
}

#[test]
fn panic_window_rounds_to_the_nearest_second_at_least_one() {
    let config = AutoscalerConfig::default();
    let with = |window: &str, pct: &str| {
        let a: BTreeMap<_, _> = [
            annotation("window", window),
            annotation("panic-window-percentage", pct),
        ]
        .into_iter()
        .collect();
        resolve_revision(&config, &a, 0).unwrap().panic_window
    };
    assert_eq!(with("6s", "10"), SimDuration::from_secs(1));
    assert_eq!(
        with("15s", "10"),
        SimDuration::from_secs(2),
        "1.5 s rounds half away from zero"
    );
    assert_eq!(with("60s", "1"), SimDuration::from_secs(1));
    assert_eq!(with("120s", "20"), SimDuration::from_secs(24));
}

#[test]
fn kebab_case_annotation_wins_over_legacy_alias() {
    let config = AutoscalerConfig::default();
    let a: BTreeMap<_, _> = [annotation("minScale", "2"), annotation("min-scale", "3")]
        .into_iter()
        .collect();
    assert_eq!(resolve_revision(&config, &a, 0).unwrap().min_scale, 3);
    let alias_only: BTreeMap<_, _> = [annotation("maxScale", "7")].into_iter().collect();
    assert_eq!(
        resolve_revision(&config, &alias_only, 0).unwrap().max_scale,
        7
    );
}

#[test]
fn each_annotation_rule_is_enforced() {
    let config = AutoscalerConfig::default();
    let cases: &[(&str, &str)] = &[
        ("target", "0.001"),
        ("target-utilization-percentage", "0.5"),
        ("target-burst-capacity", "-5"),
        ("window", "2h"),
        ("panic-window-percentage", "101"),
        ("panic-threshold-percentage", "100"),
        ("initial-scale", "0"),
        ("activation-scale", "1"),
        ("scale-down-delay", "2h"),
        ("scale-to-zero-pod-retention-period", "61m"),
        ("metric", "cpu"),
        ("metric-aggregation-algorithm", "median"),
        ("class", "hpa.autoscaling.knative.dev"),
        ("taget", "10"),
    ];
    for (name, value) in cases {
        let a: BTreeMap<_, _> = [annotation(name, value)].into_iter().collect();
        let errors = resolve_revision(&config, &a, 0).expect_err(name);
        assert_eq!(errors.len(), 1, "{name}={value}: {errors:?}");
        assert_eq!(errors[0].key, format!("{ANNOTATION_PREFIX}{name}"));
    }
    let typo: BTreeMap<_, _> = [annotation("taget", "10")].into_iter().collect();
    let errors = resolve_revision(&config, &typo, 0).unwrap_err();
    assert!(
        errors[0]
            .message
            .contains("autoscaling.knative.dev/target\""),
        "{}",
        errors[0]
    );
    let bounded: BTreeMap<_, _> = [
        annotation("max-scale", "3"),
        annotation("activation-scale", "5"),
    ]
    .into_iter()
    .collect();
    assert!(resolve_revision(&config, &bounded, 0).is_err());
}

#[test]
fn tbc_minus_one_unsets_the_scrape_target() {
    let config = AutoscalerConfig::default();
    let a: BTreeMap<_, _> = [annotation("target-burst-capacity", "-1")]
        .into_iter()
        .collect();
    assert!(!resolve_revision(&config, &a, 0).unwrap().scrape_target_set);
    assert!(
        resolve_revision(&config, &BTreeMap::new(), 0)
            .unwrap()
            .scrape_target_set
    );
}

#[test]
fn kserve_mapping() {
    let component = KServeComponent {
        scale_metric: Some("rps".into()),
        scale_target: Some(5),
        max_replicas: Some(0),
        container_concurrency: Some(4),
        ..KServeComponent::default()
    };
    let (annotations, cc) = kserve_annotations(&component, false);
    assert_eq!(cc, 4);
    assert_eq!(annotations[&format!("{ANNOTATION_PREFIX}min-scale")], "1");
    assert_eq!(annotations[&format!("{ANNOTATION_PREFIX}class")], KPA_CLASS);
    assert!(!annotations.contains_key(&format!("{ANNOTATION_PREFIX}max-scale")));
    let resolved = resolve_revision(&AutoscalerConfig::default(), &annotations, cc).unwrap();
    assert_eq!(resolved.metric, ScalingMetric::Rps);
    assert!((resolved.decider.target_value - 3.5).abs() < 1e-9);

    let zero = KServeComponent {
        min_replicas: Some(0),
        ..KServeComponent::default()
    };
    let (annotations, _) = kserve_annotations(&zero, true);
    assert_eq!(
        annotations[&format!("{ANNOTATION_PREFIX}initial-scale")],
        "0"
    );
    let (annotations, _) = kserve_annotations(&zero, false);
    assert!(!annotations.contains_key(&format!("{ANNOTATION_PREFIX}initial-scale")));
}
