//! Every log line the suite's requests produce, captured at debug level as the functions
//! write them (JSON), and checked after each request: no secret or token the test world or
//! the test configuration holds, and no JWT, may ever appear in one.

use std::sync::{LazyLock, Mutex, Once};

use crate::support::{AGENT_TOKEN, ERROR_TRACKING_TOKEN, KAS_KEY, SECRET, WORLD};

static LINES: Mutex<String> = Mutex::new(String::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LINES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_str(&String::from_utf8_lossy(bytes));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber, once for the whole test binary.
pub fn capture() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .json()
            .flatten_event(true)
            .with_writer(|| Capture)
            .try_init();
        gl_http::request_log::write_to(|line| {
            let mut lines = LINES
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            lines.push_str(line);
            lines.push('\n');
        });
    });
}

/// What must never be logged: the test world's tokens (agents, personal access tokens, SCIM
/// tokens, the Gitaly token) and the secrets the test apps are configured with. JWTs are
/// looked for by shape ([`holds_a_jwt`]).
static SECRETS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let world: serde_json::Value = serde_json::from_str(WORLD).expect("world is JSON");
    let mut secrets: Vec<String> = ["agents", "personal_access_tokens", "scim_tokens"]
        .iter()
        .flat_map(|kind| world[kind].as_array().cloned().unwrap_or_default())
        .filter_map(|record| record["token"].as_str().map(str::to_owned))
        .collect();
    secrets.extend(
        world["settings"]["gitaly"]["token"]
            .as_str()
            .map(str::to_owned),
    );
    secrets.extend([
        AGENT_TOKEN.to_owned(),
        ERROR_TRACKING_TOKEN.to_owned(),
        String::from_utf8_lossy(SECRET).into_owned(),
        String::from_utf8_lossy(KAS_KEY).into_owned(),
    ]);
    secrets.retain(|secret| !secret.is_empty());
    secrets
});

/// The first line of `lines` that holds a secret or a JWT, if any.
fn leaked(lines: &str) -> Option<&str> {
    lines.lines().find(|line| {
        holds_a_jwt(line) || SECRETS.iter().any(|secret| line.contains(secret.as_str()))
    })
}

/// Whether `line` holds a JWT: base64url of a JSON object (`eyJ`...), a dot, and another
/// (`.eyJ`): the header and the claims. Random ids may hold `eyJ`, not this.
fn holds_a_jwt(line: &str) -> bool {
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    line.match_indices("eyJ").any(|(at, _)| {
        let rest = &line.as_bytes()[at..];
        let header = rest.iter().take_while(|b| base64url(**b)).count();
        rest[header..].starts_with(b".eyJ")
    })
}

/// Takes what was logged since the last check and fails on any secret in it.
pub fn assert_no_secret_logged() {
    let lines = std::mem::take(
        &mut *LINES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    if let Some(line) = leaked(&lines) {
        panic!("a log line holds a secret or token: {line}");
    }
}

#[test]
fn the_check_knows_every_kind_of_credential() {
    let world: serde_json::Value = serde_json::from_str(WORLD).unwrap();
    let pat = world["personal_access_tokens"][0]["token"]
        .as_str()
        .unwrap();
    let scim = world["scim_tokens"][0]["token"].as_str().unwrap();
    let jwt = gl_auth::mint_shell_jwt(b"any-secret-0123456789", 1_700_000_000, 60);
    for secret in [pat, scim, AGENT_TOKEN, ERROR_TRACKING_TOKEN, jwt.as_str()] {
        let line = format!(r#"{{"level":"INFO","fields":{{"token":"{secret}"}}}}"#);
        assert!(leaked(&format!("{{}}\n{line}\n")).is_some(), "{secret}");
    }
    for innocent in [
        r#"{"message":"authentication refused","credential":"agent token","reason":"unknown"}"#,
        // A DynamoDB emulator's request id, random base62 that happens to hold `eyJ`.
        r#"{"request_id":"Some(\"n5MqGcOtlKCFaLUSjY6OVeC6SRdeyJ8xO1oYsbYL5xh0\")"}"#,
    ] {
        assert_eq!(leaked(innocent), None);
    }
}

/// A buffer a thread-local subscriber writes into, for a test that reads its own lines.
#[derive(Clone, Default)]
struct Own(std::sync::Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Own {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Own {
    /// The JSON lines written since the last call whose message is `message`.
    fn take(&self, message: &str) -> Vec<serde_json::Value> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .filter(|line| line["message"] == message)
            .collect()
    }
}

/// Every kind of refused credential is one info line naming the kind and the reason, never
/// the credential; every `/allowed` decision is one line with GitLab's reason key.
#[tokio::test]
async fn refusals_and_access_decisions_are_logged_once_without_credentials() {
    use crate::support::*;
    use axum::body::Body;
    use axum::http::{Method, Request};
    let own = Own::default();
    let writer = own.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    // This test's thread only (a current-thread runtime: the routers run here too).
    let _scope = tracing::subscriber::set_default(subscriber);
    let Some(app) = TestApp::seeded(Backend::Embedded).await else {
        return;
    };
    let scim = Request::get("/api/scim/v2/groups/group/Users")
        .header("Authorization", "Bearer not-a-scim-token")
        .body(Body::empty())
        .unwrap();
    let forged = gl_auth::mint_shell_jwt(
        b"not-the-secret-of-this-service",
        chrono::Utc::now().timestamp(),
        60,
    );
    let cases: Vec<(Request<Body>, &str, &str, &str)> = vec![
        (
            kas_request(
                Method::GET,
                "/api/v4/internal/kubernetes/agent_info",
                &kas_jwt(),
                Some("not-an-agent-token"),
                None,
            ),
            "agent token",
            "unknown or revoked",
            "not-an-agent-token",
        ),
        (
            private_token_request(
                "/api/v4/namespaces/storage/limit_exclusions",
                Some("not-a-pat"),
            ),
            "personal access token",
            "unknown",
            "not-a-pat",
        ),
        (scim, "SCIM token", "unknown", "not-a-scim-token"),
        (
            shell_request(Method::GET, "/api/v4/internal/check", &forged),
            "GitLab Shell JWT",
            "InvalidSignature",
            "eyJ",
        ),
    ];
    for (request, credential, reason, secret) in cases {
        let response = app.send(request).await;
        assert_eq!(
            response.status.as_u16(),
            401,
            "{credential}: {}",
            response.text
        );
        let lines = own.take("authentication refused");
        assert_eq!(lines.len(), 1, "{credential}: {lines:?}");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["credential"], credential);
        assert!(
            lines[0]["reason"].as_str().unwrap().contains(reason),
            "{credential}: {lines:?}"
        );
        assert!(!lines[0].to_string().contains(secret), "{lines:?}");
    }

    for (key_id, project, allowed, reason) in [
        ("2", "group/private", true, "allowed"),
        ("2", "group/nothing-here", false, "project_not_found"),
    ] {
        app.shell_post(
            "/api/v4/internal/allowed",
            &serde_json::json!({"action": "git-upload-pack", "project": project, "key_id": key_id, "changes": "_any", "protocol": "ssh"}),
        )
        .await;
        let lines = own.take("git access decision");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["allowed"], allowed);
        assert_eq!(lines[0]["reason"], reason);
        assert_eq!(lines[0]["actor"], format!("key-{key_id}"));
        assert_eq!(lines[0]["action"], "git-upload-pack");
    }
}
