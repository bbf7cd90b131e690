//! podscale against the practical limit: a minimal std-only heap simulator of the same workload, written
//! here, run side by side in one process. Prints requests per wall-clock second of each and the ratio
//! podscale / limit for two workloads:
//!
//! - `fixed`: Poisson 100 req/s, exponential 0.1 s service, 20 fixed pods, containerConcurrency 0 (no
//!   queueing), 1 h simulated (`benches/fixed-poisson-1h.yaml`);
//! - `mm1`: an M/M/1 queue at ρ 0.9 (Poisson 9 req/s, exponential 0.1 s, one pod, containerConcurrency 1),
//!   10 h simulated (`scenarios/fixed-mm1.yaml` with overrides).
//!
//! The limit simulator does only what the workload needs: a binary heap of (time, seq, event), exponential
//! draws from SplitMix64, round-robin pods for `fixed` and one FIFO queue for `mm1`. It does not route
//! through an ingress, activator or queue-proxy, keep per-second rows or a latency histogram; podscale does,
//! which is the overhead the ratio shows. Each side runs `ROUNDS` times interleaved and the fastest run of
//! each counts, which filters out other processes on a shared machine.
//!
//! Then memory against rate: the KPA benchmark scenario (`benches/kpa-cc4-1h.yaml`: containerConcurrency 4,
//! exponential 0.1 s service, 2 simulated minutes, `maxReplicas` 5000) at 100 and at 100,000 req/s, each run
//! in a child process of this bench (so each peak is its own), printing each child's peak resident set
//! (VmHWM from /proc/self/status; Linux only) and the ratio. Two starts:
//!
//! - *provisioned*: the run starts with the pods its rate needs at the 70 % target (4 and 3,600 warm pods),
//!   so what grows with the rate is the simulator's own per-request state;
//! - *cold step*: both start from one warm pod; at 100,000 req/s about 786,000 requests then wait at the
//!   activator while pods cold-start (5 s), and their records are the model's state: the real activator
//!   holds them too. This one takes about a minute.
//!
//! Usage:
//!
//! ```text
//! cargo bench --bench limit                 # ROUNDS = 5
//! cargo bench --bench limit -- 9            # more rounds
//! cargo bench --bench limit -- 1 mm1        # one round of the workloads whose key contains `mm1`
//! cargo bench --bench limit -- memory       # only the memory figures (`speed`: only the ratios)
//! ```
//!
//! On a VM the same binary's ratios can move a lot from one copy of its file to the next (one placement
//! of its code in memory) while staying put for that copy: `scripts/limit-copies.sh` runs fresh copies of
//! each binary and prints the medians.

use podscale::observe::output::NoTimeseries;
use podscale::{scenario, Simulation};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Workload {
    /// Short key for selecting workloads on the command line.
    key: &'static str,
    name: &'static str,
    file: &'static str,
    overrides: &'static [&'static str],
    rate: f64,
    mean_service_s: f64,
    pods: usize,
    /// `None`: unlimited concurrency per pod; `Some(1)`: one request at a time, FIFO.
    concurrency: Option<usize>,
    duration_s: f64,
}

const WORKLOADS: [Workload; 2] = [
    Workload {
        key: "fixed",
        name: "fixed 20 pods, 100 req/s",
        file: "benches/fixed-poisson-1h.yaml",
        overrides: &[],
        rate: 100.0,
        mean_service_s: 0.1,
        pods: 20,
        concurrency: None,
        duration_s: 3600.0,
    },
    Workload {
        key: "mm1",
        name: "M/M/1 rho 0.9, cc 1",
        file: "scenarios/fixed-mm1.yaml",
        overrides: &["traffic.rate=9", "duration=10h"],
        rate: 9.0,
        mean_service_s: 0.1,
        pods: 1,
        concurrency: Some(1),
        duration_s: 36000.0,
    },
];

