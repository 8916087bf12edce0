//! `POST /internal/allowed`: the access matrix, ref protection, and requests replayed as
//! GitLab Shell and Gitaly send them.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::*;

const NOT_FOUND: &str =
    "The project you were looking for could not be found or you don't have permission to view it.";
const PUSH_CODE: &str = "You are not allowed to push code to this project.";
const DOWNLOAD: &str = "You are not allowed to download code from this project.";
const WIKI_NOT_FOUND: &str = "The wiki you were looking for could not be found.";
const WIKI_WRITE: &str = "You are not allowed to write to this project's wiki.";
const WIKI_DOWNLOAD: &str = "You are not allowed to download files from this wiki.";
const ZERO: &str = "0000000000000000000000000000000000000000";
const OLD: &str = "1111111111111111111111111111111111111111";
const NEW: &str = "2222222222222222222222222222222222222222";

const PULL: &str = "git-upload-pack";
const PUSH: &str = "git-receive-pack";

/// A grant, or a denial's status and message.
type Outcome = Result<(), (u16, String)>;

/// Who asks, as the request names them.
#[derive(Debug, Clone, Copy)]
enum Who {
    User(i64),
    Key(i64),
}

fn body(who: Who, project: &str, action: &str, changes: &str) -> Value {
    let mut body =
        json!({"action": action, "project": project, "changes": changes, "protocol": "ssh"});
    match who {
        Who::User(id) => body["user_id"] = json!(id.to_string()),
        Who::Key(id) => body["key_id"] = json!(id.to_string()),
    }
    body
}

async fn ask(app: &TestApp, who: Who, project: &str, action: &str, changes: &str) -> TestResponse {
    app.shell_post(
        "/api/v4/internal/allowed",
        &body(who, project, action, changes),
    )
    .await
}

/// `Ok(())` for a grant, `Err((status, message))` for a denial; the body shape is checked too.
fn outcome(response: &TestResponse) -> Outcome {
    let json = response.json();
    assert_eq!(response.headers["content-type"], "application/json");
    if response.status.as_u16() == 200 {
        assert_eq!(json["status"], true, "{}", response.text);
        Ok(())
    } else {
        assert_eq!(json["status"], false, "{}", response.text);
        assert_eq!(json.as_object().unwrap().len(), 2, "{}", response.text);
        Err((
            response.status.as_u16(),
            json["message"].as_str().unwrap().to_owned(),
        ))
    }
}

fn deny(message: &str) -> Outcome {
    Err((401, message.to_owned()))
}

fn hidden() -> Outcome {
    Err((404, NOT_FOUND.to_owned()))
}

fn hidden_wiki() -> Outcome {
    Err((404, WIKI_NOT_FOUND.to_owned()))
}

on_both_backends!(
    access_matrix,
    ref_protection,
    success_body_as_gitlab_shell_receives_it,
    deploy_keys_and_anonymous_have_no_user,
    gitaly_pre_receive_request_replayed,
    form_bodies_and_bad_input,
    wikis_have_their_own_rules,
    round_trips_within_budget,
    force_pushes_follow_the_rule,
    requests_naming_nothing_find_nothing
);

/// No actor and no repository (or one that names no project): GitLab's not-found answers, in
/// one round trip (the settings) and never a failure.
async fn requests_naming_nothing_find_nothing(app: TestApp) {
    app.shell_post("/api/v4/internal/allowed", &json!({}))
        .await
        .assert_snapshot(401, "allowed_command_not_allowed");
    for body in [
        json!({"action": "git-upload-pack", "changes": "_any"}),
        json!({"gl_repository": "snippet-1", "action": "git-upload-pack"}),
        json!({"gl_repository": "project-x", "key_id": "abc", "action": "git-receive-pack"}),
    ] {
        app.shell_post("/api/v4/internal/allowed", &body)
            .await
            .assert_snapshot_for(404, "allowed_project_not_found", body.to_string());
    }
    app.take_round_trips();
    app.shell_post("/api/v4/internal/allowed", &json!({})).await;
    assert_eq!(
        app.take_round_trips(),
        0,
        "nothing to read: the settings are the process's"
    );
    app.shell_post("/api/v4/internal/lfs_authenticate", &json!({}))
        .await
        .assert_snapshot(404, "not_found");
    let audit = json!({"action": "git-upload-pack", "protocol": "ssh", "gl_repository": "snippet-1", "changes": "_any"});
    app.shell_post("/api/v4/internal/shellhorse/git_audit_event", &audit)
        .await
        .assert_snapshot(404, "allowed_project_not_found");
}

