//! Many services on one cluster (issue 16 item 6): 1,000 KPA-scaled services with diurnal Poisson traffic
//! (Zipf-like popularity, 3,000 req/s in total) for 2 simulated hours, the scenario of
//! `examples/services_scale.rs` (which also runs a full day and reports peak memory). Prints simulated
//! requests per wall-clock second; each round runs in this process, the fastest counts.
//!
//!     cargo bench --bench services            # 3 rounds
//!     cargo bench --bench services -- 5       # more rounds

#[path = "../examples/services_scale.rs"]
#[allow(dead_code)]
mod scale;

use podscale::observe::output::NoTimeseries;
use podscale::scenario::{self, prepare_services};
use podscale::sim::{self, MultiOutputs, ServiceRun};
use std::path::Path;

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3);
    let text = scale::scenario_text(1000, "2h", 3000.0, 0.8);
    let mut best = f64::MAX;
    let mut requests = 0;
    for _ in 0..rounds {
        let loaded = scenario::load_str(&text, Path::new("scale.yaml"), Path::new("."), &[])
            .expect("the generated scenario loads");
        let prepared = prepare_services(&loaded, None).expect("the generated scenario prepares");
        let outputs = MultiOutputs::new(
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
            3600,
            &["cpu".to_string()],
        )
        .expect("sinks accept the headers");
        let runs: Vec<ServiceRun> = prepared
            .services
            .into_iter()
            .map(|s| ServiceRun {
                config: s.prepared.config,
                traffic: s.prepared.traffic,
            })
            .collect();
        let started = std::time::Instant::now();
        let summary = sim::run_services("scale", prepared.seed, runs, outputs, &mut NoTimeseries)
            .expect("the run completes");
        best = best.min(started.elapsed().as_secs_f64());
        requests = summary.requests.total;
    }
    println!(
        "services/1000x2h: {requests} requests, best of {rounds}: {best:.2} s wall, {:.2} M simulated req/s",
        requests as f64 / best / 1e6
    );
}
