//! `kpa_scraper*.yaml`: sample sizes, old/young composition, and whole scrapes (failures, Service
//! scraping and the mesh fallback).

use podscale::autoscaler::kpa::scraper::{
    population_mean_sample_size, sample_size, scrape, MeshMode, PodScrape, ScrapePath, ScrapePod,
    ScraperState, Shuffled,
};
use podscale::autoscaler::kpa::Stat;
use podscale::time::SimDuration;
use serde::Deserialize;

use crate::{parse, Checker, Tally};

#[derive(Deserialize)]
struct File {
    sample_size: SampleSize,
    composition: Composition,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct SampleSize {
    id: String,
    n_for_population_0_to_2000: Vec<f64>,
    extra: Vec<ExtraRow>,
}

#[derive(Deserialize)]
struct ExtraRow {
    id: String,
    population: f64,
    sample_size: f64,
}

#[derive(Deserialize)]
struct Composition {
    rows: Vec<CompositionRow>,
}

#[derive(Deserialize)]
struct CompositionRow {
    id: String,
    old: usize,
    young: usize,
    population: usize,
    sample_size: usize,
    shuffled_list: String,
    sampled_old: usize,
    sampled_young: usize,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    input: Input,
    expect: Expect,
}

#[derive(Deserialize)]
struct Input {
    window_ns: u64,
    mesh_mode: String,
    use_passthrough_lb: bool,
    shuffle_perm: Option<Vec<usize>>,
    service_response_cycle: Option<Vec<String>>,
    pods: Vec<Pod>,
}

#[derive(Deserialize)]
struct Pod {
    name: String,
    phase: String,
    ready: bool,
    deleting: bool,
    age_ns: u64,
    stat: PodStat,
    scrape: String,
}

#[derive(Deserialize)]
struct PodStat {
    average_concurrent_requests: f64,
    average_proxied_concurrent_requests: f64,
    request_count: f64,
    proxied_request_count: f64,
}

#[derive(Deserialize)]
struct Expect {
    old_pods: Vec<String>,
    young_pods: Vec<String>,
    population: usize,
    sample_size: usize,
    shuffled_list: String,
    scrape_order: Vec<String>,
    attempted: Vec<String>,
    sampled: Vec<String>,
    sampled_composition: SampledComposition,
    path: String,
    service_distinct_pods: Vec<String>,
    pods_addressable_after: bool,
    error: Option<String>,
    stat: Option<ExpectStat>,
}

#[derive(Deserialize, PartialEq, Debug)]
struct SampledComposition {
    old: usize,
    young: usize,
}

#[derive(Deserialize, PartialEq, Debug)]
struct ExpectStat {
    average_concurrent_requests: f64,
    average_proxied_concurrent_requests: f64,
    request_count: f64,
    proxied_request_count: f64,
    pod_name: String,
}

fn shuffled_str(s: Shuffled) -> &'static str {
    match s {
        Shuffled::None => "none",
        Shuffled::Old => "old",
        Shuffled::Young => "young",
    }
}

/// Identity permutations stand in for the shuffle in the composition table: only counts are compared.
fn identity(len: usize) -> Vec<usize> {
    (0..len).collect()
}

fn ok_pod(age: SimDuration) -> ScrapePod {
    ScrapePod {
        ready: true,
        age,
        stat: Stat::default(),
        scrape: PodScrape::Ok,
    }
}

fn check_composition(r: &CompositionRow, c: &mut Checker) {
    let window = SimDuration::from_secs(60);
    let pods: Vec<ScrapePod> = (0..r.old)
        .map(|_| ok_pod(SimDuration::from_secs(120)))
        .chain((0..r.young).map(|_| ok_pod(SimDuration::from_secs(10))))
        .collect();
    let mut state = ScraperState::new(MeshMode::Auto, false);
    let res = scrape(&mut state, &pods, window, &mut identity, &mut || 0);
    let id = r.id.as_str();
    c.exact(id, "population", r.population, res.population);
    c.exact(id, "sample_size", r.sample_size, res.sample_size);
    c.exact(
        id,
        "shuffled_list",
        r.shuffled_list.as_str(),
        shuffled_str(res.shuffled),
    );
    let sampled_old = res.sampled.iter().filter(|&&p| p < r.old).count();
    c.exact(id, "sampled_old", r.sampled_old, sampled_old);
    c.exact(
        id,
        "sampled_young",
        r.sampled_young,
        res.sampled.len() - sampled_old,
    );
}

