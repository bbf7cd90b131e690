//! The CronHPA controller (`autoscaling.alibabacloud.com/v1beta1` CronHorizontalPodAutoscaler): jobs that
//! set a target size at cron times (spec `cronhpa.md` §1, §4–§6).
//!
//! Time: the simulation stays on integer [`SimTime`]; a [`CronHpa`] is given the civil instant
//! (`DateTime<Utc>`) of SimTime 0 and converts only to evaluate cron fields, in one process-wide zone
//! ([`CronHpaConfig::time_zone`], default UTC; upstream deployments often use Asia/Shanghai).
//!
//! The simulator asks [`CronHpa::next_fire`] when to wake up, then calls [`CronHpa::fire_due`] at that time
//! and applies each [`CronFiring`]: a plain target gets `spec.replicas = targetSize`; an HPA target gets the
//! min/max edits and the optional direct write of [`apply_to_hpa`].
//!
//! Simplifications: jobs fire exactly on time (upstream: within about a second, with 3 s retries for up to
//! 10 s); the 10-minute garbage-collector catch-up of missed fires is not modelled (a simulator never misses
//! one); jobs due in the same second fire in spec order (upstream: concurrently, in no defined order), so the
//! last one wins; a malformed `excludeDates` entry is an error here (upstream logs and ignores it).

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use thiserror::Error;

use super::schedule::{CronDialect, CronParseError, CronSchedule};
use crate::time::SimTime;

/// A CronHPA spec or manifest that cannot be used.
#[derive(Debug, Error)]
pub enum CronHpaError {
    #[error("CronHPA manifest is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("CronHPA field `{field}`: {source}")]
    Schedule {
        field: String,
        source: CronParseError,
    },
    #[error("CronHPA field `{field}` has invalid value {value:?}: expected {allowed}")]
    InvalidField {
        field: String,
        value: String,
        allowed: String,
    },
}

/// `spec.scaleTargetRef`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CronScaleTargetRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

/// One entry of `spec.jobs`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CronJobSpec {
    pub name: String,
    pub schedule: String,
    pub target_size: i32,
    #[serde(default)]
    pub run_once: bool,
}

/// `spec` of a CronHorizontalPodAutoscaler.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CronHpaSpec {
    pub scale_target_ref: CronScaleTargetRef,
    #[serde(default)]
    pub exclude_dates: Vec<String>,
    #[serde(default)]
    pub jobs: Vec<CronJobSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CronHpaManifest {
    api_version: Option<String>,
    kind: Option<String>,
    spec: CronHpaSpec,
}

/// Reads a CronHorizontalPodAutoscaler manifest; unknown keys inside `spec` are rejected.
pub fn parse_cronhpa_manifest(text: &str) -> Result<CronHpaSpec, CronHpaError> {
    let manifest: CronHpaManifest = serde_yaml::from_str(text)?;
    if let Some(kind) = &manifest.kind {
        if kind != "CronHorizontalPodAutoscaler" {
            return Err(invalid("kind", kind, "CronHorizontalPodAutoscaler"));
        }
    }
    if let Some(api) = &manifest.api_version {
        if !api.starts_with("autoscaling.alibabacloud.com/") {
            return Err(invalid(
                "apiVersion",
                api,
                "autoscaling.alibabacloud.com/v1beta1",
            ));
        }
    }
    Ok(manifest.spec)
}

fn invalid(field: &str, value: impl ToString, allowed: &str) -> CronHpaError {
    CronHpaError::InvalidField {
        field: field.to_string(),
        value: value.to_string(),
        allowed: allowed.to_string(),
    }
}

/// How `excludeDates` is evaluated (spec §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExcludeMode {
    /// Skip iff today's date (in the engine zone) matches the expression's month/day fields.
    #[default]
    Intended,
    /// Upstream's literal check: (month, hour) of the expression's next fire equals (month, hour) of now.
    BugCompatible,
}

/// Process-wide settings of the cronhpa controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CronHpaConfig {
    /// The controller process's zone (`TZ`); every schedule and excludeDate is read in it.
    pub time_zone: Tz,
    pub exclude_mode: ExcludeMode,
}

