//! A Knative Service's `spec.traffic`, read as written: each target's `percent`, `revisionName` or
//! `latestRevision: true`, and `tag`. Shapes Knative itself rejects are errors naming the manifest's
//! file, line and key (percentages not summing to 100, a target naming no revision or two, a percentage
//! outside [0, 100]); `configurationName` (deprecated in Knative, and a second configuration podscale does
//! not model) is refused. Whether each `revisionName` exists is checked against the scenario's `revisions:`
//! (see `scenario::routes`).

use super::docs::Doc;
use super::{ManifestTraffic, ServiceManifest};
use serde_yaml::Value;

const TARGET_KEYS: &[&str] = &["percent", "revisionName", "latestRevision", "tag", "url"];

/// Reads `spec.traffic` of a Knative Service into `m.traffic`.
pub(super) fn read(doc: &Doc, m: &mut ServiceManifest) -> Result<(), String> {
    let Some(list) = doc.get("spec.traffic") else {
        return Ok(());
    };
    let Some(items) = list.as_sequence() else {
        return Err(doc.error(
            "spec.traffic",
            "must be a list of traffic targets (`- percent: 80` with `revisionName:` or `latestRevision: true`)",
        ));
    };
    let mut targets = Vec::with_capacity(items.len());
    let mut sum = 0u32;
    for (i, item) in items.iter().enumerate() {
        let key = |k: &str| format!("spec.traffic[{i}].{k}");
        let Some(map) = item.as_mapping() else {
            return Err(doc.error(&format!("spec.traffic[{i}]"), "must be a map"));
        };
        for k in map.keys() {
            let name = k.as_str().unwrap_or("");
            if name == "configurationName" {
                return Err(doc.error(
                    &key(name),
                    "a target by configurationName is not supported; use `latestRevision: true` (the service's \
                     own configuration) or `revisionName`",
                ));
            }
            if !TARGET_KEYS.contains(&name) {
                return Err(doc.error(
                    &key(name),
                    format!(
                        "unknown traffic target field; allowed: {}",
                        TARGET_KEYS.join(", ")
                    ),
                ));
            }
        }
        let percent = match item.get("percent") {
            None | Some(Value::Null) => 0,
            Some(v) => match v.as_u64() {
                Some(p) if p <= 100 => p as u32,
                _ => {
                    return Err(doc.error(
                        &key("percent"),
                        format!(
                            "must be a whole number in [0, 100], got {}",
                            super::super::show_value(v)
                        ),
                    ))
                }
            },
        };
        let latest = match item.get("latestRevision") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_bool()
                    .ok_or_else(|| doc.error(&key("latestRevision"), "must be true or false"))?,
            ),
        };
        let revision = match item.get("revisionName") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| doc.error(&key("revisionName"), "must be a revision's name"))?
                    .to_string(),
            ),
        };
        let tag = item.get("tag").and_then(Value::as_str).map(str::to_string);
        let revision_name = match (latest, revision) {
            (Some(true), Some(_)) => {
                return Err(doc.error(
                    &key("latestRevision"),
                    "a target with `latestRevision: true` must not also name `revisionName`",
                ))
            }
            (Some(true), None) => None,
            (_, Some(name)) => Some(name),
            (_, None) => {
                return Err(doc.error(
                    &format!("spec.traffic[{i}]"),
                    "names no revision; give `revisionName` or `latestRevision: true`",
                ))
            }
        };
        sum += percent;
        targets.push(ManifestTraffic {
            revision_name,
            percent,
            tag,
            file: doc.file.clone(),
            line: doc.line(&key(if latest == Some(true) {
                "latestRevision"
            } else {
                "revisionName"
            })),
            key: format!("spec.traffic[{i}]"),
        });
    }
    if sum != 100 {
        return Err(doc.error(
            "spec.traffic",
            format!("the targets' percentages sum to {sum}; they must sum to 100"),
        ));
    }
    m.traffic = Some(targets);
    Ok(())
}
