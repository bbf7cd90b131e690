//! Loading a scenario: reading the file (or text, or a parsed document), the `--set` overrides and
//! presets, then each top-level section's structure, with every error located by file, line and key.

use super::schema::{
    AutoscalerSpec, OutputSpec, PodSpec, RequestPathSpec, ScenarioSpec, ServiceSpec,
};
use super::value::show_value;
use super::{
    limits, locate, overrides, pinpoint, podspec, presets, services, suggest, with_suggestion,
    ScenarioError, ScenarioErrors,
};
use crate::time::SimDuration;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A scenario file read, overridden and structurally checked, with where it came from.
#[derive(Clone, Debug)]
pub struct LoadedScenario {
    pub path: PathBuf,
    /// Folder of the scenario file: relative paths inside it resolve against this.
    pub base_dir: PathBuf,
    pub text: String,
    pub spec: ScenarioSpec,
    /// The document after overrides and presets.
    pub document: Value,
    /// The `--set KEY=VALUE` overrides applied, as given (the effective configuration names them as sources).
    pub overrides: Vec<String>,
    /// Structural errors in sections that were set aside (read as their defaults) so that the rest of the
    /// scenario could still be checked; [`prepare`](super::prepare) reports them together with its own.
    pub deferred_errors: Vec<ScenarioError>,
    /// Set on the single-service scenario of one `services:` entry (see [`services`](super::services)).
    pub(crate) scope: Option<ServiceScope>,
}

/// Where one service's own sections sit in a multi-service file, so that its errors point there.
#[derive(Clone, Debug)]
pub(crate) struct ServiceScope {
    /// `services[3].`
    pub prefix: String,
    /// The sections the entry writes itself; errors in inherited sections point at the top level.
    pub sections: Vec<String>,
}

impl LoadedScenario {
    /// Name for outputs: `name:` or the file stem.
    pub fn name(&self) -> String {
        self.spec.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        })
    }

    /// An error at `key`, located in the file when possible.
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        let scoped;
        let key = match &self.scope {
            Some(scope)
                if scope
                    .sections
                    .iter()
                    .any(|s| key == s || key.starts_with(&format!("{s}."))) =>
            {
                scoped = format!("{}{key}", scope.prefix);
                scoped.as_str()
            }
            _ => key,
        };
        ScenarioError {
            file: self.path.clone(),
            line: locate::locate_key_or_parent(&self.text, key),
            key: key.to_string(),
            message: message.into(),
        }
    }
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "description",
    "seed",
    "duration",
    "cooldown",
    "start_time",
    "service",
    "autoscaler",
    "pod",
    "request_path",
    "cluster",
    "traffic",
    "output",
    "services",
    "services_trace",
    "kserve",
    "revisions",
    "route",
];

/// Reads a scenario file and applies `--set` overrides. Returns every structural error found.
pub fn load(path: &Path, overrides: &[String]) -> Result<LoadedScenario, ScenarioErrors> {
    let file = path.to_path_buf();
    let err = |line: Option<usize>, key: &str, message: String| ScenarioError {
        file: file.clone(),
        line,
        key: key.into(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        ScenarioErrors(vec![err(
            None,
            "",
            format!("cannot read the scenario file: {e}"),
        )])
    })?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_str(&text, path, &base_dir, overrides)
}

/// Loads a parsed YAML document as a scenario: it is written out as YAML and read by [`load_str`], so line
/// numbers in errors refer to that rendering (keys are kept in the document's order). Errors name `name`.
pub fn load_value(
    document: &Value,
    name: &Path,
    base_dir: &Path,
    overrides: &[String],
) -> Result<LoadedScenario, ScenarioErrors> {
    let text = serde_yaml::to_string(document).map_err(|e| {
        ScenarioErrors(vec![ScenarioError {
            file: name.to_path_buf(),
            line: None,
            key: String::new(),
            message: format!("cannot render the document as YAML: {e}"),
        }])
    })?;
    load_str(&text, name, base_dir, overrides)
}

