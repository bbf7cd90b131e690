//! `activator_throttler*.yaml`: activator counts, pod-to-activator assignment and capacities, the
//! load-balancing policies, and the revision breaker's queueing.

use std::collections::{BTreeMap, VecDeque};

use podscale::request_path::throttler::{
    assigned_pods, breaker_capacity, cluster_ip_capacity, num_activators, target_capacity,
    Admission, LbPolicy, LbRandom, RevisionBreaker, RevisionThrottler,
    REVISION_BREAKER_MAX_CONCURRENCY, REVISION_BREAKER_QUEUE_DEPTH,
};
use serde::Deserialize;

use crate::{parse, Checker, Tally};

#[derive(Deserialize)]
struct File {
    num_activators: Rows<NumActivatorsRow>,
    assignment: Rows<AssignmentRow>,
    assignment_special: Rows<SpecialRow>,
    lb_sequences: Vec<LbSequence>,
    queueing: Vec<QueueRow>,
}

#[derive(Deserialize)]
struct Rows<T> {
    rows: Vec<T>,
}

#[derive(Deserialize)]
struct NumActivatorsRow {
    id: String,
    total_value: f64,
    target_burst_capacity: f64,
    activator_capacity: f64,
    num_activators_for_ready_pods_0_to_50: Vec<i32>,
}

#[derive(Deserialize)]
struct AssignmentRow {
    id: String,
    cc: u32,
    activators: usize,
    pods: usize,
    per_activator: Vec<PerActivator>,
}

#[derive(Deserialize, PartialEq, Debug)]
struct PerActivator {
    assigned: Vec<usize>,
    target_capacity: u64,
    breaker_capacity: u64,
}

#[derive(Deserialize)]
struct SpecialRow {
    id: String,
    case: String,
    cc: u32,
    activators_listed: Option<usize>,
    activators: Option<usize>,
    #[serde(rename = "self")]
    self_index: Option<usize>,
    pods: Option<usize>,
    activator_index: Option<i64>,
    num_activators: Option<usize>,
    assigned: Option<Vec<serde_yaml::Value>>,
    breaker_capacity: Option<u64>,
    dests: Option<Vec<String>>,
    sorted_trackers: Option<Vec<String>>,
    target_capacity_for_backends_0_to_12: Option<Vec<u64>>,
    breaker_capacity_for_backends_0_to_12: Option<Vec<u64>>,
}

#[derive(Deserialize)]
struct LbSequence {
    id: String,
    cc: u32,
    policy: String,
    pods: usize,
    activators: usize,
    #[serde(rename = "self")]
    self_index: usize,
    assigned_initial: Vec<usize>,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    op: String,
    k: Option<u64>,
    #[serde(default)]
    pod: Option<usize>,
    /// The pod count of an `update_pods` step, under whatever key the file uses.
    #[serde(flatten)]
    rest: BTreeMap<String, serde_yaml::Value>,
    assigned_after: Option<Vec<usize>>,
    rand_draws: Option<Vec<Draw>>,
    weights_after: Option<Vec<u64>>,
}

#[derive(Deserialize, Clone)]
struct Draw {
    #[serde(rename = "fn")]
    func: String,
    arg: u64,
    result: u64,
}

#[derive(Deserialize)]
struct QueueRow {
    id: String,
    cc: Option<u32>,
    pods_before: Option<usize>,
    pods_after: Option<usize>,
    requests: u64,
    revision_breaker: Option<BreakerParams>,
    breaker_capacity_while_blocked: Option<u64>,
    pending_in_revision_breaker_while_blocked: Option<u64>,
    executing_while_blocked: u64,
    rejected_while_blocked: Option<u64>,
    breaker_capacity_after_update: Option<u64>,
    executing_after_update: Option<u64>,
    max_concurrently_executing: Option<u64>,
    completed: u64,
    rejected_total: Option<u64>,
    // Bare breakers.
    queue_depth: Option<u64>,
    max_concurrency: Option<u64>,
    capacity: Option<u64>,
    pending_in_breaker_while_blocked: Option<u64>,
    rejected: Option<u64>,
}

#[derive(Deserialize, PartialEq, Debug)]
struct BreakerParams {
    #[serde(rename = "type")]
    kind: String,
    queue_depth: Option<u64>,
    max_concurrency: Option<u64>,
    total_slots: Option<u64>,
}