async fn access_matrix(app: TestApp) {
    let private = "group/private";
    let internal = "group/internal-proj";
    let public = "/group/subgroup/public-proj.git";
    let archived = "group/subgroup/archived";
    let personal = "alice/dotfiles.git";
    // One row per case.
    #[rustfmt::skip]
    let cases: Vec<(&str, Who, &str, &str, Outcome)> = vec![
        // Private project: roles from project membership.
        ("admin, not a member", Who::User(1), private, PULL, Ok(())),
        ("admin push", Who::User(1), private, PUSH, Ok(())),
        ("developer pull", Who::User(2), private, PULL, Ok(())),
        ("developer push", Who::User(2), private, PUSH, Ok(())),
        ("guest pull", Who::User(4), private, PULL, deny(DOWNLOAD)),
        ("guest push", Who::User(4), private, PUSH, deny(PUSH_CODE)),
        ("reporter pull", Who::User(5), private, PULL, Ok(())),
        ("reporter push", Who::User(5), private, PUSH, deny(PUSH_CODE)),
        ("reporter archive", Who::User(5), private, "git-upload-archive", Ok(())),
        // Inherited from the group.
        ("group maintainer push", Who::User(6), private, PUSH, Ok(())),
        // Not a member: a private project does not exist for them.
        ("stranger pull", Who::User(8), private, PULL, hidden()),
        ("stranger push", Who::User(8), private, PUSH, hidden()),
        ("unknown user", Who::User(999), private, PULL, hidden()),
        // Account state comes before everything about the project.
        ("blocked developer", Who::User(3), private, PULL, deny("Your account has been blocked.")),
        ("blocked, unknown project", Who::User(3), "nope/nope", PULL, deny("Your account has been blocked.")),
        ("deactivated", Who::User(9), private, PULL, deny("Your account has been deactivated by your administrator. Please log back in from a web browser to reactivate your account at https://gitlab.example.com:8443")),
        ("pending approval", Who::User(10), private, PULL, deny("Your account is pending approval from your administrator and hence blocked.")),
        ("expired key", Who::Key(8), private, PULL, deny("Your SSH key has expired.")),
        ("user key", Who::Key(2), private, PUSH, Ok(())),
        ("signing-only key is nobody", Who::Key(4), private, PULL, hidden()),
        // Deploy keys: rights per linked project.
        ("read deploy key pull", Who::Key(3), private, PULL, Ok(())),
        ("read deploy key push", Who::Key(3), private, PUSH, deny("This deploy key does not have write access to this project.")),
        ("write deploy key push", Who::Key(7), private, PUSH, Ok(())),
        ("deploy key, unlinked internal project", Who::Key(3), internal, PULL, hidden()),
        ("deploy key, unlinked public project", Who::Key(3), public, PULL, Ok(())),
        ("deploy key, unlinked public push", Who::Key(3), public, PUSH, deny("This deploy key does not have write access to this project.")),
        // Internal: every signed-in user reads.
        ("internal, stranger pull", Who::User(8), internal, PULL, Ok(())),
        ("internal, stranger push", Who::User(8), internal, PUSH, deny(PUSH_CODE)),
        ("internal, anonymous", Who::User(999), internal, PULL, hidden()),
        // Public: anyone reads, nobody unknown writes.
        ("public, anonymous pull", Who::User(999), public, PULL, Ok(())),
        ("public, anonymous push", Who::User(999), public, PUSH, deny("You are not allowed to upload code for this project.")),
        ("public, stranger push", Who::User(8), public, PUSH, deny(PUSH_CODE)),
        // Subgroup inheritance goes down, never up.
        ("subgroup owner, project below", Who::User(7), public, PUSH, Ok(())),
        ("subgroup owner, project above", Who::User(7), private, PULL, hidden()),
        ("group maintainer, subgroup project", Who::User(6), archived, PULL, Ok(())),
        // Archived projects are read-only.
        ("archived pull", Who::User(2), archived, PULL, Ok(())),
        ("archived push", Who::User(2), archived, PUSH, deny("You can't push code to an archived project.")),
        // Personal namespaces: the owner has every right.
        ("personal project owner", Who::User(2), personal, PUSH, Ok(())),
        ("personal project, stranger", Who::User(8), personal, PULL, hidden()),
        // Unknown commands and projects.
        ("unknown command", Who::User(2), private, "git-lfs-transfer", deny("The command you're trying to execute is not allowed.")),
        ("unknown project", Who::User(2), "group/nope", PULL, hidden()),
        ("a group is not a project", Who::User(2), "group", PULL, hidden()),
        ("case-insensitive path", Who::User(2), "/GROUP/Private.git", PULL, Ok(())),
    ];
    for (case, who, project, action, expected) in cases {
        let response = ask(&app, who, project, action, "_any").await;
        assert_eq!(outcome(&response), expected, "{case}");
    }
}

