//! Parsing the parts of a sweep file that hold values: `seeds`, each axis (a list, a `{from, to, step}`
//! range, or `uniform`/`log-uniform` random samples drawn from the sweep's `sample_seed`, so a sweep file
//! always expands to the same points) and the `objective`. Errors are plain messages; [`super`] adds the
//! file and key.

use super::*;

pub(super) fn parse_seeds(v: Option<&Value>) -> Result<Vec<u64>, String> {
    let allowed =
        "a count (`seeds: 3` runs seeds 1, 2, 3) or a list of seeds (`seeds: [1, 7, 42]`)";
    match v {
        None => Ok(vec![1]),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(c) if (1..=10_000).contains(&c) => Ok((1..=c).collect()),
            _ => Err(format!(
                "must be between 1 and 10000 when a count, got {n}; {allowed}"
            )),
        },
        Some(Value::Sequence(items)) if !items.is_empty() => {
            let mut seeds = Vec::with_capacity(items.len());
            for item in items {
                let s = item.as_u64().ok_or_else(|| {
                    format!("{} is not a whole number >= 0; {allowed}", yaml_text(item))
                })?;
                if seeds.contains(&s) {
                    return Err(format!("seed {s} is listed twice"));
                }
                seeds.push(s);
            }
            Ok(seeds)
        }
        Some(other) => Err(format!("got {}; allowed: {allowed}", yaml_text(other))),
    }
}

/// A number or a Go duration read from a range or sample bound.
#[derive(Clone, Copy, Debug)]
enum Scalar {
    Number(f64),
    Duration(SimDuration),
}

fn scalar(v: &Value, what: &str) -> Result<Scalar, String> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Scalar::Number)
            .ok_or_else(|| format!("`{what}` is not a finite number")),
        Value::String(s) => parse_duration(s)
            .map(Scalar::Duration)
            .map_err(|e| format!("`{what}`: \"{s}\" is neither a number nor a duration ({e})")),
        other => Err(format!(
            "`{what}` must be a number or a duration such as 30s, got {}",
            yaml_text(other)
        )),
    }
}

/// Rounds to 9 significant decimals of the step, so `0.1 + 0.2` prints as `0.3`.
fn tidy(v: f64) -> f64 {
    let r = (v * 1e9).round() / 1e9;
    r + 0.0
}

