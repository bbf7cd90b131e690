//! KEDA's cron scaler (spec `cronhpa.md` §7): a window between a `start` and an `end` cron expression
//! during which an External metric equals `desiredReplicas`, which the HPA (AverageValue target 1) turns
//! into a replica floor.
//!
//! Units: the metric is in milli-units (`desiredReplicas × 1000` when active, else 0); the target average
//! value is 1 (1000 milli). Times are civil `DateTime<Utc>`; each trigger carries its own IANA zone.
//! Activity rule: active iff the next `end` fire is no later than the next `start` fire (both strictly after
//! now), i.e. we are inside a window. Simplification: KEDA's own scale-to-zero (cooldownPeriod, polling) is
//! not modelled here; combine this metric with [`crate::autoscaler::hpa`] for the HPA side.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use thiserror::Error;

use super::schedule::{CronDialect, CronParseError, CronSchedule};

/// A cron trigger's metadata that KEDA would reject.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KedaCronError {
    #[error("cron trigger metadata is missing required key `{key}` (required: timezone, start, end, desiredReplicas)")]
    Missing { key: &'static str },
    #[error("cron trigger `timezone` {value:?} is not an IANA time zone name (e.g. \"Etc/UTC\", \"Asia/Kolkata\")")]
    TimeZone { value: String },
    #[error("cron trigger `{key}`: {source}")]
    Schedule {
        key: &'static str,
        source: CronParseError,
    },
    #[error("cron trigger `start` and `end` are the same expression {value:?}; they must differ")]
    StartEqualsEnd { value: String },
    #[error("cron trigger `desiredReplicas` {value:?} is invalid: expected a non-zero integer")]
    DesiredReplicas { value: String },
}

/// One parsed KEDA cron trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KedaCronTrigger {
    pub trigger_index: usize,
    pub timezone: String,
    pub start: String,
    pub end: String,
    pub desired_replicas: i64,
    start_schedule: CronSchedule,
    end_schedule: CronSchedule,
}

impl KedaCronTrigger {
    /// Parses trigger metadata (`timezone`, `start`, `end`, `desiredReplicas`, all required).
    pub fn from_metadata(
        metadata: &BTreeMap<String, String>,
        trigger_index: usize,
    ) -> Result<Self, KedaCronError> {
        let get = |key: &'static str| {
            metadata
                .get(key)
                .filter(|v| !v.is_empty())
                .ok_or(KedaCronError::Missing { key })
        };
        let timezone = get("timezone")?.clone();
        let tz: Tz = timezone.parse().map_err(|_| KedaCronError::TimeZone {
            value: timezone.clone(),
        })?;
        let start = get("start")?.clone();
        let end = get("end")?.clone();
        let parse = |key, text: &str| {
            CronSchedule::parse(text, CronDialect::Standard, tz)
                .map_err(|source| KedaCronError::Schedule { key, source })
        };
        let start_schedule = parse("start", &start)?;
        let end_schedule = parse("end", &end)?;
        if start == end {
            return Err(KedaCronError::StartEqualsEnd { value: start });
        }
        let desired_text = get("desiredReplicas")?;
        let desired_replicas = desired_text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|d| *d != 0)
            .ok_or_else(|| KedaCronError::DesiredReplicas {
                value: desired_text.clone(),
            })?;
        Ok(KedaCronTrigger {
            trigger_index,
            timezone,
            start,
            end,
            desired_replicas,
            start_schedule,
            end_schedule,
        })
    }

    /// Whether `now` is inside a start→end window.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        match (
            self.start_schedule.next_fire_after(now),
            self.end_schedule.next_fire_after(now),
        ) {
            (Some(next_start), Some(next_end)) => next_end <= next_start,
            (None, Some(_)) => true,
            _ => false,
        }
    }

    /// The External metric value at `now`, milli-units.
    pub fn metric_value_m(&self, now: DateTime<Utc>) -> i64 {
        if self.is_active(now) {
            self.desired_replicas.saturating_mul(1000)
        } else {
            0
        }
    }

    /// The HPA target of the generated External metric: AverageValue 1, in milli-units.
    pub const TARGET_AVERAGE_VALUE_M: i64 = 1000;

    /// The External metric name KEDA generates, e.g. `s0-cron-Etc-UTC-00xxThu-5923xxThu`.
    pub fn metric_name(&self) -> String {
        let encode = |cron: &str| {
            cron.replace(' ', "")
                .replace('*', "x")
                .replace('/', "Sl")
                .replace('?', "Qm")
                .replace(',', "Cm")
        };
        let raw = format!(
            "s{}-cron-{}-{}-{}",
            self.trigger_index,
            self.timezone,
            encode(&self.start),
            encode(&self.end)
        );
        // KEDA's string normalisation turns separators that are illegal in metric names into '-'.
        raw.chars()
            .map(|c| match c {
                '/' | '.' | ':' | '%' | '(' | ')' | '"' | ' ' | '<' | '>' | '$' => '-',
                other => other,
            })
            .collect()
    }
}
