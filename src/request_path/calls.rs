//! Calls between revisions: a request being served on a pod of revision A calls revision B (or several),
//! as a KServe transformer calls its predictor and an InferenceGraph router calls the services of its
//! steps.
//!
//! The model, per request served on a pod of a revision with a [`CallSpec`]:
//!
//! 1. The pod runs the request's own service time (the transformer's pre-processing, the router's hop).
//! 2. The plan's steps run in order. A step sends one or more child requests, each through the callee's
//!    whole request path (its one-way delays, the activator or a ready pod, its queue-proxy, its service
//!    time), and waits for all of them ([`Stage::Waiting`]). While it waits the parent keeps its pod's
//!    slot (a proxying container holds the connection), so the caller's concurrency includes the callee's
//!    latency. Steps: call every target in parallel ([`StepSpec::All`]: a plain call, an Ensemble), pick
//!    one by weight ([`StepSpec::Pick`]: a Splitter), or the first whose condition holds on the request's
//!    attributes ([`StepSpec::Switch`]; none matching skips the step, as KServe's Switch returns the
//!    request unchanged).
//! 3. After the last step the pod runs `post_time` (post-processing) and the request answers.
//!
//! A child answering anything but 200 fails its parent with the child's status once all children of the
//! step have answered; the parent's own revision timeout (its deadline) still runs while it waits and
//! answers 504 at the deadline, whatever its children do (their late answers are dropped).
//!
//! Entry split: a revision may send a share of its external arrivals to another revision instead (an
//! InferenceService's explain requests go to its explainer), drawn from the calls' own random stream.
//!
//! A request's picks and post-processing time are its own draws (from its draw key, `engine::rng`), and a
//! child's key comes from its parent's, so a call tree draws the same numbers whatever order the
//! configuration serves it in.
//!
//! Units: time in ns; shares in [0, 1]; weights are integers (KServe's percentages).
//!
//! Simplifications: a waiting parent counts as executing for the pod's CPU use; only fixed-slot pods may
//! call (a processor-sharing or GPU-batch pod cannot, the run refuses it); a child's client side is the
//! callee's `request_path` delays (the in-cluster hop), payload sizes play no part; retries are not
//! modelled. Run-wide counters (`summary.requests`) count external requests only, except `rejected` and
//! `timed_out`, which count where it happened (so a child rejected by its predictor counts there, and
//! its parent counts as failed).

use crate::dist::DurationDist;
use crate::engine::{Draw, DrawKey, DrawKeys, EventId, RequestRng, RngStreams, SimRng, Stream};
use crate::ids::{RequestId, RevisionId};
use crate::sim::config::SimError;
use crate::sim::world::*;
use crate::time::{SimDuration, SimTime};
use crate::traffic::RequestAttrs;
use rand::RngExt;

/// A request's place in a call tree. `Copy` and small: it lives in every [`Request`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallLink {
    /// The request that sent this one (`None`: an external request).
    pub(crate) parent: Option<RequestId>,
    /// The next step of the revision's plan to run ([`POST_DONE`] once post-processing was scheduled).
    next_step: u8,
    /// Children of the current step that have not answered.
    waiting: u16,
    /// The first non-200 status a child of the current step answered (0: none).
    failed: u16,
    /// The caller's own deadline while it waits for its children (cancelled when they answer).
    pub(crate) timer: Option<EventId>,
}

impl CallLink {
    /// Whether the request fails with a status a callee answered (the timeout or refusal is counted
    /// where it happened, not again here).
    #[inline]
    pub(crate) fn propagated(&self) -> bool {
        self.failed != 0
    }
}

/// `next_step` once post-processing was scheduled: the next `ServiceDone` answers.
const POST_DONE: u8 = u8::MAX;
/// Steps of one plan (`next_step` is a `u8` and [`POST_DONE`] is reserved).
pub const MAX_STEPS: usize = 200;
/// Targets of one step (`waiting` is a `u16`).
pub const MAX_TARGETS: usize = 1000;

/// A request attribute a Switch condition may test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attr {
    PromptTokens,
    OutputTokens,
}

/// A comparison of a Switch condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// `attr op value`, tested on a request's attributes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Condition {
    pub attr: Attr,
    pub op: Op,
    pub value: f64,
}

impl Condition {
    pub fn holds(&self, attrs: &RequestAttrs) -> bool {
        let v = f64::from(match self.attr {
            Attr::PromptTokens => attrs.prompt_tokens,
            Attr::OutputTokens => attrs.output_tokens,
        });
        match self.op {
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
            Op::Gt => v > self.value,
            Op::Ge => v >= self.value,
            Op::Eq => v == self.value,
            Op::Ne => v != self.value,
        }
    }
}

