//! SSH public keys the way GitLab fingerprints and publishes them.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};

/// Ruby's `unpack1('m')`, which GitLab's `InsecureKeyFingerprint` uses on the `key` parameter:
/// characters outside the base64 alphabet are skipped and a dangling partial quantum is dropped,
/// so garbage still "decodes" (to bytes no stored key has) instead of failing.
pub fn lenient_base64_decode(input: &str) -> Vec<u8> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    // Decoding stops at the first padding character, as Ruby's does.
    let mut symbols: String = input
        .chars()
        .take_while(|c| *c != '=')
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
        .collect();
    if symbols.len() % 4 == 1 {
        symbols.pop();
    }
    LENIENT.decode(symbols).unwrap_or_default()
}

/// GitLab's `fingerprint_sha256` column: standard base64 of the SHA-256 of the key blob, without
/// `=` padding and without the `SHA256:` prefix that `ssh-keygen -l` prints.
pub fn sha256_fingerprint(blob: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(blob))
}

/// An OpenSSH public key line, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpensshKey {
    /// `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, ...
    pub algorithm: String,
    /// The base64 blob exactly as written in the line.
    pub blob_base64: String,
    pub fingerprint_sha256: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a valid OpenSSH public key: {0}")]
pub struct InvalidKey(String);

impl OpensshKey {
    pub fn parse(line: &str) -> Result<Self, InvalidKey> {
        let key = ssh_key::PublicKey::from_openssh(line.trim())
            .map_err(|err| InvalidKey(err.to_string()))?;
        let blob = key.to_bytes().map_err(|err| InvalidKey(err.to_string()))?;
        let fingerprint_sha256 = sha256_fingerprint(&blob);
        let blob_base64 = base64::engine::general_purpose::STANDARD.encode(&blob);
        Ok(Self {
            algorithm: key.algorithm().as_str().to_owned(),
            blob_base64,
            fingerprint_sha256,
        })
    }

    /// `Key#publishable_key`: the stored comment (often an email address) is replaced by the
    /// owner's display name and the GitLab host, so the line can be shown to anyone. Line
    /// breaks in the name are flattened because GitLab Shell writes the line into
    /// `authorized_keys` verbatim.
    pub fn publishable(&self, owner_name: Option<&str>, gitlab_host: &str) -> String {
        match owner_name {
            Some(name) => {
                let name = name.replace(['\n', '\r'], " ");
                format!(
                    "{} {} {name} ({gitlab_host})",
                    self.algorithm, self.blob_base64
                )
            }
            None => format!("{} {}", self.algorithm, self.blob_base64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMzna5aq8PDltRbXkTJV8x951Pl7NXp3IYEEAI3XhPBb root@laptop";

    #[test]
    fn fingerprint_matches_ssh_keygen() {
        let key = OpensshKey::parse(ED25519).unwrap();
        let parsed = ssh_key::PublicKey::from_openssh(ED25519).unwrap();
        let expected = parsed.fingerprint(ssh_key::HashAlg::Sha256).to_string();
        assert_eq!(format!("SHA256:{}", key.fingerprint_sha256), expected);
        assert_eq!(key.algorithm, "ssh-ed25519");
    }

    #[test]
    fn blob_decodes_with_and_without_padding() {
        let padded = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQ==";
        let unpadded = padded.trim_end_matches('=');
        assert_eq!(
            lenient_base64_decode(padded),
            lenient_base64_decode(unpadded)
        );
        assert!(!lenient_base64_decode(padded).is_empty());
    }

    #[test]
    fn garbage_decodes_leniently_instead_of_failing() {
        assert_eq!(
            lenient_base64_decode("whatever!"),
            lenient_base64_decode("whatever")
        );
        assert_eq!(lenient_base64_decode("!!!"), Vec::<u8>::new());
        assert_eq!(lenient_base64_decode("QUJD\nRA"), b"ABCD".to_vec());
        assert_eq!(lenient_base64_decode("QUJDRA==junk"), b"ABCD".to_vec());
    }

    #[test]
    fn publishable_form_hides_the_comment() {
        let key = OpensshKey::parse(ED25519).unwrap();
        let shown = key.publishable(Some("Admin\nistrator"), "gitlab.example.com");
        assert_eq!(
            shown,
            format!(
                "ssh-ed25519 {} Admin istrator (gitlab.example.com)",
                key.blob_base64
            )
        );
        assert!(!shown.contains("root@laptop"));
        assert_eq!(
            key.publishable(None, "h"),
            format!("ssh-ed25519 {}", key.blob_base64)
        );
    }

    #[test]
    fn rejects_lines_that_are_not_keys() {
        assert!(OpensshKey::parse("ssh-ed25519 AAAA").is_err());
        assert!(OpensshKey::parse("hello").is_err());
    }
}
