//! Traces and empirical samples read from any reader, not only files: every trace format gives the same
//! arrivals from a reader as from a file (looping included, which replays the buffered bytes), errors name
//! the reader (`<input>` when anonymous) and the line, and `trace inspect` and the Prometheus readers take
//! readers too.

mod common;

use podscale::dist::DurationDist;
use podscale::engine::SimRng;
use podscale::time::{SimDuration, SimTime};
use podscale::traffic::prometheus::{read_aggregate, Aggregate, Selector};
use podscale::traffic::trace::{Spread, TraceFormat, TraceOptions, TraceSource};
use podscale::traffic::{inspect, inspect_input, Arrival, ArrivalSource, TraceInput};
use rand::SeedableRng;
use std::path::PathBuf;

fn temp_file(name: &str, contents: &str) -> PathBuf {
    common::write(&common::tempdir("readers"), name, contents)
}

fn drain(mut source: TraceSource) -> Vec<Arrival> {
    let mut rng = SimRng::seed_from_u64(5);
    let mut out = Vec::new();
    while let Some(a) = source.next_arrival(&mut rng).unwrap() {
        out.push(a);
    }
    out
}

const REQUESTS: &str = "time_s,service_time_ms,prompt_tokens\n0.25,10,3\n0.5,20,4\n2.75,5,1\n";
const COUNTS: &str = "time_s,count\n0,3\n10,0\n20,7.5\n";
const FUNCTIONS: &str =
    "HashOwner,HashApp,HashFunction,Trigger,1,2,3\na,b,c,http,4,0,2\nd,e,f,timer,1,3,0\n";
const PROM_CSV: &str =
    "timestamp,revision,value\n1700000000,a,2\n1700000060,a,0.5\n1700000120,a,3\n";

fn options(format: TraceFormat) -> TraceOptions {
    TraceOptions {
        format,
        spread: Spread::Uniform,
        looped: true,
        end: SimTime::from_secs(900),
        ..TraceOptions::default()
    }
}

#[test]
fn every_format_replays_the_same_arrivals_from_a_reader_as_from_a_file_looping_included() {
    for (name, format, text) in [
        ("requests.csv", TraceFormat::Requests, REQUESTS),
        ("counts.csv", TraceFormat::Counts, COUNTS),
        ("functions.csv", TraceFormat::AzureFunctions, FUNCTIONS),
        ("prom.csv", TraceFormat::Prometheus, PROM_CSV),
    ] {
        let path = temp_file(name, text);
        let from_file = drain(TraceSource::open(&path, options(format)).unwrap());
        let from_reader =
            drain(TraceSource::from_reader(text.as_bytes(), None, options(format)).unwrap());
        assert_eq!(from_file, from_reader, "{name}");
        // Several loop passes, so the buffered bytes were replayed more than once.
        let last = from_file.last().unwrap().at;
        assert!(
            last > SimTime::from_secs(300),
            "{name}: last arrival {last}"
        );
    }
}

#[test]
fn errors_name_the_reader_and_the_line() {
    let bad = "time_s\n1\n2\nsoon\n";
    let run = |name: Option<&str>| {
        let mut source =
            TraceSource::from_reader(bad.as_bytes(), name, TraceOptions::default()).unwrap();
        let mut rng = SimRng::seed_from_u64(0);
        loop {
            match source.next_arrival(&mut rng) {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("`soon` must be refused"),
                Err(e) => return e.to_string(),
            }
        }
    };
    let anonymous = run(None);
    assert!(
        anonymous.starts_with("<input>:4: column `time_s`"),
        "{anonymous}"
    );
    assert!(anonymous.contains("soon"), "{anonymous}");
    let named = run(Some("upload.csv"));
    assert!(named.starts_with("upload.csv:4: "), "{named}");
    // A header the format cannot use is refused when opening, naming the reader and line 1.
    let e = TraceSource::from_reader("a,b\n1,2\n".as_bytes(), None, TraceOptions::default())
        .err()
        .expect("no time column")
        .to_string();
    assert!(e.starts_with("<input>:1: "), "{e}");
}

#[test]
fn inspect_and_prometheus_readers_take_readers() {
    let path = temp_file("inspect.csv", REQUESTS);
    let interval = SimDuration::from_secs(1);
    let from_file = inspect(&path, TraceFormat::Requests, interval).unwrap();
    let input = TraceInput::from_reader(REQUESTS.as_bytes(), Some("stdin")).unwrap();
    let from_reader = inspect_input(&input, TraceFormat::Requests, interval).unwrap();
    assert_eq!(from_reader.path, "stdin");
    assert_eq!(from_reader.counts, from_file.counts);
    assert_eq!(from_reader.requests, 3);
    assert_eq!(from_reader.prompt_tokens, 8);

    let selector = Selector::parse(r#"{revision="a"}"#).unwrap();
    let prom = temp_file("prom.csv", PROM_CSV);
    let file_points = read_aggregate(&prom, &selector, Aggregate::Sum).unwrap();
    let bytes = TraceInput::from_bytes("mem.csv", PROM_CSV.as_bytes());
    assert_eq!(
        read_aggregate(&bytes, &selector, Aggregate::Sum).unwrap(),
        file_points
    );
    let json = " \n{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"revision\":\"a\"},\"values\":[[1700000000,\"2\"],[1700000060,\"0.5\"],[1700000120,\"3\"]]}]}}";
    let from_json = TraceInput::from_reader(json.as_bytes(), None).unwrap();
    assert_eq!(
        read_aggregate(&from_json, &selector, Aggregate::Sum).unwrap(),
        file_points
    );
    let e = read_aggregate(
        TraceInput::from_bytes("mem.csv", &b"timestamp,value\nnow,1\n"[..]),
        &Selector::all(),
        Aggregate::Sum,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("mem.csv: line 2"), "{e}");
}

#[test]
fn empirical_samples_from_a_path_or_a_reader_agree() {
    let text = "latency_ms\n12\n3.5\n40\n";
    let path = temp_file("samples.csv", text);
    let from_path = DurationDist::empirical_from_path(&path).unwrap();
    let from_reader = DurationDist::empirical_from_reader("<input>", text.as_bytes()).unwrap();
    let samples = |d: &DurationDist| match d {
        DurationDist::Empirical { samples, .. } => samples.as_slice().to_vec(),
        _ => panic!("not empirical"),
    };
    assert_eq!(samples(&from_path), samples(&from_reader));
    let e = DurationDist::empirical_from_reader("<input>", "1\n2\nx\n".as_bytes()).unwrap_err();
    assert!(e.starts_with("<input>:3: "), "{e}");
    let e = DurationDist::empirical_from_path(&path.with_file_name("missing.csv")).unwrap_err();
    assert!(e.contains("missing.csv"), "{e}");
}

#[test]
fn trace_inspect_reads_standard_input() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let inspect = |input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_podscale"))
            .args([
                "trace",
                "inspect",
                "-",
                "--format",
                "requests",
                "--interval",
                "1s",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = inspect(REQUESTS);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("<stdin>"), "{text}");
    let out = inspect("time_s\n1\nlater\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("<stdin>:3: "), "{err}");
}
