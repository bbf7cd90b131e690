//! Helpers shared by the integration tests. Every run goes through the library's entry points
//! ([`Simulation::from_path`], [`Simulation::from_str`]), so the tests exercise the path users take; a
//! test file declares `mod common;` and uses what it needs.
#![allow(dead_code)] // each test file uses a subset

use podscale::observe::output::{CollectTimeseries, NoTimeseries, RunSummary, SecondRow};
use podscale::sim::{CsvRequestLog, RequestLog, RequestRecord};
use podscale::{Simulation, SimulationError};
use std::path::{Path, PathBuf};

/// A bundled scenario: `scenarios/NAME` (`.yaml` added when missing).
pub fn bundled(name: &str) -> PathBuf {
    let file = if name.ends_with(".yaml") {
        name.to_string()
    } else {
        format!("{name}.yaml")
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file)
}

/// A fresh folder under the system's temporary folder, unique to this test process and `tag`.
pub fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("podscale-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes the scenario `text` to a temporary `NAME.yaml` (so outputs and errors carry that name).
pub fn scenario_file(name: &str, text: &str) -> PathBuf {
    write(&tempdir(name), &format!("{name}.yaml"), text)
}

/// `--set`-style overrides from string slices.
pub fn strings(overrides: &[&str]) -> Vec<String> {
    overrides.iter().map(|s| s.to_string()).collect()
}

/// Builds the scenario at `path` with `overrides`, panicking with the located errors if it is invalid.
pub fn sim(path: &Path, overrides: &[&str]) -> Simulation {
    Simulation::from_path(path, &strings(overrides), None).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a built simulation, collecting every per-second row.
pub fn run_sim(sim: Simulation) -> (RunSummary, Vec<SecondRow>) {
    let mut rows = CollectTimeseries::default();
    let summary = sim.run(&mut rows).unwrap_or_else(|e| panic!("{e}"));
    (summary, rows.0)
}

/// Runs the scenario at `path` with `overrides`: the summary and every per-second row.
pub fn run(path: &Path, overrides: &[&str]) -> (RunSummary, Vec<SecondRow>) {
    run_sim(sim(path, overrides))
}

/// Runs scenario `text` written to a temporary `NAME.yaml`.
pub fn run_text(name: &str, text: &str) -> (RunSummary, Vec<SecondRow>) {
    run(&scenario_file(name, text), &[])
}

/// The summary alone (rows are not kept).
pub fn summary(path: &Path, overrides: &[&str]) -> RunSummary {
    sim(path, overrides)
        .run(&mut NoTimeseries)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The summary and the per-request log (`requests.csv` text) of the scenario at `path`.
pub fn requests_csv(path: &Path, overrides: &[&str]) -> (RunSummary, String) {
    let mut log = CsvRequestLog::new(Vec::new()).unwrap();
    let summary = sim(path, overrides)
        .run_with_log(&mut NoTimeseries, &mut log)
        .unwrap_or_else(|e| panic!("{e}"));
    (summary, String::from_utf8(log.into_inner()).unwrap())
}

/// The error text of a scenario that must be refused (panics if it builds).
pub fn errors_of(path: &Path, overrides: &[&str]) -> String {
    match Simulation::from_path(path, &strings(overrides), None) {
        Err(SimulationError::Scenario(e)) => e.to_string(),
        Err(e) => panic!(
            "{} fails to start instead of being refused: {e}",
            path.display()
        ),
        Ok(_) => panic!("{} should not validate", path.display()),
    }
}

/// The row of second `t`.
pub fn row(rows: &[SecondRow], t: u64) -> &SecondRow {
    rows.iter()
        .find(|r| r.time_s == t)
        .unwrap_or_else(|| panic!("no row for second {t}"))
}

/// The golden files of one harness: `testdata/golden/BUILTIN`, then every file in
/// `$PODSCALE_EXTRA_GOLDEN` whose name starts with `prefix`, in name order.
pub fn golden_files(builtin: &str, prefix: &str) -> Vec<PathBuf> {
    let mut files = vec![Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/golden")
        .join(builtin)];
    if let Some(dir) = std::env::var_os("PODSCALE_EXTRA_GOLDEN") {
        let mut extra: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| {
                panic!("PODSCALE_EXTRA_GOLDEN={dir:?} is not a readable folder: {e}")
            })
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .collect();
        extra.sort();
        files.extend(extra);
    }
    files
}

/// A request log that keeps every finished request in memory.
#[derive(Default)]
pub struct KeepRequests(pub Vec<RequestRecord>);

impl RequestLog for KeepRequests {
    fn record(&mut self, r: &RequestRecord) -> std::io::Result<()> {
        self.0.push(*r);
        Ok(())
    }
}
