//! The operator's prefix table: which autonomous system and which class of
//! network (residential, mobile, hosting, VPN) an address is in.
//!
//! The table is a CSV file of `prefix,asn,class` rows that the operator
//! builds from whatever source they trust (a routing table dump, a hosting
//! ranges list, a commercial feed); Tollgate ships none. Lookups are the
//! longest matching prefix, as in routing.
//!
//! The rows are flattened, once, into sorted disjoint address ranges each
//! labelled with its most specific row, so a lookup is one binary search
//! (about 17 steps for 100,000 rows) and never walks nested prefixes. A trie
//! was the road not taken: as fast for lookups, but a pointer per node and
//! many more cache misses.

use std::net::IpAddr;
use std::path::Path;

use tollgate_domain::NetClass;

use super::cidr::Cidr;

/// What the prefix table says of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixInfo {
    pub asn: u32,
    pub class: NetClass,
}

/// The prefix table: longest-prefix lookups of IPv4 and IPv6 addresses.
#[derive(Clone, Default)]
pub struct PrefixTable {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
    rows: usize,
}

impl std::fmt::Debug for PrefixTable {
    /// The size, not the rows: a table has 100,000s of them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrefixTable({} rows)", self.rows)
    }
}

/// From `starts[i]` on (up to `starts[i + 1]`), addresses are labelled
/// `infos[i]` (`None`: no row covers them). The starts are kept apart from
/// the labels, and IPv4 ones in 32 bits, so that the binary search touches
/// as few cache lines as it can (100,000 IPv4 rows: under 1 MB of starts).
#[derive(Debug, Clone)]
struct Ranges<K> {
    starts: Vec<K>,
    infos: Vec<Option<PrefixInfo>>,
}

impl<K> Default for Ranges<K> {
    fn default() -> Ranges<K> {
        Ranges { starts: Vec::new(), infos: Vec::new() }
    }
}

impl<K: Copy + Ord> Ranges<K> {
    fn lookup(&self, key: K) -> Option<PrefixInfo> {
        // INVARIANT (sorted-boundaries): `starts` is sorted with no two
        // equal (built by `flatten`), and as long as `infos`.
        let after = self.starts.partition_point(|s| *s <= key);
        *self.infos.get(after.checked_sub(1)?)?
    }
}

/// A boundary while building: from `start` on, addresses are labelled `info`.
#[derive(Debug, Clone, Copy)]
struct Boundary {
    start: u128,
    info: Option<PrefixInfo>,
}

/// A prefix table file that cannot be used. Nothing of it is used then: a
/// half-loaded table would misclassify networks silently.
#[derive(Debug, thiserror::Error)]
pub enum PrefixTableError {
    #[error("cannot read the prefix table `{path}`: {error}")]
    Read { path: String, error: String },
    #[error("{path}:{line}: {what}")]
    Line { path: String, line: usize, what: String },
}

impl PrefixTable {
    /// Reads a `prefix,asn,class` CSV file (see `parse`).
    pub fn load(path: &Path) -> Result<PrefixTable, PrefixTableError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| PrefixTableError::Read { path: shown.clone(), error: e.to_string() })?;
        PrefixTable::parse(&text, &shown)
    }

    /// Parses the table's text; `path` names it in errors.
    ///
    /// One row a line: `prefix,asn,class`, where `prefix` is a CIDR block
    /// (`203.0.113.0/24`, `2001:db8::/32`) with no bits set past its length,
    /// `asn` the autonomous system's number (`64500` or `AS64500`), and
    /// `class` one of `residential`, `mobile`, `hosting`, `vpn`. Blank lines
    /// and `#` comments (whole lines or line ends) are skipped; the first
    /// row may be the header `prefix,asn,class`. A prefix may appear once.
    pub fn parse(text: &str, path: &str) -> Result<PrefixTable, PrefixTableError> {
        let mut rows: Vec<(Cidr, PrefixInfo, usize)> = Vec::new();
        let mut seen_row = false;
        // Spreadsheets save CSV with a byte order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
            if content.is_empty() {
                continue;
            }
            let first = !seen_row;
            seen_row = true;
            if first && content.replace(' ', "").eq_ignore_ascii_case("prefix,asn,class") {
                continue;
            }
            let error = |what: String| PrefixTableError::Line { path: path.to_owned(), line, what };
            let (cidr, info) = parse_row(content).map_err(error)?;
            rows.push((cidr, info, line));
        }
        let count = rows.len();
        let (v4, v6): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(c, _, _)| c.addr().is_ipv4());
        let v4 = flatten(v4, path)?;
        let v6 = flatten(v6, path)?;
        Ok(PrefixTable {
            v4: Ranges {
                // IPv4 starts fit in 32 bits, except the one past
                // 255.255.255.255, which no address reaches.
                starts: v4.iter().filter_map(|b| u32::try_from(b.start).ok()).collect(),
                infos: v4.iter().filter(|b| b.start <= u128::from(u32::MAX)).map(|b| b.info).collect(),
            },
            v6: Ranges { starts: v6.iter().map(|b| b.start).collect(), infos: v6.iter().map(|b| b.info).collect() },
            rows: count,
        })
    }

    /// The most specific row covering `ip`, if any.
    pub fn lookup(&self, ip: IpAddr) -> Option<PrefixInfo> {
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.v4.lookup(u32::from(v4)),
            IpAddr::V6(v6) => self.v6.lookup(u128::from(v6)),
        }
    }

    /// The number of rows the table was built from.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

