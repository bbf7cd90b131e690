//! Reading a run directory: `timeseries.csv` (one row per simulated second) and `summary.json`.
//!
//! The report module depends only on these files, never on simulator types, so that the simulator can
//! change freely as long as the file contract (ARCHITECTURE.md §3) holds; it takes the contract's column
//! names from [`TIMESERIES_COLUMNS`] rather than keeping a second list. Assumptions:
//! - `time_s` is the only mandatory column; any other known column may be absent or hold empty strings,
//!   which read as "no value" (e.g. latency in a second with no completions).
//! - Unknown extra columns are ignored, so newer simulators stay readable.
//! - Summary fields are looked up by path and tolerated when missing; only a syntactically broken JSON
//!   file is an error.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::envelope::{higher, lower, Envelope};
use super::ReportError;
use crate::observe::output::TIMESERIES_COLUMNS;

/// Text columns the report knows how to use; every other column of `timeseries.csv` is numeric.
pub(crate) const TEXT_COLUMNS: &[&str] = &["scale_reason", "cron_fire", "hpa_limit_reason"];

/// Numeric columns the report knows how to use: the file contract's columns ([`TIMESERIES_COLUMNS`], in
/// file order) without the text ones.
fn numeric_columns() -> impl Iterator<Item = &'static str> {
    TIMESERIES_COLUMNS
        .iter()
        .copied()
        .filter(|name| !TEXT_COLUMNS.contains(name))
}

/// Most rows a [`TimeSeries`] keeps. A longer file is folded into at most this many buckets of
/// consecutive seconds, so reading it takes memory independent of the run's duration. Above the plots'
/// pixel width (1200) and above twice their decimation (1500 buckets), so a short run draws exactly as
/// it would from every row.
pub const MAX_ROWS: usize = 8192;

/// The per-second time series of one run, column-major, read in one streamed pass.
///
/// Up to [`MAX_ROWS`] rows it holds every row of the file as read. Beyond that each kept row is a
/// bucket of `seconds_per_row()` consecutive seconds (a power of two): when the buckets fill, adjacent
/// pairs merge. A bucket keeps, per numeric column, the lowest and the highest value of its seconds
/// (the envelope: [`TimeSeries::column`] is the highest, [`TimeSeries::column_low`] the lowest), so a
/// one-second spike or dip is never lost; `time_s` of a bucket is its first second; a text column keeps
/// the first non-empty text of the bucket. Means are not kept: no chart draws one.
#[derive(Debug, Clone)]
pub struct TimeSeries {
    /// The file it was read from, for messages.
    pub source: PathBuf,
    numeric: HashMap<&'static str, Envelope>,
    text: HashMap<&'static str, Vec<String>>,
    /// Kept rows (buckets).
    rows: usize,
    /// Seconds (file rows) per kept row; 1 until the first merge.
    per_row: usize,
    /// File rows folded into the last kept row.
    in_last: usize,
    cap: usize,
}

impl TimeSeries {
    /// Reads and validates `path`; errors name the file and the 1-based line.
    pub fn read(path: &Path) -> Result<Self, ReportError> {
        let file = File::open(path).map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(file, path)
    }

    /// Parses CSV text from any reader; `source` is only used in error messages.
    pub fn from_reader<R: std::io::Read>(reader: R, source: &Path) -> Result<Self, ReportError> {
        Self::from_reader_with_cap(reader, source, MAX_ROWS)
    }

