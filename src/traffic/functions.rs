//! The Azure Functions 2019 invocation trace replayed as many services.
//!
//! The public dataset (`invocations_per_function_md.anon.d01.csv` … `d14.csv`, from
//! <https://github.com/Azure/AzurePublicDataset>, "AzureFunctionsDataset2019") has one row per function
//! per day: `HashOwner,HashApp,HashFunction,Trigger,1,2,…,1440`, where column `m` is the number of
//! invocations in minute `m` of the day. [`read_grouped`] streams such a file twice and groups its rows
//! into services:
//!
//! * `group`: `function` (one service per `HashOwner/HashApp/HashFunction`), `app` (per
//!   `HashOwner/HashApp`) or `owner` (per `HashOwner`); rows of one group are summed minute by minute;
//! * `top: N`: keep the N groups with the most invocations (ties broken by key), and either fold all the
//!   others into one service named `rest` (`rest: true`, the default) or drop them.
//!
//! Services are ordered by volume (largest first) and named from their hashes (`fn-`, `app-`, `owner-`
//! and the first 8 hex digits of the last hash; a collision gets a `-2`, `-3` suffix).
//!
//! [`MinuteCountsSource`] turns one service's per-minute counts into arrivals, each minute on its own:
//! `poisson` (a Poisson process at `count / 60 s`), `uniform` (the count, stochastically rounded, at
//! independent uniform positions, drawn in sorted order by sequential order statistics) or `even`.
//! `time_scale` multiplies trace time (0.5 replays a day in 12 hours); `load_scale` multiplies the counts.
//!
//! Memory: pass 1 holds one entry per distinct group key (O(functions), about 100 bytes each); pass 2 and
//! the replay hold `services × minutes` 32-bit counts, shared by all sources. Neither depends on how many
//! invocations the file records or on the simulated duration. Reading is CSV streaming with one reused
//! record buffer.
//!
//! Simplification: the dataset records counts per minute only, so the arrival times within a minute are
//! synthetic (the chosen `spread`); the per-function durations and memory files of the dataset are not read
//! (service time comes from each service's pod model).

use super::trace::Spread;
use super::{Arrival, ArrivalSource, TrafficError};
use crate::engine::SimRng;
use crate::time::{SimTime, NANOS_PER_SEC};
use rand::RngExt;
use rand_distr::{Distribution, Exp1};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

const FIXED: [&str; 4] = ["HashOwner", "HashApp", "HashFunction", "Trigger"];
const MINUTE_NS: u64 = 60 * NANOS_PER_SEC;

/// Which rows form one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    #[default]
    Function,
    App,
    Owner,
}

impl GroupBy {
    fn key_columns(self) -> usize {
        match self {
            GroupBy::Function => 3,
            GroupBy::App => 2,
            GroupBy::Owner => 1,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            GroupBy::Function => "fn",
            GroupBy::App => "app",
            GroupBy::Owner => "owner",
        }
    }
}

/// The grouping rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grouping {
    pub by: GroupBy,
    /// Keep only the `top` busiest groups.
    pub top: Option<usize>,
    /// With `top`: fold the other groups into one `rest` service (otherwise they are dropped).
    pub rest: bool,
}

/// Per-minute invocation counts of every service, `services × minutes`, row-major.
#[derive(Clone, Debug)]
pub struct GroupedCounts {
    pub names: Vec<String>,
    pub minutes: usize,
    counts: Arc<Vec<f32>>,
}

impl GroupedCounts {
    /// The counts of service `index`, one per minute.
    pub fn service(&self, index: usize) -> &[f32] {
        &self.counts[index * self.minutes..(index + 1) * self.minutes]
    }

    /// Invocations of service `index` over the whole file.
    pub fn total(&self, index: usize) -> f64 {
        self.service(index).iter().map(|&c| f64::from(c)).sum()
    }

    /// A replay of service `index`.
    pub fn source(&self, index: usize, options: ReplayOptions) -> MinuteCountsSource {
        MinuteCountsSource {
            counts: Arc::clone(&self.counts),
            offset: index * self.minutes,
            minutes: self.minutes,
            options,
            minute: 0,
            pass: 0,
            state: Minute::default(),
        }
    }
}

/// How counts become arrivals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayOptions {
    pub spread: Spread,
    pub time_scale: f64,
    pub load_scale: f64,
    pub looped: bool,
    /// Arrivals at or after this time end the source.
    pub end: SimTime,
}

struct Rows<R: Read> {
    path: String,
    reader: csv::Reader<R>,
    record: csv::StringRecord,
    minutes: usize,
}

