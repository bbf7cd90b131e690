//! podscale: a discrete-event simulator of request-driven autoscaling on Kubernetes.
pub mod autoscaler;
pub mod backtest;
pub mod calibrate;
pub mod dist;
pub mod engine;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod sweep;
pub mod time;
pub mod traffic;