async fn ref_protection(app: TestApp) {
    // Every update fast-forwards: the rules alone decide here.
    let app = app.with_ancestry(Arc::new(Answers(true)));
    let change = |old: &str, new: &str, name: &str| format!("{old} {new} {name}\n");
    let hex_name = "a".repeat(40);
    // One row per case.
    #[rustfmt::skip]
    let cases: Vec<(&str, Who, String, Outcome)> = vec![
        ("developer to protected main", Who::User(2), change(OLD, NEW, "refs/heads/main"), deny("You are not allowed to push code to protected branches on this project.")),
        ("maintainer to protected main", Who::User(6), change(OLD, NEW, "refs/heads/main"), Ok(())),
        ("developer, new branch", Who::User(2), change(ZERO, NEW, "refs/heads/feature"), Ok(())),
        ("developer, unprotected update", Who::User(2), change(OLD, NEW, "refs/heads/feature"), Ok(())),
        ("delete default branch", Who::User(6), change(OLD, ZERO, "refs/heads/main"), deny("The default branch of a project cannot be deleted.")),
        ("40-hex branch", Who::User(2), change(ZERO, NEW, &format!("refs/heads/{hex_name}")), deny("You cannot create a branch with a 40-character hexadecimal branch name.")),
        ("wildcard rule admits developers", Who::User(2), change(ZERO, NEW, "refs/heads/release/2.0"), Ok(())),
        ("developer updates a wildcard-protected branch", Who::User(2), change(OLD, NEW, "refs/heads/release/1.0"), Ok(())),
        ("developer deletes protected", Who::User(2), change(OLD, ZERO, "refs/heads/release/1.0"), deny("You are not allowed to delete protected branches from this project. Only a project maintainer or owner can delete a protected branch.")),
        ("maintainer deletes protected", Who::User(6), change(OLD, ZERO, "refs/heads/release/1.0"), deny("You can only delete protected branches using the web interface.")),
        ("developer deletes unprotected", Who::User(2), change(OLD, ZERO, "refs/heads/feature"), Ok(())),
        ("protected tag, developer", Who::User(2), change(ZERO, NEW, "refs/tags/v1.0"), deny("You are not allowed to create this tag as it is protected.")),
        ("protected tag, maintainer", Who::User(6), change(ZERO, NEW, "refs/tags/v1.0"), Ok(())),
        ("protected tag update", Who::User(6), change(OLD, NEW, "refs/tags/v1.0"), deny("Protected tags cannot be updated.")),
        ("protected tag delete", Who::User(6), change(OLD, ZERO, "refs/tags/v1.0"), deny("You can only delete protected tags using the web interface.")),
        ("unprotected tag", Who::User(2), change(ZERO, NEW, "refs/tags/build-1"), Ok(())),
        ("existing tag, developer (admin_tag comes with push_code)", Who::User(2), change(OLD, NEW, "refs/tags/build-1"), Ok(())),
        ("tag named like the default branch", Who::User(6), change(ZERO, NEW, "refs/tags/main"), deny("You cannot use default branch name to create a tag")),
        ("SHA-like tag", Who::User(6), change(ZERO, NEW, &format!("refs/tags/{hex_name}")), deny("You cannot create a tag with a SHA-1 or SHA-256 tag name.")),
        ("deploy key to protected main", Who::Key(7), change(OLD, NEW, "refs/heads/main"), deny("You are not allowed to push code to protected branches on this project.")),
        ("deploy key to a branch", Who::Key(7), change(OLD, NEW, "refs/heads/feature"), Ok(())),
        ("developer creates protected main", Who::User(2), change(ZERO, NEW, "refs/heads/main"), deny("You are not allowed to create protected branches on this project.")),
        ("merge right only creates stable", Who::User(2), change(ZERO, NEW, "refs/heads/stable"), deny("You can only use an existing protected branch ref as the basis of a new protected branch.")),
        ("protected tag delete, developer", Who::User(2), change(OLD, ZERO, "refs/tags/v1.0"), deny("You are not allowed to delete protected tags from this project. Only a project maintainer or owner can delete a protected tag.")),
        ("fully-qualified tag name", Who::User(2), change(ZERO, NEW, "refs/tags/refs/heads/x"), deny("You cannot create a tag with a prohibited pattern.")),
        ("write deploy key moves a tag", Who::Key(7), change(OLD, NEW, "refs/tags/build-1"), Ok(())),
        ("other refs", Who::User(2), change(OLD, NEW, "refs/merge-requests/1/head"), Ok(())),
        ("SHA-256 ids", Who::User(2), format!("{} {} refs/heads/feature\n", "1".repeat(64), "2".repeat(64)), Ok(())),
        (
            "one bad ref denies the push",
            Who::User(2),
            change(ZERO, NEW, "refs/heads/a") + &change(OLD, NEW, "refs/heads/main") + &change(ZERO, NEW, "refs/heads/b"),
            deny("You are not allowed to push code to protected branches on this project."),
        ),
    ];
    for (case, who, changes, expected) in cases {
        let response = ask(&app, who, "group/private", PUSH, &changes).await;
        assert_eq!(outcome(&response), expected, "{case}");
    }
}

