//! The event dispatch: starting a run, handing each event to the component that owns it, and the
//! [`Stepper`] that advances a run piecewise for the facade (`run` is one step to the end).
//!
//! Units: simulated time ([`SimTime`], ns); nothing here reads a clock.
//!
//! A run stops early only on an error: a traffic source that fails, a sink that cannot be written, or a
//! scaler asking for more pods than the simulator holds (`SimError::TooManyPods`, raised inside an event
//! and returned by the stepper right after it).

use crate::engine::Next;
use crate::observe::output::{RunSummary, TimeseriesSink};
use crate::sim::config::{SimConfig, SimError, Traffic};
use crate::sim::request_log::{RequestLog, RequestRecord};
use crate::sim::world::*;
use crate::time::{SimDuration, SimTime};
use crate::traffic::RequestAttrs;

/// Runs one simulation, streaming per-second rows to `sink`, and returns the summary.
pub fn run(
    cfg: SimConfig,
    traffic: Traffic,
    sink: &mut dyn TimeseriesSink,
) -> Result<RunSummary, SimError> {
    run_with_request_log(cfg, traffic, sink, None)
}

/// [`run`], also handing every finished request to `log` (for `requests.csv`; memory and disk then grow
/// with the number of requests, which is why it is opt-in).
pub fn run_with_request_log(
    cfg: SimConfig,
    traffic: Traffic,
    sink: &mut dyn TimeseriesSink,
    log: Option<&mut dyn RequestLog>,
) -> Result<RunSummary, SimError> {
    // One event loop: a whole run is one step to the end (see `Stepper`). The core reads no clock;
    // callers that report wall time measure it around the run.
    let mut stepper = Stepper::new(cfg, traffic)?;
    let end = stepper.end();
    stepper.step_until(end, sink, log)?;
    stepper.finish(sink)
}

/// Runs several services on one shared cluster (see `sim::services`): `sink` gets the world's per-second
/// rows (all services added up), `outputs` the per-service and cluster rows; the summary has a `services`
/// block.
pub fn run_services(
    name: &str,
    seed: u64,
    services: Vec<crate::sim::services::ServiceRun>,
    outputs: crate::sim::services::MultiOutputs,
    sink: &mut dyn TimeseriesSink,
) -> Result<RunSummary, SimError> {
    run_routed(name, seed, services, None, outputs, sink)
}

/// [`run_services`] where, with a `route`, the services are the revisions of one service: the first
/// one's traffic is the only source and the route picks a revision per request (see
/// `request_path::routes`); the summary then has a `route` block.
pub fn run_routed(
    name: &str,
    seed: u64,
    services: Vec<crate::sim::services::ServiceRun>,
    route: Option<crate::request_path::routes::RouteSpec>,
    outputs: crate::sim::services::MultiOutputs,
    sink: &mut dyn TimeseriesSink,
) -> Result<RunSummary, SimError> {
    let mut stepper = Stepper::new_services(name, seed, services, route, outputs)?;
    let end = stepper.end();
    stepper.step_until(end, sink, None)?;
    stepper.finish(sink)
}

impl Sim {
    pub(crate) fn start(&mut self) -> Result<(), SimError> {
        self.schedule_tick(SimTime::from_secs(1));
        for i in self.schedule_revisions() {
            let rv = self.revisions[i].id;
            let plan = self.revisions[i].scaler.start(self.end);
            self.check_replicas(SimTime::ZERO, rv, plan.replicas)?;
            for _ in 0..plan.replicas {
                self.create_pod(SimTime::ZERO, rv, plan.ready_now);
            }
            let rev = self.rev(rv);
            rev.desired = plan.replicas;
            rev.activator.in_path = plan.activator_in_path;
            self.max_desired = self.max_desired.max(plan.replicas);
            self.schedule_wake(rv, plan.wake_at);
            self.revision_started(i, if plan.ready_now { 0 } else { plan.replicas });
        }
        self.update_reachability();
        self.fetch_open_arrival()?;
        if let Some(driver) = self.closed_loop.as_mut() {
            for (client, at) in driver.initial_sends() {
                if at < self.traffic_end {
                    self.queue
                        .schedule(at, Event::ClientSend(client))
                        .expect("initial sends are not in the past");
                }
            }
        }
        Ok(())
    }

