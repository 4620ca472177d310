//! The generator's randomness: one seeded splitmix64 stream, IEEE-exact float helpers (no
//! `powf`/`ln`, so the same seed gives the same bytes everywhere), and a Fenwick tree for drawing
//! an item in proportion to its weight.

/// The splitmix64 output function: a bijection on `u64` that mixes all bits.
pub(super) fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A bijection on `u32` keyed by `key` (xor, then xorshift-multiply rounds).
pub(super) fn mix32(x: u32, key: u32) -> u32 {
    let mut x = x ^ key;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// `x^e` for `x` in (0, 1] and `e` in [0, 1), from square roots and products only (both exact
/// IEEE operations), so results do not depend on the platform's `libm`.
pub(super) fn pow_frac(x: f64, e: f64) -> f64 {
    let mut result = 1.0;
    let mut root = x;
    let mut rest = e;
    for _ in 0..40 {
        root = root.sqrt();
        rest *= 2.0;
        if rest >= 1.0 {
            result *= root;
            rest -= 1.0;
        }
    }
    result
}

/// splitmix64: the generator's only source of randomness.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `0..n` for slice lengths.
    pub(super) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in [0, 1).
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform in (0, 1].
    pub(super) fn unit_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    pub(super) fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// Pareto with scale `min` and shape `alpha` (> 1).
    pub(super) fn pareto(&mut self, min: f64, alpha: f64) -> f64 {
        min / pow_frac(self.unit_open(), 1.0 / alpha)
    }

    /// Price in cents, heavy-ish: mostly 5..60 units, sometimes a few hundred.
    pub(super) fn cents(&mut self) -> u64 {
        let base = 199 + self.below(5_800);
        if self.chance(0.05) {
            base * (2 + self.below(8))
        } else {
            base
        }
    }
}

/// Fenwick tree over device weights: weighted draws of returning devices in O(log n).
pub(super) struct Fenwick {
    tree: Vec<u64>,
    pub(super) total: u64,
}

impl Fenwick {
    pub(super) fn new(len: usize) -> Fenwick {
        Fenwick { tree: vec![0; len + 1], total: 0 }
    }

    pub(super) fn add(&mut self, index: usize, delta: u64) {
        self.total = self.total.wrapping_add(delta);
        let mut i = index + 1;
        while let Some(slot) = self.tree.get_mut(i) {
            *slot = slot.wrapping_add(delta);
            i += i & i.wrapping_neg();
        }
    }

    pub(super) fn sub(&mut self, index: usize, delta: u64) {
        self.total = self.total.wrapping_sub(delta);
        let mut i = index + 1;
        while let Some(slot) = self.tree.get_mut(i) {
            *slot = slot.wrapping_sub(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// The index whose cumulative weight range contains `target` (< `total`).
    pub(super) fn find(&self, target: u64) -> usize {
        let len = self.tree.len() - 1;
        let mut step = if len == 0 { 0 } else { 1usize << (usize::BITS - 1 - len.leading_zeros()) };
        let mut pos = 0;
        let mut rest = target;
        while step > 0 {
            let next = pos + step;
            if let Some(&weight) = self.tree.get(next) {
                if weight <= rest {
                    pos = next;
                    rest -= weight;
                }
            }
            step >>= 1;
        }
        pos
    }
}
