//! Prometheus exports: the JSON of `/api/v1/query_range` and a plain CSV export, read as traffic (a rate
//! series) and as observations (replica counts, concurrency, latency histogram buckets).
//!
//! # Files
//!
//! * JSON: `{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {labels},
//!   "values": [[unix_seconds, "value"], ...]}, ...]}}`, as `curl .../api/v1/query_range?...` returns it.
//!   Values are strings (`"1.5"`, `"NaN"`, `"+Inf"`); `NaN` samples are skipped (Prometheus writes them for
//!   `rate()` of an idle counter, `0/0`).
//! * CSV: a header; a time column (`timestamp`, `time`, `ts`, or any column whose name starts with
//!   `timestamp`) holding unix seconds (decimal) or RFC 3339; a `value` column; every other column is a label
//!   (an empty cell is an absent label, as in Prometheus). Files are recognised by their first non-blank
//!   byte: `{` is JSON, anything else CSV.
//!
//! # Series selection
//!
//! A selector in PromQL syntax, `metric{label="v", other!="w"}` (the metric name matches the `__name__`
//! label); only `=` and `!=` are supported (no regular expressions). All matching series are **summed** per
//! timestamp (`sum(...)`), or **counted** ([`Aggregate::Count`], e.g. pods reporting a per-pod metric).
//! Histograms keep one summed series per `le` bucket (`sum by (le) (...)`).
//!
//! # Time
//!
//! Timestamps are kept as integer milliseconds (Prometheus's own resolution). As traffic, the series
//! starts at its first timestamp (time 0); the sample at `t` is the rate over `[t, t + step)`, where `step`
//! is the smallest gap between timestamps (or the scenario's `interval`). Missing steps carry no requests.
//! Real `rate()` values describe the window *ending* at `t`; reading them forward shifts the curve by one
//! step, which a backtest should keep in mind when comparing at step resolution.
//!
//! # Memory
//!
//! CSV is streamed; JSON is parsed whole (a `query_range` answer is bounded by Prometheus's 11,000 points
//! per series). After reading, memory is O(distinct timestamps) for an aggregate and O(timestamps x buckets)
//! for a histogram, never O(rows).

use super::input::TraceInput;
use crate::time::NANOS_PER_SEC;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// A located error in a Prometheus export.
#[derive(Debug, Clone, PartialEq)]
pub struct PromError {
    /// The file (or the name of the reader the export came from, `<input>` when it had none).
    pub path: String,
    /// Where in it: `line 12, column value` (CSV) or `data.result[3].values[17]` (JSON).
    pub location: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for PromError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            write!(f, "{}: {}", self.path, self.message)
        } else {
            write!(f, "{}: {}: {}", self.path, self.location, self.message)
        }
    }
}

impl std::error::Error for PromError {}

fn err(path: &str, location: impl Into<String>, message: impl Into<String>) -> PromError {
    PromError {
        path: path.to_string(),
        location: location.into(),
        message: message.into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MatchOp {
    Eq,
    Ne,
}

/// A PromQL-style label selector restricted to `=` and `!=` (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    matchers: Vec<(String, MatchOp, String)>,
}

impl Selector {
    /// Matches every series.
    pub fn all() -> Self {
        Selector::default()
    }

    /// Parses `name{a="x", b!="y"}`, `{a="x"}`, `name` or the empty string (everything).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let allowed = "allowed: metric{label=\"value\", label!=\"value\"} (= and != only)";
        let (name, body) = match text.find('{') {
            Some(open) => {
                let Some(inner) = text[open + 1..].strip_suffix('}') else {
                    return Err(format!(
                        "selector `{text}` has no closing `}}` at its end; {allowed}"
                    ));
                };
                (text[..open].trim(), inner)
            }
            None => (text, ""),
        };
        let mut matchers = Vec::new();
        if !name.is_empty() {
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            {
                return Err(format!("`{name}` is not a metric name; {allowed}"));
            }
            matchers.push(("__name__".to_string(), MatchOp::Eq, name.to_string()));
        }
        let mut rest = body.trim();
        while !rest.is_empty() {
            let op_at = rest
                .find(['=', '!'])
                .ok_or_else(|| format!("`{rest}` has no `=` or `!=`; {allowed}"))?;
            let label = rest[..op_at].trim();
            if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`{label}` is not a label name; {allowed}"));
            }
            let after = &rest[op_at..];
            let (op, after) = if let Some(a) = after.strip_prefix("!=") {
                (MatchOp::Ne, a)
            } else if after.starts_with("=~") || after.starts_with("!~") {
                return Err(format!(
                    "regular-expression matchers (=~, !~) are not supported in `{label}`; {allowed}"
                ));
            } else if let Some(a) = after.strip_prefix('=') {
                (MatchOp::Eq, a)
            } else {
                return Err(format!("`{after}` is not a matcher; {allowed}"));
            };
            let after = after.trim_start();
            let Some(quoted) = after.strip_prefix('"') else {
                return Err(format!(
                    "the value of `{label}` must be in double quotes; {allowed}"
                ));
            };
            let close = quoted
                .find('"')
                .ok_or_else(|| format!("the value of `{label}` has no closing quote"))?;
            matchers.push((label.to_string(), op, quoted[..close].to_string()));
            rest = quoted[close + 1..].trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        }
        Ok(Selector { matchers })
    }

    /// True if the series with these labels is selected (an absent label reads as the empty string).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matchers.iter().all(|(label, op, value)| {
            let actual = labels.get(label).map_or("", String::as_str);
            (actual == value) == (*op == MatchOp::Eq)
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .matchers
            .iter()
            .map(|(l, op, v)| format!("{l}{}\"{v}\"", if *op == MatchOp::Eq { "=" } else { "!=" }))
            .collect();
        write!(f, "{{{}}}", parts.join(", "))
    }
}

