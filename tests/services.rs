//! Scenarios with several services sharing one cluster: the `services:` list, inheritance of the
//! top-level sections (the cluster-wide config-autoscaler), located errors, limits, and services generated
//! from multi-service traces.

use podscale::scenario::{load_str, prepare, prepare_services, PreparedServices, ScenarioErrors};
use podscale::sim::AutoscalerMode;
use podscale::traffic::ArrivalSource;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn prepare_text(text: &str) -> Result<PreparedServices, ScenarioErrors> {
    let loaded = load_str(
        text,
        Path::new("multi.yaml"),
        &root().join("scenarios"),
        &[],
    )?;
    prepare_services(&loaded, None)
}

fn errors(text: &str) -> Vec<String> {
    match prepare_text(text) {
        Ok(_) => panic!("expected errors in\n{text}"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

const TWO: &str = "\
name: two
duration: 60s
autoscaler:
  class: kpa
  config: {stable-window: \"30s\", container-concurrency-target-default: \"50\"}
pod: {cold_start: 5s, service_time: 200ms}
traffic: {kind: poisson, rate: 2}
services:
  - name: chat
    service:
      annotations: {autoscaling.knative.dev/target: \"4\"}
    pod: {service_time: 1s}
  - name: embed
    autoscaler:
      config: {stable-window: \"90s\"}
    traffic: {kind: constant, rate: 10}
";

#[test]
fn services_inherit_the_top_level_and_override_it() {
    let p = prepare_text(TWO).unwrap();
    let names: Vec<&str> = p.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["chat", "embed"]);
    let chat = &p.services[0].prepared.config;
    let embed = &p.services[1].prepared.config;
    // The cluster-wide config-autoscaler applies to both; the annotation overrides the target of one.
    assert_eq!(chat.settings["stable-window"], "30s");
    // (the KPA's target is the annotation times the default 70 % utilization)
    assert_eq!(chat.settings["target"], "2.8");
    assert_eq!(embed.settings["stable-window"], "1m30s");
    assert_eq!(embed.settings["target"], "35");
    // Pod fields merge key by key: chat keeps the top-level cold start and sets its own service time.
    assert_eq!(
        chat.settings["service_time"],
        embed.settings["service_time"].replace("200ms", "1s")
    );
    assert_eq!(chat.name, "chat");
    // Each service has its own seed, derived from the name.
    assert_ne!(chat.seed, embed.seed);
    let again = prepare_text(TWO).unwrap();
    assert_eq!(again.services[0].prepared.config.seed, chat.seed);
    assert!(matches!(chat.autoscaler, AutoscalerMode::Kpa(_)));
    // Traffic: chat inherits the top-level poisson, embed replaces it.
    assert!(
        embed.settings["traffic"].contains("constant"),
        "{}",
        embed.settings["traffic"]
    );
    assert!(
        chat.settings["traffic"].contains("poisson"),
        "{}",
        chat.settings["traffic"]
    );
}

#[test]
fn a_single_service_file_is_one_service() {
    let text = std::fs::read_to_string(root().join("scenarios/quickstart.yaml")).unwrap();
    let loaded = load_str(
        &text,
        Path::new("quickstart.yaml"),
        &root().join("scenarios"),
        &[],
    )
    .unwrap();
    let p = prepare_services(&loaded, None).unwrap();
    assert_eq!(p.services.len(), 1);
    let single = prepare(&loaded, None).unwrap();
    assert_eq!(p.services[0].prepared.config.seed, single.config.seed);
    assert_eq!(
        p.services[0].prepared.config.settings,
        single.config.settings
    );
    assert_eq!(p.services[0].name, loaded.name());
}

#[test]
fn prepare_alone_refuses_a_multi_service_file() {
    let loaded = load_str(TWO, Path::new("multi.yaml"), Path::new("."), &[]).unwrap();
    let e = prepare(&loaded, None).err().expect("refused").to_string();
    assert!(e.contains("prepare_services"), "{e}");
}

#[test]
fn errors_name_the_entry_line_and_key() {
    let text = "\
duration: 60s
traffic: {kind: poisson, rate: 1}
services:
  - name: ok
  - name: Bad_Name
  - name: ok
    pod:
      service_time: {dist: exponential, mean: -1s}
  - name: x
    podd: {}
  - service: {}
";
    let e = errors(text);
    let all = e.join("\n");
    assert!(
        all.contains("multi.yaml:5:")
            && all.contains("services[1].name")
            && all.contains("lowercase"),
        "{all}"
    );
    assert!(
        all.contains("multi.yaml:6:") && all.contains("services[2].name") && all.contains("unique"),
        "{all}"
    );
    assert!(
        all.contains("services[3].podd") && all.contains("did you mean `pod`"),
        "{all}"
    );
    assert!(
        all.contains("services[4].name") && all.contains("is required"),
        "{all}"
    );

    // A semantic error inside one service's own section points at that service.
    let text = "\
duration: 60s
traffic: {kind: poisson, rate: 1}
services:
  - name: a
  - name: b
    service:
      containerConcurrency: 5000
";
    let e = errors(text).join("\n");
    assert!(
        e.contains("multi.yaml:7:") && e.contains("services[1].service.containerConcurrency"),
        "{e}"
    );
    assert!(e.contains("Knative's limit"), "{e}");

    // An inherited error is reported once, at the top level.
    let text = "\
duration: 60s
service: {containerConcurrency: 5000}
traffic: {kind: poisson, rate: 1}
services:
  - name: a
  - name: b
";
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("multi.yaml:2:") && e[0].contains("service.containerConcurrency"),
        "{e:?}"
    );

    // A service without traffic when there is none to inherit.
    let e = errors("duration: 60s\nservices:\n  - name: a\n").join("\n");
    assert!(
        e.contains("services[0].traffic") && e.contains("no traffic"),
        "{e}"
    );
}

#[test]
fn the_number_of_services_and_their_pods_are_limited() {
    let mut text = String::from("duration: 60s\ntraffic: {kind: poisson, rate: 1}\nservices:\n");
    for i in 0..10_001 {
        text.push_str(&format!("  - name: s{i}\n"));
    }
    let e = errors(&text).join("\n");
    assert!(
        e.contains("10001 services is too many; allowed: at most 10000"),
        "{e}"
    );

    let mut text = String::from(
        "duration: 60s\ntraffic: {kind: poisson, rate: 1}\nservice: {minReplicas: 10000}\nservices:\n",
    );
    for i in 0..16 {
        text.push_str(&format!("  - name: s{i}\n"));
    }
    let e = errors(&text).join("\n");
    assert!(
        e.contains("start with 160000 pods together") && e.contains("at most 150000"),
        "{e}"
    );
}

#[test]
fn azure_functions_trace_becomes_services() {
    let text = "\
duration: 2h
pod: {cold_start: 5s, service_time: 100ms}
services_trace:
  path: ../traces/synthetic_azure_functions_sample.csv
  format: azure_functions
  group: function
  top: 5
  spread: poisson
services:
  - name: rest
    service: {minReplicas: 1}
  - name: steady
    traffic: {kind: poisson, rate: 1}
";
    let p = prepare_text(text).unwrap();
    let names: Vec<String> = p.services.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names.len(), 7, "{names:?}");
    assert_eq!(names[0], "rest");
    assert_eq!(names[1], "steady");
    assert!(names[2..].iter().all(|n| n.starts_with("fn-")), "{names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("fn-")).count(), 5);
    assert_eq!(p.services[0].prepared.config.settings["min-scale"], "1");
    assert!(p.services[0].prepared.config.settings["traffic"].contains("azure_functions rest"));

    // The busiest generated service replays its minutes: about its file share of the first two hours.
    let mut busiest = None;
    for s in p.services.into_iter() {
        if s.name == names[2] {
            busiest = Some(s);
        }
    }
    let s = busiest.unwrap();
    let mut source = s.prepared.traffic.open_loop.unwrap();
    let mut rng = podscale::engine::RngStreams::new(1).stream(podscale::engine::Stream::Traffic);
    let mut n = 0u64;
    let mut last = podscale::time::SimTime::ZERO;
    while let Some(a) = source.next_arrival(&mut rng).unwrap() {
        assert!(a.at >= last && a.at < podscale::time::SimTime::from_secs(7200));
        last = a.at;
        n += 1;
    }
    assert!(n > 1000, "{n}");
}

#[test]
fn a_trace_service_cannot_set_its_own_traffic_and_bad_groupings_are_errors() {
    let text = "\
duration: 1h
services_trace: {path: ../traces/synthetic_azure_functions_sample.csv, format: azure_functions, top: 1}
services:
  - name: rest
    traffic: {kind: poisson, rate: 1}
";
    let e = errors(text).join("\n");
    assert!(
        e.contains("services[0].traffic") && e.contains("from services_trace"),
        "{e}"
    );
    let e = errors(
        "duration: 1h\nservices_trace: {path: ../traces/synthetic_azure_functions_sample.csv, format: azure_functions, groupp: app}\n",
    )
    .join("\n");
    assert!(e.contains("services_trace") && e.contains("groupp"), "{e}");
    let e = errors(
        "duration: 1h\nservices_trace: {path: ../traces/AzureLLMInferenceTrace_code.csv, format: azure_llm}\n",
    )
    .join("\n");
    assert!(
        e.contains("services_trace.split") && e.contains("is required"),
        "{e}"
    );
    let e = errors(
        "duration: 1h\nservices_trace: {path: ../traces/nope.csv, format: azure_functions}\n",
    )
    .join("\n");
    assert!(e.contains("nope.csv") && e.contains("cannot open"), "{e}");
}

#[test]
fn the_azure_llm_trace_splits_into_services_that_partition_it() {
    let text = "\
duration: 2h
services_trace:
  path: ../traces/AzureLLMInferenceTrace_code.csv
  format: azure_llm
  split: {by: prompt_tokens, bounds: [1000, 4000], names: [short, medium, long]}
";
    let p = prepare_text(text).unwrap();
    let names: Vec<String> = p.services.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["short", "medium", "long"]);
    let mut total = 0;
    for s in p.services {
        let mut source = s.prepared.traffic.open_loop.unwrap();
        let mut rng =
            podscale::engine::RngStreams::new(1).stream(podscale::engine::Stream::Traffic);
        while source.next_arrival(&mut rng).unwrap().is_some() {
            total += 1;
        }
    }
    assert_eq!(
        total, 8_819,
        "every request of the trace in exactly one service"
    );
}