async fn success_body_as_gitlab_shell_receives_it(app: TestApp) {
    let response = app.shell_post(
        "/api/v4/internal/allowed",
        &json!({"action": "git-upload-pack", "project": "/group/private.git", "changes": "_any", "protocol": "ssh", "key_id": "2", "check_ip": "203.0.113.7"}),
    ).await;
    response.assert_snapshot(200, "allowed_pull_by_key");
}

async fn deploy_keys_and_anonymous_have_no_user(app: TestApp) {
    let deploy = outcome_json(&ask(&app, Who::Key(3), "group/private", PULL, "_any").await);
    assert_eq!(deploy["gl_id"], "");
    assert!(
        deploy.get("gl_username").is_none(),
        "nil keys are dropped: {deploy}"
    );
    assert_eq!(deploy["gl_key_type"], "deploy_key");
    assert_eq!(deploy["gl_key_id"], 3);
    let anonymous = outcome_json(
        &ask(
            &app,
            Who::User(999),
            "group/subgroup/public-proj",
            PULL,
            "_any",
        )
        .await,
    );
    assert_eq!(anonymous["gl_id"], "");
    assert!(anonymous.get("gl_key_type").is_none() && anonymous.get("gl_username").is_none());
    assert_eq!(anonymous["gl_root_namespace_id"], 10);
}

