//! A research autoscaling policy in Rust, written against podscale's public [`Scaler`] trait, run on a
//! bundled scenario in place of the KPA and compared with it on the same traffic and seed.
//!
//! ```sh
//! cargo run --release --example custom_policy                 # scenarios/kpa-bursty.yaml, its seed
//! cargo run --release --example custom_policy -- scenarios/kpa-bursty.yaml 7   # another seed
//! ```
//!
//! How a policy plugs in: load and prepare the scenario as the CLI does, replace
//! `prepared.config.autoscaler` with `AutoscalerMode::Custom(Box::new(policy))`, and run. The loop calls
//! [`Scaler::start`] once, [`Scaler::on_second`] on every 1 s tick with the [`SecondView`] (each ready
//! pod's queue-proxy report, the activator's report, the second's arrivals, requests in flight), and
//! applies the returned [`Decision`]: the replica count, whether the activator is in the request path,
//! and an optional wake-up. Nothing else changes: the traffic is generated from the scenario's seed by its
//! own random stream, so both runs see the same arrivals (common random numbers) and the difference in
//! pod-seconds and latency is the policies'.
//!
//! The policy here, `PredictiveTrend`, pre-scales from the arrival trend: every `period` seconds it fits a
//! least-squares line to the last `window` seconds of arrivals, extrapolates it `lead` seconds ahead
//! (a cold start or two) and sizes the deployment by Little's law, `rate x service time / target`
//! requests per pod, never below what the pods' measured concurrency or the requests in flight (queued
//! ones included) already need. It scales down by at
//! most `max_step_down` pods per decision. It keeps the activator in the request path (as Knative does
//! with `target-burst-capacity: -1`): a burst then waits in the activator, which sends each pod at most
//! containerConcurrency requests, instead of overflowing the queue-proxies' queues (10 x
//! containerConcurrency) into 503s. A policy that takes the activator out of the path must put it back
//! before it asks for zero pods, or requests fail instead of waiting.

use podscale::autoscaler::{Decision, Scaler, SecondView, StartPlan};
use podscale::observe::output::{NoTimeseries, RunSummary};
use podscale::observe::SecondRow;
use podscale::scenario;
use podscale::sim::AutoscalerMode;
use podscale::time::SimTime;
use podscale::Simulation;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

struct PredictiveTrend {
    /// Mean service time, seconds (kpa-bursty's lognormal, median 80 ms and sigma 0.4: 87 ms; a real
    /// policy would estimate it from the pods).
    service_time_s: f64,
    /// Concurrent requests per pod to aim for.
    target: f64,
    window: usize,
    lead_s: f64,
    period_s: u64,
    min: u32,
    max: u32,
    max_step_down: u32,
    arrivals: VecDeque<u64>,
    desired: u32,
    /// The rate the last decision planned for (for the row's `observed_stable` column).
    planned_rate: f64,
}

impl PredictiveTrend {
    /// Arrivals per second expected `lead_s` after the last full second (least squares over the window).
    fn predicted_rate(&self) -> f64 {
        let n = self.arrivals.len();
        if n < 2 {
            return self.arrivals.back().map_or(0.0, |&a| a as f64);
        }
        let mean_x = (n - 1) as f64 / 2.0;
        let mean_y = self.arrivals.iter().sum::<u64>() as f64 / n as f64;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (i, &y) in self.arrivals.iter().enumerate() {
            let dx = i as f64 - mean_x;
            sxy += dx * (y as f64 - mean_y);
            sxx += dx * dx;
        }
        let slope = sxy / sxx;
        (mean_y + slope * ((n - 1) as f64 - mean_x + self.lead_s)).max(0.0)
    }
}

