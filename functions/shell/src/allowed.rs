//! `POST /internal/allowed`: may this actor run this git command on this repository? Called by
//! GitLab Shell before every SSH git command (`changes: "_any"`) and by Gitaly's pre-receive
//! hook with the real refs of every push.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use futures_util::future::join_all;
use serde::Serialize;
use serde_json::Value;

use gl_http::{ApiError, Params, ShellJwtVerified};
use gl_model::git_access::{self, Actor, Changes, ForcePush, GitCommand};
use gl_model::{GitalyRepository, Project, RepoType, Settings};
use gl_store::repo::{GitAccessRecords, ProjectQuery};

use crate::ShellState;
use crate::actor::actor_query;
use crate::gitaly_client_context::InternalParams;

/// `git_config_options` GitLab always sends (partial clone and fetch by SHA).
const GIT_CONFIG_OPTIONS: [&str; 2] = [
    "uploadpack.allowFilter=true",
    "uploadpack.allowAnySHA1InWant=true",
];

#[derive(Debug, Serialize)]
struct GitalyPayload {
    repository: GitalyRepository,
    address: String,
    token: Option<gl_model::SecretText>,
    /// Gitaly feature flags as `"gitaly-feature-<name>": "true"|"false"`; strings, always.
    features: BTreeMap<String, String>,
}

/// The success body, in GitLab's key order; absent values are dropped, not `null`
/// (`response_with_status` compacts the hash).
#[derive(Debug, Serialize)]
pub struct AllowedResponse {
    status: bool,
    gl_repository: String,
    gl_project_path: String,
    gl_project_id: i64,
    gl_root_namespace_id: i64,
    gl_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gl_username: Option<String>,
    git_config_options: Vec<String>,
    gitaly: GitalyPayload,
    gl_console_messages: Vec<String>,
    need_audit: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    gl_key_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gl_key_id: Option<i64>,
}

/// The repository asked about: `gl_repository` (`project-<id>`, `wiki-<id>`) wins over
/// `project`, a path as typed on the SSH command line (`group/proj`, `/group/proj.git`,
/// `group/proj.wiki.git`). A path's type is settled by the lookup (see
/// `ProjectQuery::RepositoryPath`). Snippet, design and group-wiki repositories are not served
/// and resolve to nothing, which answers "not found".
pub(crate) fn repository_query(params: &Params) -> (ProjectQuery, RepoType) {
    if let Some(gl_repository) = params.text("gl_repository").filter(|v| !v.is_empty()) {
        return match RepoType::parse_gl_repository(&gl_repository) {
            Some((repo_type, id)) => (ProjectQuery::Id(id), repo_type),
            None => (ProjectQuery::Nothing, RepoType::Project),
        };
    }
    (project_path_query(params), RepoType::Project)
}

/// The repository as `project` names it: a path with optional leading `/` and trailing `.git`.
pub(crate) fn project_path_query(params: &Params) -> ProjectQuery {
    match params.text("project") {
        Some(path) => {
            let path = path.strip_prefix('/').unwrap_or(&path);
            let path = path.strip_suffix(".git").unwrap_or(path);
            if path.is_empty() {
                ProjectQuery::Nothing
            } else {
                ProjectQuery::RepositoryPath(path.to_owned())
            }
        }
        None => ProjectQuery::Nothing,
    }
}

/// Gitaly's `env`: a JSON *string* holding the quarantine directories; anything unparsable is
/// ignored, as GitLab does, and `null` values are fine.
fn quarantine(params: &Params) -> (String, Vec<String>) {
    let env = match params.get("env") {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).unwrap_or(Value::Null),
        Some(object @ Value::Object(_)) => object.clone(),
        _ => Value::Null,
    };
    let directory = env["GIT_OBJECT_DIRECTORY_RELATIVE"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let alternates = env["GIT_ALTERNATE_OBJECT_DIRECTORIES_RELATIVE"]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    (directory, alternates)
}

/// The repository as GitLab hands it to Gitaly: the project's, inside the push's quarantine.
fn push_repository(
    project: &Project,
    settings: &Settings,
    repo_type: RepoType,
    params: &Params,
) -> GitalyRepository {
    let (git_object_directory, git_alternate_object_directories) = quarantine(params);
    GitalyRepository {
        git_object_directory,
        git_alternate_object_directories,
        ..project.gitaly_repository(&settings.gitaly.storage, repo_type)
    }
}

