//! The simulation loop: requests flow client → ingress → (activator) → queue-proxy → container and back,
//! pods start and stop, and the autoscaler reads per-second statistics and sets the replica count.
//!
//! Units: time is [`SimTime`] (integer ns). Latency is measured at the client, from the moment it sends a
//! request to the moment the response arrives, so it includes the time outside the pod
//! (`request_path`: client, ingress and network, each way).
//!
//! Ordering at one instant: the 1 s tick has its own priority class in the event queue and runs before
//! every other event of its instant, so row `t` covers exactly `[t - 1 s, t)`; other events of one instant
//! run in the order they were scheduled (FIFO).
//!
//! Cost: every request costs at most four events (send, ingress, service done, response) plus one
//! timeout event only if it queues at a pod (the activator's queue has one timer for its head). Two of
//! them are often taken without an event, with every output unchanged (`sim::hop_shortcut_tests` checks
//! this against a run that queues every hop): a request reaches the ingress at once when its ingress
//! event would be the next one handled anyway (nothing else due before it; `Sim::reach_ingress`), and an
//! open-loop answer is taken when it leaves the pod when it reaches the client before the next tick and
//! the end (what the client side then does is bookkeeping read only at ticks; `Sim::respond`). Closed-loop
//! answers, calls between services and runs that keep a per-request log keep their answer events. So
//! `events_processed` counts the events handled, 2 to 3 per request in most runs; routing is
//! O(1) (round robin) or O(pods / 64) (the activator's first-available and round-robin policies search a
//! bitset of pods with free capacity), so the per-event cost barely grows with the number of pods. Per-second work (statistics, the time-series row)
//! is O(pods). Memory holds live requests and pods only; per-second rows are streamed to a sink.
//!
//! Structure: the world (`world.rs`) holds the revisions (one per scenario today), the cluster they share,
//! the requests in flight, the event queue, the random streams, the traffic and the recorders. A revision
//! (`revision.rs`) owns its pods, ready set, activator, queue-proxy settings, deployment and scaler; each
//! pod carries its own resource shape. The loop's code lives with the component it models:
//! `request_path::{ingress, activator_loop, queue_proxy}` (the request's way in and out),
//! `workload::deployment` (pod lifecycle and replica count), `tick.rs` (the 1 s tick, rows, applying a
//! scaler's decision), `summary.rs` (the end of the run) and `run.rs` (start, event dispatch, stepping).
//! Settings and errors are in `config.rs`, the per-request log in `request_log.rs`, the library facade in
//! `facade.rs`.
//!
//! Autoscalers: `fixed`, Knative's KPA (with the activator in the path when it must buffer), or the
//! Kubernetes HPA with CronHPA / KEDA cron ([`crate::autoscaler::hpa::runtime`]: metrics-server and
//! custom-metric scrapers, syncs on the 1 s tick, cron jobs as exact events; no activator, at least one
//! pod). Pod and cluster models live in `workload`: [`crate::workload::startup`] (cold-start phases),
//! [`crate::workload::discipline`] (fixed slots, processor sharing, GPU batching),
//! [`crate::workload::cluster`] (node pools, scheduling, node autoscaling) and [`crate::workload::pods`]
//! (lifecycle state and resource use).
//!
//! Simplifications (see also the module docs of `request_path::activator` and `cluster`):
//! * The activator fleet is a fixed number of activator pods (`request_path.activator.replicas`, default 1),
//!   each with its slice of the pods (`request_path::activator_fleet`); the activator HPA is not modelled.
//! * One revision per run, and the ingress has one route (to it); the row and the summary add revisions
//!   up, which with one revision is that revision's view.
//! * In Serve mode the ingress spreads requests round robin over ready pods.
//! * `initial_state: warm` creates the KPA decider with 0 ready pods, as if the autoscaler had been running
//!   quietly; Knative creates it with the live ready count (and so in panic above one pod) only when the
//!   autoscaler process itself restarts.
//! * `cold_start_affected` counts requests that waited in the activator while no pod was ready; waiting
//!   for a slot on a busy pod is queueing, not a cold start.
//! * When the deployment shrinks, pods are removed in Kubernetes' ReplicaSet order: not-yet-ready pods
//!   first (newest first), then the most recently ready.

pub(crate) mod config;
mod facade;
#[cfg(test)]
mod hop_shortcut_tests;
pub(crate) mod request_log;
mod revision;
mod run;
pub(crate) mod services;
mod summary;
mod tick;
pub(crate) mod world;

pub use facade::{ServicesInfo, Simulation, SimulationError};

pub use config::{AutoscalerMode, PodModel, SimConfig, SimError, Traffic};
pub use request_log::{CsvRequestLog, RequestLog, RequestRecord};
pub use run::{run, run_routed, run_services, run_with_request_log};
pub use services::{MultiOutputs, ServiceRun};