fn parse_row(content: &str) -> Result<(Cidr, PrefixInfo), String> {
    let fields: Vec<&str> = content.split(',').map(str::trim).collect();
    let [prefix, asn, class] = fields[..] else {
        return Err(format!("expected 3 fields `prefix,asn,class`, found {}: `{content}`", fields.len()));
    };
    let cidr: Cidr = prefix.parse().map_err(|e| format!("the prefix {e}"))?;
    let digits = asn.strip_prefix("AS").or_else(|| asn.strip_prefix("as")).unwrap_or(asn);
    let asn = match digits.parse::<u32>() {
        Ok(n) if !digits.starts_with('+') => n,
        _ => return Err(format!("the autonomous system `{asn}` is not a number from 0 to 4294967295")),
    };
    let class = match NetClass::parse(&class.to_ascii_lowercase()) {
        Some(c) if c != NetClass::Unknown => c,
        _ => return Err(format!("the class `{class}` is not one of residential, mobile, hosting, vpn")),
    };
    Ok((cidr, PrefixInfo { asn, class }))
}

/// Sorted disjoint ranges, each labelled with its most specific row.
///
/// CIDR blocks are either disjoint or nested, so a sweep in address order
/// with a stack of the blocks still open finds, at each block's start and
/// past each block's end, the row that covers the addresses from there on.
fn flatten(mut rows: Vec<(Cidr, PrefixInfo, usize)>, path: &str) -> Result<Vec<Boundary>, PrefixTableError> {
    // Wider blocks first among equal starts, so a block's parents are below
    // it on the stack.
    rows.sort_by_key(|(c, _, line)| (c.bounds().0, c.prefix_len(), *line));
    if let Some(pair) = rows.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(PrefixTableError::Line {
            path: path.to_owned(),
            line: pair[1].2,
            what: format!("the prefix `{}` is already on line {}", pair[1].0, pair[0].2),
        });
    }
    let mut out: Vec<Boundary> = Vec::with_capacity(rows.len() * 2);
    let mut open: Vec<(u128, PrefixInfo)> = Vec::new(); // (end, info), innermost last
    for (cidr, info, _) in rows {
        let (start, end) = cidr.bounds();
        close_before(&mut out, &mut open, Some(start));
        push(&mut out, Boundary { start, info: Some(info) });
        open.push((end, info));
    }
    close_before(&mut out, &mut open, None);
    Ok(out)
}

/// Appends `b`; a boundary at the same address as the last replaces it.
fn push(out: &mut Vec<Boundary>, b: Boundary) {
    match out.last_mut() {
        Some(last) if last.start == b.start => *last = b,
        _ => out.push(b),
    }
}

