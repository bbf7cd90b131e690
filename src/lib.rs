//! podscale: a discrete-event simulator of request-driven autoscaling on Kubernetes.
pub mod time;
