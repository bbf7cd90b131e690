//! A Knative route over several revisions of one service: which revision each request goes to, how the
//! split changes when a new revision becomes ready (at once, or gradually over
//! `serving.knative.dev/rollout-duration`), and which revisions the route references (the others are
//! unreachable, and their autoscaler drops min-scale as Knative's does).
//!
//! Model (read from knative/serving's route reconciler and its `traffic/rollout` package, not copied):
//!
//! * Targets are `spec.traffic` as written: a percentage each, pointing at a named revision or at the
//!   configuration's latest **ready** revision (`latestRevision: true`). Percentages are whole numbers
//!   summing to 100 (checked when the scenario is read).
//! * A revision is Ready once the pods it started with are Ready (its initial scale; a revision that starts
//!   with no pods is Ready at once, as with `allow-zero-initial-scale`). Until then `latestRevision`
//!   targets keep pointing at the previous ready revision, so no request reaches a revision that is not
//!   Ready.
//! * Without a rollout duration the latest targets move to the new revision at once. With one, Knative's
//!   gradual rollout: the new revision starts at 1 % (taken from the newest older revision that has
//!   traffic); when the ingress has programmed that (modelled as 1 s later) the step plan is fixed:
//!   `d = max(1, duration - 1 s)`, `steps = min(max(1, d / 1 s), P - 1)`, step size `round((P - 1) / steps)`
//!   percent every `d / steps`, where `P` is the latest targets' total. Each step moves the step size from
//!   the older revisions (the newest first) to the new one, capped at `P`; older revisions that reach 0 %
//!   leave the rollout.
//! * The ingress picks a revision per request by the current percentages, from a dedicated random stream
//!   (one draw per request), so routing never shifts the service-time, network or traffic draws.
//! * Reachability: a revision is reachable while a target names it (at any percentage, a tagged 0 % target
//!   included) or while it holds a share of the latest targets. The KPA of an unreachable revision ignores
//!   min-scale and last-pod retention and scales down without the max-scale-down-rate limit.
//!
//! Simplifications: one configuration (every `latestRevision` target follows the same latest ready
//! revision, and they roll out together); a named target whose revision is not created or not Ready yet
//! gives its share to the latest ready revision (Knative would keep the route's last ready state);
//! the ingress's programming delay is 1 s for the first rollout step and zero otherwise; tags give no
//! separate URL (one traffic source feeds the route).
//!
//! Units: time in ns ([`SimTime`], [`SimDuration`]); percentages are whole percent.

use crate::engine::SimRng;
use crate::time::{SimDuration, SimTime, NANOS_PER_SEC};
use rand::RngExt;

/// What a traffic target points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetRef {
    /// `latestRevision: true`: the latest ready revision.
    Latest,
    /// `revisionName`: the revision at this index of [`RouteSpec::revisions`].
    Revision(usize),
}

/// One entry of `spec.traffic`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficTarget {
    pub target: TargetRef,
    pub percent: u32,
    pub tag: Option<String>,
}

/// One revision of the routed service, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionPlan {
    pub name: String,
    /// When the revision is created (`kubectl apply` of its template); the first one exists from 0.
    pub created_at: SimTime,
}

/// A validated route: the service's revisions, its traffic targets and its rollout duration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub revisions: Vec<RevisionPlan>,
    pub targets: Vec<TrafficTarget>,
    /// `serving.knative.dev/rollout-duration` (zero: traffic moves at once).
    pub rollout_duration: SimDuration,
}

/// The gradual rollout's step plan (Knative's step parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct StepPlan {
    size: u32,
    every: SimDuration,
}

/// A change of the route's percentages, for the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteChange {
    pub at: SimTime,
    /// Percent per revision (index order).
    pub percents: Vec<u32>,
}

/// The route as the run evolves it.
pub struct Route {
    spec: RouteSpec,
    rng: SimRng,
    ready_at: Vec<Option<SimTime>>,
    /// Ready pods a revision needs to be Ready (its initial pods); `None` until it is created.
    threshold: Vec<Option<u32>>,
    latest_ready: usize,
    /// The latest targets' share per revision, oldest first (Knative's rollout list for the configuration).
    rollout: Vec<(usize, u32)>,
    plan: Option<StepPlan>,
    /// When the next step is due (the first one once the plan is fixed).
    next_step: Option<SimTime>,
    /// When the plan is fixed (the ingress has programmed the 1 % split).
    observe_at: Option<SimTime>,
    percents: Vec<u32>,
    /// Requests routed to each revision.
    pub routed: Vec<u64>,
    /// Every change of the percentages (the first entry is the split at time 0).
    pub changes: Vec<RouteChange>,
}

