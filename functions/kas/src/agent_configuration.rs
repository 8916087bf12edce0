//! `POST /internal/kubernetes/agent_configuration`: KAS reports the configuration file it
//! read from an agent's project; GitLab refreshes the agent's authorizations from it.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use gl_http::grape::{Hash, Integer};
use gl_http::{ApiError, AppState, Declared, KasJwtVerified, Params};
use gl_store::repo::UserAccessRequest;

/// `agent_id` (integer) and `agent_config` (JSON object) are required; an unknown agent is the
/// record-not-found 404. The configuration is kept, and its `user_access` grants refreshed for
/// `authorize_proxy_user`.
pub async fn agent_configuration(
    _: KasJwtVerified,
    State(state): State<AppState>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let mut declared = Declared::new(&params);
    let agent_id = declared.requires("agent_id", Integer);
    let config = declared.requires("agent_config", Hash);
    let (agent_id, config) = declared.finish((agent_id, config))?;
    let config = Value::Object(config);
    let user_access = user_access_request(&config);
    if !state
        .repo
        .kas()
        .refresh_agent_configuration(agent_id, &config, user_access)
        .await?
    {
        return Err(ApiError::RecordNotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `UserAccess::RefreshService#extract_config_entries`: the first 500 `projects` and `groups`
/// entries of `user_access`, by their `id` (a full path, compared case-insensitively), and the
/// `access_as` slice of `user_access`.
fn user_access_request(config: &Value) -> UserAccessRequest {
    /// `UserAccess::RefreshService::AUTHORIZED_ENTITY_LIMIT`.
    const AUTHORIZED_ENTITY_LIMIT: usize = 500;
    let user_access = &config["user_access"];
    let paths = |entity: &str| -> Vec<String> {
        let mut paths: Vec<String> = Vec::new();
        let entries = user_access[entity]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for entry in entries.iter().take(AUTHORIZED_ENTITY_LIMIT) {
            if let Some(path) = entry["id"].as_str().map(str::to_lowercase)
                && !paths.contains(&path)
            {
                paths.push(path);
            }
        }
        paths
    };
    let mut slice = serde_json::Map::new();
    if let Some(access_as) = user_access.as_object().and_then(|u| u.get("access_as")) {
        slice.insert("access_as".to_owned(), access_as.clone());
    }
    UserAccessRequest {
        config: slice,
        project_paths: paths("projects"),
        group_paths: paths("groups"),
    }
}
