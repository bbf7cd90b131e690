//! Latency charts: percentiles over time (log-scaled when values span decades), and the distribution
//! (histogram of the summary's buckets beside a CDF drawn from the full histogram).

use super::*;

/// Drawn in this order with these widths: where percentiles coincide (a quiet second, one request) the
/// higher one is drawn on top and thinner, so p99 is never hidden under p95 and both stay visible.
pub(super) const LATENCY_CURVES: [(&str, &str, RGBColor, u32); 3] = [
    ("latency_p50_ms", "p50", PALETTE[2], 5),
    ("latency_p95_ms", "p95", PALETTE[1], 3),
    ("latency_p99_ms", "p99", PALETTE[3], 1),
];

/// Positive range of the values, and whether it spans enough decades to need a log axis.
///
/// The decision uses the 1st percentile rather than the minimum, so one lucky sub-millisecond second
/// does not switch a run to log scale; the range itself still covers every value.
pub(super) fn latency_scale(values: impl Iterator<Item = f64>) -> (f64, f64, bool) {
    let mut positive: Vec<f64> = values.filter(|v| *v > 0.0).collect();
    if positive.is_empty() {
        return (0.0, 1.0, false);
    }
    positive.sort_by(f64::total_cmp);
    let low = positive[0];
    let high = positive[positive.len() - 1];
    let typical_low = positive[positive.len() / 100];
    (low, high, high / typical_low >= LOG_SCALE_RATIO)
}

pub(super) fn draw_latency<DB: DrawingBackend>(
    run: &Run,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let frame = TimeFrame::for_run(root, run, "latency per simulated second")?;
    let series = &run.series;
    let times = series.times();
    let curves: Vec<LabelledCurve> = LATENCY_CURVES
        .iter()
        .filter_map(|&(column, label, colour, width)| {
            let values = series.column(column)?;
            series.has_values(column).then(|| LabelledCurve {
                label: label.to_string(),
                stroke: Stroke::solid(colour, width),
                points: worst_per_bucket(&times, values, frame.axis),
            })
        })
        .collect();
    let cold_starts = flagged_intervals(series, &times, "cold_start_completions");
    draw_latency_plot(&frame, &cold_starts, &curves, 12)
}

/// Shades the cold-start bands and draws latency curves on a y axis scaled to what is drawn (bucket
/// maxima, so the axis is not stretched by unseen minima): log scale when the curves span two decades
/// (with `log_y_labels` labels), else linear from 0.
pub(super) fn draw_latency_plot<DB: DrawingBackend>(
    frame: &TimeFrame<DB>,
    cold_starts: &[(f64, f64)],
    curves: &[LabelledCurve],
    log_y_labels: usize,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    pub(super) fn fill<DB, Y>(
        mut plot: TimePlot<'_, DB, Y>,
        cold_starts: &[(f64, f64)],
        curves: &[LabelledCurve],
    ) -> DrawResult
    where
        DB: DrawingBackend,
        DB::ErrorType: 'static,
        Y: Ranged<ValueType = f64>,
    {
        plot.bands(cold_starts, COLD_SHADE, "cold-start completions")?;
        plot.curves(curves)?;
        plot.finish()
    }
    let (low, high, log) = latency_scale(
        curves
            .iter()
            .flat_map(|c| c.points.iter().flatten().map(|p| p.1)),
    );
    if log {
        let y_range = (low / 1.5, high * 1.5);
        let plot = frame.log_plot(y_range, "latency (ms, log scale)", log_y_labels)?;
        fill(plot, cold_starts, curves)
    } else {
        let plot = frame.linear_plot(padded_max(high), "latency (ms)")?;
        fill(plot, cold_starts, curves)
    }
}

