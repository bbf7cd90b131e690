//! The fidelity ladder of an adaptive tune, planned before anything runs: how many points, seeds and how
//! much simulated time each rung gets, what the whole search costs in full-length runs, and which ladder a
//! sweep file's `tune:` block and the command line ask for (a `budget` picks the number of rungs).
//!
//! Survivors do not depend on results (always `ceil(n / eta)`, at least `min_survivors`), so the plan, its
//! cost and the full-length runs it saves are known exactly in advance. A survivor's runs go on from
//! where the previous rung stopped them, so a rung costs only the simulated time it adds.

use super::spec::{Search, SweepSpec, TuneSettings, MAX_RUNGS};
use super::SweepError;

/// The fidelity ladder of a successive-halving search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ladder {
    /// Reduction factor between rungs (horizon and seed count grow by it, survivors shrink by it); >= 2.
    pub eta: u32,
    /// Number of rungs; the last runs full duration with all seeds. 1 means the full grid.
    pub rungs: u32,
    /// Points kept after a rung are never fewer than this.
    pub min_survivors: usize,
    /// Most simulated time the search may spend, in full-length runs; the search is refused before it
    /// starts when its plan costs more.
    pub budget: Option<f64>,
}

impl Default for Ladder {
    fn default() -> Self {
        Ladder {
            eta: 2,
            rungs: 3,
            min_survivors: 3,
            budget: None,
        }
    }
}

/// One rung as planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RungPlan {
    /// The rung's horizon is the duration divided by this (1 on the last rung).
    pub shrink: u64,
    pub seeds: usize,
    pub points: usize,
    /// Seeds of each point whose runs go on from the previous rung's horizon (that rung's seeds; 0 on
    /// the first rung): a survivor's run is continued, not run again from t = 0.
    pub carried_seeds: usize,
    /// The previous rung's `shrink` (where the carried runs stand), 0 on the first rung.
    pub carried_shrink: u64,
}

impl RungPlan {
    /// Simulated time the rung adds, in full-length runs: the carried runs from the previous horizon to
    /// this one, the other seeds from t = 0.
    pub fn cost(&self) -> f64 {
        let horizon = 1.0 / self.shrink as f64;
        let carried = if self.carried_shrink == 0 {
            0.0
        } else {
            self.carried_seeds as f64 * (horizon - 1.0 / self.carried_shrink as f64)
        };
        self.points as f64 * (carried + (self.seeds - self.carried_seeds) as f64 * horizon)
    }
}

impl Ladder {
    /// The rungs a search over `points` points and `seeds` seeds will run.
    pub fn plan(&self, points: u64, seeds: usize) -> Vec<RungPlan> {
        let mut alive = points as usize;
        let mut out: Vec<RungPlan> = Vec::with_capacity(self.rungs as usize);
        for k in 0..self.rungs {
            let shrink = u64::from(self.eta).saturating_pow(self.rungs - 1 - k);
            let seeds = seeds
                .div_ceil(shrink.min(usize::MAX as u64) as usize)
                .max(1);
            let (carried_seeds, carried_shrink) =
                out.last().map_or((0, 0), |prev| (prev.seeds, prev.shrink));
            out.push(RungPlan {
                shrink,
                seeds,
                points: alive,
                carried_seeds,
                carried_shrink,
            });
            alive = alive
                .div_ceil(self.eta as usize)
                .max(self.min_survivors)
                .min(alive);
        }
        out
    }

    /// Simulated time of the whole search, in full-length runs.
    pub fn cost(&self, points: u64, seeds: usize) -> f64 {
        self.plan(points, seeds).iter().map(RungPlan::cost).sum()
    }

    /// Full-length runs of the last rung.
    pub fn full_runs(&self, points: u64, seeds: usize) -> u64 {
        self.plan(points, seeds)
            .last()
            .map_or(0, |r| (r.points * r.seeds) as u64)
    }
}

/// Search settings given on the command line; each overrides the sweep file's `tune:` block.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LadderFlags {
    pub search: Option<Search>,
    pub eta: Option<u32>,
    pub rungs: Option<u32>,
    pub budget: Option<f64>,
}