async fn gitaly_pre_receive_request_replayed(app: TestApp) {
    // Field order and encodings exactly as Gitaly's Go client marshals them.
    let raw = format!(
        concat!(
            r#"{{"action":"git-receive-pack","gl_repository":"project-26","#,
            r#""project":"/var/opt/gitlab/git-data/repositories/{path}","#,
            r#""changes":"{zero} {new} refs/heads/feature\n","protocol":"ssh","relative_path":"{path}","#,
            r#""env":"{{\"GIT_ALTERNATE_OBJECT_DIRECTORIES_RELATIVE\":[\"objects\"],\"GIT_OBJECT_DIRECTORY_RELATIVE\":\"objects/incoming-Xy12\"}}","#,
            r#""user_id":"2"}}"#
        ),
        path = hashed_path(26),
        zero = ZERO,
        new = NEW,
    );
    let request = axum::http::Request::post("/api/v4/internal/allowed")
        .header("Content-Type", "application/json")
        .header("User-Agent", "gitaly/16.8.0")
        .header("Connection", "close")
        .header("Gitlab-Shell-Api-Request", jwt_now())
        .body(axum::body::Body::from(raw))
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.text);
    assert_eq!(response.headers["content-type"], "application/json");
    let json = response.json();
    assert_eq!(
        json["gitaly"]["repository"]["git_object_directory"],
        "objects/incoming-Xy12"
    );
    assert_eq!(
        json["gitaly"]["repository"]["git_alternate_object_directories"],
        json!(["objects"])
    );

    // Without quarantine the alternates are null and the directory empty.
    let mut body = body(
        Who::User(2),
        "ignored",
        PUSH,
        &format!("{ZERO} {NEW} refs/heads/x\n"),
    );
    body["gl_repository"] = json!("project-26");
    body["env"] = json!(
        r#"{"GIT_ALTERNATE_OBJECT_DIRECTORIES_RELATIVE":null,"GIT_OBJECT_DIRECTORY_RELATIVE":""}"#
    );
    let json = outcome_json(&app.shell_post("/api/v4/internal/allowed", &body).await);
    assert_eq!(
        json["gitaly"]["repository"]["git_alternate_object_directories"],
        json!([])
    );
    body["env"] = json!("{not json");
    outcome_json(&app.shell_post("/api/v4/internal/allowed", &body).await);
}

async fn form_bodies_and_bad_input(app: TestApp) {
    let form = "key_id=2&project=group%2Fprivate&action=git-upload-pack&protocol=ssh&changes=_any";
    let response = app
        .shell_post_raw(
            "/api/v4/internal/allowed",
            "application/x-www-form-urlencoded",
            form.to_owned(),
        )
        .await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.text);
    let bad = body(Who::User(2), "group/private", PUSH, "not a change line");
    app.shell_post("/api/v4/internal/allowed", &bad)
        .await
        .assert_snapshot(400, "allowed_changes_invalid");
    for gl_repository in [
        "project-x",
        "project-",
        "snippet-1",
        "project-26x",
        "group-10-wiki",
    ] {
        let mut body = body(Who::User(2), "group/private", PULL, "_any");
        body["gl_repository"] = json!(gl_repository);
        assert_eq!(
            outcome(&app.shell_post("/api/v4/internal/allowed", &body).await),
            hidden(),
            "{gl_repository}"
        );
    }
    app.shell_post_raw(
        "/api/v4/internal/allowed",
        "application/json",
        "{".to_owned(),
    )
    .await
    .assert_snapshot(400, "malformed_body");
}

