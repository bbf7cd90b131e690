//! `podscale._podscale`: the compiled half of the Python package. It moves text across the boundary
//! (YAML in; JSON summaries and CSV tables out) and the Python half (`podscale/__init__.py`) turns the
//! tables into pandas DataFrames. All podscale calls are in [`glue`]; the policy interface is in [`policy`].

mod glue;
mod policy;

use glue::{Failure, Outputs, Source};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::path::PathBuf;

fn source(
    path: Option<PathBuf>,
    text: Option<String>,
    base_dir: Option<PathBuf>,
) -> PyResult<Source> {
    match (path, text) {
        (Some(p), None) => Ok(Source::Path(p)),
        (None, Some(text)) => Ok(Source::Text {
            text,
            base_dir: match base_dir {
                Some(d) => d,
                None => std::env::current_dir()?,
            },
        }),
        _ => Err(pyo3::exceptions::PyTypeError::new_err(
            "give exactly one of path= and text=",
        )),
    }
}

/// Converts a failure into `podscale.ScenarioError` (located messages) or `podscale.PodscaleError`.
fn to_pyerr(py: Python<'_>, failure: Failure, policy_error: Option<PyErr>) -> PyErr {
    let errors = match py.import("podscale._errors") {
        Ok(m) => m,
        Err(e) => return e,
    };
    let build = || -> PyResult<PyErr> {
        match failure {
            Failure::Scenario(text, items) => {
                let list = PyList::empty(py);
                for (file, line, key, message) in items {
                    let d = PyDict::new(py);
                    d.set_item("file", file)?;
                    d.set_item("line", line)?;
                    d.set_item("key", key)?;
                    d.set_item("message", message)?;
                    list.append(d)?;
                }
                let exc = errors.getattr("ScenarioError")?.call1((text, list))?;
                Ok(PyErr::from_value(exc))
            }
            Failure::Policy => Ok(policy_error
                .unwrap_or_else(|| PyRuntimeError::new_err("the policy failed without a reason"))),
            Failure::Argument(message) => Ok(pyo3::exceptions::PyValueError::new_err(message)),
            Failure::Other(message) => {
                let exc = errors.getattr("PodscaleError")?.call1((message,))?;
                Ok(PyErr::from_value(exc))
            }
        }
    };
    build().unwrap_or_else(|e| e)
}

type Csv = Py<PyBytes>;
type RunTuple = (String, Csv, Option<Csv>, Option<Csv>, Option<Csv>);

fn to_tuple(py: Python<'_>, out: Outputs) -> RunTuple {
    let bytes = |b: &[u8]| PyBytes::new(py, b).unbind();
    let (services, cluster) = match &out.service_tables {
        Some(t) => (Some(bytes(&t.services_csv)), Some(bytes(&t.cluster_csv))),
        None => (None, None),
    };
    (
        out.summary_json,
        bytes(&out.timeseries_csv),
        out.requests_csv.as_deref().map(bytes),
        services,
        cluster,
    )
}

/// Runs one scenario (one service, or several sharing a cluster):
/// `(summary_json, timeseries_csv, requests_csv | None, services_csv | None, cluster_csv | None)`; the last
/// two only with several services.
#[pyfunction]
#[pyo3(signature = (*, path=None, text=None, overrides=Vec::new(), seed=None, per_request=false, base_dir=None))]
fn run(
    py: Python<'_>,
    path: Option<PathBuf>,
    text: Option<String>,
    overrides: Vec<String>,
    seed: Option<u64>,
    per_request: bool,
    base_dir: Option<PathBuf>,
) -> PyResult<RunTuple> {
    let source = source(path, text, base_dir)?;
    match py.detach(|| glue::run(&source, &overrides, seed, per_request)) {
        Ok(out) => Ok(to_tuple(py, out)),
        Err(f) => Err(to_pyerr(py, f, None)),
    }
}

/// Runs one scenario with `step(now_s, view_dict, decide) -> int | None` in place of its autoscaler (with
/// several services, in place of the autoscaler of the one named `policy_service`): called every simulated
/// second, returning the replicas at multiples of `period_s`. Returns what [`run`] returns.
#[pyfunction]
#[pyo3(signature = (step, *, period_s, initial_replicas, path=None, text=None, overrides=Vec::new(), seed=None, per_request=false, base_dir=None, policy_service=None))]
#[allow(clippy::too_many_arguments)]
fn run_policy(
    py: Python<'_>,
    step: Py<PyAny>,
    period_s: u64,
    initial_replicas: u32,
    path: Option<PathBuf>,
    text: Option<String>,
    overrides: Vec<String>,
    seed: Option<u64>,
    per_request: bool,
    base_dir: Option<PathBuf>,
    policy_service: Option<String>,
) -> PyResult<RunTuple> {
    if period_s == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "period must be at least 1 second (whole seconds)",
        ));
    }
    let source = source(path, text, base_dir)?;
    let error = std::sync::Arc::new(std::sync::Mutex::new(None));
    let policy = policy::PyPolicy {
        callback: step,
        period_s,
        error: error.clone(),
    };
    let result = glue::run_with_policy(
        &source,
        &overrides,
        seed,
        per_request,
        policy,
        initial_replicas,
        policy_service.as_deref(),
    );
    let raised = error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    match result {
        Ok(out) => Ok(to_tuple(py, out)),
        Err(f) => Err(to_pyerr(py, f, raised)),
    }
}

/// Runs a sweep: `(results_csv, points_csv)`.
#[pyfunction]
#[pyo3(signature = (*, path=None, text=None, threads=0, base_dir=None))]
fn sweep(
    py: Python<'_>,
    path: Option<PathBuf>,
    text: Option<String>,
    threads: usize,
    base_dir: Option<PathBuf>,
) -> PyResult<(Py<PyBytes>, Py<PyBytes>)> {
    let source = source(path, text, base_dir)?;
    match py.detach(|| glue::sweep(&source, threads)) {
        Ok((results, points)) => Ok((
            PyBytes::new(py, &results).unbind(),
            PyBytes::new(py, &points).unbind(),
        )),
        Err(f) => Err(to_pyerr(py, f, None)),
    }
}

/// A dict scenario (as JSON) to block YAML.
#[pyfunction]
fn yaml_from_json(py: Python<'_>, json: &str) -> PyResult<String> {
    glue::yaml_from_json(json).map_err(|f| to_pyerr(py, f, None))
}

/// YAML text with `key=value` overrides written in.
#[pyfunction]
fn apply_overrides(py: Python<'_>, text: &str, overrides: Vec<String>) -> PyResult<String> {
    glue::apply_overrides(text, &overrides).map_err(|f| to_pyerr(py, f, None))
}

#[pymodule]
fn _podscale(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(run_policy, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(yaml_from_json, m)?)?;
    m.add_function(wrap_pyfunction!(apply_overrides, m)?)?;
    Ok(())
}
