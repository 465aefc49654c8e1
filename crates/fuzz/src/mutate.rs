//! A small mutation engine: a PRNG and byte-level mutations with a dictionary
//! of each target's tokens.
//!
//! cargo-fuzz and libFuzzer need a nightly compiler for their coverage
//! instrumentation; this runner works on stable instead, without coverage.
//! What stands in for coverage is the outcome signature of each target (see
//! `Target::run`): an input whose outcome was never seen before joins the
//! corpus, so error paths reached once are mutated further.

/// xorshift64*: fast, and reproducible from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // A zero state would stay zero.
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Bytes that often sit at boundaries of parsers.
const INTERESTING: &[u8] =
    &[0, 1, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'}', b'[', b']', b':', b',', b' ', b'\n', b'-'];

/// Mutates `input` in place with one to six stacked mutations, keeping it at
/// most `max_len` bytes. `dictionary` holds tokens of the target's language;
/// `others` are corpus entries to splice from.
pub fn mutate(rng: &mut Rng, input: &mut Vec<u8>, max_len: usize, dictionary: &[&[u8]], others: &[Vec<u8>]) {
    let rounds = 1 + rng.below(6);
    for _ in 0..rounds {
        match rng.below(11) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let at = rng.below(input.len() + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                input.splice(at..at, bytes);
            }
            3 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = start + 1 + rng.below((input.len() - start).min(32));
                input.drain(start..end);
            }
            4 if !input.is_empty() => {
                // Copy a range elsewhere.
                let start = rng.below(input.len());
                let end = start + 1 + rng.below((input.len() - start).min(64));
                let piece = input[start..end].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, piece);
            }
            5 if !others.is_empty() => {
                // Splice: a prefix of this input, a suffix of another.
                let other = &others[rng.below(others.len())];
                let cut = rng.below(input.len() + 1);
                let from = rng.below(other.len() + 1);
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            6 | 7 if !dictionary.is_empty() => {
                let token = dictionary[rng.below(dictionary.len())];
                let at = rng.below(input.len() + 1);
                input.splice(at..at, token.iter().copied());
            }
            8 if !dictionary.is_empty() && !input.is_empty() => {
                let token = dictionary[rng.below(dictionary.len())];
                let start = rng.below(input.len());
                let end = start + rng.below((input.len() - start).min(16) + 1);
                input.splice(start..end, token.iter().copied());
            }
            9 if !input.is_empty() => {
                // Repeat a short range many times: deep nesting, long runs.
                let start = rng.below(input.len());
                let end = start + 1 + rng.below((input.len() - start).min(4));
                let piece = input[start..end].to_vec();
                let times = 2 + rng.below(300);
                let at = rng.below(input.len() + 1);
                input.splice(at..at, piece.iter().copied().cycle().take(piece.len() * times));
            }
            10 if !input.is_empty() => {
                // Change an ASCII digit run: ids and lengths at their limits.
                let i = rng.below(input.len());
                if input[i].is_ascii_digit() {
                    let digits: &[&[u8]] = &[
                        b"0",
                        b"18446744073709551615",
                        b"18446744073709551616",
                        b"9223372036854775807",
                        b"-1",
                        b"1e400",
                    ];
                    let mut end = i;
                    while end < input.len() && input[end].is_ascii_digit() {
                        end += 1;
                    }
                    input.splice(i..end, digits[rng.below(digits.len())].iter().copied());
                }
            }
            _ => {}
        }
    }
    input.truncate(max_len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mutations() {
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut input = b"from:ada (cat OR dog)".to_vec();
            for _ in 0..50 {
                mutate(&mut rng, &mut input, 256, &[b"OR"], &[b"x y".to_vec()]);
            }
            input
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn mutations_respect_the_length_cap() {
        let mut rng = Rng::new(1);
        let mut input = vec![b'a'; 10];
        for _ in 0..1000 {
            mutate(&mut rng, &mut input, 64, &[b"((((((((((((((((("], &[]);
            assert!(input.len() <= 64);
        }
    }
}
