//! The shape of a KServe deployment in a manifest file: its InferenceServices with their components
//! (predictor, transformer, explainer) and at most one InferenceGraph (`serving.kserve.io/v1alpha1`) with
//! the router settings and the root node's steps.
//!
//! What is read of an InferenceGraph: `metadata.name`; `spec.timeout` (seconds, the router's timeout);
//! `spec.minReplicas`, `maxReplicas`, `scaleMetric`, `scaleTarget` (the router's autoscaling, as a
//! component's); `spec.nodes.root` with `routerType` (`Sequence`, `Splitter`, `Ensemble`, `Switch`) and
//! its `steps`: `serviceName` (an InferenceService of the same file), `weight` (Splitter, summing to 100)
//! and `condition` (Switch; see [`parse_condition`] for the supported subset). Not supported, with an
//! error naming the key: a step with `nodeName` (nested nodes) or `serviceUrl` (a service outside the
//! file), other nodes than `root`. `data` and `dependency` are accepted and have no effect (payloads and
//! soft dependencies are not modelled).

use super::docs::{read_docs, Doc};
use crate::request_path::calls::{Attr, Condition, Op};
use serde_yaml::Value;
use std::path::Path;

/// One InferenceService of the file and the components it has.
#[derive(Clone, Debug, PartialEq)]
pub struct IsvcShape {
    pub name: String,
    pub transformer: bool,
    pub explainer: bool,
}

/// A step of the root node, by InferenceService name.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphStep {
    pub service: String,
    pub weight: Option<u32>,
    pub condition: Option<Condition>,
}

/// The InferenceGraph's router and root node.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphShape {
    pub name: String,
    /// `Sequence`, `Splitter`, `Ensemble` or `Switch`.
    pub router_type: String,
    pub steps: Vec<GraphStep>,
    pub timeout_seconds: Option<u64>,
    pub min_replicas: Option<u64>,
    pub max_replicas: Option<u64>,
    pub scale_metric: Option<String>,
    pub scale_target: Option<f64>,
}

/// The KServe objects of one manifest file.
#[derive(Clone, Debug, PartialEq)]
pub struct KserveShape {
    pub services: Vec<IsvcShape>,
    pub graph: Option<GraphShape>,
}

/// Reads the InferenceServices and the InferenceGraph of `path`.
pub fn read_kserve_shape(path: &Path) -> Result<KserveShape, String> {
    let docs = read_docs(path)?;
    let mut services = Vec::new();
    let mut graph = None;
    for doc in &docs {
        match doc.kind() {
            "InferenceService" | "KFService" => {
                let name = doc
                    .name()
                    .ok_or_else(|| doc.error("metadata.name", "is required"))?
                    .to_string();
                // Components are simulated for v1beta1; KFServing's are reported by the predictor's reader.
                let v1beta1 = doc.api_version().ends_with("/v1beta1");
                services.push(IsvcShape {
                    name,
                    transformer: v1beta1 && doc.get("spec.transformer").is_some(),
                    explainer: v1beta1 && doc.get("spec.explainer").is_some(),
                });
            }
            "InferenceGraph" => {
                if graph.is_some() {
                    return Err(doc.error(
                        "kind",
                        "a second InferenceGraph; one file holds at most one (the scenario simulates one graph)",
                    ));
                }
                graph = Some(read_graph(doc)?);
            }
            _ => {}
        }
    }
    if services.is_empty() {
        return Err(format!(
            "{}: no InferenceService in the file; `kserve.manifest` names a file with InferenceServices (serving.kserve.io/v1beta1) and optionally one InferenceGraph",
            path.display()
        ));
    }
    if let Some(g) = &graph {
        for (i, s) in g.steps.iter().enumerate() {
            if !services.iter().any(|x| x.name == s.service) {
                let names: Vec<&str> = services.iter().map(|x| x.name.as_str()).collect();
                return Err(format!(
                    "{}: spec.nodes.root.steps[{i}].serviceName: {:?} is not an InferenceService of the file (it holds {})",
                    path.display(),
                    s.service,
                    names.join(", ")
                ));
            }
        }
    }
    Ok(KserveShape { services, graph })
}

