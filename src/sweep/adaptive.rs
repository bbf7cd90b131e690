//! Adaptive tuning by successive halving: every point of the sweep runs at low fidelity (a short horizon and
//! few seeds), the best `1/eta` survive to the next rung (a horizon `eta` times longer, more seeds), and only
//! the last rung's survivors run the full duration with every seed. The tune report is then built from
//! those full-fidelity points exactly as for a full grid.
//!
//! Rung `k` of `K` (k = 0 .. K-1) runs `duration / eta^(K-1-k)` of simulated time with the first
//! `ceil(seeds / eta^(K-1-k))` seeds of the sweep. A rung's figures for a point are the summary of the
//! first part of its full-length runs, read without ending them (`Simulation::summary_so_far`); the
//! survivors' runs are then continued, not started again, so each rung adds only the simulated time
//! between its horizon and the last one (the runs of seeds new to the rung start from t = 0). At most
//! [`MAX_PAUSED_RUNS`] runs stay paused between rungs; the others, if their point survives, run again
//! from t = 0 to the same rows. Points are ranked by constraint violation first (sum of
//! relative excess over each bound, 0 when feasible), then by the objective, then by point index, all on
//! means across the rung's seeds. Every point of a rung uses the same seeds, and the simulator derives each
//! subsystem's random stream from the seed alone, so within a rung the points see the same arrivals
//! (common random numbers; see the README's tuning section for what this does and does not cover).
//!
//! Assumptions and limits, stated because they decide whether the answer can be trusted:
//! - A short horizon is the first part of the full-length run: the same as a run of that length
//!   without a cooldown (`tests/summary_so_far.rs`) when the traffic does not depend on the duration
//!   (a profile stretched over the duration is the full run's), except that it also counts the requests sent at
//!   exactly the horizon (a run of length `h` sends over `[0, h)`) and that its row at `h` was taken
//!   before any other event at that instant. When traffic varies over the duration (a daily
//!   pattern, a trace), early rungs rank points on the first part of the day only; choose `eta` and the
//!   number of rungs so that the shortest horizon still contains the behaviour that matters, or use one rung
//!   of fewer seeds (`--rungs 1` is the full grid).
//! - A point can be pruned by noise at a low rung. Survivors are `ceil(n / eta)`, never fewer than
//!   `min_survivors`, which bounds how aggressive the pruning is.

pub use super::ladder::Ladder;
use super::results::{self, PointStats, RunRow};
use super::spec::{Objective, SweepSpec};
use super::{SweepError, SweepOptions};
use crate::observe::output::NoTimeseries;
use crate::scenario;
use crate::sim::Simulation;
use crate::time::{SimDuration, SimTime};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::time::Instant;

/// What one rung ran.
#[derive(Clone, Debug, PartialEq)]
pub struct Rung {
    pub horizon: SimDuration,
    pub seeds: usize,
    pub points: usize,
    pub runs: u64,
}

/// The outcome of an adaptive search.
#[derive(Clone, Debug)]
pub struct AdaptiveOutcome {
    /// Statistics of the last rung's points (full duration, all seeds), by point index.
    pub points: Vec<PointStats>,
    pub rungs: Vec<Rung>,
    /// Full-duration runs the full grid would do: points × seeds.
    pub grid_runs: u64,
    /// Full-duration runs this search did (the last rung's).
    pub full_runs: u64,
    /// Simulated time the rungs ran, in units of one full-duration run: a run continued from the last
    /// rung counts only the time it added.
    pub run_equivalents: f64,
    pub duration: SimDuration,
    pub wall_s: f64,
    /// The ladder that ran.
    pub ladder: Ladder,
}

impl AdaptiveOutcome {
    /// Full-duration runs saved relative to the full grid.
    pub fn full_runs_saved(&self) -> u64 {
        self.grid_runs.saturating_sub(self.full_runs)
    }

    /// One paragraph for the tune output.
    pub fn text(&self) -> String {
        let budget = self
            .ladder
            .budget
            .map(|b| format!(", budget {b} full runs"))
            .unwrap_or_default();
        let mut out = format!(
            "Adaptive search (successive halving, eta {}, {} rung(s), at least {} survivor(s){budget}) over {} points, {:.1} s simulated per full run:\n",
            self.ladder.eta,
            self.ladder.rungs,
            self.ladder.min_survivors,
            self.rungs.first().map_or(0, |r| r.points),
            self.duration.as_secs_f64()
        );
        for (k, r) in self.rungs.iter().enumerate() {
            out.push_str(&format!(
                "  rung {k}: {:>6} points x {} seed(s) x {:.1} s = {} runs\n",
                r.points,
                r.seeds,
                r.horizon.as_secs_f64(),
                r.runs
            ));
        }
        out.push_str(&format!(
            "  {} full-length runs instead of {} ({} saved); simulated time of all rungs = {:.1} full runs ({:.1}% of the grid); {:.2} s wall\n",
            self.full_runs,
            self.grid_runs,
            self.full_runs_saved(),
            self.run_equivalents,
            if self.grid_runs > 0 { 100.0 * self.run_equivalents / self.grid_runs as f64 } else { 0.0 },
            self.wall_s
        ));
        out
    }
}