/// Whether `now` is an excluded day for `expression` (parsed in the CronHPA dialect).
pub fn is_excluded(exclude: &CronSchedule, now: DateTime<Utc>, mode: ExcludeMode) -> bool {
    let tz = exclude.time_zone();
    let local_now = now.with_timezone(&tz);
    match mode {
        ExcludeMode::Intended => exclude.matches_date(local_now.date_naive()),
        ExcludeMode::BugCompatible => {
            // Go formats the zero time ("never") as January, hour 0.
            let (month, hour) = match exclude.next_fire_after(now) {
                Some(next) => {
                    let local = next.with_timezone(&tz);
                    (local.month(), local.hour())
                }
                None => (1, 0),
            };
            (month, hour) == (local_now.month(), local_now.hour())
        }
    }
}

/// The HPA edits a job makes when its target is an HPA (`ScaleHPA`, spec §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpaAdjustment {
    pub min_replicas: i32,
    pub max_replicas: i32,
    /// Whether min or max changed (an UPDATE of the HPA object).
    pub hpa_updated: bool,
    /// `Some(n)`: also write `spec.replicas = n` on the HPA's workload.
    pub workload_replicas: Option<i32>,
    /// Which of the four rules fired (1-based, in order), for traces.
    pub rules_fired: Vec<u8>,
}

/// Applies a job of size `target_size` to an HPA with the given min/max and `status.currentReplicas`.
pub fn apply_to_hpa(
    min_replicas: i32,
    max_replicas: i32,
    hpa_current_replicas: i32,
    target_size: i32,
) -> HpaAdjustment {
    let (mut min, mut max) = (min_replicas, max_replicas);
    let mut rules_fired = Vec::new();
    if target_size > max {
        max = target_size;
        rules_fired.push(1);
    }
    if target_size < min {
        min = target_size;
        rules_fired.push(2);
    }
    if hpa_current_replicas == min && target_size < hpa_current_replicas {
        min = target_size;
        rules_fired.push(3);
    }
    if hpa_current_replicas < target_size {
        min = target_size;
        rules_fired.push(4);
    }
    HpaAdjustment {
        min_replicas: min,
        max_replicas: max,
        hpa_updated: !rules_fired.is_empty(),
        workload_replicas: (hpa_current_replicas < target_size).then_some(target_size),
        rules_fired,
    }
}

/// What a firing job asks the simulator to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronAction {
    /// Today is excluded: nothing happens (the job still reports success).
    Skipped,
    /// Plain target: set the workload's `spec.replicas` unconditionally.
    SetWorkloadReplicas(i32),
    /// HPA target: apply [`apply_to_hpa`] with this target size to the HPA's current min/max/replicas.
    AdjustHpa(i32),
}

/// One job execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronFiring {
    pub job_name: String,
    pub at: SimTime,
    pub action: CronAction,
}

#[derive(Debug, Clone)]
struct JobState {
    spec: CronJobSpec,
    schedule: CronSchedule,
    next: Option<SimTime>,
    finished: bool,
}

impl JobState {
    fn is_run_once(&self) -> bool {
        self.spec.run_once || self.schedule.is_date()
    }
}

/// One CronHorizontalPodAutoscaler with its engine jobs.
#[derive(Debug, Clone)]
pub struct CronHpa {
    spec: CronHpaSpec,
    config: CronHpaConfig,
    civil_start: DateTime<Utc>,
    excludes: Vec<CronSchedule>,
    jobs: Vec<JobState>,
}

impl CronHpa {
    /// Creates the CronHPA at SimTime 0 (civil time `civil_start`) and schedules every job.
    pub fn new(
        spec: CronHpaSpec,
        config: CronHpaConfig,
        civil_start: DateTime<Utc>,
    ) -> Result<Self, CronHpaError> {
        let mut cron = CronHpa {
            spec: CronHpaSpec {
                scale_target_ref: spec.scale_target_ref.clone(),
                exclude_dates: Vec::new(),
                jobs: Vec::new(),
            },
            config,
            civil_start,
            excludes: Vec::new(),
            jobs: Vec::new(),
        };
        cron.update_spec(spec, SimTime::ZERO)?;
        Ok(cron)
    }