fn pod_dest(i: usize) -> String {
    format!("10.0.0.{}:8012", 100 + i)
}

fn activator_ip(j: usize) -> String {
    format!("10.1.0.{}", 100 + j)
}

/// A throttler of activator `self_index` of `activators` (None = not published) with `pods` pods.
fn throttler(
    cc: u32,
    activators: usize,
    self_index: Option<usize>,
    pods: usize,
) -> RevisionThrottler {
    let mut t = RevisionThrottler::new(cc);
    let published: Vec<String> = (0..activators).map(activator_ip).collect();
    let me = match self_index {
        Some(j) => activator_ip(j),
        None => "10.2.0.1".to_string(),
    };
    t.update_activators(&me, &published);
    let dests: Vec<String> = (0..pods).map(pod_dest).collect();
    t.update_dests(&dests);
    t
}

fn pod_index(dest: &str) -> usize {
    let host = dest.split(':').next().unwrap();
    host.rsplit('.').next().unwrap().parse::<usize>().unwrap() - 100
}

/// Replays recorded draws, noting any call that differs from the recording.
struct Scripted {
    draws: VecDeque<Draw>,
    errors: Vec<String>,
}

impl Scripted {
    fn next(&mut self, func: &str, arg: u64) -> u64 {
        match self.draws.pop_front() {
            Some(d) if d.func == func && d.arg == arg => d.result,
            other => {
                self.errors.push(format!(
                    "draw {func}({arg}) but recorded {:?}",
                    other.map(|d| (d.func, d.arg))
                ));
                0
            }
        }
    }
}

impl LbRandom for Scripted {
    fn intn(&mut self, n: usize) -> usize {
        self.next("Intn", n as u64) as usize
    }
    fn int63(&mut self) -> u64 {
        self.next("Int63", 0)
    }
}

/// `update_pods n`: the count is the step's integer field (or the length of a pod list) other than `k`.
fn update_pod_count(step: &Step) -> Option<usize> {
    ["n", "pods", "update_pods", "count"]
        .iter()
        .filter_map(|key| step.rest.get(*key))
        .chain(
            step.rest
                .iter()
                .filter(|(k, _)| k.as_str() != "k")
                .map(|(_, v)| v),
        )
        .find_map(|v| match v {
            serde_yaml::Value::Number(n) => n.as_u64().map(|n| n as usize),
            serde_yaml::Value::Sequence(s) => Some(s.len()),
            _ => None,
        })
}

fn check_sequence(s: &LbSequence, c: &mut Checker) {
    let mut t = throttler(s.cc, s.activators, Some(s.self_index), s.pods);
    let policy = match t.policy() {
        LbPolicy::RandomChoice2 => "random_choice_2",
        LbPolicy::FirstAvailable => "first_available",
        LbPolicy::RoundRobin => "round_robin",
    };
    c.exact(&s.id, "policy", s.policy.as_str(), policy);
    let assigned: Vec<usize> = t.assigned_dests().iter().map(|d| pod_index(d)).collect();
    c.exact(&s.id, "assigned_initial", &s.assigned_initial, &assigned);
    let mut acquired: BTreeMap<u64, String> = BTreeMap::new();
    for (n, step) in s.steps.iter().enumerate() {
        let at = format!("{} step {}", s.id, n + 1);
        match step.op.as_str() {
            "acquire" => {
                let mut rng = Scripted {
                    draws: step.rand_draws.clone().unwrap_or_default().into(),
                    errors: Vec::new(),
                };
                let dest = t.acquire(&mut rng);
                c.exact(&at, "pod", step.pod, dest.as_deref().map(pod_index));
                c.exact(&at, "rand draws", Vec::<String>::new(), rng.errors);
                c.exact(&at, "unused rand draws", 0, rng.draws.len());
                if let (Some(k), Some(d)) = (step.k, dest) {
                    acquired.insert(k, d);
                }
            }
            "release" => {
                let k = step.k.expect("release needs k");
                match acquired.remove(&k) {
                    Some(d) => t.release(&d),
                    None => c.exact(&at, "release of a held acquisition", true, false),
                }
            }
            "update_pods" => {
                let n = update_pod_count(step)
                    .unwrap_or_else(|| panic!("{at}: update_pods without a pod count"));
                let dests: Vec<String> = (0..n).map(pod_dest).collect();
                t.update_dests(&dests);
            }
            other => panic!("{at}: unknown op {other:?}"),
        }
        if let Some(after) = &step.assigned_after {
            let got: Vec<usize> = t.assigned_dests().iter().map(|d| pod_index(d)).collect();
            c.exact(&at, "assigned_after", after, &got);
        }
        if let Some(w) = &step.weights_after {
            c.exact(&at, "weights_after", w, &t.assigned_in_flight());
        }
    }
}

