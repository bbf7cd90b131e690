//! The `tune:` block of a sweep file: it chooses the search (grid or successive halving), its ladder and
//! budget, and may hold the objective; command-line flags override it; bad values are refused with the file
//! and key named; a budget picks the number of rungs and a plan over budget is refused before any run.

use podscale::sweep::{self, ladder, Ladder, LadderFlags, Search, SweepError, SweepSpec};
use std::path::{Path, PathBuf};

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("podscale-tunefile-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sweep_text(body: &str) -> String {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/kpa-bursty.yaml");
    // 4 x 3 = 12 points, 2 seeds: the grid is 24 full-length runs.
    format!(
        "base: {}\nseeds: 2\nset: {{duration: 60s}}\naxes:\n  autoscaler.config.stable-window: [6s, 15s, 30s, 60s]\n  service.minReplicas: [1, 2, 3]\n{body}",
        base.display()
    )
}

fn load(tag: &str, body: &str) -> Result<SweepSpec, SweepError> {
    let d = dir(tag);
    let path = d.join("s.yaml");
    std::fs::write(&path, sweep_text(body)).unwrap();
    SweepSpec::load(&path)
}

fn spec_error(tag: &str, body: &str) -> (String, String) {
    match load(tag, body) {
        Err(SweepError::Spec { key, message, file }) => {
            assert!(file.ends_with("s.yaml"), "{}", file.display());
            (key, message)
        }
        other => panic!("expected a sweep-file error, got {other:?}"),
    }
}

#[test]
fn a_tune_block_selects_an_adaptive_ladder_and_holds_the_objective() {
    let spec = load(
        "ok",
        "tune:\n  eta: 3\n  rungs: 2\n  min_survivors: 2\n  objective: {minimize: pod_seconds, constraints: [\"latency_p99_ms <= 900\"]}\n",
    )
    .unwrap();
    assert_eq!(spec.tune.search(), Search::Adaptive);
    let objective = spec.objective.clone().expect("objective from tune:");
    assert_eq!(objective.metric, "pod_seconds");
    assert_eq!(objective.constraints.len(), 1);
    let l = ladder::choose(&spec, &LadderFlags::default())
        .unwrap()
        .expect("adaptive");
    assert_eq!(
        l,
        Ladder {
            eta: 3,
            rungs: 2,
            min_survivors: 2,
            budget: None
        }
    );
    // Flags override the file, and --grid turns the race off.
    let flags = LadderFlags {
        rungs: Some(3),
        ..LadderFlags::default()
    };
    assert_eq!(ladder::choose(&spec, &flags).unwrap().unwrap().rungs, 3);
    let grid = LadderFlags {
        search: Some(Search::Grid),
        ..LadderFlags::default()
    };
    assert_eq!(ladder::choose(&spec, &grid).unwrap(), None);
    // Without a tune: block, tune runs the grid unless a flag asks for a race.
    let plain = load("plain", "").unwrap();
    assert_eq!(
        ladder::choose(&plain, &LadderFlags::default()).unwrap(),
        None
    );
    let eta = LadderFlags {
        eta: Some(2),
        ..LadderFlags::default()
    };
    assert!(ladder::choose(&plain, &eta).unwrap().is_some());
}