fn check_case(case: &Case, c: &mut Checker) {
    let id = case.id.as_str();
    let i = &case.input;
    let e = &case.expect;
    let pods: Vec<ScrapePod> = i
        .pods
        .iter()
        .map(|p| ScrapePod {
            ready: p.phase == "Running" && p.ready && !p.deleting,
            age: SimDuration(p.age_ns),
            stat: Stat {
                average_concurrency: p.stat.average_concurrent_requests,
                average_proxied_concurrency: p.stat.average_proxied_concurrent_requests,
                request_count: p.stat.request_count,
                proxied_request_count: p.stat.proxied_request_count,
            },
            scrape: match p.scrape.as_str() {
                "ok" => PodScrape::Ok,
                "error" => PodScrape::Error,
                "mesh_error" => PodScrape::MeshError,
                other => panic!("{id}: unknown scrape outcome {other:?}"),
            },
        })
        .collect();
    let index_of = |name: &str| {
        i.pods
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("{id}: unknown pod {name:?}"))
    };
    let cycle: Vec<usize> = i
        .service_response_cycle
        .iter()
        .flatten()
        .map(|n| index_of(n))
        .collect();
    let mut next = 0;
    let mut service_pick = || {
        let p = cycle[next % cycle.len()];
        next += 1;
        p
    };
    let mut shuffle = |len: usize| {
        let perm = i.shuffle_perm.clone().unwrap_or_else(|| identity(len));
        assert_eq!(perm.len(), len, "{id}: shuffle_perm length");
        perm
    };
    let mesh_mode = match i.mesh_mode.as_str() {
        "auto" => MeshMode::Auto,
        "enabled" => MeshMode::Enabled,
        "disabled" => MeshMode::Disabled,
        other => panic!("{id}: unknown mesh_mode {other:?}"),
    };
    let mut state = ScraperState::new(mesh_mode, i.use_passthrough_lb);
    let window = SimDuration(i.window_ns);
    let r = scrape(&mut state, &pods, window, &mut shuffle, &mut service_pick);
    let names =
        |v: &[usize]| -> Vec<String> { v.iter().map(|&p| i.pods[p].name.clone()).collect() };
    c.exact(id, "old_pods", &e.old_pods, &names(&r.old));
    c.exact(id, "young_pods", &e.young_pods, &names(&r.young));
    c.exact(id, "population", e.population, r.population);
    c.exact(id, "sample_size", e.sample_size, r.sample_size);
    c.exact(
        id,
        "shuffled_list",
        e.shuffled_list.as_str(),
        shuffled_str(r.shuffled),
    );
    c.exact(id, "scrape_order", &e.scrape_order, &names(&r.scrape_order));
    c.exact(id, "attempted", &e.attempted, &names(&r.attempted));
    c.exact(id, "sampled", &e.sampled, &names(&r.sampled));
    let sampled_old = r.sampled.iter().filter(|&&p| pods[p].age >= window).count();
    let composition = SampledComposition {
        old: sampled_old,
        young: r.sampled.len() - sampled_old,
    };
    c.exact(
        id,
        "sampled_composition",
        &e.sampled_composition,
        &composition,
    );
    let path = match r.path {
        ScrapePath::None => "none",
        ScrapePath::Pods => "pods",
        ScrapePath::Service => "service",
        ScrapePath::PodsThenService => "pods_then_service",
    };
    c.exact(id, "path", e.path.as_str(), path);
    c.exact(
        id,
        "service_distinct_pods",
        &e.service_distinct_pods,
        &names(&r.service_distinct),
    );
    c.exact(
        id,
        "pods_addressable_after",
        e.pods_addressable_after,
        state.pods_addressable,
    );
    let error = r.stat.as_ref().err().map(|e| e.to_string());
    c.exact(id, "error", e.error.as_ref(), error.as_ref());
    let stat = r.stat.as_ref().ok().map(|s| ExpectStat {
        average_concurrent_requests: s.average_concurrency,
        average_proxied_concurrent_requests: s.average_proxied_concurrency,
        request_count: s.request_count,
        proxied_request_count: s.proxied_request_count,
        pod_name: if r.path == ScrapePath::None {
            String::new()
        } else {
            "service-scraper".to_string()
        },
    });
    c.exact(id, "stat", e.stat.as_ref(), stat.as_ref());
}

pub fn run(text: &str) -> (usize, usize, Vec<String>) {
    let file: File = parse(text);
    let mut t = Tally::default();
    let ss = &file.sample_size;
    for (n, &expected) in ss.n_for_population_0_to_2000.iter().enumerate() {
        t.case(|c| {
            let at = format!("{} N={n}", ss.id);
            c.exact(
                &at,
                "sample size (f64)",
                expected,
                population_mean_sample_size(n as f64),
            );
            c.exact(&at, "sample size", expected as usize, sample_size(n));
        });
    }
    for r in &ss.extra {
        t.case(|c| {
            c.exact(
                &r.id,
                "sample_size",
                r.sample_size,
                population_mean_sample_size(r.population),
            )
        });
    }
    for r in &file.composition.rows {
        t.case(|c| check_composition(r, c));
    }
    for case in &file.cases {
        t.case(|c| check_case(case, c));
    }
    t.finish()
}