impl<R: Read> Rows<R> {
    fn new(path: &str, input: R) -> Result<Self, TrafficError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(input);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| malformed(path, 1, "(header)", format!("unreadable header: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        for (i, name) in FIXED.iter().enumerate() {
            if headers.get(i).is_none_or(|h| h != name) {
                return Err(malformed(path, 1, name, format!(
                    "column {} must be `{name}` (Azure Functions 2019 layout HashOwner,HashApp,HashFunction,Trigger,1..1440)",
                    i + 1
                )));
            }
        }
        for (k, h) in headers[FIXED.len()..].iter().enumerate() {
            if h.parse::<usize>().ok() != Some(k + 1) {
                return Err(malformed(
                    path,
                    1,
                    h,
                    format!("minute column {} must be named `{}`", k + 1, k + 1),
                ));
            }
        }
        let minutes = headers.len() - FIXED.len();
        if minutes == 0 {
            return Err(malformed(
                path,
                1,
                "(header)",
                "no minute columns (expected 1..1440 after Trigger)".into(),
            ));
        }
        Ok(Rows {
            path: path.to_string(),
            reader,
            record: csv::StringRecord::new(),
            minutes,
        })
    }

    fn advance(&mut self) -> Result<bool, TrafficError> {
        self.reader.read_record(&mut self.record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            malformed(
                &self.path,
                line,
                "(row)",
                format!("unreadable CSV row: {e}"),
            )
        })
    }

    fn line(&self) -> u64 {
        self.record.position().map_or(0, |p| p.line())
    }

    fn key(&self, by: GroupBy) -> String {
        (0..by.key_columns())
            .map(|i| self.record.get(i).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Calls `each(minute, count)` for every non-empty minute of the row.
    fn counts(&self, mut each: impl FnMut(usize, f32)) -> Result<(), TrafficError> {
        for k in 0..self.minutes {
            let text = self.record.get(k + FIXED.len()).unwrap_or("");
            if text.is_empty() {
                continue;
            }
            let value: f64 = text
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0 && *v <= f64::from(f32::MAX))
                .ok_or_else(|| {
                    malformed(
                        &self.path,
                        self.line(),
                        &(k + 1).to_string(),
                        format!(
                            "`{}` is not an invocation count; expected a non-negative number",
                            super::trace::shorten_quoted(text)
                        ),
                    )
                })?;
            if value > 0.0 {
                each(k, value as f32);
            }
        }
        Ok(())
    }
}

fn malformed(path: &str, line: u64, column: &str, message: String) -> TrafficError {
    TrafficError::Malformed {
        path: path.to_string(),
        line,
        column: column.to_string(),
        message,
    }
}

fn open(path: &Path) -> Result<BufReader<File>, TrafficError> {
    File::open(path)
        .map(|f| BufReader::with_capacity(1 << 16, f))
        .map_err(|e| TrafficError::Io {
            path: path.display().to_string(),
            message: format!("cannot open trace: {e}"),
        })
}

/// Reads `path` and groups its rows (see the module docs). `max_services` bounds the result: more groups
/// than that (without `top`) is an error naming the count, before any per-minute memory is allocated.
pub fn read_grouped(
    path: &Path,
    grouping: Grouping,
    max_services: usize,
) -> Result<GroupedCounts, TrafficError> {
    let display = path.display().to_string();
    read_grouped_from(&display, || open(path), grouping, max_services)
}

/// [`read_grouped`] over any reader; `reopen` is called twice (one pass to rank groups, one to count).
pub fn read_grouped_from<R: Read>(
    name: &str,
    mut reopen: impl FnMut() -> Result<R, TrafficError>,
    grouping: Grouping,
    max_services: usize,
) -> Result<GroupedCounts, TrafficError> {
    // Pass 1: total invocations per group key, validating every row.
    let mut totals: HashMap<String, f64> = HashMap::new();
    let mut rows = Rows::new(name, reopen()?)?;
    let minutes = rows.minutes;
    while rows.advance()? {
        let mut sum = 0.0;
        rows.counts(|_, c| sum += f64::from(c))?;
        *totals.entry(rows.key(grouping.by)).or_insert(0.0) += sum;
    }
    let mut ranked: Vec<(String, f64)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let keep = grouping.top.unwrap_or(ranked.len()).min(ranked.len());
    let has_rest = grouping.rest && keep < ranked.len();
    let services = keep + usize::from(has_rest);
    if services > max_services {
        return Err(TrafficError::Invalid {
            key: "group".into(),
            message: format!(
                "{name} has {} groups by {:?}; allowed: at most {max_services} services (set `top`)",
                ranked.len(),
                grouping.by
            ),
        });
    }
    if services == 0 {
        return Err(malformed(name, 1, "(rows)", "no function rows".into()));
    }
    let mut index: HashMap<String, usize> = HashMap::with_capacity(ranked.len());
    let mut names = Vec::with_capacity(services);
    let mut used: HashMap<String, usize> = HashMap::new();
    for (i, (key, _)) in ranked.iter().enumerate() {
        if i < keep {
            let last = key.rsplit('/').next().unwrap_or(key);
            // Service names are DNS labels: the hash's first 8 characters, lowercased, others as `x`.
            let short: String = last
                .chars()
                .take(8)
                .map(|c| match c.to_ascii_lowercase() {
                    c @ ('a'..='z' | '0'..='9') => c,
                    _ => 'x',
                })
                .collect();
            let base = format!("{}-{short}", grouping.by.prefix());
            let n = used.entry(base.clone()).or_insert(0);
            *n += 1;
            names.push(if *n == 1 { base } else { format!("{base}-{n}") });
            index.insert(key.clone(), i);
        } else if has_rest {
            index.insert(key.clone(), keep);
        }
    }
    if has_rest {
        names.push("rest".into());
    }
    drop(ranked);

    // Pass 2: per-minute counts of the kept groups.
    let mut counts = vec![0f32; services * minutes];
    let mut rows = Rows::new(name, reopen()?)?;
    if rows.minutes != minutes {
        return Err(malformed(
            name,
            1,
            "(header)",
            "the file changed between passes".into(),
        ));
    }
    while rows.advance()? {
        let Some(&service) = index.get(&rows.key(grouping.by)) else {
            continue;
        };
        let row = &mut counts[service * minutes..(service + 1) * minutes];
        rows.counts(|k, c| row[k] += c)?;
    }
    Ok(GroupedCounts {
        names,
        minutes,
        counts: Arc::new(counts),
    })
}