    /// As [`TimeSeries::from_reader`], keeping at most `cap` rows (an even number, at least 2).
    pub(crate) fn from_reader_with_cap<R: std::io::Read>(
        reader: R,
        source: &Path,
        cap: usize,
    ) -> Result<Self, ReportError> {
        let malformed = |line: u64, message: String| ReportError::Malformed {
            path: source.to_path_buf(),
            line,
            message,
        };
        let mut csv_reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers = csv_reader
            .headers()
            .map_err(|e| malformed(csv_line(&e).unwrap_or(1), e.to_string()))?
            .clone();
        let column_index = |name: &str| headers.iter().position(|h| h == name);
        if column_index("time_s").is_none() {
            return Err(malformed(
                1,
                "the header has no `time_s` column (expected a podscale timeseries.csv)".into(),
            ));
        }
        let numeric_at: Vec<(&'static str, usize)> = numeric_columns()
            .filter_map(|name| column_index(name).map(|i| (name, i)))
            .collect();
        let text_at: Vec<(&'static str, usize)> = TEXT_COLUMNS
            .iter()
            .filter_map(|&name| column_index(name).map(|i| (name, i)))
            .collect();

        let mut series = Self {
            source: source.to_path_buf(),
            numeric: numeric_at
                .iter()
                .map(|&(name, _)| (name, Envelope::default()))
                .collect(),
            text: text_at
                .iter()
                .map(|&(name, _)| (name, Vec::new()))
                .collect(),
            rows: 0,
            per_row: 1,
            in_last: 0,
            cap: cap.max(2) & !1,
        };
        let mut values: Vec<Option<f64>> = Vec::with_capacity(numeric_at.len());
        let mut file_rows = 0u64;
        let mut record = csv::StringRecord::new();
        loop {
            match csv_reader.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let line = csv_line(&e).unwrap_or(file_rows + 2);
                    return Err(malformed(line, csv_message(&e)));
                }
            }
            let line = record.position().map_or(file_rows + 2, |p| p.line());
            values.clear();
            for &(name, index) in &numeric_at {
                let raw = record.get(index).unwrap_or("");
                let value = if raw.is_empty() {
                    None
                } else {
                    match raw.parse::<f64>() {
                        Ok(v) if v.is_finite() => Some(v),
                        _ => {
                            return Err(malformed(
                                line,
                                format!("column `{name}` holds {raw:?}, expected a finite number or an empty field"),
                            ))
                        }
                    }
                };
                if name == "time_s" && value.is_none() {
                    return Err(malformed(line, "column `time_s` is empty".into()));
                }
                values.push(value);
            }
            series.push_row(&numeric_at, &values, &text_at, &record);
            file_rows += 1;
        }
        Ok(series)
    }

