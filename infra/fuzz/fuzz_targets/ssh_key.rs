//! SSH public keys: `gl_model::fingerprint::OpensshKey::parse` (seed import and keys as
//! stored), and the `/authorized_keys` lookup's reading of the `key` parameter
//! (`ruby::decode64`, then `sha256_fingerprint`). Input: an OpenSSH key line, or a NUL byte
//! and then a raw key blob (written out as `<algorithm> <base64 blob>`, so that the blob's
//! binary encoding is mutated directly).
//!
//! Invariants: a parsed key's fingerprint is ssh-keygen's, and is what `/authorized_keys`
//! finds for its blob, padded or not (gitlab-sshd sends none); its publishable line parses
//! back to the same key.

#![no_main]

use base64::Engine as _;
use gl_model::fingerprint::{OpensshKey, sha256_fingerprint};
use gl_model::ruby::decode64;
use libfuzzer_sys::fuzz_target;

/// The algorithm name a blob starts with (an SSH string), or a usual one.
fn blob_algorithm(blob: &[u8]) -> String {
    let named = blob.get(..4).and_then(|len| {
        let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
        let name = std::str::from_utf8(blob.get(4..4usize.checked_add(len)?)?).ok()?;
        (!name.is_empty() && !name.contains(char::is_whitespace)).then(|| name.to_owned())
    });
    named.unwrap_or_else(|| "ssh-ed25519".to_owned())
}

fuzz_target!(|data: &[u8]| {
    let line = match data.split_first() {
        Some((0, blob)) => format!(
            "{} {}",
            blob_algorithm(blob),
            base64::engine::general_purpose::STANDARD.encode(blob)
        ),
        _ => match std::str::from_utf8(data) {
            Ok(line) => line.to_owned(),
            Err(_) => return,
        },
    };
    // `/authorized_keys?key=...`: whatever comes, decoded leniently and fingerprinted.
    let _ = sha256_fingerprint(&decode64(&line));
    let Ok(key) = OpensshKey::parse(&line) else {
        return;
    };
    assert!(!key.algorithm.is_empty());
    let parsed = ssh_key::PublicKey::from_openssh(line.trim()).expect("parsed once already");
    assert_eq!(
        format!("SHA256:{}", key.fingerprint_sha256),
        parsed.fingerprint(ssh_key::HashAlg::Sha256).to_string()
    );
    assert_eq!(
        sha256_fingerprint(&decode64(&key.blob_base64)),
        key.fingerprint_sha256,
        "the stored blob finds the key"
    );
    assert_eq!(
        sha256_fingerprint(&decode64(key.blob_base64.trim_end_matches('='))),
        key.fingerprint_sha256,
        "the blob without padding finds the key"
    );
    for owner in [None, Some("Jane\nDoe (x)")] {
        let published = key.publishable(owner, "gitlab.example.com");
        assert!(!published.contains('\n'));
        assert_eq!(
            OpensshKey::parse(&published).as_ref(),
            Ok(&key),
            "{published}"
        );
    }
});
