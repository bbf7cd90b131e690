//! The located-error helpers the ScaledObject reader shares: an error names the manifest file, the line of
//! the key (or of its nearest parent), the key's dotted path and what is allowed there.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use crate::scenario::locate::locate_key_or_parent;
use crate::scenario::ScenarioError;

pub(super) struct Ctx<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
}

impl Ctx<'_> {
    pub(super) fn err(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_path_buf(),
            line: locate_key_or_parent(self.text, key),
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub(super) fn check_keys(
        &self,
        map: &Mapping,
        path: &str,
        allowed: &[&str],
    ) -> Result<(), ScenarioError> {
        for key in map.keys() {
            let k = key.as_str().unwrap_or("");
            if !allowed.contains(&k) {
                let full = if path.is_empty() {
                    k.to_string()
                } else {
                    format!("{path}.{k}")
                };
                return Err(self.err(
                    &full,
                    format!(
                        "unsupported field {k:?}; supported here: {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn map<'v>(&self, v: &'v Value, path: &str) -> Result<&'v Mapping, ScenarioError> {
        v.as_mapping()
            .ok_or_else(|| self.err(path, "expected a mapping"))
    }

    pub(super) fn scalar(&self, v: &Value, path: &str) -> Result<String, ScenarioError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(self.err(path, "expected a string")),
        }
    }

    pub(super) fn int(
        &self,
        m: &Mapping,
        key: &str,
        path: &str,
        min: i64,
    ) -> Result<Option<i64>, ScenarioError> {
        let full = format!("{path}.{key}");
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if n >= min && n <= i64::from(i32::MAX) => Ok(Some(n)),
                _ => Err(self.err(
                    &full,
                    format!("invalid value {v:?}: expected an integer in [{min}, 2147483647]"),
                )),
            },
        }
    }
}
