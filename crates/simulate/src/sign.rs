//! Web Bot Auth as a verified crawler sends it: an HTTP Message Signature
//! (RFC 9421) with Ed25519 over `@authority` and `signature-agent`, tagged
//! `web-bot-auth`, its `keyid` the key's JWK SHA-256 thumbprint (RFC 7638).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest as _, Sha256};

/// How long a signature stays valid after it was made, in seconds.
const LIFETIME_SECS: u64 = 300;

/// A crawler's signing key and the directory it names in `Signature-Agent`.
#[derive(Clone)]
pub struct BotKey {
    key: SigningKey,
    /// The crawler's key directory, e.g. `https://searchbot.example`.
    pub agent: String,
}

impl std::fmt::Debug for BotKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotKey").field("x", &self.public_x()).field("agent", &self.agent).finish()
    }
}

/// The three headers of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub signature_agent: String,
    pub signature_input: String,
    pub signature: String,
}

impl BotKey {
    pub fn from_seed(seed: [u8; 32], agent: &str) -> BotKey {
        BotKey { key: SigningKey::from_bytes(&seed), agent: agent.to_owned() }
    }

    /// The public key as a JWK's `x`: base64url without padding.
    pub fn public_x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.key.verifying_key()
    }

    /// The JWK SHA-256 thumbprint (RFC 7638): the hash of the required
    /// members of an OKP key, in lexicographic order, without whitespace.
    pub fn thumbprint(&self) -> String {
        let jwk = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, self.public_x());
        URL_SAFE_NO_PAD.encode(Sha256::digest(jwk.as_bytes()))
    }

    /// `Signature-Agent` as sent: a structured-field string (quoted).
    pub fn signature_agent(&self) -> String {
        format!("\"{}\"", self.agent)
    }

    /// The signature parameters (`Signature-Input` without its label).
    pub fn params(&self, created: u64) -> String {
        format!(
            r#"("@authority" "signature-agent");created={created};expires={};keyid="{}";alg="ed25519";tag="web-bot-auth""#,
            created + LIFETIME_SECS,
            self.thumbprint()
        )
    }

    /// Signs a request to `authority` (the `Host` it sends, lower case, with
    /// its port) made at `created` (Unix seconds).
    pub fn sign(&self, authority: &str, created: u64) -> Signed {
        let params = self.params(created);
        let base = signature_base(&authority.to_ascii_lowercase(), &self.signature_agent(), &params);
        let signature = self.key.sign(base.as_bytes());
        Signed {
            signature_agent: self.signature_agent(),
            signature_input: format!("sig1={params}"),
            signature: format!("sig1=:{}:", STANDARD.encode(signature.to_bytes())),
        }
    }
}

/// The signature base (RFC 9421 section 2.5) of the two covered components:
/// one line per component, then `@signature-params`, no final newline.
pub fn signature_base(authority: &str, signature_agent: &str, params: &str) -> String {
    format!("\"@authority\": {authority}\n\"signature-agent\": {signature_agent}\n\"@signature-params\": {params}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier as _};

    #[test]
    fn a_signature_verifies_over_the_documented_base() {
        let key = BotKey::from_seed([7; 32], "https://searchbot.example");
        let signed = key.sign("127.0.0.1:18190", 1_800_000_000);
        let params = signed.signature_input.strip_prefix("sig1=").unwrap();
        let expected_params = format!(
            "(\"@authority\" \"signature-agent\");created=1800000000;expires=1800000300;keyid=\"{}\";alg=\"ed25519\";tag=\"web-bot-auth\"",
            key.thumbprint()
        );
        assert_eq!(params, expected_params);
        let base = format!(
            "\"@authority\": 127.0.0.1:18190\n\"signature-agent\": \"https://searchbot.example\"\n\"@signature-params\": {expected_params}"
        );
        assert_eq!(signature_base("127.0.0.1:18190", &signed.signature_agent, params), base);
        let b64 = signed.signature.strip_prefix("sig1=:").unwrap().strip_suffix(':').unwrap();
        let sig = Signature::from_slice(&STANDARD.decode(b64).unwrap()).unwrap();
        // Verified with the public key as the crawlers file publishes it.
        let x: [u8; 32] = URL_SAFE_NO_PAD.decode(key.public_x()).unwrap().try_into().unwrap();
        let public = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
        public.verify(base.as_bytes(), &sig).unwrap();
        assert!(public.verify(base.replace("18190", "18191").as_bytes(), &sig).is_err());
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s() {
        // RFC 8037 appendix A.2/A.3: the Ed25519 example key and its thumbprint.
        let seed: [u8; 32] =
            URL_SAFE_NO_PAD.decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A").unwrap().try_into().unwrap();
        let key = BotKey::from_seed(seed, "https://a.example");
        assert_eq!(key.public_x(), "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        assert_eq!(key.thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }
}
