//! Schedule-based scaling: the CronHPA controller (kubernetes-cronhpa-controller) and KEDA's cron scaler.
//!
//! What it models: cron schedules with the Go library's grammar and next-fire search ([`CronSchedule`]),
//! CronHPA jobs (targetSize, runOnce, `@date`, excludeDates) and what a job does when it fires, including its
//! edits to an HPA's min/max ([`CronHpa`], [`apply_to_hpa`]); and, as an alternative, KEDA's start/end
//! window trigger ([`KedaCronTrigger`]). The algorithms follow `shared/specs/cronhpa.md`.
//!
//! Units and time: simulated time is [`crate::time::SimTime`] (integer ns since the run's start). Civil
//! time (`chrono::DateTime<Utc>` plus a `chrono_tz::Tz`) is used only to evaluate cron fields; a
//! [`CronHpa`] is told the civil instant of SimTime 0 and converts at that one boundary.
//!
//! Where it simplifies: see each submodule (exact-on-time firing, spec-order tie-break, DST edge handling).

pub mod cronhpa;
pub mod keda;
pub mod schedule;

pub use cronhpa::{
    apply_to_hpa, is_excluded, parse_cronhpa_manifest, CronAction, CronFiring, CronHpa,
    CronHpaConfig, CronHpaError, CronHpaSpec, CronJobSpec, CronScaleTargetRef, ExcludeMode,
    HpaAdjustment,
};
pub use keda::{KedaCronError, KedaCronTrigger};
pub use schedule::{CronDialect, CronParseError, CronSchedule};
