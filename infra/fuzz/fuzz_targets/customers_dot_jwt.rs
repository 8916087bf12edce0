//! CustomersDot's `X-Customers-Dot-Internal-Token`: `gl_auth::customers_dot::
//! CustomersDotVerifier` against a stand-in portal whose discovery document and key set are
//! the test fixtures' (`shared/auth/tests/fixtures`, key `key-a`). The first byte chooses
//! (modulo 2):
//!
//! * `0`: the rest is the token, verified as it is;
//! * `1`: the rest is a JWT header (JSON) and, after a `\n`, its claims, which this target
//!   signs with the portal's RS256 key `key-a`. Integer `exp`, `iat` and `nbf` within a million
//!   seconds of zero are offsets from now (see `gl_fuzz::absolute_claims`). An empty header is
//!   `{"alg":"RS256","kid":"key-a"}`.
//!
//! Invariants: a token the portal's key did not sign is refused; an accepted token had `alg`
//! RS256, the portal's issuer, the subject `customers-dot-internal-api`, the audience
//! `gitlab-subscriptions`, an `exp` within the leeway of now, and an `nbf` that has passed.

#![no_main]

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use base64::Engine as _;
use gl_auth::customers_dot::{
    CUSTOMERS_DOT_AUDIENCE, CUSTOMERS_DOT_SUBJECT, CustomersDotVerifier, FetchJson,
};
use gl_fuzz::{absolute_claims, b64url, int_claim, line, now};
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const PORTAL: &str = "https://customers.example.com";
const KEY_A: &str = include_str!("../../../shared/auth/tests/fixtures/customers-dot-a.pem");
const JWKS_A: &str = include_str!("../../../shared/auth/tests/fixtures/customers-dot-jwks-a.json");
/// `Validation`'s default leeway, which the verifier keeps, and clock slack.
const LEEWAY: i128 = 60 + 5;

struct Portal;

#[async_trait]
impl FetchJson for Portal {
    async fn fetch_json(&self, url: &str) -> Result<Value, String> {
        match url {
            "https://customers.example.com/.well-known/openid-configuration" => Ok(json!({
                "issuer": PORTAL,
                "jwks_uri": "https://customers.example.com/oauth/discovery/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
            })),
            "https://customers.example.com/oauth/discovery/keys" => {
                Ok(serde_json::from_str(JWKS_A).expect("the fixture is JSON"))
            }
            other => Err(format!("404 {other}")),
        }
    }
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
});
static VERIFIER: LazyLock<CustomersDotVerifier> =
    LazyLock::new(|| CustomersDotVerifier::new(PORTAL, Arc::new(Portal)));
static SIGNING_KEY: LazyLock<EncodingKey> = LazyLock::new(|| {
    let body: String = KEY_A
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("the fixture is PEM");
    EncodingKey::from_rsa_der(&der)
});

fn verify(token: &str) -> bool {
    RUNTIME.block_on(VERIFIER.verify(token)).is_ok()
}

fn check_accepted(header: &[u8], claims: Option<&Value>) {
    let header: Value = serde_json::from_slice(header).expect("an accepted header is JSON");
    assert_eq!(header["alg"], "RS256", "{header}");
    assert!(
        header.get("kid").is_none_or(|kid| kid == "key-a"),
        "{header}"
    );
    let claims = claims.expect("accepted claims are a JSON object");
    let has = |name: &str, wanted: &str| {
        let value = &claims[name];
        value == wanted
            || value
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == wanted))
    };
    assert!(has("iss", PORTAL), "{claims}");
    assert!(has("aud", CUSTOMERS_DOT_AUDIENCE), "{claims}");
    assert_eq!(claims["sub"], CUSTOMERS_DOT_SUBJECT, "{claims}");
    let now = i128::from(now());
    let exp = claims.get("exp").expect("an accepted token has exp");
    if let Some(exp) = int_claim(claims, "exp") {
        assert!(exp >= now - LEEWAY, "expired: {claims}");
    } else {
        assert!(exp.as_f64().is_some_and(|exp| exp >= (now - LEEWAY) as f64));
    }
    if let Some(nbf) = int_claim(claims, "nbf") {
        assert!(nbf <= now + LEEWAY, "not yet valid: {claims}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(token) = std::str::from_utf8(rest) {
            assert!(!verify(token), "forged CustomersDot token");
        }
        return;
    }
    let (header, claims) = line(rest);
    let header = if header.is_empty() {
        br#"{"alg":"RS256","kid":"key-a"}"#.as_slice()
    } else {
        header
    };
    let absolute = absolute_claims(claims, now());
    let claims_bytes = match &absolute {
        Some(value) => serde_json::to_vec(value).expect("JSON serialises"),
        None => claims.to_vec(),
    };
    let input = format!("{}.{}", b64url(header), b64url(&claims_bytes));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &SIGNING_KEY, Algorithm::RS256)
        .expect("RS256 signing with the fixture key");
    if verify(&format!("{input}.{signature}")) {
        check_accepted(header, absolute.as_ref());
    }
});
