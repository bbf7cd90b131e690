//! Tune's answer as manifests you can review and apply: a patched `config-autoscaler` ConfigMap and a
//! patched InferenceService (or Knative Service), plus a unified diff against the user's own files.
//!
//! Where each sweep axis lands:
//! * `autoscaler.config.KEY` → `data.KEY` of ConfigMap `config-autoscaler` (namespace `knative-serving`);
//!   when Knative has a per-revision annotation for it, also `autoscaling.knative.dev/...` on the service
//!   (the annotation is what a single service should change; the ConfigMap changes the cluster default);
//! * `service.annotations.KEY` → `metadata.annotations.KEY`;
//! * `service.minReplicas`, `maxReplicas`, `scaleTarget`, `scaleMetric`, `containerConcurrency` → the
//!   InferenceService's `spec.predictor` fields of the same name (for a Knative Service: the min/max-scale
//!   and target annotations, and `spec.template.spec.containerConcurrency`);
//! * anything else (pod, traffic, cluster values) has no manifest field and is listed as a comment.
//!
//! With `--manifest FILE` the user's ConfigMap / InferenceService / Knative Service (recognised by `kind`)
//! is patched; the patched file is re-serialised by serde_yaml, so comments and key order of the original
//! are not kept, and the diff (`*.diff`) is taken between the re-serialised original and the patched
//! document so that it shows only the changed values. Without files, minimal manifests holding only the
//! chosen values are written, suitable for `kubectl patch --type merge` or `kubectl apply --server-side`.

use super::tune::TuneReport;
use super::SweepError;
use crate::report::write_atomic;
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

/// One chosen value, classified.
enum Target {
    ConfigMap(String, Option<&'static str>),
    Annotation(String),
    Predictor(&'static str),
    None,
}

fn classify(axis: &str) -> Target {
    let parts: Vec<&str> = axis.splitn(3, '.').collect();
    match parts.as_slice() {
        ["autoscaler", "config", key] => {
            Target::ConfigMap(key.to_string(), super::tune::annotation_for(key))
        }
        ["service", "annotations", key] => Target::Annotation(key.trim_matches('"').to_string()),
        ["service", field] => match *field {
            "minReplicas" => Target::Predictor("minReplicas"),
            "maxReplicas" => Target::Predictor("maxReplicas"),
            "scaleTarget" => Target::Predictor("scaleTarget"),
            "scaleMetric" => Target::Predictor("scaleMetric"),
            "containerConcurrency" => Target::Predictor("containerConcurrency"),
            _ => Target::None,
        },
        _ => Target::None,
    }
}

/// A scalar as Kubernetes wants it: numbers for replica fields, strings everywhere else.
fn predictor_value(value: &str) -> Value {
    value
        .parse::<i64>()
        .map(|n| Value::Number(n.into()))
        .unwrap_or_else(|_| Value::String(value.to_string()))
}

fn map_at<'a>(root: &'a mut Value, path: &[&str]) -> &'a mut Mapping {
    let mut node = root;
    for key in path {
        if !node.is_mapping() {
            *node = Value::Mapping(Mapping::new());
        }
        let map = node.as_mapping_mut().expect("made a mapping above");
        node = map
            .entry(Value::String(key.to_string()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    if !node.is_mapping() {
        *node = Value::Mapping(Mapping::new());
    }
    node.as_mapping_mut().expect("made a mapping above")
}

fn set(map: &mut Mapping, key: &str, value: Value) {
    map.insert(Value::String(key.to_string()), value);
}

/// Applies the chosen `(axis, value)` pairs to a ConfigMap document.
pub fn patch_configmap(doc: &mut Value, chosen: &[(String, String)]) -> bool {
    let mut changed = false;
    for (axis, value) in chosen {
        if let Target::ConfigMap(key, _) = classify(axis) {
            set(map_at(doc, &["data"]), &key, Value::String(value.clone()));
            changed = true;
        }
    }
    changed
}

/// Applies the chosen values to an InferenceService (`serving.kserve.io`) or Knative Service document.
pub fn patch_service(doc: &mut Value, chosen: &[(String, String)]) -> bool {
    let knative = doc["kind"] == "Service";
    let mut changed = false;
    for (axis, value) in chosen {
        let annotation = |a: &str| format!("autoscaling.knative.dev/{a}");
        match classify(axis) {
            Target::ConfigMap(_, Some(a)) => {
                let path: &[&str] = if knative {
                    &["spec", "template", "metadata", "annotations"]
                } else {
                    &["metadata", "annotations"]
                };
                set(
                    map_at(doc, path),
                    &annotation(a),
                    Value::String(value.clone()),
                );
            }
            Target::Annotation(key) => {
                let path: &[&str] = if knative {
                    &["spec", "template", "metadata", "annotations"]
                } else {
                    &["metadata", "annotations"]
                };
                set(map_at(doc, path), &key, Value::String(value.clone()));
            }
            Target::Predictor(field) if !knative => {
                set(
                    map_at(doc, &["spec", "predictor"]),
                    field,
                    predictor_value(value),
                );
            }
            Target::Predictor(field) => {
                let annotations = ["spec", "template", "metadata", "annotations"];
                match field {
                    "containerConcurrency" => set(
                        map_at(doc, &["spec", "template", "spec"]),
                        field,
                        predictor_value(value),
                    ),
                    "minReplicas" => set(
                        map_at(doc, &annotations),
                        &annotation("min-scale"),
                        Value::String(value.clone()),
                    ),
                    "maxReplicas" => set(
                        map_at(doc, &annotations),
                        &annotation("max-scale"),
                        Value::String(value.clone()),
                    ),
                    "scaleTarget" => set(
                        map_at(doc, &annotations),
                        &annotation("target"),
                        Value::String(value.clone()),
                    ),
                    _ => set(
                        map_at(doc, &annotations),
                        &annotation("metric"),
                        Value::String(value.clone()),
                    ),
                }
            }
            _ => continue,
        }
        changed = true;
    }
    changed
}

/// A unified diff (3 lines of context) of `old` → `new`, line by line (LCS; manifests are small).
pub fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // Edit script: (' ' | '-' | '+', old index, new index, text).
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', i, j, a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Deletions first, as diff(1) prints them.
            ops.push(('-', i, j, a[i]));
            i += 1;
        } else {
            ops.push(('+', i, j, b[j]));
            j += 1;
        }
    }
    let mut out = String::new();
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.0 != ' ')
        .map(|(k, _)| k)
        .collect();
    if changed.is_empty() {
        return out;
    }
    out += &format!("--- {old_name}\n+++ {new_name}\n");
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(3);
        let mut end = changed[k] + 3;
        while k + 1 < changed.len() && changed[k + 1] <= end + 3 {
            k += 1;
            end = changed[k] + 3;
        }
        let end = end.min(ops.len() - 1);
        let hunk = &ops[start..=end];
        let old_len = hunk.iter().filter(|o| o.0 != '+').count();
        let new_len = hunk.iter().filter(|o| o.0 != '-').count();
        let old_start = hunk[0].1 + usize::from(old_len > 0);
        let new_start = hunk[0].2 + usize::from(new_len > 0);
        out += &format!("@@ -{old_start},{old_len} +{new_start},{new_len} @@\n");
        for op in hunk {
            out += &format!("{}{}\n", op.0, op.3);
        }
        k += 1;
    }
    out
}

