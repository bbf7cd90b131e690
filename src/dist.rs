//! Random durations: service times, cold starts, network delays.
//!
//! A [`DurationDist`] is written in a scenario either as a plain duration (`"20ms"`, a constant) or as a
//! map with a `dist` key:
//!
//! ```yaml
//! service_time: {dist: exponential, mean: 100ms}
//! cold_start: {dist: lognormal, median: 10s, sigma: 0.3}
//! network: {dist: uniform, min: 2ms, max: 8ms}
//! service_time: {dist: gamma, shape: 2.0, mean: 50ms}
//! service_time: {dist: empirical, path: ../traces/latencies.csv}   # one latency in ms per line
//! ```
//!
//! Samples are drawn as `f64` seconds and converted to integer nanoseconds by
//! [`SimDuration::from_secs_f64`], the one audited float-to-time boundary.

use crate::time::SimDuration;
use rand::RngExt;
use rand_distr::{Distribution, Exp, Gamma, LogNormal};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// A distribution of non-negative durations, ready to sample.
#[derive(Clone, Debug)]
pub enum DurationDist {
    Constant(SimDuration),
    Exponential {
        mean: SimDuration,
        exp: Exp<f64>,
    },
    LogNormal {
        median: SimDuration,
        sigma: f64,
        ln: LogNormal<f64>,
    },
    Gamma {
        shape: f64,
        mean: SimDuration,
        gamma: Gamma<f64>,
    },
    Uniform {
        min: SimDuration,
        max: SimDuration,
    },
    /// Resampling of measured values (nanoseconds, sorted), drawn uniformly.
    Empirical {
        path: String,
        samples: Arc<Vec<u64>>,
    },
}

impl DurationDist {
    pub fn constant(d: SimDuration) -> Self {
        DurationDist::Constant(d)
    }

    /// Draws one duration. The constant and exponential cases (service times and path delays of most
    /// scenarios, drawn for every request) are inline; the others are one call away.
    #[inline(always)]
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> SimDuration {
        match self {
            DurationDist::Constant(d) => *d,
            DurationDist::Exponential { exp, .. } => SimDuration::from_secs_f64(exp.sample(rng)),
            _ => self.sample_other(rng),
        }
    }

    /// Every case, the inline ones included (so the match is total), out of line.
    #[inline(never)]
    fn sample_other<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> SimDuration {
        match self {
            DurationDist::Constant(d) => *d,
            DurationDist::Exponential { exp, .. } => SimDuration::from_secs_f64(exp.sample(rng)),
            DurationDist::LogNormal { ln, .. } => SimDuration::from_secs_f64(ln.sample(rng)),
            DurationDist::Gamma { gamma, .. } => SimDuration::from_secs_f64(gamma.sample(rng)),
            DurationDist::Uniform { min, max } => {
                if max.0 <= min.0 {
                    *min
                } else {
                    SimDuration(rng.random_range(min.0..=max.0))
                }
            }
            DurationDist::Empirical { samples, .. } => {
                SimDuration(samples[rng.random_range(0..samples.len())])
            }
        }
    }

    /// The distribution's mean, in seconds.
    pub fn mean_secs(&self) -> f64 {
        match self {
            DurationDist::Constant(d) => d.as_secs_f64(),
            DurationDist::Exponential { mean, .. } | DurationDist::Gamma { mean, .. } => {
                mean.as_secs_f64()
            }
            DurationDist::LogNormal { median, sigma, .. } => {
                median.as_secs_f64() * (sigma * sigma / 2.0).exp()
            }
            DurationDist::Uniform { min, max } => (min.as_secs_f64() + max.as_secs_f64()) / 2.0,
            DurationDist::Empirical { samples, .. } => {
                samples.iter().map(|&s| s as f64).sum::<f64>() / samples.len() as f64 / 1e9
            }
        }
    }

    /// Short human description, e.g. "exp(mean 100ms)".
    pub fn describe(&self) -> String {
        match self {
            DurationDist::Constant(d) => d.to_string(),
            DurationDist::Exponential { mean, .. } => format!("exp(mean {mean})"),
            DurationDist::LogNormal { median, sigma, .. } => {
                format!("lognormal(median {median}, sigma {sigma})")
            }
            DurationDist::Gamma { shape, mean, .. } => format!("gamma(shape {shape}, mean {mean})"),
            DurationDist::Uniform { min, max } => format!("uniform({min}..{max})"),
            DurationDist::Empirical { path, samples } => {
                format!("empirical({path}, {} samples)", samples.len())
            }
        }
    }
}

