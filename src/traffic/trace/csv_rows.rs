//! Reading trace CSV rows: the accepted column names, exact parsing of the time column (decimal seconds
//! to the nanosecond, or absolute timestamps taken relative to the first row), and [`CsvStream`], a
//! streamed CSV input that names its file, line and column in every error. Times are integer ns.

use std::io::{BufReader, Read};

use super::super::input::TraceInput;
use super::super::TrafficError;
use super::shorten_quoted;
use crate::time::NANOS_PER_SEC;

pub(super) const TIME_COLUMNS: &[&str] = &[
    "time_s",
    "time",
    "timestamp",
    "arrival_time",
    "arrival_time_s",
];
pub(super) const SERVICE_COLUMNS: &[&str] = &["service_time_s", "service_time_ms"];
pub(super) const PROMPT_COLUMNS: &[&str] = &[
    "prompt_tokens",
    "context_tokens",
    "contexttokens",
    "input_tokens",
];
pub(super) const OUTPUT_COLUMNS: &[&str] =
    &["output_tokens", "generated_tokens", "generatedtokens"];
pub(super) const COUNT_COLUMNS: &[&str] = &["count", "requests", "arrivals"];

/// Parses a non-negative decimal number of seconds exactly into nanoseconds ("12.345678901" → 12345678901).
/// Digits beyond the ninth decimal are truncated. Returns `None` for anything else (signs, exponents).
pub fn parse_seconds_exact(text: &str) -> Option<u64> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole_ns = if whole.is_empty() {
        0
    } else {
        whole.parse::<u64>().ok()?.checked_mul(NANOS_PER_SEC)?
    };
    let mut frac_ns = 0u64;
    for (i, digit) in frac.bytes().take(9).enumerate() {
        frac_ns += u64::from(digit - b'0') * 10u64.pow(8 - i as u32);
    }
    whole_ns.checked_add(frac_ns)
}

/// Absolute timestamp in ns since the Unix epoch, for the layouts listed in the module docs.
pub(super) fn parse_absolute_ns(text: &str) -> Option<i64> {
    let text = text.trim();
    for layout in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, layout) {
            return t.and_utc().timestamp_nanos_opt();
        }
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()?
        .timestamp_nanos_opt()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TimeKind {
    Relative,
    Absolute { origin_ns: i64 },
}

/// Reads a time column value: relative seconds or absolute timestamps (the kind is fixed by the first row).
pub(super) struct TimeParser {
    pub(super) kind: Option<TimeKind>,
}

impl TimeParser {
    pub(super) fn parse(&mut self, text: &str) -> Result<u64, String> {
        let expected = "seconds since the trace start (e.g. 12.5) or a timestamp like 2023-11-16 18:15:46.6805900";
        match self.kind {
            None => {
                if let Some(ns) = parse_seconds_exact(text) {
                    self.kind = Some(TimeKind::Relative);
                    Ok(ns)
                } else if let Some(abs) = parse_absolute_ns(text) {
                    self.kind = Some(TimeKind::Absolute { origin_ns: abs });
                    Ok(0)
                } else {
                    Err(format!("`{text}` is not a time; expected {expected}"))
                }
            }
            Some(TimeKind::Relative) => parse_seconds_exact(text).ok_or_else(|| {
                format!(
                    "`{text}` is not a non-negative number of seconds (earlier rows used seconds)"
                )
            }),
            Some(TimeKind::Absolute { origin_ns }) => {
                let abs = parse_absolute_ns(text)
                    .ok_or_else(|| format!("`{text}` is not a timestamp like 2023-11-16 18:15:46.6805900 (earlier rows used timestamps)"))?;
                u64::try_from(abs - origin_ns).map_err(|_| {
                    format!(
                        "timestamp `{text}` is earlier than the first row, which defines time 0"
                    )
                })
            }
        }
    }
}

