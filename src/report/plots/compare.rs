//! Overlays of several runs (`podscale compare`): replicas and latency on one time axis.

use super::*;

/// The frame of an overlay: a fixed title, the run labels as subtitle, the longest run's time span.
pub(super) fn compare_frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    runs: &[Run],
    labels: &[String],
    title: &str,
) -> DrawResult<TimeFrame<DB>>
where
    DB::ErrorType: 'static,
{
    let span = runs
        .iter()
        .map(|r| r.series.end_time() + 1.0)
        .fold(1.0, f64::max);
    let mut subtitle = labels.join("  |  ");
    if let Some(note) = envelope_note(runs.iter().map(|r| &r.series)) {
        subtitle = format!("{subtitle}  |  {note}");
    }
    TimeFrame::new(root, title, &subtitle, span)
}

pub(super) fn draw_compare_replicas<DB: DrawingBackend>(
    runs: &[Run],
    labels: &[String],
    root: &DrawingArea<DB, Shift>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let frame = compare_frame(
        root,
        runs,
        labels,
        "Replicas: ready (solid) and desired (dashed) per run",
    )?;
    let y_max = padded_max(
        runs.iter()
            .map(|r| column_max(&r.series, &["ready_pods", "desired_pods"]))
            .fold(0.0, f64::max),
    )
    .max(2.0);
    let mut plot = frame.linear_plot(y_max, "pods")?;
    for (index, (run, label)) in runs.iter().zip(labels).enumerate() {
        let colour = PALETTE[index % PALETTE.len()];
        let times = run.series.times();
        plot.column(
            &run.series,
            &times,
            "desired_pods",
            &format!("{label} desired"),
            Stroke::dashed(colour, 1),
        )?;
        plot.column(
            &run.series,
            &times,
            "ready_pods",
            &format!("{label} ready"),
            Stroke::solid(colour, 2),
        )?;
    }
    plot.finish()
}

pub(super) fn draw_compare_latency<DB: DrawingBackend>(
    runs: &[Run],
    labels: &[String],
    root: &DrawingArea<DB, Shift>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let frame = compare_frame(
        root,
        runs,
        labels,
        "Latency: p99 (solid) and p50 (dashed) per run",
    )?;
    let curves: Vec<LabelledCurve> = runs
        .iter()
        .zip(labels)
        .enumerate()
        .flat_map(|(index, (run, label))| {
            let colour = PALETTE[index % PALETTE.len()];
            let times = run.series.times();
            [
                ("latency_p50_ms", "p50", Stroke::dashed(colour, 1)),
                ("latency_p99_ms", "p99", Stroke::solid(colour, 2)),
            ]
            .into_iter()
            .filter_map(|(column, name, stroke)| {
                let values = run.series.column(column)?;
                Some(LabelledCurve {
                    label: format!("{label} {name}"),
                    stroke,
                    points: worst_per_bucket(&times, values, frame.axis),
                })
            })
            .collect::<Vec<_>>()
        })
        .collect();
    // No cold-start bands across runs; 11 log labels is the plotters default the overlay always used.
    draw_latency_plot(&frame, &[], &curves, 11)
}