/// [`load`] for scenario text that is not in a file: errors name `name` as the file (for example
/// `playground.yaml`), and relative paths inside the scenario (traces, empirical samples, manifests)
/// resolve against `base_dir`.
pub fn load_str(
    text: &str,
    name: &Path,
    base_dir: &Path,
    overrides: &[String],
) -> Result<LoadedScenario, ScenarioErrors> {
    let path = name;
    let file = path.to_path_buf();
    let err = |line: Option<usize>, key: &str, message: String| ScenarioError {
        file: file.clone(),
        line,
        key: key.into(),
        message,
    };
    let text = text.to_string();
    if let Err((line, message)) = limits::check_text(&text) {
        return Err(ScenarioErrors(vec![err(
            line,
            "",
            format!("refused before parsing: {message}"),
        )]));
    }
    let mut document: Value = serde_yaml::from_str(&text).map_err(|e| {
        ScenarioErrors(vec![err(
            e.location().map(|l| l.line()),
            "",
            format!("malformed YAML: {}", strip_location(&e.to_string())),
        )])
    })?;
    if !document.is_mapping() {
        return Err(ScenarioErrors(vec![err(
            Some(1),
            "",
            "a scenario is a YAML map with keys such as `duration`, `traffic`, `service`".into(),
        )]));
    }

    // Structure, one top-level section at a time so one bad section does not hide the others. Each section
    // is parsed from the original text with every other line blanked, which keeps serde's line numbers.
    let mut errors = Vec::new();
    let mut set_aside: Vec<String> = Vec::new();
    let map = document.as_mapping().expect("checked above");
    for key in map.keys() {
        let Some(k) = key.as_str() else {
            errors.push(err(
                None,
                "",
                format!("top-level keys must be strings, got {}", show_value(key)),
            ));
            continue;
        };
        if !TOP_LEVEL_KEYS.contains(&k) {
            set_aside.push(k.to_string());
            let hint = suggest(k, TOP_LEVEL_KEYS.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            errors.push(err(
                locate::locate_key(&text, k),
                k,
                format!("unknown key; allowed: {}{hint}", TOP_LEVEL_KEYS.join(", ")),
            ));
        }
    }
    for section in [
        "service",
        "autoscaler",
        "pod",
        "request_path",
        "cluster",
        "traffic",
        "output",
    ] {
        if map.contains_key(section) {
            let found = pinpoint::section_errors(&text, section, path, map.get(section));
            if !found.is_empty() {
                errors.extend(found);
                set_aside.push(section.to_string());
            }
        }
    }
    let multi = services::is_multi(&document);
    for required in ["duration", "traffic"] {
        if required == "traffic" && multi {
            continue;
        }
        if !map.contains_key(required)
            && !overrides
                .iter()
                .any(|o| o.starts_with(&format!("{required}=")))
        {
            errors.push(err(None, required, "is required".into()));
        }
    }
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    let required_missing = errors
        .iter()
        .any(|e| e.key == "duration" || e.key == "traffic" || e.key.starts_with("traffic."));
    if required_missing || set_aside.iter().any(|k| k == "traffic") {
        return Err(ScenarioErrors(errors));
    }
    // Read the broken sections as their defaults, so the semantic checks of everything else still run.
    let deferred_errors = std::mem::take(&mut errors);
    if let Some(map) = document.as_mapping_mut() {
        for key in &set_aside {
            map.remove(key.as_str());
        }
    }

    let before_overrides = document.clone();
    for o in overrides {
        if let Err(message) = overrides::apply_override(&mut document, o) {
            errors.push(err(None, &format!("--set {o}"), message));
        }
    }
    if let Err(message) = presets::apply(&mut document) {
        errors.push(err(
            locate::locate_key(&text, "pod.preset"),
            "pod.preset",
            message,
        ));
    }
    if !errors.is_empty() {
        errors.extend(deferred_errors);
        return Err(ScenarioErrors(errors));
    }
    let spec: ScenarioSpec =
        serde_yaml::from_value(services::shared_part(&document)).map_err(|e| {
            // A whole-document error has no key path: find the top-level value that caused it.
            if let Some((key, message)) = scalar_field_error(&document) {
                let from_set = overrides.iter().any(|o| o.starts_with(&format!("{key}=")));
                let key = if from_set {
                    format!("--set {key}")
                } else {
                    key.to_string()
                };
                let line = if from_set {
                    None
                } else {
                    locate::locate_key(&text, &key)
                };
                return ScenarioErrors(vec![err(line, &key, message)]);
            }
            let msg = with_suggestion(&pinpoint::humanize(&strip_location(&e.to_string())));
            // Name the override that breaks the scenario on its own, if one does.
            let culprit = overrides.iter().find(|o| {
                let mut alone = before_overrides.clone();
                overrides::apply_override(&mut alone, o).is_ok()
                    && serde_yaml::from_value::<ScenarioSpec>(services::shared_part(&alone))
                        .is_err()
            });
            let key = match culprit {
                Some(o) => format!("--set {o}"),
                None if overrides.is_empty() => String::new(),
                None => format!("(after --set {})", overrides.join(", ")),
            };
            ScenarioErrors(vec![err(e.location().map(|l| l.line()), &key, msg)])
        })?;
    Ok(LoadedScenario {
        path: file,
        base_dir: base_dir.to_path_buf(),
        text,
        spec,
        document,
        overrides: overrides.to_vec(),
        deferred_errors,
        scope: None,
    })
}

pub(crate) fn check_section(text: &str, section: &str, path: &Path) -> Option<ScenarioError> {
    let mut inside = false;
    let masked: String = text
        .lines()
        .map(|line| {
            let top_level = !line.is_empty() && !line.starts_with([' ', '\t', '#', '-']);
            if top_level {
                inside = line.starts_with(&format!("{section}:"));
            }
            if inside {
                line
            } else {
                ""
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let result = match section {
        "service" => serde_yaml::from_str::<Section<ServiceSpec>>(&masked).map(|_| ()),
        "autoscaler" => serde_yaml::from_str::<Section<AutoscalerSpec>>(&masked).map(|_| ()),
        "pod" => serde_yaml::from_str::<Section<PodSpec>>(&masked).map(|_| ()),
        "request_path" => serde_yaml::from_str::<Section<RequestPathSpec>>(&masked).map(|_| ()),
        "cluster" => serde_yaml::from_str::<Section<podspec::ClusterSpec>>(&masked).map(|_| ()),
        "output" => serde_yaml::from_str::<Section<OutputSpec>>(&masked).map(|_| ()),
        "traffic" => {
            serde_yaml::from_str::<Section<crate::traffic::TrafficSpec>>(&masked).map(|_| ())
        }
        _ => Ok(()),
    };
    result.err().map(|e| {
        let message = pinpoint::humanize(&strip_location(&e.to_string()));
        let (key, message) = match message.split_once(": ") {
            Some((k, m)) if !k.contains(' ') => (k.to_string(), m.to_string()),
            _ => (section.to_string(), message),
        };
        let key = match message
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
        {
            Some(field) => format!("{key}.{field}"),
            None => key,
        };
        ScenarioError {
            file: path.to_path_buf(),
            line: e.location().map(|l| l.line()),
            key,
            message: with_suggestion(&message),
        }
    })
}

/// The first top-level scalar field (`duration`, `seed`, ...) that does not read as its type, with the
/// reason and what is allowed.
fn scalar_field_error(document: &Value) -> Option<(&'static str, String)> {
    fn check<T: serde::de::DeserializeOwned>(v: &Value, allowed: &str) -> Result<(), String> {
        serde_yaml::from_value::<T>(v.clone())
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "{}; allowed: {allowed}",
                    pinpoint::humanize(&strip_location(&e.to_string()))
                )
            })
    }
    let duration = "a duration such as \"90s\", \"10m\" or \"1h30m\"";
    type Check = fn(&Value, &str) -> Result<(), String>;
    let fields: [(&'static str, Check, &str); 6] = [
        ("duration", check::<SimDuration>, duration),
        ("cooldown", check::<SimDuration>, duration),
        (
            "seed",
            check::<u64>,
            "a whole number from 0 to 18446744073709551615",
        ),
        ("name", check::<String>, "a string"),
        ("description", check::<String>, "a string"),
        (
            "start_time",
            check::<String>,
            "an RFC 3339 time such as \"2024-03-05T07:50:00+08:00\"",
        ),
    ];
    fields.iter().find_map(|(key, check, allowed)| {
        let value = document.get(*key)?;
        check(value, allowed).err().map(|m| (*key, m))
    })
}

/// A masked document holding one top-level section.
type Section<T> = BTreeMap<String, T>;

/// serde_yaml appends " at line L column C"; the line is reported separately.
pub(crate) fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}
