//! `podscale serve` over real HTTP: the page and its assets come from the binary, a run answers with the
//! plotted series, a bad value answers 400 with the located message.
#![cfg(feature = "serve")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_podscale"))
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start podscale serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Server(child, addr)
}

/// One HTTP/1.0 exchange: (status, body).
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

#[test]
fn page_assets_and_runs_over_http() {
    let server = start();
    assert!(server.1.starts_with("127.0.0.1:"), "{}", server.1);
    let (status, page) = http(&server.1, "GET", "/", "");
    assert_eq!(status, 200);
    assert!(page.contains("<script src=\"/app.js\">"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page links outside"
    );
    let (status, js) = http(&server.1, "GET", "/app.js", "");
    assert_eq!(status, 200);
    assert!(js.contains("/api/run"));
    let (status, list) = http(&server.1, "GET", "/api/scenarios", "");
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let quickstart = list[0]["yaml"].as_str().unwrap();

    let run = |overrides: &[&str]| {
        let body = serde_json::json!({"name": "quickstart.yaml", "yaml": quickstart, "overrides": overrides});
        http(&server.1, "POST", "/api/run", &body.to_string())
    };
    let (status, base) = run(&[]);
    assert_eq!(status, 200, "{base}");
    let base: serde_json::Value = serde_json::from_str(&base).unwrap();
    let (_, slow) = run(&["autoscaler.config.max-scale-up-rate=1.1"]);
    let slow: serde_json::Value = serde_json::from_str(&slow).unwrap();
    let max = |v: &serde_json::Value| {
        v["series"]["ready_pods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .max()
            .unwrap()
    };
    // quickstart's burst takes the KPA to 5 pods; the series is one entry per simulated second (3m + 2m).
    assert_eq!(base["series"]["time_s"].as_array().unwrap().len(), 300);
    assert!(max(&base) >= 4, "{}", max(&base));
    assert_ne!(base["series"]["ready_pods"], slow["series"]["ready_pods"]);

    let (status, err) = run(&["autoscaler.config.stable-window=banana"]);
    assert_eq!(status, 400);
    assert!(
        err.contains("quickstart.yaml:") && err.contains("stable-window"),
        "{err}"
    );
    let (status, _) = http(&server.1, "GET", "/nope", "");
    assert_eq!(status, 404);
}
