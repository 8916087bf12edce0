//! `POST /internal/post_receive`: Gitaly's hook after every push counts the push out and
//! answers the messages GitLab Shell prints.

use axum::Json;
use axum::extract::State;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use gl_http::{ApiError, ShellJwtVerified};
use gl_model::git_access::Changes;

use crate::ShellState;
use crate::gitaly_client_context::InternalParams;

/// A message for GitLab Shell: `basic` is printed as is, `alert` in a banner. No other type
/// exists: Gitaly fails the push on any other.
#[derive(Debug, Serialize)]
pub struct Message {
    message: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
pub struct PostReceiveResponse {
    messages: Vec<Message>,
    reference_counter_decreased: bool,
}

/// `CGI.escape`, which Rails' `to_query` applies to the branch name: everything but ASCII
/// letters, digits and `_ . - ~` is percent-encoded, and spaces become `+`.
const CGI_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

fn cgi_escape(text: &str) -> String {
    utf8_percent_encode(text, CGI_ESCAPE)
        .to_string()
        .replace("%20", "+")
}

/// The most merge-request links one answer carries. GitLab builds one per pushed branch, so a
/// mirror push of tens of thousands of branches would answer more than Lambda's 6 MB; no
/// one follows the hundred-and-first link.
pub const MAX_MERGE_REQUEST_LINKS: usize = 100;

/// Counts a push out and builds the post-push messages: a "create a merge request" link for
/// every pushed branch that was not deleted and is not the default branch (the first
/// [`MAX_MERGE_REQUEST_LINKS`] of them).
pub async fn post_receive(
    _: ShellJwtVerified,
    State(state): State<ShellState>,
    InternalParams(params): InternalParams,
) -> Result<Json<PostReceiveResponse>, ApiError> {
    let gl_repository = params.text("gl_repository").unwrap_or_default();
    let repo = &state.app.repo;
    // Merge-request links are for project repositories only, not wikis.
    let project_id = match gl_model::RepoType::parse_gl_repository(&gl_repository) {
        Some((gl_model::RepoType::Project, id)) => Some(id),
        _ => None,
    };
    // The decrement and the reads go out together: one round trip.
    let (decreased, loaded) = tokio::join!(
        repo.shell().decrease_reference_counter(&gl_repository),
        async {
            match project_id {
                Some(id) => repo.identity().project_with_settings(id).await.map(Some),
                None => Ok(None),
            }
        }
    );
    let decreased = match decreased {
        Ok(()) => true,
        Err(err) => {
            tracing::error!(error = %err, "reference counter decrease failed");
            false
        }
    };
    let mut messages = Vec::new();
    if let Some((Some(project), settings)) = loaded? {
        // The changes were already accepted by /allowed; lines that do not parse are skipped
        // rather than failing a push that has happened.
        let raw = params.text("changes").unwrap_or_default();
        let changes: Vec<_> = raw
            .lines()
            .filter_map(|line| Changes::parse(line).ok())
            .flat_map(|parsed| parsed.list().to_vec())
            .collect();
        let base = format!(
            "{}/{}",
            settings.gitlab_url.trim_end_matches('/'),
            project.full_path
        );
        let branches = changes.iter().filter_map(|change| {
            let branch = change.branch_name()?;
            let default = project.default_branch.as_deref() == Some(branch);
            (!change.is_deletion() && !default).then_some(branch)
        });
        for branch in branches.take(MAX_MERGE_REQUEST_LINKS) {
            messages.push(Message {
                message: format!(
                    "To create a merge request for {branch}, visit:\n  {base}/-/merge_requests/new?merge_request%5Bsource_branch%5D={}",
                    cgi_escape(branch)
                ),
                kind: "basic",
            });
        }
    }
    Ok(Json(PostReceiveResponse {
        messages,
        reference_counter_decreased: decreased,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_are_escaped_like_cgi_escape() {
        assert_eq!(
            cgi_escape("feature/new-thing_1.0~x"),
            "feature%2Fnew-thing_1.0~x"
        );
        assert_eq!(cgi_escape("a b*c+d&é"), "a+b%2Ac%2Bd%26%C3%A9");
    }
}
