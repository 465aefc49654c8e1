//! Signed checkpoints: the ledger's size, Merkle root and chain head at a
//! moment, signed with the ledger key.
//!
//! The signed message is a fixed 118-byte layout (docs/ledger.md restates it
//! for independent verifiers):
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 30 | ASCII `tollgate-ledger-checkpoint-v1` and a newline (0x0a) |
//! | 30 | 8 | key id: `SHA-256(public key)[0..8]` |
//! | 38 | 8 | tree size, unsigned, big-endian |
//! | 46 | 8 | time, milliseconds since the Unix epoch, signed, big-endian |
//! | 54 | 32 | Merkle root (RFC 6962 `MTH`) of entries `0..size` |
//! | 86 | 32 | chain hash of entry `size - 1` (32 zero bytes if `size` is 0) |
//!
//! A fixed binary layout leaves nothing to canonicalise: the verifier builds
//! the same bytes from the same numbers, in any language.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_domain::Timestamp;

use crate::key::{KEY_ID_LEN, KeyId, LedgerKey, PublicKey};
use crate::merkle::{Frontier, Hash};

/// The domain separation prefix of a checkpoint message.
pub const CHECKPOINT_MAGIC: &[u8; 30] = b"tollgate-ledger-checkpoint-v1\n";

/// The length of a checkpoint message.
pub const CHECKPOINT_MESSAGE_LEN: usize = 30 + KEY_ID_LEN + 8 + 8 + 32 + 32;

/// The length of a checkpoint message with its Ed25519 signature.
pub const CHECKPOINT_RECORD_LEN: usize = CHECKPOINT_MESSAGE_LEN + 64;

/// A signed statement that the ledger held `size` entries with this root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub size: u64,
    pub time: Timestamp,
    pub root: Hash,
    pub chain: Hash,
    pub key_id: KeyId,
    pub signature: [u8; 64],
}

impl Checkpoint {
    /// The exact bytes that are signed.
    pub fn message(size: u64, time: Timestamp, root: &Hash, chain: &Hash, key_id: &KeyId) -> Vec<u8> {
        let mut m = Vec::with_capacity(CHECKPOINT_MESSAGE_LEN);
        m.extend_from_slice(CHECKPOINT_MAGIC);
        m.extend_from_slice(key_id);
        m.extend_from_slice(&size.to_be_bytes());
        m.extend_from_slice(&time.millis().to_be_bytes());
        m.extend_from_slice(root);
        m.extend_from_slice(chain);
        debug_assert_eq!(m.len(), CHECKPOINT_MESSAGE_LEN);
        m
    }

    pub fn sign(key: &LedgerKey, size: u64, time: Timestamp, root: Hash, chain: Hash) -> Checkpoint {
        let key_id = key.public().key_id();
        let signature = key.sign(&Checkpoint::message(size, time, &root, &chain, &key_id));
        Checkpoint { size, time, root, chain, key_id, signature }
    }

    /// The signed message followed by its signature (`CHECKPOINT_RECORD_LEN`
    /// bytes), as the segment files keep every commit's head.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut b = Checkpoint::message(self.size, self.time, &self.root, &self.chain, &self.key_id);
        b.extend_from_slice(&self.signature);
        b
    }

    /// Reads `to_bytes` back; the signature is not checked here.
    pub(crate) fn from_bytes(b: &[u8]) -> Result<Checkpoint, String> {
        if b.len() != CHECKPOINT_RECORD_LEN {
            return Err(format!("a signed checkpoint is {CHECKPOINT_RECORD_LEN} bytes, not {}", b.len()));
        }
        if &b[..CHECKPOINT_MAGIC.len()] != CHECKPOINT_MAGIC {
            return Err("it does not start with the checkpoint message's prefix".into());
        }
        let mut i = CHECKPOINT_MAGIC.len();
        let mut take = |n: usize| {
            i += n;
            &b[i - n..i]
        };
        let key_id = fixed(take(KEY_ID_LEN), "key_id")?;
        let size = u64::from_be_bytes(fixed(take(8), "size")?);
        let time = Timestamp::from_millis(i64::from_be_bytes(fixed(take(8), "time")?));
        let root = fixed(take(32), "root")?;
        let chain = fixed(take(32), "chain")?;
        let signature = fixed(take(64), "signature")?;
        Ok(Checkpoint { size, time, root, chain, key_id, signature })
    }

    /// Checks the key id and the signature against `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), String> {
        if self.key_id != key.key_id() {
            return Err(format!(
                "it names key {}, not the ledger key {}",
                hex::encode(self.key_id),
                hex::encode(key.key_id())
            ));
        }
        let message = Checkpoint::message(self.size, self.time, &self.root, &self.chain, &self.key_id);
        if key.verify(&message, &self.signature) { Ok(()) } else { Err("its signature does not verify".into()) }
    }

    /// The exported form (`tollgate ledger checkpoint --json`, and inside
    /// proofs): everything a verifier needs, the public key included.
    pub fn to_json(&self, key: &PublicKey) -> serde_json::Value {
        json!({
            "v": 1,
            "algorithm": "ed25519",
            "size": self.size,
            "time": self.time.to_string(),
            "time_ms": self.time.millis(),
            "root": hex::encode(self.root),
            "chain": hex::encode(self.chain),
            "key_id": hex::encode(self.key_id),
            "public_key": key.hex(),
            "signature": hex::encode(self.signature),
        })
    }

    /// Reads the exported form back (for `verify --checkpoint FILE`).
    pub fn from_json(value: &serde_json::Value) -> Result<Checkpoint, String> {
        let field = |name: &str| value.get(name).ok_or_else(|| format!("the checkpoint has no `{name}`"));
        let hex_field = |name: &str| -> Result<Vec<u8>, String> {
            let text = field(name)?.as_str().ok_or_else(|| format!("`{name}` is not a string"))?;
            hex::decode(text).map_err(|_| format!("`{name}` is not hex"))
        };
        let size = field("size")?.as_u64().ok_or("`size` is not a count")?;
        let time = Timestamp::from_millis(field("time_ms")?.as_i64().ok_or("`time_ms` is not a number")?);
        Ok(Checkpoint {
            size,
            time,
            root: fixed(&hex_field("root")?, "root")?,
            chain: fixed(&hex_field("chain")?, "chain")?,
            key_id: fixed(&hex_field("key_id")?, "key_id")?,
            signature: fixed(&hex_field("signature")?, "signature")?,
        })
    }
}