    /// Draws the world's next open-loop arrival and queues its event. Always inlined: it runs for every
    /// arrival.
    #[inline(always)]
    pub(crate) fn fetch_open_arrival(&mut self) -> Result<(), SimError> {
        if let Some(source) = self.open_loop.as_mut() {
            match source.next_arrival(&mut self.rng.traffic)? {
                Some(arrival) if arrival.at < self.traffic_end => {
                    let at = arrival.at.max(self.queue.now());
                    self.pending_arrival = Some(arrival);
                    self.at_in_order(at, OrderedLane::OpenArrivals, Event::OpenArrival);
                }
                _ => self.open_loop = None,
            }
        }
        Ok(())
    }

    /// Hands `event` to its component. Always inlined into the loop ([`Stepper::step_until`]), its one
    /// caller, with the request path's hot handlers inlined into it.
    #[inline(always)]
    pub(crate) fn handle(
        &mut self,
        now: SimTime,
        event: Event,
        sink: &mut dyn TimeseriesSink,
    ) -> Result<(), SimError> {
        match event {
            Event::OpenArrival => {
                let sent = self
                    .pending_arrival
                    .take()
                    .map(|arrival| self.send(now, OPEN_LOOP, arrival.attrs));
                self.fetch_open_arrival()?;
                if let Some(sent) = sent {
                    self.reach_ingress(sent);
                }
            }
            Event::ClientSend(client) => {
                let sent = self.send(now, client, RequestAttrs::default());
                self.reach_ingress(sent);
            }
            Event::ServiceArrival(rv) => self.service_arrival(now, rv)?,
            Event::AtIngress(req) => self.at_ingress(now, req),
            Event::ServiceDone(req) => self.service_done(now, req),
            Event::AtClient(req) => self.at_client(now, req),
            Event::PodReady(p) if self.is_live(p) => {
                self.pod_ready(now, p.revision(), p.pod().slot());
                self.route_pod_ready(now, p.revision());
            }
            Event::RevisionCreated(rv) => self.create_revision(now, rv)?,
            Event::RouteStep => self.route_step(now),
            Event::PodProbed(p) if self.is_live(p) => {
                self.pod_probed(now, p.revision(), p.pod().slot())
            }
            Event::PodGraceOver(p) if self.is_live(p) => {
                self.pod_grace_over(now, p.revision(), p.pod().slot())
            }
            Event::PodDrained(p) if self.is_live(p) => {
                self.pod_drained(now, p.revision(), p.pod().slot())
            }
            Event::PodNextDone(p) if self.is_live(p) => {
                self.shared_done(now, p.revision(), p.pod().slot())
            }
            Event::CallTimeout(req) => self.call_deadline(now, req),
            Event::PodQueueTimeout(p) if self.is_live(p) => {
                self.pod_queue_timeout(now, p.revision(), p.pod().slot())
            }
            // A lifecycle event of a pod whose slot has been reused since.
            Event::PodReady(_)
            | Event::PodProbed(_)
            | Event::PodGraceOver(_)
            | Event::PodDrained(_)
            | Event::PodNextDone(_)
            | Event::PodQueueTimeout(_) => {}
            Event::NodeReady(node) => {
                self.cluster.node_ready(node, now);
                self.place_pending(now);
            }
            Event::ActivatorTimeout(rv, a) => self.activator_timeout(now, rv, a as usize),
            Event::ScalerWake(rv) => {
                let rev = self.rev(rv);
                rev.wake = None;
                let d = rev.scaler.on_wake(now, rev.ready.len() as u32);
                self.apply(now, rv, d);
            }
            Event::Tick => {
                self.tick(now, sink)?;
                let next = now + SimDuration::from_secs(1);
                if next <= self.end {
                    self.schedule_tick(next);
                } else {
                    self.next_tick = SimTime::MAX;
                }
            }
        }
        Ok(())
    }
}

// Stepping support for the library facade (`sim::facade`). Kept at the end of the file and self-contained
// so the event loop's owner can restructure `Sim` freely: it needs only `Sim::new`, `start`, `handle`,
// `finish`, the queue and the request record of `AtClient`, exactly as `run_with_request_log` does.

/// A run in progress that can be advanced piecewise; `step_until(t)` then `step_until(end)` processes the
/// same events in the same order as one [`run_with_request_log`].
pub(crate) struct Stepper {
    sim: Sim,
    done: bool,
}

impl Stepper {
    /// Every hop as an event of its own (the reference the shortcuts are checked against).
    #[cfg(test)]
    pub(crate) fn every_hop_an_event(&mut self) {
        self.sim.hop_shortcuts = false;
    }

    #[cfg(test)]
    pub(crate) fn world(&self) -> &Sim {
        &self.sim
    }

    pub(crate) fn new(cfg: SimConfig, traffic: Traffic) -> Result<Self, SimError> {
        let mut sim = Sim::new(cfg, traffic);
        sim.start()?;
        Ok(Stepper { sim, done: false })
    }