#[derive(Clone, Copy, Debug, Default)]
struct Minute {
    /// Arrivals left (uniform, even) in the current minute.
    remaining: u64,
    total: u64,
    /// Position of the previous arrival: a fraction of the minute (uniform) or ns (Poisson).
    position: f64,
    count: f64,
    active: bool,
}

/// One service's per-minute counts replayed as arrivals (see the module docs).
pub struct MinuteCountsSource {
    counts: Arc<Vec<f32>>,
    offset: usize,
    minutes: usize,
    options: ReplayOptions,
    minute: usize,
    pass: u64,
    state: Minute,
}

impl MinuteCountsSource {
    fn begin(&mut self, rng: &mut SimRng) {
        let count = f64::from(self.counts[self.offset + self.minute]) * self.options.load_scale;
        let whole = count.floor();
        let extra = u64::from(count > whole && rng.random::<f64>() < count - whole);
        self.state = Minute {
            remaining: whole as u64 + extra,
            total: whole as u64 + extra,
            position: 0.0,
            count,
            active: true,
        };
    }

    /// Offset in trace ns within the current minute of the next arrival, if the minute has one more.
    fn next_offset(&mut self, rng: &mut SimRng) -> Option<u64> {
        let s = &mut self.state;
        let len = MINUTE_NS as f64;
        let offset = match self.options.spread {
            Spread::Poisson => {
                if s.count <= 0.0 {
                    return None;
                }
                let unit: f64 = Exp1.sample(rng);
                s.position += unit * len / s.count;
                if s.position >= len {
                    return None;
                }
                s.position
            }
            Spread::Uniform => {
                if s.remaining == 0 {
                    return None;
                }
                let u: f64 = rng.random();
                s.position += (1.0 - s.position) * (1.0 - u.powf(1.0 / s.remaining as f64));
                s.remaining -= 1;
                s.position * len
            }
            Spread::Even => {
                if s.remaining == 0 {
                    return None;
                }
                let i = s.total - s.remaining;
                s.remaining -= 1;
                (i as f64 + 0.5) * len / s.total as f64
            }
        };
        Some((offset as u64).min(MINUTE_NS - 1))
    }
}

impl ArrivalSource for MinuteCountsSource {
    fn next_arrival(&mut self, rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError> {
        loop {
            if self.state.active {
                if let Some(offset) = self.next_offset(rng) {
                    let minute = self.pass * self.minutes as u64 + self.minute as u64;
                    let trace_ns = minute * MINUTE_NS + offset;
                    let at = if self.options.time_scale == 1.0 {
                        SimTime(trace_ns)
                    } else {
                        SimTime((trace_ns as f64 * self.options.time_scale) as u64)
                    };
                    if at >= self.options.end {
                        self.state.active = false;
                        self.minute = self.minutes;
                        self.options.looped = false;
                        return Ok(None);
                    }
                    return Ok(Some(Arrival::plain(at)));
                }
                self.state.active = false;
                self.minute += 1;
            }
            if self.minute >= self.minutes {
                let any = self.counts[self.offset..self.offset + self.minutes]
                    .iter()
                    .any(|&c| c > 0.0);
                if !self.options.looped || !any {
                    return Ok(None);
                }
                self.minute = 0;
                self.pass += 1;
            }
            // Minutes that start at or after the end can hold no arrival.
            let start = (self.pass * self.minutes as u64 + self.minute as u64) * MINUTE_NS;
            if (start as f64 * self.options.time_scale) as u64 >= self.options.end.0 {
                return Ok(None);
            }
            self.begin(rng);
        }
    }
}

#[cfg(test)]
mod tests;
