//! The ledger's Ed25519 key: created on first start, kept beside the data,
//! used to sign checkpoints and prune records.
//!
//! The secret is the 32-byte Ed25519 seed (RFC 8032 §5.1.5), stored as 64 hex
//! digits and a newline in a file only its owner may read. The public key is
//! derived from it, so the two can never disagree.

use std::fs;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::LedgerError;

/// The bytes of a key id: the first 8 bytes of SHA-256 over the public key.
pub const KEY_ID_LEN: usize = 8;

/// A key id names the key a checkpoint claims to be signed with, so a
/// verifier holding several keys (after a rotation) can pick the right one.
pub type KeyId = [u8; KEY_ID_LEN];

/// An Ed25519 public key (the 32-byte encoding of RFC 8032 §5.1.2), kept
/// decoded, with its id: verifying millions of signed heads decodes the
/// key and hashes its id once, not per signature.
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; 32],
    key: VerifyingKey,
    id: KeyId,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &PublicKey) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.hex())
    }
}

impl PublicKey {
    /// Accepts only encodings of a valid curve point.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<PublicKey, LedgerError> {
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| LedgerError::Key("not an ed25519 public key".into()))?;
        Ok(PublicKey::of(key))
    }

    fn of(key: VerifyingKey) -> PublicKey {
        let bytes = key.to_bytes();
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        PublicKey { bytes, key, id }
    }

    pub fn from_hex(text: &str) -> Result<PublicKey, LedgerError> {
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| LedgerError::Key("a public key is 64 hex digits".into()))?;
        PublicKey::from_bytes(bytes)
    }

    pub fn bytes(&self) -> [u8; 32] {
        self.bytes
    }

    pub fn hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// `SHA-256(public key)[0..8]`.
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// Strict RFC 8032 verification: rejects non-canonical and small-order
    /// encodings that lenient verifiers accept, so a signature cannot be
    /// malleated into a second valid one.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.key.verify_strict(message, &Signature::from_bytes(signature)).is_ok()
    }

    /// The document `GET /.well-known/tollgate-ledger-key` and
    /// `tollgate ledger key --json` publish.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "algorithm": "ed25519",
            "public_key": self.hex(),
            "key_id": hex::encode(self.key_id()),
        })
    }
}

/// The signing key. Not `Clone` and not `Debug`-printable, so the secret does
/// not travel further than it must.
pub struct LedgerKey {
    signing: SigningKey,
}

impl std::fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerKey").field("public", &self.public()).finish_non_exhaustive()
    }
}

impl LedgerKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Result<LedgerKey, LedgerError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| LedgerError::Key(format!("no randomness available: {e}")))?;
        Ok(LedgerKey { signing: SigningKey::from_bytes(&seed) })
    }

    pub fn from_seed(seed: [u8; 32]) -> LedgerKey {
        LedgerKey { signing: SigningKey::from_bytes(&seed) }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey::of(self.signing.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// Reads a key file; `Ok(None)` if there is none.
    pub fn load(path: &Path) -> Result<Option<LedgerKey>, LedgerError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LedgerError::Io(format!("reading the ledger key {}: {e}", path.display()))),
        };
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| LedgerError::Key(format!("{} does not hold a key (64 hex digits)", path.display())))?;
        Ok(Some(LedgerKey::from_seed(seed)))
    }

    /// Reads the key file, creating it first if there is none.
    ///
    /// Creation writes a temporary file (mode 0600), syncs it and then links
    /// it into place, which fails if the name exists: a crash leaves either no
    /// key or a whole one, and two processes starting at once end up with the
    /// same key rather than one overwriting the other's.
    pub fn load_or_create(path: &Path) -> Result<LedgerKey, LedgerError> {
        if let Some(key) = LedgerKey::load(path)? {
            return Ok(key);
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let io = |what: &str, e: std::io::Error| LedgerError::Io(format!("{what} {}: {e}", path.display()));
        let key = LedgerKey::generate()?;
        let temp = dir.join(format!(".key-{}.tmp", std::process::id()));
        let _ = fs::remove_file(&temp);
        {
            let mut file = private_file(&temp).map_err(|e| io("creating the ledger key", e))?;
            file.write_all(format!("{}\n", hex::encode(key.signing.to_bytes())).as_bytes())
                .map_err(|e| io("writing the ledger key", e))?;
            file.sync_all().map_err(|e| io("syncing the ledger key", e))?;
        }
        let linked = fs::hard_link(&temp, path);
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                crate::files::sync_dir(dir)?;
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                LedgerKey::load(path)?.ok_or_else(|| LedgerError::Key(format!("{} vanished", path.display())))
            }
            Err(e) => Err(io("installing the ledger key", e)),
        }
    }
}

/// Creates a new file that only its owner can read or write.
pub(crate) fn private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_8032_test_vector_1() {
        // RFC 8032 §7.1, TEST 1: the empty message.
        let seed: [u8; 32] = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap();
        let key = LedgerKey::from_seed(seed);
        assert_eq!(key.public().hex(), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let sig = key.sign(b"");
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(key.public().verify(b"", &sig));
        assert!(!key.public().verify(b"x", &sig));
    }

    #[test]
    fn a_key_is_created_once_and_only_its_owner_reads_it() {
        let dir = std::env::temp_dir().join(format!("tollgate-ledger-key-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        let a = LedgerKey::load_or_create(&path).unwrap();
        let b = LedgerKey::load_or_create(&path).unwrap();
        assert_eq!(a.public(), b.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary file is left behind");
        let _ = fs::remove_dir_all(&dir);
    }
}
