//! `GET /internal/kubernetes/project_info` and `verify_project_access`: where a project the
//! agent may use lives in Gitaly, and whether the agent may use it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use gl_http::error::refused;
use gl_http::{AgentTokenPresented, ApiError, AppState, Params};
use gl_model::{GitalyRepository, Project, Settings, Visibility};
use gl_store::repo::ProjectQuery;

use crate::agent_info::{GitalyInfo, default_branch, gitaly};

#[derive(Debug, Serialize)]
pub struct ProjectInfo {
    project_id: i64,
    gitaly_info: GitalyInfo,
    gitaly_repository: GitalyRepository,
    default_branch: String,
}

/// `id` as GitLab's `find_project` reads it: an integer id, or a full path (already URL-decoded).
/// The routes declare no parameters, so a missing `id` finds nothing: 404, after the agent
/// token has been checked.
fn project_query(params: &Params) -> ProjectQuery {
    let id = params.text("id").unwrap_or_default();
    let id = id.trim();
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        return id.parse().map_or(ProjectQuery::Nothing, ProjectQuery::Id);
    }
    if id.is_empty() {
        ProjectQuery::Nothing
    } else {
        ProjectQuery::FullPath(id.to_owned())
    }
}

/// GitLab's rule (`Users::Anonymous.can?(:download_code)` or `Clusters::Agent#has_access_to?`):
/// the project's repository is public, or it is the agent's own project. Grants in the agent's
/// configuration do not widen it.
fn agent_may_access(agent_project_id: i64, project: &Project) -> bool {
    project.visibility == Visibility::Public || project.id == agent_project_id
}

async fn accessible_project(
    token: &AgentTokenPresented,
    state: &AppState,
    params: &Params,
) -> Result<(Project, Settings), ApiError> {
    let query = project_query(params);
    let (agent, project, settings) = state
        .repo
        .kas()
        .agent_with_project(&token.digest, Some(&query))
        .await?;
    let agent = agent.ok_or_else(|| refused("agent token", "unknown or revoked"))?;
    match project {
        Some(project) if agent_may_access(agent.project_id, &project) => Ok((project, settings)),
        _ => Err(ApiError::NotFound(None)),
    }
}

/// `GET /internal/kubernetes/project_info?id=`: 404 for projects the agent may not use.
pub async fn project_info(
    token: AgentTokenPresented,
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<ProjectInfo>, ApiError> {
    let (project, settings) = accessible_project(&token, &state, &params).await?;
    let (gitaly_info, gitaly_repository) = gitaly(&project, &settings);
    Ok(Json(ProjectInfo {
        project_id: project.id,
        gitaly_info,
        gitaly_repository,
        default_branch: default_branch(&project),
    }))
}

/// `GET /internal/kubernetes/verify_project_access?id=`: 204 when allowed, 404 when not.
pub async fn verify_project_access(
    token: AgentTokenPresented,
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, ApiError> {
    accessible_project(&token, &state, &params).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
