//! Autoscalers: Knative's KPA, Kubernetes' HPA, CronHPA. Each is a model with time passed in and plain data out.

pub mod cron;
pub mod hpa;
pub mod kpa;
