//! A single self-contained `report.html` per run: charts as inline SVG, the hey-style summary, the key
//! figures and the full effective configuration. No scripts, stylesheets, fonts or images are fetched,
//! so the file can be mailed or archived on its own.
//!
//! A run of several services (Knative revisions and KServe components run as services of their own) adds a
//! table per service, component or revision from `summary.json`'s `services` block, the component
//! settings, the route's revisions and its traffic split over time, and the cluster chart (ready pods
//! stacked by service, nodes by pool) from `services.csv` and `cluster.csv`.
//!
//! Assumptions: the charts are rendered afresh from the run directory (not read back from PNG/SVG files),
//! so the report does not depend on `write_plots` having run first.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::data::{settings, text_at};
use super::plots::{cluster_chart, run_charts, settings_line, Chart};
use super::{hey_summary, write_atomic, ReportError, Run};
use serde_json::Value;

/// Name of the report inside the run directory.
pub const REPORT_FILE: &str = "report.html";

const STYLE: &str = "body{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;margin:2em auto;max-width:1240px;\
color:#222;padding:0 1em}h1{margin-bottom:.2em}.settings{color:#555;margin-top:0}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .7em;text-align:left}\
pre{background:#f6f6f6;border:1px solid #ddd;padding:1em;overflow-x:auto;font-size:13px}\
figure{margin:1.5em 0}figcaption{font-weight:bold;margin-bottom:.4em}svg{max-width:100%;height:auto}";

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Drops any XML prolog so the SVG can be embedded in HTML, and makes it scale with the page.
fn inline_svg(svg: &str) -> String {
    let body = match svg.find("<svg") {
        Some(start) => &svg[start..],
        None => svg,
    };
    if body.contains("viewBox") {
        body.to_string()
    } else {
        body.replacen(
            "<svg ",
            &format!(
                "<svg viewBox=\"0 0 {} {}\" ",
                super::plots::WIDTH,
                super::plots::HEIGHT
            ),
            1,
        )
    }
}

/// Writes `report.html` into `run_dir` and returns its path.
pub fn write_html(run_dir: &Path) -> Result<PathBuf, ReportError> {
    let run = Run::load(run_dir)?;
    let scenario = run.scenario();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>podscale report: {title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>podscale report: {title}</h1>\n<p class=\"settings\">{settings}</p>\n",
        title = escape(&scenario),
        settings = escape(&settings_line(&run.summary)),
    );

    let settings = settings(&run.summary);
    if !settings.is_empty() {
        html.push_str("<h2>Key settings</h2>\n<table>\n");
        for (key, value) in &settings {
            let _ = writeln!(
                html,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(key),
                escape(value)
            );
        }
        html.push_str("</table>\n");
    }

    let _ = write!(
        html,
        "<h2>Summary</h2>\n<pre>{}</pre>\n",
        escape(&hey_summary(&run.summary))
    );

    html.push_str(&services_section(&run.summary));

    html.push_str("<h2>Charts</h2>\n");
    let cluster = if run.dir.join("services.csv").exists() {
        Some(cluster_chart(
            &run.dir,
            &format!("{scenario}: ready pods by service, nodes by pool"),
        )?)
    } else {
        None
    };
    let mut charts = run_charts(&run);
    if let Some(c) = &cluster {
        charts.push(Chart::Cluster(c));
    }
    for chart in charts {
        let svg = chart.render_svg()?;
        let _ = write!(
            html,
            "<figure id=\"{id}\">\n<figcaption>{heading}</figcaption>\n{svg}\n</figure>\n",
            id = chart.stem(),
            heading = escape(chart.heading()),
            svg = inline_svg(&svg),
        );
    }

    html.push_str("<h2>Effective configuration</h2>\n");
    match run.summary.get("effective_config") {
        Some(config) => {
            html.push_str(
                "<p class=\"settings\">The values the run used, resolved. A bare value is the default; \
                 otherwise <code>{\"value\", \"source\"}</code> says where it came from (configmap, \
                 scenario, --set, annotation, kserve field, manifest, ...).</p>\n",
            );
            let pretty =
                serde_json::to_string_pretty(config).unwrap_or_else(|_| config.to_string());
            let _ = writeln!(html, "<pre>{}</pre>", escape(&pretty));
        }
        None => html.push_str("<p>The summary has no effective configuration.</p>\n"),
    }
    let _ = writeln!(
        html,
        "<p class=\"settings\">Generated by podscale {} from {} (seed {}).</p>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION"),
        escape(&run.dir.display().to_string()),
        escape(&text_at(&run.summary, "seed").unwrap_or_else(|| "?".into())),
    );

    let path = run_dir.join(REPORT_FILE);
    write_atomic(&path, html.as_bytes()).map_err(|e| ReportError::io(&path, e))?;
    Ok(path)
}

