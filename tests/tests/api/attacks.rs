//! The attack matrix: forged and confused credentials, tokens of the wrong family, oversized and
//! deeply nested bodies, path traversal in project and group paths, and line breaks aimed at the
//! headers we build from a request. Every case's status and body are pinned together in one
//! snapshot (`attack_matrix`), so a change to any answer shows as one diff; beyond the pins,
//! no answer may be a 5xx, carry a line break in a header, or echo the secret it was forged with.

use axum::body::Body;
use axum::http::{Method, Request};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::*;

on_both_backends!(every_attack_gets_its_pinned_answer);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn hs(algorithm: Algorithm, claims: Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .expect("the token signs")
}

fn shell_claims() -> Value {
    json!({"iss": "gitlab-shell", "iat": now(), "exp": now() + 60})
}

fn kas_claims() -> Value {
    json!({"iss": "gitlab-kas", "aud": "gitlab", "iat": now(), "exp": now() + 60})
}

/// A token whose header names `alg` and whose signature is whatever `signature` is.
fn forged(alg: &str, claims: &Value, signature: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{signature}",
        b64.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#)),
        b64.encode(claims.to_string())
    )
}

/// RS256 over shell claims with a real RSA key: a verifier that let the token choose its
/// algorithm would look for a public key it does not have, or worse, use the secret as one.
fn rs256_shell_token() -> String {
    let text = std::str::from_utf8(PORTAL_KEY_A).expect("PEM is text");
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body is base64");
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &shell_claims(),
        &EncodingKey::from_rsa_der(&der),
    )
    .expect("the token signs")
}

fn shell_with(token: &str, path: &str) -> Request<Body> {
    shell_request(Method::GET, path, token)
}

fn shell_post(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header("Content-Type", "application/json")
        .header("Gitlab-Shell-Api-Request", jwt_now())
        .body(body.into())
        .expect("request builds")
}

fn scim_get(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header("Accept", "application/scim+json")
        .header("Authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request builds")
}

