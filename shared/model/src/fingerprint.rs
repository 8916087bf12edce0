//! SSH public keys the way GitLab fingerprints and publishes them.

use base64::Engine as _;
use sha2::{Digest, Sha256};

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