fn fixed<const N: usize>(bytes: &[u8], name: &str) -> Result<[u8; N], String> {
    bytes.try_into().map_err(|_| format!("`{name}` must be {N} bytes"))
}

/// One line of `checkpoints.log` (or `head.json`): the checkpoint and, unsigned, the Merkle
/// frontier at its size, which lets the writer resume without rereading the
/// ledger. The frontier is only trusted if it hashes to the signed root.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CheckpointRecord {
    pub size: u64,
    pub time: i64,
    pub root: String,
    pub chain: String,
    pub key_id: String,
    pub signature: String,
    #[serde(default)]
    pub frontier: Vec<String>,
}

impl CheckpointRecord {
    pub fn new(cp: &Checkpoint, frontier: &Frontier) -> CheckpointRecord {
        CheckpointRecord {
            size: cp.size,
            time: cp.time.millis(),
            root: hex::encode(cp.root),
            chain: hex::encode(cp.chain),
            key_id: hex::encode(cp.key_id),
            signature: hex::encode(cp.signature),
            frontier: frontier.nodes().iter().map(hex::encode).collect(),
        }
    }

    /// The line, without its newline; an error rather than an empty line.
    pub fn encode(&self) -> Result<Vec<u8>, crate::LedgerError> {
        crate::to_json_bytes("a checkpoint record", self)
    }

    /// Parses a log line into the checkpoint and its frontier (`None` if the
    /// stored frontier is unusable; the checkpoint is still valid without it).
    pub fn parse(line: &[u8]) -> Result<(Checkpoint, Option<Frontier>), String> {
        let r: CheckpointRecord = serde_json::from_slice(line).map_err(|e| format!("not a checkpoint record: {e}"))?;
        let unhex = |s: &str, name: &str| hex::decode(s).map_err(|_| format!("`{name}` is not hex"));
        let cp = Checkpoint {
            size: r.size,
            time: Timestamp::from_millis(r.time),
            root: fixed(&unhex(&r.root, "root")?, "root")?,
            chain: fixed(&unhex(&r.chain, "chain")?, "chain")?,
            key_id: fixed(&unhex(&r.key_id, "key_id")?, "key_id")?,
            signature: fixed(&unhex(&r.signature, "signature")?, "signature")?,
        };
        let nodes: Option<Vec<Hash>> =
            r.frontier.iter().map(|h| hex::decode(h).ok().and_then(|v| v.try_into().ok())).collect();
        let frontier = nodes.and_then(|n| Frontier::from_parts(r.size, n)).filter(|f| f.root() == cp.root);
        Ok((cp, frontier))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_layout_is_fixed() {
        let key = LedgerKey::from_seed([7u8; 32]);
        let root = [0xaa; 32];
        let chain = [0xbb; 32];
        let t = Timestamp::from_millis(1_700_000_000_123);
        let m = Checkpoint::message(258, t, &root, &chain, &key.public().key_id());
        assert_eq!(m.len(), 118);
        assert_eq!(&m[..30], b"tollgate-ledger-checkpoint-v1\n");
        assert_eq!(&m[30..38], &key.public().key_id());
        assert_eq!(&m[38..46], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&m[46..54], &1_700_000_000_123i64.to_be_bytes());
        assert_eq!(&m[54..86], &root);
        assert_eq!(&m[86..118], &chain);

        let cp = Checkpoint::sign(&key, 258, t, root, chain);
        assert_eq!(cp.verify(&key.public()), Ok(()));
        let mut forged = cp.clone();
        forged.size += 1;
        assert!(forged.verify(&key.public()).is_err());
        let other = LedgerKey::from_seed([8u8; 32]);
        assert!(cp.verify(&other.public()).unwrap_err().contains("names key"));
        assert_eq!(Checkpoint::from_json(&cp.to_json(&key.public())), Ok(cp.clone()));

        let mut f = Frontier::new();
        f.push_leaf(root);
        let line = CheckpointRecord::new(&cp, &f).encode().unwrap();
        let (back, frontier) = CheckpointRecord::parse(&line).unwrap();
        assert_eq!(back, cp);
        assert_eq!(frontier, None, "a frontier that does not hash to the root is dropped");
    }
}
