//! The autoscaler's metric scraper (Knative `pkg/autoscaler/metrics/stats_scraper.go` and
//! `sample_size.go`): which pods one scrape asks, and the revision total it extrapolates.
//!
//! One [`scrape`] call is one `Scrape(window)`:
//! * Only pods that are Running, Ready and not being deleted count. They split into *old* (up at least one
//!   stable window, inclusive) and *young*, keeping their listing order.
//! * The sample size n comes from [`population_mean_sample_size`] (a 95 % confidence, 5 % error estimate of
//!   the mean, at most 16 pods). If there are at least n old pods, the old list is shuffled and only old
//!   pods are asked; otherwise all old pods come first and the shuffled young list fills up.
//! * Pods are asked in that order until n answered. Too few answers is an error (`pods exhausted`), except
//!   when every pod asked failed with an HTTP 503 (a service mesh in the way): in `auto` mesh mode without
//!   a passthrough load balancer the scraper then asks the revision's Service instead, and keeps doing so
//!   on later scrapes (`pods_addressable` becomes false).
//! * Service scraping asks the Service n times in parallel; a pod already seen counts as a failed try (at
//!   most 10 per asker); an old pod's stat ends that asker, a young one is kept and the asker continues.
//!   The result takes every old stat plus young ones up to n.
//! * The extrapolated stat is, per field, `Σ sampled / n × N` (divide first, as Knative does).
//!
//! Units: the four [`Stat`] fields (requests in flight and requests per second); ages as
//! [`SimDuration`]. Randomness (the one shuffle) and the Service's choice of pod are injected, so the
//! simulator's seeded RNG decides them and the result is deterministic.
//!
//! Simplification: Knative's parallel askers are replayed one after the other. The result is the same
//! whenever it does not depend on goroutine timing (it does only when, through the Service, more young
//! pods answer than are needed).

use std::fmt;

use crate::autoscaler::kpa::stats::Stat;
use crate::time::SimDuration;

/// The service scraper gives up after this many tries per asker.
pub const SERVICE_SCRAPE_MAX_TRIES: usize = 10;

/// `populationMeanSampleSize`: how many of `population` pods to sample. Non-integral and negative
/// populations are accepted as Knative does (≤ 3 returns max(population, 0) unchanged).
pub fn population_mean_sample_size(population: f64) -> f64 {
    if population <= 3.0 {
        return population.max(0.0);
    }
    // 1.96² × 100 / 5², evaluated in this order as in Knative.
    let x = 1.96 * 1.96 * 100.0 / 25.0;
    (population * x / (population + x - 1.0)).ceil()
}

/// The sample size for `ready` pods.
pub fn sample_size(ready: usize) -> usize {
    population_mean_sample_size(ready as f64) as usize
}

/// `mesh-compatibility-mode` of config-network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MeshMode {
    /// Scrape pods directly; fall back to the Service when every pod scrape returns 503.
    #[default]
    Auto,
    /// Always scrape through the Service.
    Enabled,
    /// Always scrape pods directly.
    Disabled,
}

/// What asking one pod directly returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodScrape {
    Ok,
    /// Any failure other than a 503 (connection refused, timeout, ...).
    Error,
    /// HTTP 503, which the scraper takes as a sign of a mesh sidecar rejecting direct pod traffic.
    MeshError,
}

/// One pod as the scraper sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapePod {
    /// Running, Ready and not being deleted.
    pub ready: bool,
    /// now − status.startTime.
    pub age: SimDuration,
    /// The stat its queue-proxy would return.
    pub stat: Stat,
    pub scrape: PodScrape,
}

/// Scraper settings and state kept across scrapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScraperState {
    pub mesh_mode: MeshMode,
    pub use_passthrough_lb: bool,
    /// False once a Service scrape succeeded after every pod scrape returned 503.
    pub pods_addressable: bool,
}

impl ScraperState {
    pub fn new(mesh_mode: MeshMode, use_passthrough_lb: bool) -> Self {
        ScraperState {
            mesh_mode,
            use_passthrough_lb,
            pods_addressable: true,
        }
    }
}

