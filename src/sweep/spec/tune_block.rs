//! The `tune:` block of a sweep file: how `podscale tune` searches the points (the full grid, or racing by
//! successive halving with a reduction factor, a number of rungs and a budget), and optionally the
//! objective, so that one file fully specifies a tune. Command-line flags override each value.

use super::*;

/// Keys allowed in `tune:`.
pub const TUNE_KEYS: &[&str] = &[
    "search",
    "eta",
    "rungs",
    "min_survivors",
    "budget",
    "objective",
];

/// Largest `eta` and `rungs` a file may ask for (a typo guard: eta^(rungs-1) must stay far below the number
/// of nanoseconds in a run, or the first rung would be empty).
pub const MAX_ETA: u64 = 100;
/// See [`MAX_ETA`].
pub const MAX_RUNGS: u64 = 12;

/// How `tune` explores the points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Every point with every seed for the full duration.
    Grid,
    /// Successive halving (see [`crate::sweep::adaptive`]).
    Adaptive,
}

/// The `tune:` block as written; `None` fields take the command line's value or the default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TuneSettings {
    pub search: Option<Search>,
    pub eta: Option<u32>,
    pub rungs: Option<u32>,
    pub min_survivors: Option<usize>,
    /// Most simulated time the search may spend, in full-duration runs (one point, one seed, the whole
    /// duration); the full grid costs points × seeds.
    pub budget: Option<f64>,
}

fn whole(v: &Value, key: &str, lo: u64, hi: u64) -> Result<u64, (String, String)> {
    v.as_u64().filter(|n| (lo..=hi).contains(n)).ok_or_else(|| {
        (
            format!("tune.{key}"),
            format!(
                "must be a whole number from {lo} to {hi}, got {}",
                yaml_text(v)
            ),
        )
    })
}

/// Parses `tune:`; returns the settings and the objective it holds, if any.
pub(super) fn parse_tune(v: &Value) -> Result<(TuneSettings, Option<Objective>), (String, String)> {
    let Value::Mapping(m) = v else {
        return Err((
            "tune".into(),
            format!(
                "must be a map with keys {} (e.g. `tune: {{search: adaptive, eta: 3, rungs: 4}}`), got {}",
                TUNE_KEYS.join(", "),
                yaml_text(v)
            ),
        ));
    };
    for k in m.keys() {
        let name = k.as_str().unwrap_or("");
        if !TUNE_KEYS.contains(&name) {
            let hint = crate::scenario::suggest(name, TUNE_KEYS.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            let shown = if name.is_empty() {
                yaml_text(k)
            } else {
                name.to_string()
            };
            return Err((
                format!("tune.{shown}"),
                format!("unknown key; allowed: {}{hint}", TUNE_KEYS.join(", ")),
            ));
        }
    }
    let mut out = TuneSettings::default();
    if let Some(v) = m.get("search") {
        out.search = Some(match v.as_str() {
            Some("grid") => Search::Grid,
            Some("adaptive") => Search::Adaptive,
            _ => {
                return Err((
                    "tune.search".into(),
                    format!(
                        "must be `grid` (every point, every seed, full length) or `adaptive` (successive halving), got {}",
                        yaml_text(v)
                    ),
                ))
            }
        });
    }
    if let Some(v) = m.get("eta") {
        out.eta = Some(whole(v, "eta", 2, MAX_ETA)? as u32);
    }
    if let Some(v) = m.get("rungs") {
        out.rungs = Some(whole(v, "rungs", 1, MAX_RUNGS)? as u32);
    }
    if let Some(v) = m.get("min_survivors") {
        out.min_survivors = Some(whole(v, "min_survivors", 1, MAX_RUNS)? as usize);
    }
    if let Some(v) = m.get("budget") {
        let b = v.as_f64().filter(|b| b.is_finite() && *b > 0.0).ok_or_else(|| {
            (
                "tune.budget".to_string(),
                format!(
                    "must be a positive number of full-length runs (the full grid costs points x seeds), got {}",
                    yaml_text(v)
                ),
            )
        })?;
        out.budget = Some(b);
    }
    if out.search == Some(Search::Grid)
        && (out.eta.is_some() || out.rungs.is_some() || out.budget.is_some())
    {
        return Err((
            "tune.search".into(),
            "is `grid`, which runs every point in full: eta, rungs and budget apply only to `search: adaptive`"
                .into(),
        ));
    }
    let objective = match m.get("objective") {
        None => None,
        Some(v) => Some(values::parse_objective(v).map_err(|(k, msg)| (format!("tune.{k}"), msg))?),
    };
    Ok((out, objective))
}

impl TuneSettings {
    /// The search the file asks for: `search:` when given, else adaptive when any of eta, rungs or budget
    /// is set, else the full grid.
    pub fn search(&self) -> Search {
        self.search.unwrap_or(
            if self.eta.is_some() || self.rungs.is_some() || self.budget.is_some() {
                Search::Adaptive
            } else {
                Search::Grid
            },
        )
    }
}
