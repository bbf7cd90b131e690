//! Mutation fuzzing of the scenario loader (load + prepare, i.e. `podscale validate`) and the trace readers
//! (scan, inspect), seeded with the bundled scenarios and traces, with a fixed seed and case budget so that
//! CI runs the same campaign every time. Every case runs on its own thread under a time bound: a panic is
//! a crash, a case over the bound is a hang; the campaign asserts zero of both.
//!
//! `PODSCALE_FUZZ_CASES` raises the budget for a longer campaign (default 2000 scenario cases and 800
//! trace cases, about a minute in a debug build, seconds in release). A second test measures the share of single-value
//! mutations of the bundled scenarios whose first error names the mutated key and its line; run it with
//! `cargo test --release --test fuzz -- --nocapture` to see the figure.

use podscale::engine::SimRng;
use podscale::scenario;
use podscale::time::SimDuration;
use podscale::traffic::trace::{scan, TraceOptions};
use podscale::traffic::{inspect, TraceFormat};
use rand::{RngExt, SeedableRng};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// Time bound of one case. Generous for a debug build on a shared machine; a hang is unbounded.
const CASE_LIMIT: Duration = Duration::from_secs(20);

const INTERESTING: &[&str] = &[
    "-1",
    "0",
    "1e308",
    "-1e308",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "1ns",
    "100000h",
    ".nan",
    ".inf",
    "\"\"",
    "[]",
    "{}",
    "~",
    "!tag x",
    "5 seconds",
    "1e-300",
    "abc",
    "[[[[",
    "&a x",
    "*a",
    "0.0000001",
    "10000000",
    "{dist: exponential, mean: 0s}",
    "{x: 1}",
    "[1, 2]",
    "true",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn budget(default: usize) -> usize {
    std::env::var("PODSCALE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seeds(dir: &str, ext: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(repo().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// One random edit of `text`.
fn mutate(text: &str, rng: &mut SimRng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return INTERESTING[rng.random_range(0..INTERESTING.len())].to_string();
    }
    let i = rng.random_range(0..lines.len());
    let pick = |rng: &mut SimRng| INTERESTING[rng.random_range(0..INTERESTING.len())];
    match rng.random_range(0..7) {
        // Replace a value (block `key: value`, a flow entry, or a CSV field).
        0..=2 => {
            let line = &lines[i];
            let cut = line
                .match_indices([':', ','])
                .map(|(k, _)| k)
                .collect::<Vec<_>>();
            if !cut.is_empty() {
                let at = cut[rng.random_range(0..cut.len())] + 1;
                let end = line[at..]
                    .find([',', '}', ']'])
                    .map_or(line.len(), |e| at + e);
                lines[i] = format!("{} {}{}", &line[..at], pick(rng), &line[end..]);
            } else {
                lines[i] = pick(rng).to_string();
            }
        }
        3 => {
            lines.remove(i);
        }
        4 => {
            let copy = lines[i].clone();
            lines.insert(i, copy);
        }
        5 => {
            let line = &mut lines[i];
            if rng.random::<bool>() {
                line.insert_str(0, "  ");
            } else if line.starts_with("  ") {
                line.replace_range(0..2, "");
            }
        }
        _ => {
            let specials = [
                "{", "[", "\"", "'", "#", ": ", "- ", "\t", "\u{feff}", "&", "*", "!",
            ];
            let line = &mut lines[i];
            let at = (0..=line.len())
                .filter(|k| line.is_char_boundary(*k))
                .nth(rng.random_range(0..=line.chars().count()))
                .unwrap_or(0);
            line.insert_str(at, specials[rng.random_range(0..specials.len())]);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Runs `case` on its own thread: `Ok(())` when it returned, `Err("panic" | "hang")` otherwise.
fn bounded(case: impl FnOnce() + Send + 'static) -> Result<(), &'static str> {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        case();
        let _ = tx.send(());
    });
    match rx.recv_timeout(CASE_LIMIT) {
        Ok(()) => {
            let _ = handle.join();
            Ok(())
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("panic"),
        Err(mpsc::RecvTimeoutError::Timeout) => Err("hang"),
    }
}

/// A copy of the repository's scenarios/ and traces/ layout, so relative trace paths resolve.
fn workspace(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("podscale-fuzz-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::create_dir_all(dir.join("traces")).unwrap();
    for (file, text) in seeds("traces", "csv") {
        std::fs::write(dir.join("traces").join(file), text).unwrap();
    }
    dir
}

#[derive(Default, Debug)]
struct Campaign {
    cases: usize,
    accepted: usize,
    refused: usize,
    failures: Vec<String>,
}

#[test]
fn scenario_loader_never_panics_or_hangs() {
    let dir = workspace("scenarios");
    let seeds = seeds("scenarios", "yaml");
    let mut rng = SimRng::seed_from_u64(14);
    let mut c = Campaign::default();
    for n in 0..budget(2000) {
        let (name, base) = &seeds[n % seeds.len()];
        let mut text = base.clone();
        for _ in 0..rng.random_range(1..=3) {
            text = mutate(&text, &mut rng);
        }
        let path = dir.join("scenarios").join(format!("case-{n}.yaml"));
        std::fs::write(&path, &text).unwrap();
        let (tx, rx) = mpsc::channel();
        let p = path.clone();
        let outcome = bounded(move || {
            let ok = scenario::load(&p, &[])
                .and_then(|l| scenario::prepare(&l, None).map(|_| ()))
                .is_ok();
            let _ = tx.send(ok);
        });
        c.cases += 1;
        match outcome {
            Ok(()) if rx.recv().unwrap_or(false) => c.accepted += 1,
            Ok(()) => c.refused += 1,
            Err(kind) => c
                .failures
                .push(format!("{kind}: mutation of {name}:\n{text}")),
        }
        let _ = std::fs::remove_file(&path);
    }
    println!("scenario fuzz: {c:?}");
    assert!(c.failures.is_empty(), "{}", c.failures.join("\n---\n"));
    assert!(c.refused > 0 && c.accepted > 0, "{c:?}");
}

#[test]
fn trace_readers_never_panic_or_hang() {
    let dir = workspace("traces");
    // Small seeds keep each case fast: the head of every bundled trace.
    let seeds: Vec<(String, String)> = seeds("traces", "csv")
        .into_iter()
        .map(|(n, t)| (n, t.lines().take(60).collect::<Vec<_>>().join("\n") + "\n"))
        .collect();
    let formats = [
        TraceFormat::Requests,
        TraceFormat::AzureLlm,
        TraceFormat::Counts,
        TraceFormat::AzureFunctions,
    ];
    let mut rng = SimRng::seed_from_u64(15);
    let mut c = Campaign::default();
    for n in 0..budget(800) {
        let (name, base) = &seeds[n % seeds.len()];
        let mut text = base.clone();
        for _ in 0..rng.random_range(1..=3) {
            text = mutate(&text, &mut rng);
        }
        let path = dir.join("traces").join(format!("case-{n}.csv"));
        std::fs::write(&path, &text).unwrap();
        let format = formats[rng.random_range(0..formats.len())];
        let interval = SimDuration::from_secs(rng.random_range(1..120));
        let (tx, rx) = mpsc::channel();
        let p = path.clone();
        let outcome = bounded(move || {
            let options = TraceOptions {
                format,
                looped: true,
                ..TraceOptions::default()
            };
            let scanned = scan(&p, &options, 10_000_000.0).is_ok();
            let inspected = inspect(&p, format, interval).is_ok();
            let _ = tx.send(scanned && inspected);
        });
        c.cases += 1;
        match outcome {
            Ok(()) if rx.recv().unwrap_or(false) => c.accepted += 1,
            Ok(()) => c.refused += 1,
            Err(kind) => c
                .failures
                .push(format!("{kind}: {format:?} mutation of {name}:\n{text}")),
        }
        let _ = std::fs::remove_file(&path);
    }
    println!("trace fuzz: {c:?}");
    assert!(c.failures.is_empty(), "{}", c.failures.join("\n---\n"));
}

/// Every single-value mutation point of a scenario: (line, dotted path, key, value) for block `key: value`
/// lines and for the entries of one-line flow maps.
fn value_sites(text: &str) -> Vec<(usize, String, String, String)> {
    fn join(stack: &[(usize, String)]) -> String {
        let mut out = String::new();
        for (_, seg) in stack {
            if !seg.starts_with('[') && !out.is_empty() {
                out.push('.');
            }
            out += seg;
        }
        out
    }
    let mut sites = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut items: Vec<(String, usize)> = Vec::new();
    let mut in_block_scalar: Option<usize> = None;
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        let mut indent = raw.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(i) = in_block_scalar {
            if indent > i {
                continue;
            }
            in_block_scalar = None;
        }
        let mut body = trimmed;
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        if let Some(rest) = body.strip_prefix("- ") {
            let parent = join(&stack);
            let index = match items.iter_mut().find(|(p, _)| *p == parent) {
                Some((_, c)) => {
                    *c += 1;
                    *c
                }
                None => {
                    items.push((parent, 0));
                    0
                }
            };
            stack.push((indent, format!("[{index}]")));
            body = rest;
            indent += 2;
        }
        let Some((key, value)) = body.split_once(':') else {
            continue;
        };
        if key.is_empty() || key.contains([' ', '{', '"', '[']) {
            continue;
        }
        let value = value.split(" #").next().unwrap_or("").trim();
        let here = {
            let base = join(&stack);
            if base.is_empty() {
                key.to_string()
            } else {
                format!("{base}.{key}")
            }
        };
        if value.is_empty() {
            stack.push((indent, key.to_string()));
            items.retain(|(p, _)| !p.starts_with(&here));
            continue;
        }
        if value.starts_with('>') || value.starts_with('|') {
            in_block_scalar = Some(indent);
            continue;
        }
        if value.starts_with('{') && value.ends_with('}') && !value[1..].contains(['{', '[']) {
            for entry in value[1..value.len() - 1].split(',') {
                if let Some((k, v)) = entry.split_once(':') {
                    let (k, v) = (k.trim(), v.trim());
                    if !k.is_empty() && !k.contains([' ', '"', '/']) && !v.is_empty() {
                        sites.push((n + 1, format!("{here}.{k}"), k.to_string(), v.to_string()));
                    }
                }
            }
        } else if !value.starts_with(['{', '[', '&', '*', '!']) {
            sites.push((n + 1, here, key.to_string(), value.to_string()));
        }
    }
    sites
}

#[test]
fn share_of_mutations_whose_error_names_key_and_line() {
    let dir = workspace("share");
    let mut total = 0usize;
    let mut errored = 0usize;
    let mut right = 0usize;
    let mut wrong: Vec<String> = Vec::new();
    for (name, text) in seeds("scenarios", "yaml") {
        for (line, path, key, value) in value_sites(&text) {
            // A value of the wrong kind for every field: a list.
            let lines: Vec<&str> = text.lines().collect();
            let target = lines[line - 1];
            let needle = format!("{key}: {value}");
            let Some(at) = target.find(&needle) else {
                continue;
            };
            let mutated_line = format!(
                "{}{key}: [1, 2]{}",
                &target[..at],
                &target[at + needle.len()..]
            );
            let mut mutated: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            mutated[line - 1] = mutated_line;
            let file = dir.join("scenarios").join(&name);
            std::fs::write(&file, mutated.join("\n") + "\n").unwrap();
            total += 1;
            let result =
                scenario::load(&file, &[]).and_then(|l| scenario::prepare(&l, None).map(|_| ()));
            let Err(errors) = result else { continue };
            errored += 1;
            let hit = errors.0.iter().any(|e| {
                e.line == Some(line)
                    && (e.key.ends_with(&key) || e.key.ends_with(&format!("{key}\"")))
            });
            if hit {
                right += 1;
            } else {
                wrong.push(format!("{name}:{line} {path}: {}", errors.0[0]));
            }
        }
    }
    let share = right as f64 / errored.max(1) as f64;
    println!(
        "single-value mutations: {total} sites, {errored} refused, {right} name the key and line ({:.1} %)",
        100.0 * share
    );
    for w in wrong.iter().take(15) {
        println!("  missed: {w}");
    }
    assert!(errored > 50, "too few mutation sites: {errored}");
    assert!(
        share >= 0.5,
        "only {:.1} % of errors name the mutated key and line",
        100.0 * share
    );
}
