//! Single-run charts of the autoscaler: replicas under the offered load, the KPA metric against its
//! target, the HPA per-pod metric against its per-pod target, and the queues.

use super::*;

pub(super) fn draw_replicas<DB: DrawingBackend>(
    run: &Run,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let mut frame = TimeFrame::for_run(root, run, "offered load and replicas")?;
    let axis = frame.axis;
    let series = &run.series;
    let times = series.times();
    // Offered load above the replica curve on the same time axis, so cause and response read together.
    let load_area = frame.split_top(HEIGHT / 4);
    let load_colour = PALETTE[4];
    if let (Some(arrivals_low), Some(arrivals)) =
        (series.column_low("arrivals"), series.column("arrivals"))
    {
        let load_max = padded_max(column_max(series, &["arrivals"]));
        let mut load = build_time_chart(
            &load_area,
            axis.range(frame.span),
            0.0..load_max,
            "",
            "arrivals/s",
            4,
        )?;
        for segment in segments(&times, arrivals_low, arrivals, axis) {
            load.draw_series(LineSeries::new(segment, load_colour.stroke_width(2)))?;
        }
    }
    let curves: [(&str, &str, RGBColor, u32); 5] = [
        ("ready_pods", "ready", PALETTE[2], 3),
        // Thin and on top of the thick ready curve, so both stay visible where they coincide.
        ("desired_pods", "desired", PALETTE[0], 1),
        ("pending_pods", "pending", PALETTE[1], 2),
        ("starting_pods", "starting", PALETTE[7], 2),
        ("terminating_pods", "terminating", GREY, 2),
    ];
    let names: Vec<&str> = curves.iter().map(|c| c.0).collect();
    let y_max = padded_max(column_max(series, &names)).max(2.0);
    let mut plot = frame.count_plot(y_max, "pods")?;
    if series.column("arrivals").is_some() {
        plot.legend.push(
            "offered load (arrivals/s, top)",
            Glyph::Line(Stroke::solid(load_colour, 2)),
        );
    }

    plot.bands(
        &flagged_intervals(series, &times, "panic"),
        PANIC_SHADE,
        "panic mode",
    )?;
    for (column, label, colour, width) in curves {
        // Transitional states that never occurred (all zero) would only add legend clutter.
        let always_shown = matches!(column, "desired_pods" | "ready_pods");
        if !always_shown && column_max(series, &[column]) == 0.0 {
            continue;
        }
        plot.column(series, &times, column, label, Stroke::solid(colour, width))?;
    }

    // Scale events: every second (bucket, in a long run) in which the desired count changed.
    if let (Some(desired_low), Some(desired)) = (
        series.column_low("desired_pods"),
        series.column("desired_pods"),
    ) {
        let events: Vec<(f64, f64)> = (1..desired.len())
            .filter_map(|row| match (desired[row - 1], desired[row]) {
                (Some(before), Some(after))
                    if before != after || desired_low[row] != Some(after) =>
                {
                    Some((times[row] / axis.seconds_per_unit, after))
                }
                _ => None,
            })
            .collect();
        if !events.is_empty() {
            let stride = events.len().div_ceil(MAX_MARKERS).max(1);
            plot.chart.draw_series(
                events
                    .iter()
                    .step_by(stride)
                    .map(|&point| TriangleMarker::new(point, 6, PALETTE[0].filled())),
            )?;
            // The legend column is narrow: say that markers were thinned, not by how much.
            let label = if stride > 1 {
                "scale events (thinned)"
            } else {
                "scale event"
            };
            plot.legend.push(label, Glyph::Triangle(PALETTE[0]));
        }
    }

    // Cron fires: a vertical line per fire, labelled with the job name while labels stay readable.
    if let Some(cron) = series.text_column("cron_fire") {
        let fires: Vec<(f64, &str)> = cron
            .iter()
            .enumerate()
            .filter(|(_, job)| !job.is_empty())
            .map(|(row, job)| (times[row] / axis.seconds_per_unit, job.as_str()))
            .collect();
        if !fires.is_empty() {
            let stride = fires.len().div_ceil(MAX_MARKERS).max(1);
            plot.chart
                .draw_series(fires.iter().step_by(stride).map(|&(x, _)| {
                    PathElement::new(vec![(x, 0.0), (x, y_max)], CRON_COLOUR.stroke_width(2))
                }))?;
            plot.legend
                .push("cron fire", Glyph::Line(Stroke::solid(CRON_COLOUR, 2)));
            if fires.len() <= 30 {
                let style = TextStyle::from((FONT, 12).into_font()).color(&CRON_COLOUR);
                plot.chart.draw_series(fires.iter().map(|&(x, job)| {
                    Text::new(format!(" {job}"), (x, y_max * 0.97), style.clone())
                }))?;
            }
        }
    }
    plot.finish()
}

