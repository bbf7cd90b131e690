//! Integration tests of `podscale::report` against synthetic run directories written by the tests
//! themselves (a scale-from-zero, a panic period, cold-start seconds, a cron fire, a scale-to-zero).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use podscale::report::{
    compare, hey_summary, write_atomic, write_html, write_plots, AtomicFile, Progress, ReportError,
};

const HEADER: &str = "time_s,arrivals,completions,failures,in_flight,activator_queue,queue_proxy_queue,desired_pods,ready_pods,pending_pods,starting_pods,terminating_pods,observed_stable,observed_panic,target_per_pod,panic,excess_burst_capacity,activator_in_path,scale_reason,latency_p50_ms,latency_p95_ms,latency_p99_ms,cold_start_completions,cron_fire,cpu_utilization,gpu_utilization";

/// A per-test directory, removed when the test passes; kept after a failure (or with
/// `PODSCALE_KEEP_TEST_OUTPUT` set) so the plots can be inspected.
struct TestDir(PathBuf);

impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !std::thread::panicking() && std::env::var_os("PODSCALE_KEEP_TEST_OUTPUT").is_none() {
            let _ = fs::remove_dir_all(&self.0);
            // Succeeds only once the last test of this process has cleaned up.
            if let Some(parent) = self.0.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}

fn scratch(name: &str) -> TestDir {
    let dir = std::env::temp_dir()
        .join(format!("podscale-report-tests-{}", std::process::id()))
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    TestDir(dir)
}

/// One row per second: idle at zero pods, a burst at 60 s that needs a cold start (panic, activator
/// buffering, cold-start latencies), a step up at 200 s, a cron fire at 300 s, and scale to zero after
/// traffic stops at 400 s. `load` scales the request rate to make what-if variants.
fn timeseries(seconds: u32, load: f64) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    let mut pods_ready = 0.0f64;
    let mut desired = 0.0f64;
    for t in 0..seconds {
        let phase = t % 600;
        let rate = load
            * match phase {
                60..=199 => 50.0,
                200..=399 => 100.0,
                _ => 0.0,
            };
        let wanted = (rate / 10.0f64).ceil();
        if phase == 61 || phase == 200 {
            desired = wanted;
        }
        if phase == 460 {
            desired = 0.0;
        }
        let pending = if desired > pods_ready && (phase < 70 || (200..210).contains(&phase)) {
            desired - pods_ready
        } else {
            0.0
        };
        if phase == 70 || phase == 210 {
            pods_ready = desired;
        }
        let terminating = if (460..490).contains(&phase) {
            pods_ready.max(10.0 * load.ceil())
        } else {
            0.0
        };
        if phase == 460 {
            pods_ready = 0.0;
        }
        let activator_queue = if (60..70).contains(&phase) {
            rate * f64::from(phase - 59)
        } else {
            0.0
        };
        let completions = if pods_ready > 0.0 { rate } else { 0.0 };
        let cold = (70..73).contains(&phase);
        let (p50, p95, p99) = if completions == 0.0 {
            (String::new(), String::new(), String::new())
        } else if cold {
            ("4200".into(), "8800".into(), "9500".into())
        } else {
            let wobble = f64::from(t % 7);
            (
                format!("{:.1}", 20.0 + wobble),
                format!("{:.1}", 45.0 + wobble),
                format!("{:.1}", 80.0 + 3.0 * wobble),
            )
        };
        let panic = u8::from((61..121).contains(&phase));
        let reason = match phase {
            61 => "panic",
            200 => "stable",
            460 => "scale_to_zero",
            _ => "",
        };
        let cron = if phase == 300 { "evening-peak" } else { "" };
        let observed = rate * 0.1;
        out += &format!(
            "{t},{rate},{completions},0,{inflight},{activator_queue},{qp},{desired},{pods_ready},{pending},0,{terminating},{observed:.2},{panic_obs:.2},1,{panic},-50,{in_path},{reason},{p50},{p95},{p99},{cold_starts},{cron},,\n",
            inflight = activator_queue + completions * 0.05,
            qp = if pods_ready > 0.0 { (rate / 50.0).floor() } else { 0.0 },
            panic_obs = observed * if panic == 1 { 1.4 } else { 1.0 },
            in_path = u8::from(pods_ready < 3.0),
            cold_starts = if cold { 60 } else { 0 },
        );
    }
    out
}