    /// Appends one file row: a new kept row, or folded into the last bucket while it has room.
    fn push_row(
        &mut self,
        numeric_at: &[(&'static str, usize)],
        values: &[Option<f64>],
        text_at: &[(&'static str, usize)],
        record: &csv::StringRecord,
    ) {
        if self.rows > 0 && self.in_last < self.per_row {
            for (&(name, _), &value) in numeric_at.iter().zip(values) {
                if let Some(column) = self.numeric.get_mut(name) {
                    let last = self.rows - 1;
                    column.high[last] = higher(column.high[last], value);
                    column.low[last] = lower(column.low[last], value);
                }
            }
            for &(name, index) in text_at {
                if let Some(column) = self.text.get_mut(name) {
                    let last = &mut column[self.rows - 1];
                    if last.is_empty() {
                        record.get(index).unwrap_or("").clone_into(last);
                    }
                }
            }
            self.in_last += 1;
            return;
        }
        if self.rows == self.cap {
            self.merge_pairs();
        }
        for (&(name, _), &value) in numeric_at.iter().zip(values) {
            if let Some(column) = self.numeric.get_mut(name) {
                column.high.push(value);
                if self.per_row > 1 {
                    column.low.push(value);
                }
            }
        }
        for &(name, index) in text_at {
            if let Some(column) = self.text.get_mut(name) {
                column.push(record.get(index).unwrap_or("").to_string());
            }
        }
        self.rows += 1;
        self.in_last = 1;
    }

    /// Halves the kept rows by merging adjacent pairs; every bucket is full when this runs, so buckets
    /// stay aligned on multiples of the doubled width.
    fn merge_pairs(&mut self) {
        for column in self.numeric.values_mut() {
            column.merge_pairs();
        }
        for column in self.text.values_mut() {
            let merged = column.len().div_ceil(2);
            for i in 0..merged {
                let first = std::mem::take(&mut column[2 * i]);
                let second = column.get_mut(2 * i + 1).map(std::mem::take);
                column[i] = if first.is_empty() {
                    second.unwrap_or_default()
                } else {
                    first
                };
            }
            column.truncate(merged);
        }
        self.rows = self.rows.div_ceil(2);
        self.per_row *= 2;
        self.in_last = self.per_row;
    }

    /// Number of kept rows: the file's data rows (simulated seconds) when it has at most [`MAX_ROWS`],
    /// else the number of buckets.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when the file has a header but no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// File rows (seconds) per kept row: 1 for a run of at most [`MAX_ROWS`] seconds, else a power of two.
    pub fn seconds_per_row(&self) -> usize {
        self.per_row
    }

    /// A numeric column (per kept row, the highest value of its seconds), or `None` when the file does
    /// not have it.
    pub fn column(&self, name: &str) -> Option<&[Option<f64>]> {
        self.numeric.get(name).map(|c| c.high.as_slice())
    }

    /// The lowest value of each kept row's seconds; the same as [`TimeSeries::column`] for a short run.
    pub fn column_low(&self, name: &str) -> Option<&[Option<f64>]> {
        self.numeric.get(name).map(Envelope::low)
    }

    /// True when the column exists and holds at least one value.
    pub fn has_values(&self, name: &str) -> bool {
        self.column(name)
            .is_some_and(|c| c.iter().any(Option::is_some))
    }

    /// A text column (`scale_reason`, `cron_fire`), or `None` when absent.
    pub fn text_column(&self, name: &str) -> Option<&[String]> {
        self.text.get(name).map(Vec::as_slice)
    }

    /// Simulated second of each kept row (its first second; always present).
    pub fn times(&self) -> Vec<f64> {
        self.column_low("time_s")
            .map(|c| c.iter().map(|v| v.unwrap_or(0.0)).collect())
            .unwrap_or_default()
    }

    /// Last simulated second in the file, 0 when empty.
    pub fn end_time(&self) -> f64 {
        self.column("time_s")
            .and_then(|c| c.last().copied().flatten())
            .unwrap_or(0.0)
    }
}

fn csv_line(error: &csv::Error) -> Option<u64> {
    match error.kind() {
        csv::ErrorKind::UnequalLengths { pos: Some(pos), .. } => Some(pos.line()),
        csv::ErrorKind::Utf8 { pos: Some(pos), .. } => Some(pos.line()),
        csv::ErrorKind::Deserialize { pos: Some(pos), .. } => Some(pos.line()),
        _ => None,
    }
}

fn csv_message(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the row has {len} fields but the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".into(),
        _ => error.to_string(),
    }
}

/// Reads `summary.json`; errors name the file and the line.
pub fn read_summary(path: &Path) -> Result<Value, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ReportError::Malformed {
        path: path.to_path_buf(),
        line: e.line() as u64,
        message: format!("invalid JSON: {e}"),
    })?;
    if !value.is_object() {
        return Err(ReportError::Malformed {
            path: path.to_path_buf(),
            line: 1,
            message: "expected a JSON object at the top level".into(),
        });
    }
    Ok(value)
}

/// A number at a `/`-separated path (e.g. `"latency_ms/p99"`), tolerating absence and numeric strings.
pub(crate) fn number_at(summary: &Value, path: &str) -> Option<f64> {
    let mut node = summary;
    for key in path.split('/') {
        node = node.get(key)?;
    }
    match node {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A string at a `/`-separated path, numbers rendered as text.
pub(crate) fn text_at(summary: &Value, path: &str) -> Option<String> {
    let mut node = summary;
    for key in path.split('/') {
        node = node.get(key)?;
    }
    match node {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Summary fields that reports show on their own; a `settings` entry repeating one is dropped.
const TOP_LEVEL_FIELDS: &[&str] = &["scenario", "seed", "autoscaler"];

/// The `settings` map as ordered (key, value) pairs; JSON objects keep key order sorted by serde_json.
pub(crate) fn settings(summary: &Value) -> Vec<(String, String)> {
    summary
        .get("settings")
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter(|(k, _)| !TOP_LEVEL_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One bucket of `latency_histogram_ms`: requests with latency in (previous bound, `le_ms`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HistogramBucket {
    pub le_ms: f64,
    pub count: f64,
}

/// The latency histogram, sorted by bound; counts are per bucket (not cumulative).
pub(crate) fn latency_histogram(summary: &Value) -> Vec<HistogramBucket> {
    let mut buckets: Vec<HistogramBucket> = summary
        .get("latency_histogram_ms")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let le_ms = number_at(item, "le")?;
                    let count = number_at(item, "count")?;
                    (le_ms.is_finite() && count.is_finite() && count >= 0.0)
                        .then_some(HistogramBucket { le_ms, count })
                })
                .collect()
        })
        .unwrap_or_default();
    buckets.sort_by(|a, b| a.le_ms.total_cmp(&b.le_ms));
    buckets
}

/// `latency_cdf_ms` (points `[latency_ms, share]`, share in (0, 1]) sorted by latency; empty when the
/// summary predates it or no request completed.
pub(crate) fn latency_cdf(summary: &Value) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = summary
        .get("latency_cdf_ms")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let pair = item.as_array()?;
                    let ms = pair.first()?.as_f64()?;
                    let share = pair.get(1)?.as_f64()?;
                    (ms.is_finite() && (0.0..=1.0).contains(&share)).then_some((ms, share))
                })
                .collect()
        })
        .unwrap_or_default();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_read_as_missing_and_unknown_columns_are_ignored() {
        let csv = "time_s,ready_pods,latency_p50_ms,extra\n0,1,,x\n1,2,12.5,y\n";
        let series = TimeSeries::from_reader(csv.as_bytes(), Path::new("t.csv")).unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(
            series.column("latency_p50_ms").unwrap(),
            &[None, Some(12.5)]
        );
        assert!(series.column("desired_pods").is_none());
    }

    #[test]
    fn a_simulator_row_with_every_text_field_set_reads_back() {
        use crate::observe::output::CsvTimeseries;
        use crate::observe::output::SecondRow;
        use crate::observe::output::TimeseriesSink;
        let row = SecondRow {
            time_s: 3,
            ready_pods: 2,
            scale_reason: "panic",
            cron_fire: Some("peak".into()),
            hpa_limit_reason: "scale_up_limit",
            ..SecondRow::default()
        };
        let mut csv = CsvTimeseries::new(Vec::new()).unwrap();
        csv.row(&row).unwrap();
        let bytes = csv.into_inner();
        let series = TimeSeries::from_reader(bytes.as_slice(), Path::new("t.csv")).unwrap();
        assert_eq!(series.column("ready_pods").unwrap(), &[Some(2.0)]);
        assert_eq!(series.text_column("scale_reason").unwrap(), &["panic"]);
        assert_eq!(series.text_column("cron_fire").unwrap(), &["peak"]);
        assert_eq!(
            series.text_column("hpa_limit_reason").unwrap(),
            &["scale_up_limit"]
        );
        assert_eq!(
            numeric_columns().count() + TEXT_COLUMNS.len(),
            TIMESERIES_COLUMNS.len()
        );
    }

    #[test]
    fn non_numeric_value_names_line_and_column() {
        let csv = "time_s,ready_pods\n0,1\n1,two\n";
        let err = TimeSeries::from_reader(csv.as_bytes(), Path::new("t.csv")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("t.csv:3"), "{text}");
        assert!(text.contains("ready_pods"), "{text}");
    }

    #[test]
    fn ragged_row_names_its_line() {
        let csv = "time_s,ready_pods\n0,1\n1,2,3\n";
        let err = TimeSeries::from_reader(csv.as_bytes(), Path::new("t.csv")).unwrap_err();
        assert!(err.to_string().contains("t.csv:3"), "{err}");
    }

    #[test]
    fn cdf_points_read_sorted_and_bad_points_are_skipped() {
        let summary: Value = serde_json::from_str(
            r#"{"latency_cdf_ms": [[30.0, 1.0], [10.0, 0.5], [20.0, 7.0], ["x", 0.1]]}"#,
        )
        .unwrap();
        assert_eq!(latency_cdf(&summary), [(10.0, 0.5), (30.0, 1.0)]);
        assert!(latency_cdf(&Value::Null).is_empty());
    }
}