/// A CSV input being streamed, with its name for error messages and a reused record buffer.
pub(super) struct CsvStream {
    pub(super) path: String,
    pub(super) reader: csv::Reader<BufReader<Box<dyn Read + Send>>>,
    pub(super) headers: Vec<String>,
    pub(super) record: csv::StringRecord,
}

impl CsvStream {
    pub(super) fn open(input: &TraceInput) -> Result<Self, TrafficError> {
        let display = input.name();
        let file = input.open().map_err(|e| TrafficError::Io {
            path: display.clone(),
            message: format!("cannot open trace: {e}"),
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(BufReader::with_capacity(1 << 16, file));
        let headers = reader
            .headers()
            .map_err(|e| TrafficError::Malformed {
                path: display.clone(),
                line: 1,
                column: "(header)".into(),
                message: format!("unreadable header: {e}"),
            })?
            .iter()
            .map(str::to_string)
            .collect();
        Ok(CsvStream {
            path: display,
            reader,
            headers,
            record: csv::StringRecord::new(),
        })
    }

    /// Index of the column named `wanted` (case-insensitive), or the first of `candidates` present.
    pub(super) fn column(
        &self,
        wanted: Option<&str>,
        candidates: &[&str],
        what: &str,
        required: bool,
    ) -> Result<Option<usize>, TrafficError> {
        let find = |name: &str| {
            self.headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
        };
        if let Some(name) = wanted {
            return find(name)
                .map(Some)
                .ok_or_else(|| self.header_error(what, &format!("no column named `{name}`")));
        }
        match candidates.iter().find_map(|c| find(c)) {
            Some(i) => Ok(Some(i)),
            None if required => Err(self.header_error(
                what,
                &format!(
                    "no {what} column; expected one of {}",
                    candidates.join(", ")
                ),
            )),
            None => Ok(None),
        }
    }

    pub(super) fn header_error(&self, column: &str, message: &str) -> TrafficError {
        TrafficError::Malformed {
            path: self.path.clone(),
            line: 1,
            column: column.to_string(),
            message: format!("{message} (header has: {})", self.headers.join(", ")),
        }
    }

    /// Advances to the next record; `Ok(false)` at the end of the file.
    pub(super) fn advance(&mut self) -> Result<bool, TrafficError> {
        self.reader
            .read_record(&mut self.record)
            .map_err(|e| TrafficError::Malformed {
                path: self.path.clone(),
                line: e.position().map_or(0, |p| p.line()),
                column: "(row)".into(),
                message: format!("unreadable CSV row: {e}"),
            })
    }

    pub(super) fn line(&self) -> u64 {
        self.record.position().map_or(0, |p| p.line())
    }

    pub(super) fn field(&self, index: usize) -> &str {
        self.record.get(index).unwrap_or("")
    }

    pub(super) fn row_error(&self, index: usize, message: String) -> TrafficError {
        TrafficError::Malformed {
            path: self.path.clone(),
            line: self.line(),
            message: shorten_quoted(&message),
            column: self
                .headers
                .get(index)
                .cloned()
                .unwrap_or_else(|| format!("#{}", index + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_decimal_seconds() {
        assert_eq!(parse_seconds_exact("12.345678901"), Some(12_345_678_901));
        assert_eq!(parse_seconds_exact("0.1"), Some(100_000_000));
        assert_eq!(parse_seconds_exact("7"), Some(7_000_000_000));
        assert_eq!(parse_seconds_exact(".5"), Some(500_000_000));
        assert_eq!(parse_seconds_exact("1.0000000019"), Some(1_000_000_001));
        assert_eq!(parse_seconds_exact("-1"), None);
        assert_eq!(parse_seconds_exact("1e3"), None);
        assert_eq!(parse_seconds_exact("."), None);
    }

    #[test]
    fn azure_timestamps_keep_100ns_resolution() {
        let a = parse_absolute_ns("2023-11-16 18:15:46.6805900").unwrap();
        let b = parse_absolute_ns("2023-11-16 18:15:47.0000001").unwrap();
        assert_eq!(b - a, 319_410_100);
    }
}
