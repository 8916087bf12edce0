//! Force pushes through a real Gitaly protocol: a stand-in Gitaly gRPC server answers
//! `CommitIsAncestor` from an actual git repository built here (`git merge-base
//! --is-ancestor`), with real commit ids, and records what it was asked.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shell::gitaly::proto;
use shell::gitaly::proto::commit_service_server::{CommitService, CommitServiceServer};

use crate::support::*;

const PUSH: &str = "git-receive-pack";
const GITALY_TOKEN: &str = "gitaly-secret-token";

/// What the stand-in was asked: the repository and the `authorization` metadata.
#[derive(Debug, Clone)]
struct Asked {
    repository: proto::Repository,
    ancestor: String,
    child: String,
    authorization: Option<String>,
}

#[derive(Clone)]
struct StandIn {
    repository: PathBuf,
    asked: Arc<Mutex<Vec<Asked>>>,
    delay: Duration,
}

#[tonic::async_trait]
impl CommitService for StandIn {
    async fn commit_is_ancestor(
        &self,
        request: tonic::Request<proto::CommitIsAncestorRequest>,
    ) -> Result<tonic::Response<proto::CommitIsAncestorResponse>, tonic::Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let message = request.into_inner();
        self.asked.lock().unwrap().push(Asked {
            repository: message.repository.clone().unwrap_or_default(),
            ancestor: message.ancestor_id.clone(),
            child: message.child_id.clone(),
            authorization,
        });
        tokio::time::sleep(self.delay).await;
        let status = Command::new("git")
            .arg("-C")
            .arg(&self.repository)
            .args([
                "merge-base",
                "--is-ancestor",
                &message.ancestor_id,
                &message.child_id,
            ])
            .status()
            .map_err(|err| tonic::Status::internal(err.to_string()))?;
        match status.code() {
            Some(0) => Ok(tonic::Response::new(proto::CommitIsAncestorResponse {
                value: true,
            })),
            Some(1) => Ok(tonic::Response::new(proto::CommitIsAncestorResponse {
                value: false,
            })),
            _ => Err(tonic::Status::internal("git merge-base failed")),
        }
    }
}

/// A repository with a root commit, a child of it (a fast-forward from the root), and a
/// sibling that rewrites the child's history.
struct Repo {
    _dir: tempfile::TempDir,
    path: PathBuf,
    root: String,
    child: String,
    rewrite: String,
}

fn git(path: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    git(&path, &["init", "-q", "-b", "main"]);
    git(&path, &["commit", "-q", "--allow-empty", "-m", "root"]);
    let root = git(&path, &["rev-parse", "HEAD"]);
    git(&path, &["commit", "-q", "--allow-empty", "-m", "child"]);
    let child = git(&path, &["rev-parse", "HEAD"]);
    git(&path, &["checkout", "-q", "-b", "other", &root]);
    git(&path, &["commit", "-q", "--allow-empty", "-m", "rewrite"]);
    let rewrite = git(&path, &["rev-parse", "HEAD"]);
    Repo {
        _dir: dir,
        path,
        root,
        child,
        rewrite,
    }
}

/// Serves the stand-in on a loopback port; answers its address.
async fn serve(stand_in: StandIn) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(CommitServiceServer::new(stand_in))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    format!("tcp://{address}")
}

/// Points the instance settings at Gitaly `address`, with the token.
async fn use_gitaly(app: &TestApp, address: &str) {
    app.update_settings(|settings| {
        settings.gitaly.address = address.to_owned();
        settings.gitaly.token = GITALY_TOKEN.into();
    })
    .await;
}

async fn push(app: &TestApp, user_id: i64, branch: &str, old: &str, new: &str) -> TestResponse {
    let body = json!({
        "action": PUSH, "project": "group/private", "protocol": "ssh",
        "user_id": user_id.to_string(),
        "changes": format!("{old} {new} refs/heads/{branch}\n"),
        "env": json!({
            "GIT_OBJECT_DIRECTORY_RELATIVE": "objects/incoming-abc",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES_RELATIVE": ["objects"],
        }).to_string(),
    });
    app.shell_post("/api/v4/internal/allowed", &body).await
}

fn message(response: &TestResponse) -> Value {
    response.json()["message"].clone()
}

on_both_backends!(
    force_pushes_are_told_by_gitaly_from_a_real_repository,
    gitaly_down_or_slow_refuses_within_the_deadline,
);

