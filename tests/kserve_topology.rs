//! KServe topologies (`kserve:`): an InferenceService's transformer, predictor and explainer as revisions
//! of their own, and InferenceGraph routers (Sequence, Ensemble, Splitter, Switch) calling them.

use podscale::report::{run_services_to_dir, DirHooks};
use podscale::scenario::{load_str, prepare_services};
use serde_json::Value;
use std::path::PathBuf;

struct Run {
    summary: Value,
    services_csv: String,
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("podscale-kserve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `text` with its manifest written beside it (`manifest.yaml`).
fn run(name: &str, text: &str, manifest: &str) -> Run {
    let d = dir(name);
    std::fs::write(d.join("manifest.yaml"), manifest).unwrap();
    let loaded = load_str(text, &d.join("s.yaml"), &d, &[]).unwrap();
    let prepared = prepare_services(&loaded, None).unwrap();
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    run_services_to_dir(&out, &loaded, prepared, DirHooks::default()).unwrap();
    let summary =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let services_csv = std::fs::read_to_string(out.join("services.csv")).unwrap();
    let _ = std::fs::remove_dir_all(&d);
    Run {
        summary,
        services_csv,
    }
}

fn prepare_error(text: &str, manifest: &str) -> String {
    let d = dir("error");
    std::fs::write(d.join("manifest.yaml"), manifest).unwrap();
    let loaded = load_str(text, &d.join("s.yaml"), &d, &[]).unwrap();
    let e = prepare_services(&loaded, None)
        .err()
        .expect("an error")
        .to_string();
    let _ = std::fs::remove_dir_all(&d);
    e
}

fn service<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["services"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["service"] == name)
        .unwrap_or_else(|| panic!("no service {name}"))
}

fn total(s: &Value, name: &str) -> u64 {
    service(s, name)["requests"]["total"].as_u64().unwrap()
}

/// Fixed pods (so the figures do not depend on scaling), constant times, 1 ms one-way hops.
fn scenario(kserve: &str) -> String {
    format!(
        "name: topo
duration: 60s
cooldown: 20s
seed: 9
output: {{plots: false, service_interval: 5s}}
autoscaler: {{class: fixed, replicas: 8}}
request_path: {{client: 1ms, ingress: 0ms, network: 0ms}}
traffic: {{kind: poisson, rate: 20}}
kserve:
{kserve}"
    )
}

const ISVC_T: &str = "\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: income}
spec:
  transformer:
    scaleMetric: rps
    scaleTarget: 8
    containers: [{name: kserve-container, image: t}]
  explainer:
    containers: [{name: kserve-container, image: e}]
  predictor:
    scaleMetric: concurrency
    scaleTarget: 2
    sklearn: {storageUri: gs://x}
";

#[test]
fn a_transformer_holds_its_slot_while_the_predictor_answers() {
    let r = run(
        "transformer",
        &scenario(
            "  manifest: manifest.yaml
  components:
    income-transformer: {pod: {service_time: 20ms}, post_time: 5ms}
    income-predictor: {pod: {service_time: 100ms}}
    income-explainer: {pod: {service_time: 300ms}}
",
        ),
        ISVC_T,
    );
    let s = &r.summary;
    let n = s["requests"]["total"].as_u64().unwrap();
    assert!(n > 1000, "{n}");
    assert_eq!(s["requests"]["failed"], 0);
    // Every external request visits the transformer, which calls the predictor once.
    assert_eq!(total(s, "income-transformer"), n);
    assert_eq!(total(s, "income-predictor"), n);
    assert_eq!(total(s, "income-explainer"), 0);
    // End to end: 20 ms pre + 100 ms predictor + 5 ms post + 1 ms each way on both hops.
    let min = s["latency_ms"]["min"].as_f64().unwrap();
    assert!(min >= 20.0 + 100.0 + 5.0 + 4.0 - 0.5, "{min}");
    let p_min = service(s, "income-predictor")["latency_ms"]["min"]
        .as_f64()
        .unwrap();
    assert!((101.0..104.0).contains(&p_min), "{p_min}");
    // The transformer's requests in flight include every predictor request (each waits for its own).
    let mut reader = csv::Reader::from_reader(r.services_csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let mut checked = 0;
    for pair in rows.chunks(3) {
        let by = |name: &str| -> u64 {
            pair.iter().find(|x| &x[0] == name).unwrap()[5]
                .parse()
                .unwrap()
        };
        assert!(
            by("income-transformer") >= by("income-predictor"),
            "{pair:?}"
        );
        checked += usize::from(by("income-predictor") > 0);
    }
    assert!(checked > 5, "{checked}");
}

#[test]
fn explain_requests_go_to_the_explainer_which_calls_the_predictor() {
    let r = run(
        "explain",
        &scenario(
            "  manifest: manifest.yaml
  explain_share: 0.25
  components:
    income-transformer: {pod: {service_time: 10ms}}
    income-predictor: {pod: {service_time: 50ms}}
    income-explainer: {pod: {service_time: 100ms}}
",
        ),
        ISVC_T,
    );
    let s = &r.summary;
    let n = total(s, "income-predictor");
    let explained = total(s, "income-explainer");
    assert_eq!(s["requests"]["total"].as_u64().unwrap(), n);
    assert_eq!(total(s, "income-transformer") + explained, n);
    // Binomial(n, 0.25): within 5 standard deviations.
    let sd = (n as f64 * 0.25 * 0.75).sqrt();
    assert!(
        (explained as f64 - 0.25 * n as f64).abs() < 5.0 * sd,
        "{explained} of {n}"
    );
}

fn graph(router: &str, steps: &str, timeout: u32) -> String {
    let isvc = |name: &str| {
        format!(
            "---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: {name}}}
spec:
  predictor: {{sklearn: {{storageUri: gs://x}}}}
"
        )
    };
    format!(
        "apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {{name: pipe}}
spec:
  timeout: {timeout}
  nodes:
    root:
      routerType: {router}
      steps:
{steps}{}{}",
        isvc("a"),
        isvc("b")
    )
}

const AB_TIMES: &str = "  manifest: manifest.yaml
  components:
    a-predictor: {pod: {service_time: 60ms}}
    b-predictor: {pod: {service_time: 120ms}}
";

#[test]
fn a_sequence_visits_both_models_in_turn() {
    let steps = "        - serviceName: a\n        - serviceName: b\n";
    let r = run(
        "sequence",
        &scenario(AB_TIMES),
        &graph("Sequence", steps, 60),
    );
    let s = &r.summary;
    let n = s["requests"]["total"].as_u64().unwrap();
    assert_eq!(s["requests"]["failed"], 0);
    assert_eq!(
        (
            total(s, "pipe"),
            total(s, "a-predictor"),
            total(s, "b-predictor")
        ),
        (n, n, n)
    );
    // Router hop 1 ms + 60 ms + 120 ms, plus 1 ms each way on three hops.
    let min = s["latency_ms"]["min"].as_f64().unwrap();
    assert!(min >= 1.0 + 60.0 + 120.0 + 6.0 - 0.5, "{min}");
}

#[test]
fn an_ensemble_waits_for_the_slowest() {
    let steps = "        - serviceName: a\n        - serviceName: b\n";
    let r = run(
        "ensemble",
        &scenario(AB_TIMES),
        &graph("Ensemble", steps, 60),
    );
    let s = &r.summary;
    let n = s["requests"]["total"].as_u64().unwrap();
    assert_eq!((total(s, "a-predictor"), total(s, "b-predictor")), (n, n));
    let min = s["latency_ms"]["min"].as_f64().unwrap();
    // Both in parallel: at least the slower one, well under the sum.
    assert!(min >= 1.0 + 120.0 + 4.0 - 0.5, "{min}");
    assert!(min < 1.0 + 60.0 + 120.0, "{min}");
}

#[test]
fn a_splitter_follows_its_weights() {
    let steps = "        - {serviceName: a, weight: 80}\n        - {serviceName: b, weight: 20}\n";
    let r = run(
        "splitter",
        &scenario(AB_TIMES),
        &graph("Splitter", steps, 60),
    );
    let s = &r.summary;
    let n = s["requests"]["total"].as_u64().unwrap();
    let a = total(s, "a-predictor");
    assert_eq!(a + total(s, "b-predictor"), n);
    let sd = (n as f64 * 0.8 * 0.2).sqrt();
    assert!((a as f64 - 0.8 * n as f64).abs() < 5.0 * sd, "{a} of {n}");
}

#[test]
fn a_switch_takes_the_first_step_whose_condition_holds() {
    // Poisson arrivals carry no tokens (prompt_tokens 0): only the second condition holds.
    let steps = "        - {serviceName: a, condition: \"[@this].#(prompt_tokens>100)\"}\n        - {serviceName: b, condition: \"prompt_tokens <= 100\"}\n";
    let r = run("switch", &scenario(AB_TIMES), &graph("Switch", steps, 60));
    let s = &r.summary;
    let n = s["requests"]["total"].as_u64().unwrap();
    assert_eq!((total(s, "a-predictor"), total(s, "b-predictor")), (0, n));
}

#[test]
fn the_routers_timeout_fails_the_request_with_504() {
    let steps = "        - serviceName: a\n        - serviceName: b\n";
    let slow = "  manifest: manifest.yaml
  components:
    a-predictor: {pod: {service_time: 10ms}}
    b-predictor: {pod: {service_time: 3s}}
";
    let r = run(
        "router-timeout",
        &scenario(slow).replace("replicas: 8", "replicas: 80"),
        &graph("Sequence", steps, 1),
    );
    let s = &r.summary;
    let n = s["requests"]["total"].as_u64().unwrap();
    assert!(n > 1000);
    assert_eq!(s["status_codes"]["504"].as_u64().unwrap(), n);
    assert_eq!(
        service(s, "pipe")["requests"]["timed_out"]
            .as_u64()
            .unwrap(),
        n
    );
    // Cut at the router's 1 s timeout: the second model still answers its calls (its own timeout is
    // 300 s), after the router gave up on them.
    assert!(
        service(s, "b-predictor")["requests"]["completed"]
            .as_u64()
            .unwrap()
            > n / 2
    );
}

#[test]
fn unsupported_shapes_are_clear_errors() {
    let steps = "        - nodeName: other\n";
    let e = prepare_error(&scenario(AB_TIMES), &graph("Sequence", steps, 60));
    assert!(
        e.contains("manifest.yaml:10: spec.nodes.root.steps[0].nodeName"),
        "{e}"
    );
    let steps = "        - {serviceName: a, weight: 70}\n        - {serviceName: b, weight: 20}\n";
    let e = prepare_error(&scenario(AB_TIMES), &graph("Splitter", steps, 60));
    assert!(e.contains("sum to 90"), "{e}");
    let e = prepare_error(
        &scenario("  manifest: manifest.yaml\n  components: {nope: {}}\n"),
        ISVC_T,
    );
    assert!(
        e.contains("kserve.components.nope") && e.contains("income-transformer"),
        "{e}"
    );
    let e = prepare_error(
        &scenario("  manifest: manifest.yaml\n  components: {income-predictor: {pod: {service_time: fast}}}\n"),
        ISVC_T,
    );
    assert!(e.contains("kserve.components.income-predictor"), "{e}");
    let two = graph("Sequence", "        - serviceName: a\n", 60);
    let isvcs = two.split_once("---\n").unwrap().1;
    let e = prepare_error(&scenario("  manifest: manifest.yaml\n"), isvcs);
    assert!(e.contains("no InferenceGraph"), "{e}");
}

#[test]
fn bundled_topologies_run() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for name in ["kserve-transformer-predictor", "kserve-graph-sequence"] {
        let path = root.join(format!("{name}.yaml"));
        let loaded = podscale::scenario::load(&path, &["output.plots=false".into()]).unwrap();
        let prepared = prepare_services(&loaded, None).unwrap();
        // The components are simulated, so nothing warns about them (the manifest's ephemeral-storage
        // limit still does).
        for w in &prepared.warnings {
            let w = w.to_string();
            assert!(
                !w.contains("spec.transformer") && !w.contains("InferenceGraph"),
                "{name}: {w}"
            );
        }
        let d = dir(name);
        run_services_to_dir(&d, &loaded, prepared, DirHooks::default()).unwrap();
        let s: Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap())
                .unwrap();
        let _ = std::fs::remove_dir_all(&d);
        let n = s["requests"]["total"].as_u64().unwrap();
        assert!(n > 3000, "{name}: {n}");
        assert_eq!(s["requests"]["failed"], 0, "{name}");
        if name == "kserve-transformer-predictor" {
            // Each component is scaled by its own manifest fields (KPA target = scaleTarget x 0.7).
            let c = |svc: &str, key: &str| service(&s, svc)["component"][key].clone();
            assert_eq!(c("income-transformer", "metric"), "rps");
            assert_eq!(c("income-transformer", "target"), "5.6");
            assert_eq!(c("income-transformer", "calls"), "income-predictor");
            assert_eq!(c("income-predictor", "metric"), "concurrency");
            assert_eq!(c("income-predictor", "target"), "1.4");
            assert_eq!(c("income-predictor", "max-scale"), "6");
        }
        // Each component autoscaled on its own: all of them went above one pod under the burst.
        for x in s["services"]["services"].as_array().unwrap() {
            assert_eq!(x["requests"]["total"].as_u64().unwrap(), n, "{name}");
            assert!(x["max_ready"].as_u64().unwrap() >= 2, "{name}: {x}");
        }
    }
}

#[test]
fn same_seed_same_outputs() {
    let text = scenario(
        "  manifest: manifest.yaml
  explain_share: 0.3
  components:
    income-transformer: {pod: {service_time: {dist: exponential, mean: 10ms}}, post_time: 2ms}
    income-predictor: {pod: {service_time: {dist: exponential, mean: 80ms}}}
",
    );
    let a = run("det-a", &text, ISVC_T);
    let b = run("det-b", &text, ISVC_T);
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("wall_time_s");
        v
    };
    assert_eq!(strip(a.summary), strip(b.summary));
    assert_eq!(a.services_csv, b.services_csv);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8))]

    /// Whatever the times, the load and the explained share: every external request is one transformer
    /// or one explainer request, each of which is one predictor request; nothing is lost or doubled.
    #[test]
    fn every_request_is_accounted_for(
        rate in 1u32..40,
        pre_ms in 0u64..30,
        predictor_ms in 1u64..300,
        share_pct in 0u32..=100,
        replicas in 1u32..6,
    ) {
        let text = format!(
            "name: prop
duration: 30s
cooldown: 60s
seed: 4
output: {{plots: false, service_interval: 5s}}
autoscaler: {{class: fixed, replicas: {replicas}}}
traffic: {{kind: poisson, rate: {rate}}}
kserve:
  manifest: manifest.yaml
  explain_share: {}
  components:
    income-transformer: {{pod: {{service_time: {pre_ms}ms}}}}
    income-predictor: {{pod: {{service_time: {{dist: exponential, mean: {predictor_ms}ms}}}}}}
",
            f64::from(share_pct) / 100.0
        );
        let r = run("prop", &text, ISVC_T);
        let s = &r.summary;
        let n = s["requests"]["total"].as_u64().unwrap();
        let (t, e, p) = (total(s, "income-transformer"), total(s, "income-explainer"), total(s, "income-predictor"));
        proptest::prop_assert_eq!(t + e, n);
        // A caller rejected before it called (a full queue) sends no predictor request.
        proptest::prop_assert!(p <= n);
        let rejected_callers = service(s, "income-transformer")["requests"]["rejected"].as_u64().unwrap()
            + service(s, "income-explainer")["requests"]["rejected"].as_u64().unwrap();
        proptest::prop_assert!(p + rejected_callers >= n, "{} + {} < {}", p, rejected_callers, n);
        proptest::prop_assert_eq!(s["requests"]["in_flight_at_end"].as_u64().unwrap(), 0);
        proptest::prop_assert_eq!(
            s["requests"]["completed"].as_u64().unwrap() + s["requests"]["failed"].as_u64().unwrap(),
            n
        );
    }
}
