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
mod compare;
mod curves;
mod header;
mod latency;
mod legend;
mod pareto;
mod single;
mod time_chart;
pub use cluster::{cluster_chart, write_cluster_plot, ClusterChart};
use compare::*;
use curves::*;
pub(crate) use header::settings_line;
use header::*;
pub(crate) use latency::evenly_spaced;
use latency::*;
use legend::*;
pub use pareto::{write_pareto_plot, ParetoChart, ParetoPoint};
use single::*;
use time_chart::*;

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
static REGULAR_FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
static BOLD_FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");
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
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_bounds_points_and_keeps_spikes() {
        let times: Vec<f64> = (0..86_400).map(f64::from).collect();
        let mut values: Vec<Option<f64>> = vec![Some(1.0); times.len()];
        values[40_000] = Some(500.0);
        let curve = segments(&times, &values, &values, TimeAxis::for_span(86_400.0));
        let points: usize = curve.iter().map(Vec::len).sum();
        assert!(points <= 2 * MAX_BUCKETS, "{points}");
        assert!(curve.iter().flatten().any(|&(_, y)| y == 500.0));
    }

    #[test]
    fn bucketed_rows_draw_their_envelope() {
        let times = [0.0, 32.0, 64.0];
        let low = [Some(1.0), Some(0.0), Some(1.0)];
        let high = [Some(1.0), Some(9.0), Some(1.0)];
        let curve = segments(&times, &low, &high, TimeAxis::for_span(96.0));
        let seconds = TimeAxis::for_span(96.0).seconds_per_unit;
        let ys: Vec<f64> = curve.iter().flatten().map(|p| p.1).collect();
        assert_eq!(ys, [1.0, 0.0, 9.0, 1.0]);
        assert_eq!(curve[0][1].0, 32.0 / seconds);
    }

    #[test]
    fn empty_fields_split_segments() {
        let times = [0.0, 1.0, 2.0, 3.0];
        let values = [Some(1.0), None, Some(2.0), Some(3.0)];
        let curve = segments(&times, &values, &values, TimeAxis::for_span(4.0));
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
        let bands = intervals(&times, 1.0, |row| (100..160).contains(&row));
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