/// Requests completed and wall seconds of one podscale run (scenario parsing excluded, as for the limit).
fn podscale_run(loaded: &scenario::LoadedScenario) -> (u64, f64) {
    let start = Instant::now();
    let sim = Simulation::from_loaded(loaded, None).expect("bench scenario is valid");
    let summary = sim.run(&mut NoTimeseries).expect("bench run");
    let wall = start.elapsed().as_secs_f64();
    (summary.requests.total, wall)
}

struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Exponential with `mean` seconds, in integer nanoseconds like podscale's clock.
    fn exp_ns(&mut self, mean: f64) -> u64 {
        let u = ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        (-u.ln() * mean * 1e9) as u64
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival,
    Done(u32),
}

/// The limit: requests completed and wall seconds.
fn limit_run(w: &Workload, seed: u64) -> (u64, f64) {
    let start = Instant::now();
    let mut rng = SplitMix(seed);
    let end = (w.duration_s * 1e9) as u64;
    let mut heap: BinaryHeap<Reverse<(u64, u64, Ev)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<_>, t: u64, e: Ev| {
        heap.push(Reverse((t, seq, e)));
        seq += 1;
    };
    let mut busy = vec![0usize; w.pods];
    let mut queue: VecDeque<u64> = VecDeque::new();
    let mut next_pod = 0usize;
    let mut done = 0u64;
    let mut latency_sum = 0u64;
    let first = rng.exp_ns(1.0 / w.rate);
    push(&mut heap, first, Ev::Arrival);
    // Arrival times of the requests in service, per pod (M/M/1 only needs one).
    let mut in_service: Vec<VecDeque<u64>> = vec![VecDeque::new(); w.pods];
    while let Some(Reverse((t, _, ev))) = heap.pop() {
        if t > end {
            break;
        }
        match ev {
            Ev::Arrival => {
                let next = t + rng.exp_ns(1.0 / w.rate);
                push(&mut heap, next, Ev::Arrival);
                let pod = next_pod;
                next_pod = (next_pod + 1) % w.pods;
                if w.concurrency.is_none_or(|c| busy[pod] < c) {
                    busy[pod] += 1;
                    in_service[pod].push_back(t);
                    push(
                        &mut heap,
                        t + rng.exp_ns(w.mean_service_s),
                        Ev::Done(pod as u32),
                    );
                } else {
                    queue.push_back(t);
                }
            }
            Ev::Done(pod) => {
                let pod = pod as usize;
                busy[pod] -= 1;
                let arrived = in_service[pod].pop_front().unwrap_or(t);
                latency_sum += t - arrived;
                done += 1;
                if let Some(a) = queue.pop_front() {
                    busy[pod] += 1;
                    in_service[pod].push_back(a);
                    push(
                        &mut heap,
                        t + rng.exp_ns(w.mean_service_s),
                        Ev::Done(pod as u32),
                    );
                }
            }
        }
    }
    std::hint::black_box(latency_sum);
    (done, start.elapsed().as_secs_f64())
}

/// The argument that makes this bench a memory child: `--memory-child RATE WARM_PODS`.
const MEMORY_CHILD: &str = "--memory-child";

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One KPA run in this (child) process; prints `requests max_ready peak_kib` for the parent.
fn memory_child(root: &Path, rate: &str, warm_pods: &str) {
    let overrides = [
        "duration=2m".to_string(),
        format!("traffic.rate={rate}"),
        "service.maxReplicas=5000".to_string(),
        format!("service.initial_pods={warm_pods}"),
    ];
    let loaded = scenario::load(&root.join("benches/kpa-cc4-1h.yaml"), &overrides)
        .expect("bench scenario loads");
    let sim = Simulation::from_loaded(&loaded, None).expect("bench scenario is valid");
    let summary = sim.run(&mut NoTimeseries).expect("bench run");
    let peak = peak_rss_kib().expect("VmHWM in /proc/self/status (Linux only)");
    println!(
        "{} {} {peak}",
        summary.requests.total, summary.replicas.max_ready
    );
}

