//! podscale: a discrete-event simulator of request-driven autoscaling on Kubernetes (Knative's KPA with
//! the activator and queue-proxy, the Kubernetes HPA, CronHPA, KEDA cron).
//!
//! Load a scenario ([`scenario::load`], [`scenario::prepare`]), run it ([`sim::run`]) with a
//! [`observe::TimeseriesSink`] that receives one row per simulated second, and read the
//! [`observe::RunSummary`]. A custom autoscaling policy implements [`autoscaler::Scaler`] and runs as
//! [`sim::AutoscalerMode::Custom`]. Time is integer nanoseconds ([`time::SimTime`]); the core reads no
//! clock, so a scenario and a seed always give the same bytes.
//!
//! The facade, [`Simulation`], does load → prepare → run in one place; rows stream to any sink, and
//! `step_until` advances to a simulated time without changing the result:
//!
//! ```
//! use podscale::{observe::output::CollectTimeseries, time::SimTime, Simulation};
//!
//! let yaml = "duration: 60s\nautoscaler: {class: kpa}\ntraffic: {kind: constant, rate: 50}\n";
//! let mut sim = Simulation::from_str(yaml, "inline.yaml", &[], Some(7)).expect("valid scenario");
//! let mut rows = CollectTimeseries::default(); // or CsvTimeseries, or your own TimeseriesSink
//! sim.step_until(SimTime::from_secs(30), &mut rows).unwrap();
//! println!("ready pods at 30 s: {}", sim.last_row().unwrap().ready_pods);
//! let summary = sim.run(&mut rows).unwrap();
//! assert_eq!(rows.0.len(), 60);
//! println!("p99 {:.1} ms over {} requests", summary.latency_ms.p99, summary.requests.total);
//! ```
//!
//! From a file: [`Simulation::from_path`]; from text or a parsed YAML value: [`scenario::load_str`],
//! [`scenario::load_value`] then [`Simulation::from_loaded`]; a whole run folder (CSV, summary, plots):
//! `report::run_to_dir` (feature `cli`).
//!
//! The loop, as the folders show it:
//!
//! ```text
//!  traffic ──► request_path: ingress ──► activator (when in the path) ──► queue-proxy ──► workload: pod
//!                    ▲                        │ stats                          │ stats        │
//!                    │                        ▼                                ▼              │ ready, gone
//!                    │              autoscaler::Scaler ◄── 1 s tick (sim) ◄────┘              │
//!                    │                        │ Decision: replicas, activator in path, wake-up │
//!                    │                        ▼                                                ▼
//!                    └──── response ◄── workload: deployment (ReplicaSet order, grace) ◄── cluster nodes
//!                                                     │
//!                                      observe: per-second rows, summary
//! ```
//!
//! `sim` holds the event loop; `engine` the event queue and random streams; `ids` the generational ids.
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
