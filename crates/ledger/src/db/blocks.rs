//! A compact copy of the ledger's indexable columns per block of
//! `LEDGER_BLOCK` entries (`ledger_blocks`), for questions that need the
//! recipient and time of many scattered entries at once: who received a
//! popular post reads one small blob per block instead of one page of the
//! ledger table per entry (docs/storage.md, "`ledger.db`").
//!
//! A block's copy is written when the index takes in its last entry, from
//! the columns already stored, and is derived data like the rest of the
//! index: `clear` drops it, a rebuild writes it again, and a block without
//! one is read from the ledger table.
//!
//! The blob: a format byte (1), the number of rows `n` (always
//! `LEDGER_BLOCK`) as a varint, then per row in seq order the time minus the
//! previous row's (the first: minus 0) as a zigzag varint, and the row's
//! recipient (`ledger_recipients.id`) shifted left once, plus 1 if the
//! request was refused, as a varint. Varints are LEB128.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tollgate_domain::{AppId, Timestamp};
use tollgate_store::{Result, StoreError};
use tollgate_store_sqlite::plumbing::{Ctx, lookup_id};

use super::index::{purpose_from_sql, purpose_sql, recipient_id};
use super::{EntryColumns, LEDGER_BLOCK, indexed_app};

const FORMAT: u8 = 1;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        if shift == 63 && b & 0x7f > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// One row of a block's copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cols {
    time: i64,
    recipient: i64,
    refused: bool,
}

fn encode(rows: &[Cols]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + rows.len() * 4);
    out.push(FORMAT);
    put_varint(&mut out, rows.len() as u64);
    let mut prev = 0i64;
    for r in rows {
        let d = r.time.wrapping_sub(prev);
        put_varint(&mut out, ((d << 1) ^ (d >> 63)) as u64);
        prev = r.time;
        put_varint(&mut out, ((r.recipient as u64) << 1) | u64::from(r.refused));
    }
    out
}

fn decode(bytes: &[u8]) -> std::result::Result<Vec<Cols>, String> {
    if bytes.first() != Some(&FORMAT) {
        return Err(format!("unknown format {:?}", bytes.first()));
    }
    let mut at = 1;
    let n = varint(bytes, &mut at).ok_or("no row count")?;
    if n != LEDGER_BLOCK {
        return Err(format!("{n} rows for a block of {LEDGER_BLOCK}"));
    }
    let mut out = Vec::with_capacity(n as usize);
    let mut prev = 0i64;
    for i in 0..n {
        let z = varint(bytes, &mut at).ok_or_else(|| format!("row {i} has no time"))?;
        let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let time = prev.wrapping_add(d);
        prev = time;
        let r = varint(bytes, &mut at).ok_or_else(|| format!("row {i} has no recipient"))?;
        out.push(Cols { time, recipient: (r >> 1) as i64, refused: r & 1 == 1 });
    }
    if at != bytes.len() {
        return Err(format!("{} bytes follow the last row", bytes.len() - at));
    }
    Ok(out)
}

/// Writes the copies of the blocks whose last entry lies in `first..end`,
/// the rows just indexed (their columns stored). A block some of whose rows
/// are missing or lack columns gets no copy, and is read from the table.
pub(crate) fn store_completed(tx: &Transaction<'_>, first: u64, end: u64) -> Result<()> {
    let mut select = tx
        .prepare_cached(
            "SELECT seq, time, app_id, client, purpose, refused FROM ledger
             WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
        )
        .ctx("preparing the block column read")?;
    let mut insert = tx
        .prepare_cached("INSERT OR REPLACE INTO ledger_blocks (block, columns) VALUES (?1, ?2)")
        .ctx("preparing the block column write")?;
    let mut numbers: HashMap<(i64, String, &'static str), i64> = HashMap::new();
    // The blocks whose last entry, (b + 1) * LEDGER_BLOCK - 1, lies in first..end.
    let mut block = first / LEDGER_BLOCK;
    while (block + 1).saturating_mul(LEDGER_BLOCK) <= end {
        let lo = block * LEDGER_BLOCK;
        {
            let (Some(lo_sql), Some(hi_sql)) = (lookup_id(lo), lookup_id(lo + LEDGER_BLOCK)) else { break };
            type Raw = (i64, i64, Option<i64>, Option<String>, Option<String>, Option<bool>);
            let raw: Vec<Raw> = select
                .query_map(params![lo_sql, hi_sql], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                })
                .and_then(|rows| rows.collect())
                .ctx(format_args!("reading the columns of ledger block {block}"))?;
            let whole = raw.len() as u64 == LEDGER_BLOCK
                && raw.iter().enumerate().all(|(i, r)| r.0 == lo_sql + i as i64 && r.5.is_some());
            if whole {
                let mut cols = Vec::with_capacity(raw.len());
                for (_, time, app, client, purpose, refused) in raw {
                    let purpose = purpose_sql(purpose.as_deref().and_then(purpose_from_sql));
                    let key = (app.unwrap_or(0), client.unwrap_or_default(), purpose);
                    let recipient = match numbers.get(&key) {
                        Some(id) => *id,
                        None => {
                            let id = recipient_id(tx, (key.0, &key.1, key.2))?;
                            numbers.insert(key, id);
                            id
                        }
                    };
                    cols.push(Cols { time, recipient, refused: refused.unwrap_or(false) });
                }
                let block_sql = lookup_id(block).unwrap_or(i64::MAX);
                insert
                    .execute(params![block_sql, encode(&cols)])
                    .ctx(format_args!("storing the columns of ledger block {block}"))?;
            }
        }
        block += 1;
    }
    Ok(())
}

