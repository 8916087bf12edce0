//! The CustomersDot JWT against a stand-in portal: discovery, key set, caching, refetch on an
//! unknown `kid`, and every way a token is refused. The RSA keys in `fixtures/` are test keys.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use gl_auth::customers_dot::{
    CustomersDotJwtError, CustomersDotVerifier, DISCOVERY_TTL, FAILURE_BACKOFF, FetchJson,
    JWKS_TTL, UNKNOWN_KID_REFETCH_INTERVAL,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const PORTAL: &str = "https://customers.example.com";
const ISSUER: &str = "https://customers.example.com";
const KEY_A: &[u8] = include_bytes!("fixtures/customers-dot-a.pem");
const KEY_B: &[u8] = include_bytes!("fixtures/customers-dot-b.pem");
const JWKS_A: &str = include_str!("fixtures/customers-dot-jwks-a.json");
const JWKS_AB: &str = include_str!("fixtures/customers-dot-jwks-ab.json");

/// The portal: its discovery document and a key set that tests can change or take down.
struct Portal {
    jwks: Mutex<Value>,
    jwks_uri: Mutex<String>,
    down: Mutex<bool>,
    discovery_fetches: AtomicUsize,
    jwks_fetches: AtomicUsize,
}

impl Portal {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            jwks: Mutex::new(serde_json::from_str(JWKS_A).unwrap()),
            jwks_uri: Mutex::new("https://customers.example.com/oauth/discovery/keys".to_owned()),
            down: Mutex::new(false),
            discovery_fetches: AtomicUsize::new(0),
            jwks_fetches: AtomicUsize::new(0),
        })
    }

    fn fetches(&self) -> (usize, usize) {
        (
            self.discovery_fetches.load(Ordering::SeqCst),
            self.jwks_fetches.load(Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl FetchJson for Portal {
    async fn fetch_json(&self, url: &str) -> Result<Value, String> {
        if *self.down.lock().unwrap() {
            return Err("connection refused".to_owned());
        }
        match url {
            "https://customers.example.com/.well-known/openid-configuration" => {
                self.discovery_fetches.fetch_add(1, Ordering::SeqCst);
                let jwks_uri = self.jwks_uri.lock().unwrap().clone();
                Ok(json!({"issuer": ISSUER, "jwks_uri": jwks_uri,
                          "id_token_signing_alg_values_supported": ["RS256"]}))
            }
            "https://customers.example.com/oauth/discovery/keys" => {
                self.jwks_fetches.fetch_add(1, Ordering::SeqCst);
                Ok(self.jwks.lock().unwrap().clone())
            }
            other => Err(format!("404 {other}")),
        }
    }
}

fn claims() -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": ISSUER, "sub": "customers-dot-internal-api", "aud": "gitlab-subscriptions",
           "iat": now, "exp": now + 60})
}

