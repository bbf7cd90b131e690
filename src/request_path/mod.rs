//! The request path in front of the pods: the activator's per-revision throttler.
pub mod throttler;
