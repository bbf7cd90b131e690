//! A self-contained SVG of an observed and a simulated curve on one time axis. Written by hand rather than
//! through the `report` charts, which draw from run directories (`timeseries.csv`), not from aligned
//! observation pairs; text is plain SVG `<text>`, so no font needs to be registered.

use std::fmt::Write as _;

const W: f64 = 960.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// `points`: `(seconds, observed, simulated)` in time order.
pub(super) fn overlay_svg(title: &str, unit: &str, points: &[(f64, f64, f64)]) -> String {
    let t_max = points.iter().map(|p| p.0).fold(1.0_f64, f64::max);
    let t_min = points.iter().map(|p| p.0).fold(t_max, f64::min).min(0.0);
    let y_max = points
        .iter()
        .flat_map(|p| [p.1, p.2])
        .filter(|v| v.is_finite())
        .fold(1e-9_f64, f64::max)
        * 1.05;
    let (scale, t_unit) = if t_max > 3.0 * 3600.0 {
        (3600.0, "h")
    } else if t_max > 900.0 {
        (60.0, "min")
    } else {
        (1.0, "s")
    };
    let x = |t: f64| LEFT + (t - t_min) / (t_max - t_min).max(1e-9) * (W - LEFT - RIGHT);
    let y = |v: f64| H - BOTTOM - v / y_max * (H - TOP - BOTTOM);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{title}</text>\n",
        W / 2.0
    );
    for k in 0..=5 {
        let v = y_max * k as f64 / 5.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.1}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            y = y(v)
        );
        let t = t_min + (t_max - t_min) * k as f64 / 5.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{:.1}</text>",
            x(t),
            H - BOTTOM + 18.0,
            t / scale
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">time since origin ({t_unit})</text><text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">{unit}</text>",
        W / 2.0,
        H - 12.0,
        H / 2.0,
        H / 2.0
    );
    for (pick, color, label, dy) in [
        (1usize, "#1f77b4", "observed", 0.0),
        (2, "#d62728", "simulated", 16.0),
    ] {
        let mut path = String::new();
        for p in points {
            let v = if pick == 1 { p.1 } else { p.2 };
            if v.is_finite() {
                let _ = write!(
                    path,
                    "{}{:.1},{:.1}",
                    if path.is_empty() { "M" } else { " L" },
                    x(p.0),
                    y(v)
                );
            }
        }
        let _ = writeln!(
            svg,
            "<path d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"/><line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{color}\" stroke-width=\"3\"/><text x=\"{}\" y=\"{}\">{label}</text>",
            W - 160.0,
            W - 135.0,
            TOP + 4.0 + dy,
            TOP + 4.0 + dy,
            W - 128.0,
            TOP + 8.0 + dy
        );
    }
    svg.push_str("</svg>\n");
    svg
}