#[test]
fn a_budget_picks_the_fewest_rungs_that_fit_and_an_impossible_one_is_refused() {
    // 12 points x 2 seeds, eta 2, each survivor's first seed continued from the last rung's horizon:
    // 1 rung = 24; 2 rungs = 12x1/2 + 6x(1/2 + 1) = 15; 3 rungs = 12x1/4 + 6x1/4 + 3x(1/2 + 1) = 9.
    let spec = load("budget", "tune: {eta: 2, budget: 18}\n").unwrap();
    let l = ladder::choose(&spec, &LadderFlags::default())
        .unwrap()
        .unwrap();
    assert_eq!(l.rungs, 2);
    assert_eq!(l.cost(12, 2), 15.0);
    assert_eq!(l.budget, Some(18.0));
    let tight = LadderFlags {
        budget: Some(12.0),
        ..LadderFlags::default()
    };
    assert_eq!(ladder::choose(&spec, &tight).unwrap().unwrap().rungs, 3);
    // Rungs fixed in the file and a budget they exceed: refused, naming the file's key.
    let over = load("over", "tune: {eta: 2, rungs: 1, budget: 20}\n").unwrap();
    match ladder::choose(&over, &LadderFlags::default()) {
        Err(SweepError::Spec { key, message, .. }) => {
            assert_eq!(key, "tune.budget");
            assert!(message.contains("over the budget of 20"), "{message}");
            assert!(message.contains("cheapest ladder"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A budget below any plan (from the command line): refused with the cheapest plan.
    let tiny = LadderFlags {
        budget: Some(1.0),
        ..LadderFlags::default()
    };
    let err = ladder::choose(&spec, &tiny).unwrap_err().to_string();
    assert!(err.starts_with("--budget"), "{err}");
    assert!(err.contains("no ladder with eta 2 fits"), "{err}");
    // race() refuses an over-budget ladder too, before running anything.
    let objective = spec
        .objective
        .clone()
        .unwrap_or_else(|| sweep::Objective::natural("pod_seconds"));
    let bad = Ladder {
        rungs: 1,
        budget: Some(5.0),
        ..Ladder::default()
    };
    let err = sweep::race(&spec, &objective, bad, &sweep::SweepOptions::default()).unwrap_err();
    assert!(err.to_string().contains("over the budget of 5"), "{err}");
}

#[test]
fn bad_tune_blocks_name_the_key_and_what_is_allowed() {
    let cases: &[(&str, &str, &str)] = &[
        ("tune: 3\n", "tune", "must be a map"),
        ("tune: {etta: 3}\n", "tune.etta", "did you mean `eta`"),
        ("tune: {eta: 1}\n", "tune.eta", "from 2 to 100"),
        ("tune: {rungs: 0}\n", "tune.rungs", "from 1 to 12"),
        ("tune: {budget: -4}\n", "tune.budget", "positive number"),
        ("tune: {search: halving}\n", "tune.search", "`grid`"),
        (
            "tune: {search: grid, eta: 3}\n",
            "tune.search",
            "only to `search: adaptive`",
        ),
        (
            "tune: {objective: {minimize: latency_p99}}\n",
            "tune.objective.minimize",
            "unknown metric",
        ),
        (
            "objective: {minimize: pod_seconds}\ntune: {objective: {minimize: cost}}\n",
            "tune.objective",
            "in one place",
        ),
    ];
    for (i, (body, key, text)) in cases.iter().enumerate() {
        let (k, message) = spec_error(&format!("bad{i}"), body);
        assert_eq!(k, *key, "{body}: {message}");
        assert!(message.contains(text), "{body}: {message}");
    }
}

#[test]
fn the_bundled_day_long_sweep_plans_150_full_runs() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sweeps/large/kpa-day-1000.yaml");
    let spec = SweepSpec::load(&path).unwrap();
    assert_eq!(spec.point_count(), 1000);
    let l = ladder::choose(&spec, &LadderFlags::default())
        .unwrap()
        .expect("the file asks for the adaptive search");
    assert_eq!((l.eta, l.rungs), (3, 4));
    let sizes: Vec<usize> = l.plan(1000, 2).iter().map(|r| r.points).collect();
    assert_eq!(sizes, [1000, 334, 112, 38]);
    assert_eq!(l.full_runs(1000, 2), 76);
    // 1000/27 + 334x(1/9 - 1/27) + 112x(1/3 - 1/9) + 38x(2/3 + 1): survivors go on from their last
    // horizon instead of starting again (187.48 if every rung started from t = 0).
    assert!(
        (l.cost(1000, 2) - 150.0).abs() < 0.01,
        "{}",
        l.cost(1000, 2)
    );
}

#[test]
fn the_plan_halves_points_and_grows_seeds_and_horizon() {
    let l = Ladder::default();
    let plan: Vec<(u64, usize, usize)> = l
        .plan(48, 3)
        .iter()
        .map(|r| (r.shrink, r.seeds, r.points))
        .collect();
    assert_eq!(plan, [(4, 1, 48), (2, 2, 24), (1, 3, 12)]);
    // 48/4, then 24 points continue one seed from 1/4 to 1/2 and start one, then 12 continue two to
    // the end and start one.
    assert_eq!(
        l.cost(48, 3),
        12.0 + 24.0 * (0.25 + 0.5) + 12.0 * (2.0 * 0.5 + 1.0)
    );
    assert_eq!(l.full_runs(48, 3), 36);
    // Survivors never drop below min_survivors, nor above what is alive.
    let tiny = Ladder {
        eta: 3,
        rungs: 4,
        ..Ladder::default()
    };
    let sizes: Vec<usize> = tiny.plan(5, 1).iter().map(|r| r.points).collect();
    assert_eq!(sizes, [5, 3, 3, 3]);
    // A one-rung ladder is the grid.
    let one = Ladder {
        rungs: 1,
        ..Ladder::default()
    };
    assert_eq!(one.cost(48, 3), 144.0);
    // 10,000 points x 2 seeds, eta 3: what README's extrapolation uses.
    let big = |rungs| Ladder {
        eta: 3,
        rungs,
        ..Ladder::default()
    };
    let sizes: Vec<usize> = big(5).plan(10_000, 2).iter().map(|r| r.points).collect();
    assert_eq!(sizes, [10_000, 3334, 1112, 371, 124]);
    assert!((big(4).cost(10_000, 2) - 1482.78).abs() < 0.01);
    assert!((big(5).cost(10_000, 2) - 577.26).abs() < 0.01);
    // What a rung adds: the carried seeds from the previous horizon, the others from t = 0.
    let last = big(4).plan(10_000, 2)[3];
    assert_eq!((last.carried_seeds, last.carried_shrink), (1, 3));
    assert!((last.cost() - 371.0 * (2.0 / 3.0 + 1.0)).abs() < 1e-9);
}
