//! The custom-policy interface as the Python package sees it, independent of how the simulator runs it.
//!
//! A policy is asked at every multiple of its period (whole seconds of simulated time) for the desired
//! replica count, given the per-second view of the second that just ended. This is the shape the lead is
//! asked to expose from the simulator's scaler interface (issue 11 item 2): `decide(now, view) -> replicas`
//! at the policy's own period; until then `glue::run_with_policy` drives it through a CronHPA replay.

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// What a policy sees about the second `[now - 1 s, now)`: the simulator's per-second row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    pub now_s: u64,
    pub arrivals: u64,
    pub completions: u64,
    pub failures: u64,
    /// Requests sent and not yet answered, at `now`.
    pub in_flight: u64,
    pub activator_queue: u64,
    pub queue_proxy_queue: u64,
    pub ready_pods: u32,
    pub pending_pods: u32,
    pub starting_pods: u32,
    pub terminating_pods: u32,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub cpu_utilization: Option<f64>,
}

/// The policy failed; the implementation keeps the reason (for Python, the raised exception).
#[derive(Debug)]
pub struct PolicyFailed;

/// A replica policy called at its own period.
pub trait ReplicaPolicy {
    /// Seconds between two decisions (at least 1).
    fn period_s(&self) -> u64;
    /// Sees every second's view once, in order (before `decide` at a decision time).
    fn observe(&mut self, view: &View) -> Result<(), PolicyFailed>;
    /// The desired replica count at `view.now_s` (a multiple of the period).
    fn decide(&mut self, view: &View) -> Result<u32, PolicyFailed>;
}

/// A Python callable `step(now_s: float, view: dict, decide: bool) -> int | None`, called once per second
/// with `decide=False` and again at each decision time with `decide=True`, when it returns the replicas
/// (the package wraps the user's class in it and keeps the history).
pub struct PyPolicy {
    pub callback: Py<PyAny>,
    pub period_s: u64,
    /// The exception raised by the callback, re-raised to the caller of `run`.
    pub error: Option<PyErr>,
}

impl ReplicaPolicy for PyPolicy {
    fn period_s(&self) -> u64 {
        self.period_s
    }

    fn observe(&mut self, view: &View) -> Result<(), PolicyFailed> {
        let result = Python::attach(|py| -> PyResult<()> {
            let d = view_dict(py, view)?;
            self.callback.call1(py, (view.now_s as f64, d, false))?;
            Ok(())
        });
        result.map_err(|e| {
            self.error = Some(e);
            PolicyFailed
        })
    }

    fn decide(&mut self, view: &View) -> Result<u32, PolicyFailed> {
        let result = Python::attach(|py| -> PyResult<u32> {
            let d = view_dict(py, view)?;
            let out = self.callback.call1(py, (view.now_s as f64, d, true))?;
            let n: i64 = out.extract(py).map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "decide() at t={} s returned {}, not an integer replica count",
                    view.now_s,
                    out.bind(py)
                        .repr()
                        .map(|r| r.to_string())
                        .unwrap_or_default()
                ))
            })?;
            u32::try_from(n).map_err(|_| {
                pyo3::exceptions::PyValueError::new_err(format!(
                    "decide() at t={} s returned {n}; allowed: 0 <= replicas <= {}",
                    view.now_s,
                    u32::MAX
                ))
            })
        });
        result.map_err(|e| {
            self.error = Some(e);
            PolicyFailed
        })
    }
}

fn view_dict<'py>(py: Python<'py>, view: &View) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("arrivals", view.arrivals)?;
    d.set_item("completions", view.completions)?;
    d.set_item("failures", view.failures)?;
    d.set_item("in_flight", view.in_flight)?;
    d.set_item("activator_queue", view.activator_queue)?;
    d.set_item("queue_proxy_queue", view.queue_proxy_queue)?;
    d.set_item("ready_pods", view.ready_pods)?;
    d.set_item("pending_pods", view.pending_pods)?;
    d.set_item("starting_pods", view.starting_pods)?;
    d.set_item("terminating_pods", view.terminating_pods)?;
    d.set_item("latency_p50_ms", view.latency_p50_ms)?;
    d.set_item("latency_p99_ms", view.latency_p99_ms)?;
    d.set_item("cpu_utilization", view.cpu_utilization)?;
    Ok(d)
}
