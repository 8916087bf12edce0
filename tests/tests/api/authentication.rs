//! `Gitlab-Shell-Api-Request` on every shell endpoint: what GitLab accepts and what it turns
//! away with 401 `{"message":"401 Unauthorized"}` before looking at any parameter.

use axum::body::Body;
use axum::http::{Method, Request};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::support::*;

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
        // Stricter than GitLab: tokens must expire, and within five minutes.
        (
            "no exp at all",
            signed(Algorithm::HS256, json!({"iss": "gitlab-shell"}), SECRET),
        ),
        (
            "living an hour",
            signed(
                Algorithm::HS256,
                json!({"iss": "gitlab-shell", "iat": now(), "exp": now() + 3600}),
                SECRET,
            ),
        ),
        (
            "expiring in ten minutes",
            signed(
                Algorithm::HS256,
                json!({"iss": "gitlab-shell", "exp": now() + 600}),
                SECRET,
            ),
        ),
    ]
}

on_both_backends!(
    every_bad_token_is_a_plain_401,
    missing_header_and_legacy_shared_secret_are_401,
    tokens_gitlab_accepts
);

async fn every_bad_token_is_a_plain_401(app: TestApp) {
    for (case, token) in rejected_tokens() {
        for path in PATHS {
            let response = app.send(shell_request(Method::GET, path, &token)).await;
            response.assert_snapshot_for(401, "unauthorized", format_args!("{case} on {path}"));
        }
    }
    assert_eq!(
        app.take_round_trips(),
        0,
        "rejected requests never reach the store"
    );
}

async fn missing_header_and_legacy_shared_secret_are_401(app: TestApp) {
    for path in PATHS {
        let bare = Request::get(path).body(Body::empty()).unwrap();
        app.send(bare).await.assert_snapshot(401, "unauthorized");
        let legacy = Request::get(path)
            .header(
                "Gitlab-Shared-Secret",
                base64::engine::general_purpose::STANDARD.encode(SECRET),
            )
            .body(Body::empty())
            .unwrap();
        app.send(legacy).await.assert_snapshot(401, "unauthorized");
    }
}

async fn tokens_gitlab_accepts(app: TestApp) {
    let accepted = [
        ("what gitlab-shell sends", jwt_now()),
        (
            "iat in the future",
            signed(
                Algorithm::HS256,
                json!({"iss": "gitlab-shell", "iat": now() + 10, "exp": now() + 70}),
                SECRET,
            ),
        ),
        (
            "expired within the leeway",
            signed(
                Algorithm::HS256,
                json!({"iss": "gitlab-shell", "exp": now() - 30}),
                SECRET,
            ),
        ),
        (
            "with an audience",
            signed(
                Algorithm::HS256,
                json!({"iss": "gitlab-shell", "aud": "x", "exp": now() + 60}),
                SECRET,
            ),
        ),
    ];
    for (case, token) in accepted {
        let response = app
            .send(shell_request(Method::GET, "/api/v4/internal/check", &token))
            .await;
        assert_eq!(response.status.as_u16(), 200, "{case}: {}", response.text);
    }
}

on_both_backends!(gitaly_client_context_hook);

async fn gitaly_client_context_hook(app: TestApp) {
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let cases = [
        (b64(r#"{"scoped-user-id":2}"#), 200, "discover_root"),
        (b64(r#"{"other":"x"}"#), 200, "discover_root"),
        (b64("[1,2]"), 400, "gitaly_context_not_an_object"),
        (b64("{nope"), 400, "gitaly_context_malformed"),
        ("!!!".to_owned(), 400, "gitaly_context_malformed"),
        (
            b64(r#"{"scoped-user-id":999}"#),
            404,
            "gitaly_context_user_999_not_found",
        ),
        // Ruby's decode64 needs no padding; `to_i` reads "abc" as 0; a blank id is skipped.
        (
            b64(r#"{"scoped-user-id":"2"}"#)
                .trim_end_matches('=')
                .to_owned(),
            200,
            "discover_root",
        ),
        (
            b64(r#"{"scoped-user-id":"abc"}"#),
            404,
            "gitaly_context_user_0_not_found",
        ),
        (b64(r#"{"scoped-user-id":""}"#), 200, "discover_root"),
    ];
    for (context, status, snapshot) in cases {
        let escaped = context
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        app.shell_get(&format!(
            "/api/v4/internal/discover?key_id=1&gitaly_client_context_bin={escaped}"
        ))
        .await
        .assert_snapshot(status, snapshot);
    }
    // The hook runs after authentication.
    let request = shell_request(
        Method::GET,
        "/api/v4/internal/discover?gitaly_client_context_bin=!!!",
        "bad",
    );
    app.send(request).await.assert_snapshot(401, "unauthorized");
    // On every internal endpoint: /check and the OTP checks too.
    let bad = b64("[]");
    assert_eq!(
        app.shell_get(&format!(
            "/api/v4/internal/check?gitaly_client_context_bin={bad}"
        ))
        .await
        .status
        .as_u16(),
        400
    );
    let otp = json!({"key_id": "2", "otp_attempt": "123456", "gitaly_client_context_bin": bad});
    assert_eq!(
        app.shell_post("/api/v4/internal/two_factor_manual_otp_check", &otp)
            .await
            .status
            .as_u16(),
        400
    );
    // And on POST bodies too.
    let response = app.shell_post("/api/v4/internal/allowed", &json!({"action": "git-upload-pack", "project": "group/private", "user_id": 2, "gitaly_client_context_bin": b64("[]")})).await;
    assert_eq!(response.status.as_u16(), 400);
}
