//! Cron schedules and their next fire time, in a time zone.
//!
//! Two dialects, both from the robfig/cron family (spec `cronhpa.md` §2 and §7):
//! * [`CronDialect::CronHpa`] (the cronhpa controller's vendored go-cron): 6 fields `sec min hour dom month
//!   dow`, the dow field optional (5 fields = dow `*`); descriptors `@yearly @annually @monthly @weekly
//!   @daily @midnight @hourly`, `@every <duration>` (a constant delay) and `@date YYYY-MM-DD HH:MM:SS` (the
//!   year is dropped, so it matches every year); `*/s` keeps the "star" flag.
//! * [`CronDialect::Standard`] (KEDA, robfig v3 standard parser): exactly 5 fields `min hour dom month dow`,
//!   no descriptors; a step above 1 clears the star flag.
//!
//! Day matching: when dom or dow is starred a day must match both; when both are restricted a day matches
//! if either does (Vixie-cron OR). `next_fire_after` is strictly after its argument, works on whole seconds
//! and gives up (returns `None`) past the start year + 5, like the Go library.
//!
//! Simplification at DST changes: the search runs on local wall-clock time. A wall time inside a
//! spring-forward gap fires one hour later (as Go's date normalisation does); in a fall-back overlap it fires
//! once, at the first occurrence. The croner crate is not used because its grammar differs from the Go
//! library on the points above (5-year horizon, `@date`, optional dow, the star flag under a step).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use thiserror::Error;

use crate::time::parse_duration;

const STAR: u64 = 1 << 63;

/// Which cron grammar to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronDialect {
    /// cronhpa controller: seconds first, 5 or 6 fields, descriptors.
    CronHpa,
    /// KEDA: standard 5 fields, minutes first, no descriptors.
    Standard,
}

/// A cron expression that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid cron expression {expression:?}: {problem}")]
pub struct CronParseError {
    pub expression: String,
    pub problem: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldBits {
    second: u64,
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Fields(FieldBits),
    /// `@every`: a constant delay in whole seconds (at least 1).
    Every(i64),
}

/// A parsed schedule bound to the time zone its fields are read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    kind: Kind,
    tz: Tz,
    /// `@date`: a one-shot schedule in intent (the cronhpa controller deletes the job after one run).
    is_date: bool,
}