/// The YAML form of a duration distribution, before validation.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum DistSpec {
    /// A plain duration: constant.
    Fixed(SimDuration),
    Params(DistParams),
}

impl<'de> Deserialize<'de> for DistSpec {
    // Hand-written so that a typo gives "unknown field `meen`, expected one of ..." rather than serde's
    // "data did not match any variant of untagged enum".
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_yaml::Value::deserialize(deserializer)?;
        match value {
            serde_yaml::Value::Mapping(_) => serde_yaml::from_value(value).map(DistSpec::Params).map_err(D::Error::custom),
            serde_yaml::Value::String(_) | serde_yaml::Value::Number(_) => {
                serde_yaml::from_value(value).map(DistSpec::Fixed).map_err(D::Error::custom)
            }
            _ => Err(D::Error::custom(format!(
                "expected a duration such as \"20ms\" or a map such as {{dist: exponential, mean: 100ms}} (dists: {DIST_NAMES})"
            ))),
        }
    }
}

/// `{dist: NAME, ...parameters}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DistParams {
    pub dist: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

pub const DIST_NAMES: &str = "constant, exponential, lognormal, gamma, uniform, empirical";

impl DistSpec {
    pub fn fixed(d: SimDuration) -> Self {
        DistSpec::Fixed(d)
    }

    /// Validates and builds the distribution. `base_dir` resolves relative `path`s. Errors are
    /// messages meant to follow the key name.
    pub fn build(&self, base_dir: &Path) -> Result<DurationDist, String> {
        let p = match self {
            DistSpec::Fixed(d) => return Ok(DurationDist::Constant(*d)),
            DistSpec::Params(p) => p,
        };
        let need = |v: Option<SimDuration>, name: &str| {
            v.ok_or_else(|| {
                format!(
                    "dist \"{}\" needs `{name}` (a duration such as \"100ms\")",
                    p.dist
                )
            })
        };
        let positive = |d: SimDuration, name: &str| {
            if d.0 == 0 {
                Err(format!(
                    "`{name}` must be greater than 0s for dist \"{}\"",
                    p.dist
                ))
            } else {
                Ok(d)
            }
        };
        match p.dist.as_str() {
            "constant" | "fixed" => Ok(DurationDist::Constant(need(p.value.or(p.mean), "value")?)),
            "exponential" | "exp" => {
                let mean = positive(need(p.mean, "mean")?, "mean")?;
                Ok(DurationDist::Exponential {
                    mean,
                    exp: Exp::new(1.0 / mean.as_secs_f64()).map_err(|e| e.to_string())?,
                })
            }
            "lognormal" => {
                let sigma = p.sigma.ok_or(
                    "dist \"lognormal\" needs `sigma` (the standard deviation of ln(x), e.g. 0.5)",
                )?;
                if !(sigma.is_finite() && sigma >= 0.0) {
                    return Err(format!("`sigma` = {sigma} must be a finite number >= 0"));
                }
                let median = match (p.median, p.mean) {
                    (Some(m), _) => m,
                    (None, Some(mean)) => {
                        SimDuration::from_secs_f64(mean.as_secs_f64() / (sigma * sigma / 2.0).exp())
                    }
                    (None, None) => {
                        return Err("dist \"lognormal\" needs `median` or `mean`".into())
                    }
                };
                let median = positive(median, "median")?;
                let ln =
                    LogNormal::new(median.as_secs_f64().ln(), sigma).map_err(|e| e.to_string())?;
                Ok(DurationDist::LogNormal { median, sigma, ln })
            }
            "gamma" => {
                let shape = p.shape.ok_or("dist \"gamma\" needs `shape` (> 0)")?;
                if !(shape.is_finite() && shape > 0.0) {
                    return Err(format!("`shape` = {shape} must be a finite number > 0"));
                }
                let mean = positive(need(p.mean, "mean")?, "mean")?;
                let gamma =
                    Gamma::new(shape, mean.as_secs_f64() / shape).map_err(|e| e.to_string())?;
                Ok(DurationDist::Gamma { shape, mean, gamma })
            }
            "uniform" => {
                let (min, max) = (need(p.min, "min")?, need(p.max, "max")?);
                if max < min {
                    return Err(format!("`max` ({max}) must not be below `min` ({min})"));
                }
                Ok(DurationDist::Uniform { min, max })
            }
            "empirical" => {
                let rel = p.path.as_deref().ok_or("dist \"empirical\" needs `path` (a CSV with one latency in milliseconds per line)")?;
                let mut dist = DurationDist::empirical_from_path(&base_dir.join(rel))?;
                if let DurationDist::Empirical { path, .. } = &mut dist {
                    *path = rel.to_string();
                }
                Ok(dist)
            }
            other => Err(format!("unknown dist \"{other}\"; allowed: {DIST_NAMES}")),
        }
    }
}