/// Rows of the services table beyond which only the busiest are shown.
const MAX_SERVICE_ROWS: usize = 50;

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_f64()
}

/// The per-service (component, revision) tables, the component settings and the route; empty for a run
/// of one service.
fn services_section(summary: &Value) -> String {
    let mut html = String::new();
    let Some(services) = summary
        .get("services")
        .and_then(|s| s.get("services"))
        .and_then(Value::as_array)
    else {
        return html;
    };
    let external = num(summary, &["requests", "total"]).unwrap_or(0.0);
    let component_sum: f64 = services
        .iter()
        .filter_map(|s| num(s, &["requests", "total"]))
        .sum();
    let with_cost = services.iter().any(|s| s.get("cost").is_some());
    html.push_str("<h2>Services, components and revisions</h2>\n");
    let _ = writeln!(
        html,
        "<p class=\"settings\">One row per service; a Knative revision and a KServe component are services of \
         their own. Share: the service's requests over the run's {} external requests (a request through a \
         transformer and its predictor counts at both, so components may add up to more than 100 %).</p>",
        external as u64
    );
    let mut order: Vec<&Value> = services.iter().collect();
    if order.len() > MAX_SERVICE_ROWS {
        order.sort_by(|a, b| {
            num(b, &["requests", "total"])
                .unwrap_or(0.0)
                .total_cmp(&num(a, &["requests", "total"]).unwrap_or(0.0))
        });
    }
    html.push_str(
        "<table>\n<tr><th>service</th><th>role</th><th>autoscaler</th><th>requests</th><th>share</th>\
         <th>failed</th><th>p50 ms</th><th>p99 ms</th><th>cold-start p99 ms</th><th>cold starts</th>\
         <th>max ready pods</th><th>mean ready pods</th><th>pod-hours</th><th>GPU-hours</th>",
    );
    html.push_str(if with_cost {
        "<th>cost</th></tr>\n"
    } else {
        "</tr>\n"
    });
    let role = |s: &Value| -> String {
        if let Some(c) = s.pointer("/component/component").and_then(Value::as_str) {
            return c.to_string();
        }
        let name = s.get("service").and_then(Value::as_str).unwrap_or("");
        let is_revision = summary
            .pointer("/route/revisions")
            .and_then(Value::as_array)
            .is_some_and(|r| {
                r.iter()
                    .any(|r| r.get("name").and_then(Value::as_str) == Some(name))
            });
        if is_revision { "revision" } else { "service" }.to_string()
    };
    let f = |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    for s in order.iter().take(MAX_SERVICE_ROWS) {
        let requests = num(s, &["requests", "total"]).unwrap_or(0.0);
        let share = if external > 0.0 {
            format!("{:.1}%", requests / external * 100.0)
        } else {
            "-".into()
        };
        let cold_p99 = match num(s, &["cold_start_latency_ms", "max"]) {
            Some(m) if m > 0.0 => f(num(s, &["cold_start_latency_ms", "p99"]), 1),
            _ => "-".into(),
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            escape(s.get("service").and_then(Value::as_str).unwrap_or("?")),
            escape(&role(s)),
            escape(s.get("autoscaler").and_then(Value::as_str).unwrap_or("")),
            requests as u64,
            share,
            f(num(s, &["requests", "failed"]), 0),
            f(num(s, &["latency_ms", "p50"]), 1),
            f(num(s, &["latency_ms", "p99"]), 1),
            cold_p99,
            f(num(s, &["cold_starts"]), 0),
            f(num(s, &["max_ready"]), 0),
            f(num(s, &["mean_ready"]), 2),
            f(num(s, &["pod_seconds"]).map(|v| v / 3600.0), 2),
            f(num(s, &["gpu_seconds"]).map(|v| v / 3600.0), 2),
        );
        if with_cost {
            let _ = write!(html, "<td>{}</td>", f(num(s, &["cost"]), 2));
        }
        html.push_str("</tr>\n");
    }
    if order.len() > MAX_SERVICE_ROWS {
        let _ = writeln!(
            html,
            "<tr><td colspan=\"3\">... and {} more services (see summary.json)</td></tr>",
            order.len() - MAX_SERVICE_ROWS
        );
    }
    let totals = summary.pointer("/services/totals");
    let total = |path: &[&str]| totals.and_then(|t| num(t, path));
    let _ = write!(
        html,
        "<tr><th>external requests (the run)</th><td></td><td></td><td>{}</td><td>100%</td><td>{}</td>\
         <td>{}</td><td>{}</td><td></td><td>{}</td><td></td><td></td><td>{}</td><td>{}</td>",
        external as u64,
        f(num(summary, &["requests", "failed"]), 0),
        f(num(summary, &["latency_ms", "p50"]), 1),
        f(num(summary, &["latency_ms", "p99"]), 1),
        f(total(&["cold_starts"]), 0),
        f(total(&["pod_seconds"]).map(|v| v / 3600.0), 2),
        f(total(&["gpu_seconds"]).map(|v| v / 3600.0), 2),
    );
    if with_cost {
        let _ = write!(html, "<td>{}</td>", f(total(&["cost"]), 2));
    }
    html.push_str("</tr>\n");
    if component_sum != external {
        let _ = writeln!(
            html,
            "<tr><th>sum over components</th><td></td><td></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            component_sum as u64,
            if external > 0.0 {
                format!("{:.1}%", component_sum / external * 100.0)
            } else {
                "-".into()
            },
            f(total(&["requests", "failed"]), 0),
        );
    }
    html.push_str("</table>\n");
    html.push_str(&components_table(services));
    html.push_str(&route_tables(summary));
    html
}

