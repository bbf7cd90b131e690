//! `podscale serve`: a local teaching playground. One page (HTML, JS and CSS compiled into the binary,
//! nothing fetched from the network) where a user picks a bundled scenario or pastes one, moves sliders
//! that become `--set` overrides, and sees the replica curve, the autoscaler metric against its target
//! (panic shaded) and latency.
//!
//! Every slider move is one `POST /api/run`: the server simulates the whole scenario again, with the
//! traffic and cooldown shortened to [`MAX_DURATION`] and [`MAX_COOLDOWN`] so that a run takes a fraction
//! of a second; the page says when it shortened them. Requests are served one at a time (the simulation
//! is single-threaded and the page sends one run at a time), on loopback unless `--host` says otherwise.
//!
//! Routes: `GET /` (page), `GET /app.js`, `GET /style.css`, `GET /api/scenarios` (the bundled scenarios'
//! YAML), `POST /api/run` (JSON `{name, yaml, overrides: ["key=value"], rate_scale}` in; summary, series,
//! the effective YAML and the server's wall time out; 400 with the located messages when invalid).

mod glue;

use podscale::scenario::overrides::apply_override;
use podscale::time::SimDuration;
use serde_json::{json, Value};
use std::io::Read;
use std::time::Instant;

/// Longest simulated traffic one playground run simulates.
pub const MAX_DURATION: SimDuration = SimDuration::from_secs(300);
/// Longest simulated cooldown one playground run simulates.
pub const MAX_COOLDOWN: SimDuration = SimDuration::from_secs(180);
/// Largest request body accepted (a pasted scenario plus overrides).
const MAX_BODY: u64 = 1 << 20;

const INDEX_HTML: &str = include_str!("../../assets/playground/index.html");
const APP_JS: &str = include_str!("../../assets/playground/app.js");
const STYLE_CSS: &str = include_str!("../../assets/playground/style.css");

/// The scenarios offered in the picker: self-contained ones (no trace or manifest files beside them).
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "quickstart.yaml",
        include_str!("../../scenarios/quickstart.yaml"),
    ),
    (
        "kserve-scale-to-zero.yaml",
        include_str!("../../scenarios/kserve-scale-to-zero.yaml"),
    ),
    (
        "kserve-burst-min1-max3.yaml",
        include_str!("../../scenarios/kserve-burst-min1-max3.yaml"),
    ),
    (
        "kpa-bursty.yaml",
        include_str!("../../scenarios/kpa-bursty.yaml"),
    ),
];

/// Serves the playground on `host:port` until the process is stopped.
pub fn serve(host: &str, port: u16) -> Result<(), String> {
    let server = tiny_http::Server::http((host, port))
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let addr = server
        .server_addr()
        .to_ip()
        .map(|a| a.to_string())
        .unwrap_or_else(|| format!("{host}:{port}"));
    // Tests and scripts wait for this line (and read the port from it when started with --port 0).
    println!("podscale playground on http://{addr}/  (Ctrl-C stops it)");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    for mut request in server.incoming_requests() {
        let (status, content_type, body) = route(&mut request);
        let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes())
            .expect("static header is valid");
        let response = tiny_http::Response::from_string(body)
            .with_status_code(status)
            .with_header(header);
        let url = request.url().to_string();
        if let Err(e) = request.respond(response) {
            eprintln!("warning: could not answer {url}: {e}");
        }
    }
    Ok(())
}

type Reply = (u16, &'static str, String);

fn route(request: &mut tiny_http::Request) -> Reply {
    use tiny_http::Method;
    let path = request.url().split('?').next().unwrap_or("").to_string();
    match (request.method(), path.as_str()) {
        (Method::Get, "/") | (Method::Get, "/index.html") => {
            (200, "text/html; charset=utf-8", INDEX_HTML.into())
        }
        (Method::Get, "/app.js") => (200, "text/javascript; charset=utf-8", APP_JS.into()),
        (Method::Get, "/style.css") => (200, "text/css; charset=utf-8", STYLE_CSS.into()),
        (Method::Get, "/api/scenarios") => {
            let list: Vec<Value> = BUNDLED
                .iter()
                .map(|(name, yaml)| json!({"name": name, "yaml": yaml}))
                .collect();
            json_reply(200, &Value::Array(list))
        }
        (Method::Post, "/api/run") => {
            let mut body = String::new();
            if let Err(e) = request.as_reader().take(MAX_BODY).read_to_string(&mut body) {
                return json_reply(400, &json!({"error": format!("unreadable request: {e}")}));
            }
            match run_request(&body) {
                Ok(v) => json_reply(200, &v),
                Err(message) => json_reply(400, &json!({ "error": message })),
            }
        }
        _ => (
            404,
            "text/plain; charset=utf-8",
            format!("no page at {path}\n"),
        ),
    }
}

fn json_reply(status: u16, value: &Value) -> Reply {
    (status, "application/json", value.to_string())
}

/// One playground run: parses the request, scales the traffic, simulates, and adds the effective YAML
/// and the measured wall time.
pub fn run_request(body: &str) -> Result<Value, String> {
    let req: Value = serde_json::from_str(body).map_err(|e| format!("bad request JSON: {e}"))?;
    let yaml = req["yaml"]
        .as_str()
        .ok_or("the request needs `yaml` (the scenario text)")?;
    let name = req["name"].as_str().unwrap_or("pasted.yaml");
    // Only a plain file name: it becomes a file inside the server's private temporary folder.
    let name = if is_plain_yaml_name(name) {
        name
    } else {
        "pasted.yaml"
    };
    let overrides: Vec<String> = match &req["overrides"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or("overrides are strings key=value")
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("`overrides` is a list of \"key=value\" strings".into()),
    };
    let rate_scale = req["rate_scale"].as_f64().unwrap_or(1.0);
    if !(rate_scale > 0.0 && rate_scale <= 100.0) {
        return Err(format!(
            "rate_scale {rate_scale} is out of range; allowed: 0 < rate_scale <= 100"
        ));
    }
    let text = if rate_scale == 1.0 {
        yaml.to_string()
    } else {
        scale_traffic(yaml, rate_scale)?
    };
    let started = Instant::now();
    let mut result =
        glue::simulate(name, &text, &overrides, MAX_DURATION, MAX_COOLDOWN).map_err(|e| e.0)?;
    let sim_ms = started.elapsed().as_secs_f64() * 1e3;
    result["server_ms"] = json!((sim_ms * 10.0).round() / 10.0);
    result["yaml"] = json!(effective_yaml(&text, &overrides)?);
    Ok(result)
}

fn is_plain_yaml_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && (name.ends_with(".yaml") || name.ends_with(".yml"))
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
}

