//! Charts over simulated time: [`TimeFrame`] (header, legend column, time axis), [`TimePlot`] (a mesh
//! on that frame that draws labelled curves and shaded bands and collects their legend entries) and the
//! shared mesh style.

use super::*;

/// What every chart over simulated time shares: the header, the legend column beside the plot and the
/// time axis covering `span` seconds.
pub(super) struct TimeFrame<DB: DrawingBackend> {
    pub(super) body: DrawingArea<DB, Shift>,
    pub(super) legend_area: DrawingArea<DB, Shift>,
    pub(super) axis: TimeAxis,
    pub(super) span: f64,
}

impl<DB: DrawingBackend> TimeFrame<DB>
where
    DB::ErrorType: 'static,
{
    /// Draws the header and splits off the legend column.
    pub(super) fn new(
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
    pub(super) fn for_run(
        root: &DrawingArea<DB, Shift>,
        run: &Run,
        what: &str,
    ) -> DrawResult<Self> {
        let span = run.series.end_time() + 1.0;
        let mut subtitle = settings_line(&run.summary);
        if let Some(note) = envelope_note(std::iter::once(&run.series)) {
            subtitle = format!("{subtitle}  |  {note}");
        }
        Self::new(root, &run_title(run, what), &subtitle, span)
    }

    /// A plot with a linear y axis from 0 to `y_max`.
    pub(super) fn linear_plot(
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
    pub(super) fn count_plot(
        &self,
        y_max: f64,
        y_desc: &str,
    ) -> DrawResult<TimePlot<'_, DB, RangedCoordf64>> {
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
    pub(super) fn split_top(&mut self, pixels: u32) -> DrawingArea<DB, Shift> {
        let (top, bottom) = self.body.split_vertically(pixels);
        self.body = bottom;
        top
    }

    /// A plot with a logarithmic y axis from `low` to `high`.
    pub(super) fn log_plot(
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

    pub(super) fn plot<'a, Y: Ranged<ValueType = f64>>(
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
pub(super) struct TimePlot<'a, DB: DrawingBackend, Y: Ranged<ValueType = f64>> {
    pub(super) chart: ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    pub(super) legend_area: &'a DrawingArea<DB, Shift>,
    pub(super) legend: Legend,
    pub(super) axis: TimeAxis,
    pub(super) y_range: (f64, f64),
}

impl<DB, Y> TimePlot<'_, DB, Y>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    Y: Ranged<ValueType = f64>,
{
    /// Draws a curve (possibly several segments) with one legend entry.
    pub(super) fn curve(
        &mut self,
        curve: &[Vec<(f64, f64)>],
        label: &str,
        stroke: Stroke,
    ) -> DrawResult {
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
    pub(super) fn column(
        &mut self,
        series: &TimeSeries,
        times: &[f64],
        column: &str,
        label: &str,
        stroke: Stroke,
    ) -> DrawResult {
        match (series.column_low(column), series.column(column)) {
            (Some(low), Some(high)) if series.has_values(column) => {
                self.curve(&segments(times, low, high, self.axis), label, stroke)
            }
            _ => Ok(()),
        }
    }

    /// Draws each curve in order.
    pub(super) fn curves(&mut self, curves: &[LabelledCurve]) -> DrawResult {
        for curve in curves {
            self.curve(&curve.points, &curve.label, curve.stroke)?;
        }
        Ok(())
    }

    /// Shades vertical bands (seconds) over the whole y range, with one legend entry when any band exists.
    pub(super) fn bands(
        &mut self,
        bands: &[(f64, f64)],
        colour: RGBColor,
        label: &str,
    ) -> DrawResult {
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
    pub(super) fn finish(self) -> DrawResult {
        draw_legend(self.legend_area, &self.legend)
    }
}

/// Says how many seconds one drawn point covers when any of `series` was folded into buckets (a run
/// longer than [`crate::report::data::MAX_ROWS`] seconds); `None` when every row is one second.
pub(super) fn envelope_note<'a>(series: impl Iterator<Item = &'a TimeSeries>) -> Option<String> {
    let widest = series.map(TimeSeries::seconds_per_row).max()?;
    (widest > 1).then(|| format!("long run: curves show the min-max envelope of each {widest} s"))
}

/// A chart with the shared margins and mesh style; `y_range` is a plain or log-scale range.
pub(super) fn build_time_chart<'a, DB, Y>(
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

pub(super) fn padded_max(value: f64) -> f64 {
    if value <= 0.0 {
        1.0
    } else {
        value * 1.12
    }
}
