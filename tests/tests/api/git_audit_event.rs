//! `POST /internal/shellhorse/git_audit_event` (`API::Internal::Shellhorse`).

use serde_json::json;

use crate::support::*;

const AUDIT: &str = "/api/v4/internal/shellhorse/git_audit_event";

on_both_backends!(git_audit_events_as_shellhorse_answers);

async fn git_audit_events_as_shellhorse_answers(app: TestApp) {
    // GitLab Shell's request after a clone; nothing asks for an audit (`need_audit` false).
    let event = json!({"action": "git-upload-pack", "protocol": "ssh", "gl_repository": "project-26", "username": "Alice",
                       "key_id": 2, "changes": "_any", "check_ip": "203.0.113.7", "packfile_stats": {"wants": 3}});
    app.shell_post(AUDIT, &event)
        .await
        .assert_snapshot(200, "git_audit_event_not_needed");
    // Archives are not audited.
    let mut archive = event.clone();
    archive["action"] = json!("git-upload-archive");
    app.shell_post(AUDIT, &archive)
        .await
        .assert_snapshot(400, "git_audit_event_invalid_action");
    // The access check of /allowed runs, and its denial is the answer.
    let mut stranger = event.clone();
    stranger.as_object_mut().unwrap().remove("key_id");
    stranger["user_id"] = json!(8);
    app.shell_post(AUDIT, &stranger)
        .await
        .assert_snapshot(404, "allowed_project_not_found");
    app.shell_post(
        AUDIT,
        &json!({"action": "x", "packfile_stats": {"wants": "many"}}),
    )
    .await
    .assert_snapshot(400, "git_audit_event_parameters_invalid");
}
