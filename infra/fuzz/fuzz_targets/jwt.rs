//! The GitLab Shell and KAS JWTs of the `Gitlab-Shell-Api-Request` and
//! `Gitlab-Kas-Api-Request` headers: `gl_auth::ShellJwtVerifier` and `KasJwtVerifier`, with
//! fixed secrets. The first byte chooses (modulo 4):
//!
//! * `0`, `1`: the rest is the header's value, given to the GitLab Shell (`0`) or KAS (`1`)
//!   verifier as it is;
//! * `2`, `3`: the rest is a JWT header (JSON) and, after a `\n`, its claims, which this target
//!   signs with the GitLab Shell (`2`) or KAS (`3`) secret, so that what lies past the
//!   signature is reached. Integer `exp`, `iat` and `nbf` within a million seconds of zero are
//!   offsets from now (see `gl_fuzz::absolute_claims`). An empty header is `{"alg":"HS256"}`.
//!
//! Invariants: a token these secrets did not sign is refused; an accepted token had
//! `alg` HS256, the right issuer (and for KAS the `gitlab` audience), an `exp` within the
//! leeway of now and at most five minutes ahead, a lifetime from `iat` of at most five
//! minutes, and an `nbf` that has passed.

#![no_main]

use std::sync::LazyLock;

use gl_auth::{KasJwtVerifier, MAX_JWT_LIFETIME_SECONDS, ShellJwtVerifier};
use gl_fuzz::{absolute_claims, b64url, int_claim, line, now};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sha2::Sha256;

const SHELL_SECRET: &[u8] = b"fuzzing-gitlab-shell-secret-0123";
const KAS_KEY: &[u8] = b"fuzzing-kas-key-of-32-bytes-0123";
/// Clock slack for a run that straddles a second boundary.
const SLACK: i128 = 5;

static SHELL: LazyLock<ShellJwtVerifier> = LazyLock::new(|| ShellJwtVerifier::new(SHELL_SECRET));
static KAS: LazyLock<KasJwtVerifier> = LazyLock::new(|| KasJwtVerifier::new(KAS_KEY));

fn sign(secret: &[u8], header: &[u8], claims: &[u8]) -> String {
    let input = format!("{}.{}", b64url(header), b64url(claims));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64url(&mac.finalize().into_bytes()))
}

/// What an accepted token's claims must say; `leeway` is the verifier's.
fn check_accepted(header: &[u8], claims: Option<&Value>, issuer: &str, leeway: i128) {
    let header: Value = serde_json::from_slice(header).expect("an accepted header is JSON");
    assert_eq!(header["alg"], "HS256", "{header}");
    let claims = claims.expect("accepted claims are a JSON object");
    assert_eq!(claims["iss"], issuer, "{claims}");
    let now = i128::from(now());
    let max = i128::from(MAX_JWT_LIFETIME_SECONDS);
    let exp = int_claim(claims, "exp").expect("an accepted token has an integer exp");
    assert!(exp >= now - leeway - SLACK, "expired: {claims}");
    assert!(
        exp <= now + max + leeway + SLACK,
        "lives too long: {claims}"
    );
    if let Some(iat) = int_claim(claims, "iat") {
        assert!(exp - iat <= max, "lives too long from iat: {claims}");
    }
    if let Some(nbf) = int_claim(claims, "nbf") {
        assert!(nbf <= now + leeway + SLACK, "not yet valid: {claims}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => assert!(SHELL.verify(Some(rest)).is_err(), "forged shell token"),
        1 => assert!(KAS.verify(Some(rest)).is_err(), "forged KAS token"),
        mode => {
            let (header, claims) = line(rest);
            let header = if header.is_empty() {
                br#"{"alg":"HS256"}"#.as_slice()
            } else {
                header
            };
            let absolute = absolute_claims(claims, now());
            let claims_bytes = match &absolute {
                Some(value) => serde_json::to_vec(value).expect("JSON serialises"),
                None => claims.to_vec(),
            };
            if mode == 2 {
                let token = sign(SHELL_SECRET, header, &claims_bytes);
                if SHELL.verify(Some(token.as_bytes())).is_ok() {
                    check_accepted(header, absolute.as_ref(), "gitlab-shell", 60);
                }
            } else {
                let token = sign(KAS_KEY, header, &claims_bytes);
                if KAS.verify(Some(token.as_bytes())).is_ok() {
                    check_accepted(header, absolute.as_ref(), "gitlab-kas", 0);
                    let aud = &absolute.as_ref().unwrap()["aud"];
                    assert!(
                        aud == "gitlab"
                            || aud
                                .as_array()
                                .is_some_and(|a| a.iter().any(|x| x == "gitlab")),
                        "audience {aud}"
                    );
                }
            }
        }
    }
});