fn check_special(r: &SpecialRow, c: &mut Checker) {
    let id = r.id.as_str();
    match r.case.as_str() {
        "self_not_in_activator_endpoints" => {
            let pods = r.pods.unwrap();
            let t = throttler(r.cc, r.activators_listed.unwrap(), None, pods);
            let (index, count) = t.activator_slot();
            c.exact(
                id,
                "activator_index",
                r.activator_index,
                Some(index.map_or(-1, |i| i as i64)),
            );
            c.exact(id, "num_activators", r.num_activators, Some(count));
            let assigned: Vec<serde_yaml::Value> = t
                .assigned_dests()
                .iter()
                .map(|d| serde_yaml::Value::from(pod_index(d) as u64))
                .collect();
            c.exact(id, "assigned", r.assigned.as_ref(), Some(&assigned));
            c.exact(
                id,
                "breaker_capacity",
                r.breaker_capacity,
                Some(t.breaker_capacity()),
            );
        }
        "lexicographic_dest_order" => {
            let mut t = RevisionThrottler::new(r.cc);
            let activators = r.activators.unwrap();
            let published: Vec<String> = (0..activators).map(activator_ip).collect();
            t.update_activators(&activator_ip(r.self_index.unwrap()), &published);
            t.update_dests(r.dests.as_ref().unwrap());
            let sorted: Vec<String> = t.sorted_dests().iter().map(|d| d.to_string()).collect();
            c.exact(
                id,
                "sorted_trackers",
                r.sorted_trackers.as_ref(),
                Some(&sorted),
            );
            let assigned: Vec<serde_yaml::Value> = t
                .assigned_dests()
                .iter()
                .map(|d| serde_yaml::Value::from(d.to_string()))
                .collect();
            c.exact(id, "assigned", r.assigned.as_ref(), Some(&assigned));
            c.exact(
                id,
                "breaker_capacity",
                r.breaker_capacity,
                Some(t.breaker_capacity()),
            );
        }
        "cluster_ip_routing" => {
            let activators = r.activators.unwrap();
            let targets: Vec<u64> = (0..=12)
                .map(|b| cluster_ip_capacity(r.cc, b, activators))
                .collect();
            let breakers: Vec<u64> = targets.iter().map(|&t| breaker_capacity(r.cc, t)).collect();
            c.exact(
                id,
                "target_capacity",
                r.target_capacity_for_backends_0_to_12.as_ref(),
                Some(&targets),
            );
            c.exact(
                id,
                "breaker_capacity",
                r.breaker_capacity_for_backends_0_to_12.as_ref(),
                Some(&breakers),
            );
        }
        other => panic!("{id}: unknown assignment_special case {other:?}"),
    }
}

/// Compares a field the file may leave out: only when it is present.
fn present<T: PartialEq + std::fmt::Debug>(
    c: &mut Checker,
    id: &str,
    field: &str,
    expected: Option<T>,
    actual: T,
) {
    if let Some(expected) = expected {
        c.exact(id, field, expected, actual);
    }
}

/// Revision breaker capacity for `pods` pods behind one activator.
fn capacity_for(cc: u32, pods: usize) -> u64 {
    target_capacity(cc, assigned_pods(cc, pods, Some(0), 1).len(), pods)
}

