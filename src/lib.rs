//! podscale: a discrete-event simulator of request-driven autoscaling on Kubernetes.
pub mod autoscaler;
pub mod dist;
pub mod engine;
pub mod ids;
pub mod observe;
pub mod report;
pub mod request_path;
pub mod scenario;
pub mod sim;
pub mod sweep;
pub mod time;
pub mod traffic;
pub mod workload;