async fn wikis_have_their_own_rules(app: TestApp) {
    let private = "group/private.wiki";
    let public = "/group/subgroup/public-proj.wiki.git";
    let archived = "group/subgroup/archived.wiki";
    let protected_main = format!("{OLD} {NEW} refs/heads/main\n");
    // One row per case.
    #[rustfmt::skip]
    let cases: Vec<(&str, Who, &str, &str, Outcome)> = vec![
        ("developer pull", Who::User(2), private, PULL, Ok(())),
        ("developer push, no ref rules", Who::User(2), private, PUSH, Ok(())),
        ("guest of a private project", Who::User(4), private, PULL, deny(WIKI_DOWNLOAD)),
        ("guest push", Who::User(4), private, PUSH, deny(WIKI_WRITE)),
        ("planner pull", Who::User(11), private, PULL, Ok(())),
        ("planner push", Who::User(11), private, PUSH, Ok(())),
        ("reporter pull", Who::User(5), private, PULL, Ok(())),
        ("reporter push", Who::User(5), private, PUSH, deny(WIKI_WRITE)),
        ("admin push", Who::User(1), private, PUSH, Ok(())),
        ("stranger", Who::User(8), private, PULL, hidden_wiki()),
        ("blocked first", Who::User(3), private, PULL, deny("Your account has been blocked.")),
        ("no such project: the project message", Who::User(2), "group/nope.wiki", PULL, hidden()),
        ("linked deploy key reads the wiki", Who::Key(3), private, PULL, Ok(())),
        ("write deploy key pushes with its creator's rights", Who::Key(7), private, PUSH, Ok(())),
        ("deploy key, unlinked internal wiki", Who::Key(3), "group/internal-proj.wiki", PULL, hidden_wiki()),
        ("internal wiki, stranger pull", Who::User(8), "group/internal-proj.wiki", PULL, Ok(())),
        ("internal wiki, stranger push", Who::User(8), "group/internal-proj.wiki", PUSH, deny(WIKI_WRITE)),
        ("read deploy key push", Who::Key(3), private, PUSH, deny("This deploy key does not have write access to this project.")),
        ("deploy key, public wiki", Who::Key(3), public, PULL, Ok(())),
        ("anonymous, public wiki", Who::User(999), public, PULL, Ok(())),
        ("anonymous push", Who::User(999), public, PUSH, deny("You are not allowed to upload code for this project.")),
        ("archived pull", Who::User(2), archived, PULL, Ok(())),
        ("archived push", Who::User(2), archived, PUSH, deny("You can't push code to an archived project.")),
    ];
    for (case, who, project, action, expected) in cases {
        let response = ask(&app, who, project, action, "_any").await;
        assert_eq!(outcome(&response), expected, "{case}");
    }
    // Protected branches guard code, not wikis.
    assert_eq!(
        outcome(&ask(&app, Who::User(2), private, PUSH, &protected_main).await),
        Ok(())
    );

    let wiki_path = hashed_path(26).replace(".git", ".wiki.git");
    app.take_round_trips();
    ask(&app, Who::User(2), "/group/private.wiki.git", PULL, "_any")
        .await
        .assert_snapshot(200, "allowed_wiki_pull");
    assert_eq!(app.take_round_trips(), 2, "wiki pull by path");
    // Gitaly names the wiki by gl_repository.
    let mut by_id = body(
        Who::User(2),
        &format!("/var/opt/gitlab/git-data/repositories/{wiki_path}"),
        PULL,
        "_any",
    );
    by_id["gl_repository"] = json!("wiki-26");
    app.shell_post("/api/v4/internal/allowed", &by_id)
        .await
        .assert_snapshot(200, "allowed_wiki_pull");
    by_id["gl_repository"] = json!("wiki-999");
    assert_eq!(
        outcome(&app.shell_post("/api/v4/internal/allowed", &by_id).await),
        hidden_wiki()
    );
}

