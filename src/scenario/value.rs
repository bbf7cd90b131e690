//! Reading and showing YAML values for error messages: scalars written with or without quotes, and a
//! value shortened to one line as the user would have written it.

use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;

/// Reads a map whose values may be written as YAML strings, numbers or booleans (ConfigMap data and
/// annotations are strings in Kubernetes; users often leave the quotes off).
pub(super) fn string_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    use serde::de::Error;
    let raw: BTreeMap<String, Value> = BTreeMap::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| match scalar_to_string(&v) {
            Some(s) => Ok((k, s)),
            None => Err(D::Error::custom(format!(
                "`{k}` must be a string, number or boolean, got {}",
                kind_of(&v)
            ))),
        })
        .collect()
}

pub(crate) fn scalar_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A value as the user would write it in YAML (one line, at most 60 characters), for error messages.
pub(crate) fn show_value(v: &Value) -> String {
    let text = match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Null => "nothing".to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| kind_of(other).to_string()),
    };
    let chars = text.chars().count();
    if chars > 60 {
        format!(
            "{}... ({chars} characters)",
            text.chars().take(60).collect::<String>()
        )
    } else {
        text
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}
