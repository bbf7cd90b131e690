//! Pod startup (cold start): the time from a pod being created to Kubernetes seeing it Ready, either as
//! one number (`pod.cold_start`) or phase by phase (`pod.phases`):
//!
//! 1. **scheduling**: from the moment a node fits to the binding (scheduler latency). Time spent Pending
//!    because no node fits is also counted in this phase in the summary.
//! 2. **image pull**: the first pod on a node pulls the image (`image_pull.first`); later pods on the same
//!    node find it cached (`image_pull.cached`). A pod placed while the node's first pull is still running
//!    waits for it (the kubelet pulls an image once). Nodes never evict the image (simplification).
//! 3. **container start**: runtime creates and starts the container.
//! 4. **model load**: `model_size / model_bandwidth` (download from object storage) plus the `model_load`
//!    distribution (deserialisation, moving weights to the GPU, warm-up).
//! 5. **readiness**: probes start `initial_delay` after the container starts and repeat every `period`;
//!    the pod is Ready at the first probe at or after the model is loaded (successThreshold 1).
//!
//! All phase durations are in simulated time (integer ns); samples come from the cold-start stream.
//! With the single-number form the whole cold start is reported as `container_start`.
//!
//! A plan also says when the user container is ready (the model loaded; the end of the single-number
//! cold start), which the activator's probe optimisation uses to route before the kubelet's Ready. With
//! the single-number form the kubelet can be set to follow `request_path.activator.kubelet_readiness_delay`
//! later ([`Plan::with_kubelet_delay`]; default 0s).

use crate::dist::DurationDist;
use crate::engine::SimRng;
use crate::time::{SimDuration, SimTime};

/// How pods start.
#[derive(Clone, Debug)]
pub enum Startup {
    /// The whole cold start as one distribution (placement on a node still has to succeed first).
    Single(DurationDist),
    Phases(Box<Phases>),
}

/// Phase-by-phase startup (validated by the scenario loader).
#[derive(Clone, Debug)]
pub struct Phases {
    pub scheduling: DurationDist,
    pub image_pull_first: DurationDist,
    pub image_pull_cached: DurationDist,
    pub container_start: DurationDist,
    pub model_load: DurationDist,
    /// model size / download bandwidth.
    pub model_transfer: SimDuration,
    pub probe_initial_delay: SimDuration,
    pub probe_period: SimDuration,
}

/// Duration of each phase of one pod's startup.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PhaseTimes {
    pub scheduling: SimDuration,
    pub image_pull: SimDuration,
    pub container_start: SimDuration,
    pub model_load: SimDuration,
    pub readiness: SimDuration,
}

impl PhaseTimes {
    pub fn total(&self) -> SimDuration {
        self.scheduling + self.image_pull + self.container_start + self.model_load + self.readiness
    }
}

/// The startup plan of a pod placed on a node at `now`.
pub struct Plan {
    /// When the binding happens (the pod stops being Pending).
    pub bound_at: SimTime,
    /// When the user container is ready (what the queue-proxy's probe of it reports): the end of the
    /// single-number cold start, or the end of the model load with phases.
    pub container_ready_at: SimTime,
    /// When the kubelet marks the pod Ready.
    pub ready_at: SimTime,
    /// Phase durations, `scheduling` covering only the scheduler latency (the caller adds the wait).
    pub phases: PhaseTimes,
}

impl Plan {
    /// The kubelet marks the pod Ready `delay` after the container is ready (the single-number cold start
    /// with `request_path.activator.kubelet_readiness_delay`); the delay counts as the readiness phase.
    pub fn with_kubelet_delay(mut self, delay: SimDuration) -> Self {
        self.ready_at += delay;
        self.phases.readiness += delay;
        self
    }
}

impl Startup {
    /// Plans the startup of a pod placed at `now` on a node whose image is available from
    /// `image_ready_at` (`None` = not pulled yet). Returns the plan and the node's new image time.
    pub fn plan(
        &self,
        now: SimTime,
        image_ready_at: Option<SimTime>,
        rng: &mut SimRng,
    ) -> (Plan, Option<SimTime>) {
        match self {
            Startup::Single(d) => {
                let total = d.sample(rng);
                let plan = Plan {
                    bound_at: now,
                    container_ready_at: now + total,
                    ready_at: now + total,
                    phases: PhaseTimes {
                        container_start: total,
                        ..PhaseTimes::default()
                    },
                };
                (plan, image_ready_at)
            }
            Startup::Phases(p) => {
                let scheduling = p.scheduling.sample(rng);
                let bound = now + scheduling;
                let (pulled, image) = match image_ready_at {
                    None => {
                        let t = bound + p.image_pull_first.sample(rng);
                        (t, Some(t))
                    }
                    Some(at) => ((bound + p.image_pull_cached.sample(rng)).max(at), Some(at)),
                };
                let started = pulled + p.container_start.sample(rng);
                let loaded = started + p.model_transfer + p.model_load.sample(rng);
                let first_probe = started + p.probe_initial_delay;
                let ready = if loaded <= first_probe {
                    first_probe
                } else if p.probe_period.0 == 0 {
                    loaded
                } else {
                    let k = (loaded - first_probe).0.div_ceil(p.probe_period.0);
                    first_probe + SimDuration(k * p.probe_period.0)
                };
                let plan = Plan {
                    bound_at: bound,
                    container_ready_at: loaded,
                    ready_at: ready,
                    phases: PhaseTimes {
                        scheduling,
                        image_pull: pulled - bound,
                        container_start: started - pulled,
                        model_load: loaded - started,
                        readiness: ready - loaded,
                    },
                };
                (plan, image)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{RngStreams, Stream};

    fn c(s: u64) -> DurationDist {
        DurationDist::constant(SimDuration::from_secs(s))
    }

    #[test]
    fn phases_add_up_with_image_cache_and_probe_period() {
        let startup = Startup::Phases(Box::new(Phases {
            scheduling: c(1),
            image_pull_first: c(60),
            image_pull_cached: c(2),
            container_start: c(3),
            model_load: c(5),
            model_transfer: SimDuration::from_secs(20),
            probe_initial_delay: SimDuration::from_secs(10),
            probe_period: SimDuration::from_secs(10),
        }));
        let mut rng = RngStreams::new(1).stream(Stream::ColdStart);
        let (plan, image) = startup.plan(SimTime::ZERO, None, &mut rng);
        // bound 1, pulled 61, started 64, loaded 89, probes at 74, 84, 94 -> ready 94.
        assert_eq!(plan.ready_at, SimTime::from_secs(94));
        assert_eq!(plan.container_ready_at, SimTime::from_secs(89));
        assert_eq!(image, Some(SimTime::from_secs(61)));
        assert_eq!(plan.phases.readiness, SimDuration::from_secs(5));
        assert_eq!(plan.phases.total(), SimDuration::from_secs(94));
        // A second pod on the node at t=10 waits for the running pull (61), not 10 + 1 + 2.
        let (plan, _) = startup.plan(SimTime::from_secs(10), image, &mut rng);
        assert_eq!(plan.phases.image_pull, SimDuration::from_secs(50));
        // Later pods find the image cached.
        let (plan, _) = startup.plan(SimTime::from_secs(100), image, &mut rng);
        assert_eq!(plan.phases.image_pull, SimDuration::from_secs(2));
    }
}