/// Most runs a rung leaves paused for the next one to continue. A paused day-long KPA run at 100 req/s
/// holds about 0.4 MB (mostly its latency histogram), so this bounds a race's paused runs to about
/// 3.3 GB; the runs past it are dropped and, if their point survives, run again from t = 0.
pub const MAX_PAUSED_RUNS: usize = 8192;

/// Constraint violation (0 when feasible) and objective of a point, for ranking.
fn score(p: &PointStats, objective: &Objective) -> (f64, f64) {
    let violation: f64 = objective
        .constraints
        .iter()
        .map(|c| {
            let v = p.mean_of(&c.metric).unwrap_or(f64::NAN);
            if v.is_nan() {
                return f64::INFINITY;
            }
            let excess = if c.at_most { v - c.bound } else { c.bound - v };
            (excess / c.bound.abs().max(1e-9)).max(0.0)
        })
        .sum();
    (violation, super::objective::key(p, objective))
}

/// Point indices ordered best first.
pub fn rank(points: &[PointStats], objective: &Objective) -> Vec<u64> {
    let tie = super::objective::tie_metric(points);
    let mut scored: Vec<((f64, f64, f64), u64)> = points
        .iter()
        .map(|p| {
            let (violation, obj) = score(p, objective);
            let t = p.mean_of(tie).unwrap_or(f64::NAN);
            ((violation, obj, t), p.point)
        })
        .collect();
    scored.sort_by(|a, b| {
        a.0 .0
            .total_cmp(&b.0 .0)
            .then(a.0 .1.total_cmp(&b.0 .1))
            .then(a.0 .2.total_cmp(&b.0 .2))
            .then(a.1.cmp(&b.1))
    });
    scored.into_iter().map(|(_, p)| p).collect()
}

/// Base duration of the sweep's scenario (after the fixed overrides).
fn base_duration(spec: &SweepSpec) -> Result<SimDuration, SweepError> {
    let loaded = scenario::load(&spec.base, &spec.fixed).map_err(|e| SweepError::Scenario {
        file: spec.path.clone(),
        key: "base".into(),
        what: "its own duration".into(),
        errors: e,
    })?;
    Ok(loaded.spec.duration)
}

/// One run of `point` with the seed at `seed_index`, up to `horizon` (`None`: to its end), going on from
/// `kept` when the previous rung left that run there. With a horizon the row is the summary so far and
/// the run is handed back to be continued by the next rung.
fn run_to(
    spec: &SweepSpec,
    point: u64,
    seed_index: usize,
    horizon: Option<SimDuration>,
    kept: Option<Simulation>,
) -> Result<(RunRow, Option<Simulation>), SweepError> {
    let seed = spec.seeds[seed_index];
    let run = point * spec.seeds.len() as u64 + seed_index as u64;
    let fail = |message: String| SweepError::Run {
        run,
        point,
        seed,
        overrides: spec.point_overrides(point).join(" "),
        message,
    };
    let mut sim = match kept {
        Some(sim) => sim,
        None => Simulation::from_path(&spec.base, &spec.point_overrides(point), Some(seed))
            .map_err(|e| fail(e.to_string()))?,
    };
    let (summary, paused) = match horizon {
        Some(h) => {
            sim.step_until(SimTime(h.as_nanos()), &mut NoTimeseries)
                .map_err(|e| fail(e.to_string()))?;
            let summary = sim.summary_so_far().map_err(|e| fail(e.to_string()))?;
            (summary, Some(sim))
        }
        None => (
            sim.run(&mut NoTimeseries)
                .map_err(|e| fail(e.to_string()))?,
            None,
        ),
    };
    let row = RunRow {
        run,
        point,
        axes: spec.point_labels(point),
        seed,
        metrics: results::metrics_of(&summary),
    };
    Ok((row, paused))
}

