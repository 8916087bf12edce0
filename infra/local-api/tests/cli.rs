//! The `local-api` binary as a user runs it: flags, secrets, seeds, persistence, the printed
//! curl. Each server listens on port 0 of loopback and is killed at the end.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_local-api");
const PROVISION: &str = env!("CARGO_BIN_EXE_provision");

struct Server {
    child: Child,
    address: String,
    token: String,
    /// What the server printed after its banner: one line per request.
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server and reads its banner until the ready-to-paste curl line.
fn start(args: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("local-api starts");
    let stdout = child.stdout.take().unwrap();
    let mut address = None;
    let mut printed = BufReader::new(stdout).lines();
    while let Some(line) = printed.next() {
        let line = line.expect("banner is text");
        if let Some(rest) = line.strip_prefix("serving GitLab's internal API on http://") {
            address = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(start) = line.find("Gitlab-Shell-Api-Request: ") {
            let token = line[start + 26..].split('\'').next().unwrap().to_owned();
            let (send, lines) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in printed.map_while(Result::ok) {
                    if send.send(line).is_err() {
                        break;
                    }
                }
            });
            return Server {
                child,
                address: address.expect("address printed before the curl"),
                token,
                lines,
            };
        }
    }
    let _ = child.kill();
    let status = child.wait();
    panic!("local-api exited before printing its curl line: {status:?}");
}

/// One GET over a fresh connection with these extra header lines; status and body.
async fn raw_get(server: &Server, path: &str, headers: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(&server.address)
        .await
        .unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let status = raw[9..12].parse().unwrap();
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn get(server: &Server, path: &str) -> (u16, String) {
    let headers = format!(
        "Gitlab-Shell-Api-Request: {}\r\nContent-Type: application/json\r\n",
        server.token
    );
    raw_get(server, path, &headers).await
}

fn write_seed(dir: &Path, body: &str) -> String {
    let path = dir.join("seed.json");
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_owned()
}

const SEED: &str = r#"{"users":[{"id":42,"username":"persisted","name":"Persisted User","email":"p@example.com"}],
  "keys":[{"id":9,"user_id":42,"title":"k","key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMzna5aq8PDltRbXkTJV8x951Pl7NXp3IYEEAI3XhPBb x"}]}"#;

#[tokio::test]
async fn serves_the_demo_world_in_memory_with_a_working_curl() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&["--in-memory", "--data-dir", dir.path().to_str().unwrap()]);
    let (status, body) = get(&server, "/api/v4/internal/check").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""redis":true"#), "{body}");
    assert_eq!(
        get(&server, "/api/v4/internal/discover?username=root")
            .await
            .1,
        r#"{"id":1,"username":"root","name":"Administrator"}"#
    );
    assert_eq!(
        get(&server, "/nowhere").await,
        (404, r#"{"error":"404 Not Found"}"#.to_owned())
    );
    // Secrets are generated like GitLab does: a shell secret, and base64 of 32 bytes for KAS.
    assert!(dir.path().join(".gitlab_shell_secret").exists());
    let kas = std::fs::read_to_string(dir.path().join(".gitlab_kas_secret")).unwrap();
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(kas.trim())
            .unwrap()
            .len(),
        32
    );
}

/// The local server prints one JSON line per request, as every function does in Lambda: its
/// ids, family, route template, status, store round trips and times, and CloudWatch's metric
/// directives. No path with its ids, no query, no credential.
#[tokio::test]
async fn every_request_is_one_log_line_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let server = start(&["--in-memory", "--data-dir", data_dir]);
    let key = "AAAAC3NzaC1lZDI1NTE5AAAAIMzna5aq8PDltRbXkTJV8x951Pl7NXp3IYEEAI3XhPBb";
    let agent_token = "glagent-demo-token-0123456789abcdef";
    assert_eq!(
        get(&server, "/api/v4/internal/discover?username=root")
            .await
            .0,
        200
    );
    let with_correlation = format!(
        "Gitlab-Shell-Api-Request: {}\r\nX-Request-Id: 01JCORRELATION\r\n",
        server.token
    );
    assert_eq!(
        raw_get(
            &server,
            &format!("/api/v4/internal/authorized_keys?key={key}"),
            &with_correlation
        )
        .await
        .0,
        200
    );
    kas_get(
        &server,
        dir.path(),
        "/api/v4/internal/kubernetes/agent_info",
        agent_token,
    )
    .await;
    raw_get(&server, "/api/v4/internal/discover?username=root", "").await;
    get(
        &server,
        "/nowhere?private_token=glpat-demo-admin-token-0123456789",
    )
    .await;
    // Other lines (the server's own log, in text) are checked for credentials too.
    let mut lines: Vec<serde_json::Value> = Vec::new();
    while lines.len() < 5 {
        let line = server
            .lines
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a line per request");
        for secret in [
            key,
            agent_token,
            "glpat-demo-admin-token",
            server.token.as_str(),
        ] {
            assert!(!line.contains(secret), "{line}");
        }
        if let Ok(request) = serde_json::from_str::<serde_json::Value>(&line) {
            assert_eq!(request["message"], "request", "{line}");
            lines.push(request);
        }
    }
    let seen: Vec<(&str, &str, u64)> = lines
        .iter()
        .map(|line| {
            (
                line["family"].as_str().unwrap(),
                line["route"].as_str().unwrap(),
                line["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("shell", "GET /api/v4/internal/discover", 200),
            ("shell", "GET /api/v4/internal/authorized_keys", 200),
            ("kas", "GET /api/v4/internal/kubernetes/agent_info", 200),
            ("shell", "GET /api/v4/internal/discover", 401),
            ("unrouted", "unmatched", 404),
        ]
    );
    assert_eq!(lines[1]["correlation_id"], "01JCORRELATION");
    assert!(lines[0].get("correlation_id").is_none());
    let mut ids = std::collections::HashSet::new();
    for line in &lines {
        assert!(ids.insert(line["request_id"].as_str().unwrap().to_owned()));
        assert!(line["latency_ms"].as_f64().unwrap() >= line["store_ms"].as_f64().unwrap());
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "GitLabInternalApi"
        );
    }
    assert_eq!(lines[0]["store_round_trips"], 2, "{}", lines[0]);
    assert_eq!(lines[3]["store_round_trips"], 0, "refused before the store");
    assert_eq!(lines[3]["client_errors"], 1);
}

