//! The HTML report of a run of several services carries the per-revision (Knative canary) and
//! per-component (KServe transformer and predictor) tables, with the figures of `summary.json`.

use podscale::report::{run_services_to_dir, DirHooks};
use podscale::scenario::{load, prepare_services};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn run(scenario: &str) -> (String, Value) {
    let dir = std::env::temp_dir().join(format!(
        "podscale-report-services-{scenario}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{scenario}.yaml"));
    let loaded = load(Path::new(&path), &["output.plots=true".to_string()]).unwrap();
    let prepared = prepare_services(&loaded, None).unwrap();
    run_services_to_dir(&dir, &loaded, prepared, DirHooks::default()).unwrap();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (html, summary)
}

/// The table row (`<tr>...</tr>`) whose first cell is `name`.
fn row<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("<tr><td>{name}</td>"))
        .unwrap_or_else(|| panic!("no row for {name}"));
    let end = html[start..].find("</tr>").unwrap() + start;
    &html[start..end]
}

fn cells(row: &str) -> Vec<String> {
    row.split("<td>")
        .skip(1)
        .map(|c| c.split("</td>").next().unwrap().to_string())
        .collect()
}

#[test]
fn canary_report_has_the_per_revision_table_and_the_split() {
    let (html, summary) = run("knative-canary-rollout");
    assert!(html.contains("<h2>Services, components and revisions</h2>"));
    let external = summary["requests"]["total"].as_u64().unwrap() as f64;
    let services = summary["services"]["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    for s in services {
        let name = s["service"].as_str().unwrap();
        let c = cells(row(&html, name));
        assert_eq!(c[1], "revision", "{name}: {c:?}");
        let requests = s["requests"]["total"].as_u64().unwrap();
        assert!(requests > 0);
        assert_eq!(c[3], requests.to_string());
        assert_eq!(c[4], format!("{:.1}%", requests as f64 / external * 100.0));
        assert_eq!(
            c[6],
            format!("{:.1}", s["latency_ms"]["p50"].as_f64().unwrap())
        );
        assert_eq!(
            c[7],
            format!("{:.1}", s["latency_ms"]["p99"].as_f64().unwrap())
        );
        assert_eq!(c[9], s["cold_starts"].to_string());
        assert_eq!(c[10], s["max_ready"].to_string());
    }
    // The route's split over time: one row per change, the last at the final percents.
    let changes = summary["route"]["changes"].as_array().unwrap();
    assert!(changes.len() > 2);
    let split = &html[html.find("<h3>Traffic split over time</h3>").unwrap()..];
    assert_eq!(
        split[..split.find("</table>").unwrap()]
            .matches("<tr><td>")
            .count(),
        changes.len()
    );
    let last = changes.last().unwrap();
    let last_row = format!(
        "<tr><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
        last[0].as_f64().unwrap(),
        last[1][0],
        last[1][1]
    );
    assert!(split.contains(&last_row), "{last_row}");
    // The pods by service (revision) chart is inline.
    assert!(html.contains("<figure id=\"cluster\">"));
}

#[test]
fn transformer_report_has_the_per_component_table_and_honest_totals() {
    let (html, summary) = run("kserve-transformer-predictor");
    let external = summary["requests"]["total"].as_u64().unwrap();
    let services = summary["services"]["services"].as_array().unwrap();
    let mut component_sum = 0;
    for s in services {
        let name = s["service"].as_str().unwrap();
        let c = cells(row(&html, name));
        assert_eq!(c[1], s["component"]["component"].as_str().unwrap());
        let requests = s["requests"]["total"].as_u64().unwrap();
        component_sum += requests;
        assert_eq!(c[3], requests.to_string());
        assert_eq!(
            c[7],
            format!("{:.1}", s["latency_ms"]["p99"].as_f64().unwrap())
        );
        assert_eq!(c[9], s["cold_starts"].to_string());
    }
    let roles: Vec<_> = services
        .iter()
        .map(|s| s["component"]["component"].as_str().unwrap())
        .collect();
    assert!(roles.contains(&"transformer") && roles.contains(&"predictor"));
    // Each external request passes both components: the sum is about twice the external count and is
    // labelled as such, apart from the run's own total.
    assert!(
        component_sum > external * 19 / 10,
        "{component_sum} vs {external}"
    );
    assert!(html.contains(&format!(
        "<tr><th>external requests (the run)</th><td></td><td></td><td>{external}</td>"
    )));
    assert!(html.contains(&format!(
        "<tr><th>sum over components</th><td></td><td></td><td>{component_sum}</td>"
    )));
    assert!(html.contains("<h3>Component settings</h3>"));
    assert!(html.contains("<td>concurrency</td>") && html.contains("<td>rps</td>"));
}
