//! Curves from `timeseries.csv` columns: decimation for drawing (min and max kept per bucket of seconds,
//! so spikes survive; the worst value per bucket for latency), flagged intervals (panic, cold starts,
//! activator in path) and the stroke each curve is drawn with.
//!
//! A run longer than [`crate::report::data::MAX_ROWS`] seconds arrives already folded into buckets of
//! seconds with a lowest and a highest value each (see [`TimeSeries`]); curves then draw that envelope,
//! so a one-second spike still reaches the chart, and the charts' subtitle says how many seconds a point
//! covers.

use super::*;

/// Decimated curve as continuous segments in axis units; empty fields split segments. `low` and `high`
/// are the lowest and highest value of each row (the same slice for per-second rows).
pub(super) fn segments(
    times: &[f64],
    low: &[Option<f64>],
    high: &[Option<f64>],
    axis: TimeAxis,
) -> Vec<Vec<(f64, f64)>> {
    let rows = times.len().min(low.len()).min(high.len());
    let bucket = rows.div_ceil(MAX_BUCKETS).max(1);
    let mut result = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for start in (0..rows).step_by(bucket) {
        let end = (start + bucket).min(rows);
        let present: Vec<usize> = (start..end).filter(|&i| high[i].is_some()).collect();
        if present.is_empty() {
            if !current.is_empty() {
                result.push(std::mem::take(&mut current));
            }
            continue;
        }
        let low_at = |i: usize| low[i].or(high[i]).unwrap_or(0.0);
        let high_at = |i: usize| high[i].unwrap_or(0.0);
        let lowest = *present
            .iter()
            .min_by(|&&a, &&b| low_at(a).total_cmp(&low_at(b)))
            .unwrap_or(&present[0]);
        let highest = *present
            .iter()
            .max_by(|&&a, &&b| high_at(a).total_cmp(&high_at(b)))
            .unwrap_or(&present[0]);
        let (low_point, high_point) = (
            (times[lowest] / axis.seconds_per_unit, low_at(lowest)),
            (times[highest] / axis.seconds_per_unit, high_at(highest)),
        );
        let (first, second) = if lowest <= highest {
            (low_point, high_point)
        } else {
            (high_point, low_point)
        };
        current.push(first);
        if second != first {
            current.push(second);
        }
    }
    if !current.is_empty() {
        result.push(current);
    }
    result
}

/// Latency curve decimated to one point per bucket: the worst (highest) second of the bucket.
///
/// Why: per-second percentiles of a busy run are noisy; a min/max envelope turns them into a solid band
/// that hides the other percentiles, while the upper envelope is what latency questions are about.
pub(super) fn worst_per_bucket(times: &[f64], values: &[Option<f64>], axis: TimeAxis) -> Curve {
    let rows = times.len().min(values.len());
    let bucket = rows.div_ceil(LATENCY_BUCKETS).max(1);
    let mut result = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for start in (0..rows).step_by(bucket) {
        let end = (start + bucket).min(rows);
        let worst = (start..end)
            .filter_map(|i| values[i].map(|v| (i, v)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match worst {
            Some((row, value)) => current.push((times[row] / axis.seconds_per_unit, value)),
            None if !current.is_empty() => result.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        result.push(current);
    }
    result
}

/// Splits a pixel polyline wherever it turns back vertically (a local peak or trough).
///
/// Why: plotters strokes wide polylines on bitmaps with unlimited miter joins and no guard against
/// zero-length segments, so a sharp spike (up and straight back down within a pixel or two) or two
/// points rounding to the same pixel sends the stroke far outside the plot. Callers remove repeated
/// pixels; ending the polyline at each reversal turns the remaining acute joins into plain butt ends,
/// which are invisible at 2-3 px.
pub(super) fn split_at_reversals(points: &[(i32, i32)]) -> Vec<Vec<(i32, i32)>> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..points.len().saturating_sub(1) {
        let rise_before = points[i].1 - points[i - 1].1;
        let rise_after = points[i + 1].1 - points[i].1;
        if rise_before.signum() * rise_after.signum() < 0 {
            runs.push(points[start..=i].to_vec());
            start = i;
        }
    }
    if start + 1 < points.len() {
        runs.push(points[start..].to_vec());
    }
    runs
}

/// Intervals `[start, end)` in seconds where `flag(row)` holds, merged across short gaps; each row
/// covers `row_seconds` from its time.
pub(super) fn intervals(
    times: &[f64],
    row_seconds: f64,
    flag: impl Fn(usize) -> bool,
) -> Vec<(f64, f64)> {
    let span = times.last().copied().unwrap_or(0.0) + 1.0;
    let merge_gap = span / MAX_INTERVALS;
    let mut result: Vec<(f64, f64)> = Vec::new();
    for (row, &t) in times.iter().enumerate() {
        if !flag(row) {
            continue;
        }
        match result.last_mut() {
            Some(last) if t - last.1 <= merge_gap => last.1 = t + row_seconds,
            _ => result.push((t, t + row_seconds)),
        }
    }
    result
}

/// Intervals where the numeric column `name` is positive (see [`intervals`]); none when it is absent.
pub(super) fn flagged_intervals(series: &TimeSeries, times: &[f64], name: &str) -> Vec<(f64, f64)> {
    let flags: Vec<bool> = series
        .column(name)
        .map(|c| c.iter().map(|v| v.is_some_and(|x| x > 0.0)).collect())
        .unwrap_or_else(|| vec![false; series.len()]);
    intervals(times, series.seconds_per_row() as f64, |row| flags[row])
}

pub(super) fn column_max(series: &TimeSeries, names: &[&str]) -> f64 {
    names
        .iter()
        .filter_map(|name| series.column(name))
        .flat_map(|c| c.iter().flatten().copied())
        .fold(0.0, f64::max)
}

/// How a curve is stroked, and drawn in the legend.
#[derive(Clone, Copy)]
pub(super) struct Stroke {
    pub(super) colour: RGBColor,
    pub(super) width: u32,
    pub(super) dashed: bool,
}

impl Stroke {
    pub(super) fn solid(colour: RGBColor, width: u32) -> Self {
        Self {
            colour,
            width,
            dashed: false,
        }
    }

    pub(super) fn dashed(colour: RGBColor, width: u32) -> Self {
        Self {
            colour,
            width,
            dashed: true,
        }
    }
}

/// A curve ready to draw, with its legend label and stroke.
pub(super) struct LabelledCurve {
    pub(super) label: String,
    pub(super) stroke: Stroke,
    pub(super) points: Curve,
}