/// Sends `requests` at once, then (for revision rows) updates the pods, then completes requests one at a
/// time until everything admitted has run.
fn check_queue(r: &QueueRow, c: &mut Checker) {
    let id = r.id.as_str();
    let cc = r.cc.unwrap_or(1);
    let mut b = match r.pods_before {
        Some(pods) => {
            let mut b = RevisionBreaker::for_revision(cc);
            b.set_capacity(capacity_for(cc, pods));
            b
        }
        None => RevisionBreaker::queue(
            r.queue_depth.expect("bare breaker row needs queue_depth"),
            r.max_concurrency
                .expect("bare breaker row needs max_concurrency"),
            r.capacity.expect("bare breaker row needs capacity"),
        ),
    };
    let rejected = (0..r.requests)
        .filter(|_| b.admit() == Admission::Rejected)
        .count() as u64;
    c.exact(
        id,
        "executing_while_blocked",
        r.executing_while_blocked,
        b.executing(),
    );
    let mut max_executing = b.executing();
    if r.pods_before.is_some() {
        present(
            c,
            id,
            "breaker_capacity_while_blocked",
            r.breaker_capacity_while_blocked,
            b.capacity(),
        );
        // The infinite breaker keeps no count: the file has null there.
        if cc == 0 || r.pending_in_revision_breaker_while_blocked.is_some() {
            c.exact(
                id,
                "pending_in_revision_breaker_while_blocked",
                r.pending_in_revision_breaker_while_blocked,
                b.pending(),
            );
        }
        present(
            c,
            id,
            "rejected_while_blocked",
            r.rejected_while_blocked,
            rejected,
        );
        let params = if cc == 0 {
            BreakerParams {
                kind: "infiniteBreaker".into(),
                queue_depth: None,
                max_concurrency: None,
                total_slots: None,
            }
        } else {
            BreakerParams {
                kind: "queue.Breaker".into(),
                queue_depth: Some(REVISION_BREAKER_QUEUE_DEPTH),
                max_concurrency: Some(REVISION_BREAKER_MAX_CONCURRENCY),
                total_slots: Some(REVISION_BREAKER_QUEUE_DEPTH + REVISION_BREAKER_MAX_CONCURRENCY),
            }
        };
        present(
            c,
            id,
            "revision_breaker",
            r.revision_breaker.as_ref(),
            &params,
        );
        if let Some(pods) = r.pods_after {
            b.set_capacity(capacity_for(cc, pods));
        }
        present(
            c,
            id,
            "breaker_capacity_after_update",
            r.breaker_capacity_after_update,
            b.capacity(),
        );
        present(
            c,
            id,
            "executing_after_update",
            r.executing_after_update,
            b.executing(),
        );
        max_executing = max_executing.max(b.executing());
    } else {
        present(
            c,
            id,
            "pending_in_breaker_while_blocked",
            r.pending_in_breaker_while_blocked,
            b.pending().unwrap_or(0),
        );
        present(c, id, "rejected", r.rejected, rejected);
    }
    let mut completed = 0;
    while b.executing() > 0 {
        b.complete();
        completed += 1;
        max_executing = max_executing.max(b.executing());
    }
    c.exact(id, "completed", r.completed, completed);
    c.exact(id, "requests left waiting", 0, b.waiting());
    present(
        c,
        id,
        "max_concurrently_executing",
        r.max_concurrently_executing,
        max_executing,
    );
    present(c, id, "rejected_total", r.rejected_total, rejected);
}

pub fn run(text: &str) -> (usize, usize, Vec<String>) {
    let file: File = parse(text);
    let mut t = Tally::default();
    for r in &file.num_activators.rows {
        t.case(|c| {
            let got: Vec<i32> = (0..r.num_activators_for_ready_pods_0_to_50.len() as i32)
                .map(|ready| {
                    num_activators(
                        ready,
                        r.total_value,
                        r.target_burst_capacity,
                        r.activator_capacity,
                    )
                })
                .collect();
            c.exact(
                &r.id,
                "num_activators",
                &r.num_activators_for_ready_pods_0_to_50,
                &got,
            );
        });
    }
    for r in &file.assignment.rows {
        t.case(|c| {
            let got: Vec<PerActivator> = (0..r.activators)
                .map(|j| {
                    let th = throttler(r.cc, r.activators, Some(j), r.pods);
                    PerActivator {
                        assigned: th.assigned_dests().iter().map(|d| pod_index(d)).collect(),
                        target_capacity: th.target_capacity(),
                        breaker_capacity: th.breaker_capacity(),
                    }
                })
                .collect();
            c.exact(&r.id, "per_activator", &r.per_activator, &got);
        });
    }
    for r in &file.assignment_special.rows {
        t.case(|c| check_special(r, c));
    }
    for s in &file.lb_sequences {
        t.case(|c| check_sequence(s, c));
    }
    for r in &file.queueing {
        t.case(|c| check_queue(r, c));
    }
    t.finish()
}