/// The PKCS#1 DER inside a test key's PEM.
fn der(pem: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn token(pem: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_rsa_der(&der(pem));
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn verifier(portal: &Arc<Portal>) -> CustomersDotVerifier {
    CustomersDotVerifier::new(&format!("{PORTAL}/"), portal.clone())
}

#[tokio::test]
async fn a_token_of_the_portal_is_accepted_and_documents_are_cached() {
    let portal = Portal::new();
    let verifier = verifier(&portal);
    let claims = verifier
        .verify(&token(KEY_A, "key-a", &claims()))
        .await
        .unwrap();
    assert_eq!(claims.sub, "customers-dot-internal-api");
    verifier
        .verify(&token(KEY_A, "key-a", &self::claims()))
        .await
        .unwrap();
    assert_eq!(portal.fetches(), (1, 1));
}

#[tokio::test]
async fn every_wrong_claim_or_signature_is_refused() {
    let portal = Portal::new();
    let verifier = verifier(&portal);
    let mut cases = Vec::new();
    for (name, value) in [
        ("aud", json!("gitlab")),
        ("sub", json!("someone-else")),
        ("iss", json!("https://evil.example.com")),
        ("exp", json!(chrono::Utc::now().timestamp() - 3600)),
    ] {
        let mut wrong = claims();
        wrong[name] = value;
        cases.push((name, token(KEY_A, "key-a", &wrong)));
    }
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    cases.push(("no exp", token(KEY_A, "key-a", &no_exp)));
    // Signed by another key but naming the portal's.
    cases.push(("signature", token(KEY_B, "key-a", &claims())));
    for (case, token) in cases {
        let refused = verifier.verify(&token).await.unwrap_err();
        assert!(
            matches!(refused, CustomersDotJwtError::Invalid(_)),
            "{case}: {refused:?}"
        );
    }
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"guessable"),
    )
    .unwrap();
    assert!(matches!(
        verifier.verify(&hs256).await,
        Err(CustomersDotJwtError::Algorithm)
    ));
    assert!(matches!(
        verifier.verify("not.a.jwt").await,
        Err(CustomersDotJwtError::Malformed(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn an_unknown_kid_refetches_the_key_set_once() {
    let portal = Portal::new();
    let verifier = verifier(&portal);
    verifier
        .verify(&token(KEY_A, "key-a", &claims()))
        .await
        .unwrap();
    // The portal rotates in key b; right after a fetch, an unknown kid does not fetch again.
    *portal.jwks.lock().unwrap() = serde_json::from_str(JWKS_AB).unwrap();
    let by_b = token(KEY_B, "key-b", &claims());
    assert_eq!(
        verifier.verify(&by_b).await.map(|_| ()),
        Err(CustomersDotJwtError::UnknownKey)
    );
    assert_eq!(portal.fetches(), (1, 1));
    tokio::time::advance(UNKNOWN_KID_REFETCH_INTERVAL + Duration::from_secs(1)).await;
    verifier.verify(&by_b).await.unwrap();
    assert_eq!(portal.fetches(), (1, 2));
    // A kid no set holds refetches once, then is refused.
    tokio::time::advance(UNKNOWN_KID_REFETCH_INTERVAL + Duration::from_secs(1)).await;
    let unknown = token(KEY_B, "key-z", &claims());
    assert_eq!(
        verifier.verify(&unknown).await.map(|_| ()),
        Err(CustomersDotJwtError::UnknownKey)
    );
    assert_eq!(portal.fetches(), (1, 3));
    // After 15 minutes the set is fetched again anyway.
    tokio::time::advance(JWKS_TTL).await;
    verifier.verify(&by_b).await.unwrap();
    assert_eq!(portal.fetches(), (1, 4));
}

#[tokio::test(start_paused = true)]
async fn a_portal_that_is_down_refuses_the_token_and_is_not_asked_again_at_once() {
    let portal = Portal::new();
    *portal.down.lock().unwrap() = true;
    let verifier = verifier(&portal);
    for _ in 0..3 {
        let refused = verifier.verify(&token(KEY_A, "key-a", &claims())).await;
        assert!(
            matches!(refused, Err(CustomersDotJwtError::Unreachable(_))),
            "{refused:?}"
        );
    }
    *portal.down.lock().unwrap() = false;
    tokio::time::advance(FAILURE_BACKOFF).await;
    verifier
        .verify(&token(KEY_A, "key-a", &claims()))
        .await
        .unwrap();
    assert_eq!(portal.fetches(), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn documents_held_outlive_a_portal_outage() {
    let portal = Portal::new();
    let verifier = verifier(&portal);
    verifier
        .verify(&token(KEY_A, "key-a", &claims()))
        .await
        .unwrap();
    *portal.down.lock().unwrap() = true;
    tokio::time::advance(DISCOVERY_TTL + Duration::from_secs(1)).await;
    verifier
        .verify(&token(KEY_A, "key-a", &claims()))
        .await
        .unwrap();
    // Tokens naming made-up keys cost one refetch attempt per interval, even while failing.
    let made_up = token(KEY_B, "key-z", &claims());
    for _ in 0..5 {
        assert!(verifier.verify(&made_up).await.is_err());
    }
    assert_eq!(
        portal.fetches(),
        (1, 1),
        "only the fetches that succeeded count"
    );
}

#[tokio::test]
async fn a_key_set_off_the_portal_is_refused() {
    for elsewhere in [
        "https://attacker.example.net/keys",
        "http://customers.example.com/oauth/discovery/keys",
    ] {
        let portal = Portal::new();
        *portal.jwks_uri.lock().unwrap() = elsewhere.to_owned();
        let refused = verifier(&portal)
            .verify(&token(KEY_A, "key-a", &claims()))
            .await;
        assert!(
            matches!(refused, Err(CustomersDotJwtError::Unreachable(_))),
            "{elsewhere}: {refused:?}"
        );
        assert_eq!(portal.fetches(), (1, 0), "{elsewhere}: no key set fetched");
    }
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let portal = Portal::new();
    let mut early = claims();
    early["nbf"] = json!(chrono::Utc::now().timestamp() + 3600);
    let refused = verifier(&portal)
        .verify(&token(KEY_A, "key-a", &early))
        .await;
    assert!(
        matches!(refused, Err(CustomersDotJwtError::Invalid(_))),
        "{refused:?}"
    );
}

/// The same verification over real HTTP, against a stand-in portal on loopback.
#[tokio::test]
async fn http_fetch_reads_the_portal_over_the_network() {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issuer = base.clone();
    let jwks_uri = format!("{base}/oauth/discovery/keys");
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { axum::Json(json!({"issuer": issuer, "jwks_uri": jwks_uri})) }),
        )
        .route(
            "/oauth/discovery/keys",
            get(|| async { axum::Json(serde_json::from_str::<Value>(JWKS_A).unwrap()) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let fetch = Arc::new(gl_auth::customers_dot::HttpFetch::default());
    let verifier = CustomersDotVerifier::new(&base, fetch.clone());
    let mut claims = claims();
    claims["iss"] = json!(base);
    verifier
        .verify(&token(KEY_A, "key-a", &claims))
        .await
        .unwrap();
    // A path the portal does not serve is a fetch failure, not a panic or a hang.
    let missing = fetch.fetch_json(&format!("{base}/nothing")).await;
    assert!(missing.unwrap_err().contains("404"));
    // Nobody listening: refused, quickly.
    let closed = CustomersDotVerifier::new("http://127.0.0.1:9", fetch);
    let refused = closed.verify(&token(KEY_A, "key-a", &claims)).await;
    assert!(
        matches!(refused, Err(CustomersDotJwtError::Unreachable(_))),
        "{refused:?}"
    );
}
