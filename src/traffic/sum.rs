//! The superposition of several open-loop sources, merged in time order.
//!
//! Each child owns its random stream (given at construction, normally
//! `RngStreams::indexed(Stream::Traffic, i)`), so adding or changing one child never shifts the arrivals of
//! another; the generator passed to [`SumSource::next_arrival`] is not used. The merge keeps one look-ahead
//! arrival per child: memory is O(children), independent of the number of arrivals. Ties (equal times) go to
//! the child with the lower index, so the merged order is deterministic.

use super::{Arrival, ArrivalSource, TrafficError};
use crate::engine::SimRng;

struct Child {
    source: Box<dyn ArrivalSource>,
    rng: SimRng,
    /// `None` before the first pull; `Some(None)` once exhausted.
    head: Option<Option<Arrival>>,
}

/// Merges children by arrival time; ties broken by child index.
pub struct SumSource {
    children: Vec<Child>,
}

impl SumSource {
    pub fn new(children: Vec<(Box<dyn ArrivalSource>, SimRng)>) -> Self {
        SumSource {
            children: children
                .into_iter()
                .map(|(source, rng)| Child {
                    source,
                    rng,
                    head: None,
                })
                .collect(),
        }
    }
}

impl ArrivalSource for SumSource {
    fn next_arrival(&mut self, _rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError> {
        let mut best: Option<(usize, Arrival)> = None;
        for (index, child) in self.children.iter_mut().enumerate() {
            if child.head.is_none() {
                child.head = Some(child.source.next_arrival(&mut child.rng)?);
            }
            if let Some(Some(arrival)) = child.head {
                // Strictly earlier only: an equal time keeps the lower index.
                if best.is_none_or(|(_, b)| arrival.at < b.at) {
                    best = Some((index, arrival));
                }
            }
        }
        Ok(best.map(|(index, arrival)| {
            self.children[index].head = None;
            arrival
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;
    use crate::traffic::generators::ConstantSource;
    use crate::traffic::RequestAttrs;
    use rand::SeedableRng;

    struct Tagged(ConstantSource, u32);
    impl ArrivalSource for Tagged {
        fn next_arrival(&mut self, rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError> {
            Ok(self.0.next_arrival(rng)?.map(|a| Arrival {
                at: a.at,
                attrs: RequestAttrs {
                    prompt_tokens: self.1,
                    ..Default::default()
                },
            }))
        }
    }

    #[test]
    fn merges_in_time_order_with_ties_to_the_lower_index() {
        let end = SimTime::from_secs(2);
        let children: Vec<(Box<dyn ArrivalSource>, SimRng)> = vec![
            (
                Box::new(Tagged(ConstantSource::new(2.0, SimTime::ZERO, end), 0)),
                SimRng::seed_from_u64(1),
            ),
            (
                Box::new(Tagged(ConstantSource::new(4.0, SimTime::ZERO, end), 1)),
                SimRng::seed_from_u64(2),
            ),
        ];
        let mut sum = SumSource::new(children);
        let mut rng = SimRng::seed_from_u64(0);
        let mut got = Vec::new();
        while let Some(a) = sum.next_arrival(&mut rng).unwrap() {
            got.push((a.at.as_nanos() / 250_000_000, a.attrs.prompt_tokens));
        }
        assert_eq!(
            got,
            vec![
                (0, 0),
                (0, 1),
                (1, 1),
                (2, 0),
                (2, 1),
                (3, 1),
                (4, 0),
                (4, 1),
                (5, 1),
                (6, 0),
                (6, 1),
                (7, 1)
            ]
        );
    }
}
