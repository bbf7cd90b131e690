//! Configurable tolerance (`behavior.scaleUp.tolerance` / `scaleDown.tolerance`, Kubernetes 1.35 beta):
//! the no-scale band `(1 - down) <= ratio <= (1 + up)`, its defaults and the feature gate.

use proptest::prelude::*;

use super::controller::{HpaController, HpaInputs, MetricObservation};
use super::manifest::parse_hpa_manifest;
use super::spec::{
    Behavior, HpaConfig, HpaSpec, MetricSpec, MetricTarget, ToleranceRule, Tolerances,
};
use crate::time::SimTime;

fn spec(up: Option<f64>, down: Option<f64>) -> HpaSpec {
    let mut behavior = Behavior::default();
    behavior.scale_up.tolerance = up;
    behavior.scale_down.tolerance = down;
    HpaSpec {
        min_replicas: 1,
        max_replicas: 100,
        metrics: vec![MetricSpec::External {
            name: "queue".into(),
            target: MetricTarget::AverageValue(1000),
        }],
        behavior: Some(behavior),
    }
}

/// The proposal of one sync at 10 replicas whose External metric totals `value_m` (target 1 per pod).
fn desired(spec: HpaSpec, config: HpaConfig, value_m: i64) -> i32 {
    let mut hpa = HpaController::new(spec, config);
    hpa.set_recommendations(Vec::new());
    hpa.reconcile(
        SimTime::from_secs(600),
        &HpaInputs {
            spec_replicas: 10,
            status_replicas: 10,
            pods: Vec::new(),
            metrics: vec![MetricObservation::External(vec![value_m])],
        },
    )
    .metric_desired
    .expect("a valid metric")
}

#[test]
fn band_edges_are_inclusive_and_asymmetric() {
    let t = Tolerances {
        scale_down: 0.2,
        scale_up: 0.05,
    };
    let within = |r| t.is_within(r, ToleranceRule::Interval);
    assert!(within(0.8) && within(1.05) && within(1.0));
    assert!(!within(0.79) && !within(1.06));
}

#[test]
fn default_tolerance_is_the_controller_flag() {
    // 10 % either way: ratio 1.08 holds, 1.2 scales, 0.85 scales down.
    let cfg = HpaConfig::default();
    assert_eq!(desired(spec(None, None), cfg.clone(), 10_800), 10);
    assert_eq!(desired(spec(None, None), cfg.clone(), 12_000), 12);
    assert_eq!(desired(spec(None, None), cfg, 8_500), 9);
}

#[test]
fn per_direction_tolerance_overrides_the_flag() {
    let cfg = HpaConfig::default();
    // A tight scale-up tolerance reacts to +8 %; the default scale-down band still holds at -8 %.
    assert_eq!(desired(spec(Some(0.05), None), cfg.clone(), 10_800), 11);
    assert_eq!(desired(spec(Some(0.05), None), cfg.clone(), 9_200), 10);
    // A wide scale-down tolerance holds at -25 %, but not at -35 %.
    assert_eq!(desired(spec(None, Some(0.3)), cfg.clone(), 7_500), 10);
    assert_eq!(desired(spec(None, Some(0.3)), cfg, 6_500), 7);
}

#[test]
fn gate_off_ignores_behavior_tolerance() {
    let cfg = HpaConfig {
        configurable_tolerance: false,
        ..HpaConfig::default()
    };
    assert_eq!(desired(spec(Some(0.05), None), cfg, 10_800), 10);
}

#[test]
fn manifest_tolerances_parse_and_validate() {
    let text = |up: &str| {
        format!(
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  maxReplicas: 5\n  \
             scaleTargetRef: {{kind: Deployment, name: web}}\n  behavior:\n    scaleUp:\n      \
             tolerance: {up}\n    scaleDown:\n      tolerance: 200m\n"
        )
    };
    let b = parse_hpa_manifest(&text("'0.05'"))
        .unwrap()
        .behavior
        .unwrap();
    assert_eq!(b.scale_up.tolerance, Some(0.05));
    assert_eq!(b.scale_down.tolerance, Some(0.2));
    let err = parse_hpa_manifest(&text("'-0.1'")).unwrap_err().to_string();
    assert!(err.contains("spec.behavior.scaleUp.tolerance"), "{err}");
}

proptest! {
    /// Through the whole controller: the proposal holds at 10 exactly when the usage ratio is in the band
    /// (or when scaling would land on 10 anyway); outside it, it is ceil(ratio x 10).
    #[test]
    fn controller_holds_iff_inside_the_band(
        down_m in 0i64..1000, up_m in 0i64..2000, value_m in 0i64..40_000,
    ) {
        let (down, up) = (down_m as f64 / 1000.0, up_m as f64 / 1000.0);
        let got = desired(spec(Some(up), Some(down)), HpaConfig::default(), value_m);
        let ratio = value_m as f64 / 10_000.0;
        if (1.0 - down) <= ratio && ratio <= (1.0 + up) {
            prop_assert_eq!(got, 10);
        } else {
            prop_assert_eq!(got, (value_m as f64 / 1000.0).ceil() as i32);
        }
    }
}
