//! The LLM engine model end to end (`pod.service.kv_cache_tokens`): a small KV cache makes requests
//! wait with free batch slots and preempts, TTFT never exceeds a request's latency, a cache too large to
//! bind changes nothing but adds the signals, KEDA scales on `vllm:kv_cache_usage_perc`, runs are
//! deterministic, and bad keys get located errors.

use podscale::observe::output::{CollectTimeseries, RunSummary, SecondRow};
use podscale::scenario;
mod common;

use common::KeepRequests;
use podscale::sim::{self, RequestRecord};
use std::path::PathBuf;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("podscale-llm-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(name: &str, text: &str) -> PathBuf {
    let path = dir().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn run(text: &str, overrides: &[&str]) -> (RunSummary, Vec<SecondRow>, Vec<RequestRecord>) {
    // Tests run in parallel: one file per run.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = write(&format!("scenario-{n}.yaml"), text);
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let loaded = scenario::load(&path, &overrides).unwrap_or_else(|e| panic!("{e}"));
    let prepared = scenario::prepare(&loaded, None).unwrap_or_else(|e| panic!("{e}"));
    let mut rows = CollectTimeseries::default();
    let mut log = KeepRequests::default();
    let s = sim::run_with_request_log(prepared.config, prepared.traffic, &mut rows, Some(&mut log))
        .unwrap();
    (s, rows.0, log.0)
}

/// An Azure-LLM-format trace: `n` requests at `every_ms` intervals, `prompt` and `output` tokens each.
fn trace(name: &str, n: u32, every_ms: u64, prompt: u32, output: u32) -> PathBuf {
    let mut text = String::from("TIMESTAMP,ContextTokens,GeneratedTokens\n");
    for i in 0..u64::from(n) {
        let ms = i * every_ms;
        text.push_str(&format!(
            "2023-11-16 18:{:02}:{:02}.{:03}0000,{prompt},{output}\n",
            ms / 60_000,
            (ms / 1000) % 60,
            ms % 1000
        ));
    }
    write(name, &text)
}

fn one_pod(trace: &std::path::Path, kv: &str) -> String {
    format!(
        "
duration: 60s
autoscaler: {{class: fixed, replicas: 1}}
pod:
  preset: llm-7b-gpu
  service: {{max_batch: 32{kv}}}
traffic: {{kind: trace, format: azure_llm, path: {}}}
",
        trace.display()
    )
}

#[test]
fn a_small_cache_makes_requests_wait_with_free_slots_and_preempts() {
    // 8 requests of 1,000 prompt + 200 output tokens at once; a 3,000-token cache holds 3 prompts and
    // overflows as soon as they decode, while 29 of the 32 batch slots are free.
    let t = trace("burst.csv", 8, 0, 1000, 200);
    let (s, rows, log) = run(&one_pod(&t, ", kv_cache_tokens: 3000"), &[]);
    assert_eq!(s.requests.completed, 8, "{:?}", s.requests);
    let llm = s.llm.as_ref().expect("engine signals");
    assert!(llm.preemptions > 0, "{llm:?}");
    assert_eq!(llm.requests_with_tokens, 8);
    let engine: Vec<_> = rows.iter().map(|r| r.engine.unwrap()).collect();
    assert!(
        engine.iter().any(|e| e.waiting > 0 && e.running < 32),
        "requests wait for KV cache with free batch slots"
    );
    assert!(engine.iter().all(|e| e.running <= 3));
    assert_eq!(
        engine.iter().map(|e| e.preemptions).sum::<u64>(),
        llm.preemptions
    );
    assert!(engine.iter().any(|e| e.kv_usage_max > 0.6));
    assert!(engine.iter().all(|e| e.kv_usage_max <= 1.0));
    for r in &log {
        let ttft = r.ttft.expect("every request has tokens");
        assert!(ttft <= r.finished - r.sent, "{r:?}");
        assert!(r.tpot.is_some());
    }
    // Without the cache all 8 run at once and finish together, sooner than the last one here.
    let (u, _, _) = run(&one_pod(&t, ""), &[]);
    assert!(u.llm.is_none());
    assert!(
        u.latency_ms.max < s.latency_ms.max,
        "{:?} vs {:?}",
        u.latency_ms,
        s.latency_ms
    );
}

#[test]
fn a_request_larger_than_the_cache_is_refused() {
    let t = trace("long.csv", 3, 500, 2500, 600);
    let (s, _, _) = run(&one_pod(&t, ", kv_cache_tokens: 3000"), &[]);
    assert_eq!(s.llm.as_ref().unwrap().refused_too_long, 3);
    assert_eq!(s.status_codes.get("400"), Some(&3));
}

#[test]
fn a_cache_that_never_binds_changes_nothing_but_adds_the_signals() {
    let t = trace("steady.csv", 200, 150, 800, 60);
    let (a, rows_a, log_a) = run(&one_pod(&t, ""), &[]);
    let (b, rows_b, log_b) = run(&one_pod(&t, ", kv_cache_tokens: 1000000"), &[]);
    assert_eq!(a.requests, b.requests);
    assert_eq!(a.latency_ms, b.latency_ms);
    assert_eq!(a.events_processed, b.events_processed);
    assert_eq!(b.llm.as_ref().unwrap().preemptions, 0);
    assert!(a.llm.is_none() && rows_a.iter().all(|r| r.engine.is_none()));
    for (x, y) in rows_a.iter().zip(&rows_b) {
        assert_eq!(x.completions, y.completions);
        assert_eq!(x.latency_p99_ms, y.latency_p99_ms);
    }
    for (x, y) in log_a.iter().zip(&log_b) {
        assert_eq!((x.sent, x.finished), (y.sent, y.finished));
        assert!(y.ttft.unwrap() <= y.finished - y.sent);
    }
}

#[test]
fn keda_scales_on_kv_cache_usage_and_runs_are_deterministic() {
    // 4 requests/s of 1,500 + 100 tokens: one pod's 20,000-token cache fills; the trigger keeps the
    // summed usage at 0.5 per pod, so KEDA's HPA adds pods.
    let t = trace("load.csv", 1200, 250, 1500, 100);
    let text = format!(
        "
duration: 5m
service:
  annotations:
    serving.kserve.io/deploymentMode: Standard
    serving.kserve.io/autoscalerClass: keda
autoscaler:
  scaledobject:
    apiVersion: keda.sh/v1alpha1
    kind: ScaledObject
    metadata: {{name: p}}
    spec:
      scaleTargetRef: {{name: p}}
      pollingInterval: 15
      minReplicaCount: 1
      maxReplicaCount: 6
      triggers:
        - type: prometheus
          metadata: {{query: 'sum(vllm:kv_cache_usage_perc)', threshold: '0.5'}}
pod:
  preset: llm-7b-gpu
  service: {{kv_cache_tokens: 20000}}
traffic: {{kind: trace, format: azure_llm, path: {}}}
",
        t.display()
    );
    let (a, rows_a, _) = run(&text, &[]);
    let (b, rows_b, _) = run(&text, &[]);
    assert_eq!(a.autoscaler, "keda");
    assert!(a.replicas.max_desired > 1, "{:?}", a.replicas);
    assert!(rows_a.iter().any(|r| r.engine.unwrap().kv_usage_max > 0.5));
    assert_eq!(
        serde_json::to_string(&a.llm).unwrap(),
        serde_json::to_string(&b.llm).unwrap()
    );
    assert_eq!(rows_a, rows_b);
}

#[test]
fn the_hpa_scales_on_kv_cache_usage_as_a_pods_metric() {
    let t = trace("hpa.csv", 1200, 250, 1500, 100);
    let text = format!(
        "
duration: 5m
service:
  annotations: {{serving.kserve.io/autoscalerClass: hpa}}
autoscaler:
  hpa:
    minReplicas: 1
    maxReplicas: 6
    metrics:
      - type: Pods
        pods:
          metric: {{name: 'vllm:kv_cache_usage_perc'}}
          target: {{type: AverageValue, averageValue: 500m}}
pod:
  preset: llm-7b-gpu
  service: {{kv_cache_tokens: 20000}}
traffic: {{kind: trace, format: azure_llm, path: {}}}
",
        t.display()
    );
    let (s, rows, _) = run(&text, &[]);
    assert_eq!(s.autoscaler, "hpa");
    assert!(s.replicas.max_desired > 1, "{:?}", s.replicas);
    // The HPA's metric column shows the per-pod usage it compared with 0.5.
    assert!(rows
        .iter()
        .any(|r| r.hpa_metric.is_some_and(|m| m > 0.5 && m <= 1.0)));
}

#[test]
fn bad_kv_cache_keys_are_located() {
    let t = trace("bad.csv", 1, 0, 10, 10);
    let errors = |text: &str| -> String {
        static BAD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = BAD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = write(&format!("bad-{n}.yaml"), text);
        match scenario::load(&path, &[]) {
            Err(e) => e.to_string(),
            Ok(l) => match scenario::prepare(&l, None) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("should not validate"),
            },
        }
    };
    let e = errors(&one_pod(&t, ", kv_cache_tokens: 0"));
    assert!(
        e.contains("pod.service.kv_cache_tokens") && e.contains("outside [1"),
        "{e}"
    );
    let e = errors(&format!(
        "duration: 10s\npod:\n  service: {{model: gpu_batch, kv_cache_tokens: 100}}\ntraffic: {{kind: trace, format: azure_llm, path: {}}}\n",
        t.display()
    ));
    assert!(
        e.contains("needs a positive `pod.service.decode_per_token`"),
        "{e}"
    );
    let e = errors("duration: 10s\npod:\n  service: {kv_cache_tokens: 100}\ntraffic: {kind: poisson, rate: 1}\n");
    assert!(e.contains("only applies to `model: gpu_batch`"), "{e}");
}