    pub fn spec(&self) -> &CronHpaSpec {
        &self.spec
    }

    /// Whether the target is an HPA (jobs then edit its min/max).
    pub fn targets_hpa(&self) -> bool {
        self.spec.scale_target_ref.kind == "HorizontalPodAutoscaler"
    }

    /// The civil instant of a simulated time.
    pub fn civil_time(&self, t: SimTime) -> DateTime<Utc> {
        self.civil_start + Duration::nanoseconds(t.as_nanos().min(i64::MAX as u64) as i64)
    }

    fn sim_time(&self, civil: DateTime<Utc>) -> SimTime {
        let nanos = (civil - self.civil_start)
            .num_nanoseconds()
            .unwrap_or(i64::MAX);
        SimTime(nanos.max(0) as u64)
    }

    fn next_after(&self, schedule: &CronSchedule, t: SimTime) -> Option<SimTime> {
        schedule
            .next_fire_after(self.civil_time(t))
            .map(|c| self.sim_time(c))
    }

    /// Applies a new spec at `now` (the controller's reconcile, spec §6): a changed target or excludeDates
    /// re-adds every job; otherwise only new or changed jobs are (re-)added, and removed jobs are dropped.
    /// Re-added jobs compute their next fire from `now`; a finished runOnce job stays finished.
    pub fn update_spec(&mut self, spec: CronHpaSpec, now: SimTime) -> Result<(), CronHpaError> {
        let tz = self.config.time_zone;
        let mut excludes = Vec::with_capacity(spec.exclude_dates.len());
        for (i, text) in spec.exclude_dates.iter().enumerate() {
            excludes.push(CronSchedule::parse(text, CronDialect::CronHpa, tz).map_err(
                |source| CronHpaError::Schedule {
                    field: format!("spec.excludeDates[{i}]"),
                    source,
                },
            )?);
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, job) in spec.jobs.iter().enumerate() {
            if !seen.insert(job.name.as_str()) {
                return Err(invalid(
                    &format!("spec.jobs[{i}].name"),
                    &job.name,
                    "a name unique within the CronHPA",
                ));
            }
        }
        let everything_changed = spec.scale_target_ref != self.spec.scale_target_ref
            || spec.exclude_dates != self.spec.exclude_dates;
        let mut jobs = Vec::with_capacity(spec.jobs.len());
        for (i, job) in spec.jobs.iter().enumerate() {
            let existing = self.jobs.iter().find(|j| j.spec.name == job.name);
            if let Some(old) = existing {
                if old.finished && old.is_run_once() {
                    jobs.push(old.clone());
                    continue;
                }
                if !everything_changed && old.spec == *job {
                    jobs.push(old.clone());
                    continue;
                }
            }
            let schedule =
                CronSchedule::parse(&job.schedule, CronDialect::CronHpa, tz).map_err(|source| {
                    CronHpaError::Schedule {
                        field: format!("spec.jobs[{i}].schedule"),
                        source,
                    }
                })?;
            let next = self.next_after(&schedule, now);
            jobs.push(JobState {
                spec: job.clone(),
                schedule,
                next,
                finished: false,
            });
        }
        self.spec = spec;
        self.excludes = excludes;
        self.jobs = jobs;
        Ok(())
    }

    /// The earliest pending fire time of any job, if one will ever fire.
    pub fn next_fire(&self) -> Option<SimTime> {
        self.jobs.iter().filter_map(|j| j.next).min()
    }

    /// The pending fire time of one job.
    pub fn next_fire_of(&self, job_name: &str) -> Option<SimTime> {
        self.jobs
            .iter()
            .find(|j| j.spec.name == job_name)
            .and_then(|j| j.next)
    }

    /// Whether `now` is an excluded day under any excludeDates entry.
    pub fn is_excluded_at(&self, now: SimTime) -> bool {
        let civil = self.civil_time(now);
        self.excludes
            .iter()
            .any(|e| is_excluded(e, civil, self.config.exclude_mode))
    }

