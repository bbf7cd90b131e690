//! Autoscalers: Knative's KPA, Kubernetes' HPA, CronHPA, KEDA ScaledObjects. Each is a model with time passed in and plain data out.

pub mod cron;
pub mod hpa;
pub mod keda;
pub mod kpa;
pub mod scaler;

pub use scaler::{Decision, FixedScaler, PodSecond, Scaler, SecondView, StartPlan};