/// How each KServe component or graph router is scaled (the union of the settings the summary lists).
fn components_table(services: &[Value]) -> String {
    let mut keys: Vec<&str> = Vec::new();
    for s in services {
        if let Some(map) = s.get("component").and_then(Value::as_object) {
            for k in map.keys() {
                if !keys.contains(&k.as_str()) {
                    keys.push(k);
                }
            }
        }
    }
    if keys.is_empty() {
        return String::new();
    }
    let mut html = String::from("<h3>Component settings</h3>\n<table>\n<tr><th>service</th>");
    for k in &keys {
        let _ = write!(html, "<th>{}</th>", escape(k));
    }
    html.push_str("</tr>\n");
    for s in services {
        let Some(map) = s.get("component").and_then(Value::as_object) else {
            continue;
        };
        let _ = write!(
            html,
            "<tr><td>{}</td>",
            escape(s.get("service").and_then(Value::as_str).unwrap_or("?"))
        );
        for k in &keys {
            let v = map.get(*k).and_then(Value::as_str).unwrap_or("");
            let _ = write!(html, "<td>{}</td>", escape(v));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

/// Most rows of the split-over-time table.
const MAX_CHANGE_ROWS: usize = 200;

/// The route's revisions and every change of its traffic split.
fn route_tables(summary: &Value) -> String {
    let Some(route) = summary.get("route") else {
        return String::new();
    };
    let revisions = route
        .get("revisions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut html = format!(
        "<h3>Route</h3>\n<p class=\"settings\">{} routed requests; rollout duration {} s.</p>\n<table>\n\
         <tr><th>revision</th><th>created s</th><th>Ready s</th><th>requests</th><th>share</th>\
         <th>final %</th></tr>\n",
        num(route, &["requests"]).unwrap_or(0.0) as u64,
        num(route, &["rollout_duration_s"]).unwrap_or(0.0),
    );
    for r in revisions {
        let ready = num(r, &["ready_s"]).map_or("never".to_string(), |v| format!("{v:.1}"));
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td></tr>",
            escape(r.get("name").and_then(Value::as_str).unwrap_or("?")),
            num(r, &["created_s"]).unwrap_or(0.0),
            ready,
            num(r, &["requests"]).unwrap_or(0.0) as u64,
            num(r, &["share"]).unwrap_or(0.0) * 100.0,
            num(r, &["final_percent"]).unwrap_or(0.0),
        );
    }
    html.push_str("</table>\n");
    let changes = route
        .get("changes")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if changes.is_empty() {
        return html;
    }
    html.push_str("<h3>Traffic split over time</h3>\n<table>\n<tr><th>from s</th>");
    for r in revisions {
        let _ = write!(
            html,
            "<th>{} %</th>",
            escape(r.get("name").and_then(Value::as_str).unwrap_or("?"))
        );
    }
    html.push_str("</tr>\n");
    for c in changes.iter().take(MAX_CHANGE_ROWS) {
        let at = c.get(0).and_then(Value::as_f64).unwrap_or(0.0);
        let _ = write!(html, "<tr><td>{at:.1}</td>");
        for p in c
            .get(1)
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
        {
            let _ = write!(html, "<td>{}</td>", p.as_u64().unwrap_or(0));
        }
        html.push_str("</tr>\n");
    }
    if changes.len() > MAX_CHANGE_ROWS {
        let _ = writeln!(
            html,
            "<tr><td colspan=\"2\">... and {} more changes (see summary.json)</td></tr>",
            changes.len() - MAX_CHANGE_ROWS
        );
    }
    html.push_str("</table>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn inline_svg_strips_prolog_and_adds_view_box() {
        let svg = "<?xml version=\"1.0\"?>\n<svg width=\"10\" height=\"10\"></svg>";
        let inlined = inline_svg(svg);
        assert!(inlined.starts_with("<svg viewBox="));
    }
}
