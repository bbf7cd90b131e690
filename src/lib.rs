//! podscale: a discrete-event simulator of request-driven autoscaling on Kubernetes (Knative's KPA with
//! the activator and queue-proxy, the Kubernetes HPA, CronHPA, KEDA).
//!
//! A scenario (YAML: service, pods, autoscaler, traffic) and a seed go in; one row per simulated second
//! and a [`observe::RunSummary`] come out. Time is integer nanoseconds ([`time::SimTime`]); the core reads
//! no clock, so a scenario and a seed always give the same bytes (callers that report wall time measure
//! it around the calls, as `report::run_to_dir` does).
//!
//! # Entry points
//!
//! | need | call |
//! |---|---|
//! | a scenario file | [`Simulation::from_path`]`(path, &overrides, seed)` |
//! | scenario text | [`Simulation::from_str`]`(text, name, &overrides, seed)` (errors name `name`) |
//! | a parsed scenario, or one to inspect first | [`scenario::load_str`] / [`scenario::load_value`] / [`scenario::load`], then [`Simulation::from_loaded`] |
//! | your own traffic or autoscaler | [`scenario::prepare`], change `traffic` / `config.autoscaler` ([`autoscaler::Scaler`]), then [`Simulation::new`] |
//! | the CLI's run folder (CSV, summary, plots) | `report::run_to_dir(dir, sim, hooks)` (feature `cli`) |
//! | a trace or latency samples from any `Read` | [`traffic::TraceSource::from_reader`], [`traffic::TraceInput`], [`dist::DurationDist::empirical_from_reader`] |
//!
//! Rows stream to any [`observe::TimeseriesSink`]; `step_until` advances to a simulated time without
//! changing the result. The example below is README's (a test keeps the two the same):
//!
//! ```
//! use podscale::observe::output::{CollectTimeseries, NoTimeseries};
//! use podscale::traffic::{trace::TraceOptions, TraceSource, TrafficPlan};
//! use podscale::{scenario, time::SimTime, Simulation};
//! use std::path::Path;
//!
//! // Scenario text (Simulation::from_path for a file), stepped, then run to the end.
//! let yaml = "duration: 60s\nautoscaler: {class: kpa}\ntraffic: {kind: constant, rate: 50}\n";
//! let mut sim = Simulation::from_str(yaml, "inline.yaml", &[], Some(7))?;
//! let mut rows = CollectTimeseries::default(); // or CsvTimeseries, or your own TimeseriesSink
//! sim.step_until(SimTime::from_secs(30), &mut rows)?;
//! println!("ready pods at 30 s: {}", sim.last_row().unwrap().ready_pods);
//! let summary = sim.run(&mut rows)?;
//! assert_eq!(rows.0.len(), 60);
//! println!("p99 {:.1} ms over {} requests", summary.latency_ms.p99, summary.requests.total);
//!
//! // The same service replaying a trace read from any reader (here bytes in memory).
//! let trace = "time_s\n0.5\n1.25\n2\n";
//! let loaded = scenario::load_str(yaml, Path::new("inline.yaml"), Path::new(""), &[])?;
//! let mut prepared = scenario::prepare(&loaded, None)?;
//! let source = TraceSource::from_reader(trace.as_bytes(), None, TraceOptions::default())?;
//! prepared.traffic = TrafficPlan { open_loop: Some(Box::new(source)), closed_loop: None };
//! let summary = Simulation::new(prepared)?.run(&mut NoTimeseries)?;
//! assert_eq!(summary.requests.total, 3);
//!
//! // A bundled scenario written to a run folder, as `podscale run` does (feature `cli`).
//! # #[cfg(feature = "cli")] {
//! let overrides = ["duration=20s".to_string(), "output.plots=false".to_string()];
//! let sim = Simulation::from_path(Path::new("scenarios/quickstart.yaml"), &overrides, None)?;
//! let dir = std::env::temp_dir().join("podscale-library-example");
//! std::fs::create_dir_all(&dir)?;
//! let summary = podscale::report::run_to_dir(&dir, sim, Default::default())?;
//! assert!(dir.join("timeseries.csv").is_file() && summary.wall_time_s > 0.0);
//! # }
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! # The loop, as the folders show it
//!
//! ```text
//!  traffic ──► request_path: ingress ──► activator (when in the path) ──► queue-proxy ──► workload: pod
//!     ▲                                    │ stats                          │ stats           │
//!     │                                    ▼                                ▼                 │
//!     │                      autoscaler::Scaler ◄── sim: the 1 s tick ◄─────┘                 │
//!     │                          │ Decision: replicas, activator in the path, next wake-up    │
//!     │                          ▼                                                            │
//!     │            workload: deployment (ReplicaSet order, grace) ──► pods on cluster nodes   │
//!     │                                                                                       │
//!     └──────────── response (closed-loop clients send again) ◄───────────────────────────────┘
//!
//!  observe: per-second rows and the summary, from what every stage reports
//! ```
//!
//! `sim` holds the event loop and the facade; `engine` the event queue and random streams; `ids` the
//! generational ids of requests, pods and revisions. A custom autoscaling policy implements
//! [`autoscaler::Scaler`] and runs as [`sim::AutoscalerMode::Custom`].
//!
//! # Allocator
//!
//! With the default feature `mimalloc`, this crate makes mimalloc the process's global allocator, for
//! every program that links it (the CLI, tests, examples, benches). A run of many services waits on
//! memory more than on instructions, and mimalloc's 2 MiB-page segments and size-segregated pages cut
//! those waits (README, Speed). Results do not depend on the allocator. A program that sets its own
//! allocator depends on podscale with `default-features = false`.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL_ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod autoscaler;
// Backtest and calibration are command-line tools over the run folder (plots, atomic writes, clap args).
#[cfg(feature = "cli")]
pub mod backtest;
#[cfg(feature = "cli")]
pub mod calibrate;
pub mod dist;
pub mod engine;
pub mod ids;
pub mod observe;
#[cfg(feature = "cli")]
pub mod report;
pub mod request_path;
pub mod scenario;
pub mod sim;
#[cfg(feature = "cli")]
pub mod sweep;
pub mod time;
pub mod traffic;
pub mod workload;

pub use sim::{Simulation, SimulationError};