/// The scenario with the overrides written in, for the download link (comments are not kept).
fn effective_yaml(text: &str, overrides: &[String]) -> Result<String, String> {
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| format!("malformed YAML: {e}"))?;
    for o in overrides {
        apply_override(&mut doc, o).map_err(|e| format!("--set {o}: {e}"))?;
    }
    serde_yaml::to_string(&doc).map_err(|e| format!("cannot write YAML: {e}"))
}

/// Multiplies every arrival rate under `traffic:` by `k`: keys `rate`, `*_rate`, `rate_*`, a sine's
/// `amplitude` and a trace's `load_scale`. Closed-loop client counts and counts traces are not rates and
/// are left alone. Line numbers of later errors refer to the rewritten text.
pub fn scale_traffic(text: &str, k: f64) -> Result<String, String> {
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| format!("malformed YAML: {e}"))?;
    if let Some(traffic) = doc.get_mut("traffic") {
        scale_rates(traffic, k);
    }
    serde_yaml::to_string(&doc).map_err(|e| format!("cannot write YAML: {e}"))
}

fn scale_rates(v: &mut serde_yaml::Value, k: f64) {
    use serde_yaml::Value as Y;
    match v {
        Y::Mapping(map) => {
            for (key, value) in map.iter_mut() {
                let is_rate = key.as_str().is_some_and(|s| {
                    s == "rate"
                        || s.ends_with("_rate")
                        || s.starts_with("rate_")
                        || s == "amplitude"
                        || s == "load_scale"
                });
                match value.as_f64() {
                    Some(x) if is_rate => *value = Y::from(x * k),
                    _ => scale_rates(value, k),
                }
            }
        }
        Y::Sequence(items) => items.iter_mut().for_each(|i| scale_rates(i, k)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_every_rate_under_traffic_only() {
        let text = "name: x\nservice: {rate: 5}\ntraffic:\n  kind: piecewise\n  points: [{at: 0s, rate: 20}, {at: 60s, rate: 600}]\n";
        let out: serde_yaml::Value =
            serde_yaml::from_str(&scale_traffic(text, 0.5).unwrap()).unwrap();
        assert_eq!(out["traffic"]["points"][0]["rate"].as_f64(), Some(10.0));
        assert_eq!(out["traffic"]["points"][1]["rate"].as_f64(), Some(300.0));
        assert_eq!(out["service"]["rate"].as_f64(), Some(5.0));
    }

    #[test]
    fn a_run_request_returns_series_and_caps_long_scenarios() {
        let body = json!({"name": "kpa-bursty.yaml", "yaml": BUNDLED[3].1,
                          "overrides": ["autoscaler.config.stable-window=30s"]});
        let v = run_request(&body.to_string()).unwrap();
        // kpa-bursty runs 20 min: capped to 300 s of traffic, cooldown 0 => 300 rows.
        assert_eq!(v["series"]["time_s"].as_array().unwrap().len(), 300);
        assert_eq!(v["capped"].as_array().unwrap().len(), 1);
        assert!(v["yaml"].as_str().unwrap().contains("stable-window: 30s"));
        assert!(v["summary"]["requests"].is_object());
    }

    #[test]
    fn bad_values_come_back_located() {
        let body = json!({"name": "quickstart.yaml", "yaml": BUNDLED[0].1,
                          "overrides": ["autoscaler.config.panic-threshold-percentage=abc"]});
        let err = run_request(&body.to_string()).unwrap_err();
        assert!(err.contains("quickstart.yaml:"), "{err}");
        assert!(err.contains("panic-threshold-percentage"), "{err}");
    }

    #[test]
    fn unsafe_names_are_replaced() {
        assert!(!is_plain_yaml_name("../x.yaml"));
        assert!(!is_plain_yaml_name("a/b.yaml"));
        assert!(is_plain_yaml_name("quickstart.yaml"));
    }
}