/// Runs the successive-halving search. Validates the sweep first, like [`super::execute`]. Each rung
/// continues its survivors' runs from the last rung's horizon (at most [`MAX_PAUSED_RUNS`] of them).
pub fn race(
    spec: &SweepSpec,
    objective: &Objective,
    ladder: Ladder,
    options: &SweepOptions,
) -> Result<AdaptiveOutcome, SweepError> {
    race_pausing(spec, objective, ladder, options, MAX_PAUSED_RUNS)
}

/// [`race`] keeping at most `max_paused` runs paused between rungs (the first ones of each rung, in
/// point and seed order). Any cap gives the same rows and the same outcome but `run_equivalents`:
/// a run stepped to a horizon in one go or in pieces is the same run.
pub fn race_pausing(
    spec: &SweepSpec,
    objective: &Objective,
    ladder: Ladder,
    options: &SweepOptions,
    max_paused: usize,
) -> Result<AdaptiveOutcome, SweepError> {
    if ladder.eta < 2 || ladder.rungs == 0 {
        return Err(SweepError::Usage(format!(
            "adaptive search needs eta >= 2 and at least 1 rung (got eta {}, rungs {})",
            ladder.eta, ladder.rungs
        )));
    }
    let plan = ladder.plan(spec.point_count(), spec.seeds.len());
    if let Some(b) = ladder.budget {
        let cost: f64 = plan.iter().map(|r| r.cost()).sum();
        if cost > b {
            return Err(SweepError::Usage(format!(
                "the ladder (eta {}, {} rungs) costs {cost:.1} full-length runs, over the budget of {b}",
                ladder.eta, ladder.rungs
            )));
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| SweepError::Usage(format!("cannot start {} threads: {e}", options.threads)))?;
    pool.install(|| super::validate(spec))?;
    let duration = base_duration(spec)?;
    let start = Instant::now();
    let mut alive: Vec<u64> = (0..spec.point_count()).collect();
    let mut rungs = Vec::new();
    let mut equivalents = 0.0;
    let mut last = Vec::new();
    // The runs the last rung stopped at its horizon, by (point, seed index), to be continued.
    let mut paused: BTreeMap<(u64, usize), Simulation> = BTreeMap::new();
    for (k, step) in plan.iter().enumerate() {
        let full = step.shrink == 1;
        let horizon = SimDuration(duration.as_nanos() / step.shrink);
        let seeds = step.seeds;
        let jobs: Vec<(u64, usize, Option<Simulation>)> = alive
            .iter()
            .flat_map(|&p| (0..seeds).map(move |s| (p, s)))
            .map(|(p, s)| (p, s, paused.remove(&(p, s))))
            .collect();
        // Whatever is left belongs to points the last ranking dropped.
        paused.clear();
        let runs = jobs.len() as u64;
        let target = SimTime(horizon.as_nanos());
        let done: Result<Vec<_>, SweepError> = pool.install(|| {
            jobs.into_par_iter()
                .enumerate()
                .map(|(i, (p, s, kept))| {
                    let from = kept.as_ref().map_or(SimTime::ZERO, |sim| sim.now());
                    let (row, sim) = run_to(spec, p, s, (!full).then_some(horizon), kept)?;
                    // Past the cap a run is dropped here, not kept: a survivor among them starts
                    // again from t = 0, which costs time but gives the same rows.
                    let sim = sim.filter(|_| i < max_paused);
                    Ok((s, target.0.saturating_sub(from.0), row, sim))
                })
                .collect()
        });
        let mut rows = Vec::with_capacity(runs as usize);
        let mut simulated_ns: u128 = 0;
        for (s, ran_ns, row, sim) in done? {
            if let Some(sim) = sim {
                paused.insert((row.point, s), sim);
            }
            simulated_ns += u128::from(ran_ns);
            rows.push(row);
        }
        equivalents += simulated_ns as f64 / duration.as_nanos().max(1) as f64;
        rungs.push(Rung {
            horizon,
            seeds,
            points: alive.len(),
            runs,
        });
        let stats = results::aggregate(&rows);
        if full {
            last = stats;
            break;
        }
        let keep = plan.get(k + 1).map_or(alive.len(), |next| next.points);
        let mut ranked = rank(&stats, objective);
        ranked.truncate(keep);
        ranked.sort_unstable();
        paused.retain(|(p, _), _| ranked.binary_search(p).is_ok());
        alive = ranked;
    }
    Ok(AdaptiveOutcome {
        grid_runs: spec.run_count(),
        full_runs: last.iter().map(|p| p.runs).sum(),
        points: last,
        rungs,
        run_equivalents: equivalents,
        duration,
        wall_s: start.elapsed().as_secs_f64(),
        ladder,
    })
}