impl DurationDist {
    /// An empirical distribution read from the file at `path` (the format of
    /// [`DurationDist::empirical_from_reader`]); errors name the file and the line.
    pub fn empirical_from_path(path: &std::path::Path) -> Result<Self, String> {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot read empirical samples {}: {e}", path.display()))?;
        DurationDist::empirical_from_reader(&path.display().to_string(), file)
    }

    /// An empirical distribution read from any reader, streamed (only the samples are kept, 8 bytes each):
    /// one latency in milliseconds per line (the first field of a CSV line; an unparsable first line is a
    /// header; `#` lines are comments). `name` labels errors and the distribution (a file name, or
    /// `<input>` for an anonymous reader).
    pub fn empirical_from_reader(name: &str, reader: impl std::io::Read) -> Result<Self, String> {
        use std::io::BufRead;
        let mut samples = Vec::new();
        for (i, line) in std::io::BufReader::new(reader).lines().enumerate() {
            let line = line.map_err(|e| format!("cannot read empirical samples {name}: {e}"))?;
            let field = line.split(',').next().unwrap_or("").trim();
            if field.is_empty() || field.starts_with('#') {
                continue;
            }
            match field.parse::<f64>() {
                Ok(ms) if ms.is_finite() && ms >= 0.0 => {
                    samples.push(SimDuration::from_secs_f64(ms / 1e3).0)
                }
                _ if i == 0 => continue, // a header line
                _ => {
                    return Err(format!(
                        "{name}:{}: \"{field}\" is not a latency in milliseconds (a number >= 0)",
                        i + 1
                    ))
                }
            }
        }
        if samples.is_empty() {
            return Err(format!("{name} holds no latency samples"));
        }
        samples.sort_unstable();
        Ok(DurationDist::Empirical {
            path: name.to_string(),
            samples: Arc::new(samples),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{RngStreams, Stream};

    fn build(yaml: &str) -> Result<DurationDist, String> {
        let spec: DistSpec = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        spec.build(Path::new("."))
    }

    #[test]
    fn sample_means_match_parameters() {
        let mut rng = RngStreams::new(7).stream(Stream::Service);
        for (yaml, mean) in [
            ("{dist: exponential, mean: 100ms}", 0.1),
            ("{dist: gamma, shape: 2.5, mean: 40ms}", 0.04),
            ("{dist: lognormal, mean: 200ms, sigma: 0.5}", 0.2),
            ("{dist: uniform, min: 10ms, max: 30ms}", 0.02),
            ("20ms", 0.02),
        ] {
            let d = build(yaml).unwrap();
            assert!((d.mean_secs() - mean).abs() < 1e-6, "{yaml}");
            let n = 200_000;
            let avg: f64 = (0..n)
                .map(|_| d.sample(&mut rng).as_secs_f64())
                .sum::<f64>()
                / n as f64;
            assert!(
                (avg - mean).abs() / mean < 0.01,
                "{yaml}: sample mean {avg} vs {mean}"
            );
        }
    }

    #[test]
    fn bad_parameters_are_explained() {
        assert!(build("{dist: exponential}")
            .unwrap_err()
            .contains("needs `mean`"));
        assert!(build("{dist: weibull, mean: 1s}")
            .unwrap_err()
            .contains("allowed: constant"));
        assert!(build("{dist: gamma, shape: -1, mean: 1s}")
            .unwrap_err()
            .contains("shape"));
        assert!(build("{dist: uniform, min: 2s, max: 1s}")
            .unwrap_err()
            .contains("must not be below"));
    }

    #[test]
    fn empirical_samples_read_from_memory() {
        let d = DurationDist::empirical_from_reader(
            "inline",
            "latency_ms\n10\n# note\n30,x\n20\n".as_bytes(),
        )
        .unwrap();
        let DurationDist::Empirical { samples, .. } = &d else {
            panic!("not empirical")
        };
        assert_eq!(samples.as_slice(), &[10_000_000, 20_000_000, 30_000_000]);
        let e = DurationDist::empirical_from_reader("inline", "10\nabc\n".as_bytes()).unwrap_err();
        assert!(e.contains("inline:2"), "{e}");
        assert!(DurationDist::empirical_from_reader("none", "".as_bytes()).is_err());
    }
}