    /// A run of several services sharing one cluster (see `sim::services`).
    pub(crate) fn new_services(
        name: &str,
        seed: u64,
        services: Vec<crate::sim::services::ServiceRun>,
        route: Option<crate::request_path::routes::RouteSpec>,
        outputs: crate::sim::services::MultiOutputs,
    ) -> Result<Self, SimError> {
        let mut sim = Sim::new_services(name, seed, services, outputs)?;
        if let Some(spec) = route {
            if spec.revisions.len() != sim.revisions.len() {
                return Err(SimError::Config(format!(
                    "the route names {} revisions but {} were built",
                    spec.revisions.len(),
                    sim.revisions.len()
                )));
            }
            // One traffic source feeds the route: the revisions after the first have none of their own.
            for rev in &mut sim.revisions[1..] {
                rev.source = None;
            }
            sim.route = Some(crate::request_path::route_loop::RouteState::new(spec, seed));
        }
        sim.start()?;
        sim.start_services()?;
        Ok(Stepper { sim, done: false })
    }

    /// Replaces where a run of several services writes its per-service and cluster rows (before the first
    /// tick, which writes the first rows).
    pub(crate) fn set_service_outputs(&mut self, outputs: crate::sim::services::MultiOutputs) {
        self.sim.multi = Some(outputs);
    }

    /// The end of the run (traffic plus cooldown).
    pub(crate) fn end(&self) -> SimTime {
        self.sim.end
    }

    /// Handles every event at or before `until` (and before the end of the run). Returns whether the run
    /// has nothing left to do.
    pub(crate) fn step_until(
        &mut self,
        until: SimTime,
        sink: &mut dyn TimeseriesSink,
        mut log: Option<&mut dyn RequestLog>,
    ) -> Result<bool, SimError> {
        if let Some(hit) = self.sim.halt {
            return Err(hit.into());
        }
        if self.done {
            return Ok(true);
        }
        let sim = &mut self.sim;
        sim.second.keep_latencies = sink.reads_latency_percentiles();
        // Hops are taken early only up to where this step stops, so the state between steps is that of a
        // run ending there (`summary_so_far` reads it), and never while a log records each answer's event.
        sim.step_end = until.min(sim.end);
        sim.answer_horizon = if log.is_some() {
            SimTime::ZERO
        } else {
            sim.step_end
        };
        let done = loop {
            let end = sim.end;
            let (now, event) = match sim.queue.pop_if(|t| t > end || t <= until) {
                Next::Event(now, event) => (now, event),
                Next::Declined(_) => break false,
                Next::Empty => break true,
            };
            // Like `run_with_request_log`, the first event past the end is popped (and counted) unhandled.
            if now > sim.end {
                break true;
            }
            sim.prefetch_next_event();
            if let (Event::AtClient(id), Some(log)) = (event, log.as_deref_mut()) {
                let r = &sim.requests[id.index()];
                log.record(&RequestRecord {
                    sent: r.sent,
                    finished: now,
                    status: r.status,
                    pod: r.pod,
                    via_activator: r.via_activator,
                    waited_for_cold_start: r.cold,
                    ttft: (r.status == 200)
                        .then_some(sim.tokens.get(id).ttft_ns)
                        .flatten()
                        .map(SimDuration),
                    tpot: (r.status == 200)
                        .then_some(sim.tokens.get(id).tpot_ns)
                        .flatten()
                        .map(SimDuration),
                })?;
            }
            sim.handle(now, event, sink)?;
            if let Some(hit) = sim.halt {
                return Err(hit.into());
            }
        };
        // The summary may be read now (`summary_at`), and a paused run may wait a long while (a tune
        // keeps a rung's runs until all are ranked): the counted latencies go into the histogram.
        sim.latency_counts.move_into(&mut sim.latency);
        self.done = done;
        Ok(done)
    }

    /// The summary of the run up to `at`, the time it has been stepped to, as if it ended there (see
    /// `Sim::summary_at`); the run can go on.
    pub(crate) fn summary_at(&self, at: SimTime) -> Result<RunSummary, SimError> {
        if let Some(hit) = self.sim.halt {
            return Err(hit.into());
        }
        Ok(self.sim.summary_at(at.min(self.sim.end)))
    }

    /// Writes the final (possibly partial) row to `sink` and returns the summary.
    pub(crate) fn finish(self, sink: &mut dyn TimeseriesSink) -> Result<RunSummary, SimError> {
        if let Some(hit) = self.sim.halt {
            return Err(hit.into());
        }
        self.sim.finish(sink)
    }
}
