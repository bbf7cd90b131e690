//! Named pod presets (`pod.preset`), merged under the scenario's own `pod` keys before parsing: every key
//! the scenario writes wins (maps merge key by key), and writing `cold_start` drops the preset's `phases`.
//!
//! Where the figures come from (public, order-of-magnitude; adjust to your hardware):
//!
//! * `small-cpu`: a small scikit-learn / XGBoost style model server on one CPU core. KServe's published
//!   autoscaling walkthrough shows requests of a few tens of milliseconds and a cold start of roughly ten
//!   seconds from zero; the startup here adds up to about that on a fresh node (image pull dominating,
//!   a few seconds with the image cached). Knative's queue-proxy probes readiness every few milliseconds
//!   until the first success, so the readiness phase is close to zero.
//! * `llm-7b-gpu`: a 7-billion-parameter decoder LLM served on one data-centre GPU (A100 40 GB class).
//!   fp16 weights are 7e9 × 2 bytes, about 14 GB; at a few hundred MB/s from object storage the download
//!   alone is close to a minute. Serving images with CUDA libraries are several GB, so a first pull takes
//!   minutes. Prefill is compute bound: about 2 × 7e9 floating-point operations per prompt token, i.e.
//!   thousands to ten thousand tokens per second on an A100 (a fraction of a millisecond per token).
//!   Decode is memory-bandwidth bound: every output token reads all weights (14 GB at roughly 1.5–2 TB/s,
//!   about 10–15 ms per token at batch 1), so batching many sequences costs little extra time per step
//!   until compute saturates, which the batch curve expresses. The server reserves most of the GPU memory
//!   for weights and KV cache up front (vLLM's default is 90%), hence the constant GPU memory.

use serde_yaml::Value;

pub const PRESET_NAMES: &[&str] = &["small-cpu", "llm-7b-gpu"];

const SMALL_CPU: &str = r#"
phases:
  scheduling: 100ms
  image_pull: {first: {dist: lognormal, median: 6s, sigma: 0.2}, cached: 300ms}
  container_start: 1s
  model_load: {dist: lognormal, median: 1500ms, sigma: 0.2}
  readiness: {initial_delay: 0s, period: 50ms}
service_time: {dist: lognormal, median: 20ms, sigma: 0.4}
service: {model: fixed_slots}
resources:
  requests: {cpu: "1", memory: 2Gi}
  limits: {cpu: "1", memory: 2Gi}
usage: {cpu_idle: 10m, cpu_per_request: "1", memory_baseline: 300Mi, memory_per_request: 8Mi}
termination_grace: 30s
"#;

const LLM_7B_GPU: &str = r#"
phases:
  scheduling: 500ms
  image_pull: {first: {dist: lognormal, median: 150s, sigma: 0.2}, cached: 2s}
  container_start: 5s
  model_size: 14G
  model_bandwidth: 300M
  model_load: {dist: lognormal, median: 30s, sigma: 0.2}
  readiness: {initial_delay: 10s, period: 10s}
service_time: {dist: lognormal, median: 4s, sigma: 0.5}
service:
  model: gpu_batch
  max_batch: 32
  batch_curve: [[1, 1.0], [8, 1.2], [16, 1.4], [32, 2.0]]
  prefill_per_token: 150us
  decode_per_token: 15ms
resources:
  requests: {cpu: "4", memory: 32Gi, nvidia.com/gpu: 1}
  limits: {cpu: "8", memory: 48Gi, nvidia.com/gpu: 1}
usage: {cpu_idle: 200m, cpu_per_request: 50m, memory_baseline: 20Gi, memory_per_request: 20Mi, gpu_memory: 36Gi}
termination_grace: 120s
"#;

/// The preset's `pod` keys as YAML.
pub fn preset_yaml(name: &str) -> Option<&'static str> {
    match name {
        "small-cpu" => Some(SMALL_CPU),
        "llm-7b-gpu" => Some(LLM_7B_GPU),
        _ => None,
    }
}

/// Merges `pod.preset` (if any) under the document's `pod` keys.
pub fn apply(document: &mut Value) -> Result<(), String> {
    let Some(pod) = document.get_mut("pod").and_then(Value::as_mapping_mut) else {
        return Ok(());
    };
    let Some(name) = pod.get("preset") else {
        return Ok(());
    };
    let Some(name) = name.as_str().map(str::to_owned) else {
        return Err(format!(
            "must be a preset name; allowed: {}",
            PRESET_NAMES.join(", ")
        ));
    };
    let Some(text) = preset_yaml(&name) else {
        let hint = super::suggest(&name, PRESET_NAMES.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(format!(
            "\"{name}\" is not a preset; allowed: {}{hint}",
            PRESET_NAMES.join(", ")
        ));
    };
    let mut base: Value = serde_yaml::from_str(text).expect("bundled presets are valid YAML");
    if pod.contains_key("cold_start") {
        if let Some(b) = base.as_mapping_mut() {
            b.remove("phases");
        }
    }
    merge_under(&mut base, Value::Mapping(pod.clone()));
    *pod = base.as_mapping().cloned().unwrap_or_default();
    Ok(())
}

/// Overlays `top` onto `base`: maps merge key by key, anything else replaces.
fn merge_under(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Mapping(b), Value::Mapping(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_mapping() && v.is_mapping() => {
                        merge_under(existing, v)
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, t) => *b = t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_keys_override_the_preset() {
        let mut doc: Value = serde_yaml::from_str(
            "pod: {preset: llm-7b-gpu, service: {max_batch: 8}, cold_start: 30s}",
        )
        .unwrap();
        apply(&mut doc).unwrap();
        let pod = &doc["pod"];
        assert_eq!(pod["service"]["max_batch"].as_u64(), Some(8));
        assert_eq!(pod["service"]["model"].as_str(), Some("gpu_batch"));
        assert!(pod.get("phases").is_none(), "cold_start replaces phases");
        let mut bad: Value = serde_yaml::from_str("pod: {preset: llm-7b}").unwrap();
        assert!(apply(&mut bad).unwrap_err().contains("llm-7b-gpu"));
    }
}
