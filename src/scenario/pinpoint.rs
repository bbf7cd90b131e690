//! Pins structural errors to the value they are about. serde stops at a section's first error and, for
//! values it buffers (durations, distributions, traffic kinds), names only the section; this module finds
//! the value the message quotes (or, failing that, the only value of the kind the message names), reports
//! the error at that value's key and line, removes the value and reads the section again, so that every
//! error of a section is reported. It also rewrites serde's Rust vocabulary in the user's words.
//! Heuristic: a quoted value that occurs twice in a section is pinned to its first occurrence.

use super::{check_section, locate, scalar_to_string, ScenarioError};
use serde_yaml::Value;
use std::path::Path;

/// Every structural error of one top-level section. serde stops at the first error and, inside values it
/// buffers (durations, distributions, traffic kinds), names only the section; so each error is pinned to
/// the value it quotes (the leaf or key under the section that the message names), that value is removed,
/// and the section is read again, until it reads or nothing more can be pinned.
pub(super) fn section_errors(
    text: &str,
    section: &str,
    path: &Path,
    value: Option<&Value>,
) -> Vec<ScenarioError> {
    let Some(first) = check_section(text, section, path) else {
        return Vec::new();
    };
    let Some(mut remaining) = value.cloned() else {
        return vec![first];
    };
    let mut errors = Vec::new();
    let mut next = Some(first);
    while let Some(mut e) = next.take() {
        if errors.len() >= 20 {
            break;
        }
        let pinned = pin(&remaining, &e.message, &e.key, section);
        if let Some(leaf) = &pinned {
            let full = format!("{section}{}", leaf);
            if full != e.key {
                e.line = locate::locate_key_or_parent(text, &full).or(e.line);
                e.key = full;
            }
        }
        errors.push(e);
        let Some(leaf) = pinned else { break };
        if !remove_path(&mut remaining, &leaf) {
            break;
        }
        let mut doc = serde_yaml::Mapping::new();
        doc.insert(Value::String(section.into()), remaining.clone());
        let masked = serde_yaml::to_string(&doc).unwrap_or_default();
        let removed = leaf.rsplit(['.', '[']).next().unwrap_or("").to_string();
        next = check_section(&masked, section, path)
            // Removing a required value makes it missing: that is the same error again.
            .filter(|e| !e.message.contains(&format!("missing field `{removed}`")))
            .map(|mut e| {
                e.line = locate::locate_key_or_parent(text, &e.key);
                e
            });
    }
    errors
}

/// The path (from the section, e.g. `.service_time` or `.sources[1].rate`) of the value or key that
/// `message` quotes, searched under the part of the section that `key` already names.
fn pin(section_value: &Value, message: &str, key: &str, section: &str) -> Option<String> {
    let quoted: Vec<&str> = message
        .split(['"', '`'])
        .skip(1)
        .step_by(2)
        .filter(|q| !q.is_empty())
        .collect();
    let unknown_field = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next());
    let mut start = String::new();
    let mut node = section_value;
    // Follow the known part of the key (`request_path.x` knows `request_path`).
    if let Some(rest) = key.strip_prefix(section) {
        for seg in locate::split_path(rest) {
            let child = match &seg {
                locate::Segment::Key(k) => node.get(k.as_str()),
                locate::Segment::Index(i) => node.get(*i),
            };
            match child {
                Some(c) if c.is_mapping() || c.is_sequence() => {
                    node = c;
                    start += &match seg {
                        locate::Segment::Key(k) => format!(".{k}"),
                        locate::Segment::Index(i) => format!("[{i}]"),
                    };
                }
                _ => break,
            }
        }
    }
    fn walk(v: &Value, at: &str, want_key: Option<&str>, quoted: &[&str]) -> Option<String> {
        match v {
            Value::Mapping(m) => {
                for (k, child) in m {
                    let name = k.as_str()?;
                    let here = format!("{at}.{name}");
                    if want_key == Some(name) {
                        return Some(here);
                    }
                    if want_key.is_none() {
                        if let Some(text) = scalar_to_string(child) {
                            if quoted.contains(&text.as_str()) {
                                return Some(here);
                            }
                        }
                    }
                    if let Some(found) = walk(child, &here, want_key, quoted) {
                        return Some(found);
                    }
                }
                None
            }
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, c)| walk(c, &format!("{at}[{i}]"), want_key, quoted)),
            _ => None,
        }
    }
    if let Some(found) = walk(node, &start, unknown_field, &quoted) {
        return Some(found);
    }
    // Nothing quoted matches (serde does not echo lists and maps): a value of the kind the message
    // names, or else the only list under the key, is the culprit when there is exactly one.
    let kind = |v: &Value| -> bool {
        if message.contains("sequence") || message.contains("a list") {
            v.is_sequence()
        } else if message.contains("invalid type: map") || message.contains("got a map") {
            v.is_mapping()
        } else {
            v.is_sequence()
        }
    };
    fn collect(v: &Value, at: &str, kind: &dyn Fn(&Value) -> bool, out: &mut Vec<String>) {
        let children: Vec<(String, &Value)> = match v {
            Value::Mapping(m) => m
                .iter()
                .filter_map(|(k, c)| Some((format!("{at}.{}", k.as_str()?), c)))
                .collect(),
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("{at}[{i}]"), c))
                .collect(),
            _ => Vec::new(),
        };
        for (here, child) in children {
            if kind(child) {
                out.push(here.clone());
            }
            if child.is_mapping() {
                collect(child, &here, kind, out);
            }
        }
    }
    let mut candidates = Vec::new();
    collect(node, &start, &kind, &mut candidates);
    match candidates.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    }
}

