//! The workload side of a revision: pods and their lifecycle, how a pod serves requests, how it starts, and
//! the cluster's nodes it runs on.
//!
//! * [`pods`]: one pod's lifecycle state, its queue-proxy counters and its resource use over time.
//! * [`discipline`]: how a pod shares its capacity among requests (fixed slots, processor sharing, GPU
//!   batching).
//! * [`kv_cache`]: the KV cache of an LLM engine pod (admission, growth, preemption) and TTFT/TPOT;
//!   `engine` is the loop's side of it (admission and preemption hooks, first tokens, engine columns).
//! * [`startup`]: the cold-start phases (scheduling, image pull, container start, readiness).
//! * [`cluster`]: node pools, scheduling of pods onto nodes, node autoscaling.
//!
//! Units: time is [`crate::time::SimTime`] (integer ns); CPU in millicores, memory in bytes.

pub mod cluster;
pub(crate) mod deployment;
pub mod discipline;
pub(crate) mod engine;
pub mod kv_cache;
pub mod pods;
pub mod startup;

pub use pods::{PodUsage, ResourceModel};