pub(super) fn draw_distribution<DB: DrawingBackend>(
    run: &Run,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let body = draw_header(
        root,
        &run_title(run, "latency distribution (all completed requests)"),
        &settings_line(&run.summary),
    )?;
    let all_buckets = latency_histogram(&run.summary);
    // Show only the populated span of buckets; empty tails would squeeze the bars.
    let first = all_buckets.iter().position(|b| b.count > 0.0).unwrap_or(0);
    let last = all_buckets.iter().rposition(|b| b.count > 0.0).unwrap_or(0);
    let lower_bound_ms = if first == 0 {
        0.0
    } else {
        all_buckets[first - 1].le_ms
    };
    let buckets = &all_buckets[first..=last.max(first).min(all_buckets.len().saturating_sub(1))];
    let total: f64 = buckets.iter().map(|b| b.count).sum();
    let (left, right) = body.split_horizontally(WIDTH / 2);

    // Histogram: bar i spans x in [i, i+1]; the tick at x = i+1 carries bucket i's upper bound.
    let bars = buckets.len() as i32;
    let count_max = padded_max(buckets.iter().map(|b| b.count).fold(0.0, f64::max));
    let mut histogram = ChartBuilder::on(&left)
        .margin_left(12)
        .margin_right(20)
        .margin_bottom(8)
        .caption("histogram", (FONT, 16))
        .x_label_area_size(52)
        .y_label_area_size(78)
        .build_cartesian_2d(0..bars.max(1), 0.0..count_max)?;
    let bound_label = |x: &i32| -> String {
        match *x {
            0 => tick(&lower_bound_ms),
            i if i >= 1 && (i as usize) <= buckets.len() => tick(&buckets[i as usize - 1].le_ms),
            _ => String::new(),
        }
    };
    histogram
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("latency bucket upper bound (ms)")
        .y_desc("requests")
        .x_labels((buckets.len() + 1).min(10))
        .x_label_formatter(&bound_label)
        .y_label_formatter(&tick)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .max_light_lines(2)
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    histogram.draw_series(buckets.iter().enumerate().map(|(i, b)| {
        let mut bar = Rectangle::new(
            [(i as i32, 0.0), (i as i32 + 1, b.count)],
            PALETTE[0].mix(0.75).filled(),
        );
        bar.set_margin(0, 0, 1, 1);
        bar
    }))?;

    // CDF: from `latency_cdf_ms` (the full HDR histogram) when present; summaries written before it
    // existed fall back to the cumulative share at each bucket's upper bound.
    let full = data::latency_cdf(&run.summary);
    let cdf: Vec<(f64, f64)> = if full.is_empty() {
        let mut cumulative = 0.0;
        let mut points = Vec::with_capacity(buckets.len() + 1);
        if lower_bound_ms > 0.0 {
            points.push((lower_bound_ms, 0.0));
        }
        for bucket in buckets {
            cumulative += bucket.count;
            if bucket.le_ms > 0.0 {
                points.push((bucket.le_ms, 100.0 * cumulative / total.max(1.0)));
            }
        }
        points
    } else {
        cdf_steps(&full)
    };
    let markers: Vec<(f64, f64, &str)> = [
        ("latency_ms/p50", 50.0, "p50"),
        ("latency_ms/p95", 95.0, "p95"),
        ("latency_ms/p99", 99.0, "p99"),
    ]
    .iter()
    .filter_map(|&(path, share, label)| {
        let ms = data::number_at(&run.summary, path)?;
        (ms > 0.0).then_some((ms, share, label))
    })
    .collect();
    let first_x = cdf.first().map_or(0.1, |p| p.0);
    let last_x = cdf.last().map_or(1.0, |p| p.0);
    let build = |area| {
        let mut builder = ChartBuilder::on(area);
        builder
            .margin_left(12)
            .margin_right(28)
            .margin_bottom(8)
            .caption("cumulative distribution", (FONT, 16))
            .x_label_area_size(52)
            .y_label_area_size(64);
        builder
    };
    // A log axis when latencies span a decade or more, so a cold-start tail is visible next to the
    // bulk; the bucket fallback of evenly spaced (hey style) bounds carries no detail below the first
    // bound, so it stays linear.
    let log_x = if full.is_empty() {
        !evenly_spaced(buckets)
    } else {
        last_x >= first_x.max(1e-3) * 10.0
    };
    if !log_x {
        let x_high = last_x.max(1e-3) * 1.05;
        let mut chart = build(&right).build_cartesian_2d(0.0..x_high, 0.0..100.0)?;
        configure_cdf_mesh(&mut chart, "latency (ms)")?;
        draw_cdf(&mut chart, &cdf, &markers, (0.0, x_high))?;
    } else {
        let x_low = first_x.max(1e-3) / 1.3;
        let x_high = last_x.max(x_low * 10.0) * 1.3;
        let mut chart =
            build(&right).build_cartesian_2d((x_low..x_high).log_scale(), 0.0..100.0)?;
        configure_cdf_mesh(&mut chart, "latency (ms, log scale)")?;
        draw_cdf(&mut chart, &cdf, &markers, (x_low, x_high))?;
    }
    Ok(())
}