pub(super) fn parse_axis(
    path: &str,
    v: &Value,
    sample_seed: u64,
    index: u64,
) -> Result<Axis, String> {
    let (values, labels): (Vec<String>, Vec<String>) = match v {
        Value::Sequence(items) => {
            if items.is_empty() {
                return Err(format!("has no values; allowed: {AXIS_FORMS}"));
            }
            items.iter().map(override_text).unzip()
        }
        Value::Mapping(m) => parse_generated(m, sample_seed, index)?
            .into_iter()
            .map(|s| (s.clone(), s))
            .unzip(),
        other => {
            let (text, label) = override_text(other);
            (vec![text], vec![label])
        }
    };
    if values.len() > MAX_AXIS_VALUES {
        return Err(format!(
            "has {} values; at most {MAX_AXIS_VALUES} are allowed",
            values.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for l in &labels {
        if !seen.insert(l) {
            return Err(format!("value {l} appears twice"));
        }
    }
    Ok(Axis {
        path: path.to_string(),
        values,
        labels,
    })
}

fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Value> {
    m.get(key)
}

fn parse_generated(m: &Mapping, sample_seed: u64, index: u64) -> Result<Vec<String>, String> {
    let keys: Vec<String> = m.keys().map(yaml_text).collect();
    if get(m, "from").is_some() || get(m, "to").is_some() || get(m, "step").is_some() {
        for k in m.keys() {
            if !matches!(k.as_str(), Some("from" | "to" | "step")) {
                return Err(format!(
                    "unknown key {} in a range; allowed: from, to, step",
                    yaml_text(k)
                ));
            }
        }
        let need = |k: &str| {
            get(m, k)
                .ok_or_else(|| format!("a range needs `from`, `to` and `step`; `{k}` is missing"))
        };
        let (from, to, step) = (
            scalar(need("from")?, "from")?,
            scalar(need("to")?, "to")?,
            scalar(need("step")?, "step")?,
        );
        return match (from, to, step) {
            (Scalar::Number(a), Scalar::Number(b), Scalar::Number(s)) => {
                if s <= 0.0 || a > b {
                    return Err(format!(
                        "needs step > 0 and from <= to, got from {a}, to {b}, step {s}"
                    ));
                }
                let n = (((b - a) / s + 1e-9).floor() as u64).saturating_add(1);
                if n as usize > MAX_AXIS_VALUES {
                    return Err(format!(
                        "the range has {n} values; at most {MAX_AXIS_VALUES} are allowed"
                    ));
                }
                Ok((0..n).map(|i| tidy(a + i as f64 * s).to_string()).collect())
            }
            (Scalar::Duration(a), Scalar::Duration(b), Scalar::Duration(s)) => {
                if s.0 == 0 || a > b {
                    return Err(format!(
                        "needs step > 0s and from <= to, got from {a}, to {b}, step {s}"
                    ));
                }
                let n = ((b.0 - a.0) / s.0).saturating_add(1);
                if n as usize > MAX_AXIS_VALUES {
                    return Err(format!(
                        "the range has {n} values; at most {MAX_AXIS_VALUES} are allowed"
                    ));
                }
                Ok((0..n)
                    .map(|i| SimDuration(a.0 + i * s.0).to_string())
                    .collect())
            }
            _ => Err("`from`, `to` and `step` must all be numbers or all durations".into()),
        };
    }
    let kind = if get(m, "uniform").is_some() {
        "uniform"
    } else if get(m, "log-uniform").is_some() {
        "log-uniform"
    } else {
        return Err(format!(
            "unknown axis form with keys {}; allowed: {AXIS_FORMS}",
            keys.join(", ")
        ));
    };
    for k in m.keys() {
        if !matches!(k.as_str(), Some("uniform" | "log-uniform" | "n"))
            || (get(m, "uniform").is_some() && get(m, "log-uniform").is_some())
        {
            return Err(format!(
                "unexpected key {} in random samples; allowed: one of uniform / log-uniform, and n",
                yaml_text(k)
            ));
        }
    }
    let bounds = match get(m, kind) {
        Some(Value::Sequence(b)) if b.len() == 2 => b,
        _ => return Err(format!("`{kind}` must be [min, max]")),
    };
    let n = get(m, "n")
        .and_then(Value::as_u64)
        .filter(|n| (1..=MAX_AXIS_VALUES as u64).contains(n))
        .ok_or_else(|| format!("random samples need `n`, a count from 1 to {MAX_AXIS_VALUES}"))?;
    let (lo, hi) = (scalar(&bounds[0], "min")?, scalar(&bounds[1], "max")?);
    let (lo_f, hi_f, durations) = match (lo, hi) {
        (Scalar::Number(a), Scalar::Number(b)) => (a, b, false),
        (Scalar::Duration(a), Scalar::Duration(b)) => (a.as_secs_f64(), b.as_secs_f64(), true),
        _ => return Err("min and max must both be numbers or both durations".into()),
    };
    let log = kind == "log-uniform";
    if lo_f >= hi_f || (log && lo_f <= 0.0) {
        return Err(format!(
            "needs min < max{}, got [{lo_f}, {hi_f}]",
            if log { " and min > 0" } else { "" }
        ));
    }
    // One generator per axis, from the sweep's sample_seed and the axis position.
    let mut rng = SimRng::seed_from_u64(
        sample_seed ^ (index.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let mut out = Vec::with_capacity(n as usize);
    let mut seen = std::collections::HashSet::new();
    let mut attempts = 0;
    while (out.len() as u64) < n {
        attempts += 1;
        if attempts > n * 100 {
            return Err(format!(
                "cannot draw {n} distinct values in [{lo_f}, {hi_f}] at the printed precision; use a smaller n"
            ));
        }
        let u: f64 = rng.random();
        let x = if log {
            (lo_f.ln() + u * (hi_f.ln() - lo_f.ln())).exp()
        } else {
            lo_f + u * (hi_f - lo_f)
        };
        let text = if durations {
            // Whole milliseconds.
            SimDuration(((x * 1000.0).round() as u64).max(1) * 1_000_000).to_string()
        } else {
            round_significant(x, 4).to_string()
        };
        if seen.insert(text.clone()) {
            out.push(text);
        }
    }
    Ok(out)
}

/// Rounds to `digits` significant digits (values stay readable in CSV columns and ConfigMaps).
fn round_significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let magnitude = x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits - 1 - magnitude);
    tidy((x * scale).round() / scale)
}

pub(super) fn parse_objective(v: &Value) -> Result<Objective, (String, String)> {
    let Value::Mapping(m) = v else {
        return Err((
            "objective".into(),
            "must be a map: `{minimize: pod_seconds, constraints: [\"latency_p99_ms <= 500\"]}` or `{maximize: slo_attainment}`"
                .into(),
        ));
    };
    for k in m.keys() {
        if !matches!(k.as_str(), Some("minimize" | "maximize" | "constraints")) {
            return Err((
                format!("objective.{}", k.as_str().unwrap_or("?")),
                "unknown key; allowed: minimize, maximize, constraints".into(),
            ));
        }
    }
    let (metric, maximize) = match (m.get("minimize"), m.get("maximize")) {
        (Some(_), Some(_)) => {
            return Err((
                "objective.maximize".into(),
                "give either `minimize:` or `maximize:`, not both".into(),
            ))
        }
        (None, None) => ("pod_seconds".to_string(), false),
        (Some(v), None) | (None, Some(v)) => {
            let maximize = m.get("maximize").is_some();
            let key = if maximize {
                "objective.maximize"
            } else {
                "objective.minimize"
            };
            match v {
                Value::String(s) => {
                    check_metric(s).map_err(|e| (key.to_string(), e))?;
                    (s.clone(), maximize)
                }
                other => {
                    return Err((
                        key.into(),
                        format!("must be a metric name, got {}", yaml_text(other)),
                    ))
                }
            }
        }
    };
    let mut constraints = Vec::new();
    match m.get("constraints") {
        None => {}
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                let key = format!("objective.constraints[{i}]");
                let Some(s) = item.as_str() else {
                    return Err((key, format!("must be text such as \"latency_p99_ms <= 500\", got {}", yaml_text(item))));
                };
                constraints.push(Constraint::parse(s).map_err(|e| (key, e))?);
            }
        }
        Some(other) => {
            return Err((
                "objective.constraints".into(),
                format!(
                    "must be a list such as [\"latency_p99_ms <= 500\", \"cold_start_affected_pct <= 1\"], got {}",
                    yaml_text(other)
                ),
            ))
        }
    }
    Ok(Objective {
        metric,
        maximize,
        constraints,
    })
}
