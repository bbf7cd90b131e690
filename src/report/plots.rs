//! Charts of one run (replicas, autoscaler metric, latency, latency distribution, queues) and overlays of
//! several runs, each rendered to PNG and SVG in memory and then written atomically.
//!
//! Assumptions and choices:
//! - Fonts come from the bundled DejaVu Sans, registered once as the `sans-serif` family, so rendering
//!   never depends on system fonts.
//! - Long runs are decimated for drawing (min and max kept per bucket of seconds, so spikes survive);
//!   a 24 h run with 86,400 rows draws about 3,000 points per curve.
//! - Empty CSV fields break a curve instead of being drawn as zero.
//! - A chart whose data the run does not have (e.g. no autoscaler metric for a fixed-size run) is skipped.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::register_font;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::data::{self, latency_histogram, TimeSeries};
use super::{write_atomic, ReportError, Run};

mod cluster;
mod pareto;
pub use cluster::{write_cluster_plot, ClusterChart};
pub use pareto::{write_pareto_plot, ParetoChart, ParetoPoint};

type DrawResult<T = ()> = Result<T, Box<dyn Error>>;
/// A decimated curve: continuous segments of (time in axis units, value).
type Curve = Vec<Vec<(f64, f64)>>;

/// Pixel size of every chart.
pub(crate) const WIDTH: u32 = 1200;
/// See [`WIDTH`].
pub(crate) const HEIGHT: u32 = 600;
/// Upper bound on drawn points per curve; twice the number of buckets.
const MAX_BUCKETS: usize = 1500;
/// Latency curves keep one point per this many buckets (about one per horizontal pixel).
const LATENCY_BUCKETS: usize = 800;
/// Markers beyond this count are thinned so long runs stay legible.
const MAX_MARKERS: usize = 250;
/// Shaded intervals are merged across gaps shorter than 1/MAX_INTERVALS of the run.
const MAX_INTERVALS: f64 = 600.0;
/// Width of the legend column beside time charts, and the longest label it holds.
const LEGEND_WIDTH: u32 = 240;
const LEGEND_MAX_CHARS: usize = 24;
/// Opacity of shaded periods (panic, cold starts, activator in path).
const BAND_OPACITY: f64 = 0.15;
/// Narrowest drawn band as a fraction of the time axis.
const MIN_BAND_FRACTION: f64 = 1.0 / 400.0;
/// Latency axes switch to log scale when max/min reaches this ratio (two decades).
const LOG_SCALE_RATIO: f64 = 100.0;

const FONT: &str = "sans-serif";
static REGULAR_FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD_FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");
static FONTS_REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();

/// Qualitative palette for curves and runs (colour-blind friendly order).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];
const GREY: RGBColor = RGBColor(120, 120, 120);
const PANIC_SHADE: RGBColor = RGBColor(214, 39, 40);
const COLD_SHADE: RGBColor = RGBColor(31, 119, 180);
const ACTIVATOR_SHADE: RGBColor = RGBColor(255, 200, 0);
const CRON_COLOUR: RGBColor = RGBColor(148, 103, 189);

/// Registers the bundled fonts with plotters; idempotent and thread-safe.
pub(crate) fn ensure_fonts() -> Result<(), ReportError> {
    FONTS_REGISTERED
        .get_or_init(|| {
            register_font(FONT, FontStyle::Normal, REGULAR_FONT)
                .map_err(|_| "bundled DejaVuSans.ttf is not a valid font".to_string())?;
            register_font(FONT, FontStyle::Bold, BOLD_FONT)
                .map_err(|_| "bundled DejaVuSans-Bold.ttf is not a valid font".to_string())
        })
        .clone()
        .map_err(|message| ReportError::Plot {
            path: PathBuf::from("assets/fonts"),
            message,
        })
}