/// One step of a plan, naming its targets by service (revision) name.
#[derive(Clone, Debug, PartialEq)]
pub enum StepSpec {
    /// Call every target at once and wait for all.
    All(Vec<String>),
    /// Call one target, picked with probability weight / total.
    Pick(Vec<(String, u32)>),
    /// Call the target of the first condition that holds; none: skip the step.
    Switch(Vec<(Condition, String)>),
}

/// What a revision does around its own service time, by service name (resolved when the world is built).
#[derive(Clone, Debug)]
pub struct CallSpec {
    pub steps: Vec<StepSpec>,
    /// Pod time after the last step (post-processing).
    pub post_time: DurationDist,
    /// Whether the service keeps its own traffic source (false: it is only called).
    pub external: bool,
    /// A share of the service's external arrivals sent to another service instead (explain requests).
    pub divert: Option<(String, f64)>,
    /// What the summary's `services` block shows for the service (its scaling settings, its calls).
    pub describe: std::collections::BTreeMap<String, String>,
}

impl CallSpec {
    /// A service that is only called: no steps, no external traffic.
    pub fn callee() -> Self {
        CallSpec {
            steps: Vec::new(),
            post_time: DurationDist::constant(SimDuration::ZERO),
            external: false,
            divert: None,
            describe: Default::default(),
        }
    }
}

enum Step {
    All(Vec<RevisionId>),
    Pick(Vec<(RevisionId, u32)>, u32),
    Switch(Vec<(Condition, RevisionId)>),
}

struct Plan {
    steps: Vec<Step>,
    post: DurationDist,
}

/// The world's call plans, per revision, and the stream that draws diverted shares (a step's pick is the
/// request's own draw, from its key).
pub(crate) struct Calls {
    plans: Vec<Option<Plan>>,
    describe: Vec<Option<std::collections::BTreeMap<String, String>>>,
    divert: Vec<Option<(RevisionId, f64)>>,
    rng: SimRng,
}

impl Calls {
    /// The summary's description of revision `i`, if it has one.
    pub(crate) fn describe(&self, i: usize) -> Option<std::collections::BTreeMap<String, String>> {
        self.describe.get(i).cloned().flatten()
    }
}

impl Step {
    fn targets<R: rand::Rng + ?Sized>(
        &self,
        attrs: &RequestAttrs,
        rng: &mut R,
        out: &mut Vec<RevisionId>,
    ) {
        match self {
            Step::All(t) => out.extend_from_slice(t),
            Step::Pick(t, total) => {
                let mut u = rng.random_range(0..*total);
                for &(rv, w) in t {
                    if u < w {
                        out.push(rv);
                        return;
                    }
                    u -= w;
                }
            }
            Step::Switch(t) => {
                if let Some(&(_, rv)) = t.iter().find(|(c, _)| c.holds(attrs)) {
                    out.push(rv);
                }
            }
        }
    }
}