impl Scaler for PredictiveTrend {
    fn label(&self) -> &'static str {
        "predictive-trend"
    }

    fn start(&mut self, _horizon: SimTime) -> StartPlan {
        StartPlan {
            replicas: self.desired,
            ready_now: true,
            activator_in_path: true,
            wake_at: None,
        }
    }

    fn on_second(&mut self, view: &mut SecondView<'_>) -> Decision {
        self.arrivals.push_back(view.arrivals);
        if self.arrivals.len() > self.window {
            self.arrivals.pop_front();
        }
        if !view.now.whole_secs().is_multiple_of(self.period_s) {
            return Decision::default();
        }
        // The last 5 s as "now", so one quiet second does not drop the plan.
        let recent = self.arrivals.iter().rev().take(5);
        let rate_now = recent.clone().sum::<u64>() as f64 / recent.count().max(1) as f64;
        self.planned_rate = rate_now.max(self.predicted_rate());
        let measured: f64 = view
            .queue_proxies
            .iter()
            .map(|p| p.report.average_concurrency)
            .sum();
        // Requests in flight include those queued at the pods: a backlog asks for pods at once.
        let concurrency = (self.planned_rate * self.service_time_s)
            .max(measured)
            .max(view.in_flight as f64);
        let want = (concurrency / self.target).ceil() as u32;
        let floor = self.desired.saturating_sub(self.max_step_down);
        self.desired = want.max(floor).clamp(self.min, self.max);
        Decision {
            replicas: (self.desired != view.replicas).then_some(self.desired),
            ..Decision::default()
        }
    }

    fn columns(&mut self, row: &mut SecondRow) {
        row.observed_stable = Some(self.planned_rate * self.service_time_s);
        row.target_per_pod = Some(self.target);
        row.scale_reason = "predictive-trend";
    }
}

fn run(path: &Path, seed: Option<u64>, policy: Option<PredictiveTrend>) -> RunSummary {
    let fail = |e: scenario::ScenarioErrors| -> ! {
        eprintln!("{e}");
        std::process::exit(2)
    };
    let loaded = scenario::load(path, &[]).unwrap_or_else(|e| fail(e));
    let mut prepared = scenario::prepare(&loaded, seed).unwrap_or_else(|e| fail(e));
    if let Some(policy) = policy {
        prepared.config.autoscaler = AutoscalerMode::Custom(Box::new(policy));
    }
    // A custom policy replaces the prepared autoscaler, so the run is built from the prepared scenario.
    Simulation::new(prepared)
        .and_then(|sim| sim.run(&mut NoTimeseries))
        .expect("the run completes")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/kpa-bursty.yaml"),
        PathBuf::from,
    );
    let seed = args.next().map(|s| {
        s.parse::<u64>().unwrap_or_else(|_| {
            eprintln!("seed {s:?}: allowed: a whole number 0 to {}", u64::MAX);
            std::process::exit(2)
        })
    });
    let policy = PredictiveTrend {
        service_time_s: 0.087,
        // The KPA's target on this scenario: containerConcurrency 4 x target utilization 0.7.
        target: 2.8,
        window: 20,
        // About two cold starts (lognormal, median 2 s) ahead.
        lead_s: 4.0,
        period_s: 2,
        min: 1,
        max: 40,
        max_step_down: 2,
        arrivals: VecDeque::new(),
        desired: 1,
        planned_rate: 0.0,
    };
    let kpa = run(&path, seed, None);
    let pred = run(&path, seed, Some(policy));
    assert_eq!(kpa.requests.total, pred.requests.total, "same traffic");
    println!(
        "{} (seed {}): {} requests",
        kpa.scenario, kpa.seed, kpa.requests.total
    );
    println!(
        "{:<18} {:>12} {:>10} {:>10} {:>9} {:>7}",
        "autoscaler", "pod-seconds", "p50 ms", "p99 ms", "max ready", "failed"
    );
    for s in [&kpa, &pred] {
        println!(
            "{:<18} {:>12.0} {:>10.1} {:>10.1} {:>9} {:>7}",
            s.autoscaler,
            s.pod_seconds,
            s.latency_ms.p50,
            s.latency_ms.p99,
            s.replicas.max_ready,
            s.requests.failed
        );
    }
}
