//! Unsigned LEB128 varints: 7 bits a byte, low bits first, the high bit set
//! on every byte but the last. Entry id lists (`entry::id_list`) and the
//! per-block post lists (`index`) are both made of them.

/// Appends `v` to `out`.
pub(crate) fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bad {
    /// The bytes end inside it.
    Cut,
    /// Its value does not fit 64 bits.
    Overflow,
}

/// Reads the varint at `*at`, moving `*at` past it.
pub(crate) fn get(bytes: &[u8], at: &mut usize) -> Result<u64, Bad> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let &b = bytes.get(*at).ok_or(Bad::Cut)?;
        *at += 1;
        let low = u64::from(b & 0x7f);
        if shift == 63 && (low > 1 || b & 0x80 != 0) {
            return Err(Bad::Overflow);
        }
        v |= low << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    unreachable!("the tenth byte ends the loop")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_bad_bytes_are_named() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            put(&mut out, v);
            let mut at = 0;
            assert_eq!((get(&out, &mut at), at), (Ok(v), out.len()));
        }
        assert_eq!(get(&[0x80], &mut 0), Err(Bad::Cut));
        assert_eq!(get(&[0xff; 9].iter().chain(&[0x02]).copied().collect::<Vec<_>>(), &mut 0), Err(Bad::Overflow));
        assert_eq!(get(&[0xff; 12], &mut 0), Err(Bad::Overflow));
    }
}
