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

/// Values that sit at the limits of what the JSON formats accept.
fn interesting_value(rng: &mut Rng) -> serde_json::Value {
    use serde_json::{Value, json};
    match rng.below(16) {
        0 => Value::Null,
        1 => json!(-1),
        2 => json!(0),
        3 => json!(u64::MAX),
        4 => json!(i64::MAX as u64 + 1),
        5 => json!(1.5),
        6 => json!(""),
        7 => json!("x".repeat(1 + rng.below(300))),
        8 => json!("é\u{0}\u{202e}𝕏"),
        9 => json!([]),
        10 => json!({}),
        11 => json!(true),
        12 => json!("2024-06-01T12:00:00Z"),
        13 => json!("9999999999999999999"),
        14 => json!(i64::MIN),
        _ => json!(rng.next_u64() >> rng.below(64)),
    }
}

/// A structural mutation of one JSON line of `input` (a line that parses):
/// a value replaced by an interesting one or by another value of the same
/// document, a key removed, or an unknown key added. Returns whether a line
/// was changed. Byte edits almost always break the syntax; these reach the
/// checks behind the parser.
pub fn mutate_json(rng: &mut Rng, input: &mut Vec<u8>) -> bool {
    use serde_json::Value;
    let lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let parsed: Vec<usize> =
        (0..lines.len()).filter(|&i| serde_json::from_slice::<Value>(lines[i]).is_ok_and(|v| v.is_object())).collect();
    if parsed.is_empty() {
        return false;
    }
    let at = parsed[rng.below(parsed.len())];
    let mut doc: Value = serde_json::from_slice(lines[at]).expect("parsed above");
    // The document's nodes, as paths of object keys and array indexes.
    fn paths(v: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(prefix.clone());
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    prefix.push(Step::Key(k.clone()));
                    paths(child, prefix, out);
                    prefix.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    prefix.push(Step::Index(i));
                    paths(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
    fn node<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
        path.iter().fold(v, |v, step| match step {
            Step::Key(k) => &mut v[k.as_str()],
            Step::Index(i) => &mut v[*i],
        })
    }
    let mut all = Vec::new();
    paths(&doc, &mut Vec::new(), &mut all);
    let target = all[rng.below(all.len())].clone();
    match rng.below(4) {
        0 | 1 => *node(&mut doc, &target) = interesting_value(rng),
        2 => {
            let donor = all[rng.below(all.len())].clone();
            let value = node(&mut doc, &donor).clone();
            *node(&mut doc, &target) = value;
        }
        _ => {
            if let Value::Object(map) = node(&mut doc, &target) {
                if !map.is_empty() && rng.chance(2) {
                    let key = map.keys().nth(rng.below(map.len())).cloned().expect("not empty");
                    map.remove(&key);
                } else {
                    map.insert("unknown_field".into(), Value::Null);
                }
            }
        }
    }
    let Ok(line) = serde_json::to_vec(&doc) else { return false };
    let mut out = Vec::with_capacity(input.len());
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(if i == at { &line } else { l });
    }
    *input = out;
    true
}

#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
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
    fn json_mutations_keep_the_other_lines_and_change_one() {
        let original = b"{\"a\":1,\"b\":[1,2]}\nnot json\n".to_vec();
        let mut rng = Rng::new(3);
        let mut changed = 0;
        for _ in 0..200 {
            let mut input = original.clone();
            assert!(mutate_json(&mut rng, &mut input));
            assert!(input.ends_with(b"\nnot json\n"), "{:?}", String::from_utf8_lossy(&input));
            changed += usize::from(input != original);
        }
        assert!(changed > 100, "{changed} of 200 mutations changed the line");
        assert!(!mutate_json(&mut rng, &mut b"no json here".to_vec()));
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
