//! `Gitlab-Shell-Api-Request` on every shell endpoint: what GitLab accepts and what it turns
//! away with 401 `{"message":"401 Unauthorized"}` before looking at any parameter.

use axum::body::Body;
use axum::http::{Method, Request};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::support::*;

const UNAUTHORIZED: &str = r#"{"message":"401 Unauthorized"}"#;
/// One endpoint of each kind; `/authorized_keys` without `key` proves auth runs first.
const PATHS: [&str; 4] = [
    "/api/v4/internal/check",
    "/api/v4/internal/discover?key_id=1",
    "/api/v4/internal/authorized_keys?key=AAAA",
    "/api/v4/internal/authorized_keys",
];

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn signed(algorithm: Algorithm, claims: serde_json::Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn rejected_tokens() -> Vec<(&'static str, String)> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let unsigned = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(format!(r#"{{"iss":"gitlab-shell","exp":{}}}"#, now() + 60))
    );
    vec![
        ("empty", String::new()),
        ("garbage", "not-a-jwt".to_owned()),
        (
            "wrong secret",
            signed(
                Algorithm::HS256,
                json!({"iss": "gitlab-shell", "exp": now() + 60}),
                b"another-secret",
            ),
        ),
        (
            "secret with its newline",
            signed(
                Algorithm::HS256,
                json!({"iss": "gitlab-shell", "exp": now() + 60}),
                b"default-secret-content\n",
            ),
        ),
        (
            "expired beyond the leeway",
            signed(
                Algorithm::HS256,
                json!({"iss": "gitlab-shell", "iat": now() - 180, "exp": now() - 120}),
                SECRET,
            ),
        ),
        (
            "not yet valid",
            signed(
                Algorithm::HS256,
                json!({"iss": "gitlab-shell", "nbf": now() + 120}),
                SECRET,
            ),
        ),
        (
            "wrong issuer",
            signed(
                Algorithm::HS256,
                json!({"iss": "gitlab-workhorse", "exp": now() + 60}),
                SECRET,
            ),
        ),
        (
            "no issuer",
            signed(Algorithm::HS256, json!({"exp": now() + 60}), SECRET),
        ),
        (
            "kas issuer",
            signed(
                Algorithm::HS256,
                json!({"iss": "gitlab-kas", "aud": "gitlab", "exp": now() + 60}),
                SECRET,
            ),
        ),
        (
            "HS512",
            signed(
                Algorithm::HS512,
                json!({"iss": "gitlab-shell", "exp": now() + 60}),
                SECRET,
            ),
        ),
        ("alg none", unsigned),
    ]
}

on_both_backends! {
    async fn every_bad_token_is_a_plain_401(app: TestApp) {
        for (case, token) in rejected_tokens() {
            for path in PATHS {
                let response = app.send(shell_request(Method::GET, path, &token)).await;
                assert_eq!(response.text, UNAUTHORIZED, "{case} on {path}");
                response.assert(401, UNAUTHORIZED);
            }
        }
        assert_eq!(app.take_round_trips(), 0, "rejected requests never reach the store");
    }

    async fn missing_header_and_legacy_shared_secret_are_401(app: TestApp) {
        for path in PATHS {
            let bare = Request::get(path).body(Body::empty()).unwrap();
            app.send(bare).await.assert(401, UNAUTHORIZED);
            let legacy = Request::get(path)
                .header("Gitlab-Shared-Secret", base64::engine::general_purpose::STANDARD.encode(SECRET))
                .body(Body::empty())
                .unwrap();
            app.send(legacy).await.assert(401, UNAUTHORIZED);
        }
    }

    async fn tokens_gitlab_accepts(app: TestApp) {
        let accepted = [
            ("what gitlab-shell sends", jwt_now()),
            ("no exp at all", signed(Algorithm::HS256, json!({"iss": "gitlab-shell"}), SECRET)),
            ("iat in the future", signed(Algorithm::HS256, json!({"iss": "gitlab-shell", "iat": now() + 10, "exp": now() + 70}), SECRET)),
            ("expired within the leeway", signed(Algorithm::HS256, json!({"iss": "gitlab-shell", "exp": now() - 30}), SECRET)),
            ("with an audience", signed(Algorithm::HS256, json!({"iss": "gitlab-shell", "aud": "x", "exp": now() + 60}), SECRET)),
        ];
        for (case, token) in accepted {
            let response = app.send(shell_request(Method::GET, "/api/v4/internal/check", &token)).await;
            assert_eq!(response.status.as_u16(), 200, "{case}: {}", response.text);
        }
    }
}