struct FieldRange {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECONDS: FieldRange = FieldRange {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTES: FieldRange = FieldRange {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: FieldRange = FieldRange {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DOM: FieldRange = FieldRange {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: FieldRange = FieldRange {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: FieldRange = FieldRange {
    name: "day-of-week",
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

fn bits_between(min: u32, max: u32, step: u32) -> u64 {
    (min..=max)
        .step_by(step as usize)
        .fold(0, |b, v| b | (1 << v))
}

fn parse_field(text: &str, range: &FieldRange, dialect: CronDialect) -> Result<u64, String> {
    let mut bits = 0;
    for part in text.split(',') {
        let range_and_step: Vec<&str> = part.split('/').collect();
        if range_and_step.len() > 2 {
            return Err(format!("too many slashes in {} field {part:?}", range.name));
        }
        let low_high: Vec<&str> = range_and_step[0].split('-').collect();
        if low_high.len() > 2 {
            return Err(format!("too many hyphens in {} field {part:?}", range.name));
        }
        let value = |s: &str| -> Result<u32, String> {
            let lower = s.to_ascii_lowercase();
            if let Some(i) = range.names.iter().position(|n| *n == lower) {
                return Ok(i as u32 + if range.name == "month" { 1 } else { 0 });
            }
            s.parse::<u32>().map_err(|_| {
                format!(
                    "{} field {part:?}: {s:?} is not a non-negative number{}",
                    range.name,
                    if range.names.is_empty() {
                        ""
                    } else {
                        " or a name"
                    }
                )
            })
        };
        let mut star = 0;
        let (start, mut end) = if low_high[0] == "*" || low_high[0] == "?" {
            star = STAR;
            (range.min, range.max)
        } else {
            let start = value(low_high[0])?;
            let end = match low_high.get(1) {
                Some(e) => value(e)?,
                None => start,
            };
            (start, end)
        };
        let step = match range_and_step.get(1) {
            None => 1,
            Some(s) => {
                let step = s.parse::<u32>().map_err(|_| {
                    format!("{} field {part:?}: step {s:?} is not a number", range.name)
                })?;
                if low_high.len() == 1 {
                    end = range.max;
                }
                if dialect == CronDialect::Standard && step > 1 {
                    star = 0;
                }
                step
            }
        };
        if start < range.min || end > range.max {
            return Err(format!(
                "{} field {part:?} is outside {}-{}",
                range.name, range.min, range.max
            ));
        }
        if start > end {
            return Err(format!("{} field {part:?}: start is after end", range.name));
        }
        if step == 0 {
            return Err(format!(
                "{} field {part:?}: step must be at least 1",
                range.name
            ));
        }
        bits |= bits_between(start, end, step) | star;
    }
    Ok(bits)
}

fn all(range: &FieldRange) -> u64 {
    bits_between(range.min, range.max, 1) | STAR
}

fn single(v: u32) -> u64 {
    1 << v
}

impl CronSchedule {
    /// Parses `expression` in `dialect`; fields are read as wall-clock time in `tz`.
    pub fn parse(expression: &str, dialect: CronDialect, tz: Tz) -> Result<Self, CronParseError> {
        let fail = |problem: String| CronParseError {
            expression: expression.to_string(),
            problem,
        };
        let text = expression.trim();
        let mut is_date = false;
        let kind = if let Some(descriptor) = text.strip_prefix('@') {
            if dialect == CronDialect::Standard {
                return Err(fail(
                    "descriptors (@...) are not accepted here; use 5 fields".into(),
                ));
            }
            let fixed = |second, minute, hour, dom, month, dow| {
                Kind::Fields(FieldBits {
                    second,
                    minute,
                    hour,
                    dom,
                    month,
                    dow,
                })
            };
            let (s0, m0, h0, d1, mo1, w0) = (
                single(0),
                single(0),
                single(0),
                single(1),
                single(1),
                single(0),
            );
            match descriptor {
                "yearly" | "annually" => fixed(s0, m0, h0, d1, mo1, all(&DOW)),
                "monthly" => fixed(s0, m0, h0, d1, all(&MONTHS), all(&DOW)),
                "weekly" => fixed(s0, m0, h0, all(&DOM), all(&MONTHS), w0),
                "daily" | "midnight" => fixed(s0, m0, h0, all(&DOM), all(&MONTHS), all(&DOW)),
                "hourly" => fixed(s0, m0, all(&HOURS), all(&DOM), all(&MONTHS), all(&DOW)),
                other => {
                    if let Some(delay) = other.strip_prefix("every ") {
                        let d = parse_duration(delay.trim()).map_err(|e| {
                            fail(format!("@every needs a Go duration such as \"90s\": {e}"))
                        })?;
                        Kind::Every((d.whole_secs() as i64).max(1))
                    } else if let Some(date) = other.strip_prefix("date ") {
                        let at = NaiveDateTime::parse_from_str(date.trim(), "%Y-%m-%d %H:%M:%S")
                            .map_err(|_| fail("@date needs \"YYYY-MM-DD HH:MM:SS\"".into()))?;
                        is_date = true;
                        fixed(
                            single(at.second()),
                            single(at.minute()),
                            single(at.hour()),
                            single(at.day()),
                            single(at.month()),
                            all(&DOW),
                        )
                    } else {
                        return Err(fail(format!(
                            "unknown descriptor @{other}; allowed: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every <duration>, @date <YYYY-MM-DD HH:MM:SS>"
                        )));
                    }
                }
            }
        } else {
            let fields: Vec<&str> = text.split_whitespace().collect();
            let bits = match dialect {
                CronDialect::CronHpa => {
                    if !(5..=6).contains(&fields.len()) {
                        return Err(fail(format!(
                            "expected 5 or 6 fields (sec min hour dom month [dow]), found {}",
                            fields.len()
                        )));
                    }
                    FieldBits {
                        second: parse_field(fields[0], &SECONDS, dialect).map_err(fail)?,
                        minute: parse_field(fields[1], &MINUTES, dialect).map_err(fail)?,
                        hour: parse_field(fields[2], &HOURS, dialect).map_err(fail)?,
                        dom: parse_field(fields[3], &DOM, dialect).map_err(fail)?,
                        month: parse_field(fields[4], &MONTHS, dialect).map_err(fail)?,
                        dow: match fields.get(5) {
                            Some(f) => parse_field(f, &DOW, dialect).map_err(fail)?,
                            None => all(&DOW),
                        },
                    }
                }
                CronDialect::Standard => {
                    if fields.len() != 5 {
                        return Err(fail(format!(
                            "expected 5 fields (min hour dom month dow), found {}",
                            fields.len()
                        )));
                    }
                    FieldBits {
                        second: single(0),
                        minute: parse_field(fields[0], &MINUTES, dialect).map_err(fail)?,
                        hour: parse_field(fields[1], &HOURS, dialect).map_err(fail)?,
                        dom: parse_field(fields[2], &DOM, dialect).map_err(fail)?,
                        month: parse_field(fields[3], &MONTHS, dialect).map_err(fail)?,
                        dow: parse_field(fields[4], &DOW, dialect).map_err(fail)?,
                    }
                }
            };
            Kind::Fields(bits)
        };
        Ok(CronSchedule { kind, tz, is_date })
    }

    /// The time zone the fields are read in.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Whether this is an `@date` schedule (one-shot in the cronhpa controller).
    pub fn is_date(&self) -> bool {
        self.is_date
    }

    /// Whether this is an `@every` schedule (a delay from when the job was added, not a calendar).
    pub fn is_every(&self) -> bool {
        matches!(self.kind, Kind::Every(_))
    }