/// Which list the single shuffle permuted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shuffled {
    None,
    Old,
    Young,
}

/// How the stat was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScrapePath {
    /// No ready pod: empty stat, nothing recorded.
    None,
    Pods,
    Service,
    PodsThenService,
}

/// Why a scrape returned no stat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScrapeError {
    /// Fewer than n pods answered.
    PodsExhausted,
    /// Every pod asked returned 503 and no fallback applied.
    NoPodsScraped,
    /// The Service scrape did not collect n distinct pods.
    Service { sample_size: usize },
}

impl fmt::Display for ScrapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScrapeError::PodsExhausted => write!(f, "pods exhausted"),
            ScrapeError::NoPodsScraped => write!(f, "all pod scrapes returned 503 error"),
            ScrapeError::Service { sample_size } => write!(
                f,
                "unsuccessful scrape, sampleSize={sample_size}: did not receive stat from an unscraped pod"
            ),
        }
    }
}

/// Everything one scrape did. Pod references are indices into the input slice.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeResult {
    pub old: Vec<usize>,
    pub young: Vec<usize>,
    pub population: usize,
    pub sample_size: usize,
    pub shuffled: Shuffled,
    pub scrape_order: Vec<usize>,
    /// Pods asked directly, in order.
    pub attempted: Vec<usize>,
    /// Pods whose direct answer was used.
    pub sampled: Vec<usize>,
    pub path: ScrapePath,
    /// Distinct pods the Service answered with, in input order.
    pub service_distinct: Vec<usize>,
    /// The extrapolated revision total (all zero for [`ScrapePath::None`]).
    pub stat: Result<Stat, ScrapeError>,
}

/// One `Scrape(window)`. `shuffle(len)` returns the permutation of the one shuffle (position k receives
/// the element at index perm[k]); `service_pick()` returns the index of the pod the Service routes the
/// next request to (only called when scraping through the Service).
pub fn scrape(
    state: &mut ScraperState,
    pods: &[ScrapePod],
    window: SimDuration,
    shuffle: &mut dyn FnMut(usize) -> Vec<usize>,
    service_pick: &mut dyn FnMut() -> usize,
) -> ScrapeResult {
    let (old, young): (Vec<usize>, Vec<usize>) = (0..pods.len())
        .filter(|&i| pods[i].ready)
        .partition(|&i| pods[i].age >= window);
    let population = old.len() + young.len();
    let n = sample_size(population);
    let mut r = ScrapeResult {
        scrape_order: old.iter().chain(&young).copied().collect(),
        old,
        young,
        population,
        sample_size: n,
        shuffled: Shuffled::None,
        attempted: Vec::new(),
        sampled: Vec::new(),
        path: ScrapePath::None,
        service_distinct: Vec::new(),
        stat: Ok(Stat::default()),
    };
    if population == 0 {
        return r;
    }
    let direct = state.mesh_mode != MeshMode::Enabled && state.pods_addressable;
    if direct {
        r.path = ScrapePath::Pods;
        match scrape_pods(pods, &mut r, shuffle) {
            Err(ScrapeError::NoPodsScraped)
                if state.mesh_mode == MeshMode::Auto && !state.use_passthrough_lb =>
            {
                r.path = ScrapePath::PodsThenService;
            }
            other => {
                r.stat = other;
                return r;
            }
        }
    } else {
        r.path = ScrapePath::Service;
    }
    r.stat = scrape_service(
        pods,
        window,
        n,
        population,
        &mut r.service_distinct,
        service_pick,
    );
    if r.stat.is_ok() && r.path == ScrapePath::PodsThenService {
        state.pods_addressable = false;
    }
    r
}

fn permute(list: &[usize], perm: &[usize]) -> Vec<usize> {
    perm.iter().map(|&k| list[k]).collect()
}

