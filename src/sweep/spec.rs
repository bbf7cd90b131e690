//! The sweep file: a base scenario, fixed overrides, axes over scenario values, seeds and an optional
//! objective. Parsed by hand from the YAML tree so every error names the file, the key and what is allowed.
//!
//! Axes are combined as a full factorial (Cartesian product) in the order they are written; the last axis
//! varies fastest. Each point runs once per seed. Run `r` is point `r / seeds` with seed index
//! `r % seeds`, so run indices are stable whatever the thread count or shard.

use super::SweepError;
use crate::engine::SimRng;
use crate::time::{parse_duration, SimDuration};
use rand::{RngExt, SeedableRng};
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

mod tune_block;
mod values;
pub use tune_block::{Search, TuneSettings, MAX_ETA, MAX_RUNGS, TUNE_KEYS};
use values::{parse_axis, parse_objective, parse_seeds};

/// Keys allowed at the top of a sweep file.
pub const SWEEP_KEYS: &[&str] = &[
    "base",
    "name",
    "description",
    "seeds",
    "set",
    "axes",
    "sample_seed",
    "objective",
    "check",
    "tune",
];

/// Axis kinds, for error messages.
const AXIS_FORMS: &str = "a list of values `[30s, 60s]`, a range `{from: 1, to: 5, step: 1}` \
(numbers or durations), or random samples `{uniform: [min, max], n: 4}` / `{log-uniform: [min, max], n: 4}`";

/// Upper bound on the values of one axis and on the runs of one sweep (a typo guard, not a resource limit).
pub const MAX_AXIS_VALUES: usize = 100_000;
/// See [`MAX_AXIS_VALUES`].
pub const MAX_RUNS: u64 = 100_000_000;

/// One axis: a scenario value by dotted path and the values it takes, as `--set` would write them.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub path: String,
    /// Each value as text for `--set path=value` (YAML; strings quoted when YAML would read them otherwise).
    pub values: Vec<String>,
    /// Each value as shown in CSV columns and reports (unquoted).
    pub labels: Vec<String>,
}

/// What `tune` minimizes (or maximizes) and the constraints a configuration must meet.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    /// A column of `results.csv`.
    pub metric: String,
    /// Higher is better (`slo_attainment`); otherwise lower is better.
    pub maximize: bool,
    pub constraints: Vec<Constraint>,
}

impl Objective {
    /// `metric` in its natural direction (see [`super::objective::higher_is_better`]), no constraints.
    pub fn natural(metric: &str) -> Objective {
        Objective {
            metric: metric.to_string(),
            maximize: super::objective::higher_is_better(metric),
            constraints: Vec::new(),
        }
    }

    /// "minimize pod_seconds" / "maximize slo_attainment".
    pub fn goal(&self) -> String {
        format!(
            "{} {}",
            if self.maximize {
                "maximize"
            } else {
                "minimize"
            },
            self.metric
        )
    }
}

/// `metric <= bound`, `metric < bound` (strict), `>=` or `>`, checked on the mean across seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    pub metric: String,
    pub at_most: bool,
    pub bound: f64,
    /// `<` / `>`: the bound itself fails.
    pub strict: bool,
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match (self.at_most, self.strict) {
            (true, false) => "<=",
            (true, true) => "<",
            (false, false) => ">=",
            (false, true) => ">",
        };
        write!(f, "{} {op} {}", self.metric, self.bound)
    }
}

impl Constraint {
    /// Parses `latency_p99_ms <= 500`, `latency_p99_ms < 500` (strict), `>=` and `>`.
    pub fn parse(text: &str) -> Result<Constraint, String> {
        let (metric, at_most, rest, strict) = if let Some((m, r)) = text.split_once("<=") {
            (m, true, r, false)
        } else if let Some((m, r)) = text.split_once(">=") {
            (m, false, r, false)
        } else if let Some((m, r)) = text.split_once('<') {
            (m, true, r, true)
        } else if let Some((m, r)) = text.split_once('>') {
            (m, false, r, true)
        } else {
            return Err(format!(
                "\"{text}\" is not a constraint; write METRIC <= BOUND, METRIC < BOUND, METRIC >= BOUND or METRIC > BOUND, e.g. \"latency_p99_ms <= 500\""
            ));
        };
        let metric = metric.trim().to_string();
        check_metric(&metric)?;
        let bound: f64 = rest
            .trim()
            .parse()
            .ok()
            .filter(|b: &f64| b.is_finite())
            .ok_or_else(|| format!("bound \"{}\" in \"{text}\" is not a number", rest.trim()))?;
        Ok(Constraint {
            metric,
            at_most,
            bound,
            strict,
        })
    }

    /// True when `value` meets the constraint.
    pub fn holds(&self, value: f64) -> bool {
        match (self.at_most, self.strict) {
            (true, false) => value <= self.bound,
            (true, true) => value < self.bound,
            (false, false) => value >= self.bound,
            (false, true) => value > self.bound,
        }
    }
}