/// The ingress programs a new split this long after the route reconciler asked (first rollout step only).
pub const INGRESS_PROGRAMMING: SimDuration = SimDuration(NANOS_PER_SEC);

impl Route {
    /// The route at time 0: the first revision is the service's running one, Ready from the start.
    pub fn new(spec: RouteSpec, rng: SimRng) -> Self {
        let n = spec.revisions.len();
        let latest: u32 = latest_percent(&spec.targets);
        let mut route = Route {
            ready_at: vec![None; n],
            threshold: vec![None; n],
            latest_ready: 0,
            rollout: if latest > 0 {
                vec![(0, latest)]
            } else {
                Vec::new()
            },
            plan: None,
            next_step: None,
            observe_at: None,
            percents: vec![0; n],
            routed: vec![0; n],
            changes: Vec::new(),
            rng,
            spec,
        };
        route.ready_at[0] = Some(SimTime::ZERO);
        route.recompute(SimTime::ZERO);
        route
    }

    pub fn spec(&self) -> &RouteSpec {
        &self.spec
    }

    /// The current percent of each revision.
    pub fn percents(&self) -> &[u32] {
        &self.percents
    }

    pub fn ready_at(&self, revision: usize) -> Option<SimTime> {
        self.ready_at[revision]
    }

    /// The revision a request goes to (one draw from the route's own stream).
    pub fn pick(&mut self) -> usize {
        let draw = self.rng.random_range(0..100u32);
        let mut acc = 0;
        for (i, &p) in self.percents.iter().enumerate() {
            acc += p;
            if draw < acc {
                self.routed[i] += 1;
                return i;
            }
        }
        // Unreachable with percentages summing to 100; the latest ready revision is the safe answer.
        self.routed[self.latest_ready] += 1;
        self.latest_ready
    }

    /// Whether the route references `revision` (see the module docs).
    pub fn reachable(&self, revision: usize) -> bool {
        self.spec
            .targets
            .iter()
            .any(|t| t.target == TargetRef::Revision(revision))
            || self.rollout.iter().any(|&(r, _)| r == revision)
    }

    /// The revision was created with `initial` pods; returns whether it is Ready already (no pods to wait for).
    pub fn created(&mut self, now: SimTime, revision: usize, initial: u32) -> bool {
        self.threshold[revision] = Some(initial);
        initial == 0 && self.mark_ready(now, revision)
    }

    /// A pod of `revision` became Ready and it has `ready` Ready pods; returns whether the route changed.
    pub fn pod_ready(&mut self, now: SimTime, revision: usize, ready: u32) -> bool {
        match self.threshold[revision] {
            Some(t) if self.ready_at[revision].is_none() && ready >= t => {
                self.mark_ready(now, revision)
            }
            _ => false,
        }
    }

    /// When the route next changes by itself (a rollout step), if ever.
    pub fn next_change(&self) -> Option<SimTime> {
        self.observe_at.or(self.next_step)
    }

    /// Runs the rollout step due at `now`; returns whether the percentages changed.
    pub fn step(&mut self, now: SimTime) -> bool {
        if let Some(at) = self.observe_at {
            if now < at {
                return false;
            }
            self.observe_at = None;
            self.fix_plan(now);
            return false;
        }
        match (self.plan, self.next_step) {
            (Some(plan), Some(at)) if now >= at => {
                self.step_revisions(now, plan);
                self.recompute(now);
                true
            }
            _ => false,
        }
    }

    fn mark_ready(&mut self, now: SimTime, revision: usize) -> bool {
        self.ready_at[revision] = Some(now);
        if revision <= self.latest_ready {
            // Not the newest: routing changes only if a named target waited for it.
            return self.recompute(now);
        }
        self.latest_ready = revision;
        let total = latest_percent(&self.spec.targets);
        if total == 0 {
            return self.recompute(now);
        }
        if self.spec.rollout_duration == SimDuration::ZERO || total <= 1 {
            self.rollout = vec![(revision, total)];
            self.plan = None;
            self.next_step = None;
            self.observe_at = None;
        } else {
            // Knative gives the new revision 1 %, taken from the newest older revision with traffic.
            if let Some(e) = self.rollout.iter_mut().rev().find(|e| e.1 > 0) {
                e.1 -= 1;
            }
            self.rollout.retain(|e| e.1 > 0);
            self.rollout.push((revision, 1));
            self.plan = None;
            self.next_step = None;
            self.observe_at = Some(now + INGRESS_PROGRAMMING);
        }
        self.recompute(now)
    }