/// Removes the value at `path` (as returned by [`pin`]) from `root`; false when it is not there.
fn remove_path(root: &mut Value, path: &str) -> bool {
    let segments = locate::split_path(path);
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = &mut *root;
    for seg in parents {
        let child = match seg {
            locate::Segment::Key(k) => node.get_mut(k.as_str()),
            locate::Segment::Index(i) => node.get_mut(*i),
        };
        match child {
            Some(c) => node = c,
            None => return false,
        }
    }
    let removed = match (last, node) {
        (locate::Segment::Key(k), Value::Mapping(m)) => m.remove(k.as_str()).is_some(),
        (locate::Segment::Index(i), Value::Sequence(items)) if *i < items.len() => {
            items.remove(*i);
            true
        }
        _ => false,
    };
    // An emptied map would now lack its required fields: that is not another error of the user's.
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    let parent = &path[..cut];
    if removed && !parent.is_empty() {
        let empty = locate::split_path(parent)
            .iter()
            .try_fold(&*root, |n, seg| match seg {
                locate::Segment::Key(k) => n.get(k.as_str()),
                locate::Segment::Index(i) => n.get(*i),
            })
            .is_some_and(|v| v.as_mapping().is_some_and(|m| m.is_empty()));
        if empty {
            remove_path(root, parent);
        }
    }
    removed
}

/// Rewrites serde's Rust vocabulary (`f64`, `u32`, `struct PodSpec`, `Value::Tagged`) in words a scenario
/// author knows.
pub(super) fn humanize(message: &str) -> String {
    let mut out = message.to_string();
    for (rust, words) in [
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected u64", "expected a whole number >= 0"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected usize", "expected a whole number >= 0"),
        ("expected i64", "expected a whole number"),
        (
            "expected i32",
            "expected a whole number from -2147483648 to 2147483647",
        ),
        ("expected a borrowed string", "expected a string"),
        ("Value::Tagged", "a tagged value (!tag)"),
        ("a boolean", "true or false"),
    ] {
        out = out.replace(rust, words);
    }
    for prefix in ["expected struct ", "expected enum "] {
        while let Some(i) = out.find(prefix) {
            let rest = &out[i + prefix.len()..];
            let end = rest
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .unwrap_or(rest.len());
            let what = if prefix.contains("struct") {
                "expected a map of fields"
            } else {
                "expected one of the allowed names"
            };
            out = format!("{}{what}{}", &out[..i], &rest[end..]);
        }
    }
    out
}
