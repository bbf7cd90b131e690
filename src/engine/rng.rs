//! Seeded random streams, one per subsystem.

use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

/// The generator every subsystem uses. Its algorithm is fixed (unlike `StdRng`), so a seed means the same
/// numbers on every platform and every release.
pub type SimRng = Xoshiro256PlusPlus;

/// The subsystems that draw random numbers. Each gets its own stream, so that (for example) a change in the
/// number of service-time draws does not change the arrival times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Traffic,
    Service,
    ColdStart,
    LoadBalancing,
    Scrape,
    Network,
}

impl Stream {
    fn salt(self) -> u64 {
        match self {
            Stream::Traffic => 0x7472_6166_6669_6301,
            Stream::Service => 0x7365_7276_6963_6502,
            Stream::ColdStart => 0x636f_6c64_7374_6103,
            Stream::LoadBalancing => 0x6c6f_6164_6261_6c04,
            Stream::Scrape => 0x7363_7261_7065_7205,
            Stream::Network => 0x6e65_7477_6f72_6b06,
        }
    }
}

/// Derives per-subsystem generators from one scenario seed.
#[derive(Clone, Copy, Debug)]
pub struct RngStreams {
    seed: u64,
}

impl RngStreams {
    pub fn new(seed: u64) -> Self {
        RngStreams { seed }
    }

    /// A fresh generator for `stream`; calling it twice gives two identical generators.
    pub fn stream(&self, stream: Stream) -> SimRng {
        Self::derive(self.seed, stream.salt())
    }

    /// A generator for the `index`-th instance of a subsystem (e.g. one per traffic source of a sum).
    pub fn indexed(&self, stream: Stream, index: u64) -> SimRng {
        Self::derive(
            self.seed,
            stream.salt() ^ splitmix64(index.wrapping_add(0x9e37_79b9)),
        )
    }

    fn derive(seed: u64, salt: u64) -> SimRng {
        let mut state = seed ^ salt;
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            state = splitmix64(state);
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        SimRng::from_seed(key)
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let s = RngStreams::new(42);
        let a: u64 = s.stream(Stream::Traffic).random();
        let b: u64 = s.stream(Stream::Traffic).random();
        let c: u64 = s.stream(Stream::Service).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Fixed algorithm: this value must never change between releases.
        assert_eq!(
            RngStreams::new(1).stream(Stream::Traffic).random::<u64>(),
            FIRST_DRAW_SEED1
        );
    }
    const FIRST_DRAW_SEED1: u64 = 4578641965509608021;
}