/// The ladder to race with, or `None` for the full grid: command-line flags first, then the file's
/// `tune:` block, then the defaults (eta 2, 3 rungs, 3 survivors). With a budget and no rungs given, the
/// fewest rungs (most fidelity) whose plan fits the budget; a plan over budget is refused here, before
/// anything runs, with the cheapest plan the settings allow.
pub fn choose(spec: &SweepSpec, flags: &LadderFlags) -> Result<Option<Ladder>, SweepError> {
    let file: &TuneSettings = &spec.tune;
    if let Some(b) = flags.budget {
        if !(b.is_finite() && b > 0.0) {
            return Err(SweepError::Usage(format!(
                "--budget: must be a positive number of full-length runs, got {b}"
            )));
        }
    }
    if let Some(e) = flags.eta {
        if !(2..=super::spec::MAX_ETA).contains(&u64::from(e)) {
            return Err(SweepError::Usage(format!(
                "--eta: must be a whole number from 2 to {}, got {e}",
                super::spec::MAX_ETA
            )));
        }
    }
    if let Some(r) = flags.rungs {
        if !(1..=MAX_RUNGS).contains(&u64::from(r)) {
            return Err(SweepError::Usage(format!(
                "--rungs: must be a whole number from 1 to {MAX_RUNGS}, got {r}"
            )));
        }
    }
    let search = flags.search.unwrap_or_else(|| {
        if flags.eta.is_some() || flags.rungs.is_some() || flags.budget.is_some() {
            Search::Adaptive
        } else {
            file.search()
        }
    });
    if search == Search::Grid {
        return Ok(None);
    }
    let (budget, budget_key) = match (flags.budget, file.budget) {
        (Some(b), _) => (Some(b), "--budget"),
        (None, b) => (b, "tune.budget"),
    };
    let eta = flags.eta.or(file.eta).unwrap_or(Ladder::default().eta);
    let min_survivors = file
        .min_survivors
        .unwrap_or(Ladder::default().min_survivors);
    let points = spec.point_count();
    let seeds = spec.seeds.len();
    let mut ladder = Ladder {
        eta,
        rungs: Ladder::default().rungs,
        min_survivors,
        budget,
    };
    let over = |ladder: &Ladder, why: String| {
        let message = format!(
            "{why}: {} points x {} seed(s) is {} full-length runs as a grid; {}",
            points,
            seeds,
            spec.run_count(),
            cheapest(ladder, points, seeds)
        );
        if budget_key == "--budget" {
            SweepError::Usage(format!("--budget: {message}"))
        } else {
            SweepError::Spec {
                file: spec.path.clone(),
                key: budget_key.into(),
                message,
            }
        }
    };
    match (flags.rungs.or(file.rungs), budget) {
        (Some(r), _) => ladder.rungs = r,
        (None, None) => {}
        (None, Some(b)) => {
            let fit = (1..=MAX_RUNGS as u32).find(|&r| {
                let l = Ladder { rungs: r, ..ladder };
                l.cost(points, seeds) <= b && shortest_ok(&l)
            });
            match fit {
                Some(r) => ladder.rungs = r,
                None => {
                    return Err(over(
                        &ladder,
                        format!("no ladder with eta {eta} fits a budget of {b} full-length runs"),
                    ))
                }
            }
        }
    }
    if let Some(b) = budget {
        let cost = ladder.cost(points, seeds);
        if cost > b {
            return Err(over(
                &ladder,
                format!(
                    "eta {eta} with {} rung(s) costs {cost:.1} full-length runs, over the budget of {b}",
                    ladder.rungs
                ),
            ));
        }
    }
    Ok(Some(ladder))
}

/// The first rung's horizon is the duration over eta^(rungs-1); past 10^6 it is no longer a useful
/// prefix of any run (a day becomes less than a tenth of a second).
fn shortest_ok(l: &Ladder) -> bool {
    u64::from(l.eta)
        .checked_pow(l.rungs.saturating_sub(1))
        .is_some_and(|s| s <= 1_000_000)
}

/// The cheapest plan `ladder`'s eta and survivors allow, for an over-budget message.
fn cheapest(ladder: &Ladder, points: u64, seeds: usize) -> String {
    let best = (1..=MAX_RUNGS as u32)
        .map(|r| Ladder {
            rungs: r,
            ..*ladder
        })
        .filter(shortest_ok)
        .map(|l| (l.cost(points, seeds), l.rungs))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((cost, rungs)) => format!(
            "the cheapest ladder with eta {} is {rungs} rung(s) at {cost:.1}; raise the budget or eta, or use fewer points or seeds",
            ladder.eta
        ),
        None => "no ladder is possible".into(),
    }
}
