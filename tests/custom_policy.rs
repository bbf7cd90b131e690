//! A research policy written against the public scaler interface: target tracking on concurrency, run on
//! the bundled `kpa-bursty` scenario in place of the KPA.

use podscale::autoscaler::{Decision, Scaler, SecondView, StartPlan};
use podscale::observe::output::CollectTimeseries;
use podscale::observe::SecondRow;
use podscale::scenario;
use podscale::sim::AutoscalerMode;
use podscale::time::SimTime;
use std::collections::VecDeque;
use std::path::PathBuf;

/// Keeps the average in-flight requests per pod near `target`: every second it sums the queue-proxies'
/// average concurrency and the activator's, proposes `ceil(total / target)` pods, and scales down only to
/// the highest proposal of the last `window` seconds (a stabilization window).
struct TargetTracking {
    target: f64,
    max: u32,
    window: usize,
    proposals: VecDeque<u32>,
    last_total: Option<f64>,
}

impl Scaler for TargetTracking {
    fn label(&self) -> &'static str {
        "target-tracking"
    }
    fn start(&mut self, _horizon: SimTime) -> StartPlan {
        StartPlan {
            replicas: 1,
            ready_now: true,
            activator_in_path: false,
            wake_at: None,
        }
    }
    fn on_second(&mut self, view: &mut SecondView<'_>) -> Decision {
        let total: f64 = view
            .queue_proxies
            .iter()
            .map(|p| p.report.average_concurrency)
            .sum::<f64>()
            + view.activator.map_or(0.0, |s| s.average_concurrency);
        self.last_total = Some(total);
        let proposal = ((total / self.target).ceil() as u32).clamp(1, self.max);
        self.proposals.push_back(proposal);
        if self.proposals.len() > self.window {
            self.proposals.pop_front();
        }
        let desired = self.proposals.iter().copied().max().unwrap_or(1);
        Decision {
            replicas: (desired != view.replicas).then_some(desired),
            ..Decision::default()
        }
    }
    fn columns(&mut self, row: &mut SecondRow) {
        row.observed_stable = self.last_total;
        row.target_per_pod = Some(self.target);
        row.scale_reason = "target-tracking";
    }
}

#[test]
fn a_custom_target_tracking_policy_scales_up_under_load_and_down_after() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/kpa-bursty.yaml");
    let overrides = ["duration=300s".to_string(), "cooldown=120s".to_string()];
    let loaded = scenario::load(&path, &overrides).unwrap();
    let mut prepared = scenario::prepare(&loaded, None).unwrap();
    prepared.config.autoscaler = AutoscalerMode::Custom(Box::new(TargetTracking {
        target: 2.8,
        max: 40,
        window: 30,
        proposals: VecDeque::new(),
        last_total: None,
    }));
    let mut rows = CollectTimeseries::default();
    let summary = podscale::Simulation::new(prepared)
        .unwrap()
        .run(&mut rows)
        .unwrap();
    let rows = rows.0;

    assert_eq!(summary.autoscaler, "target-tracking");
    assert!(summary.requests.completed > 8_000, "{:?}", summary.requests);
    // Under 30-90 req/s of ~80 ms requests (2.4-7 in flight) one pod is not enough: it scaled up.
    assert!(
        summary.replicas.max_ready >= 2,
        "max ready {}",
        summary.replicas.max_ready
    );
    let busiest = rows.iter().take(300).map(|r| r.ready_pods).max().unwrap();
    assert!(busiest >= 2);
    // The policy's columns reach the rows.
    assert!(rows.iter().all(|r| r.scale_reason == "target-tracking"));
    assert!(rows.iter().all(|r| r.target_per_pod == Some(2.8)));
    // After the traffic stops the window empties and the deployment goes back to one pod.
    let last = rows.last().unwrap();
    assert_eq!(last.desired_pods, Some(1));
    assert_eq!(last.ready_pods, 1);
    // While it tracked the load, pods stayed near the target: the per-pod average in flight, over seconds
    // with traffic, is well below containerConcurrency.
    let loaded_rows: Vec<&SecondRow> = rows
        .iter()
        .filter(|r| r.time_s > 60 && r.time_s <= 300)
        .collect();
    let per_pod = loaded_rows
        .iter()
        .map(|r| r.observed_stable.unwrap_or(0.0) / f64::from(r.ready_pods.max(1)))
        .sum::<f64>()
        / loaded_rows.len() as f64;
    assert!(per_pod < 4.0, "average in flight per pod {per_pod}");
}
