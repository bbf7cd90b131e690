//! Measures the cost of writing `timeseries.csv` rows and `requests.csv` lines: the digit-by-digit
//! writers of `observe::output` against the `core::fmt` / shortest-float route they replaced (kept here
//! as the reference), and checks both produce the same bytes.
//!
//! `cargo run --release --example row_format`

use std::fmt::Write;
use std::hint::black_box;
use std::time::Instant;

use podscale::observe::output::{push_request_line, round6, SecondRow};

/// The previous row formatting: `write!` with `{}` of `round6(v)` for every float.
fn old_row(r: &SecondRow, out: &mut String) {
    let f = |out: &mut String, v: Option<f64>| {
        if let Some(v) = v {
            let _ = write!(out, "{}", round6(v));
        }
        out.push(',');
    };
    let _ = write!(
        out,
        "{},{},{},{},{},{},{},",
        r.time_s,
        r.arrivals,
        r.completions,
        r.failures,
        r.in_flight,
        r.activator_queue,
        r.queue_proxy_queue
    );
    if let Some(d) = r.desired_pods {
        let _ = write!(out, "{d}");
    }
    out.push(',');
    let _ = write!(
        out,
        "{},{},{},{},",
        r.ready_pods, r.pending_pods, r.starting_pods, r.terminating_pods
    );
    f(out, r.observed_stable);
    f(out, r.observed_panic);
    f(out, r.target_per_pod);
    let _ = write!(out, "{},", u8::from(r.panic));
    if let Some(e) = r.excess_burst_capacity {
        let _ = write!(out, "{e}");
    }
    out.push(',');
    let _ = write!(out, "{},{},", u8::from(r.activator_in_path), r.scale_reason);
    f(out, r.latency_p50_ms);
    f(out, r.latency_p95_ms);
    f(out, r.latency_p99_ms);
    let _ = write!(out, "{},", r.cold_start_completions);
    if let Some(c) = &r.cron_fire {
        out.push_str(c);
    }
    out.push(',');
    f(out, r.cpu_utilization);
    f(out, r.gpu_utilization);
    f(out, r.hpa_metric);
    for v in [r.hpa_proposal, r.hpa_recommendation] {
        if let Some(v) = v {
            let _ = write!(out, "{v}");
        }
        out.push(',');
    }
    out.push_str(r.hpa_limit_reason);
    out.push(',');
    let _ = write!(out, "{}", round6(r.row_duration_s));
    out.push('\n');
}

fn row(i: u64) -> SecondRow {
    let x = i as f64;
    SecondRow {
        time_s: i,
        arrivals: 100 + i % 17,
        completions: 99 + i % 13,
        in_flight: i % 7,
        desired_pods: Some(3),
        ready_pods: 3,
        observed_stable: Some(2.0 + (x * 0.37).sin()),
        observed_panic: Some(2.5 + (x * 0.11).cos()),
        target_per_pod: Some(0.7),
        excess_burst_capacity: Some(-4),
        activator_in_path: i.is_multiple_of(2),
        scale_reason: "stable",
        latency_p50_ms: Some(101.234_567 + x.sqrt()),
        latency_p95_ms: Some(180.5 + x.ln_1p()),
        latency_p99_ms: Some(250.0 + (x * 0.01).sin() * 30.0),
        row_duration_s: 1.0,
        ..SecondRow::default()
    }
}

fn main() {
    const ROWS: u64 = 86_400;
    let rows: Vec<SecondRow> = (0..ROWS).map(row).collect();
    let (mut a, mut b) = (String::new(), String::new());
    for r in &rows {
        old_row(r, &mut a);
        r.write_csv(&mut b);
    }
    assert_eq!(a, b, "the two row writers differ");
    let mut line = String::with_capacity(512);
    let mut time = |f: &mut dyn FnMut(&mut String)| {
        let start = Instant::now();
        for _ in 0..5 {
            f(&mut line);
        }
        start.elapsed().as_secs_f64() / 5.0
    };
    let old = time(&mut |line| {
        for r in &rows {
            line.clear();
            old_row(r, line);
            black_box(&line);
        }
    });
    let new = time(&mut |line| {
        for r in &rows {
            line.clear();
            r.write_csv(line);
            black_box(&line);
        }
    });
    println!(
        "timeseries rows: core::fmt {:.0} ns/row, digit writer {:.0} ns/row ({:.2}x), {} rows identical",
        old * 1e9 / ROWS as f64,
        new * 1e9 / ROWS as f64,
        old / new,
        ROWS
    );

    const REQUESTS: u64 = 1_000_000;
    let reqs: Vec<(u64, u64)> = (0..REQUESTS)
        .map(|i| (i * 86_399_937, 20_000_000 + (i * 7_919 % 300_000_000)))
        .collect();
    let old = time(&mut |line| {
        for &(sent, lat) in &reqs {
            line.clear();
            let pod = (sent % 7).to_string();
            let _ = writeln!(
                line,
                "{:.9},{:.6},{},{},{},{}",
                sent as f64 / 1e9,
                lat as f64 / 1_000_000.0,
                200,
                pod,
                1,
                0
            );
            black_box(&line);
        }
    });
    let new = time(&mut |line| {
        for &(sent, lat) in &reqs {
            line.clear();
            push_request_line(line, sent, lat, 200, Some((sent % 7) as u32), true, false);
            black_box(&line);
        }
    });
    println!(
        "requests.csv lines: core::fmt {:.0} ns/line, digit writer {:.0} ns/line ({:.2}x)",
        old * 1e9 / REQUESTS as f64,
        new * 1e9 / REQUESTS as f64,
        old / new
    );
}
