//! The frame every chart shares: the time axis and its units, compact tick labels, the title and the
//! wrapped settings subtitle, and the legend column split off the right of the canvas.

use super::*;

#[derive(Clone, Copy)]
pub(super) struct TimeAxis {
    pub(super) seconds_per_unit: f64,
    pub(super) span_units: f64,
    pub(super) description: &'static str,
}

impl TimeAxis {
    pub(super) fn for_span(span_s: f64) -> Self {
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

    pub(super) fn range(&self, span_s: f64) -> std::ops::Range<f64> {
        0.0..(span_s.max(1.0) / self.seconds_per_unit)
    }
}

/// Compact tick label: no trailing zeros, few decimals.
pub(super) fn tick(value: &f64) -> String {
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
pub(super) const SUBTITLE_LINE_CHARS: usize = 150;

/// Splits a `settings_line` at its separators into lines of at most [`SUBTITLE_LINE_CHARS`], so a
/// long subtitle wraps instead of being cut.
pub(super) fn wrap_subtitle(line: &str) -> Vec<String> {
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
pub(super) fn draw_header<DB: DrawingBackend>(
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
pub(super) fn draw_header_with_legend<DB: DrawingBackend>(
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

pub(super) fn run_title(run: &Run, what: &str) -> String {
    format!("{}: {what}", run.scenario())
}
