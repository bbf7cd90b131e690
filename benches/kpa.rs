//! End-to-end speed with the autoscaler in the loop: simulated requests per wall-clock second on one core.
//!
//! - `kpa/cc4_poisson_200rps_1h` (`benches/kpa-cc4-1h.yaml`): a KPA-scaled service with containerConcurrency
//!   4, queueing in the queue-proxy and the activator, and lognormal cold starts; about 720,000 requests.
//! - `kpa/simfaas_w1` (`benches/simfaas-w1.yaml`): SimFaaS's workload W1 as a podscale scenario, for the
//!   side-by-side comparison with the peer (`benches/simfaas_compare.sh`); about 360,000 requests.
//!
//! Each iteration loads and prepares the scenario and runs it with no time series, as a sweep run does.
//! Run with `cargo bench --bench kpa`; criterion reports elements (requests) per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use podscale::observe::output::NoTimeseries;
use podscale::Simulation;
use std::path::PathBuf;

fn run_once(file: &str) -> u64 {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
    let sim = Simulation::from_path(&path, &[], None).expect("bench scenario is valid");
    let summary = sim.run(&mut NoTimeseries).expect("bench run");
    summary.requests.total
}

fn kpa(c: &mut Criterion) {
    let mut group = c.benchmark_group("kpa");
    group.sample_size(15);
    for (name, file) in [
        ("cc4_poisson_200rps_1h", "benches/kpa-cc4-1h.yaml"),
        ("simfaas_w1", "benches/simfaas-w1.yaml"),
    ] {
        group.throughput(Throughput::Elements(run_once(file)));
        group.bench_function(name, |b| b.iter(|| run_once(file)));
    }
    group.finish();
}

criterion_group!(benches, kpa);
criterion_main!(benches);
