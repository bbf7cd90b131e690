//! The request path in front of the pods: ingress and routing, Knative's activator, and the queue-proxy
//! sidecar in each pod.
//!
//! * [`activator`]: the activator as the simulation loop runs it (queue, tracked pods, load balancing,
//!   reported stats, first-request poke).
//! * [`activator_fleet`]: several activators per revision (each with its slice of the pods, its queue and
//!   its stats) and when a starting pod becomes a routing target (the probe optimisation).
//! * [`routes`]: a Knative route over several revisions of one service (traffic split, gradual rollout,
//!   reachability); `route_loop` runs it in the event loop.
//! * [`stats`]: the request-statistics accumulators the queue-proxy and the activator keep (and that the
//!   KPA and the HPA's concurrency metrics read).
//! * [`throttler`]: the activator's per-revision throttler as Knative runs it: number of activators, pod
//!   assignment, load-balancing policies and the revision breaker.

pub mod activator;
pub mod activator_fleet;
mod activator_loop;
pub mod calls;
mod ingress;
mod queue_proxy;
pub(crate) use queue_proxy::stats_out;
pub(crate) mod route_loop;
pub mod routes;
pub mod stats;
pub mod throttler;
