//! Cold-start durations from what `kubectl` shows, one per pod, in seconds.
//!
//! * `kubectl get pods -o json`: Ready condition's `lastTransitionTime` minus `metadata.creationTimestamp`
//!   (pods that are not Ready are skipped). This matches the simulator's cold start: creation to Ready.
//! * `kubectl get events -o json`: per Pod, the first `Scheduled` event to the last `Started` event
//!   (`eventTime`, else `firstTimestamp`/`lastTimestamp`). Events carry no readiness, so this misses the
//!   readiness-probe delay and the time before scheduling: prefer the pods JSON when you have it.
//! * `kubectl get pods -w` text (`NAME READY STATUS RESTARTS AGE`): the AGE on the first line where the
//!   pod shows all containers ready (`n/n`, `Running`). Pods already ready on their first line (present
//!   before the watch) are skipped. AGE has one-second resolution (coarser beyond a few minutes).

use std::collections::BTreeMap;

fn rfc3339_s(text: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// Parses a kubectl AGE such as `0s`, `45s`, `2m5s`, `3m`, `1h2m`, `2d3h` into seconds.
pub fn parse_age(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut number = String::new();
    let mut any = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        total += n * match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86400.0,
            'y' => 365.0 * 86400.0,
            _ => return None,
        };
        any = true;
    }
    (any && number.is_empty()).then_some(total)
}

/// Cold-start samples (seconds) from any of the three formats; errors name the file and the item/line.
pub fn read(path: &std::path::Path) -> Result<Vec<f64>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let name = path.display();
    if text.trim_start().starts_with('{') {
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{name}: line {}, column {}: {e}", e.line(), e.column()))?;
        let items = doc["items"]
            .as_array()
            .ok_or_else(|| format!("{name}: items: missing; expected the JSON of `kubectl get pods -o json` or `kubectl get events -o json`"))?;
        let is_events = items
            .first()
            .is_some_and(|i| i.get("involvedObject").is_some());
        if is_events {
            let mut pods: BTreeMap<String, (Option<f64>, Option<f64>)> = BTreeMap::new();
            for (i, item) in items.iter().enumerate() {
                if item["involvedObject"]["kind"] != "Pod" {
                    continue;
                }
                let pod = item["involvedObject"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let time = ["eventTime", "firstTimestamp", "lastTimestamp"]
                    .iter()
                    .find_map(|k| item[*k].as_str().and_then(rfc3339_s));
                let reason = item["reason"].as_str().unwrap_or_default();
                if reason != "Scheduled" && reason != "Started" {
                    continue;
                }
                let t = time.ok_or_else(|| format!("{name}: items[{i}] ({reason} of {pod}): no eventTime/firstTimestamp in RFC 3339"))?;
                let entry = pods.entry(pod).or_default();
                if reason == "Scheduled" {
                    entry.0 = Some(entry.0.map_or(t, |s: f64| s.min(t)));
                } else {
                    entry.1 = Some(entry.1.map_or(t, |s: f64| s.max(t)));
                }
            }
            return Ok(pods
                .values()
                .filter_map(|(s, e)| Some(e.as_ref()? - s.as_ref()?))
                .filter(|d| *d >= 0.0)
                .collect());
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let created = item["metadata"]["creationTimestamp"].as_str();
            let ready = item["status"]["conditions"]
                .as_array()
                .and_then(|c| {
                    c.iter()
                        .find(|c| c["type"] == "Ready" && c["status"] == "True")
                })
                .and_then(|c| c["lastTransitionTime"].as_str());
            let (Some(created), Some(ready)) = (created, ready) else {
                continue;
            };
            let bad = |key: &str, v: &str| {
                format!("{name}: items[{i}].{key}: `{v}` is not an RFC 3339 time")
            };
            let c = rfc3339_s(created).ok_or_else(|| bad("metadata.creationTimestamp", created))?;
            let r = rfc3339_s(ready)
                .ok_or_else(|| bad("status.conditions[Ready].lastTransitionTime", ready))?;
            out.push(r - c);
        }
        return Ok(out);
    }
    // `kubectl get pods -w` text.
    let mut state: BTreeMap<String, Option<f64>> = BTreeMap::new();
    let mut first_line_ready: BTreeMap<String, bool> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() || cols[0] == "NAME" {
            continue;
        }
        if cols.len() < 5 {
            return Err(format!("{name}:{}: expected `NAME READY STATUS RESTARTS AGE` (kubectl get pods -w), got `{line}`", i + 1));
        }
        let (pod, ready, status, age) = (cols[0], cols[1], cols[2], cols[cols.len() - 1]);
        let age_s = parse_age(age).ok_or_else(|| {
            format!(
                "{name}:{}: AGE `{age}` is not a kubectl age such as 12s or 2m5s",
                i + 1
            )
        })?;
        let all_ready = ready
            .split_once('/')
            .is_some_and(|(a, b)| a == b && a != "0")
            && status == "Running";
        let first = !first_line_ready.contains_key(pod);
        if first {
            first_line_ready.insert(pod.to_string(), all_ready);
        }
        if all_ready && !first_line_ready[pod] {
            state.entry(pod.to_string()).or_insert(Some(age_s));
        }
    }
    Ok(state.values().flatten().copied().collect())
}