/// Closes the open blocks that end before `start` (all of them: `None`),
/// each handing the addresses past its end back to its parent.
fn close_before(out: &mut Vec<Boundary>, open: &mut Vec<(u128, PrefixInfo)>, start: Option<u128>) {
    while let Some(&(end, _)) = open.last() {
        if start.is_some_and(|s| end >= s) {
            break;
        }
        open.pop();
        if let Some(next) = end.checked_add(1) {
            push(out, Boundary { start: next, info: open.last().map(|(_, info)| *info) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn at(table: &PrefixTable, s: &str) -> Option<(u32, &'static str)> {
        table.lookup(ip(s)).map(|i| (i.asn, i.class.as_str()))
    }

    #[test]
    fn the_longest_prefix_wins() {
        let text = "\
prefix,asn,class
# a hosting provider with a VPN block inside, and a customer inside that
10.0.0.0/8,64500,hosting
10.1.0.0/16,AS64501,vpn   # trailing comment
10.1.2.0/24,64502,residential
10.200.0.0/16,64503,mobile

2001:db8::/32,64510,hosting
2001:db8:1::/48,64511,mobile
0.0.0.0/0,1,residential
";
        let table = PrefixTable::parse(text, "t.csv").unwrap();
        assert_eq!(table.len(), 7);
        let saved_by_a_spreadsheet = format!("\u{feff}{}", text.replace('\n', "\r\n"));
        assert_eq!(PrefixTable::parse(&saved_by_a_spreadsheet, "t.csv").unwrap().len(), 7);
        assert_eq!(at(&table, "10.0.0.1"), Some((64500, "hosting")));
        assert_eq!(at(&table, "10.1.0.0"), Some((64501, "vpn")));
        assert_eq!(at(&table, "10.1.2.255"), Some((64502, "residential")));
        assert_eq!(at(&table, "10.1.3.0"), Some((64501, "vpn")));
        assert_eq!(at(&table, "10.1.255.255"), Some((64501, "vpn")));
        assert_eq!(at(&table, "10.2.0.0"), Some((64500, "hosting")));
        assert_eq!(at(&table, "10.200.9.9"), Some((64503, "mobile")));
        assert_eq!(at(&table, "10.255.255.255"), Some((64500, "hosting")));
        assert_eq!(at(&table, "11.0.0.0"), Some((1, "residential")));
        assert_eq!(at(&table, "0.0.0.0"), Some((1, "residential")));
        assert_eq!(at(&table, "255.255.255.255"), Some((1, "residential")));
        assert_eq!(at(&table, "::ffff:10.1.2.3"), Some((64502, "residential")));
        assert_eq!(at(&table, "2001:db8:1:ffff::1"), Some((64511, "mobile")));
        assert_eq!(at(&table, "2001:db8:2::1"), Some((64510, "hosting")));
        assert_eq!(at(&table, "2001:db9::1"), None);
        assert_eq!(at(&table, "::"), None);
    }

    #[test]
    fn adjacent_and_full_range_blocks_keep_their_own_rows() {
        let text = "10.0.0.0/24,1,vpn\n10.0.1.0/24,2,mobile\n::/0,3,hosting\nffff::/16,4,vpn\n";
        let table = PrefixTable::parse(text, "t.csv").unwrap();
        assert_eq!(at(&table, "10.0.0.255"), Some((1, "vpn")));
        assert_eq!(at(&table, "10.0.1.0"), Some((2, "mobile")));
        assert_eq!(at(&table, "10.0.2.0"), None);
        assert_eq!(at(&table, "9.255.255.255"), None);
        assert_eq!(at(&table, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), Some((4, "vpn")));
        assert_eq!(at(&table, "fffe::"), Some((3, "hosting")));
    }

    #[test]
    fn bad_lines_are_named_by_file_and_line_and_nothing_is_loaded() {
        let cases = [
            ("10.0.0.0/8,1\n", 1, "expected 3 fields `prefix,asn,class`, found 2: `10.0.0.0/8,1`"),
            ("# c\n\n10.0.0.1/8,1,vpn\n", 3, "the prefix `10.0.0.1/8` has bits set past /8: write `10.0.0.0/8`"),
            ("10.0.0.0/8,big,vpn\n", 1, "the autonomous system `big` is not a number from 0 to 4294967295"),
            ("10.0.0.0/8,-1,vpn\n", 1, "the autonomous system `-1` is not a number from 0 to 4294967295"),
            ("10.0.0.0/8,1,cloud\n", 1, "the class `cloud` is not one of residential, mobile, hosting, vpn"),
            ("10.0.0.0/8,1,unknown\n", 1, "the class `unknown` is not one of residential, mobile, hosting, vpn"),
            ("10.0.0.0/8,1,vpn\n10.0.0.0/8,2,vpn\n", 2, "the prefix `10.0.0.0/8` is already on line 1"),
            ("10.0.0.0/8,1,vpn\nprefix,asn,class\n", 2, "the prefix `prefix` is not an IP address"),
        ];
        for (text, line, what) in cases {
            let err = PrefixTable::parse(text, "nets.csv").unwrap_err().to_string();
            assert!(err.starts_with(&format!("nets.csv:{line}: {what}")), "{err}");
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = PrefixTable::load(Path::new("/nonexistent/nets.csv")).unwrap_err().to_string();
        assert!(err.starts_with("cannot read the prefix table `/nonexistent/nets.csv`: "), "{err}");
    }

    /// Flattening agrees with a plain scan of every row on random tables.
    #[test]
    fn lookups_agree_with_a_linear_scan() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20 {
            let mut text = String::new();
            let mut cidrs = Vec::new();
            for row in 0..200 {
                // Few distinct high bits so that blocks nest often.
                let addr = (((next() % 4) << 30) | ((next() % 4) << 20) | (next() % 0x10_0000)) as u32;
                let len = 2 + (next() % 28) as u8;
                let cidr = Cidr::new(IpAddr::V4(addr.into()), len).unwrap();
                if cidrs.iter().any(|(c, _)| *c == cidr) {
                    continue;
                }
                cidrs.push((cidr, row));
                text.push_str(&format!("{cidr},{row},vpn\n"));
            }
            let table = PrefixTable::parse(&text, "t.csv").unwrap();
            for _ in 0..2000 {
                let probe =
                    IpAddr::V4(((((next() % 4) << 30) | ((next() % 4) << 20) | (next() % 0x10_0000)) as u32).into());
                let expected = cidrs.iter().filter(|(c, _)| c.contains(probe)).max_by_key(|(c, _)| c.prefix_len());
                assert_eq!(table.lookup(probe).map(|i| i.asn), expected.map(|(_, row)| *row as u32), "{probe}");
            }
        }
    }
}