fn scrape_pods(
    pods: &[ScrapePod],
    r: &mut ScrapeResult,
    shuffle: &mut dyn FnMut(usize) -> Vec<usize>,
) -> Result<Stat, ScrapeError> {
    let n = r.sample_size;
    let (mut old, mut young) = (r.old.clone(), r.young.clone());
    if old.len() < n {
        young = permute(&young, &shuffle(young.len()));
        r.shuffled = Shuffled::Young;
    } else {
        old = permute(&old, &shuffle(old.len()));
        r.shuffled = Shuffled::Old;
    }
    r.scrape_order = old.into_iter().chain(young).collect();
    let mut non_mesh_failure = false;
    for &p in &r.scrape_order {
        if r.sampled.len() == n {
            break;
        }
        r.attempted.push(p);
        match pods[p].scrape {
            PodScrape::Ok => r.sampled.push(p),
            PodScrape::Error => non_mesh_failure = true,
            PodScrape::MeshError => {}
        }
    }
    if r.sampled.len() < n {
        return Err(if !r.sampled.is_empty() || non_mesh_failure {
            ScrapeError::PodsExhausted
        } else {
            ScrapeError::NoPodsScraped
        });
    }
    let stats: Vec<&Stat> = r.sampled.iter().map(|&p| &pods[p].stat).collect();
    Ok(extrapolate(&stats, n, r.population))
}

/// The askers one after the other: each takes Service answers until it gets an unseen old pod, or its
/// tries run out; unseen young pods are kept (up to n) on the way.
fn scrape_service(
    pods: &[ScrapePod],
    window: SimDuration,
    n: usize,
    population: usize,
    distinct: &mut Vec<usize>,
    service_pick: &mut dyn FnMut() -> usize,
) -> Result<Stat, ScrapeError> {
    let mut seen = vec![false; pods.len()];
    let (mut old, mut young) = (Vec::new(), Vec::new());
    let mut failed = false;
    for _asker in 0..n {
        let mut done = false;
        for _try in 0..SERVICE_SCRAPE_MAX_TRIES {
            let p = service_pick();
            if seen[p] {
                continue;
            }
            seen[p] = true;
            if pods[p].age >= window {
                old.push(p);
                done = true;
                break;
            }
            if young.len() == n {
                done = true;
                break;
            }
            young.push(p);
        }
        failed |= !done;
    }
    *distinct = (0..pods.len()).filter(|&p| seen[p]).collect();
    if failed && old.len() + young.len() < n {
        return Err(ScrapeError::Service { sample_size: n });
    }
    let take_young = n.saturating_sub(old.len());
    let stats: Vec<&Stat> = old
        .iter()
        .chain(young.iter().take(take_young))
        .map(|&p| &pods[p].stat)
        .collect();
    Ok(extrapolate(&stats, n, population))
}

/// Per field: (Σ stats) / n × population.
fn extrapolate(stats: &[&Stat], n: usize, population: usize) -> Stat {
    let sum = stats.iter().fold(Stat::default(), |acc, s| acc.add(s));
    scale_to(sum, n, population)
}

/// Scratch lists [`scrape_direct`] reuses from one scrape to the next.
#[derive(Clone, Debug, Default)]
pub struct DirectScratch {
    old: Vec<usize>,
    young: Vec<usize>,
}

/// [`scrape`] where every pod is scraped directly and answers: mesh mode `disabled`, every pod Ready and
/// [`PodScrape::Ok`] (what the simulator's scraper sees every second). It samples the same pods in the
/// same order, makes the same draws (`pick(i)` returns a uniform index in `0..=i`, for the one shuffle's
/// swaps, `i` from `len - 1` down to 1) and returns the same total, without recording what it tried or
/// allocating; `None` without a pod. (A test checks it against [`scrape`].)
pub fn scrape_direct(
    pods: &[ScrapePod],
    window: SimDuration,
    scratch: &mut DirectScratch,
    pick: &mut dyn FnMut(usize) -> usize,
) -> Option<Stat> {
    if pods.is_empty() {
        return None;
    }
    debug_assert!(pods.iter().all(|p| p.ready && p.scrape == PodScrape::Ok));
    let (old, young) = (&mut scratch.old, &mut scratch.young);
    old.clear();
    young.clear();
    for (i, p) in pods.iter().enumerate() {
        if p.age >= window {
            old.push(i);
        } else {
            young.push(i);
        }
    }
    let population = pods.len();
    let n = sample_size(population);
    // Swapping the list itself is the same as permuting it by a permutation built with the same swaps.
    let shuffled = if old.len() < n {
        &mut *young
    } else {
        &mut *old
    };
    for i in (1..shuffled.len()).rev() {
        let j = pick(i);
        shuffled.swap(i, j);
    }
    let sum = old
        .iter()
        .chain(young.iter())
        .take(n)
        .fold(Stat::default(), |acc, &p| acc.add(&pods[p].stat));
    Some(scale_to(sum, n, population))
}

