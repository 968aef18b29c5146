//! Helpers for tests and benchmarks only: nothing in the library or the binaries uses them,
//! and they are no part of the API.
//!
//! [`XorShift64`] and [`XorShift64Star`] are the deterministic pseudo-random generators the
//! unit tests, integration tests and criterion benches draw their inputs from (one copy instead
//! of one per test). A test's sequence depends only on its seed, so a failure replays exactly.

/// Marsaglia's xorshift64 (shifts 13, 7, 17): each [`next_u64`](Self::next_u64) steps the
/// state and returns the new state. A zero seed stays zero.
#[derive(Debug, Clone)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Steps the state and returns it.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// `next_u64() % n`; panics when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// [`below`](Self::below) for an index into something `n` long; panics when `n` is 0.
    pub fn below_usize(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// The state: the value the last [`next_u64`](Self::next_u64) returned, or the seed.
    pub const fn state(&self) -> u64 {
        self.state
    }
}

/// xorshift64* (shifts 12, 25, 27, then the state times `0x2545_F491_4F6C_DD1D` is returned;
/// the state itself is not multiplied). A zero seed gives only zeros.
#[derive(Debug, Clone)]
pub struct XorShift64Star {
    state: u64,
}

impl XorShift64Star {
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Steps the state and returns it multiplied.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `next_u64() % n`; panics when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `[0, 1)` from the top 53 bits of [`next_u64`](Self::next_u64).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The steps written out as the tests had them, against the generators.
    #[test]
    fn generators_are_the_written_out_steps() {
        for seed in [
            1u64,
            7,
            0x9E37_79B9_7F4A_7C15,
            0x2545_F491_4F6C_DD1D,
            u64::MAX,
        ] {
            let (mut g, mut x) = (XorShift64::new(seed), seed);
            let (mut s, mut y) = (XorShift64Star::new(seed), seed);
            assert_eq!(g.state(), seed);
            for _ in 0..1000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                assert_eq!(g.next_u64(), x);
                assert_eq!(g.state(), x);
                y ^= y >> 12;
                y ^= y << 25;
                y ^= y >> 27;
                assert_eq!(s.next_u64(), y.wrapping_mul(0x2545_F491_4F6C_DD1D));
            }
        }
        let (mut a, mut b) = (XorShift64::new(3), XorShift64::new(3));
        for n in 1..500u64 {
            assert_eq!(a.below(n), b.next_u64() % n);
            assert_eq!(a.below_usize(n as usize) as u64, b.next_u64() % n);
        }
        let mut s = XorShift64Star::new(5);
        for _ in 0..1000 {
            let u = s.unit();
            assert!((0.0..1.0).contains(&u), "{u}");
        }
        assert_eq!(XorShift64::new(0).next_u64(), 0);
        assert_ne!(XorShift64::new(1).next_u64(), 1);
    }
}
