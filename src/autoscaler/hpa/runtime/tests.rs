//! Unit tests of `runtime` (kept beside it so the model reads on its own).

use super::*;

#[test]
fn periodic_schedule_is_phase_plus_multiples() {
    let p = SimDuration::from_secs(15);
    let due: Vec<u64> = (0..=46)
        .filter(|&s| periodic_due(SimTime::from_secs(s), SimDuration::ZERO, p))
        .collect();
    assert_eq!(due, vec![15, 30, 45]);
    let due: Vec<u64> = (0..=46)
        .filter(|&s| periodic_due(SimTime::from_secs(s), SimDuration::from_secs(7), p))
        .collect();
    assert_eq!(due, vec![7, 22, 37]);
}

#[test]
fn latest_sample_respects_the_delay() {
    let mk = |s| Sample {
        at: SimTime::from_secs(s),
        window: SimDuration::from_secs(15),
        values: [s as f64; 8],
    };
    let mut q: VecDeque<Sample> = [mk(15), mk(30), mk(45)].into_iter().collect();
    let got = latest(&mut q, SimTime::from_secs(50), SimDuration::from_secs(10));
    assert_eq!(got.map(|s| s.at), Some(SimTime::from_secs(30)));
    let got = latest(&mut q, SimTime::from_secs(50), SimDuration::ZERO);
    assert_eq!(got.map(|s| s.at), Some(SimTime::from_secs(45)));
    let mut q: VecDeque<Sample> = [mk(45)].into_iter().collect();
    assert!(latest(&mut q, SimTime::from_secs(50), SimDuration::from_secs(10)).is_none());
}