fn scale_to(sum: Stat, n: usize, population: usize) -> Stat {
    let scale = |x: f64| x / n as f64 * population as f64;
    Stat {
        average_concurrency: scale(sum.average_concurrency),
        average_proxied_concurrency: scale(sum.average_proxied_concurrency),
        request_count: scale(sum.request_count),
        proxied_request_count: scale(sum.proxied_request_count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(age_s: u64, concurrency: f64, scrape: PodScrape) -> ScrapePod {
        ScrapePod {
            ready: true,
            age: SimDuration::from_secs(age_s),
            stat: Stat {
                average_concurrency: concurrency,
                ..Stat::default()
            },
            scrape,
        }
    }

    fn identity(len: usize) -> Vec<usize> {
        (0..len).collect()
    }

    const WINDOW: SimDuration = SimDuration::from_secs(60);

    #[test]
    fn sample_size_is_the_population_up_to_three_then_at_most_sixteen() {
        assert_eq!(
            (0..=4).map(sample_size).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        assert_eq!(sample_size(6), 5);
        assert_eq!(sample_size(1_000_000), 16);
        assert_eq!(population_mean_sample_size(-5.0), 0.0);
        assert_eq!(population_mean_sample_size(2.5), 2.5);
    }

    #[test]
    fn old_pods_are_asked_before_young_ones() {
        let pods = vec![
            pod(10, 1.0, PodScrape::Ok),
            pod(100, 2.0, PodScrape::Ok),
            pod(30, 3.0, PodScrape::Ok),
        ];
        let mut st = ScraperState::new(MeshMode::Auto, false);
        let r = scrape(&mut st, &pods, WINDOW, &mut identity, &mut || 0);
        assert_eq!((r.old.clone(), r.shuffled), (vec![1], Shuffled::Young));
        assert_eq!(r.scrape_order, vec![1, 0, 2]);
        assert_eq!(r.stat.unwrap().average_concurrency, 6.0);
    }

    #[test]
    fn a_failed_pod_is_replaced_by_the_next_in_order_and_the_total_is_extrapolated() {
        let mut pods: Vec<ScrapePod> = (0..6).map(|i| pod(100, i as f64, PodScrape::Ok)).collect();
        pods[0].scrape = PodScrape::Error;
        let mut st = ScraperState::new(MeshMode::Auto, false);
        let r = scrape(&mut st, &pods, WINDOW, &mut identity, &mut || 0);
        assert_eq!(r.sampled, vec![1, 2, 3, 4, 5]);
        // (1+2+3+4+5) / 5 × 6.
        assert_eq!(r.stat.unwrap().average_concurrency, 18.0);
    }

    #[test]
    fn all_503s_fall_back_to_the_service_and_stay_there() {
        let pods: Vec<ScrapePod> = (0..3)
            .map(|_| pod(100, 1.0, PodScrape::MeshError))
            .collect();
        let mut st = ScraperState::new(MeshMode::Auto, false);
        let mut next = 0;
        let mut pick = || {
            next += 1;
            (next - 1) % 3
        };
        let r = scrape(&mut st, &pods, WINDOW, &mut identity, &mut pick);
        assert_eq!(r.path, ScrapePath::PodsThenService);
        assert!(!st.pods_addressable);
        let r = scrape(&mut st, &pods, WINDOW, &mut identity, &mut pick);
        assert_eq!((r.path, r.attempted.len()), (ScrapePath::Service, 0));
        assert_eq!(r.stat.unwrap().average_concurrency, 3.0);
    }

    #[test]
    fn passthrough_lb_or_mesh_disabled_reports_the_503s_instead_of_falling_back() {
        let pods: Vec<ScrapePod> = (0..2)
            .map(|_| pod(100, 1.0, PodScrape::MeshError))
            .collect();
        for mut st in [
            ScraperState::new(MeshMode::Auto, true),
            ScraperState::new(MeshMode::Disabled, false),
        ] {
            let r = scrape(&mut st, &pods, WINDOW, &mut identity, &mut || 0);
            assert_eq!(r.stat, Err(ScrapeError::NoPodsScraped));
            assert!(st.pods_addressable);
        }
    }

    #[test]
    fn a_mix_of_503_and_other_failures_is_pods_exhausted() {
        let pods = vec![
            pod(100, 1.0, PodScrape::MeshError),
            pod(100, 1.0, PodScrape::Error),
        ];
        let mut st = ScraperState::new(MeshMode::Auto, false);
        let r = scrape(&mut st, &pods, WINDOW, &mut identity, &mut || 0);
        assert_eq!(r.stat.unwrap_err().to_string(), "pods exhausted");
    }

    #[test]
    fn service_scraping_that_keeps_hitting_the_same_pod_fails() {
        let pods: Vec<ScrapePod> = (0..3).map(|_| pod(100, 1.0, PodScrape::Ok)).collect();
        let mut st = ScraperState::new(MeshMode::Enabled, false);
        let r = scrape(&mut st, &pods, WINDOW, &mut identity, &mut || 0);
        assert_eq!(r.stat, Err(ScrapeError::Service { sample_size: 3 }));
        assert_eq!(r.service_distinct, vec![0]);
    }

    proptest::proptest! {
        /// The allocation-free scrape equals the full one wherever it applies: every pod Ready and
        /// answering, scraped directly, with the same draws.
        #[test]
        fn direct_scrape_equals_the_full_scrape(
            pods in proptest::collection::vec((0u64..120, 0.0f64..50.0, 0.0f64..5.0, 0.0f64..90.0), 0..40),
            draws in proptest::collection::vec(0usize..1000, 40),
        ) {
            let pods: Vec<ScrapePod> = pods
                .iter()
                .map(|&(age, c, pc, rc)| ScrapePod {
                    ready: true,
                    age: SimDuration::from_secs(age),
                    stat: Stat {
                        average_concurrency: c,
                        average_proxied_concurrency: pc,
                        request_count: rc,
                        proxied_request_count: pc,
                    },
                    scrape: PodScrape::Ok,
                })
                .collect();
            let mut used = 0;
            let mut shuffle = |len: usize| {
                let mut perm: Vec<usize> = (0..len).collect();
                for i in (1..len).rev() {
                    perm.swap(i, draws[used] % (i + 1));
                    used += 1;
                }
                perm
            };
            let mut st = ScraperState::new(MeshMode::Disabled, false);
            let full = scrape(&mut st, &pods, WINDOW, &mut shuffle, &mut || 0);
            let mut next = 0;
            let mut pick = |i: usize| {
                next += 1;
                draws[next - 1] % (i + 1)
            };
            let direct = scrape_direct(&pods, WINDOW, &mut DirectScratch::default(), &mut pick);
            if pods.is_empty() {
                proptest::prop_assert_eq!(direct, None);
            } else {
                proptest::prop_assert_eq!(direct, Some(full.stat.unwrap()));
            }
            proptest::prop_assert_eq!(next, used);
        }
    }

    #[test]
    fn no_ready_pod_means_no_scrape_and_an_empty_stat() {
        let mut p = pod(100, 5.0, PodScrape::Ok);
        p.ready = false;
        let mut st = ScraperState::new(MeshMode::Auto, false);
        let r = scrape(&mut st, &[p], WINDOW, &mut identity, &mut || 0);
        assert_eq!((r.path, r.stat), (ScrapePath::None, Ok(Stat::default())));
    }
}