/// Gitaly's answer for every change it decides (`ancestry_matters`), asked concurrently in
/// the repository as the push sees it; a change not asked about is no force push (missing
/// entries read as [`ForcePush::No`]).
async fn ask_gitaly(
    state: &ShellState,
    request: &git_access::Request<'_>,
    project: &Project,
    settings: &Settings,
    params: &Params,
) -> Vec<ForcePush> {
    let changes = request.changes.list();
    let questions: Vec<_> = changes
        .iter()
        .enumerate()
        .filter(|(_, change)| git_access::ancestry_matters(request, change))
        .collect();
    let mut force_pushes = vec![ForcePush::No; changes.len()];
    if questions.is_empty() {
        return force_pushes;
    }
    let repository = push_repository(project, settings, RepoType::Project, params);
    let answers = join_all(questions.into_iter().map(|(i, change)| {
        let (repository, gitaly) = (&repository, &settings.gitaly);
        async move {
            let answer = state
                .ancestry
                .is_ancestor(gitaly, repository, &change.oldrev, &change.newrev)
                .await;
            (i, answer)
        }
    }))
    .await;
    for (i, answer) in answers {
        force_pushes[i] = match answer {
            Ok(true) => ForcePush::No,
            Ok(false) => ForcePush::Yes,
            Err(cause) => {
                tracing::warn!(
                    project_id = project.id,
                    %cause,
                    "force-push ancestry not verified: refusing the protected branch update"
                );
                ForcePush::Unknown(git_access::GITALY_UNAVAILABLE)
            }
        };
    }
    force_pushes
}

pub async fn allowed(
    _: ShellJwtVerified,
    State(state): State<ShellState>,
    InternalParams(params): InternalParams,
) -> Result<Json<AllowedResponse>, ApiError> {
    access_check_result(&state, &params).await
}

/// `access_check_result`, shared with `shellhorse/git_audit_event`: the full `/allowed`
/// answer, a grant (200) or a denial (401/404 `{"status":false,...}`, as an error).
pub(crate) async fn access_check_result(
    state: &ShellState,
    params: &Params,
) -> Result<Json<AllowedResponse>, ApiError> {
    let changes = match params.text("changes") {
        None => Changes::Any,
        Some(raw) => Changes::parse(&raw).map_err(|_| ApiError::InvalidParam("changes"))?,
    };
    let command = params.text("action").as_deref().and_then(GitCommand::parse);
    let (project_query, asked_type) = repository_query(params);
    let records = state
        .app
        .repo
        .git_access()
        .load(&actor_query(params), &project_query)
        .await?;
    let GitAccessRecords {
        key,
        user,
        project,
        member_access,
        repo_type: path_type,
        settings,
    } = records;
    let repo_type = if asked_type == RepoType::Wiki {
        RepoType::Wiki
    } else {
        path_type
    };

    let request = git_access::Request {
        actor: Actor {
            key: key.as_ref(),
            user: user.as_ref(),
        },
        project: project.as_ref(),
        repo_type,
        member_access,
        command,
        changes: &changes,
        gitlab_url: settings.gitlab_url.trim_end_matches('/'),
        now: chrono::Utc::now().timestamp(),
    };
    let force_pushes = match (&project, command, repo_type) {
        (Some(project), Some(GitCommand::ReceivePack), RepoType::Project) => {
            ask_gitaly(state, &request, project, &settings, params).await
        }
        _ => Vec::new(),
    };
    // One line per decision, for whoever audits access: who (ids only), what, which project,
    // and why in GitLab's own words; never a key, a token or the changes.
    let actor = match (&key, &user) {
        (Some(key), _) => format!("key-{}", key.id),
        (None, Some(user)) => format!("user-{}", user.id),
        (None, None) => "anonymous".to_owned(),
    };
    let action = command.map_or("none", GitCommand::as_str);
    let project_id = project.as_ref().map(|project| project.id);
    let granted = git_access::check(&request, &force_pushes).map_err(|denial| {
        tracing::info!(
            allowed = false,
            reason = denial.reason,
            %actor,
            action,
            ?project_id,
            status = denial.status,
            "git access decision"
        );
        let status = StatusCode::from_u16(denial.status).unwrap_or(StatusCode::UNAUTHORIZED);
        ApiError::denied(status, denial.message)
    })?;
    tracing::info!(
        allowed = true,
        reason = "allowed",
        %actor,
        action,
        ?project_id,
        "git access decision"
    );
    let project = granted.project;
    let repository = push_repository(project, &settings, repo_type, params);
    let body = AllowedResponse {
        status: true,
        gl_repository: repository.gl_repository.clone(),
        gl_project_path: repository.gl_project_path.clone(),
        gl_project_id: project.id,
        gl_root_namespace_id: project.root_namespace_id(),
        gl_id: user
            .as_ref()
            .map_or_else(String::new, |u| format!("user-{}", u.id)),
        gl_username: user.as_ref().map(|u| u.username.clone()),
        git_config_options: GIT_CONFIG_OPTIONS.iter().map(|o| (*o).to_owned()).collect(),
        gitaly: GitalyPayload {
            repository,
            address: settings.gitaly.address.clone(),
            token: Some(settings.gitaly.token.clone()).filter(|t| !t.is_empty()),
            features: BTreeMap::new(),
        },
        gl_console_messages: granted.console_messages,
        need_audit: false,
        gl_key_type: key.as_ref().map(|k| k.gl_key_type()),
        gl_key_id: key.as_ref().map(|k| k.id),
    };
    Ok(Json(body))
}
