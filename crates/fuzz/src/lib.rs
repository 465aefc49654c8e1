//! Fuzz targets for the parsers that take outside input, runnable on stable
//! Rust: the search query parser, the pagination token decoder, the
//! JSON-lines importers (Tollgate's own format and twarc2 pages) and the
//! ledger entry decoder.
//!
//! Each target takes arbitrary bytes and panics if a property fails: no
//! panic inside the code under test, and where an encoder exists, that what
//! is decoded encodes back to itself. `tollgate-fuzz` (src/main.rs, run by
//! bench/fuzz.sh) mutates inputs and watches for panics and hangs; the files
//! under `corpus/<target>/` (seeds, and every input that ever failed) are fed
//! to the targets by `tests/corpus.rs` on every test run.

pub mod mutate;
pub mod targets;

pub use targets::{Target, TargetName};

/// FNV-1a: names saved inputs by their content and condenses outcomes into
/// signatures. Not for anything adversarial.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The kind of an error: its message up to the first quoted part (user
/// input, which the messages put in backticks or double quotes), at most 40
/// characters, digits collapsed. What follows the first quote varies with the
/// input, and an outcome per input would keep every input in the corpus.
pub fn error_shape(message: &str) -> u64 {
    let mut shape = String::with_capacity(40);
    for c in message.chars().take_while(|&c| c != '`' && c != '"').take(40) {
        if c.is_ascii_digit() {
            if !shape.ends_with('#') {
                shape.push('#');
            }
        } else {
            shape.push(c);
        }
    }
    fnv1a(shape.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shapes_ignore_positions_and_user_input() {
        assert_eq!(
            error_shape("unterminated quoted phrase starting at position 3"),
            error_shape("unterminated quoted phrase starting at position 117")
        );
        assert_eq!(error_shape("unknown field `x`, expected `v`"), error_shape("unknown field `yy`, expected `v`"));
        assert_ne!(error_shape("unexpected `)`"), error_shape("the query is empty"));
    }
}
