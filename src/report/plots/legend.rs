//! The legend column: one entry per curve or band, labels wrapped at word boundaries so none is cut.

use super::*;

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
pub(super) enum Glyph {
    Line(Stroke),
    Band(RGBColor),
    Triangle(RGBColor),
}

/// Legend entries collected while drawing, rendered beside the plot so they never hide data.
#[derive(Default)]
pub(super) struct Legend {
    pub(super) entries: Vec<(String, Glyph)>,
}

impl Legend {
    pub(super) fn push(&mut self, label: &str, glyph: Glyph) {
        self.entries.push((label.to_string(), glyph));
    }
}

pub(super) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    legend: &Legend,
) -> DrawResult
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
pub(super) fn wrap_words(text: &str, width: usize) -> Vec<String> {
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
