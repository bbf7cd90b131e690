//! Keeps docs/scenario-reference.md true to the scenario schema.
//!
//! The page holds one table per section, each preceded by a `<!-- keys: SECTION -->` marker, with the full
//! dotted key in backticks in the first column and an example in the last. The schema is read from the
//! built binary, never from a copy in this file: `podscale validate` is asked to accept a probe key
//! (`SECTION.zzprobe`, or a tiny scenario per traffic kind) and its "expected one of `a`, `b`" list is the
//! set of accepted keys. The `config-autoscaler` keys are not listed by the loader's error, so they are
//! read from the `CONFIGMAP_KEYS` table in src/autoscaler/kpa/config.rs and each documented one is also
//! set through the binary. Scalar examples are applied with `--set` and must validate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const PAGE: &str = include_str!("../docs/scenario-reference.md");
const KPA_CONFIG_SOURCE: &str = include_str!("../src/autoscaler/kpa/config.rs");
const BIN: &str = env!("CARGO_BIN_EXE_podscale");

#[derive(Debug)]
struct Row {
    key: String,
    ty: String,
    example: String,
}

/// Section marker -> rows, in page order.
fn page_sections() -> BTreeMap<String, Vec<Row>> {
    let mut sections: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in PAGE.lines() {
        if let Some(rest) = line.trim().strip_prefix("<!-- keys: ") {
            let name = rest.trim_end_matches("-->").trim().to_string();
            assert!(
                !sections.contains_key(&name),
                "docs/scenario-reference.md: marker `{name}` appears twice"
            );
            sections.insert(name.clone(), Vec::new());
            current = Some(name);
            continue;
        }
        if !line.starts_with('|') {
            // Any other text ends the table.
            if !line.trim().is_empty() {
                current = None;
            }
            continue;
        }
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let Some(key) = cells[0].strip_prefix('`').and_then(|k| k.strip_suffix('`')) else {
            continue;
        };
        let Some(section) = &current else {
            panic!("docs/scenario-reference.md: row `{key}` is in a table without a `<!-- keys: SECTION -->` marker")
        };
        assert_eq!(
            cells.len(),
            5,
            "docs/scenario-reference.md: row `{key}` needs 5 cells (key, type, default, allowed, example)"
        );
        let example = cells[4].trim_matches('`').to_string();
        sections.get_mut(section).expect("inserted").push(Row {
            key: key.to_string(),
            ty: cells[1].to_string(),
            example,
        });
    }
    sections
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn validate(scenario: &Path, sets: &[String]) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("validate").arg(scenario);
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    let out = cmd.output().expect("run podscale validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A scenario file in a fresh temporary folder; `../traces/` paths point at the repository's traces.
fn temp_scenario(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "podscale-scenario-reference-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let traces = repo().join("traces");
    let body = body.replace("../traces/", &format!("{}/", traces.display()));
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, body).unwrap();
    path
}

/// The names in "expected one of `a`, `b`", "expected `a` or `b`" or "expected `a`" on the probe's line.
fn expected_list(output: &str, probe: &str) -> BTreeSet<String> {
    let line = output
        .lines()
        .find(|l| l.contains(probe) && l.contains("expected"))
        .unwrap_or_else(|| panic!("no \"expected ...\" list for the probe in:\n{output}"));
    let tail = &line[line.find("expected").unwrap()..];
    tail.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn quickstart() -> PathBuf {
    repo().join("scenarios/quickstart.yaml")
}

/// Keys the loader accepts in `section`, as full dotted keys the page uses.
fn accepted_keys(section: &str) -> BTreeSet<String> {
    let (prefix, output) = if let Some(kind) = section.strip_prefix("traffic:") {
        let path = temp_scenario(
            &format!("probe-{kind}"),
            &format!("duration: 10s\ntraffic: {{kind: {kind}, zzprobe: 1}}\n"),
        );
        ("traffic".to_string(), validate(&path, &[]).1)
    } else if section == "services[]" {
        let body =
            "duration: 10s\ntraffic: {kind: poisson, rate: 1}\nservices: [{name: a, zzprobe: 1}]\n";
        let path = temp_scenario("probe-services", body);
        (section.to_string(), validate(&path, &[]).1)
    } else if section == "services_trace" || section == "services_trace.split" {
        let inner = if section == "services_trace" {
            "zzprobe: 1"
        } else {
            "split: {zzprobe: 1}"
        };
        let body = format!(
            "duration: 10s\nservices_trace: {{path: ../traces/AzureLLMInferenceTrace_code.csv, format: azure_llm, {inner}}}\n"
        );
        let path = temp_scenario(&format!("probe-{section}"), &body);
        (section.to_string(), validate(&path, &[]).1)
    } else if let Some(list) = section.strip_suffix("[]") {
        // A list of maps: probe its first item in a scenario that has one.
        let (parent, field) = list.rsplit_once('.').unwrap();
        let body = format!(
            "duration: 10s\ntraffic: {{kind: poisson, rate: 1}}\n{parent}: {{{field}: [{{zzprobe: 1}}]}}\n"
        );
        let path = temp_scenario(&format!("probe-{parent}-{field}"), &body);
        (section.to_string(), validate(&path, &[]).1)
    } else if section == "dist" {
        let body =
            "duration: 10s\ntraffic: {kind: poisson, rate: 1}\npod: {cold_start: {zzprobe: 1}}\n";
        let path = temp_scenario("probe-dist", body);
        ("dist".to_string(), validate(&path, &[]).1)
    } else if section == "top" {
        (
            String::new(),
            validate(&quickstart(), &["zzprobe=1".into()]).1,
        )
    } else {
        let set = format!("{section}.zzprobe=1");
        (section.to_string(), validate(&quickstart(), &[set]).1)
    };
    expected_list(&output, "zzprobe")
        .into_iter()
        .map(|k| {
            if prefix.is_empty() {
                k
            } else {
                format!("{prefix}.{k}")
            }
        })
        .collect()
}

/// Nested maps and lists inside one traffic kind, each with a scenario that probes it.
const TRAFFIC_NESTED: &[(&str, &str, &str)] = &[
    (
        "traffic:piecewise",
        "traffic.points[]",
        "traffic: {kind: piecewise, points: [{zzprobe: 1}]}",
    ),
    (
        "traffic:mmpp",
        "traffic.states[]",
        "traffic: {kind: mmpp, states: [{zzprobe: 1}]}",
    ),
    (
        "traffic:trace",
        "traffic.window",
        "traffic: {kind: trace, path: x.csv, format: requests, window: {zzprobe: 1}}",
    ),
];

fn nested_traffic_keys(section: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for (i, (owner, prefix, yaml)) in TRAFFIC_NESTED.iter().enumerate() {
        if *owner == section {
            let path = temp_scenario(&format!("nested-{i}"), &format!("duration: 10s\n{yaml}\n"));
            let output = validate(&path, &[]).1;
            for k in expected_list(&output, "zzprobe") {
                keys.insert(format!("{prefix}.{k}"));
            }
        }
    }
    keys
}

/// The `config-autoscaler` key names, from `CONFIGMAP_KEYS` in src/autoscaler/kpa/config.rs.
fn configmap_keys() -> BTreeSet<String> {
    let start = KPA_CONFIG_SOURCE
        .find("const CONFIGMAP_KEYS")
        .expect("CONFIGMAP_KEYS in src/autoscaler/kpa/config.rs");
    let body = &KPA_CONFIG_SOURCE[start..];
    let body = &body[..body.find("];").unwrap()];
    body.split('"')
        .skip(1)
        .step_by(2)
        .map(|k| format!("autoscaler.config.{k}"))
        .collect()
}

/// Every key the loader accepts has a row in its section, and every row is a key the loader accepts.
#[test]
fn every_key_is_documented_and_every_documented_key_exists() {
    let sections = page_sections();
    let mut problems = Vec::new();
    for (section, rows) in &sections {
        let documented: BTreeSet<String> = rows.iter().map(|r| r.key.clone()).collect();
        let accepted = if section == "autoscaler.config" {
            configmap_keys()
        } else {
            let mut keys = accepted_keys(section);
            keys.extend(nested_traffic_keys(section));
            keys
        };
        for key in accepted.difference(&documented) {
            problems.push(format!(
                "section `{section}`: the loader accepts `{key}` but docs/scenario-reference.md has no row for it (add it to the table after `<!-- keys: {section} -->`)"
            ));
        }
        for key in documented.difference(&accepted) {
            problems.push(format!(
                "section `{section}`: docs/scenario-reference.md documents `{key}`, which the loader does not accept"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every section of the schema has a table: each map-valued key and each traffic kind.
#[test]
fn every_section_and_traffic_kind_has_a_table() {
    let sections = page_sections();
    let mut wanted: Vec<String> = [
        "top",
        "service",
        "autoscaler",
        "autoscaler.config",
        "autoscaler.hpa",
        "autoscaler.controller",
        "autoscaler.metrics_server",
        "autoscaler.custom_metrics",
        "autoscaler.cron",
        "autoscaler.keda_cron[]",
        "pod",
        "pod.phases",
        "pod.phases.image_pull",
        "pod.phases.readiness",
        "pod.service",
        "pod.resources",
        "pod.usage",
        "request_path",
        "cluster",
        "cluster.node_pools[]",
        "cluster.node_autoscaler",
        "output",
        "services[]",
        "services_trace",
        "services_trace.split",
        "dist",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let path = temp_scenario(
        "probe-kind",
        "duration: 10s\ntraffic: {kind: zzprobe, rate: 1}\n",
    );
    let kinds = expected_list(&validate(&path, &[]).1, "zzprobe");
    assert!(kinds.len() >= 12, "traffic kinds read: {kinds:?}");
    wanted.extend(kinds.iter().map(|k| format!("traffic:{k}")));
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|s| !sections.contains_key(*s))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/scenario-reference.md has no table (`<!-- keys: SECTION -->`) for {missing:?}"
    );
    for (section, rows) in &sections {
        assert!(!rows.is_empty(), "section `{section}` has an empty table");
    }
    // A documented key of type `map` whose fields the loader checks needs its own table, so a section
    // added later (a new map under `request_path` or `autoscaler`) cannot be documented by one row alone.
    for (section, rows) in &sections {
        if section.starts_with("traffic:") {
            continue;
        }
        for row in rows.iter().filter(|r| r.ty == "map") {
            let probe = format!("{}.zzprobe=1", row.key);
            let output = validate(&quickstart(), &[probe]).1;
            if output.contains("unknown field `zzprobe`") {
                assert!(
                    sections.contains_key(&row.key),
                    "docs/scenario-reference.md: `{}` is a map with its own keys; add a table after `<!-- keys: {} -->` listing them",
                    row.key,
                    row.key
                );
            }
        }
    }
}

/// Every config-autoscaler key on the page is one the binary accepts (not "unknown key").
#[test]
fn documented_configmap_keys_are_accepted_by_the_binary() {
    let sections = page_sections();
    for row in &sections["autoscaler.config"] {
        let set = format!("{}={}", row.key, row.example);
        let mut sets = vec![set.clone()];
        sets.extend(companions(&row.key));
        let (ok, output) = validate(&quickstart(), &sets);
        assert!(
            ok && !output.contains("unknown key"),
            "--set {set} on scenarios/quickstart.yaml does not validate:\n{output}"
        );
    }
    let (ok, output) = validate(&quickstart(), &["autoscaler.config.zzprobe=1".into()]);
    assert!(
        !ok && output.contains("unknown key"),
        "the probe must be refused:\n{output}"
    );
}

/// The scenario an example of `section` is applied to.
fn base_for(section: &str) -> Option<PathBuf> {
    let file = match section {
        "autoscaler.controller" | "autoscaler.metrics_server" | "autoscaler.custom_metrics" => {
            "hpa-gpu-llm.yaml"
        }
        "cluster" | "cluster.node_autoscaler" => "cluster-phases.yaml",
        "services_trace" => "cluster-forty-models.yaml",
        "pod.phases" | "pod.phases.image_pull" | "pod.phases.readiness" => "preset-small-cpu.yaml",
        "top" | "service" | "autoscaler" | "pod" | "pod.service" | "pod.usage" | "request_path"
        | "output" => "quickstart.yaml",
        _ => return None,
    };
    Some(repo().join("scenarios").join(file))
}

/// Keys whose example only validates together with other settings.
fn companions(key: &str) -> Vec<String> {
    let traces = repo().join("traces");
    let trace = |file: &str, format: &str| {
        vec![
            format!("traffic.format={format}"),
            format!("traffic.path={}", traces.join(file).display()),
        ]
    };
    match key {
        "autoscaler.config.max-scale-limit" => vec!["autoscaler.config.max-scale=10".into()],
        "pod.phases.model_size" => vec!["pod.phases.model_bandwidth=500Mi".into()],
        "output.slo.window" => vec!["output.slo.p99_ms=500".into()],
        "pod.phases.model_bandwidth" => vec!["pod.phases.model_size=14Gi".into()],
        "pod.service.max_batch"
        | "pod.service.prefill_per_token"
        | "pod.service.decode_per_token" => {
            vec!["pod.service.model=gpu_batch".into()]
        }
        "pod.service.kv_cache_tokens" => vec![
            "pod.service.model=gpu_batch".into(),
            "pod.service.decode_per_token=15ms".into(),
        ],
        "traffic.count_column" | "traffic.interval" => {
            trace("synthetic_counts_per_minute.csv", "counts")
        }
        "traffic.series" => trace("azure-llm-code-rate.prom.json", "prometheus"),
        _ => Vec::new(),
    }
}

/// A scalar example (not a map, list, path or sub-table reference).
fn scalar_example(row: &Row) -> bool {
    !row.example.is_empty()
        && !row.example.starts_with(['{', '['])
        && !row.ty.starts_with("path")
        && !row.ty.starts_with("map")
        && !row.ty.starts_with("list")
}

/// The fenced ```yaml example after a traffic kind's table (the next one on the page).
fn traffic_example(section: &str) -> String {
    let marker = format!("<!-- keys: {section} -->");
    let at = PAGE.find(&marker).unwrap();
    let rest = &PAGE[at..];
    let start = rest
        .find("```yaml\n")
        .expect("a yaml example after the table")
        + 8;
    let end = rest[start..].find("```").unwrap();
    rest[start..start + end].trim().to_string()
}

/// Each traffic kind's example validates, and so does each scalar example applied to it with --set;
/// every other section's scalar examples validate with --set on a bundled scenario.
#[test]
fn examples_validate() {
    let sections = page_sections();
    let mut failures = Vec::new();
    for (section, rows) in &sections {
        let base = if let Some(kind) = section.strip_prefix("traffic:") {
            let example = traffic_example(section);
            let path = temp_scenario(
                &format!("example-{kind}"),
                &format!("duration: 60s\n{example}\n"),
            );
            let (ok, output) = validate(&path, &[]);
            if !ok {
                failures.push(format!("traffic example `{example}` fails:\n{output}"));
                continue;
            }
            path
        } else {
            match base_for(section) {
                Some(base) => base,
                None => continue,
            }
        };
        for row in rows.iter().filter(|r| scalar_example(r)) {
            if row.key.contains("[]") || row.key.contains(".window.") {
                continue;
            }
            let set = format!("{}={}", row.key, row.example);
            let mut sets = vec![set.clone()];
            sets.extend(companions(&row.key));
            let (ok, output) = validate(&base, &sets);
            if !ok {
                failures.push(format!(
                    "section `{section}`: --set {set} on {} fails:\n{output}",
                    base.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The parser itself: a list in either of serde's two forms.
#[test]
fn expected_list_reads_both_forms() {
    let one = "x: unknown field `zzprobe`, expected one of `a`, `b`, `c`";
    let two = "x: unknown field `zzprobe`, expected `a` or `b`";
    assert_eq!(expected_list(one, "zzprobe").len(), 3);
    assert_eq!(
        expected_list(two, "zzprobe"),
        ["a", "b"].iter().map(|s| s.to_string()).collect()
    );
}
