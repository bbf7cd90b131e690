//! The tuning chart of a sweep: every point's cost (pod-seconds) against its tail latency (p99), feasible
//! points in colour, the Pareto frontier joined by a line, the chosen configuration circled and the
//! latency bound, if any, dashed. Shares fonts, palette, header and mesh style with the run charts.

use super::*;

/// One point of a sweep on the chart.
#[derive(Clone, Debug, PartialEq)]
pub struct ParetoPoint {
    pub x: f64,
    pub y: f64,
    pub feasible: bool,
    pub frontier: bool,
    pub best: bool,
}

/// What [`write_pareto_plot`] draws.
#[derive(Clone, Debug, PartialEq)]
pub struct ParetoChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub points: Vec<ParetoPoint>,
    /// A horizontal bound on the y axis (a p99 constraint).
    pub y_bound: Option<f64>,
}

/// Writes `pareto.png` and `pareto.svg` into `out_dir`.
pub fn write_pareto_plot(chart: &ParetoChart, out_dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    write_charts(&[Chart::Pareto(chart)], out_dir)
}

pub(super) fn draw_pareto<DB: DrawingBackend>(
    data: &ParetoChart,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let finite: Vec<&ParetoPoint> = data
        .points
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    let feasible = finite.iter().filter(|p| p.feasible).count();
    let subtitle = format!(
        "{} points, {feasible} feasible; line: Pareto frontier (lower cost and lower p99 are better); circle: chosen",
        finite.len()
    );
    let (body, legend_area) = draw_header_with_legend(root, &data.title, &subtitle)?;
    let x_max = padded_max(finite.iter().map(|p| p.x).fold(0.0, f64::max));
    let y_top = finite
        .iter()
        .map(|p| p.y)
        .chain(data.y_bound)
        .fold(0.0, f64::max);
    let y_max = padded_max(y_top);
    let mut chart = build_time_chart(
        &body,
        0.0..x_max,
        0.0..y_max,
        &data.x_label,
        &data.y_label,
        10,
    )?;
    if let Some(b) = data.y_bound {
        let style = PALETTE[3].stroke_width(1);
        let dashes = (0..40).map(|i| {
            let a = x_max * i as f64 / 40.0;
            vec![(a, b), (a + x_max / 80.0, b)]
        });
        for d in dashes {
            chart.draw_series(LineSeries::new(d, style))?;
        }
    }
    chart.draw_series(
        finite
            .iter()
            .filter(|p| !p.feasible)
            .map(|p| Circle::new((p.x, p.y), 4, GREY.mix(0.6).filled())),
    )?;
    chart.draw_series(
        finite
            .iter()
            .filter(|p| p.feasible)
            .map(|p| Circle::new((p.x, p.y), 4, PALETTE[0].filled())),
    )?;
    let mut frontier: Vec<(f64, f64)> = finite
        .iter()
        .filter(|p| p.frontier)
        .map(|p| (p.x, p.y))
        .collect();
    frontier.sort_by(|a, b| a.0.total_cmp(&b.0));
    chart.draw_series(LineSeries::new(
        frontier.clone(),
        PALETTE[1].stroke_width(2),
    ))?;
    chart.draw_series(
        frontier
            .iter()
            .map(|&(x, y)| TriangleMarker::new((x, y), 6, PALETTE[1].filled())),
    )?;
    chart.draw_series(
        finite
            .iter()
            .filter(|p| p.best)
            .map(|p| Circle::new((p.x, p.y), 10, PALETTE[2].stroke_width(3))),
    )?;
    let mut legend = Legend::default();
    legend.push("feasible point", Glyph::Band(PALETTE[0]));
    legend.push("infeasible point", Glyph::Band(GREY));
    legend.push("Pareto frontier", Glyph::Triangle(PALETTE[1]));
    if data.points.iter().any(|p| p.best) {
        legend.push(
            "chosen (circled)",
            Glyph::Line(Stroke::solid(PALETTE[2], 3)),
        );
    }
    if data.y_bound.is_some() {
        legend.push("p99 bound", Glyph::Line(Stroke::dashed(PALETTE[3], 1)));
    }
    draw_legend(&legend_area, &legend)?;
    Ok(())
}