    /// Runs every job due at or before `now`, in (fire time, spec order); reschedules each from its fire
    /// time, and retires runOnce / `@date` jobs after their first run.
    pub fn fire_due(&mut self, now: SimTime) -> Vec<CronFiring> {
        let mut firings = Vec::new();
        loop {
            let due = self
                .jobs
                .iter()
                .enumerate()
                .filter_map(|(i, j)| j.next.filter(|&t| t <= now).map(|t| (t, i)))
                .min();
            let Some((at, index)) = due else { break };
            let action = if self.is_excluded_at(at) {
                CronAction::Skipped
            } else if self.targets_hpa() {
                CronAction::AdjustHpa(self.jobs[index].spec.target_size)
            } else {
                CronAction::SetWorkloadReplicas(self.jobs[index].spec.target_size)
            };
            firings.push(CronFiring {
                job_name: self.jobs[index].spec.name.clone(),
                at,
                action,
            });
            let next = if self.jobs[index].is_run_once() {
                None
            } else {
                self.next_after(&self.jobs[index].schedule, at)
            };
            let job = &mut self.jobs[index];
            job.finished = job.is_run_once();
            job.next = next;
        }
        firings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const MANIFEST: &str = r#"
apiVersion: autoscaling.alibabacloud.com/v1beta1
kind: CronHorizontalPodAutoscaler
metadata: {name: cronhpa-sample}
spec:
  scaleTargetRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: web}
  excludeDates: ["* * * 15 11 *"]
  jobs:
  - {name: scale-down, schedule: "30 */1 * * * *", targetSize: 1}
  - {name: scale-up, schedule: "0 */1 * * * *", targetSize: 3, runOnce: true}
"#;

    #[test]
    fn manifest_jobs_fire_in_time_order_and_run_once_retires() {
        let spec = parse_cronhpa_manifest(MANIFEST).unwrap();
        let start = Utc.with_ymd_and_hms(2024, 3, 5, 10, 0, 0).unwrap();
        let mut cron = CronHpa::new(spec, CronHpaConfig::default(), start).unwrap();
        assert!(cron.targets_hpa());
        assert_eq!(cron.next_fire(), Some(SimTime::from_secs(30)));
        let fired = cron.fire_due(SimTime::from_secs(60));
        let names: Vec<_> = fired.iter().map(|f| (f.job_name.as_str(), f.at)).collect();
        assert_eq!(
            names,
            vec![
                ("scale-down", SimTime::from_secs(30)),
                ("scale-up", SimTime::from_secs(60))
            ]
        );
        assert_eq!(fired[1].action, CronAction::AdjustHpa(3));
        assert_eq!(cron.next_fire_of("scale-up"), None);
        assert_eq!(cron.next_fire(), Some(SimTime::from_secs(90)));
    }

    #[test]
    fn excluded_day_skips_jobs() {
        let mut spec = parse_cronhpa_manifest(MANIFEST).unwrap();
        spec.scale_target_ref.kind = "Deployment".into();
        let start = Utc.with_ymd_and_hms(2024, 11, 15, 10, 0, 0).unwrap();
        let mut cron = CronHpa::new(spec, CronHpaConfig::default(), start).unwrap();
        let fired = cron.fire_due(SimTime::from_secs(30));
        assert_eq!(fired[0].action, CronAction::Skipped);
    }

    #[test]
    fn manifest_errors_name_the_field() {
        let bad = MANIFEST.replace("30 */1 * * * *", "30 */1 * *");
        let spec = parse_cronhpa_manifest(&bad).unwrap();
        let err = CronHpa::new(spec, CronHpaConfig::default(), Utc::now()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("spec.jobs[0].schedule") && text.contains("5 or 6 fields"),
            "{text}"
        );
        let err = parse_cronhpa_manifest(&MANIFEST.replace("targetSize: 1", "targetSise: 1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("targetSise"), "{err}");
        let dup = MANIFEST.replace("name: scale-up", "name: scale-down");
        let err = CronHpa::new(
            parse_cronhpa_manifest(&dup).unwrap(),
            CronHpaConfig::default(),
            Utc::now(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("spec.jobs[1].name") && err.contains("unique"),
            "{err}"
        );
    }
}