fn read_graph(doc: &Doc) -> Result<GraphShape, String> {
    if doc.api_version() != "serving.kserve.io/v1alpha1" {
        return Err(doc.error(
            "apiVersion",
            format!(
                "{:?} is not a supported InferenceGraph version; allowed: serving.kserve.io/v1alpha1",
                doc.api_version()
            ),
        ));
    }
    let name = doc
        .name()
        .ok_or_else(|| doc.error("metadata.name", "is required"))?
        .to_string();
    let nodes = doc
        .get("spec.nodes")
        .and_then(Value::as_mapping)
        .ok_or_else(|| {
            doc.error(
                "spec",
                "an InferenceGraph needs `spec.nodes` with a `root` node",
            )
        })?;
    for key in nodes.keys() {
        let k = key.as_str().unwrap_or("");
        if k != "root" {
            return Err(doc.error(
                &format!("spec.nodes.{k}"),
                "nodes other than `root` are not simulated (nested nodes are not supported); put the steps in `root`",
            ));
        }
    }
    let root = doc
        .get("spec.nodes.root")
        .ok_or_else(|| doc.error("spec.nodes", "needs a `root` node"))?;
    let router_type = root
        .get("routerType")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            doc.error(
                "spec.nodes.root.routerType",
                "is required: one of Sequence, Splitter, Ensemble, Switch",
            )
        })?
        .to_string();
    if !["Sequence", "Splitter", "Ensemble", "Switch"].contains(&router_type.as_str()) {
        return Err(doc.error(
            "spec.nodes.root.routerType",
            format!("{router_type:?} is not a router type; allowed: Sequence, Splitter, Ensemble, Switch"),
        ));
    }
    let list = root
        .get("steps")
        .and_then(Value::as_sequence)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            doc.error(
                "spec.nodes.root.steps",
                "needs a list of steps, each with `serviceName`",
            )
        })?;
    let mut steps = Vec::with_capacity(list.len());
    for (i, step) in list.iter().enumerate() {
        let at = |k: &str| format!("spec.nodes.root.steps[{i}].{k}");
        for unsupported in ["nodeName", "serviceUrl"] {
            if step.get(unsupported).is_some() {
                return Err(doc.error(
                    &at(unsupported),
                    format!("a step with `{unsupported}` is not simulated; name an InferenceService of the file with `serviceName`"),
                ));
            }
        }
        let service = step
            .get("serviceName")
            .and_then(Value::as_str)
            .ok_or_else(|| doc.error(&at("serviceName"), "is required (an InferenceService name)"))?
            .to_string();
        let weight = match step.get("weight") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|w| u32::try_from(w).ok())
                    .filter(|w| *w <= 100)
                    .ok_or_else(|| {
                        doc.error(&at("weight"), "must be a whole number in [0, 100]")
                    })?,
            ),
        };
        let condition = match step.get("condition") {
            None => None,
            Some(_) if router_type != "Switch" => {
                return Err(doc.error(
                    &at("condition"),
                    format!("a condition in a {router_type} step tests the previous response, which is not simulated (only Switch conditions on request attributes are); remove it"),
                ))
            }
            Some(v) => {
                let text = v
                    .as_str()
                    .ok_or_else(|| doc.error(&at("condition"), "must be a string"))?;
                Some(parse_condition(text).map_err(|m| doc.error(&at("condition"), m))?)
            }
        };
        match router_type.as_str() {
            "Splitter" if weight.is_none() => {
                return Err(doc.error(&at("weight"), "is required in a Splitter node"))
            }
            "Switch" if condition.is_none() => {
                return Err(doc.error(&at("condition"), "is required in a Switch node"))
            }
            _ => {}
        }
        steps.push(GraphStep {
            service,
            weight,
            condition,
        });
    }
    if router_type == "Splitter" {
        let total: u32 = steps.iter().filter_map(|s| s.weight).sum();
        if total != 100 {
            return Err(doc.error(
                "spec.nodes.root.steps",
                format!("the Splitter's weights sum to {total}; they must sum to 100"),
            ));
        }
    }
    let uint = |key: &str| -> Result<Option<u64>, String> {
        doc.get(key)
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| doc.error(key, "must be a whole number >= 0"))
            })
            .transpose()
    };
    Ok(GraphShape {
        name,
        router_type,
        steps,
        timeout_seconds: uint("spec.timeout")?,
        min_replicas: uint("spec.minReplicas")?,
        max_replicas: uint("spec.maxReplicas")?,
        scale_metric: doc
            .get("spec.scaleMetric")
            .and_then(Value::as_str)
            .map(str::to_string),
        scale_target: doc.get("spec.scaleTarget").and_then(Value::as_f64),
    })
}

/// A Switch condition. KServe evaluates a GJSON query on the request body; podscale's requests carry
/// token counts only, so the supported subset is one comparison of `prompt_tokens` or `output_tokens`
/// with a number, written plainly (`prompt_tokens > 1000`) or as the GJSON filter
/// `[@this].#(prompt_tokens>1000)`; operators `<`, `<=`, `>`, `>=`, `==`, `!=`.
pub fn parse_condition(text: &str) -> Result<Condition, String> {
    let allowed = "allowed: `<attr> <op> <number>` or `[@this].#(<attr><op><number>)` with attr prompt_tokens or output_tokens and op <, <=, >, >=, ==, !=";
    let t = text.trim();
    let inner = t
        .strip_prefix("[@this].#(")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(t);
    let ops = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let Some((at, sym, op)) = ops
        .iter()
        .filter_map(|(s, op)| inner.find(s).map(|i| (i, *s, *op)))
        .min_by_key(|(i, s, _)| (*i, std::cmp::Reverse(s.len())))
    else {
        return Err(format!("{text:?} has no comparison; {allowed}"));
    };
    let attr = match inner[..at].trim() {
        "prompt_tokens" => Attr::PromptTokens,
        "output_tokens" => Attr::OutputTokens,
        other => {
            return Err(format!(
                "{other:?} is not a request attribute podscale models; {allowed}"
            ))
        }
    };
    let value: f64 = inner[at + sym.len()..]
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: the right side must be a number; {allowed}"))?;
    Ok(Condition { attr, op, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_plain_and_gjson() {
        let c = parse_condition("prompt_tokens > 1000").unwrap();
        assert_eq!(
            (c.attr, c.op, c.value),
            (Attr::PromptTokens, Op::Gt, 1000.0)
        );
        let c = parse_condition("[@this].#(output_tokens<=64)").unwrap();
        assert_eq!((c.attr, c.op, c.value), (Attr::OutputTokens, Op::Le, 64.0));
        assert!(parse_condition("instances.#(x==1)")
            .unwrap_err()
            .contains("not a request attribute"));
        assert!(parse_condition("prompt_tokens")
            .unwrap_err()
            .contains("no comparison"));
        assert!(parse_condition("prompt_tokens > big")
            .unwrap_err()
            .contains("number"));
    }
}