/// Peak RSS (KiB), requests and most ready pods of one child run.
fn memory_run(rate: u32, warm_pods: u32) -> (u64, u64, u64) {
    let me = std::env::current_exe().expect("the bench knows its own path");
    let out = Command::new(me)
        .args([MEMORY_CHILD, &rate.to_string(), &warm_pods.to_string()])
        .output()
        .expect("the bench can run itself");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "memory child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f: Vec<u64> = text
        .split_whitespace()
        .map(|v| v.parse().expect("child prints numbers"))
        .collect();
    (f[2], f[0], f[1])
}

fn memory_figures() {
    println!();
    println!("peak memory of a KPA run (cc 4, 2 simulated minutes) at 100 and 100,000 req/s, one child process each");
    println!(
        "{:<12} {:>8} {:>11} {:>9} {:>13}",
        "start", "req/s", "requests", "max pods", "peak RSS MiB"
    );
    for (start, pods) in [("provisioned", [4u32, 3600]), ("cold step", [1, 1])] {
        let mut peaks = [0u64; 2];
        for (i, rate) in [100u32, 100_000].into_iter().enumerate() {
            let (peak, requests, max_ready) = memory_run(rate, pods[i]);
            peaks[i] = peak;
            println!(
                "{start:<12} {rate:>8} {requests:>11} {max_ready:>9} {:>13.1}",
                peak as f64 / 1024.0
            );
        }
        println!(
            "{start:<12} peak at 100,000 req/s / at 100 req/s: {:.2} (goal: within 2)",
            peaks[1] as f64 / peaks[0] as f64
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if args.first().map(String::as_str) == Some(MEMORY_CHILD) {
        memory_child(&root, &args[1], &args[2]);
        return;
    }
    // `cargo bench` passes `--bench`; the first numeric argument, if any, is the number of rounds.
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    // Any other argument that is not a flag selects workloads by key (all of them when none is given),
    // `memory` the memory figures and `speed` every workload.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<usize>().is_err())
        .collect();
    let memory = filters.is_empty() || filters.iter().any(|f| f == "memory");
    let speed = filters.is_empty() || filters.iter().any(|f| f != "memory");
    let filters: Vec<String> = filters
        .into_iter()
        .filter(|f| f != "memory" && f != "speed")
        .collect();
    if speed {
        println!(
            "podscale vs a minimal heap simulator of the same workload (best of {rounds} rounds each)"
        );
        println!(
            "{:<26} {:>12} {:>14} {:>12} {:>14} {:>7}",
            "workload", "podscale req", "podscale req/s", "limit req", "limit req/s", "ratio"
        );
    }
    for w in WORKLOADS.iter().filter(|w| {
        speed && (filters.is_empty() || filters.iter().any(|f| w.key.contains(f.as_str())))
    }) {
        let overrides: Vec<String> = w.overrides.iter().map(|s| s.to_string()).collect();
        let loaded = scenario::load(&root.join(w.file), &overrides).expect("bench scenario loads");
        let (mut best_p, mut best_l) = ((0u64, f64::INFINITY), (0u64, f64::INFINITY));
        for round in 0..rounds {
            let p = podscale_run(&loaded);
            let l = limit_run(w, round as u64 + 1);
            if p.1 < best_p.1 {
                best_p = p;
            }
            if l.1 < best_l.1 {
                best_l = l;
            }
        }
        let p_rate = best_p.0 as f64 / best_p.1;
        let l_rate = best_l.0 as f64 / best_l.1;
        println!(
            "{:<26} {:>12} {:>14.0} {:>12} {:>14.0} {:>7.2}",
            w.name,
            best_p.0,
            p_rate,
            best_l.0,
            l_rate,
            p_rate / l_rate
        );
    }
    if memory {
        memory_figures();
    }
}
