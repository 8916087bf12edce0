//! `GET /internal/kubernetes/agent_info` (and `/internal/agents/agentk/agent_info`): where
//! an agent's configuration project lives in Gitaly.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use gl_http::error::refused;
use gl_http::{AgentTokenPresented, ApiError, AppState};
use gl_model::{GitalyRepository, Project, RepoType, Settings};

#[derive(Debug, Serialize)]
pub struct GitalyInfo {
    address: String,
    token: gl_model::SecretText,
    features: BTreeMap<String, String>,
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

pub(crate) fn gitaly(project: &Project, settings: &Settings) -> (GitalyInfo, GitalyRepository) {
    (
        GitalyInfo {
            address: settings.gitaly.address.clone(),
            token: settings.gitaly.token.clone(),
            features: BTreeMap::new(),
        },
        project.gitaly_repository(&settings.gitaly.storage, RepoType::Project),
    )
}

/// `default_branch_or_main`.
pub(crate) fn default_branch(project: &Project) -> String {
    project
        .default_branch
        .clone()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "main".to_owned())
}

/// `GET /internal/kubernetes/agent_info` (and `/internal/agents/agentk/agent_info`).
pub async fn agent_info(
    token: AgentTokenPresented,
    State(state): State<AppState>,
) -> Result<Json<AgentInfo>, ApiError> {
    let (agent, project, settings) = state
        .repo
        .kas()
        .agent_with_project(&token.digest, None)
        .await?;
    let agent = agent.ok_or_else(|| refused("agent token", "unknown or revoked"))?;
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
