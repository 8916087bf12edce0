//! `POST /internal/kubernetes/agent_configuration`: KAS reports the configuration file it
//! read from an agent's project; GitLab refreshes the agent's authorizations from it.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use gl_http::{ApiError, AppState, KasRequest, Params};

/// `agent_id` (integer) and `agent_config` (JSON object) are required; an unknown agent is the
/// record-not-found 404. The configuration is kept: its `ci_access`/`user_access` grants decide
/// `project_info` for projects other than the agent's own.
pub async fn agent_configuration(
    _: KasRequest,
    State(state): State<AppState>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let mut missing = Vec::new();
    let agent_id = match params.get("agent_id") {
        None => {
            missing.push("agent_id is missing");
            None
        }
        Some(value) => match value
            .as_i64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
        {
            Some(id) => Some(id),
            None => return Err(ApiError::InvalidParam("agent_id")),
        },
    };
    let config = match params.get("agent_config") {
        None => {
            missing.push("agent_config is missing");
            None
        }
        Some(Value::Object(config)) => Some(Value::Object(config.clone())),
        Some(_) => return Err(ApiError::InvalidParam("agent_config")),
    };
    if !missing.is_empty() {
        return Err(ApiError::Custom {
            status: StatusCode::BAD_REQUEST,
            body: json!({"error": missing.join(", ")}),
        });
    }
    let (Some(agent_id), Some(config)) = (agent_id, config) else {
        return Err(ApiError::Internal(
            "validated parameters vanished".to_owned(),
        ));
    };
    if state.repo.agent_by_id(agent_id).await?.is_none() {
        return Err(ApiError::Custom {
            status: StatusCode::NOT_FOUND,
            body: json!({"message": "404 Not found"}),
        });
    }
    state
        .repo
        .store_agent_configuration(agent_id, &config)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
