//! One request trace (the Azure LLM inference trace, or any `requests` trace) split into several services
//! by a rule on each request.
//!
//! Rules ([`SplitRule`]):
//! * `random`: request `i` goes to service `k` with probability `weights[k] / sum(weights)`, decided by a
//!   hash of the split seed and `i`, so the assignment does not depend on anything else in the run;
//! * `prompt_tokens` / `output_tokens`: by the request's token count against increasing `bounds`
//!   (`bounds: [1000, 4000]` gives three services: `< 1000`, `[1000, 4000)`, `>= 4000`). The Azure LLM
//!   trace has no model or tenant column, so a token-count class is the "column" it can be split by.
//!
//! Every service reads the file on its own ([`SplitSource`] wraps a full [`TraceSource`] and keeps its
//! share), so memory stays that of one trace reader per service and reading costs `services × rows`:
//! meant for a handful of services, not hundreds. The inner replay runs with `load_scale` 1 and its own
//! fixed random stream, so every service sees the same request sequence; the service's `load_scale` is
//! applied after the split, from the service's own stream.

use super::trace::TraceSource;
use super::{Arrival, ArrivalSource, TrafficError};
use crate::engine::{RngStreams, SimRng, Stream};
use rand::RngExt;

/// How a request picks its service.
#[derive(Clone, Debug, PartialEq)]
pub enum SplitRule {
    Random { weights: Vec<f64>, seed: u64 },
    PromptTokens { bounds: Vec<u32> },
    OutputTokens { bounds: Vec<u32> },
}

impl SplitRule {
    /// How many services the rule produces.
    pub fn services(&self) -> usize {
        match self {
            SplitRule::Random { weights, .. } => weights.len(),
            SplitRule::PromptTokens { bounds } | SplitRule::OutputTokens { bounds } => {
                bounds.len() + 1
            }
        }
    }

    /// The service of the `ordinal`-th request of the trace.
    pub fn assign(&self, ordinal: u64, arrival: &Arrival) -> usize {
        let class = |bounds: &[u32], v: u32| bounds.iter().take_while(|&&b| v >= b).count();
        match self {
            SplitRule::Random { weights, seed } => {
                let total: f64 = weights.iter().sum();
                let h = splitmix64(seed ^ splitmix64(ordinal));
                let u = (h >> 11) as f64 / (1u64 << 53) as f64 * total;
                let mut acc = 0.0;
                for (k, w) in weights.iter().enumerate() {
                    acc += w;
                    if u < acc {
                        return k;
                    }
                }
                weights.len() - 1
            }
            SplitRule::PromptTokens { bounds } => class(bounds, arrival.attrs.prompt_tokens),
            SplitRule::OutputTokens { bounds } => class(bounds, arrival.attrs.output_tokens),
        }
    }

    /// Default service names: `share-0`, … for `random`; `prompt-lt-1000`, `prompt-1000-4000`,
    /// `prompt-ge-4000` for token classes.
    pub fn names(&self) -> Vec<String> {
        let classes = |what: &str, bounds: &[u32]| {
            (0..=bounds.len())
                .map(
                    |k| match (k.checked_sub(1).map(|p| bounds[p]), bounds.get(k)) {
                        (None, Some(hi)) => format!("{what}-lt-{hi}"),
                        (Some(lo), Some(hi)) => format!("{what}-{lo}-{hi}"),
                        (Some(lo), None) => format!("{what}-ge-{lo}"),
                        (None, None) => what.to_string(),
                    },
                )
                .collect()
        };
        match self {
            SplitRule::Random { weights, .. } => {
                (0..weights.len()).map(|k| format!("share-{k}")).collect()
            }
            SplitRule::PromptTokens { bounds } => classes("prompt", bounds),
            SplitRule::OutputTokens { bounds } => classes("output", bounds),
        }
    }
}

/// Seed of the inner replay's stream: fixed, so every service sees the same request sequence.
const SPLIT_STREAM_SEED: u64 = 0x5917_7117;

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The share of one service.
pub struct SplitSource {
    inner: TraceSource,
    inner_rng: SimRng,
    rule: SplitRule,
    service: usize,
    ordinal: u64,
    load_scale: f64,
    pending: Option<(Arrival, u64)>,
}

impl SplitSource {
    /// `inner` must be opened with `load_scale` 1; `load_scale` is applied to this service's share.
    pub fn new(inner: TraceSource, rule: SplitRule, service: usize, load_scale: f64) -> Self {
        SplitSource {
            inner,
            inner_rng: RngStreams::new(SPLIT_STREAM_SEED).stream(Stream::Traffic),
            rule,
            service,
            ordinal: 0,
            load_scale,
            pending: None,
        }
    }
}

impl ArrivalSource for SplitSource {
    fn next_arrival(&mut self, rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError> {
        loop {
            if let Some((arrival, left)) = self.pending.take() {
                if left > 1 {
                    self.pending = Some((arrival, left - 1));
                }
                return Ok(Some(arrival));
            }
            let Some(arrival) = self.inner.next_arrival(&mut self.inner_rng)? else {
                return Ok(None);
            };
            let ordinal = self.ordinal;
            self.ordinal += 1;
            if self.rule.assign(ordinal, &arrival) != self.service {
                continue;
            }
            let k = self.load_scale;
            let copies = if k == 1.0 {
                1
            } else {
                let whole = k.floor();
                whole as u64 + u64::from(k > whole && rng.random::<f64>() < k - whole)
            };
            if copies > 0 {
                self.pending = Some((arrival, copies));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;
    use crate::traffic::{RequestAttrs, TraceFormat, TraceOptions};

    #[test]
    fn token_classes_and_names() {
        let rule = SplitRule::PromptTokens {
            bounds: vec![1000, 4000],
        };
        let at = |p: u32| Arrival {
            at: SimTime::ZERO,
            attrs: RequestAttrs {
                prompt_tokens: p,
                ..Default::default()
            },
        };
        assert_eq!(rule.assign(0, &at(999)), 0);
        assert_eq!(rule.assign(0, &at(1000)), 1);
        assert_eq!(rule.assign(0, &at(4000)), 2);
        assert_eq!(
            rule.names(),
            ["prompt-lt-1000", "prompt-1000-4000", "prompt-ge-4000"]
        );
    }

    #[test]
    fn random_split_partitions_the_trace() {
        let dir = std::env::temp_dir().join(format!("podscale-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.csv");
        let mut text = String::from("time_s,prompt_tokens\n");
        for i in 0..2000 {
            text.push_str(&format!("{}.5,{}\n", i, i % 7));
        }
        std::fs::write(&path, text).unwrap();
        let rule = SplitRule::Random {
            weights: vec![3.0, 1.0],
            seed: 9,
        };
        let mut all = Vec::new();
        let mut counts = Vec::new();
        for k in 0..2 {
            let options = TraceOptions {
                format: TraceFormat::Requests,
                ..Default::default()
            };
            let inner = TraceSource::open(&path, options).unwrap();
            let mut source = SplitSource::new(inner, rule.clone(), k, 1.0);
            let mut rng = RngStreams::new(1).stream(Stream::Traffic);
            let mut n = 0;
            while let Some(a) = source.next_arrival(&mut rng).unwrap() {
                all.push(a.at);
                n += 1;
            }
            counts.push(n);
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 2000, "every request in exactly one service");
        assert_eq!(counts.iter().sum::<usize>(), 2000);
        assert!(
            (counts[0] as f64 / 2000.0 - 0.75).abs() < 0.05,
            "{counts:?}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