fn summary(scenario: &str, stable_window: &str) -> serde_json::Value {
    serde_json::json!({
        "scenario": scenario,
        "seed": 42,
        "duration_s": 600.0,
        "autoscaler": "kpa",
        "requests": {"total": 34000, "completed": 33850, "failed": 100, "timed_out": 40, "rejected": 10,
                     "cold_start_affected": 180, "in_flight_at_end": 0},
        "latency_ms": {"mean": 42.0, "p50": 21.5, "p90": 60.0, "p95": 70.0, "p99": 95.0, "p999": 8900.0,
                       "max": 9512.0, "min": 3.2},
        "latency_histogram_ms": [
            {"le": 5, "count": 120}, {"le": 10, "count": 900}, {"le": 25, "count": 17000},
            {"le": 50, "count": 12000}, {"le": 100, "count": 3400}, {"le": 250, "count": 200},
            {"le": 1000, "count": 50}, {"le": 5000, "count": 60}, {"le": 10000, "count": 120},
            {"le": 30000, "count": 0}
        ],
        "status_codes": {"200": 33850, "503": 100, "504": 40},
        "throughput_rps": 56.4167,
        "replicas": {"max_ready": 10, "mean_ready": 5.25, "max_desired": 10, "final_ready": 0},
        "pod_seconds": 3150.0,
        "gpu_seconds": 0.0,
        "scale_events": 3,
        "panic_seconds": 60,
        "cold_starts": 15,
        "events_processed": 123456,
        "wall_time_s": 0.5,
        "settings": {"stable-window": stable_window, "target": "10 concurrency", "metric": "concurrency"},
        "effective_config": {"name": scenario, "kpa": {"stable_window": stable_window, "target": 10,
                             "panic_threshold_percentage": 200}, "note": "<b>&escaped</b>"}
    })
}

fn write_run(name: &str, seconds: u32, load: f64, stable_window: &str) -> TestDir {
    let dir = scratch(name);
    fs::write(dir.join("timeseries.csv"), timeseries(seconds, load)).unwrap();
    fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&summary(name, stable_window)).unwrap(),
    )
    .unwrap();
    dir
}

fn png_dimensions(path: &Path) -> (u32, u32) {
    let bytes = fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (width, height)
}

/// Checks that start and end tags nest properly (a small well-formedness check, not a full parser).
fn assert_tags_balanced(text: &str, void_elements: &[&str], what: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let close = rest
            .find('>')
            .unwrap_or_else(|| panic!("{what}: unterminated tag"));
        let tag = &rest[..close];
        rest = &rest[close + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ':')
            .collect::<String>()
            .to_ascii_lowercase();
        assert!(!name.is_empty(), "{what}: empty tag <{tag}>");
        if let Some(stripped) = tag.strip_prefix('/') {
            let _ = stripped;
            let top = stack
                .pop()
                .unwrap_or_else(|| panic!("{what}: </{name}> without opening tag"));
            assert_eq!(top, name, "{what}: </{name}> closes <{top}>");
        } else if !tag.ends_with('/') && !void_elements.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "{what}: unclosed tags {stack:?}");
}

#[test]
fn plots_are_written_as_valid_png_and_svg() {
    let dir = write_run("plots", 600, 1.0, "60s");
    let written = write_plots(&dir).unwrap();
    let stems = [
        "replicas",
        "autoscaler_metric",
        "latency",
        "latency_distribution",
        "queues",
    ];
    assert_eq!(written.len(), stems.len() * 2, "{written:?}");
    for stem in stems {
        let png = dir.join(format!("{stem}.png"));
        assert!(written.contains(&png));
        assert_eq!(png_dimensions(&png), (1200, 600));
        let svg = fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg"), "{stem}.svg");
        assert_tags_balanced(&svg, &[], &format!("{stem}.svg"));
        assert!(
            svg.contains("plots: "),
            "{stem}.svg lacks the scenario title"
        );
        assert!(
            !svg.contains("envelope"),
            "{stem}.svg: a short run is drawn per second"
        );
    }
    let replicas = fs::read_to_string(dir.join("replicas.svg")).unwrap();
    for label in [
        "desired",
        "ready",
        "pending",
        "terminating",
        "panic mode",
        "scale event",
        "cron fire",
        "evening-peak",
    ] {
        assert!(replicas.contains(label), "replicas.svg lacks {label}");
    }
    assert!(fs::read_to_string(dir.join("latency.svg"))
        .unwrap()
        .contains("log scale"));
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_run_up_to_max_rows_is_kept_second_by_second() {
    use podscale::report::{TimeSeries, MAX_ROWS};
    let seconds = MAX_ROWS as u32;
    let at_cap = write_run("at-cap", seconds, 1.0, "60s");
    let series = TimeSeries::read(&at_cap.join("timeseries.csv")).unwrap();
    assert_eq!((series.len(), series.seconds_per_row()), (MAX_ROWS, 1));
    assert_eq!(series.column("ready_pods"), series.column_low("ready_pods"));
    let above = write_run("above-cap", seconds + 1, 1.0, "60s");
    let series = TimeSeries::read(&above.join("timeseries.csv")).unwrap();
    assert_eq!(
        (series.len(), series.seconds_per_row()),
        (MAX_ROWS / 2 + 1, 2)
    );
    assert_eq!(series.end_time(), f64::from(seconds));
}

#[test]
fn plots_are_deterministic() {
    let dir = write_run("determinism", 600, 1.0, "60s");
    write_plots(&dir).unwrap();
    let first_png = fs::read(dir.join("replicas.png")).unwrap();
    let first_svg = fs::read(dir.join("latency.svg")).unwrap();
    write_plots(&dir).unwrap();
    assert_eq!(first_png, fs::read(dir.join("replicas.png")).unwrap());
    assert_eq!(first_svg, fs::read(dir.join("latency.svg")).unwrap());
}

#[test]
fn a_day_long_run_plots_quickly() {
    let dir = write_run("day", 86_400, 1.0, "60s");
    let started = std::time::Instant::now();
    let written = write_plots(&dir).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(written.len(), 10);
    assert!(fs::metadata(dir.join("replicas.svg")).unwrap().len() < 2_000_000);
    // 86,400 seconds do not fit in MAX_ROWS kept rows: the charts draw 16-second envelopes and say so.
    for stem in ["replicas", "autoscaler_metric", "latency", "queues"] {
        let svg = fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("min-max envelope of each 16 s"), "{stem}.svg");
    }
    // Debug build on a shared 2-core machine; the point is "seconds, not minutes".
    assert!(elapsed.as_secs() < 60, "took {elapsed:?}");
}