pub(super) fn draw_metric<DB: DrawingBackend>(
    run: &Run,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    if data::text_at(&run.summary, "autoscaler").as_deref() == Some("hpa") {
        return draw_hpa_metric(run, root);
    }
    let frame = TimeFrame::for_run(root, run, "KPA metric vs target")?;
    let series = &run.series;
    let times = series.times();

    // The revision-level target is the per-pod target times the ready pods (at least one), matching how
    // the observed metric is reported as a revision total. Both factors are non-negative, so in a long
    // run the product of the bucket's lows and of its highs bound the target's envelope.
    let target_from = |per_pod: Option<&[Option<f64>]>, ready: Option<&[Option<f64>]>| match per_pod
    {
        Some(per_pod) => per_pod
            .iter()
            .enumerate()
            .map(|(row, t)| {
                let pods = ready.and_then(|r| r[row]).unwrap_or(0.0).max(1.0);
                t.map(|t| t * pods)
            })
            .collect(),
        None => vec![None; series.len()],
    };
    let target: Vec<Option<f64>> =
        target_from(series.column("target_per_pod"), series.column("ready_pods"));
    let target_low: Vec<Option<f64>> = target_from(
        series.column_low("target_per_pod"),
        series.column_low("ready_pods"),
    );
    let target_max = target.iter().flatten().copied().fold(0.0, f64::max);
    let y_max =
        padded_max(column_max(series, &["observed_stable", "observed_panic"]).max(target_max));
    let metric_name = data::settings(&run.summary)
        .into_iter()
        .find(|(k, _)| k == "metric")
        .map(|(_, v)| v)
        .unwrap_or_else(|| "metric".into());
    let mut plot = frame.linear_plot(y_max, &format!("{metric_name} (revision total)"))?;

    plot.bands(
        &flagged_intervals(series, &times, "panic"),
        PANIC_SHADE,
        "panic mode",
    )?;
    plot.column(
        series,
        &times,
        "observed_panic",
        "observed (panic window)",
        Stroke::solid(PALETTE[1], 1),
    )?;
    plot.column(
        series,
        &times,
        "observed_stable",
        "observed (stable window)",
        Stroke::solid(PALETTE[0], 2),
    )?;
    // An all-empty target draws nothing and adds no legend entry.
    plot.curve(
        &segments(&times, &target_low, &target, frame.axis),
        "target x max(ready, 1)",
        Stroke::dashed(BLACK, 2),
    )?;
    plot.finish()
}

/// The HPA compares each metric's per-pod value (average utilization or average value) with the per-pod
/// target, so that is what is drawn: `hpa_metric` (the first metric at the last sync) against
/// `target_per_pod`, with the HPA's proposal and final recommendation as replica counts would need a
/// second axis and are on the replicas chart instead.
pub(super) fn draw_hpa_metric<DB: DrawingBackend>(
    run: &Run,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let frame = TimeFrame::for_run(root, run, "HPA metric vs target (per pod)")?;
    let series = &run.series;
    let times = series.times();
    let y_max = padded_max(column_max(series, &["hpa_metric", "target_per_pod"]));
    let metric = data::settings(&run.summary)
        .into_iter()
        .find(|(k, _)| k == "metrics")
        .map(|(_, v)| v)
        .unwrap_or_else(|| "metric".into());
    let name = metric.split_whitespace().next().unwrap_or("metric");
    let unit = if metric.ends_with('%') {
        format!("{name} utilization (% of request), per-pod average")
    } else {
        format!("{name}, per-pod average")
    };
    let mut plot = frame.linear_plot(y_max, &unit)?;
    plot.column(
        series,
        &times,
        "hpa_metric",
        "metric at the last HPA sync (per-pod average)",
        Stroke::solid(PALETTE[0], 2),
    )?;
    plot.column(
        series,
        &times,
        "target_per_pod",
        "HPA target (per pod)",
        Stroke::dashed(BLACK, 2),
    )?;
    plot.finish()
}

pub(super) fn draw_queues<DB: DrawingBackend>(
    run: &Run,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let frame = TimeFrame::for_run(root, run, "queued and in-flight requests")?;
    let series = &run.series;
    let times = series.times();
    let curves: [(&str, &str, RGBColor, u32); 3] = [
        ("in_flight", "in flight (all)", GREY, 1),
        ("activator_queue", "activator queue", PALETTE[3], 2),
        (
            "queue_proxy_queue",
            "queue-proxy queues (sum)",
            PALETTE[0],
            2,
        ),
    ];
    let names: Vec<&str> = curves.iter().map(|c| c.0).collect();
    let y_max = padded_max(column_max(series, &names)).max(2.0);
    let mut plot = frame.linear_plot(y_max, "requests")?;
    plot.bands(
        &flagged_intervals(series, &times, "activator_in_path"),
        ACTIVATOR_SHADE,
        "activator in request path",
    )?;
    for (column, label, colour, width) in curves {
        plot.column(series, &times, column, label, Stroke::solid(colour, width))?;
    }
    plot.finish()
}