    /// The first fire time strictly after `after`, or `None` if there is none within 5 years.
    pub fn next_fire_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let whole = after.with_nanosecond(0).unwrap_or(after);
        match &self.kind {
            Kind::Every(secs) => Some(whole + Duration::seconds(*secs)),
            Kind::Fields(bits) => {
                let mut from_local = whole.with_timezone(&self.tz).naive_local();
                // A wall time can map before `after` in a fall-back overlap: search again past it.
                for _ in 0..4 {
                    let local = next_local(bits, from_local)?;
                    let instant = self.to_utc(local);
                    if instant > after {
                        return Some(instant);
                    }
                    from_local = local;
                }
                None
            }
        }
    }

    fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            chrono::LocalResult::None => {
                let shifted = local + Duration::hours(1);
                self.tz
                    .from_local_datetime(&shifted)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(|| Utc.from_utc_datetime(&local))
            }
        }
    }

    /// Whether the calendar date (in the schedule's zone) matches the month and day fields.
    pub fn matches_date(&self, date: NaiveDate) -> bool {
        match &self.kind {
            Kind::Every(_) => false,
            Kind::Fields(bits) => bits.month & single(date.month()) != 0 && day_matches(bits, date),
        }
    }
}

fn day_matches(bits: &FieldBits, date: NaiveDate) -> bool {
    let dom_match = bits.dom & single(date.day()) != 0;
    let dow_match = bits.dow & single(date.weekday().num_days_from_sunday()) != 0;
    if bits.dom & STAR != 0 || bits.dow & STAR != 0 {
        dom_match && dow_match
    } else {
        dom_match || dow_match
    }
}

fn start_of_day(date: NaiveDate) -> NaiveDateTime {
    date.and_hms_opt(0, 0, 0).expect("midnight exists")
}

/// The Go library's field-by-field search on wall-clock time, strictly after `after`.
fn next_local(bits: &FieldBits, after: NaiveDateTime) -> Option<NaiveDateTime> {
    let mut t = after.with_nanosecond(0)? + Duration::seconds(1);
    let year_limit = t.year() + 5;
    let mut added = false;
    'wrap: loop {
        if t.year() > year_limit {
            return None;
        }
        while bits.month & single(t.month()) == 0 {
            if !added {
                added = true;
                t = start_of_day(NaiveDate::from_ymd_opt(t.year(), t.month(), 1)?);
            }
            t = start_of_day(t.date().checked_add_months(chrono::Months::new(1))?);
            if t.month() == 1 {
                continue 'wrap;
            }
        }
        while !day_matches(bits, t.date()) {
            if !added {
                added = true;
                t = start_of_day(t.date());
            }
            t = start_of_day(t.date().succ_opt()?);
            if t.day() == 1 {
                continue 'wrap;
            }
        }
        while bits.hour & single(t.hour()) == 0 {
            if !added {
                added = true;
                t = t.with_minute(0)?.with_second(0)?;
            }
            t += Duration::hours(1);
            if t.hour() == 0 {
                continue 'wrap;
            }
        }
        while bits.minute & single(t.minute()) == 0 {
            if !added {
                added = true;
                t = t.with_second(0)?;
            }
            t += Duration::minutes(1);
            if t.minute() == 0 {
                continue 'wrap;
            }
        }
        while bits.second & single(t.second()) == 0 {
            added = true;
            t += Duration::seconds(1);
            if t.second() == 0 {
                continue 'wrap;
            }
        }
        return Some(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        Utc.from_utc_datetime(&NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap())
    }

    #[test]
    fn errors_name_the_problem() {
        let parse = |e| CronSchedule::parse(e, CronDialect::CronHpa, Tz::UTC).unwrap_err();
        assert!(parse("0 0 8").problem.contains("5 or 6 fields"));
        assert!(parse("0 0 25 * * *")
            .problem
            .contains("hour field \"25\" is outside 0-23"));
        assert!(parse("0 */0 * * * *")
            .problem
            .contains("step must be at least 1"));
        assert!(parse("0 5-2 * * * *")
            .problem
            .contains("start is after end"));
        assert!(parse("@fortnightly").problem.contains("unknown descriptor"));
        let std = CronSchedule::parse("0 0 * * * *", CronDialect::Standard, Tz::UTC).unwrap_err();
        assert!(std.problem.contains("expected 5 fields"));
    }

    #[test]
    fn every_is_a_constant_delay_in_whole_seconds() {
        let s = CronSchedule::parse("@every 1m30s", CronDialect::CronHpa, Tz::UTC).unwrap();
        assert_eq!(
            s.next_fire_after(utc("2024-01-01 00:00:00") + Duration::milliseconds(400)),
            Some(utc("2024-01-01 00:01:30"))
        );
    }

    #[test]
    fn spring_forward_gap_fires_an_hour_later() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let s = CronSchedule::parse("0 30 2 * * *", CronDialect::CronHpa, tz).unwrap();
        // 2024-03-31 02:30 does not exist in Berlin; 03:30 CEST is 01:30 UTC.
        assert_eq!(
            s.next_fire_after(utc("2024-03-30 12:00:00")),
            Some(utc("2024-03-31 01:30:00"))
        );
    }
}