#[test]
fn hey_summary_shows_the_expected_figures() {
    let text = hey_summary(&summary("hey", "60s"));
    for expected in [
        "Summary:",
        "Slowest:",
        "9.5120 secs",
        "Fastest:",
        "0.0032 secs",
        "Average:",
        "0.0420 secs",
        "Requests/sec:",
        "56.4167",
        "Response time histogram",
        "\u{25a0}",
        "Latency distribution:",
        "50% in 0.0215 secs",
        "99% in 0.0950 secs",
        "Status code distribution:",
        "[503]\t100 responses",
        "10 ready, 10 desired",
        "5.25",
        "3150.0",
        "15 pods started",
        "(180 requests waited for one)",
        "60 s (10.0% of the run)",
        "Scale events:",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn hey_summary_never_estimates_a_percentile_and_leaves_out_rows_that_do_not_apply() {
    // The fixture has no p10/p25/p75: they are left out, not interpolated from the buckets.
    let text = hey_summary(&summary("hey", "60s"));
    assert!(
        !text.contains("10% in") && !text.contains("75% in") && !text.contains('~'),
        "{text}"
    );
    let mut hpa = summary("hpa", "60s");
    hpa["autoscaler"] = "hpa".into();
    hpa["requests"]["cold_start_affected"] = 1.into();
    hpa["status_codes"] = serde_json::json!({"504": 1});
    hpa["latency_ms"]["p10"] = 4.0.into();
    hpa["cluster"] = serde_json::json!({"scheduling": "first_fit", "max_nodes": 3, "final_nodes": 2,
        "nodes_added": 2, "nodes_removed": 1, "node_seconds": 1500.0, "max_pending_pods": 4});
    let text = hey_summary(&hpa);
    assert!(!text.contains("Time in panic"), "{text}");
    assert!(text.contains("10% in 0.0040 secs"), "{text}");
    assert!(text.contains("(1 request waited for one)"), "{text}");
    assert!(text.contains("[504]\t1 response\n"), "{text}");
    assert!(
        text.contains("2 added, 1 removed, 3 at most, 2 at the end"),
        "{text}"
    );
    assert!(text.contains("1500.0 (0.42 node-hours)"), "{text}");
    assert!(text.contains("Max pending pods: 4"), "{text}");
    // An unlimited cluster that never grew has nothing to say.
    hpa["cluster"]["scheduling"] = "unlimited".into();
    hpa["cluster"]["nodes_added"] = 0.into();
    assert!(!hey_summary(&hpa).contains("Cluster"));
}

#[test]
fn hey_summary_tolerates_a_sparse_summary() {
    let text = hey_summary(&serde_json::json!({"scenario": "bare"}));
    assert!(text.contains("Slowest:"));
    assert!(text.contains("n/a"));
}

#[test]
fn html_report_is_self_contained_and_balanced() {
    let dir = write_run("html", 600, 1.0, "60s");
    let path = write_html(&dir).unwrap();
    assert_eq!(path, dir.join("report.html"));
    let html = fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 5);
    assert!(!html.contains("<script"));
    assert!(!html.contains("src="));
    assert!(!html.contains("<link"));
    assert!(html.contains("panic_threshold_percentage"));
    assert!(
        html.contains("&lt;b&gt;&amp;escaped&lt;/b&gt;"),
        "config must be escaped"
    );
    assert!(html.contains("Requests/sec:"));
    assert_tags_balanced(&html, &["meta", "br"], "report.html");
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("skipped: no chromium on PATH");
        return;
    };
    let dir = write_run("chromium", 600, 1.0, "60s");
    let report = write_html(&dir).unwrap();
    let screenshot = dir.join("screenshot.png");
    let status = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
        ])
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1280,2400")
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(png_dimensions(&screenshot), (1280, 2400));
    // A blank page compresses to a few kilobytes; charts and text do not.
    assert!(fs::metadata(&screenshot).unwrap().len() > 50_000);
}

