//! A Python replica policy run inside the simulation as a [`Scaler`], the same public interface the KPA,
//! the HPA and the fixed scaler implement.
//!
//! On every 1 s tick [`PolicyScaler`] turns the loop's [`SecondView`] (the data the built-in autoscalers
//! get: ready pods, the deployment's replicas, the second's arrivals, requests in flight, each ready pod's
//! queue-proxy report, the activator's report) into a [`View`] and hands it to the policy; at every
//! multiple of the policy's period (whole seconds of simulated time) the policy also returns the desired
//! replica count, which the loop writes to the deployment at that instant.
//!
//! The activator (KPA semantics, Knative's SKS Proxy mode): it is in the request path while the policy asks
//! for 0 replicas or no pod is Ready, so requests wait in it (up to the revision timeout) instead of
//! failing, and while the previous second shows a backlog waiting in it (average waiting requests, the
//! activator's concurrency minus the proxied concurrency the pods report, at least [`BACKLOG`]), so held
//! requests drain to pods as slots free. Otherwise it is out of the path and requests go straight to the
//! pods. Simplifications: no target-burst-capacity rule (Knative also keeps the activator in the path while
//! spare capacity is below that), and no scale-from-zero poke: the first request to a revision at zero
//! waits for the policy's next decision, which sees it in `activator_requests`.
//!
//! In a run of several services the policy scales one of them (the caller names it): its view is that
//! service's own (its pods, its arrivals and requests in flight, its activator), as each service's KPA or
//! HPA sees its own; the other services keep their autoscalers.
//!
//! A failure of the policy (an exception, or a value that is not a replica count) is kept with the
//! simulated time; the scaler then stops deciding and raises the shared `failed` flag, which the caller's
//! row sink turns into the end of the run.
//!
//! Units: time in seconds of simulated time (the loop's integer ns, whole seconds here); concurrency in
//! requests (time-averaged over the second); counts per second.

use podscale::autoscaler::{Decision, Scaler, SecondView, StartPlan};
use podscale::observe::SecondRow;
use podscale::scenario::limits::MAX_PODS;
use podscale::time::SimTime;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Average requests waiting in the activator over a second at which it stays in the path.
pub const BACKLOG: f64 = 0.5;

/// One ready pod's queue-proxy report for the second.
#[derive(Clone, Debug, PartialEq)]
pub struct PodView {
    /// Seconds since the pod was created.
    pub age_s: f64,
    pub concurrency: f64,
    /// Part of `concurrency` that came through the activator.
    pub proxied_concurrency: f64,
    pub requests: u64,
    pub proxied_requests: u64,
}

/// What a policy sees about the second `[now - 1 s, now)`.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    pub now_s: u64,
    pub ready_pods: u32,
    /// The deployment's replica count (its spec) before this second's decision.
    pub replicas: u32,
    pub arrivals: u64,
    /// Requests sent and not yet answered, at `now`.
    pub in_flight: u64,
    /// Sum of the ready pods' average concurrency.
    pub concurrency: f64,
    pub pods: Vec<PodView>,
    /// The activator's report (`None` when it holds no entry for the revision).
    pub activator_concurrency: Option<f64>,
    pub activator_requests: Option<f64>,
    /// Estimated average requests waiting in the activator (never negative).
    pub activator_waiting: f64,
    pub activator_in_path: bool,
}

impl View {
    fn from_second(view: &SecondView<'_>, activator_in_path: bool) -> View {
        let now = view.now;
        let pods: Vec<PodView> = view
            .queue_proxies
            .iter()
            .map(|p| PodView {
                age_s: now.saturating_since(p.created).as_secs_f64(),
                concurrency: p.report.average_concurrency,
                proxied_concurrency: p.report.average_proxied_concurrency,
                requests: p.report.request_count,
                proxied_requests: p.report.proxied_request_count,
            })
            .collect();
        let concurrency = pods.iter().map(|p| p.concurrency).sum();
        let proxied: f64 = pods.iter().map(|p| p.proxied_concurrency).sum();
        let activator_concurrency = view.activator.map(|s| s.average_concurrency);
        View {
            now_s: now.whole_secs(),
            ready_pods: view.ready,
            replicas: view.replicas,
            arrivals: view.arrivals,
            in_flight: view.in_flight,
            concurrency,
            pods,
            activator_concurrency,
            activator_requests: view.activator.map(|s| s.request_count),
            activator_waiting: (activator_concurrency.unwrap_or(0.0) - proxied).max(0.0),
            activator_in_path,
        }
    }
}

/// The policy failed; the implementation keeps the reason (for Python, the raised exception).
#[derive(Debug)]
pub struct PolicyFailed;

/// A replica policy called once per simulated second.
pub trait ReplicaPolicy: Send {
    /// Seconds between two decisions (at least 1).
    fn period_s(&self) -> u64;
    /// Sees `view`; when `decide` (at multiples of the period) returns the desired replica count.
    fn step(&mut self, view: &View, decide: bool) -> Result<Option<u32>, PolicyFailed>;
}