/// One chart; the variants borrow the runs they draw.
pub(crate) enum Chart<'a> {
    Replicas(&'a Run),
    Metric(&'a Run),
    Latency(&'a Run),
    Distribution(&'a Run),
    Queues(&'a Run),
    CompareReplicas(&'a [Run], &'a [String]),
    CompareLatency(&'a [Run], &'a [String]),
    Pareto(&'a ParetoChart),
    Cluster(&'a ClusterChart),
}

impl Chart<'_> {
    /// File name without extension.
    pub fn stem(&self) -> &'static str {
        match self {
            Chart::Replicas(_) => "replicas",
            Chart::Metric(_) => "autoscaler_metric",
            Chart::Latency(_) => "latency",
            Chart::Distribution(_) => "latency_distribution",
            Chart::Queues(_) => "queues",
            Chart::CompareReplicas(..) => "compare_replicas",
            Chart::CompareLatency(..) => "compare_latency",
            Chart::Pareto(_) => "pareto",
            Chart::Cluster(_) => "cluster",
        }
    }

    /// Human heading, also used in the HTML report.
    pub fn heading(&self) -> &'static str {
        match self {
            Chart::Replicas(_) => "Replicas",
            Chart::Metric(_) => "Autoscaler metric vs target",
            Chart::Latency(_) => "Latency over time",
            Chart::Distribution(_) => "Latency distribution",
            Chart::Queues(_) => "Queues",
            Chart::CompareReplicas(..) => "Replicas, all runs",
            Chart::CompareLatency(..) => "Latency, all runs",
            Chart::Pareto(_) => "Cost vs tail latency",
            Chart::Cluster(_) => "Pods by service, nodes by pool",
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        match self {
            Chart::Replicas(run) => draw_replicas(run, root),
            Chart::Metric(run) => draw_metric(run, root),
            Chart::Latency(run) => draw_latency(run, root),
            Chart::Distribution(run) => draw_distribution(run, root),
            Chart::Queues(run) => draw_queues(run, root),
            Chart::CompareReplicas(runs, labels) => draw_compare_replicas(runs, labels, root),
            Chart::CompareLatency(runs, labels) => draw_compare_latency(runs, labels, root),
            Chart::Pareto(data) => pareto::draw_pareto(data, root),
            Chart::Cluster(data) => cluster::draw_cluster(data, root),
        }
    }

    /// Renders to PNG bytes (RGB, 8 bit).
    pub fn render_png(&self) -> Result<Vec<u8>, ReportError> {
        ensure_fonts()?;
        let failure = |message: String| ReportError::Plot {
            path: PathBuf::from(format!("{}.png", self.stem())),
            message,
        };
        let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
            self.draw(&root).map_err(|e| failure(e.to_string()))?;
            root.present().map_err(|e| failure(e.to_string()))?;
        }
        let mut png_bytes = Vec::with_capacity(pixels.len() / 8);
        {
            let mut encoder = png::Encoder::new(&mut png_bytes, WIDTH, HEIGHT);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(|e| failure(e.to_string()))?;
            writer
                .write_image_data(&pixels)
                .map_err(|e| failure(e.to_string()))?;
            writer.finish().map_err(|e| failure(e.to_string()))?;
        }
        Ok(png_bytes)
    }

    /// Renders to an SVG document.
    pub fn render_svg(&self) -> Result<String, ReportError> {
        ensure_fonts()?;
        let failure = |message: String| ReportError::Plot {
            path: PathBuf::from(format!("{}.svg", self.stem())),
            message,
        };
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            self.draw(&root).map_err(|e| failure(e.to_string()))?;
            root.present().map_err(|e| failure(e.to_string()))?;
        }
        Ok(svg)
    }
}

/// The charts that have data in this run, in reading order.
pub(crate) fn run_charts(run: &Run) -> Vec<Chart<'_>> {
    let series = &run.series;
    let mut charts = vec![Chart::Replicas(run)];
    if series.has_values("observed_stable") || series.has_values("observed_panic") {
        charts.push(Chart::Metric(run));
    }
    if ["latency_p50_ms", "latency_p95_ms", "latency_p99_ms"]
        .iter()
        .any(|c| series.has_values(c))
    {
        charts.push(Chart::Latency(run));
    }
    if latency_histogram(&run.summary)
        .iter()
        .any(|b| b.count > 0.0)
    {
        charts.push(Chart::Distribution(run));
    }
    if series.has_values("activator_queue") || series.has_values("queue_proxy_queue") {
        charts.push(Chart::Queues(run));
    }
    charts
}

/// Renders every chart to memory first, then writes `<stem>.png` and `<stem>.svg` into `out_dir`, so a
/// drawing failure leaves the directory untouched.
pub(crate) fn write_charts(
    charts: &[Chart<'_>],
    out_dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut rendered = Vec::with_capacity(charts.len() * 2);
    for chart in charts {
        rendered.push((
            out_dir.join(format!("{}.png", chart.stem())),
            chart.render_png()?,
        ));
        rendered.push((
            out_dir.join(format!("{}.svg", chart.stem())),
            chart.render_svg()?.into_bytes(),
        ));
    }
    let mut written = Vec::with_capacity(rendered.len());
    for (path, bytes) in rendered {
        write_atomic(&path, &bytes).map_err(|e| ReportError::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// Writes the charts of the run in `run_dir` next to its data and returns the files written
/// (PNG and SVG per chart). Reads only `timeseries.csv` and `summary.json`.
pub fn write_plots(run_dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let run = Run::load(run_dir)?;
    write_charts(&run_charts(&run), run_dir)
}

// ---------------------------------------------------------------------------------------------------
// Shared pieces

/// Unit of the time axis, chosen so tick labels stay short.
#[derive(Clone, Copy)]
struct TimeAxis {
    seconds_per_unit: f64,
    span_units: f64,
    description: &'static str,
}

impl TimeAxis {
    fn for_span(span_s: f64) -> Self {
        let (seconds_per_unit, description) = if span_s <= 900.0 {
            (1.0, "simulated time (s)")
        } else if span_s <= 3.0 * 3600.0 {
            (60.0, "simulated time (min)")
        } else {
            (3600.0, "simulated time (h)")
        };
        Self {
            seconds_per_unit,
            span_units: span_s.max(1.0) / seconds_per_unit,
            description,
        }
    }

    fn range(&self, span_s: f64) -> std::ops::Range<f64> {
        0.0..(span_s.max(1.0) / self.seconds_per_unit)
    }
}

/// Compact tick label: no trailing zeros, few decimals.
fn tick(value: &f64) -> String {
    let magnitude = value.abs();
    let text = if magnitude >= 100.0 || magnitude == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 0.1 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// One line of key settings for chart subtitles.
pub(crate) fn settings_line(summary: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    if let Some(autoscaler) = data::text_at(summary, "autoscaler") {
        parts.push(format!("autoscaler {autoscaler}"));
    }
    if let Some(seed) = data::text_at(summary, "seed") {
        parts.push(format!("seed {seed}"));
    }
    for (key, value) in data::settings(summary) {
        parts.push(format!("{key} {value}"));
    }
    parts.join("  |  ")
}

/// Most characters of a subtitle line that fit the chart width at the subtitle's font size.
const SUBTITLE_LINE_CHARS: usize = 150;

/// Splits a `settings_line` at its separators into lines of at most [`SUBTITLE_LINE_CHARS`], so a
/// long subtitle wraps instead of being cut.
fn wrap_subtitle(line: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for part in line.split("  |  ") {
        match lines.last_mut() {
            Some(last)
                if last.chars().count() + 5 + part.chars().count() <= SUBTITLE_LINE_CHARS =>
            {
                last.push_str("  |  ");
                last.push_str(part);
            }
            _ => lines.push(part.to_string()),
        }
    }
    lines
}

/// Fills the canvas, draws a title and subtitle, and returns the area left for the chart.
fn draw_header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> DrawResult<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let lines = wrap_subtitle(subtitle);
    let (header, body) = root.split_vertically(46 + 18 * lines.len().max(1) as u32);
    header.draw_text(
        title,
        &(FONT, 22, FontStyle::Bold).into_text_style(&header),
        (16, 10),
    )?;
    let style = TextStyle::from((FONT, 14).into_font()).color(&RGBColor(80, 80, 80));
    for (i, line) in lines.iter().enumerate() {
        header.draw_text(line, &style, (16, 40 + 18 * i as i32))?;
    }
    Ok(body)
}

/// Like [`draw_header`], and splits off a legend column on the right of the chart area.
fn draw_header_with_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> DrawResult<(DrawingArea<DB, Shift>, DrawingArea<DB, Shift>)>
where
    DB::ErrorType: 'static,
{
    let body = draw_header(root, title, subtitle)?;
    Ok(body.split_horizontally(WIDTH - LEGEND_WIDTH))
}

fn run_title(run: &Run, what: &str) -> String {
    format!("{}: {what}", run.scenario())
}

/// Decimated curve as continuous segments in axis units; empty fields split segments.
fn segments(times: &[f64], values: &[Option<f64>], axis: TimeAxis) -> Vec<Vec<(f64, f64)>> {
    let rows = times.len().min(values.len());
    let bucket = rows.div_ceil(MAX_BUCKETS).max(1);
    let mut result = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for start in (0..rows).step_by(bucket) {
        let end = (start + bucket).min(rows);
        let present: Vec<usize> = (start..end).filter(|&i| values[i].is_some()).collect();
        if present.is_empty() {
            if !current.is_empty() {
                result.push(std::mem::take(&mut current));
            }
            continue;
        }
        let value = |i: usize| values[i].unwrap_or(0.0);
        let lowest = *present
            .iter()
            .min_by(|&&a, &&b| value(a).total_cmp(&value(b)))
            .unwrap_or(&present[0]);
        let highest = *present
            .iter()
            .max_by(|&&a, &&b| value(a).total_cmp(&value(b)))
            .unwrap_or(&present[0]);
        let (first, second) = if lowest <= highest {
            (lowest, highest)
        } else {
            (highest, lowest)
        };
        current.push((times[first] / axis.seconds_per_unit, value(first)));
        if second != first {
            current.push((times[second] / axis.seconds_per_unit, value(second)));
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
fn worst_per_bucket(times: &[f64], values: &[Option<f64>], axis: TimeAxis) -> Curve {
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
fn split_at_reversals(points: &[(i32, i32)]) -> Vec<Vec<(i32, i32)>> {
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

/// Intervals `[start, end)` in seconds where `flag(row)` holds, merged across short gaps.
fn intervals(times: &[f64], flag: impl Fn(usize) -> bool) -> Vec<(f64, f64)> {
    let span = times.last().copied().unwrap_or(0.0) + 1.0;
    let merge_gap = span / MAX_INTERVALS;
    let mut result: Vec<(f64, f64)> = Vec::new();
    for (row, &t) in times.iter().enumerate() {
        if !flag(row) {
            continue;
        }
        match result.last_mut() {
            Some(last) if t - last.1 <= merge_gap => last.1 = t + 1.0,
            _ => result.push((t, t + 1.0)),
        }
    }
    result
}

/// Intervals where the numeric column `name` is positive (see [`intervals`]); none when it is absent.
fn flagged_intervals(series: &TimeSeries, times: &[f64], name: &str) -> Vec<(f64, f64)> {
    let flags: Vec<bool> = series
        .column(name)
        .map(|c| c.iter().map(|v| v.is_some_and(|x| x > 0.0)).collect())
        .unwrap_or_else(|| vec![false; series.len()]);
    intervals(times, |row| flags[row])
}

fn column_max(series: &TimeSeries, names: &[&str]) -> f64 {
    names
        .iter()
        .filter_map(|name| series.column(name))
        .flat_map(|c| c.iter().flatten().copied())
        .fold(0.0, f64::max)
}

/// How a curve is stroked, and drawn in the legend.
#[derive(Clone, Copy)]
struct Stroke {
    colour: RGBColor,
    width: u32,
    dashed: bool,
}

impl Stroke {
    fn solid(colour: RGBColor, width: u32) -> Self {
        Self {
            colour,
            width,
            dashed: false,
        }
    }

    fn dashed(colour: RGBColor, width: u32) -> Self {
        Self {
            colour,
            width,
            dashed: true,
        }
    }
}

/// A curve ready to draw, with its legend label and stroke.
struct LabelledCurve {
    label: String,
    stroke: Stroke,
    points: Curve,
}

/// What every chart over simulated time shares: the header, the legend column beside the plot and the
/// time axis covering `span` seconds.
struct TimeFrame<DB: DrawingBackend> {
    body: DrawingArea<DB, Shift>,
    legend_area: DrawingArea<DB, Shift>,
    axis: TimeAxis,
    span: f64,
}

impl<DB: DrawingBackend> TimeFrame<DB>
where
    DB::ErrorType: 'static,
{
    /// Draws the header and splits off the legend column.
    fn new(
        root: &DrawingArea<DB, Shift>,
        title: &str,
        subtitle: &str,
        span: f64,
    ) -> DrawResult<Self> {
        let (body, legend_area) = draw_header_with_legend(root, title, subtitle)?;
        Ok(Self {
            body,
            legend_area,
            axis: TimeAxis::for_span(span),
            span,
        })
    }

    /// The frame of a one-run chart: "<scenario>: <what>", its key settings, its whole time series.
    fn for_run(root: &DrawingArea<DB, Shift>, run: &Run, what: &str) -> DrawResult<Self> {
        let span = run.series.end_time() + 1.0;
        Self::new(
            root,
            &run_title(run, what),
            &settings_line(&run.summary),
            span,
        )
    }

    /// A plot with a linear y axis from 0 to `y_max`.
    fn linear_plot(
        &self,
        y_max: f64,
        y_desc: &str,
    ) -> DrawResult<TimePlot<'_, DB, RangedCoordf64>> {
        let chart = build_time_chart(
            &self.body,
            self.axis.range(self.span),
            0.0..y_max,
            self.axis.description,
            y_desc,
            10,
        )?;
        Ok(self.plot(chart, (0.0, y_max)))
    }

    /// A plot of whole counts (pods): a linear y axis from 0 to a whole `y_max` with ticks only at whole
    /// numbers.
    fn count_plot(&self, y_max: f64, y_desc: &str) -> DrawResult<TimePlot<'_, DB, RangedCoordf64>> {
        let y_max = y_max.ceil().max(1.0);
        let labels = (y_max as usize + 1).min(11);
        let chart = build_time_chart(
            &self.body,
            self.axis.range(self.span),
            0.0..y_max,
            self.axis.description,
            y_desc,
            labels,
        )?;
        Ok(self.plot(chart, (0.0, y_max)))
    }

    /// Splits `pixels` off the top of the plot area (for a panel above the main plot) and returns it.
    fn split_top(&mut self, pixels: u32) -> DrawingArea<DB, Shift> {
        let (top, bottom) = self.body.split_vertically(pixels);
        self.body = bottom;
        top
    }

    /// A plot with a logarithmic y axis from `low` to `high`.
    fn log_plot(
        &self,
        (low, high): (f64, f64),
        y_desc: &str,
        y_labels: usize,
    ) -> DrawResult<TimePlot<'_, DB, LogCoord<f64>>> {
        let chart = build_time_chart(
            &self.body,
            self.axis.range(self.span),
            (low..high).log_scale(),
            self.axis.description,
            y_desc,
            y_labels,
        )?;
        Ok(self.plot(chart, (low, high)))
    }

    fn plot<'a, Y: Ranged<ValueType = f64>>(
        &'a self,
        chart: ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
        y_range: (f64, f64),
    ) -> TimePlot<'a, DB, Y> {
        TimePlot {
            chart,
            legend_area: &self.legend_area,
            legend: Legend::default(),
            axis: self.axis,
            y_range,
        }
    }
}

/// A chart over simulated time being drawn; collects legend entries for [`TimePlot::finish`].
struct TimePlot<'a, DB: DrawingBackend, Y: Ranged<ValueType = f64>> {
    chart: ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    legend_area: &'a DrawingArea<DB, Shift>,
    legend: Legend,
    axis: TimeAxis,
    y_range: (f64, f64),
}

impl<DB, Y> TimePlot<'_, DB, Y>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    Y: Ranged<ValueType = f64>,
{
    /// Draws a curve (possibly several segments) with one legend entry.
    fn curve(&mut self, curve: &[Vec<(f64, f64)>], label: &str, stroke: Stroke) -> DrawResult {
        let Stroke {
            colour,
            width,
            dashed,
        } = stroke;
        let chart = &mut self.chart;
        let style = colour.stroke_width(width);
        let plotting_area = chart.plotting_area();
        let (base_x, base_y) = plotting_area.get_base_pixel();
        let pixel_area = plotting_area.strip_coord_spec();
        for segment in curve {
            if dashed {
                chart.draw_series(DashedLineSeries::new(segment.iter().copied(), 10, 6, style))?;
                continue;
            }
            // Solid curves are stroked in pixel space; see `split_at_reversals` for why.
            let mut pixels: Vec<(i32, i32)> = segment
                .iter()
                .map(|point| {
                    let (x, y) = chart.backend_coord(point);
                    (x - base_x, y - base_y)
                })
                .collect();
            pixels.dedup();
            if let [single] = pixels[..] {
                pixel_area.draw(&Circle::new(single, width.max(2), style.filled()))?;
                continue;
            }
            for run in split_at_reversals(&pixels) {
                pixel_area.draw(&PathElement::new(run, style))?;
            }
        }
        if !curve.is_empty() {
            self.legend.push(label, Glyph::Line(stroke));
        }
        Ok(())
    }

    /// Draws a numeric column of `series` (decimated by [`segments`]) when it holds any value.
    fn column(
        &mut self,
        series: &TimeSeries,
        times: &[f64],
        column: &str,
        label: &str,
        stroke: Stroke,
    ) -> DrawResult {
        match series.column(column).filter(|_| series.has_values(column)) {
            Some(values) => self.curve(&segments(times, values, self.axis), label, stroke),
            None => Ok(()),
        }
    }

    /// Draws each curve in order.
    fn curves(&mut self, curves: &[LabelledCurve]) -> DrawResult {
        for curve in curves {
            self.curve(&curve.points, &curve.label, curve.stroke)?;
        }
        Ok(())
    }

    /// Shades vertical bands (seconds) over the whole y range, with one legend entry when any band exists.
    fn bands(&mut self, bands: &[(f64, f64)], colour: RGBColor, label: &str) -> DrawResult {
        if bands.is_empty() {
            return Ok(());
        }
        let axis = self.axis;
        let (y_low, y_high) = self.y_range;
        let fill = colour.mix(BAND_OPACITY).filled();
        // Very short bands (a few seconds of a long run) would be thinner than a pixel; widen them to stay visible.
        let min_width = axis.span_units * MIN_BAND_FRACTION;
        self.chart.draw_series(bands.iter().map(|&(start, end)| {
            let start = start / axis.seconds_per_unit;
            let end = (end / axis.seconds_per_unit).max(start + min_width);
            Rectangle::new([(start, y_low), (end, y_high)], fill)
        }))?;
        self.legend.push(label, Glyph::Band(colour));
        Ok(())
    }

    /// Draws the collected legend beside the plot.
    fn finish(self) -> DrawResult {
        draw_legend(self.legend_area, &self.legend)
    }
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
enum Glyph {
    Line(Stroke),
    Band(RGBColor),
    Triangle(RGBColor),
}

/// Legend entries collected while drawing, rendered beside the plot so they never hide data.
#[derive(Default)]
struct Legend {
    entries: Vec<(String, Glyph)>,
}

impl Legend {
    fn push(&mut self, label: &str, glyph: Glyph) {
        self.entries.push((label.to_string(), glyph));
    }
}

fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, legend: &Legend) -> DrawResult
where
    DB::ErrorType: 'static,
{
    const ROW: i32 = 24;
    const LINE: i32 = 17;
    const TOP: i32 = 22;
    let text_style = TextStyle::from((FONT, 14).into_font()).color(&BLACK);
    let mut y = TOP - ROW;
    let mut extra_lines = 0;
    for (label, glyph) in &legend.entries {
        y += ROW + LINE * extra_lines;
        let lines = wrap_words(label, LEGEND_MAX_CHARS);
        extra_lines = lines.len().saturating_sub(1) as i32;
        match *glyph {
            Glyph::Line(Stroke {
                colour,
                width,
                dashed,
            }) => {
                let style = colour.stroke_width(width);
                if dashed {
                    area.draw(&PathElement::new(vec![(6, y), (14, y)], style))?;
                    area.draw(&PathElement::new(vec![(20, y), (30, y)], style))?;
                } else {
                    area.draw(&PathElement::new(vec![(6, y), (30, y)], style))?;
                }
            }
            Glyph::Band(colour) => {
                area.draw(&Rectangle::new(
                    [(6, y - 7), (30, y + 7)],
                    colour.mix(BAND_OPACITY * 2.0).filled(),
                ))?;
            }
            Glyph::Triangle(colour) => {
                area.draw(&TriangleMarker::new((18, y), 6, colour.filled()))?;
            }
        }
        for (i, line) in lines.iter().enumerate() {
            area.draw_text(line, &text_style, (38, y - 5 + LINE * i as i32))?;
        }
    }
    Ok(())
}

/// Splits `text` at spaces into lines of at most `width` characters (a longer word gets its own line).
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(last) if last.chars().count() + 1 + word.chars().count() <= width => {
                last.push(' ');
                last.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// A chart with the shared margins and mesh style; `y_range` is a plain or log-scale range.
fn build_time_chart<'a, DB, Y>(
    area: &'a DrawingArea<DB, Shift>,
    x_range: std::ops::Range<f64>,
    y_range: Y,
    x_desc: &str,
    y_desc: &str,
    y_labels: usize,
) -> DrawResult<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y::CoordDescType>>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .margin_left(12)
        .margin_right(28)
        .margin_bottom(8)
        .x_label_area_size(52)
        .y_label_area_size(78)
        .build_cartesian_2d(x_range, y_range)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(12)
        .y_labels(y_labels)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .max_light_lines(2)
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    Ok(chart)
}

fn padded_max(value: f64) -> f64 {
    if value <= 0.0 {
        1.0
    } else {
        value * 1.12
    }
}

// ---------------------------------------------------------------------------------------------------
// Single-run charts

fn draw_replicas<DB: DrawingBackend>(run: &Run, root: &DrawingArea<DB, Shift>) -> DrawResult
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
    if let Some(arrivals) = series.column("arrivals") {
        let load_max = padded_max(column_max(series, &["arrivals"]));
        let mut load = build_time_chart(
            &load_area,
            axis.range(frame.span),
            0.0..load_max,
            "",
            "arrivals/s",
            4,
        )?;
        for segment in segments(&times, arrivals, axis) {
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

    // Scale events: every second in which the desired count changed.
    if let Some(desired) = series.column("desired_pods") {
        let events: Vec<(f64, f64)> = (1..desired.len())
            .filter_map(|row| match (desired[row - 1], desired[row]) {
                (Some(before), Some(after)) if before != after => {
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

fn draw_metric<DB: DrawingBackend>(run: &Run, root: &DrawingArea<DB, Shift>) -> DrawResult
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
    // the observed metric is reported as a revision total.
    let target: Vec<Option<f64>> =
        match (series.column("target_per_pod"), series.column("ready_pods")) {
            (Some(per_pod), ready) => per_pod
                .iter()
                .enumerate()
                .map(|(row, t)| {
                    let pods = ready.and_then(|r| r[row]).unwrap_or(0.0).max(1.0);
                    t.map(|t| t * pods)
                })
                .collect(),
            (None, _) => vec![None; series.len()],
        };
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
        &segments(&times, &target, frame.axis),
        "target x max(ready, 1)",
        Stroke::dashed(BLACK, 2),
    )?;
    plot.finish()
}

/// The HPA compares each metric's per-pod value (average utilization or average value) with the per-pod
/// target, so that is what is drawn: `hpa_metric` (the first metric at the last sync) against
/// `target_per_pod`, with the HPA's proposal and final recommendation as replica counts would need a
/// second axis and are on the replicas chart instead.
fn draw_hpa_metric<DB: DrawingBackend>(run: &Run, root: &DrawingArea<DB, Shift>) -> DrawResult
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

/// Drawn in this order with these widths: where percentiles coincide (a quiet second, one request) the
/// higher one is drawn on top and thinner, so p99 is never hidden under p95 and both stay visible.
const LATENCY_CURVES: [(&str, &str, RGBColor, u32); 3] = [
    ("latency_p50_ms", "p50", PALETTE[2], 5),
    ("latency_p95_ms", "p95", PALETTE[1], 3),
    ("latency_p99_ms", "p99", PALETTE[3], 1),
];

/// Positive range of the values, and whether it spans enough decades to need a log axis.
///
/// The decision uses the 1st percentile rather than the minimum, so one lucky sub-millisecond second
/// does not switch a run to log scale; the range itself still covers every value.
fn latency_scale(values: impl Iterator<Item = f64>) -> (f64, f64, bool) {
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

fn draw_latency<DB: DrawingBackend>(run: &Run, root: &DrawingArea<DB, Shift>) -> DrawResult
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
fn draw_latency_plot<DB: DrawingBackend>(
    frame: &TimeFrame<DB>,
    cold_starts: &[(f64, f64)],
    curves: &[LabelledCurve],
    log_y_labels: usize,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    fn fill<DB, Y>(
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

fn draw_distribution<DB: DrawingBackend>(run: &Run, root: &DrawingArea<DB, Shift>) -> DrawResult
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
fn cdf_steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
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

fn configure_cdf_mesh<'a, DB, X>(
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

fn draw_cdf<DB, X>(
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

fn draw_queues<DB: DrawingBackend>(run: &Run, root: &DrawingArea<DB, Shift>) -> DrawResult
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

// ---------------------------------------------------------------------------------------------------
// Overlays of several runs

/// The frame of an overlay: a fixed title, the run labels as subtitle, the longest run's time span.
fn compare_frame<DB: DrawingBackend>(
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
    TimeFrame::new(root, title, &labels.join("  |  "), span)
}

fn draw_compare_replicas<DB: DrawingBackend>(
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

fn draw_compare_latency<DB: DrawingBackend>(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_bounds_points_and_keeps_spikes() {
        let times: Vec<f64> = (0..86_400).map(f64::from).collect();
        let mut values: Vec<Option<f64>> = vec![Some(1.0); times.len()];
        values[40_000] = Some(500.0);
        let curve = segments(&times, &values, TimeAxis::for_span(86_400.0));
        let points: usize = curve.iter().map(Vec::len).sum();
        assert!(points <= 2 * MAX_BUCKETS, "{points}");
        assert!(curve.iter().flatten().any(|&(_, y)| y == 500.0));
    }

    #[test]
    fn empty_fields_split_segments() {
        let times = [0.0, 1.0, 2.0, 3.0];
        let values = [Some(1.0), None, Some(2.0), Some(3.0)];
        let curve = segments(&times, &values, TimeAxis::for_span(4.0));
        assert_eq!(curve, vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]);
    }

    #[test]
    fn spikes_are_split_into_monotonic_runs() {
        let points = [(0, 10), (1, 90), (2, 10), (4, 10), (6, 20)];
        assert_eq!(
            split_at_reversals(&points),
            vec![
                vec![(0, 10), (1, 90)],
                vec![(1, 90), (2, 10), (4, 10), (6, 20)]
            ]
        );
    }

    #[test]
    fn one_tiny_latency_does_not_force_log_scale() {
        let mut values: Vec<f64> = (0..1000).map(|i| 100.0 + f64::from(i % 50)).collect();
        values.push(0.05);
        let (low, _, log) = latency_scale(values.into_iter());
        assert_eq!(low, 0.05);
        assert!(!log);
        let (_, _, log) = latency_scale([20.0, 25.0, 9000.0, 30.0].into_iter());
        assert!(
            log,
            "a cold-start spike two decades above the rest needs a log axis"
        );
    }

    #[test]
    fn worst_second_of_each_bucket_is_kept() {
        let times: Vec<f64> = (0..10_000).map(f64::from).collect();
        let mut values: Vec<Option<f64>> = vec![Some(10.0); times.len()];
        values[1234] = Some(7000.0);
        let curve = worst_per_bucket(&times, &values, TimeAxis::for_span(10_000.0));
        let points: Vec<&(f64, f64)> = curve.iter().flatten().collect();
        assert!(points.len() <= LATENCY_BUCKETS);
        assert_eq!(points.iter().filter(|p| p.1 == 7000.0).count(), 1);
    }

    #[test]
    fn hey_style_buckets_are_recognised_as_even() {
        let bucket = |le_ms| data::HistogramBucket { le_ms, count: 1.0 };
        assert!(evenly_spaced(&[bucket(10.0), bucket(20.0), bucket(30.0)]));
        assert!(!evenly_spaced(&[
            bucket(10.0),
            bucket(20.0),
            bucket(50.0),
            bucket(100.0)
        ]));
    }

    #[test]
    fn intervals_cover_flagged_seconds() {
        let times: Vec<f64> = (0..1000).map(f64::from).collect();
        let bands = intervals(&times, |row| (100..160).contains(&row));
        assert_eq!(bands, vec![(100.0, 160.0)]);
    }

    #[test]
    fn long_subtitles_and_legend_labels_wrap_without_losing_text() {
        let parts: Vec<String> = (0..30).map(|i| format!("key{i} value{i}")).collect();
        let line = parts.join("  |  ");
        let lines = wrap_subtitle(&line);
        assert!(lines.len() > 1);
        assert!(lines
            .iter()
            .all(|l| l.chars().count() <= SUBTITLE_LINE_CHARS));
        assert_eq!(lines.join("  |  "), line);
        let label = "metric at the last HPA sync (per-pod average)";
        let wrapped = wrap_words(label, LEGEND_MAX_CHARS);
        assert_eq!(wrapped.len(), 2);
        assert!(wrapped
            .iter()
            .all(|l| l.chars().count() <= LEGEND_MAX_CHARS));
        assert_eq!(wrapped.join(" "), label);
    }

    #[test]
    fn tick_labels_are_compact() {
        assert_eq!(tick(&0.0), "0");
        assert_eq!(tick(&2.5), "2.5");
        assert_eq!(tick(&12.0), "12");
        assert_eq!(tick(&1500.0), "1500");
        assert_eq!(tick(&0.05), "0.05");
    }
}