impl Sim {
    /// Installs the services' call plans (`specs[i]` is revision `i`'s); a world without any is untouched.
    pub(crate) fn install_calls(
        &mut self,
        specs: Vec<Option<Box<CallSpec>>>,
        seed: u64,
    ) -> Result<(), SimError> {
        if specs.iter().all(Option::is_none) {
            return Ok(());
        }
        let find = |name: &str| -> Result<RevisionId, SimError> {
            self.revisions
                .iter()
                .find(|r| r.name == name)
                .map(|r| r.id)
                .ok_or_else(|| SimError::Config(format!("a call names no service `{name}`")))
        };
        let describe = specs
            .iter()
            .map(|s| s.as_ref().map(|s| s.describe.clone()))
            .collect();
        let mut plans = Vec::with_capacity(specs.len());
        let mut divert = Vec::with_capacity(specs.len());
        let mut external = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let Some(spec) = spec else {
                plans.push(None);
                divert.push(None);
                external.push(true);
                continue;
            };
            if spec.steps.len() > MAX_STEPS {
                return Err(SimError::Config(format!(
                    "service `{}` has {} call steps; at most {MAX_STEPS}",
                    self.revisions[i].name,
                    spec.steps.len()
                )));
            }
            let mut steps = Vec::with_capacity(spec.steps.len());
            for s in &spec.steps {
                let step =
                    match s {
                        StepSpec::All(t) => {
                            Step::All(t.iter().map(|n| find(n)).collect::<Result<_, _>>()?)
                        }
                        StepSpec::Pick(t) => {
                            let total: u32 = t.iter().map(|(_, w)| *w).sum();
                            if total == 0 {
                                return Err(SimError::Config(format!(
                                    "service `{}`: a weighted step needs a positive total weight",
                                    self.revisions[i].name
                                )));
                            }
                            let t = t
                                .iter()
                                .map(|(n, w)| Ok((find(n)?, *w)))
                                .collect::<Result<_, SimError>>()?;
                            Step::Pick(t, total)
                        }
                        StepSpec::Switch(t) => Step::Switch(
                            t.iter()
                                .map(|(c, n)| Ok((*c, find(n)?)))
                                .collect::<Result<_, SimError>>()?,
                        ),
                    };
                if let Step::All(t) = &step {
                    if t.len() > MAX_TARGETS {
                        return Err(SimError::Config(format!(
                            "service `{}`: a step calls {} services; at most {MAX_TARGETS}",
                            self.revisions[i].name,
                            t.len()
                        )));
                    }
                }
                steps.push(step);
            }
            if !spec.steps.is_empty() && self.revisions[i].shared_rate {
                return Err(SimError::Config(format!(
                    "service `{}` calls other services, which only fixed-slot pods can (not processor sharing or GPU batching)",
                    self.revisions[i].name
                )));
            }
            plans.push(Some(Plan {
                steps,
                post: spec.post_time.clone(),
            }));
            divert.push(match &spec.divert {
                Some((n, share)) => Some((find(n)?, *share)),
                None => None,
            });
            external.push(spec.external);
        }
        for (i, ext) in external.iter().enumerate() {
            if !ext {
                if i == 0 {
                    self.open_loop = None;
                } else {
                    self.revisions[i].source = None;
                }
            }
        }
        self.calls = Some(Box::new(Calls {
            plans,
            describe,
            divert,
            rng: RngStreams::new(seed).stream(Stream::LoadBalancing),
        }));
        Ok(())
    }

    /// The revision an external arrival for `rv` goes to (another one for a diverted share).
    pub(crate) fn entry_revision(&mut self, rv: RevisionId) -> RevisionId {
        let Some(calls) = self.calls.as_mut() else {
            return rv;
        };
        match calls.divert.get(rv.index()).copied().flatten() {
            Some((to, share)) if calls.rng.random::<f64>() < share => to,
            _ => rv,
        }
    }

    /// The request on its pod finished its current stretch of pod time: runs the plan's next step or
    /// post-processing. Returns whether the request goes on (false: it answers now).
    pub(crate) fn advance_call(&mut self, now: SimTime, id: RequestId) -> bool {
        let Some(calls) = self.calls.as_mut() else {
            return false;
        };
        let r = self.requests[id.index()];
        let Some(plan) = calls.plans[r.revision.index()].as_ref() else {
            return false;
        };
        let link = self.links.get(id);
        if link.next_step == POST_DONE {
            return false;
        }
        let mut step = usize::from(link.next_step);
        let mut targets = Vec::new();
        while step < plan.steps.len() && targets.is_empty() {
            let rng = &mut RequestRng::new(r.draw_key, Draw::CallPick(step as u8));
            plan.steps[step].targets(&r.attrs, rng, &mut targets);
            step += 1;
        }
        if !targets.is_empty() {
            let timer = (r.deadline < SimTime::MAX)
                .then(|| self.at_cancellable(r.deadline, Event::CallTimeout(id)));
            self.requests[id.index()].stage = Stage::Waiting;
            let link = self.links.get_mut(id);
            link.next_step = step as u8;
            link.waiting = targets.len() as u16;
            link.failed = 0;
            link.timer = timer;
            for (i, rv) in targets.into_iter().enumerate() {
                let key = DrawKeys::child_key(r.draw_key, step as u8, i as u16);
                self.send_child(now, id, rv, key);
            }
            return true;
        }
        let post = plan
            .post
            .sample(&mut RequestRng::new(r.draw_key, Draw::Post));
        self.links.get_mut(id).next_step = POST_DONE;
        let r = &mut self.requests[id.index()];
        if post == SimDuration::ZERO {
            return false;
        }
        let done = now + post;
        let done = if done > r.deadline {
            r.status = 504;
            r.deadline
        } else {
            done
        };
        r.stage = Stage::Executing;
        self.at(done, Event::ServiceDone(id));
        true
    }

    /// Sends a child of `parent` to `rv`; `key` is derived from the parent's key and the child's place in
    /// its plan, so the child's draws do not depend on when its parent got there.
    fn send_child(&mut self, now: SimTime, parent: RequestId, rv: RevisionId, key: DrawKey) {
        let p = &self.requests[parent.index()];
        let attrs = RequestAttrs {
            service_time: None,
            ..p.attrs
        };
        let link = CallLink {
            parent: Some(parent),
            ..CallLink::default()
        };
        let request = Request::sent_at(now, rv, OPEN_LOOP, attrs, key);
        let id = self.alloc_request(request);
        *self.links.get_mut(id) = link;
        // The run's `in_flight` counts external requests; the callee's own count is in its stats.
        self.revisions[rv.index()].stats.arrival();
        let delay = self.one_way_delay(rv, key, Draw::PathIn);
        self.at(now + delay, Event::AtIngress(id));
    }

    /// A child's answer reached its caller (instead of a client): the child is done, and the parent goes
    /// on once all children of its step answered.
    pub(crate) fn child_answered(&mut self, now: SimTime, id: RequestId) {
        let r = self.requests[id.index()];
        self.requests[id.index()].stage = Stage::Free;
        self.free_requests.push(id.slot());
        self.service_response(r.revision, r.status == 200, (now - r.sent).0, r.cold);
        let Some(parent) = self.links.get(id).parent else {
            return;
        };
        let p = &mut self.requests[parent.index()];
        if p.generation != parent.generation() || p.stage != Stage::Waiting {
            // The parent already answered (its deadline passed, or its pod was killed).
            return;
        }
        p.cold |= r.cold;
        let link = self.links.get_mut(parent);
        if r.status != 200 && link.failed == 0 {
            link.failed = r.status;
        }
        link.waiting -= 1;
        if link.waiting > 0 {
            return;
        }
        let (timer, failed) = (link.timer.take(), link.failed);
        if let Some(ev) = timer {
            self.queue.cancel(ev);
        }
        self.requests[parent.index()].stage = Stage::Executing;
        if failed != 0 {
            self.requests[parent.index()].status = failed;
            self.links.get_mut(parent).next_step = POST_DONE;
            self.service_done(now, parent);
        } else if !self.advance_call(now, parent) {
            self.service_done(now, parent);
        }
    }

    /// A waiting caller's timer fired: unless the slot was reused or the caller stopped waiting since,
    /// its deadline passed.
    pub(crate) fn call_deadline(&mut self, now: SimTime, id: RequestId) {
        let r = &mut self.requests[id.index()];
        if r.generation != id.generation() || r.stage != Stage::Waiting {
            return;
        }
        self.links.get_mut(id).timer = None;
        self.call_timeout(now, id);
    }

    /// A waiting parent's deadline passed: it answers 504 and frees its slot.
    pub(crate) fn call_timeout(&mut self, now: SimTime, id: RequestId) {
        let r = &mut self.requests[id.index()];
        r.stage = Stage::Executing;
        r.status = 504;
        let link = self.links.get_mut(id);
        link.next_step = POST_DONE;
        link.failed = 0;
        self.service_done(now, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_compare_the_named_attribute() {
        let attrs = RequestAttrs {
            prompt_tokens: 120,
            output_tokens: 5,
            ..RequestAttrs::default()
        };
        let c = |attr, op, value| Condition { attr, op, value }.holds(&attrs);
        assert!(c(Attr::PromptTokens, Op::Gt, 100.0));
        assert!(!c(Attr::PromptTokens, Op::Lt, 100.0));
        assert!(c(Attr::OutputTokens, Op::Le, 5.0));
        assert!(c(Attr::OutputTokens, Op::Eq, 5.0));
        assert!(!c(Attr::OutputTokens, Op::Ne, 5.0));
        assert!(c(Attr::OutputTokens, Op::Ge, 5.0));
    }

    #[test]
    fn a_pick_follows_its_weights() {
        let a = RevisionId::new(1, 0);
        let b = RevisionId::new(2, 0);
        let step = Step::Pick(vec![(a, 80), (b, 20)], 100);
        let mut rng = RngStreams::new(3).stream(Stream::LoadBalancing);
        let n = 10_000;
        let mut to_a = 0;
        for _ in 0..n {
            let mut out = Vec::new();
            step.targets(&RequestAttrs::default(), &mut rng, &mut out);
            assert_eq!(out.len(), 1);
            to_a += usize::from(out[0] == a);
        }
        // Binomial(10000, 0.8): sd 40; 5 sd either side.
        assert!((7800..=8200).contains(&to_a), "{to_a}");
    }
}