/// Runs a [`ReplicaPolicy`] in the loop.
pub struct PolicyScaler<P> {
    policy: P,
    initial_replicas: u32,
    /// What the policy last asked for.
    desired: u32,
    backlog: bool,
    /// Raised when the policy fails; the run's row sink stops the run.
    failed: Arc<AtomicBool>,
}

impl<P: ReplicaPolicy> PolicyScaler<P> {
    pub fn new(policy: P, initial_replicas: u32, failed: Arc<AtomicBool>) -> Self {
        PolicyScaler {
            policy,
            initial_replicas,
            desired: initial_replicas,
            backlog: false,
            failed,
        }
    }

    fn activator_in_path(&self, ready: u32) -> bool {
        self.desired == 0 || ready == 0 || self.backlog
    }
}

impl<P: ReplicaPolicy> Scaler for PolicyScaler<P> {
    fn label(&self) -> &'static str {
        "policy"
    }

    fn start(&mut self, _horizon: SimTime) -> StartPlan {
        StartPlan {
            replicas: self.initial_replicas,
            ready_now: true,
            activator_in_path: self.initial_replicas == 0,
            wake_at: None,
        }
    }

    fn on_second(&mut self, second: &mut SecondView<'_>) -> Decision {
        if self.failed.load(Ordering::Relaxed) {
            return Decision::default();
        }
        let view = View::from_second(second, self.activator_in_path(second.ready));
        self.backlog = view.activator_waiting >= BACKLOG;
        let decide = view.now_s.is_multiple_of(self.policy.period_s().max(1));
        let replicas = match self.policy.step(&view, decide) {
            Ok(Some(n)) if decide => {
                self.desired = n;
                (n != second.replicas).then_some(n)
            }
            Ok(_) => None,
            Err(PolicyFailed) => {
                self.failed.store(true, Ordering::Relaxed);
                return Decision::default();
            }
        };
        Decision {
            replicas,
            activator_in_path: Some(self.activator_in_path(second.ready)),
            wake_at: None,
        }
    }

    fn on_pod_ready(&mut self, _now: SimTime, ready: u32) -> Decision {
        Decision {
            activator_in_path: Some(self.activator_in_path(ready)),
            ..Decision::default()
        }
    }

    fn columns(&mut self, row: &mut SecondRow) {
        row.scale_reason = if self.failed.load(Ordering::Relaxed) {
            "policy-failed"
        } else {
            "policy"
        };
    }
}

/// A Python callable `step(now_s: float, view: dict, decide: bool) -> int | None`, called once per second;
/// at decision times (`decide=True`) it returns the replicas. The package wraps the user's class in it
/// (and keeps the history); the wrapper raises `podscale.PolicyError` naming the simulated time.
pub struct PyPolicy {
    pub callback: Py<PyAny>,
    pub period_s: u64,
    /// The exception raised by the callback, re-raised to the caller of `run`.
    pub error: Arc<Mutex<Option<PyErr>>>,
}

impl ReplicaPolicy for PyPolicy {
    fn period_s(&self) -> u64 {
        self.period_s
    }

    fn step(&mut self, view: &View, decide: bool) -> Result<Option<u32>, PolicyFailed> {
        let result = Python::attach(|py| -> PyResult<Option<u32>> {
            let d = view_dict(py, view)?;
            let out = self.callback.call1(py, (view.now_s as f64, d, decide))?;
            if !decide {
                return Ok(None);
            }
            let n: i64 = out.extract(py).map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "the policy's decision at simulated t={} s is {}, not an integer replica count",
                    view.now_s,
                    out.bind(py)
                        .repr()
                        .map(|r| r.to_string())
                        .unwrap_or_default()
                ))
            })?;
            u32::try_from(n)
                .ok()
                .filter(|&n| u64::from(n) <= MAX_PODS)
                .map(Some)
                .ok_or_else(|| {
                    pyo3::exceptions::PyValueError::new_err(format!(
                        "the policy's decision at simulated t={} s is {n}; allowed: 0 <= replicas <= {MAX_PODS}",
                        view.now_s
                    ))
                })
        });
        result.map_err(|e| {
            *self.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
            PolicyFailed
        })
    }
}

fn view_dict<'py>(py: Python<'py>, view: &View) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("ready_pods", view.ready_pods)?;
    d.set_item("replicas", view.replicas)?;
    d.set_item("arrivals", view.arrivals)?;
    d.set_item("in_flight", view.in_flight)?;
    d.set_item("concurrency", view.concurrency)?;
    let pods = PyList::empty(py);
    for p in &view.pods {
        let pd = PyDict::new(py);
        pd.set_item("age_s", p.age_s)?;
        pd.set_item("concurrency", p.concurrency)?;
        pd.set_item("proxied_concurrency", p.proxied_concurrency)?;
        pd.set_item("requests", p.requests)?;
        pd.set_item("proxied_requests", p.proxied_requests)?;
        pods.append(pd)?;
    }
    d.set_item("pods", pods)?;
    d.set_item("activator_concurrency", view.activator_concurrency)?;
    d.set_item("activator_requests", view.activator_requests)?;
    d.set_item("activator_waiting", view.activator_waiting)?;
    d.set_item("activator_in_path", view.activator_in_path)?;
    Ok(d)
}
