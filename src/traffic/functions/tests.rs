//! Unit tests of `functions` (kept beside it so the model reads on its own).

use super::*;
use crate::engine::{RngStreams, Stream};

fn file() -> String {
    let mut text = String::from("HashOwner,HashApp,HashFunction,Trigger,1,2,3\n");
    text.push_str("o1,a1,f1,http,10,0,5\n");
    text.push_str("o1,a1,f2,timer,1,1,1\n");
    text.push_str("o1,a2,f3,http,100,200,\n");
    text.push_str("o2,a3,f4,queue,0,0,2\n");
    text
}

fn grouped(g: Grouping) -> Result<GroupedCounts, TrafficError> {
    let text = file();
    read_grouped_from(
        "t.csv",
        || Ok(std::io::Cursor::new(text.clone().into_bytes())),
        g,
        100,
    )
}

#[test]
fn groups_by_function_app_and_top_n() {
    let g = grouped(Grouping {
        by: GroupBy::Function,
        top: None,
        rest: true,
    })
    .unwrap();
    assert_eq!(g.names, ["fn-f3", "fn-f1", "fn-f2", "fn-f4"]);
    assert_eq!(g.service(0), [100.0, 200.0, 0.0]);
    let g = grouped(Grouping {
        by: GroupBy::App,
        top: None,
        rest: true,
    })
    .unwrap();
    assert_eq!(g.names, ["app-a2", "app-a1", "app-a3"]);
    assert_eq!(g.service(1), [11.0, 1.0, 6.0]);
    let g = grouped(Grouping {
        by: GroupBy::Function,
        top: Some(1),
        rest: true,
    })
    .unwrap();
    assert_eq!(g.names, ["fn-f3", "rest"]);
    assert_eq!(g.service(1), [11.0, 1.0, 8.0]);
    let g = grouped(Grouping {
        by: GroupBy::Function,
        top: Some(2),
        rest: false,
    })
    .unwrap();
    assert_eq!(g.names, ["fn-f3", "fn-f1"]);
    let total: f64 = (0..g.names.len()).map(|i| g.total(i)).sum();
    assert_eq!(total, 315.0);
}

#[test]
fn too_many_groups_and_bad_rows_are_errors() {
    let text = file();
    let e = read_grouped_from(
        "t.csv",
        || Ok(std::io::Cursor::new(text.clone().into_bytes())),
        Grouping {
            by: GroupBy::Function,
            top: None,
            rest: true,
        },
        3,
    )
    .unwrap_err();
    assert!(e.to_string().contains("4 groups"), "{e}");
    let bad = "HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,1,-3\n";
    let e = read_grouped_from(
        "b.csv",
        || Ok(std::io::Cursor::new(bad.as_bytes().to_vec())),
        Grouping {
            by: GroupBy::App,
            top: None,
            rest: true,
        },
        10,
    )
    .unwrap_err();
    assert!(e.to_string().contains("b.csv:2: column `2`"), "{e}");
}

fn replay(spread: Spread, counts: Vec<f32>, end: SimTime) -> Vec<SimTime> {
    let g = GroupedCounts {
        names: vec!["x".into()],
        minutes: counts.len(),
        counts: Arc::new(counts),
    };
    let mut source = g.source(
        0,
        ReplayOptions {
            spread,
            time_scale: 1.0,
            load_scale: 1.0,
            looped: false,
            end,
        },
    );
    let mut rng = RngStreams::new(7).stream(Stream::Traffic);
    let mut out = Vec::new();
    while let Some(a) = source.next_arrival(&mut rng).unwrap() {
        out.push(a.at);
    }
    out
}

#[test]
fn uniform_and_even_keep_each_minutes_count_in_order() {
    for spread in [Spread::Uniform, Spread::Even] {
        let times = replay(spread, vec![3.0, 0.0, 5.0], SimTime::MAX);
        assert_eq!(times.len(), 8);
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let minute = |t: &SimTime| t.0 / MINUTE_NS;
        assert_eq!(times.iter().filter(|t| minute(t) == 0).count(), 3);
        assert_eq!(times.iter().filter(|t| minute(t) == 2).count(), 5);
    }
    // The end cuts the replay.
    let times = replay(Spread::Even, vec![3.0, 0.0, 5.0], SimTime(MINUTE_NS));
    assert_eq!(times.len(), 3);
}

#[test]
fn poisson_matches_the_mean() {
    let times = replay(Spread::Poisson, vec![600.0; 100], SimTime::MAX);
    let n = times.len() as f64;
    assert!((n - 60_000.0).abs() < 4.0 * 60_000f64.sqrt(), "{n}");
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}