fn pull(project: &str) -> Value {
    json!({"action": "git-upload-pack", "project": project, "key_id": "2",
           "changes": "_any", "protocol": "ssh"})
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

const CHECK: &str = "/api/v4/internal/check";
const AGENT_INFO: &str = "/api/v4/internal/kubernetes/agent_info";
const EXCLUSIONS: &str = "/api/v4/namespaces/storage/limit_exclusions";
const SUBSCRIPTION: &str =
    "/api/v4/internal/gitlab_subscriptions/namespaces/10/gitlab_subscription";

fn cases() -> Vec<(&'static str, Request<Body>)> {
    let shell_secret = SECRET;
    let portal_keys =
        include_bytes!("../../../shared/auth/tests/fixtures/customers-dot-jwks-a.json");
    let oversized = hs(
        Algorithm::HS256,
        json!({"iss": "gitlab-shell", "exp": now() + 60, "pad": "x".repeat(64 * 1024)}),
        shell_secret,
    );
    vec![
        // GitLab Shell's JWT.
        (
            "shell jwt: alg none",
            shell_with(&forged("none", &shell_claims(), ""), CHECK),
        ),
        (
            "shell jwt: HS512 with the right secret",
            shell_with(&hs(Algorithm::HS512, shell_claims(), shell_secret), CHECK),
        ),
        ("shell jwt: RS256", shell_with(&rs256_shell_token(), CHECK)),
        (
            "shell jwt: RS256 header, HMAC signature",
            shell_with(
                &{
                    let honest = hs(Algorithm::HS256, shell_claims(), shell_secret);
                    let signature = honest.rsplit('.').next().unwrap_or_default().to_owned();
                    forged("RS256", &shell_claims(), &signature)
                },
                CHECK,
            ),
        ),
        (
            "shell jwt: KAS issuer",
            shell_with(&hs(Algorithm::HS256, kas_claims(), shell_secret), CHECK),
        ),
        (
            "shell jwt: expired",
            shell_with(
                &hs(
                    Algorithm::HS256,
                    json!({"iss": "gitlab-shell", "iat": now() - 600, "exp": now() - 300}),
                    shell_secret,
                ),
                CHECK,
            ),
        ),
        (
            "shell jwt: not valid for ten minutes",
            shell_with(
                &hs(
                    Algorithm::HS256,
                    json!({"iss": "gitlab-shell", "nbf": now() + 600, "exp": now() + 660}),
                    shell_secret,
                ),
                CHECK,
            ),
        ),
        (
            "shell jwt: 64 KiB of claims, rightly signed",
            shell_with(&oversized, CHECK),
        ),
        (
            "shell jwt: KAS's secret",
            shell_with(&hs(Algorithm::HS256, shell_claims(), KAS_KEY), CHECK),
        ),
        // KAS's JWT, with the agent's real token.
        (
            "kas jwt: alg none",
            kas_request(
                Method::GET,
                AGENT_INFO,
                &forged("none", &kas_claims(), ""),
                Some(AGENT_TOKEN),
                None,
            ),
        ),
        (
            "kas jwt: wrong audience",
            kas_request(
                Method::GET,
                AGENT_INFO,
                &hs(
                    Algorithm::HS256,
                    json!({"iss": "gitlab-kas", "aud": "gitlab-shell", "exp": now() + 60}),
                    KAS_KEY,
                ),
                Some(AGENT_TOKEN),
                None,
            ),
        ),
        (
            "kas jwt: wrong issuer",
            kas_request(
                Method::GET,
                AGENT_INFO,
                &hs(
                    Algorithm::HS256,
                    json!({"iss": "gitlab-shell", "aud": "gitlab", "exp": now() + 60}),
                    KAS_KEY,
                ),
                Some(AGENT_TOKEN),
                None,
            ),
        ),
        (
            "kas jwt: expired",
            kas_request(
                Method::GET,
                AGENT_INFO,
                &hs(
                    Algorithm::HS256,
                    json!({"iss": "gitlab-kas", "aud": "gitlab", "iat": now() - 600, "exp": now() - 300}),
                    KAS_KEY,
                ),
                Some(AGENT_TOKEN),
                None,
            ),
        ),
        (
            "kas jwt: 64 KiB of claims",
            kas_request(
                Method::GET,
                AGENT_INFO,
                &hs(
                    Algorithm::HS256,
                    json!({"iss": "gitlab-kas", "aud": "gitlab", "exp": now() + 30, "pad": "x".repeat(64 * 1024)}),
                    KAS_KEY,
                ),
                Some(AGENT_TOKEN),
                None,
            ),
        ),
        (
            "kas jwt: GitLab Shell's token",
            kas_request(Method::GET, AGENT_INFO, &jwt_now(), Some(AGENT_TOKEN), None),
        ),
        // Tokens.
        (
            "agent token: unknown",
            kas_request(
                Method::GET,
                AGENT_INFO,
                &kas_jwt(),
                Some("agent-token-unknown"),
                None,
            ),
        ),
        (
            "agent token: a prefix of the real one",
            kas_request(
                Method::GET,
                AGENT_INFO,
                &kas_jwt(),
                Some(&AGENT_TOKEN[..AGENT_TOKEN.len() - 1]),
                None,
            ),
        ),
        (
            "agent token: the admin's personal access token",
            kas_request(
                Method::GET,
                AGENT_INFO,
                &kas_jwt(),
                Some("pat-plaintext"),
                None,
            ),
        ),
        (
            "personal access token: unknown",
            private_token_request(EXCLUSIONS, Some("glpat-unknown")),
        ),
        (
            "personal access token: a prefix of the admin's",
            private_token_request(EXCLUSIONS, Some("pat-plaintex")),
        ),
        (
            "personal access token: the agent's token",
            private_token_request(EXCLUSIONS, Some(AGENT_TOKEN)),
        ),
        (
            "personal access token: the group's SCIM token",
            private_token_request(EXCLUSIONS, Some("scim-group")),
        ),
        (
            "scim token: the admin's personal access token",
            scim_get("/api/scim/v2/groups/group/Users", "pat-plaintext"),
        ),
        (
            "scim token: the group's token on the instance",
            scim_get("/api/scim/v2/application/Users", "scim-group"),
        ),
        (
            "scim token: the instance's token on the group",
            scim_get("/api/scim/v2/groups/group/Users", "scim-instance"),
        ),
        (
            "scim token: a prefix of the group's",
            scim_get("/api/scim/v2/groups/group/Users", "scim-grou"),
        ),
        (
            "error-tracking token: GitLab Shell's JWT",
            error_tracking_request("wrong", &json!({"project_id": 26, "public_key": "x"})),
        ),
        (
            "customers dot jwt: HS256 keyed with the portal's public keys",
            jwt_request(
                Method::GET,
                SUBSCRIPTION,
                &hs(Algorithm::HS256, customers_dot_claims(), portal_keys),
                None,
            ),
        ),
        (
            "customers dot jwt: alg none",
            jwt_request(
                Method::GET,
                SUBSCRIPTION,
                &forged("none", &customers_dot_claims(), ""),
                None,
            ),
        ),
        (
            "customers dot jwt: a key the portal does not list",
            jwt_request(
                Method::GET,
                SUBSCRIPTION,
                &customers_dot_jwt(PORTAL_KEY_B, "key-b", &customers_dot_claims()),
                None,
            ),
        ),
        // Bodies.
        (
            "body: 5 MiB",
            shell_post(
                "/api/v4/internal/allowed",
                format!(r#"{{"pad":"{}"}}"#, "x".repeat(5 * 1024 * 1024)),
            ),
        ),
        (
            "body: JSON nested 10,000 deep",
            shell_post("/api/v4/internal/allowed", nested(10_000)),
        ),
        (
            "body: JSON nested 10,000 deep in a field",
            shell_post(
                "/api/v4/internal/allowed",
                format!(
                    r#"{{"action":"git-upload-pack","project":{}}}"#,
                    nested(10_000)
                ),
            ),
        ),
        (
            "body: not JSON",
            shell_post("/api/v4/internal/allowed", "{\"action\": "),
        ),
        // Paths.
        (
            "path: .. inside a project path",
            shell_post(
                "/api/v4/internal/allowed",
                pull("group/../group/private").to_string(),
            ),
        ),
        (
            "path: ../../etc/passwd",
            shell_post(
                "/api/v4/internal/allowed",
                pull("../../etc/passwd").to_string(),
            ),
        ),
        (
            "path: percent-encoded ..",
            shell_post(
                "/api/v4/internal/allowed",
                pull("group/%2e%2e/group/private").to_string(),
            ),
        ),
        (
            "path: .. as the SCIM group",
            scim_get("/api/scim/v2/groups/../Users", "scim-group"),
        ),
        (
            "path: encoded .. as the SCIM group",
            scim_get("/api/scim/v2/groups/%2e%2e/Users", "scim-group"),
        ),
        (
            "path: .. in a KAS project id",
            kas_request(
                Method::GET,
                "/api/v4/internal/kubernetes/project_info?id=group%2F..%2Fgroup%2Fprivate",
                &kas_jwt(),
                Some(AGENT_TOKEN),
                None,
            ),
        ),
        // Headers we build from the request: the pagination links repeat its query.
        (
            "header: CRLF in a query echoed in Link",
            private_token_request(
                &format!("{EXCLUSIONS}?x=%0D%0ASet-Cookie:%20owned=1&per_page=1"),
                Some("pat-plaintext"),
            ),
        ),
    ]
}

async fn every_attack_gets_its_pinned_answer(app: TestApp) {
    let mut matrix = String::new();
    for (name, request) in cases() {
        let response = app.send(request).await;
        let status = response.status.as_u16();
        assert!(status < 500, "{name}: {status} {}", response.text);
        for (header, value) in &response.headers {
            let value = value.as_bytes();
            assert!(
                !value.contains(&b'\r') && !value.contains(&b'\n'),
                "{name}: a line break in {header}"
            );
            assert!(
                !String::from_utf8_lossy(value).contains("owned=1") || header.as_str() == "link",
                "{name}: the injected cookie reached {header}"
            );
        }
        assert!(
            !response.text.contains("default-secret-content"),
            "{name}: the secret is echoed"
        );
        assert!(
            !response.headers.contains_key("set-cookie"),
            "{name}: a cookie was set"
        );
        matrix.push_str(&format!("{name}\n  {status} {}\n", response.text));
    }
    insta::with_settings!({prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!("attack_matrix", matrix.trim_end());
    });
}
