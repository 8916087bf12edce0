//! `agent_info`, `project_info` and `verify_project_access`: where an agent's (or a project's)
//! repository lives, and whether the agent may use a project.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use gl_http::{AgentToken, ApiError, AppState, Params};
use gl_model::{Project, Settings, Visibility};
use gl_store::repo::ProjectQuery;

#[derive(Debug, Serialize)]
pub struct GitalyInfo {
    address: String,
    token: String,
    features: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct GitalyRepository {
    storage_name: String,
    relative_path: String,
    git_object_directory: String,
    git_alternate_object_directories: Vec<String>,
    gl_repository: String,
    gl_project_path: String,
}

#[derive(Debug, Serialize)]
pub struct AgentInfo {
    project_id: i64,
    agent_id: i64,
    agent_name: String,
    gitaly_info: GitalyInfo,
    gitaly_repository: GitalyRepository,
    default_branch: String,
}

#[derive(Debug, Serialize)]
pub struct ProjectInfo {
    project_id: i64,
    gitaly_info: GitalyInfo,
    gitaly_repository: GitalyRepository,
    default_branch: String,
}

fn gitaly(project: &Project, settings: &Settings) -> (GitalyInfo, GitalyRepository) {
    (
        GitalyInfo {
            address: settings.gitaly.address.clone(),
            token: settings.gitaly.token.clone(),
            features: BTreeMap::new(),
        },
        GitalyRepository {
            storage_name: settings.gitaly.storage.clone(),
            relative_path: project.hashed_relative_path(),
            git_object_directory: String::new(),
            git_alternate_object_directories: Vec::new(),
            gl_repository: project.gl_repository(),
            gl_project_path: project.full_path.clone(),
        },
    )
}

/// `default_branch_or_main`.
fn default_branch(project: &Project) -> String {
    project
        .default_branch
        .clone()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "main".to_owned())
}

/// `GET /internal/kubernetes/agent_info` (and `/internal/agents/agentk/agent_info`).
pub async fn agent_info(
    token: AgentToken,
    State(state): State<AppState>,
) -> Result<Json<AgentInfo>, ApiError> {
    let (agent, project, settings) = state.repo.agent_with_project(&token.digest, None).await?;
    let agent = agent.ok_or(ApiError::Unauthorized)?;
    let project = project.ok_or(ApiError::NotFound(None))?;
    let (gitaly_info, gitaly_repository) = gitaly(&project, &settings);
    Ok(Json(AgentInfo {
        project_id: project.id,
        agent_id: agent.id,
        agent_name: agent.name,
        gitaly_info,
        gitaly_repository,
        default_branch: default_branch(&project),
    }))
}

/// `id` as GitLab's `find_project` reads it: an integer id, or a full path (already URL-decoded).
fn project_query(params: &Params) -> Result<ProjectQuery, ApiError> {
    let id = params.require_text("id")?;
    let id = id.trim();
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(id.parse().map_or(ProjectQuery::Nothing, ProjectQuery::Id));
    }
    Ok(if id.is_empty() {
        ProjectQuery::Nothing
    } else {
        ProjectQuery::FullPath(id.to_owned())
    })
}

/// Paths an agent configuration grants (`ci_access` / `user_access`, `projects` and `groups`).
fn granted_paths(config: Option<&Value>, kind: &str) -> Vec<String> {
    let Some(config) = config else {
        return Vec::new();
    };
    ["ci_access", "user_access"]
        .iter()
        .flat_map(|access| config[access][kind].as_array().cloned().unwrap_or_default())
        .filter_map(|entry| {
            entry["id"]
                .as_str()
                .map(|id| id.trim_matches('/').to_lowercase())
        })
        .collect()
}

/// GitLab's rule: the project's repository is public, or the agent is authorized for it (its
/// own project, or one its configuration grants, directly or through a group).
fn agent_may_access(agent_project_id: i64, project: &Project, config: Option<&Value>) -> bool {
    if project.visibility == Visibility::Public || project.id == agent_project_id {
        return true;
    }
    let path = project.full_path.to_lowercase();
    granted_paths(config, "projects").contains(&path)
        || granted_paths(config, "groups")
            .iter()
            .any(|group| path.starts_with(&format!("{group}/")))
}

async fn accessible_project(
    token: &AgentToken,
    state: &AppState,
    params: &Params,
) -> Result<(Project, Settings), ApiError> {
    let query = project_query(params)?;
    let (agent, project, settings, config) = state
        .repo
        .agent_project_access(&token.digest, &query)
        .await?;
    let agent = agent.ok_or(ApiError::Unauthorized)?;
    match project {
        Some(project) if agent_may_access(agent.project_id, &project, config.as_ref()) => {
            Ok((project, settings))
        }
        _ => Err(ApiError::NotFound(None)),
    }
}

/// `GET /internal/kubernetes/project_info?id=`: 404 for projects the agent may not use.
pub async fn project_info(
    token: AgentToken,
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
    token: AgentToken,
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, ApiError> {
    accessible_project(&token, &state, &params).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