fn fresh_configmap() -> Value {
    serde_yaml::from_str("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config-autoscaler, namespace: knative-serving}\ndata: {}\n")
        .expect("static YAML")
}

fn fresh_service(name: &str) -> Value {
    serde_yaml::from_str(&format!(
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {{name: {name}}}\nspec: {{predictor: {{}}}}\n"
    ))
    .expect("static YAML")
}

/// Writes the manifests for the best feasible point of `report` into `out`; returns the files written.
/// `manifests` are the user's files to patch (ConfigMap, InferenceService or Knative Service).
pub fn write(
    report: &TuneReport,
    out: &Path,
    manifests: &[PathBuf],
) -> Result<Vec<PathBuf>, SweepError> {
    let Some(best) = report.best() else {
        return Ok(Vec::new());
    };
    let chosen: Vec<(String, String)> = report
        .axes
        .iter()
        .cloned()
        .zip(best.axes.iter().cloned())
        .collect();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SweepError::Io { path, source }
    };
    let yaml = |v: &Value| serde_yaml::to_string(v).expect("a YAML value serialises");
    let unmapped: Vec<String> = chosen
        .iter()
        .filter(|(a, _)| matches!(classify(a), Target::None))
        .map(|(a, v)| format!("# not a manifest field (scenario only): {a}={v}\n"))
        .collect();
    let header = format!(
        "# podscale tune {}: point {} ({})\n{}",
        report.sweep,
        best.point,
        chosen
            .iter()
            .map(|(a, v)| format!("{a}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        unmapped.concat()
    );
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut patched_cm = false;
    let mut patched_svc = false;
    for path in manifests {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let mut doc: Value = serde_yaml::from_str(&text).map_err(|e| {
            SweepError::Usage(format!(
                "{}:{}: not a YAML manifest: {e}",
                path.display(),
                e.location().map_or(0, |l| l.line())
            ))
        })?;
        let original = yaml(&doc);
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let changed = match kind.as_str() {
            "ConfigMap" => {
                patched_cm = true;
                patch_configmap(&mut doc, &chosen)
            }
            "InferenceService" | "Service" => {
                patched_svc = true;
                patch_service(&mut doc, &chosen)
            }
            other => {
                return Err(SweepError::Usage(format!(
                    "{}: kind: `{other}` cannot be patched; allowed: ConfigMap, InferenceService, Service (Knative)",
                    path.display()
                )))
            }
        };
        let stem = path
            .file_stem()
            .map_or("manifest".into(), |s| s.to_string_lossy().to_string());
        let patched = yaml(&doc);
        let name = path.display().to_string();
        files.push((
            out.join(format!("{stem}.patched.yaml")),
            header.clone() + &patched,
        ));
        let diff = if changed {
            unified_diff(
                &original,
                &patched,
                &format!("a/{name}"),
                &format!("b/{name}"),
            )
        } else {
            String::new()
        };
        files.push((out.join(format!("{stem}.diff")), diff));
    }
    if !patched_cm {
        let mut doc = fresh_configmap();
        if patch_configmap(&mut doc, &chosen) {
            files.push((
                out.join("config-autoscaler.patch.yaml"),
                header.clone() + &yaml(&doc),
            ));
        }
    }
    if !patched_svc {
        let mut doc = fresh_service(&report.sweep);
        if patch_service(&mut doc, &chosen) {
            files.push((
                out.join("inferenceservice.patch.yaml"),
                header.clone() + &yaml(&doc),
            ));
        }
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut written = Vec::new();
    for (path, text) in files {
        write_atomic(&path, text.as_bytes()).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}
