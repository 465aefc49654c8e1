//! A hand-written pseudo-random generator and the little float arithmetic the
//! generator needs, so that the synthetic platform is a pure function of its
//! options: no crate upgrade and no platform's `libm` can change a single byte.
//!
//! The generator is xoshiro256** seeded through splitmix64, the pairing its
//! authors recommend. `ln` and `exp` are written out with `+ - * /` only, which
//! IEEE 754 rounds the same way everywhere (Rust never fuses them).

/// One step of splitmix64: also a good 64-bit mixing function for hashing.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mix(*state)
}

/// The splitmix64 finalizer: a bijective mix of all 64 bits.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xoshiro256**.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for one independent stream: `stream` separates the streams
    /// drawn from the same seed (accounts, posts, ...).
    pub(crate) fn new(seed: u64, stream: u64) -> Rng {
        let mut state = seed ^ mix(stream.wrapping_add(0x5851_f42d_4c95_7f2d));
        let s = [splitmix64(&mut state), splitmix64(&mut state), splitmix64(&mut state), splitmix64(&mut state)];
        Rng { s }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A number in `0..n` (Lemire's multiply-shift; the bias is below 2^-40
    /// for every `n` used here).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A float in `[0, 1)` with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniformly chosen element; `items` must not be empty.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A number in `lo..hi`; `lo` when the range is empty.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo { lo } else { lo + self.below((hi - lo) as u64) as i64 }
    }

    /// An item from `(item, weight)` pairs with probability proportional to weight.
    pub(crate) fn weighted<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
        let total: u64 = table.iter().map(|&(_, w)| u64::from(w)).sum();
        let mut x = self.below(total);
        for &(item, w) in table {
            if x < u64::from(w) {
                return item;
            }
            x -= u64::from(w);
        }
        table[table.len() - 1].0
    }
}

const LN2: f64 = std::f64::consts::LN_2;

/// Natural logarithm of a positive, finite, normal `x`.
pub(crate) fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (1023 << 52));
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        exponent += 1;
    }
    // ln(m) = 2 atanh(z) with |z| <= 0.172: the series converges fast.
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 40.0 {
        sum += term / k;
        term *= z2;
        k += 2.0;
    }
    exponent as f64 * LN2 + 2.0 * sum
}

/// `e^y` for `y` in roughly `-700..700`.
pub(crate) fn exp(y: f64) -> f64 {
    let k = (y / LN2).round();
    let r = y - k * LN2;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut i = 1.0;
    while i < 20.0 {
        term *= r / i;
        sum += term;
        i += 1.0;
    }
    let k = k as i64;
    if k < -1022 {
        return 0.0;
    }
    sum * f64::from_bits(((k + 1023) as u64) << 52)
}

/// `x^p` for positive `x`.
pub(crate) fn powf(x: f64, p: f64) -> f64 {
    exp(p * ln(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_fixed() {
        // Pinned: a change here changes every generated platform.
        let mut r = Rng::new(42, 0);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut again = Rng::new(42, 0);
        assert_eq!(first, (0..3).map(|_| again.next_u64()).collect::<Vec<_>>());
        assert_ne!(Rng::new(42, 1).next_u64(), first[0]);
        assert_ne!(Rng::new(43, 0).next_u64(), first[0]);
    }

    #[test]
    fn hand_written_math_matches_the_library() {
        for x in [1e-9, 0.001, 0.5, 1.0, 1.5, 2.0, 10.0, 12_345.678, 1e7] {
            let (mine, std) = (ln(x), x.ln());
            assert!((mine - std).abs() <= 1e-13 * std.abs().max(1.0), "ln({x}) = {mine}, std {std}");
        }
        for y in [-30.0, -1.1, 0.0, 0.3, 1.0, 15.0] {
            let (mine, std) = (exp(y), y.exp());
            assert!((mine - std).abs() <= 1e-13 * std, "exp({y}) = {mine}, std {std}");
        }
        assert!((powf(1000.0, -1.1) - 1000f64.powf(-1.1)).abs() < 1e-15);
    }

    #[test]
    fn below_and_weighted_stay_in_range() {
        let mut r = Rng::new(7, 0);
        let mut seen = [0u32; 3];
        for _ in 0..30_000 {
            assert!(r.below(10) < 10);
            seen[r.weighted(&[(0usize, 1), (1, 2), (2, 7)])] += 1;
        }
        assert!(seen[2] > seen[1] && seen[1] > seen[0], "{seen:?}");
    }
}
