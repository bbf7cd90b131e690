//! Golden harness for the request pipeline around the KPA decider: replays the reference behaviour of the
//! real Knative code (`testdata/golden/{kpa_reconciler,activator_throttler,kpa_scraper}.yaml`, provenance
//! and replay models in `testdata/golden/README.md` and `PIPELINE.md`) through podscale's library models:
//! [`podscale::autoscaler::kpa::reconcile_pass`], [`podscale::request_path::throttler`] and
//! [`podscale::autoscaler::kpa::scraper`].
//!
//! Prints one line per file, `golden FILE: N/M match` (run with `--nocapture`), where M counts every case and
//! helper/table row of the file. Every compared value must be equal: integers, strings and booleans exactly,
//! and floats exactly too (the files give them in shortest round-trip form, produced by the same operations
//! in the same order). The test fails listing the first mismatches.
//!
//! Files in the directory named by `PODSCALE_EXTRA_GOLDEN` whose names start with `kpa_reconciler`,
//! `activator_throttler` or `kpa_scraper` are run exactly like their namesakes.

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;

use serde::Deserialize;

mod golden_pipeline_parts;

const MAX_REPORTED_MISMATCHES: usize = 15;

/// Collects mismatches for one case.
#[derive(Default)]
pub struct Checker {
    pub mismatches: Vec<String>,
}

impl Checker {
    pub fn exact<T: PartialEq + Debug>(&mut self, at: &str, field: &str, expected: T, actual: T) {
        if expected != actual {
            self.mismatches.push(format!(
                "{at}: {field} expected {expected:?}, actual {actual:?}"
            ));
        }
    }
}

/// Counts one case: matched when it added no mismatch.
#[derive(Default)]
pub struct Tally {
    pub matched: usize,
    pub total: usize,
    pub check: Checker,
}

impl Tally {
    pub fn case(&mut self, f: impl FnOnce(&mut Checker)) {
        let before = self.check.mismatches.len();
        f(&mut self.check);
        self.total += 1;
        if self.check.mismatches.len() == before {
            self.matched += 1;
        }
    }
    pub fn finish(self) -> (usize, usize, Vec<String>) {
        (self.matched, self.total, self.check.mismatches)
    }
}

/// Runs `run` on the built-in file and every extra file with `prefix`, prints the summary lines, and fails
/// with the first mismatches.
fn run_golden(builtin: &str, prefix: &str, run: fn(&str) -> (usize, usize, Vec<String>)) {
    let files = common::golden_files(builtin, prefix);
    let mut failures = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (matched, total, mismatches) = run(&text);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        println!("golden {name}: {matched}/{total} match");
        failures.extend(mismatches.into_iter().map(|m| format!("{name}: {m}")));
    }
    if !failures.is_empty() {
        let shown: Vec<&str> = failures
            .iter()
            .take(MAX_REPORTED_MISMATCHES)
            .map(String::as_str)
            .collect();
        panic!(
            "{} golden mismatches; first ones:\n{}",
            failures.len(),
            shown.join("\n")
        );
    }
}

pub fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> T {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("golden file does not parse: {e}"))
}

pub type Annotations = BTreeMap<String, String>;

#[test]
fn golden_kpa_reconciler() {
    run_golden(
        "kpa_reconciler.yaml",
        "kpa_reconciler",
        golden_pipeline_parts::reconciler::run,
    );
}

#[test]
fn golden_activator_throttler() {
    run_golden(
        "activator_throttler.yaml",
        "activator_throttler",
        golden_pipeline_parts::throttler::run,
    );
}

#[test]
fn golden_kpa_scraper() {
    run_golden(
        "kpa_scraper.yaml",
        "kpa_scraper",
        golden_pipeline_parts::scraper::run,
    );
}