    /// Knative's computeProperties, with the first 1 % having taken one second.
    fn fix_plan(&mut self, now: SimTime) {
        let total = latest_percent(&self.spec.targets);
        let min_step_s = 1.0;
        let d = (self.spec.rollout_duration.as_secs_f64() - min_step_s).max(1.0);
        let remaining = f64::from(total - 1);
        let steps = (d / min_step_s).max(1.0).min(remaining);
        if steps <= 0.0 || self.rollout.len() < 2 {
            return;
        }
        let size = (remaining / steps).round() as u32;
        let every = SimDuration((d / steps * 1e9) as u64);
        self.plan = Some(StepPlan { size, every });
        self.next_step = Some(now + every);
    }

    /// Knative's stepRevisions: drain `size` percent from the older revisions, newest first.
    fn step_revisions(&mut self, now: SimTime, plan: StepPlan) {
        let total = latest_percent(&self.spec.targets);
        let n = self.rollout.len();
        if n < 2 {
            self.plan = None;
            self.next_step = None;
            return;
        }
        let mut remaining = plan.size;
        let mut keep = n - 1; // older revisions kept: rollout[..keep]
        while remaining > 0 && keep > 0 {
            let e = &mut self.rollout[keep - 1];
            if e.1 > remaining {
                e.1 -= remaining;
                remaining = 0;
            } else {
                remaining -= e.1;
                keep -= 1;
            }
        }
        let mut newest = self.rollout[n - 1];
        newest.1 = (newest.1 + plan.size).min(total);
        self.rollout.truncate(keep);
        self.rollout.push(newest);
        if self.rollout.len() > 1 {
            self.next_step = Some(now + plan.every);
        } else {
            self.plan = None;
            self.next_step = None;
        }
    }

    /// The per-revision percentages from the targets; records a change. Returns whether they changed.
    fn recompute(&mut self, now: SimTime) -> bool {
        let mut p = vec![0u32; self.percents.len()];
        for t in &self.spec.targets {
            match t.target {
                TargetRef::Revision(i) if self.ready_at[i].is_some() => p[i] += t.percent,
                TargetRef::Revision(_) => p[self.latest_ready] += t.percent,
                TargetRef::Latest => {}
            }
        }
        for &(r, share) in &self.rollout {
            p[r] += share;
        }
        if p == self.percents && !self.changes.is_empty() {
            return false;
        }
        self.percents.clone_from(&p);
        self.changes.push(RouteChange {
            at: now,
            percents: p,
        });
        true
    }
}

/// The `route` block of `summary.json`: per revision, when it was created and became Ready, the
/// requests the route sent it and their share; and every change of the split.
#[derive(Clone, Debug, Default, serde::Serialize, PartialEq)]
pub struct RouteSummary {
    pub rollout_duration_s: f64,
    pub requests: u64,
    pub revisions: Vec<RevisionShare>,
    /// `[time_s, percent of each revision]` at every change (the first is the split at time 0).
    pub changes: Vec<(f64, Vec<u32>)>,
}

#[derive(Clone, Debug, Default, serde::Serialize, PartialEq)]
pub struct RevisionShare {
    pub name: String,
    pub created_s: f64,
    /// `None`: never Ready during the run.
    pub ready_s: Option<f64>,
    pub requests: u64,
    /// `requests` over every routed request.
    pub share: f64,
    /// Its percent at the end of the run.
    pub final_percent: u32,
}

impl RouteSummary {
    /// The route block as the CLI prints it: one line per revision.
    pub fn table(&self) -> String {
        let mut out = format!(
            "  {:<28} {:>9} {:>9} {:>10} {:>7} {:>8}\n",
            "revision", "created s", "ready s", "requests", "share", "final %"
        );
        for r in &self.revisions {
            let ready = r.ready_s.map_or("-".to_string(), |s| format!("{s:.1}"));
            out.push_str(&format!(
                "  {:<28} {:>9.1} {:>9} {:>10} {:>6.1}% {:>8}\n",
                r.name,
                r.created_s,
                ready,
                r.requests,
                r.share * 100.0,
                r.final_percent
            ));
        }
        out
    }
}