/// The CDF as a step curve in percent: flat from one recorded latency to the next, then a vertical rise,
/// starting from 0 % at the fastest latency.
pub(super) fn cdf_steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2 + 1);
    let mut previous = 0.0;
    for &(ms, share) in points {
        out.push((ms, previous));
        out.push((ms, 100.0 * share));
        previous = 100.0 * share;
    }
    out
}

/// True when the populated bucket bounds are evenly spaced (within 10 %), as in hey-style histograms.
pub(crate) fn evenly_spaced(buckets: &[data::HistogramBucket]) -> bool {
    let widths: Vec<f64> = buckets
        .windows(2)
        .map(|w| w[1].le_ms - w[0].le_ms)
        .collect();
    let (Some(narrowest), Some(widest)) = (
        widths.iter().copied().reduce(f64::min),
        widths.iter().copied().reduce(f64::max),
    ) else {
        return true;
    };
    narrowest > 0.0 && widest <= narrowest * 1.1
}

pub(super) fn configure_cdf_mesh<'a, DB, X>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
    x_desc: &str,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("requests at or below (%)")
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .max_light_lines(2)
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    Ok(())
}

pub(super) fn draw_cdf<DB, X>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, RangedCoordf64>>,
    cdf: &[(f64, f64)],
    markers: &[(f64, f64, &str)],
    x_range: (f64, f64),
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
{
    chart.draw_series(LineSeries::new(
        cdf.iter().copied(),
        PALETTE[0].stroke_width(2),
    ))?;
    let visible: Vec<&(f64, f64, &str)> = markers
        .iter()
        .filter(|m| m.0 > x_range.0 && m.0 < x_range.1)
        .collect();
    chart.draw_series(
        visible
            .iter()
            .map(|&&(ms, share, _)| Circle::new((ms, share), 5, PALETTE[3].filled())),
    )?;
    // Labels go on the side of the dot with more room, away from the axis and the plot edge.
    let x_pixels = chart.plotting_area().get_pixel_range().0;
    let middle = (x_pixels.start + x_pixels.end) / 2;
    let base_style = TextStyle::from((FONT, 13).into_font()).color(&PALETTE[3]);
    let labels: Vec<Text<'_, (f64, f64), String>> = visible
        .iter()
        .map(|&&(ms, share, label)| {
            let text = format!("{label} {} ms", tick(&ms));
            if chart.backend_coord(&(ms, share)).0 < middle {
                let style = base_style.pos(Pos::new(HPos::Left, VPos::Center));
                Text::new(format!("   {text}"), (ms, share), style)
            } else {
                let style = base_style.pos(Pos::new(HPos::Right, VPos::Center));
                Text::new(format!("{text}   "), (ms, share), style)
            }
        })
        .collect();
    chart.draw_series(labels)?;
    Ok(())
}
