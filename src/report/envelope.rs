//! The envelope of a numeric column of `timeseries.csv` over buckets of consecutive seconds: the lowest
//! and the highest value of each bucket, merged pairwise when a [`super::TimeSeries`] halves its rows.
//! Empty fields ("no value") are ignored by both bounds; a bucket with no value at all stays empty.
//! Lowest and highest of a union are the lowest and highest of its parts, so merging in any grouping
//! gives the exact envelope of the seconds covered; a one-second spike always survives in `high`.

/// One numeric column: the highest value per kept row, and the lowest once rows are buckets (until
/// then `low` is empty and the highest is also the lowest, so a short run costs one vector).
#[derive(Debug, Clone, Default)]
pub(super) struct Envelope {
    pub(super) high: Vec<Option<f64>>,
    pub(super) low: Vec<Option<f64>>,
}

pub(super) fn lower(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) | (None, x) => x,
    }
}

pub(super) fn higher(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) | (None, x) => x,
    }
}

impl Envelope {
    pub(super) fn low(&self) -> &[Option<f64>] {
        if self.low.is_empty() {
            &self.high
        } else {
            &self.low
        }
    }

    /// Halves the rows: row `i` becomes the envelope of old rows `2i` and `2i + 1`.
    pub(super) fn merge_pairs(&mut self) {
        if self.low.is_empty() {
            self.low = self.high.clone();
        }
        merge_adjacent(&mut self.high, higher);
        merge_adjacent(&mut self.low, lower);
    }
}

/// Row `i` becomes `combine(row 2i, row 2i + 1)`; reads stay ahead of writes, so this works in place.
fn merge_adjacent(
    values: &mut Vec<Option<f64>>,
    combine: fn(Option<f64>, Option<f64>) -> Option<f64>,
) {
    let merged = values.len().div_ceil(2);
    for i in 0..merged {
        let second = values.get(2 * i + 1).copied().flatten();
        values[i] = combine(values[2 * i], second);
    }
    values.truncate(merged);
}

#[cfg(test)]
mod tests {
    use crate::report::data::{TimeSeries, MAX_ROWS};
    use proptest::prelude::*;
    use std::path::Path;

    fn csv_of(values: &[Option<i32>]) -> String {
        let mut out = String::from("time_s,ready_pods,cron_fire\n");
        for (t, v) in values.iter().enumerate() {
            let value = v.map(|v| v.to_string()).unwrap_or_default();
            let fire = if t % 7 == 3 { "job" } else { "" };
            out += &format!("{t},{value},{fire}\n");
        }
        out
    }

    proptest! {
        /// Every kept row is the exact envelope of the seconds it covers, buckets are aligned and
        /// never more than the cap; a file within the cap is kept row for row.
        #[test]
        fn buckets_hold_the_exact_envelope_of_their_seconds(
            values in proptest::collection::vec(proptest::option::weighted(0.8, -50i32..50), 0..700),
            cap in prop_oneof![Just(2usize), Just(4), Just(6), Just(16), Just(64)],
        ) {
            let series = TimeSeries::from_reader_with_cap(csv_of(&values).as_bytes(), Path::new("t.csv"), cap).unwrap();
            let k = series.seconds_per_row();
            prop_assert!(series.len() <= cap);
            prop_assert!(k.is_power_of_two());
            prop_assert_eq!(series.len(), values.len().div_ceil(k));
            // The width is the smallest power of two that fits the file.
            prop_assert!(k == 1 || values.len() > cap * k / 2);
            let high = series.column("ready_pods").unwrap();
            let low = series.column_low("ready_pods").unwrap();
            let times = series.times();
            let fires = series.text_column("cron_fire").unwrap();
            for (row, chunk) in values.chunks(k).enumerate() {
                let present: Vec<f64> = chunk.iter().flatten().map(|&v| f64::from(v)).collect();
                let max = present.iter().copied().reduce(f64::max);
                let min = present.iter().copied().reduce(f64::min);
                prop_assert_eq!(high[row], max, "row {}", row);
                prop_assert_eq!(low[row], min, "row {}", row);
                prop_assert_eq!(times[row], (row * k) as f64);
                let fired = (row * k..row * k + chunk.len()).any(|t| t % 7 == 3);
                prop_assert_eq!(fires[row].as_str(), if fired { "job" } else { "" });
            }
            if values.len() <= cap {
                prop_assert_eq!(k, 1);
                let raw: Vec<Option<f64>> = values.iter().map(|v| v.map(f64::from)).collect();
                prop_assert_eq!(high, raw.as_slice());
                prop_assert_eq!(low, raw.as_slice());
            }
            let end = values.len().checked_sub(1).map_or(0.0, |t| t as f64);
            prop_assert_eq!(series.end_time(), end);
        }
    }

    #[test]
    fn a_day_keeps_a_one_second_spike_and_dip_in_bounded_rows() {
        let mut values = vec![Some(10); 86_400];
        values[51_237] = Some(49);
        values[70_001] = Some(-3);
        let series =
            TimeSeries::from_reader(csv_of(&values).as_bytes(), Path::new("t.csv")).unwrap();
        assert!(series.len() <= MAX_ROWS && series.len() > MAX_ROWS / 2);
        assert_eq!(series.seconds_per_row(), 16);
        let high = series.column("ready_pods").unwrap();
        let low = series.column_low("ready_pods").unwrap();
        assert_eq!(high.iter().flatten().filter(|&&v| v == 49.0).count(), 1);
        assert_eq!(high[51_237 / 16], Some(49.0));
        assert_eq!(low[70_001 / 16], Some(-3.0));
        assert_eq!(series.end_time(), 86_399.0);
    }
}