impl Route {
    pub fn summary(&self) -> RouteSummary {
        let total: u64 = self.routed.iter().sum();
        let secs = |t: SimTime| t.0 as f64 / 1e9;
        RouteSummary {
            rollout_duration_s: self.spec.rollout_duration.as_secs_f64(),
            requests: total,
            revisions: self
                .spec
                .revisions
                .iter()
                .enumerate()
                .map(|(i, r)| RevisionShare {
                    name: r.name.clone(),
                    created_s: secs(r.created_at),
                    ready_s: self.ready_at[i].map(secs),
                    requests: self.routed[i],
                    share: if total > 0 {
                        self.routed[i] as f64 / total as f64
                    } else {
                        0.0
                    },
                    final_percent: self.percents[i],
                })
                .collect(),
            changes: self
                .changes
                .iter()
                .map(|c| (secs(c.at), c.percents.clone()))
                .collect(),
        }
    }
}

fn latest_percent(targets: &[TrafficTarget]) -> u32 {
    targets
        .iter()
        .filter(|t| t.target == TargetRef::Latest)
        .map(|t| t.percent)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{RngStreams, Stream};

    fn spec(targets: Vec<TrafficTarget>, rollout_s: u64) -> RouteSpec {
        RouteSpec {
            revisions: vec![
                RevisionPlan {
                    name: "a".into(),
                    created_at: SimTime::ZERO,
                },
                RevisionPlan {
                    name: "b".into(),
                    created_at: SimTime::from_secs(10),
                },
            ],
            targets,
            rollout_duration: SimDuration::from_secs(rollout_s),
        }
    }

    fn latest(percent: u32) -> TrafficTarget {
        TrafficTarget {
            target: TargetRef::Latest,
            percent,
            tag: None,
        }
    }

    fn rng() -> SimRng {
        RngStreams::new(7).indexed(Stream::LoadBalancing, 1)
    }

    #[test]
    fn latest_moves_only_when_the_new_revision_is_ready() {
        let mut r = Route::new(spec(vec![latest(100)], 0), rng());
        assert_eq!(r.percents(), &[100, 0]);
        assert!(!r.created(SimTime::from_secs(10), 1, 1));
        assert_eq!(r.percents(), &[100, 0]);
        assert!(r.reachable(0) && !r.reachable(1));
        assert!(r.pod_ready(SimTime::from_secs(40), 1, 1));
        assert_eq!(r.percents(), &[0, 100]);
        assert!(!r.reachable(0) && r.reachable(1));
    }

    #[test]
    fn a_canary_split_keeps_the_named_revision_reachable() {
        let targets = vec![
            latest(20),
            TrafficTarget {
                target: TargetRef::Revision(0),
                percent: 80,
                tag: Some("prev".into()),
            },
        ];
        let mut r = Route::new(spec(targets, 0), rng());
        r.created(SimTime::from_secs(10), 1, 1);
        r.pod_ready(SimTime::from_secs(30), 1, 1);
        assert_eq!(r.percents(), &[80, 20]);
        assert!(r.reachable(0) && r.reachable(1));
    }

    /// 100 % over 100 s: 1 % at readiness, plan fixed 1 s later, then 99 steps of 1 % every 99/99 s.
    #[test]
    fn gradual_rollout_steps_as_knative_computes() {
        let mut r = Route::new(spec(vec![latest(100)], 100), rng());
        let t0 = SimTime::from_secs(20);
        r.created(SimTime::from_secs(10), 1, 1);
        assert!(r.pod_ready(t0, 1, 1));
        assert_eq!(r.percents(), &[99, 1]);
        assert_eq!(r.next_change(), Some(t0 + INGRESS_PROGRAMMING));
        r.step(t0 + INGRESS_PROGRAMMING);
        let every = SimDuration::from_secs(1);
        assert_eq!(r.next_change(), Some(t0 + INGRESS_PROGRAMMING + every));
        let mut steps = 0;
        while let Some(at) = r.next_change() {
            assert!(r.step(at));
            steps += 1;
            assert_eq!(r.percents()[1], 1 + steps);
        }
        assert_eq!(steps, 99);
        assert_eq!(r.percents(), &[0, 100]);
        assert!(!r.reachable(0));
    }

    #[test]
    fn a_short_rollout_uses_bigger_steps() {
        // 100 % over 5 s: d = 4 s, 4 steps of round(99 / 4) = 25 % every second: 1, 26, 51, 76, 100.
        let mut r = Route::new(spec(vec![latest(100)], 5), rng());
        r.created(SimTime::from_secs(10), 1, 1);
        r.pod_ready(SimTime::from_secs(20), 1, 1);
        let mut seen = vec![r.percents()[1]];
        while let Some(at) = r.next_change() {
            if r.step(at) {
                seen.push(r.percents()[1]);
            }
        }
        assert_eq!(seen, vec![1, 26, 51, 76, 100]);
    }

    use proptest::prelude::*;

    proptest! {
        /// Whatever the split, rollout duration and readiness order: the percentages always sum to 100, a
        /// revision that is not Ready never has a share, and a rollout only ever grows the newest revision.
        #[test]
        fn percentages_stay_whole_and_never_reach_an_unready_revision(
            latest_p in 0u32..=100,
            named_to in 0usize..3,
            rollout_s in 0u64..400,
            ready in proptest::collection::vec((1u64..600, 0u32..3), 2),
        ) {
            let mut targets = vec![latest(latest_p)];
            if latest_p < 100 {
                targets.push(TrafficTarget {
                    target: TargetRef::Revision(named_to),
                    percent: 100 - latest_p,
                    tag: None,
                });
            }
            let mut sp = spec(targets, rollout_s);
            sp.revisions.push(RevisionPlan { name: "c".into(), created_at: SimTime::from_secs(20) });
            let mut r = Route::new(sp, rng());
            r.created(SimTime::from_secs(10), 1, ready[0].1);
            r.created(SimTime::from_secs(20), 2, ready[1].1);
            // Readiness events (revision, time) in time order, interleaved with the rollout's steps.
            let mut events: Vec<(SimTime, usize)> = vec![
                (SimTime::from_secs(20 + ready[0].0), 1),
                (SimTime::from_secs(20 + ready[1].0), 2),
            ];
            events.sort();
            let check = |r: &Route| -> Result<(), TestCaseError> {
                prop_assert_eq!(r.percents().iter().sum::<u32>(), 100);
                for (i, &p) in r.percents().iter().enumerate() {
                    prop_assert!(p == 0 || r.ready_at(i).is_some(), "{:?}", r.percents());
                }
                Ok(())
            };
            check(&r)?;
            let mut newest_share = 0;
            let mut newest = 0;
            let mut guard = 0;
            loop {
                guard += 1;
                prop_assert!(guard < 10_000);
                let next_ready = events.first().map(|e| e.0);
                let step = r.next_change();
                match (step, next_ready) {
                    (Some(at), t) if t.is_none_or(|t| at < t) => {
                        r.step(at);
                    }
                    (_, Some(t)) => {
                        let (_, rev) = events.remove(0);
                        r.pod_ready(t, rev, 1000);
                    }
                    _ => break,
                }
                check(&r)?;
                let n = r.spec().revisions.iter().enumerate()
                    .filter(|(i, _)| r.ready_at(*i).is_some()).map(|(i, _)| i).max().unwrap_or(0);
                if n != newest {
                    newest = n;
                    newest_share = 0;
                }
                // The newest revision's share of the latest targets (the named share it holds aside).
                let named_here = named_to == newest || r.ready_at(named_to).is_none();
                let own = r.percents()[newest] - if named_here { 100 - latest_p } else { 0 };
                prop_assert!(own >= newest_share, "the newest revision lost traffic: {:?}", r.changes);
                newest_share = own;
            }
            // At the end the latest targets all sit on the newest ready revision.
            let named = if named_to == newest { 100 - latest_p } else { 0 };
            prop_assert_eq!(r.percents()[newest], latest_p + named);
        }
    }

    #[test]
    fn picks_follow_the_percentages() {
        let targets = vec![
            latest(30),
            TrafficTarget {
                target: TargetRef::Revision(0),
                percent: 70,
                tag: None,
            },
        ];
        let mut r = Route::new(spec(targets, 0), rng());
        r.created(SimTime::from_secs(10), 1, 0);
        let n = 20_000;
        let to_new = (0..n).filter(|_| r.pick() == 1).count() as f64;
        // Binomial(20000, 0.3): sd ≈ 64.8; 5 sd either side.
        assert!((to_new - 6000.0).abs() < 5.0 * 64.8, "{to_new}");
    }
}
