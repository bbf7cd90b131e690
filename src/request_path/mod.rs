//! The request path in front of the pods: ingress and routing, Knative's activator, and the queue-proxy
//! sidecar in each pod.
//!
//! * [`stats`]: the request-statistics accumulators the queue-proxy and the activator keep (and that the
//!   KPA and the HPA's concurrency metrics read).

pub mod stats;
