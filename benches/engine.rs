//! Engine speed: simulated requests per wall-clock second on a fixed-replica scenario (Poisson 100 req/s,
//! 0.1 s exponential service, containerConcurrency 0 on 20 pods, 1 h simulated; about 360,000 requests).
//! Run with `cargo bench --bench engine`; criterion reports the throughput in elements (requests) per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use podscale::observe::output::NoTimeseries;
use podscale::Simulation;
use std::path::PathBuf;

fn scenario_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/fixed-poisson-1h.yaml")
}

fn run_once() -> u64 {
    let sim = Simulation::from_path(&scenario_path(), &[], None).expect("bench scenario is valid");
    let summary = sim.run(&mut NoTimeseries).expect("bench run");
    summary.requests.total
}

fn engine(c: &mut Criterion) {
    let requests = run_once();
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(requests));
    group.sample_size(20);
    group.bench_function("fixed_poisson_100rps_1h", |b| b.iter(run_once));
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