#[test]
fn compare_writes_table_and_overlays() {
    let baseline = write_run("baseline", 600, 1.0, "60s");
    let doubled = write_run("doubled", 600, 2.0, "30s");
    let out_root = scratch("compare-out");
    let out = out_root.join("nested");
    let text = compare(&[baseline.to_path_buf(), doubled.to_path_buf()], &out).unwrap();
    assert!(text.contains("latency p99 (ms)"));
    assert!(text.lines().next().unwrap().contains("baseline"));
    assert!(text.contains("30s") && text.contains("60s"));

    let mut reader = csv::Reader::from_path(out.join("compare.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        ["metric", "baseline", "doubled"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.iter().all(|r| r.len() == 3));
    let p99 = rows.iter().find(|r| &r[0] == "latency p99 (ms)").unwrap();
    assert_eq!(&p99[1], "95");

    let markdown = fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(markdown.starts_with("| metric | baseline | doubled |"));
    for stem in ["compare_replicas", "compare_latency"] {
        assert_eq!(
            png_dimensions(&out.join(format!("{stem}.png"))),
            (1200, 600)
        );
        assert_tags_balanced(
            &fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap(),
            &[],
            stem,
        );
    }
}

#[test]
fn compare_of_nothing_is_an_error() {
    let out = scratch("compare-empty");
    assert!(matches!(compare(&[], &out), Err(ReportError::Usage(_))));
}

#[test]
fn malformed_timeseries_names_file_and_line_and_writes_nothing() {
    let dir = write_run("malformed", 600, 1.0, "60s");
    let mut text = timeseries(10, 1.0);
    text = text.replacen("\n3,", "\n3x,", 1);
    fs::write(dir.join("timeseries.csv"), text).unwrap();
    let error = write_plots(&dir).unwrap_err().to_string();
    assert!(error.contains("timeseries.csv:5"), "{error}");
    assert!(error.contains("time_s"), "{error}");
    assert!(!dir.join("replicas.png").exists());
    assert!(write_html(&dir).is_err());
    assert!(!dir.join("report.html").exists());
}

#[test]
fn missing_summary_is_an_error_naming_the_file() {
    let dir = write_run("missing", 60, 1.0, "60s");
    fs::remove_file(dir.join("summary.json")).unwrap();
    let error = write_plots(&dir).unwrap_err().to_string();
    assert!(error.contains("summary.json"), "{error}");
    assert!(!dir.join("replicas.png").exists());
}

#[test]
fn broken_summary_json_names_the_line() {
    let dir = write_run("badjson", 60, 1.0, "60s");
    fs::write(
        dir.join("summary.json"),
        "{\n  \"scenario\": \"x\",\n  \"seed\": ,\n}",
    )
    .unwrap();
    let error = write_html(&dir).unwrap_err().to_string();
    assert!(error.contains("summary.json:3"), "{error}");
}

#[test]
fn failing_mid_way_leaves_no_final_file() {
    let dir = scratch("atomic");
    let target = dir.join("timeseries.csv");
    let result: std::io::Result<()> = (|| {
        let mut file = AtomicFile::create(&target)?;
        writeln!(file, "{HEADER}")?;
        for row in 0..10_000 {
            writeln!(file, "{row}")?;
            if row == 5_000 {
                return Err(std::io::Error::other("simulated failure"));
            }
        }
        file.commit()
    })();
    assert!(result.is_err());
    assert!(!target.exists());
    assert!(!dir.join("timeseries.csv.tmp").exists());

    write_atomic(&dir.join("ok.txt"), b"complete").unwrap();
    assert_eq!(fs::read(dir.join("ok.txt")).unwrap(), b"complete");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn quiet_progress_is_hidden_and_cheap() {
    let progress = Progress::new(86_400, true);
    assert!(!progress.is_visible());
    let started = std::time::Instant::now();
    for millis in 0..2_000_000u64 {
        progress.set(millis / 1000);
    }
    assert_eq!(progress.position(), Some(1999));
    progress.finish();
    assert_eq!(progress.position(), Some(86_400));
    assert!(started.elapsed().as_secs() < 10);
}