type Recipient = (Option<AppId>, Option<String>, Option<tollgate_domain::Purpose>);

fn recipient(conn: &Connection, cache: &mut HashMap<i64, Recipient>, id: i64, block: u64) -> Result<Recipient> {
    if let Some(r) = cache.get(&id) {
        return Ok(r.clone());
    }
    let found: Option<(i64, String, String)> = conn
        .prepare_cached("SELECT app_id, client, purpose FROM ledger.ledger_recipients WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
        .ctx("reading a ledger recipient")?;
    let Some((app, client, purpose)) = found else {
        return Err(StoreError::Backend(format!(
            "the column copy of ledger block {block} names recipient {id}, which does not exist; run `tollgate ledger reindex`"
        )));
    };
    let r = (indexed_app(Some(AppId(app as u64))), (!client.is_empty()).then_some(client), purpose_from_sql(&purpose));
    cache.insert(id, r.clone());
    Ok(r)
}

/// The columns of the rows among `seqs`: from the block copies where a block
/// has one, from the ledger table otherwise. `conn` is in a read transaction.
pub(crate) fn entry_columns(conn: &Connection, seqs: &[u64]) -> Result<Vec<EntryColumns>> {
    let mut seqs: Vec<u64> = seqs.iter().copied().filter(|s| lookup_id(*s).is_some()).collect();
    seqs.sort_unstable();
    seqs.dedup();
    let mut out = Vec::with_capacity(seqs.len());
    let mut cache = HashMap::new();
    let mut blob = conn
        .prepare_cached("SELECT columns FROM ledger.ledger_blocks WHERE block = ?1")
        .ctx("preparing the block column read")?;
    let mut row = conn
        .prepare_cached(
            "SELECT time, app_id, client, purpose, refused FROM ledger.ledger
             WHERE seq = ?1 AND refused IS NOT NULL",
        )
        .ctx("preparing the ledger column read")?;
    for group in seqs.chunk_by(|a, b| a / LEDGER_BLOCK == b / LEDGER_BLOCK) {
        let block = group[0] / LEDGER_BLOCK;
        let bytes: Option<Vec<u8>> = blob
            .query_row([block as i64], |r| r.get(0))
            .optional()
            .ctx(format_args!("reading the columns of ledger block {block}"))?;
        if let Some(bytes) = bytes {
            let cols = decode(&bytes).map_err(|why| {
                StoreError::Backend(format!(
                    "the column copy of ledger block {block} is corrupt ({why}); run `tollgate ledger reindex`"
                ))
            })?;
            for &seq in group {
                let c = cols[(seq % LEDGER_BLOCK) as usize];
                let (app_id, client, purpose) = recipient(conn, &mut cache, c.recipient, block)?;
                out.push(EntryColumns {
                    seq,
                    time: Timestamp::from_millis(c.time),
                    app_id,
                    client,
                    purpose,
                    refused: c.refused,
                });
            }
            continue;
        }
        for &seq in group {
            let found = row
                .query_row([seq as i64], |r| {
                    Ok(EntryColumns {
                        seq,
                        time: Timestamp::from_millis(r.get(0)?),
                        app_id: indexed_app(r.get::<_, Option<i64>>(1)?.map(|a| AppId(a as u64))),
                        client: r.get(2)?,
                        purpose: r.get::<_, Option<String>>(3)?.as_deref().and_then(purpose_from_sql),
                        refused: r.get(4)?,
                    })
                })
                .optional()
                .ctx(format_args!("reading the columns of ledger row {seq}"))?;
            out.extend(found);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_copies_round_trip_and_refuse_corruption() {
        let rows: Vec<Cols> = (0..LEDGER_BLOCK as i64)
            .map(|i| Cols {
                time: [i64::MIN, 0, 1_750_000_000_000 - i * 7, i64::MAX][(i % 4) as usize],
                recipient: i * 1_000_003 % 70_000 + 1,
                refused: i % 5 == 0,
            })
            .collect();
        let bytes = encode(&rows);
        assert_eq!(decode(&bytes).unwrap(), rows);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(&[bytes.clone(), vec![0]].concat()).is_err());
        assert!(decode(&encode(&rows[..10])).is_err());
        assert!(decode(&[2, 0]).is_err());
    }
}
