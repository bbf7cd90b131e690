//! LLM engine signals of a run whose GPU batching pods have a KV cache (`pod.service.kv_cache_tokens`,
//! see [`crate::workload::kv_cache`]): per-second engine columns appended to `timeseries.csv`, the
//! optional per-pod file `pods.csv`, and the `llm` block of `summary.json` (TTFT and TPOT percentiles,
//! preemptions).
//!
//! Units: times in ms in outputs, recorded in µs in HDR histograms with 3 significant digits (exact
//! percentiles as in [`super::latency`]); KV cache usage as a fraction 0–1 like vLLM's
//! `vllm:kv_cache_usage_perc`. Gauges (`running`, `waiting`, KV usage) are sampled at the end of the
//! second, over the pods that are Ready then; `preemptions` counts the events inside the second.

use super::latency::{summarize, LatencySummary};
use super::output::{push_f6, push_u64};
use hdrhistogram::Histogram;
use serde::Serialize;

/// Columns appended to `timeseries.csv` when the engine model is on, in order.
pub const ENGINE_COLUMNS: &[&str] = &[
    "vllm_num_requests_running",
    "vllm_num_requests_waiting",
    "vllm_kv_cache_usage_mean",
    "vllm_kv_cache_usage_max",
    "vllm_preemptions",
];

/// Header of `pods.csv` (`output.per_pod`): one line per Ready pod and second.
pub const POD_COLUMNS: &[&str] = &[
    "time_s",
    "pod",
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
];

/// The engine columns of one second.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EngineRow {
    /// Sum over Ready pods of the requests in the running batch.
    pub running: u64,
    /// Sum over Ready pods of the requests waiting in the pod (queue-proxy queue and preempted ones).
    pub waiting: u64,
    /// Mean over Ready pods of the KV cache usage (0–1); 0 with no Ready pod.
    pub kv_usage_mean: f64,
    /// Largest KV cache usage of a Ready pod (0–1).
    pub kv_usage_max: f64,
    /// Preemptions during the second, all pods.
    pub preemptions: u64,
}

impl EngineRow {
    /// Appends `,running,waiting,mean,max,preemptions` (the caller ends the line).
    pub fn write_csv(&self, out: &mut String) {
        out.push(',');
        push_u64(out, self.running);
        out.push(',');
        push_u64(out, self.waiting);
        out.push(',');
        push_f6(out, self.kv_usage_mean);
        out.push(',');
        push_f6(out, self.kv_usage_max);
        out.push(',');
        push_u64(out, self.preemptions);
    }
}

/// One pod's engine gauges at the end of a second (a `pods.csv` line).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PodEngineSample {
    pub time_s: u64,
    pub pod: u32,
    pub running: u32,
    pub waiting: u32,
    pub kv_usage: f64,
}

impl PodEngineSample {
    pub fn write_csv(&self, out: &mut String) {
        push_u64(out, self.time_s);
        out.push(',');
        push_u64(out, u64::from(self.pod));
        out.push(',');
        push_u64(out, u64::from(self.running));
        out.push(',');
        push_u64(out, u64::from(self.waiting));
        out.push(',');
        push_f6(out, self.kv_usage);
        out.push('\n');
    }
}

/// Receives per-pod engine samples (`pods.csv`).
pub trait PodSink {
    fn sample(&mut self, s: &PodEngineSample) -> std::io::Result<()>;
}

/// Writes `pods.csv`, header first.
pub struct CsvPods<W: std::io::Write> {
    out: W,
    line: String,
}

impl<W: std::io::Write> CsvPods<W> {
    pub fn new(mut out: W) -> std::io::Result<Self> {
        writeln!(out, "{}", POD_COLUMNS.join(","))?;
        Ok(CsvPods {
            out,
            line: String::with_capacity(64),
        })
    }
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: std::io::Write> PodSink for CsvPods<W> {
    fn sample(&mut self, s: &PodEngineSample) -> std::io::Result<()> {
        self.line.clear();
        s.write_csv(&mut self.line);
        self.out.write_all(self.line.as_bytes())
    }
}

/// `llm` in `summary.json`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LlmSummary {
    /// KV cache per pod, tokens.
    pub kv_cache_tokens: u64,
    /// Time to first token of successful token-driven requests: client send → first token at the pod
    /// plus the response's one-way path back.
    pub ttft_ms: LatencySummary,
    /// Time per output token: (completion − first token) / (output tokens − 1), requests with ≥ 2
    /// output tokens.
    pub tpot_ms: LatencySummary,
    /// Requests with a TTFT (successful, with token counts).
    pub requests_with_tokens: u64,
    /// Preemptions (recompute) over the run, all pods.
    pub preemptions: u64,
    /// Requests refused (400) because prompt + output tokens exceed the whole KV cache.
    pub refused_too_long: u64,
}

/// Run-wide accumulators for [`LlmSummary`]: memory independent of the request count.
#[derive(Debug)]
pub struct LlmStats {
    kv_cache_tokens: u64,
    ttft_us: Histogram<u64>,
    tpot_us: Histogram<u64>,
    pub preemptions: u64,
    pub refused_too_long: u64,
}

impl LlmStats {
    pub fn new(kv_cache_tokens: u64) -> Self {
        let h = || Histogram::new_with_bounds(1, 24 * 3600 * 1_000_000, 3).expect("static bounds");
        LlmStats {
            kv_cache_tokens,
            ttft_us: h(),
            tpot_us: h(),
            preemptions: 0,
            refused_too_long: 0,
        }
    }

    /// Records one successful request: TTFT in ns and, with ≥ 2 output tokens, TPOT in ns.
    pub fn record(&mut self, ttft_ns: u64, tpot_ns: Option<u64>) {
        self.ttft_us.saturating_record((ttft_ns / 1_000).max(1));
        if let Some(t) = tpot_ns {
            self.tpot_us.saturating_record((t / 1_000).max(1));
        }
    }

    pub fn summary(&self) -> LlmSummary {
        LlmSummary {
            kv_cache_tokens: self.kv_cache_tokens,
            ttft_ms: summarize(&self.ttft_us),
            tpot_ms: summarize(&self.tpot_us),
            requests_with_tokens: self.ttft_us.len(),
            preemptions: self.preemptions,
            refused_too_long: self.refused_too_long,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_row_and_pod_lines_are_fixed_text() {
        let mut s = String::new();
        EngineRow {
            running: 12,
            waiting: 3,
            kv_usage_mean: 0.5,
            kv_usage_max: 0.987_654_321,
            preemptions: 2,
        }
        .write_csv(&mut s);
        assert_eq!(s, ",12,3,0.5,0.987654,2");
        s.clear();
        PodEngineSample {
            time_s: 7,
            pod: 1,
            running: 4,
            waiting: 0,
            kv_usage: 1.0,
        }
        .write_csv(&mut s);
        assert_eq!(s, "7,1,4,0,1\n");
    }

    #[test]
    fn percentiles_come_from_the_recorded_requests() {
        let mut st = LlmStats::new(1000);
        for i in 1..=100u64 {
            st.record(i * 1_000_000, (i > 50).then_some(20_000_000));
        }
        let s = st.summary();
        assert_eq!(s.requests_with_tokens, 100);
        assert!((s.ttft_ms.p99 - 99.0).abs() < 0.1, "{:?}", s.ttft_ms);
        assert!((s.tpot_ms.p50 - 20.0).abs() < 0.05, "{:?}", s.tpot_ms);
    }
}
