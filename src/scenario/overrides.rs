//! `--set KEY=VALUE`: overrides any scenario value by its dotted path before the scenario is checked.
//!
//! Paths are dot-separated; a segment holding dots (an annotation key) is quoted or bracketed:
//! `service.annotations."autoscaling.knative.dev/target"=5` or
//! `service.annotations[autoscaling.knative.dev/target]=5`. `[N]` indexes a list. The value is read as a
//! YAML scalar or flow collection (`30s`, `5`, `true`, `[1, 2]`, `{dist: exp, mean: 1s}`). Missing
//! intermediate maps are created, so any key the schema accepts can be set even if the file omits it.

use super::locate::{split_path, Segment};
use serde_yaml::{Mapping, Value};

/// Applies `key=value` to `doc`. Errors are messages for the user.
pub fn apply_override(doc: &mut Value, assignment: &str) -> Result<(), String> {
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| format!("\"{assignment}\" is not KEY=VALUE (e.g. --set traffic.rate=50)"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("\"{assignment}\" has an empty key"));
    }
    let value: Value = if raw.trim().is_empty() {
        Value::String(String::new())
    } else {
        serde_yaml::from_str(raw).map_err(|e| format!("value \"{raw}\" is not valid YAML: {e}"))?
    };
    let segments = split_path(key);
    let mut node = doc;
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match seg {
            Segment::Key(k) => {
                if node.is_null() {
                    *node = Value::Mapping(Mapping::new());
                }
                let map = node.as_mapping_mut().ok_or_else(|| {
                    format!("cannot set `{key}`: the value before `{k}` is not a map")
                })?;
                let k = Value::String(k.clone());
                if last {
                    map.insert(k, value);
                    return Ok(());
                }
                node = map.entry(k).or_insert(Value::Null);
            }
            Segment::Index(n) => {
                let seq = node.as_sequence_mut().ok_or_else(|| {
                    format!("cannot set `{key}`: the value before [{n}] is not a list")
                })?;
                let len = seq.len();
                let item = seq.get_mut(*n).ok_or_else(|| {
                    format!(
                        "cannot set `{key}`: index {n} is out of range (the list has {len} items)"
                    )
                })?;
                if last {
                    *item = value;
                    return Ok(());
                }
                node = item;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_nested_and_creates_missing_maps() {
        let mut doc: Value =
            serde_yaml::from_str("traffic: {kind: poisson, rate: 5}\nlist: [1, 2]").unwrap();
        apply_override(&mut doc, "traffic.rate=50").unwrap();
        apply_override(&mut doc, "autoscaler.config.stable-window=30s").unwrap();
        apply_override(
            &mut doc,
            "service.annotations[autoscaling.knative.dev/target]=5",
        )
        .unwrap();
        apply_override(&mut doc, "list[1]=7").unwrap();
        assert_eq!(doc["traffic"]["rate"], Value::from(50));
        assert_eq!(
            doc["autoscaler"]["config"]["stable-window"],
            Value::from("30s")
        );
        assert_eq!(
            doc["service"]["annotations"]["autoscaling.knative.dev/target"],
            Value::from(5)
        );
        assert_eq!(doc["list"][1], Value::from(7));
        assert!(apply_override(&mut doc, "list[5]=1")
            .unwrap_err()
            .contains("out of range"));
        assert!(apply_override(&mut doc, "traffic.rate.x=1")
            .unwrap_err()
            .contains("not a map"));
        assert!(apply_override(&mut doc, "novalue")
            .unwrap_err()
            .contains("KEY=VALUE"));
    }
}
