//! The playground's only contact with the podscale library: scenario text plus `--set` overrides in,
//! one JSON document (summary and the per-second columns the page plots) out.
//!
//! Library calls used: `scenario::load_str` (the text under the page's file name, so errors read
//! `quickstart.yaml:12: ...`) to read the durations it caps, `Simulation::from_loaded` /
//! `Simulation::from_str` and `run` with a row-collecting [`TimeseriesSink`], and the errors' `Display`
//! for located messages.

use podscale::observe::output::{SecondRow, TimeseriesSink};
use podscale::scenario;
use podscale::time::SimDuration;
use podscale::{Simulation, SimulationError};
use serde_json::{json, Value};
use std::path::Path;

/// Why a run produced no plot: the scenario is invalid (located messages) or the run itself failed.
#[derive(Debug)]
pub struct RunError(pub String);

/// Collects every per-second row in memory (a capped playground run has a few hundred).
#[derive(Default)]
struct Rows(Vec<SecondRow>);

impl TimeseriesSink for Rows {
    fn row(&mut self, row: &SecondRow) -> std::io::Result<()> {
        self.0.push(row.clone());
        Ok(())
    }
}

/// Runs `text` with `overrides`, shortening `duration` to `max_duration` and `cooldown` to
/// `max_cooldown` so one slider move stays interactive; says in the result when it did.
pub fn simulate(
    file_name: &str,
    text: &str,
    overrides: &[String],
    max_duration: SimDuration,
    max_cooldown: SimDuration,
) -> Result<Value, RunError> {
    let failed = |e: SimulationError| match e {
        SimulationError::Scenario(e) => RunError(e.to_string()),
        e => RunError(format!("simulation failed: {e}")),
    };
    // Relative paths (traces, samples) resolve against the server's working folder.
    let loaded = scenario::load_str(text, Path::new(file_name), Path::new(""), overrides)
        .map_err(|e| RunError(e.to_string()))?;
    let mut capped = Vec::new();
    let mut all = overrides.to_vec();
    if loaded.spec.duration > max_duration {
        capped.push(format!(
            "duration {} s -> {} s",
            loaded.spec.duration.whole_secs(),
            max_duration.whole_secs()
        ));
        all.push(format!("duration={}s", max_duration.whole_secs()));
    }
    if loaded.spec.cooldown > max_cooldown {
        capped.push(format!(
            "cooldown {} s -> {} s",
            loaded.spec.cooldown.whole_secs(),
            max_cooldown.whole_secs()
        ));
        all.push(format!("cooldown={}s", max_cooldown.whole_secs()));
    }
    let sim = if capped.is_empty() {
        Simulation::from_loaded(&loaded, None)
    } else {
        Simulation::from_str(text, file_name, &all, None)
    };
    let mut rows = Rows::default();
    let summary = sim.and_then(|s| s.run(&mut rows)).map_err(failed)?;
    let mut summary = serde_json::to_value(&summary)
        .map_err(|e| RunError(format!("cannot encode the summary: {e}")))?;
    if let Some(map) = summary.as_object_mut() {
        // The page shows its own measured time; the large echo of the configuration is not plotted.
        map.remove("effective_config");
        map.remove("latency_histogram_ms");
    }
    Ok(json!({
        "summary": summary,
        "capped": capped,
        "series": columns(&rows.0),
    }))
}

/// The plotted columns, one array each (JSON `null` where a row has no value).
fn columns(rows: &[SecondRow]) -> Value {
    let col = |f: &dyn Fn(&SecondRow) -> Value| -> Value { rows.iter().map(f).collect() };
    json!({
        "time_s": col(&|r| json!(r.time_s)),
        "arrivals": col(&|r| json!(r.arrivals)),
        "desired_pods": col(&|r| json!(r.desired_pods)),
        "ready_pods": col(&|r| json!(r.ready_pods)),
        "starting_pods": col(&|r| json!(r.pending_pods + r.starting_pods)),
        "observed_stable": col(&|r| json!(r.observed_stable)),
        "observed_panic": col(&|r| json!(r.observed_panic)),
        // Revision-level target as the report's metric plot draws it: per-pod target x ready pods (>= 1).
        "target": col(&|r| json!(r.target_per_pod.map(|t| t * f64::from(r.ready_pods.max(1))))),
        "panic": col(&|r| json!(r.panic)),
        "activator_in_path": col(&|r| json!(r.activator_in_path)),
        "activator_queue": col(&|r| json!(r.activator_queue)),
        "latency_p50_ms": col(&|r| json!(r.latency_p50_ms)),
        "latency_p99_ms": col(&|r| json!(r.latency_p99_ms)),
        "failures": col(&|r| json!(r.failures)),
    })
}