/// Checks a metric name against the columns of `results.csv`.
pub fn check_metric(metric: &str) -> Result<(), String> {
    if super::results::METRICS.contains(&metric) {
        Ok(())
    } else {
        let hint = crate::scenario::suggest(metric, super::results::METRICS.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        Err(format!(
            "unknown metric `{metric}`; allowed: {}{hint}",
            super::results::METRICS.join(", ")
        ))
    }
}

/// A parsed sweep file.
#[derive(Clone, Debug)]
pub struct SweepSpec {
    /// The sweep file.
    pub path: PathBuf,
    pub name: String,
    /// The base scenario, resolved against the sweep file's folder.
    pub base: PathBuf,
    /// Overrides applied to every run, before the axes (`set:`), as `path=value`.
    pub fixed: Vec<String>,
    pub axes: Vec<Axis>,
    pub seeds: Vec<u64>,
    pub objective: Option<Objective>,
    /// Recorded days to check the chosen point on (`check:`).
    pub check: Vec<super::check::CheckDay>,
    /// How `tune` searches (`tune:`); all defaults when the file has no such block.
    pub tune: TuneSettings,
}

impl SweepSpec {
    /// Number of points (axis combinations); 1 when there are no axes.
    pub fn point_count(&self) -> u64 {
        self.axes
            .iter()
            .map(|a| a.values.len() as u64)
            .fold(1u64, |acc, n| acc.saturating_mul(n))
    }

    /// Total runs: points times seeds.
    pub fn run_count(&self) -> u64 {
        self.point_count().saturating_mul(self.seeds.len() as u64)
    }

    /// Index of each axis's value at `point` (last axis fastest).
    pub fn point_indices(&self, point: u64) -> Vec<usize> {
        let mut rest = point;
        let mut out = vec![0; self.axes.len()];
        for (i, axis) in self.axes.iter().enumerate().rev() {
            let n = axis.values.len() as u64;
            out[i] = (rest % n) as usize;
            rest /= n;
        }
        out
    }

    /// The point's axis labels, in axis order.
    pub fn point_labels(&self, point: u64) -> Vec<String> {
        self.point_indices(point)
            .iter()
            .zip(&self.axes)
            .map(|(&i, a)| a.labels[i].clone())
            .collect()
    }

    /// Every override of a point: the fixed ones, then one per axis.
    pub fn point_overrides(&self, point: u64) -> Vec<String> {
        let mut out = self.fixed.clone();
        for (&i, axis) in self.point_indices(point).iter().zip(&self.axes) {
            out.push(format!("{}={}", axis.path, axis.values[i]));
        }
        out
    }

    /// (point, seed) of a run.
    pub fn run_point_seed(&self, run: u64) -> (u64, u64) {
        let n = self.seeds.len() as u64;
        (run / n, self.seeds[(run % n) as usize])
    }

    /// Reads and checks a sweep file (not the scenario; see [`super::validate_points`]).
    pub fn load(path: &Path) -> Result<SweepSpec, SweepError> {
        let text = std::fs::read_to_string(path).map_err(|e| SweepError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::parse(path, &text)
    }

    /// Parses sweep text; `path` names the file in errors and anchors the base scenario.
    pub fn parse(path: &Path, text: &str) -> Result<SweepSpec, SweepError> {
        let err = |key: &str, message: String| SweepError::Spec {
            file: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let doc: Value = serde_yaml::from_str(text).map_err(|e| {
            let line = e
                .location()
                .map(|l| format!(" (line {})", l.line()))
                .unwrap_or_default();
            err("", format!("malformed YAML{line}: {e}"))
        })?;
        let Value::Mapping(map) = doc else {
            return Err(err(
                "",
                format!(
                    "a sweep file is a YAML map with keys {}",
                    SWEEP_KEYS.join(", ")
                ),
            ));
        };
        for key in map.keys() {
            let k = key.as_str().unwrap_or("");
            if !SWEEP_KEYS.contains(&k) {
                let hint = crate::scenario::suggest(k, SWEEP_KEYS.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                let shown = if k.is_empty() {
                    yaml_text(key)
                } else {
                    k.to_string()
                };
                return Err(err(
                    &shown,
                    format!("unknown key; allowed: {}{hint}", SWEEP_KEYS.join(", ")),
                ));
            }
        }
        let base_rel = match map.get("base") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(v) => {
                return Err(err(
                    "base",
                    format!(
                        "must be the path of a scenario file (relative to the sweep file), got {}",
                        yaml_text(v)
                    ),
                ))
            }
            None => {
                return Err(err(
                    "base",
                    "is required: the scenario file to sweep (e.g. `base: ../scenarios/quickstart.yaml`)"
                        .into(),
                ))
            }
        };
        let dir = path.parent().unwrap_or(Path::new(""));
        let base = dir.join(&base_rel);
        let name = match map.get("name") {
            None => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sweep".into()),
            Some(Value::String(s)) if is_safe_name(s) => s.clone(),
            Some(v) => {
                return Err(err(
                    "name",
                    format!(
                        "must be a non-empty name of letters, digits, `-`, `_` or `.`, got {}",
                        yaml_text(v)
                    ),
                ))
            }
        };
        let seeds = parse_seeds(map.get("seeds")).map_err(|m| err("seeds", m))?;
        let sample_seed = match map.get("sample_seed") {
            None => 1,
            Some(v) => v.as_u64().ok_or_else(|| {
                err(
                    "sample_seed",
                    format!("must be a whole number >= 0, got {}", yaml_text(v)),
                )
            })?,
        };
        let mut fixed = Vec::new();
        match map.get("set") {
            None => {}
            Some(Value::Mapping(m)) => {
                for (k, v) in m {
                    let key = k
                        .as_str()
                        .ok_or_else(|| err("set", format!("keys must be dotted paths, got {}", yaml_text(k))))?;
                    let (value, _) = override_text(v);
                    fixed.push(format!("{key}={value}"));
                }
            }
            Some(v) => {
                return Err(err(
                    "set",
                    format!(
                        "must be a map of dotted paths to values (like --set), e.g. `set: {{duration: 5m}}`, got {}",
                        yaml_text(v)
                    ),
                ))
            }
        }
        let mut axes = Vec::new();
        match map.get("axes") {
            None => {}
            Some(Value::Mapping(m)) => {
                for (index, (k, v)) in m.iter().enumerate() {
                    let Some(key) = k.as_str() else {
                        return Err(err(
                            "axes",
                            format!("axis names are dotted scenario paths, got {}", yaml_text(k)),
                        ));
                    };
                    let key_name = format!("axes.{key}");
                    if key.trim().is_empty() {
                        return Err(err(&key_name, "empty axis path".into()));
                    }
                    if matches!(key, "seed" | "run" | "point") {
                        return Err(err(
                            &key_name,
                            "is reserved: use `seeds:` to vary the random seed".into(),
                        ));
                    }
                    let axis = parse_axis(key, v, sample_seed, index as u64)
                        .map_err(|m| err(&key_name, m))?;
                    axes.push(axis);
                }
            }
            Some(v) => {
                return Err(err(
                    "axes",
                    format!(
                        "must be a map from dotted scenario paths to values ({AXIS_FORMS}), got {}",
                        yaml_text(v)
                    ),
                ))
            }
        }
        let mut objective = match map.get("objective") {
            None => None,
            Some(v) => Some(parse_objective(v).map_err(|(k, m)| err(&k, m))?),
        };
        let tune = match map.get("tune") {
            None => TuneSettings::default(),
            Some(v) => {
                let (settings, inner) = tune_block::parse_tune(v).map_err(|(k, m)| err(&k, m))?;
                if inner.is_some() {
                    if objective.is_some() {
                        return Err(err(
                            "tune.objective",
                            "the file already has a top-level `objective:`; give the objective in one place"
                                .into(),
                        ));
                    }
                    objective = inner;
                }
                settings
            }
        };
        let check = match map.get("check") {
            None => Vec::new(),
            Some(v) => super::check::parse_days(v, dir).map_err(|(k, m)| err(&k, m))?,
        };
        let spec = SweepSpec {
            path: path.to_path_buf(),
            name,
            base,
            fixed,
            axes,
            seeds,
            objective,
            check,
            tune,
        };
        let runs = spec
            .axes
            .iter()
            .map(|a| a.values.len() as u64)
            .try_fold(spec.seeds.len() as u64, |acc, n| acc.checked_mul(n));
        match runs {
            Some(r) if r <= MAX_RUNS => Ok(spec),
            _ => Err(err(
                "axes",
                format!("the sweep has more than {MAX_RUNS} runs; use fewer values or seeds"),
            )),
        }
    }
}

fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A YAML value as compact text for messages.
pub(super) fn yaml_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Null => "nothing".into(),
        other => serde_json::to_string(other).unwrap_or_else(|_| format!("{other:?}")),
    }
}

/// (text for `--set`, label for CSV) of one YAML value.
pub(super) fn override_text(v: &Value) -> (String, String) {
    match v {
        Value::String(s) => {
            // A string that YAML would read as something else (a number, `true`, a map) is quoted.
            let reads_back =
                serde_yaml::from_str::<Value>(s).ok() == Some(Value::String(s.clone()));
            let text = if reads_back && !s.trim().is_empty() {
                s.clone()
            } else {
                serde_json::to_string(s).unwrap_or_else(|_| s.clone())
            };
            (text, s.clone())
        }
        Value::Number(n) => (n.to_string(), n.to_string()),
        Value::Bool(b) => (b.to_string(), b.to_string()),
        Value::Null => ("null".into(), String::new()),
        other => {
            // Flow collections: JSON is valid YAML.
            let json = serde_json::to_string(other).unwrap_or_default();
            (json.clone(), json)
        }
    }
}