async fn force_pushes_are_told_by_gitaly_from_a_real_repository(app: TestApp) {
    let repo = repo();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let address = serve(StandIn {
        repository: repo.path.clone(),
        asked: asked.clone(),
        delay: Duration::ZERO,
    })
    .await;
    use_gitaly(&app, &address).await;

    // Mia (Maintainer) may push main, whose rule forbids force pushes: Gitaly decides.
    let rewrite = push(&app, 6, "main", &repo.child, &repo.rewrite).await;
    assert_eq!(rewrite.status.as_u16(), 401, "{}", rewrite.text);
    assert_eq!(
        message(&rewrite),
        json!("You are not allowed to force push code to a protected branch on this project.")
    );
    let fast_forward = push(&app, 6, "main", &repo.root, &repo.child).await;
    assert_eq!(fast_forward.status.as_u16(), 200, "{}", fast_forward.text);

    {
        let asked = asked.lock().unwrap();
        assert_eq!(asked.len(), 2);
        let question = &asked[0];
        assert_eq!(
            (question.ancestor.as_str(), question.child.as_str()),
            (repo.child.as_str(), repo.rewrite.as_str())
        );
        // The repository as GitLab sends it, the push's quarantine included.
        assert_eq!(question.repository.storage_name, "default");
        assert!(
            question.repository.relative_path.starts_with("@hashed/"),
            "{question:?}"
        );
        assert_eq!(question.repository.gl_repository, "project-26");
        assert_eq!(question.repository.gl_project_path, "group/private");
        assert_eq!(
            question.repository.git_object_directory,
            "objects/incoming-abc"
        );
        assert_eq!(
            question.repository.git_alternate_object_directories,
            ["objects"]
        );
        // Gitaly's v2 token: an HMAC of the timestamp, keyed by the token.
        let authorization = question.authorization.clone().expect("a token was sent");
        let token = authorization.strip_prefix("Bearer ").unwrap();
        let timestamp: i64 = token.rsplit('.').next().unwrap().parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
        assert_eq!(token, shell::gitaly::v2_token(GITALY_TOKEN, timestamp));
    }

    // Where the answer cannot change the outcome, Gitaly is not asked: a rule that allows
    // force pushes, an unprotected branch, a new branch, and an actor who may not push main.
    let before = asked.lock().unwrap().len();
    for (user_id, branch, old) in [
        (2, "release/1.0", repo.child.as_str()),
        (2, "feature", repo.child.as_str()),
        (6, "main", "0000000000000000000000000000000000000000"),
    ] {
        let response = push(&app, user_id, branch, old, &repo.rewrite).await;
        assert_eq!(response.status.as_u16(), 200, "{branch}: {}", response.text);
    }
    let developer = push(&app, 2, "main", &repo.child, &repo.rewrite).await;
    assert_eq!(
        message(&developer),
        json!("You are not allowed to push code to protected branches on this project.")
    );
    assert_eq!(
        asked.lock().unwrap().len(),
        before,
        "no question was needed"
    );
}

async fn gitaly_down_or_slow_refuses_within_the_deadline(app: TestApp) {
    let repo = repo();
    // Down: nothing listens on the port.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    use_gitaly(&app, &format!("tcp://{closed}")).await;
    let started = Instant::now();
    let refused = push(&app, 6, "main", &repo.root, &repo.child).await;
    assert_eq!(refused.status.as_u16(), 401, "{}", refused.text);
    assert_eq!(
        message(&refused),
        json!(gl_model::git_access::GITALY_UNAVAILABLE)
    );
    assert!(started.elapsed() < shell::gitaly::DEADLINE + Duration::from_secs(2));
    // Unprotected branches do not need Gitaly, down or not.
    assert_eq!(
        push(&app, 6, "feature", &repo.child, &repo.rewrite)
            .await
            .status
            .as_u16(),
        200
    );

    // Slow: the answer comes after the deadline.
    let address = serve(StandIn {
        repository: repo.path.clone(),
        asked: Arc::default(),
        delay: shell::gitaly::DEADLINE + Duration::from_secs(2),
    })
    .await;
    use_gitaly(&app, &address).await;
    let started = Instant::now();
    let refused = push(&app, 6, "main", &repo.root, &repo.child).await;
    assert_eq!(
        message(&refused),
        json!(gl_model::git_access::GITALY_UNAVAILABLE)
    );
    assert!(
        started.elapsed() < shell::gitaly::DEADLINE + Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // None configured.
    use_gitaly(&app, "").await;
    let refused = push(&app, 6, "main", &repo.root, &repo.child).await;
    assert_eq!(
        message(&refused),
        json!(gl_model::git_access::GITALY_UNAVAILABLE)
    );
}