/// How matching series are combined per timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    /// `sum(...)`: rates, replica counts, concurrency.
    Sum,
    /// `count(...)`: how many series have a sample (e.g. pods reporting a per-pod gauge).
    Count,
}

/// One sample of a matching series.
struct Sample<'a> {
    labels: &'a BTreeMap<String, String>,
    t_ms: i64,
    value: f64,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: Vec<JsonSeries>,
}

#[derive(Deserialize)]
struct JsonSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(serde_json::Value, serde_json::Value)>,
}

fn parse_value(text: &str) -> Option<f64> {
    match text.trim() {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        t => t.parse().ok(),
    }
}

/// Unix seconds (decimal) or RFC 3339 → ms since the epoch.
fn parse_time_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds.abs() < 1e13)
            .then(|| (seconds * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Calls `visit` for every sample of every series in `input` that `selector` matches, in input order.
fn for_each_sample(
    input: &TraceInput,
    selector: &Selector,
    mut visit: impl FnMut(Sample<'_>) -> Result<(), String>,
) -> Result<(), PromError> {
    let name = input.name();
    let path = name.as_str();
    let first = {
        let mut head = [0u8; 1];
        let mut reader = input
            .open()
            .map_err(|e| err(path, "", format!("cannot read: {e}")))?;
        loop {
            match reader.read(&mut head) {
                Ok(0) => break None,
                Ok(_) if head[0].is_ascii_whitespace() => continue,
                Ok(_) => break Some(head[0]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(err(path, "", format!("cannot read: {e}"))),
            }
        }
    };
    if first == Some(b'{') {
        let bytes = input
            .read_all()
            .map_err(|e| err(path, "", format!("cannot read: {e}")))?;
        read_json(path, &bytes, selector, &mut visit)
    } else {
        read_csv(path, input, selector, &mut visit)
    }
}

fn read_json(
    path: &str,
    bytes: &[u8],
    selector: &Selector,
    visit: &mut impl FnMut(Sample<'_>) -> Result<(), String>,
) -> Result<(), PromError> {
    let response: Response = serde_json::from_slice(bytes).map_err(|e| {
        err(
            path,
            format!("line {}, column {}", e.line(), e.column()),
            format!("not a Prometheus query_range answer: {e}"),
        )
    })?;
    if let Some(status) = &response.status {
        if status != "success" {
            return Err(err(
                path,
                "status",
                format!(
                    "query failed (status `{status}`): {}",
                    response.error.unwrap_or_default()
                ),
            ));
        }
    }
    let data = response.data.ok_or_else(|| {
        err(
            path,
            "data",
            "missing; expected data.resultType and data.result",
        )
    })?;
    if data.result_type != "matrix" {
        return Err(err(
            path,
            "data.resultType",
            format!(
                "`{}` is not supported; allowed: matrix (use /api/v1/query_range, not /api/v1/query)",
                data.result_type
            ),
        ));
    }
    for (i, series) in data.result.iter().enumerate() {
        if !selector.matches(&series.metric) {
            continue;
        }
        for (j, (t, v)) in series.values.iter().enumerate() {
            let at = || format!("data.result[{i}].values[{j}]");
            let t_ms = match t {
                serde_json::Value::Number(n) => {
                    n.as_f64().and_then(|s| parse_time_ms(&s.to_string()))
                }
                serde_json::Value::String(s) => parse_time_ms(s),
                _ => None,
            }
            .ok_or_else(|| err(path, at(), format!("timestamp `{t}` is not unix seconds")))?;
            let value = match v {
                serde_json::Value::String(s) => parse_value(s),
                serde_json::Value::Number(n) => n.as_f64(),
                _ => None,
            }
            .ok_or_else(|| err(path, at(), format!("value {v} is not a number in quotes")))?;
            if value.is_nan() {
                continue;
            }
            visit(Sample {
                labels: &series.metric,
                t_ms,
                value,
            })
            .map_err(|m| err(path, at(), m))?;
        }
    }
    Ok(())
}

fn read_csv(
    path: &str,
    input: &TraceInput,
    selector: &Selector,
    visit: &mut impl FnMut(Sample<'_>) -> Result<(), String>,
) -> Result<(), PromError> {
    let file = input
        .open()
        .map_err(|e| err(path, "", format!("cannot open: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(std::io::BufReader::new(file));
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| err(path, "line 1", format!("cannot read the header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let lower: Vec<String> = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    let time_col = ["timestamp", "time", "ts"]
        .iter()
        .find_map(|name| lower.iter().position(|h| h == name))
        .or_else(|| lower.iter().position(|h| h.starts_with("timestamp")))
        .ok_or_else(|| {
            err(path, "line 1", format!("no time column in header `{}`; expected `timestamp` (unix seconds or RFC 3339), `time` or `ts`", headers.join(",")))
        })?;
    let value_col = lower.iter().position(|h| h == "value").ok_or_else(|| {
        err(
            path,
            "line 1",
            format!("no `value` column in header `{}`", headers.join(",")),
        )
    })?;
    let mut record = csv::StringRecord::new();
    let mut labels = BTreeMap::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(err(path, format!("line {line}"), format!("{e}")));
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        let at = |col: usize| format!("line {line}, column {}", headers[col]);
        labels.clear();
        for (k, cell) in record.iter().enumerate() {
            if k != time_col && k != value_col && !cell.is_empty() {
                labels.insert(headers[k].clone(), cell.to_string());
            }
        }
        if !selector.matches(&labels) {
            continue;
        }
        let t_text = &record[time_col];
        let t_ms = parse_time_ms(t_text).ok_or_else(|| {
            err(
                path,
                at(time_col),
                format!("`{t_text}` is not a timestamp; expected unix seconds or RFC 3339"),
            )
        })?;
        let v_text = &record[value_col];
        let value = parse_value(v_text)
            .ok_or_else(|| err(path, at(value_col), format!("`{v_text}` is not a number")))?;
        if value.is_nan() {
            continue;
        }
        visit(Sample {
            labels: &labels,
            t_ms,
            value,
        })
        .map_err(|m| err(path, at(value_col), m))?;
    }
}

/// An aggregated series: `(timestamp ms, value)` in increasing time order.
pub type Points = Vec<(i64, f64)>;

/// Reads the series of `input` (a file path, or a [`TraceInput`] holding a reader's bytes) selected by
/// `selector`, combined per timestamp by `aggregate`.
pub fn read_aggregate(
    input: impl Into<TraceInput>,
    selector: &Selector,
    aggregate: Aggregate,
) -> Result<Points, PromError> {
    let input = input.into();
    let name = input.name();
    let path = name.as_str();
    let mut by_time: BTreeMap<i64, f64> = BTreeMap::new();
    for_each_sample(&input, selector, |s| {
        if !s.value.is_finite() {
            return Err(format!("value {} is not finite", s.value));
        }
        *by_time.entry(s.t_ms).or_insert(0.0) += match aggregate {
            Aggregate::Sum => s.value,
            Aggregate::Count => 1.0,
        };
        Ok(())
    })?;
    if by_time.is_empty() {
        return Err(err(
            path,
            "",
            format!("no sample matches the selector {selector}"),
        ));
    }
    Ok(by_time.into_iter().collect())
}

/// Cumulative histogram buckets at one timestamp: `(le, cumulative count)` sorted by `le`.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketSnapshot {
    pub t_ms: i64,
    pub buckets: Vec<(f64, f64)>,
}

/// Reads `le`-labelled cumulative bucket counters (`..._bucket`), summed per `le` and timestamp, from a
/// file path or a [`TraceInput`].
pub fn read_histogram(
    input: impl Into<TraceInput>,
    selector: &Selector,
) -> Result<Vec<BucketSnapshot>, PromError> {
    let input = input.into();
    let name = input.name();
    let path = name.as_str();
    let mut by_time: BTreeMap<i64, BTreeMap<u64, (f64, f64)>> = BTreeMap::new();
    for_each_sample(&input, selector, |s| {
        let le_text = s.labels.get("le").ok_or(
            "series has no `le` label; expected histogram buckets (metric_bucket{le=...})",
        )?;
        let le = parse_value(le_text)
            .filter(|v| !v.is_nan())
            .ok_or_else(|| format!("le=\"{le_text}\" is not a bucket bound"))?;
        if !s.value.is_finite() || s.value < 0.0 {
            return Err(format!(
                "bucket count {} is not a non-negative number",
                s.value
            ));
        }
        // Order `le` by its bits: for non-negative finite values and +Inf this is numeric order.
        let entry = by_time
            .entry(s.t_ms)
            .or_default()
            .entry(le.max(0.0).to_bits())
            .or_insert((le, 0.0));
        entry.1 += s.value;
        Ok(())
    })?;
    if by_time.is_empty() {
        return Err(err(
            path,
            "",
            format!("no bucket matches the selector {selector}"),
        ));
    }
    Ok(by_time
        .into_iter()
        .map(|(t_ms, buckets)| BucketSnapshot {
            t_ms,
            buckets: buckets.into_values().collect(),
        })
        .collect())
}

/// The step of a series: the smallest positive gap between timestamps (ms), if there are two.
pub fn infer_step_ms(points: &[(i64, f64)]) -> Option<i64> {
    points
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|g| *g > 0)
        .min()
}

/// A rate series read as per-interval request counts for trace replay.
#[derive(Clone, Debug)]
pub struct RateIntervals {
    /// `(start ns since the first sample, length ns, expected requests)`.
    intervals: Vec<(u64, u64, f64)>,
    next: usize,
}

impl RateIntervals {
    /// Reads the rate series (req/s) selected by `selector` (summed) from a file path or a
    /// [`TraceInput`]; `step_ns` overrides the inferred step.
    pub fn open(
        input: impl Into<TraceInput>,
        selector: &Selector,
        step_ns: Option<u64>,
    ) -> Result<Self, PromError> {
        let input = input.into();
        let name = input.name();
        let path = name.as_str();
        let points = read_aggregate(&input, selector, Aggregate::Sum)?;
        let step_ns = match step_ns {
            Some(s) => s,
            None => infer_step_ms(&points)
                .map(|ms| ms as u64 * 1_000_000)
                .ok_or_else(|| {
                    err(
                        path,
                        "",
                        "a single sample cannot tell the step; set `interval` (e.g. 60s)",
                    )
                })?,
        };
        let t0 = points[0].0;
        let mut intervals = Vec::with_capacity(points.len());
        for (k, &(t_ms, rate)) in points.iter().enumerate() {
            if rate < 0.0 {
                return Err(err(
                    path,
                    format!("timestamp {:.3}", t_ms as f64 / 1000.0),
                    format!("rate {rate} req/s is negative; a request rate must be >= 0"),
                ));
            }
            let start = (t_ms - t0) as u64 * 1_000_000;
            // A step longer than the gap to the next sample would overlap it and break time order.
            let len = points.get(k + 1).map_or(step_ns, |next| {
                step_ns.min((next.0 - t_ms) as u64 * 1_000_000)
            });
            intervals.push((start, len, rate * len as f64 / NANOS_PER_SEC as f64));
        }
        Ok(RateIntervals { intervals, next: 0 })
    }

    /// Expected number of requests over the whole series (the integral of the rate).
    pub fn expected_total(&self) -> f64 {
        self.intervals.iter().map(|i| i.2).sum()
    }

    /// The next `(start ns, length ns, expected count)`.
    pub fn next_interval(&mut self) -> Option<(u64, u64, f64)> {
        let interval = *self.intervals.get(self.next)?;
        self.next += 1;
        Some(interval)
    }

    /// End of the last interval (ns since the first sample): one loop period.
    pub fn end(&self) -> u64 {
        self.intervals.last().map_or(0, |i| i.0 + i.1)
    }

    /// Starts again from the first interval (for looped replay).
    pub fn rewind(&mut self) {
        self.next = 0;
    }
}

/// Opens the rate series for trace replay (`format: prometheus`), with errors in the trace's terms.
pub(crate) fn open_rate_intervals(
    input: &TraceInput,
    options: &super::TraceOptions,
) -> Result<RateIntervals, super::TrafficError> {
    let selector = Selector::parse(options.series.as_deref().unwrap_or("")).map_err(|message| {
        super::TrafficError::Invalid {
            key: "series".into(),
            message,
        }
    })?;
    RateIntervals::open(input, &selector, options.interval.map(|d| d.0)).map_err(|e| {
        super::TrafficError::Io {
            path: e.path,
            message: if e.location.is_empty() {
                e.message
            } else {
                format!("{}: {}", e.location, e.message)
            },
        }
    })
}
