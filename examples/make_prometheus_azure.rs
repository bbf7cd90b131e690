//! Builds `traces/azure-llm-code-rate.prom.json`: the request rate of the bundled Azure LLM 2023 code trace
//! (CC-BY 4.0, Patel et al., "Splitwise", ISCA 2024) as a Prometheus `/api/v1/query_range` answer, the way
//! `sum(rate(requests_total[1m]))` at a 60 s step would return it: one sample per minute, value = requests
//! in `[t, t + 60 s)` / 60, timestamps in unix seconds from the trace's wall clock (read as UTC).
//!
//! Run: `cargo run --example make_prometheus_azure` (deterministic; no randomness).

use std::collections::BTreeMap;
use std::fmt::Write as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut reader = csv::Reader::from_path("traces/AzureLLMInferenceTrace_code.csv")?;
    let mut per_minute: BTreeMap<i64, u64> = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let record = record?;
        let t = chrono::NaiveDateTime::parse_from_str(&record[0], "%Y-%m-%d %H:%M:%S%.f")
            .map_err(|e| format!("row {}: {e}", i + 2))?
            .and_utc()
            .timestamp();
        *per_minute.entry(t.div_euclid(60) * 60).or_insert(0) += 1;
    }
    let (first, last) = match (per_minute.keys().next(), per_minute.keys().last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => return Err("empty trace".into()),
    };
    let mut values = String::new();
    let mut total = 0;
    for minute in (first..=last).step_by(60) {
        let n = per_minute.get(&minute).copied().unwrap_or(0);
        total += n;
        if !values.is_empty() {
            values.push(',');
        }
        // Six decimals keep the per-minute count exact after multiplying by 60 and rounding.
        write!(values, "[{minute},\"{:.6}\"]", n as f64 / 60.0)?;
    }
    let json = format!(
        "{{\"status\":\"success\",\"data\":{{\"resultType\":\"matrix\",\"result\":[{{\"metric\":{{\"service\":\"azure-llm-code\",\"source\":\"Azure LLM inference trace 2023 (CC-BY 4.0, Patel et al., Splitwise, ISCA 2024)\"}},\"values\":[{values}]}}]}}}}\n"
    );
    std::fs::write("traces/azure-llm-code-rate.prom.json", json)?;
    println!(
        "traces/azure-llm-code-rate.prom.json: {} minutes, {total} requests",
        (last - first) / 60 + 1
    );
    Ok(())
}