async fn round_trips_within_budget(app: TestApp) {
    let app = app.with_ancestry(Arc::new(Answers(true)));
    app.take_round_trips();
    outcome_json(&ask(&app, Who::Key(2), "group/private", PULL, "_any").await);
    assert_eq!(app.take_round_trips(), 2, "pull by key");
    outcome_json(
        &ask(
            &app,
            Who::User(6),
            "group/private",
            PUSH,
            &format!("{OLD} {NEW} refs/heads/main\n"),
        )
        .await,
    );
    assert!(app.take_round_trips() <= 3, "push with one ref");
    let thousand: String = (0..1000)
        .map(|i| format!("{ZERO} {NEW} refs/heads/topic-{i}\n"))
        .collect();
    outcome_json(&ask(&app, Who::User(6), "group/private", PUSH, &thousand).await);
    assert!(app.take_round_trips() <= 3, "push with 1000 refs");
    let mut by_id = body(Who::User(2), "", PULL, "_any");
    by_id["gl_repository"] = json!("project-26");
    outcome_json(&app.shell_post("/api/v4/internal/allowed", &by_id).await);
    assert_eq!(app.take_round_trips(), 2, "pull by gl_repository");
}

async fn force_pushes_follow_the_rule(app: TestApp) {
    let app = app.with_ancestry(Arc::new(Answers(false)));
    let update = |branch: &str| format!("{OLD} {NEW} refs/heads/{branch}\n");
    let forbidden = ask(&app, Who::User(6), "group/private", PUSH, &update("main")).await;
    assert_eq!(
        outcome(&forbidden),
        deny("You are not allowed to force push code to a protected branch on this project.")
    );
    let allowed = ask(
        &app,
        Who::User(2),
        "group/private",
        PUSH,
        &update("release/1.0"),
    )
    .await;
    assert_eq!(outcome(&allowed), Ok(()));
    let unprotected = ask(
        &app,
        Who::User(2),
        "group/private",
        PUSH,
        &update("feature"),
    )
    .await;
    assert_eq!(outcome(&unprotected), Ok(()));
}

on_both_backends!(keys_expiring_within_a_week_get_a_console_message);

async fn keys_expiring_within_a_week_get_a_console_message(app: TestApp) {
    let soon = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let seed = json!({"users": [{"id": 60, "username": "soon", "name": "Soon", "email": "soon@example.com"}],
                      "keys": [{"id": 60, "user_id": 60, "title": "soon", "key": "KEY", "expires_at": soon}]})
        .to_string()
        .replace("KEY", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA3/5pHj4Dszjnv4yrkZWUn+19k/sIl/mIKi8qYiTjw9 soon");
    local_api::import_seed_bytes(
        &app.repo,
        seed.as_bytes(),
        std::path::Path::new("soon.json"),
    )
    .await
    .unwrap();
    let json = outcome_json(
        &ask(
            &app,
            Who::Key(60),
            "group/subgroup/public-proj",
            PULL,
            "_any",
        )
        .await,
    );
    assert_eq!(
        json["gl_console_messages"],
        json!(["INFO: Your SSH key is expiring soon. Please generate a new key."])
    );
}

/// A Gitaly stand-in that answers every question alike: `false` calls every update a
/// history rewrite. (`gitaly.rs` asks a real repository through Gitaly's protocol.)
struct Answers(bool);

#[async_trait::async_trait]
impl shell::gitaly::Ancestry for Answers {
    async fn is_ancestor(
        &self,
        _: &gl_model::GitalySettings,
        _: &gl_model::GitalyRepository,
        _: &str,
        _: &str,
    ) -> Result<bool, String> {
        Ok(self.0)
    }
}

fn outcome_json(response: &TestResponse) -> Value {
    assert_eq!(outcome(response), Ok(()), "{}", response.text);
    response.json()
}

fn hashed_path(project_id: i64) -> String {
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(project_id.to_string())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("@hashed/{}/{}/{hash}.git", &hash[..2], &hash[2..4])
}
