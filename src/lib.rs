//! podscale: a discrete-event simulator of request-driven autoscaling on Kubernetes (Knative's KPA with
//! the activator and queue-proxy, the Kubernetes HPA, CronHPA, KEDA cron).
//!
//! Load a scenario ([`scenario::load`], [`scenario::prepare`]), run it ([`sim::run`]) with a
//! [`observe::TimeseriesSink`] that receives one row per simulated second, and read the
//! [`observe::RunSummary`]. A custom autoscaling policy implements [`autoscaler::Scaler`] and runs as
//! [`sim::AutoscalerMode::Custom`]. Time is integer nanoseconds ([`time::SimTime`]); the core reads no
//! clock, so a scenario and a seed always give the same bytes.
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
pub mod backtest;
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