/// A KAS call as the agent server makes it: its JWT keyed with the data directory's KAS
/// secret, and the demo agent's token.
async fn kas_get(server: &Server, data_dir: &Path, path: &str, agent_token: &str) -> (u16, String) {
    let secret = std::fs::read(data_dir.join(".gitlab_kas_secret")).unwrap();
    let key = gl_auth::kas_secret_from_file(&secret).unwrap();
    let jwt = gl_auth::mint_kas_jwt(&key, chrono::Utc::now().timestamp());
    let headers =
        format!("Gitlab-Kas-Api-Request: {jwt}\r\nAuthorization: Bearer {agent_token}\r\n");
    raw_get(server, path, &headers).await
}

#[tokio::test]
async fn kas_calls_verify_with_the_generated_kas_secret() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&["--in-memory", "--data-dir", dir.path().to_str().unwrap()]);
    let (status, body) = kas_get(
        &server,
        dir.path(),
        "/api/v4/internal/kubernetes/agent_info",
        "glagent-demo-token-0123456789abcdef",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with(r#"{"project_id":26,"agent_id":7,"#),
        "{body}"
    );
    let (status, body) = kas_get(
        &server,
        dir.path(),
        "/api/v4/internal/kubernetes/agent_info",
        "not-a-token",
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"message":"401 Unauthorized"}"#)
    );
}

#[test]
fn a_kas_secret_that_is_not_32_bytes_of_base64_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("kas");
    std::fs::write(&secret, "c2hvcnQ=\n").unwrap();
    let output = Command::new(BIN)
        .args(["--in-memory", "--data-dir", dir.path().to_str().unwrap()])
        .args(["--kas-secret-file", secret.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("must decode to 32 bytes, not 5"),
        "{stderr}"
    );
}

#[tokio::test]
async fn data_and_secrets_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let seed = write_seed(dir.path(), SEED);
    let first = start(&["--data-dir", data.to_str().unwrap(), "--seed", &seed]);
    assert_eq!(
        get(&first, "/api/v4/internal/discover?key_id=9").await.1,
        r#"{"id":42,"username":"persisted","name":"Persisted User"}"#
    );
    let token = first.token.clone();
    drop(first);

    let mut second = start(&["--data-dir", data.to_str().unwrap()]);
    // The first run's token still verifies: the secret file was reused, not regenerated.
    second.token = token;
    assert_eq!(
        get(&second, "/api/v4/internal/discover?key_id=9").await.1,
        r#"{"id":42,"username":"persisted","name":"Persisted User"}"#
    );
    // A seeded store does not get the demo world on top.
    assert_eq!(
        get(&second, "/api/v4/internal/discover?username=root")
            .await
            .1,
        "null"
    );
}

#[test]
fn a_bad_seed_names_record_and_field_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(
        dir.path(),
        &SEED.replace(r#""title":"k""#, r#""title":"k","colour":"red""#),
    );
    let output = Command::new(BIN)
        .args([
            "--in-memory",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--seed",
            &seed,
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("keys[0]: colour: unknown field `colour`"),
        "{stderr}"
    );
}

#[test]
fn an_explicit_secret_file_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args([
            "--in-memory",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--shell-secret-file",
            "/nonexistent/secret",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/secret"));
}

#[test]
fn import_seed_reports_an_unreachable_table() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), SEED);
    let output = Command::new(PROVISION)
        .args([
            "import-seed",
            &seed,
            "--table",
            "t",
            "--dynamodb-endpoint",
            "http://127.0.0.1:9",
            "--region",
            "us-east-1",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unavailable"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The emulator endpoint the test command starts; under `CI=true` its absence is a failure.
fn dynamodb_endpoint() -> Option<String> {
    match std::env::var("DYNAMODB_TEST_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DYNAMODB_TEST_ENDPOINT is not set under CI")
        }
        _ => {
            eprintln!(
                "DYNAMODB_TEST_ENDPOINT is not set: this DynamoDB test did nothing (infra/test.sh sets it)"
            );
            None
        }
    }
}

#[tokio::test]
async fn imports_into_dynamodb_and_serves_from_it() {
    let Some(endpoint) = dynamodb_endpoint() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), SEED);
    let table = format!(
        "cli-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let import = |create: bool| {
        let mut command = Command::new(PROVISION);
        command.args([
            "import-seed",
            &seed,
            "--table",
            &table,
            "--dynamodb-endpoint",
            &endpoint,
            "--region",
            "us-east-1",
        ]);
        if create {
            command.arg("--create-table");
        }
        command.output().unwrap()
    };
    let first = import(true);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("3 records written, 0 already present")
    );
    let again = import(false);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 records written, 3 already present")
    );

    let server = start(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--dynamodb-endpoint",
        &endpoint,
        "--table",
        &table,
    ]);
    assert_eq!(
        get(&server, "/api/v4/internal/discover?key_id=9").await.1,
        r#"{"id":42,"username":"persisted","name":"Persisted User"}"#
    );
    assert_eq!(
        get(&server, "/api/v4/internal/discover?username=root")
            .await
            .1,
        "null"
    );
}
