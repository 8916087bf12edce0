//! `POST /internal/kubernetes/authorize_proxy_user`: KAS asks whether a user may reach an
//! agent's cluster through its Kubernetes API proxy (`user_access` in the agent's
//! configuration), authenticated by a personal access token with the `k8s_proxy` scope.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value, json};

use gl_http::admin::validate_token;
use gl_http::error::refused;
use gl_http::grape::{Integer, JsonString, Text, Type as _};
use gl_http::{ApiError, AppState, Declared, KasJwtVerified, Params};
use gl_model::{AccessLevel, UserState};
use gl_store::repo::kas::GrantRoles;

/// `Gitlab::Auth::K8S_PROXY_SCOPE`.
const K8S_PROXY_SCOPE: &str = "k8s_proxy";

#[derive(Debug, Serialize)]
pub struct Authorized {
    agent: AuthorizedAgent,
    user: AuthorizedUser,
    access_as: Value,
}

#[derive(Debug, Serialize)]
struct AuthorizedAgent {
    id: i64,
    config_project: ConfigProject,
}

#[derive(Debug, Serialize)]
struct ConfigProject {
    id: i64,
}

#[derive(Debug, Serialize)]
struct AuthorizedUser {
    id: i64,
    username: String,
}

/// `access_type`'s values.
const SESSION_COOKIE: &str = "session_cookie";
const PERSONAL_ACCESS_TOKEN: &str = "personal_access_token";

/// Grape's declared parameters: `agent_id` (integer), `access_type` (one of two values),
/// `access_key`, and, given a session cookie, `csrf_token` (a string, not blank); every failure
/// in one 400.
fn validate(params: &Params) -> Result<(i64, String, String), ApiError> {
    let mut declared = Declared::new(params);
    let agent_id = declared.requires("agent_id", Integer);
    let access_type = declared.requires(
        "access_type",
        Text.values(&[SESSION_COOKIE, PERSONAL_ACCESS_TOKEN]),
    );
    let access_key = declared.requires("access_key", Text);
    if access_type
        .peek()
        .is_some_and(|kind| kind == SESSION_COOKIE)
    {
        declared.requires("csrf_token", JsonString.not_blank());
    }
    declared.finish((agent_id, access_type, access_key))
}

fn forbidden(message: &str) -> ApiError {
    ApiError::message(StatusCode::FORBIDDEN, message)
}

/// GitLab's order: parameters; the user behind the credentials (an unknown token is "Unable
/// to get user", an expired or revoked one the API guard's 401, one without `k8s_proxy` its
/// 403 `insufficient_scope`); the agent (404); then `AuthorizeProxyUserService`: the grants
/// must exist, `access_as` must be there once, and for `access_as: agent` the user needs the
/// Developer role on a granted project or group. Success is 201: Grape's default for a POST
/// that sets no status. Two round trips: credentials with the agent and its grants, then the
/// user with every membership that could give them a role on a grant.
///
/// Session cookies are GitLab's web sessions, which this service does not hold: every cookie
/// is refused as GitLab refuses one it cannot decrypt. A user who is not active gets 401,
/// where GitLab does not look at the state here.
pub async fn authorize_proxy_user(
    _: KasJwtVerified,
    State(state): State<AppState>,
    params: Params,
) -> Result<(StatusCode, Json<Authorized>), ApiError> {
    let (agent_id, access_type, access_key) = validate(&params)?;
    if access_type == SESSION_COOKIE {
        return Err(ApiError::BadRequest(Some("Invalid access_key".to_owned())));
    }
    let digest = Some(access_key)
        .filter(|key| !key.trim().is_empty())
        .map(|key| gl_auth::token_digest(&key));
    let (token, agent, grants) = state
        .repo
        .kas()
        .agent_grants_with_token(digest.as_deref(), agent_id)
        .await?;
    let unable = || ApiError::BadRequest(Some("Unable to get user from request data".to_owned()));
    let token = token.ok_or_else(unable)?;
    validate_token(&token, K8S_PROXY_SCOPE, chrono::Utc::now())?;
    let GrantRoles {
        user,
        project_roles,
        group_roles,
    } = state
        .repo
        .kas()
        .roles_on_grants(token.user_id, &grants)
        .await?;
    let user = user
        .filter(|user| user.state == UserState::Active)
        .ok_or_else(|| refused("personal access token", "its user is not active"))?;
    let agent = agent.ok_or(ApiError::RecordNotFound)?;

    let Some(config) = grants.user_access_config().filter(|c| !c.is_empty()) else {
        return Err(forbidden(
            "`user_access` keyword is not found in agent config file.",
        ));
    };
    let access_as = match config.get("access_as") {
        Some(Value::Object(access_as)) if !access_as.is_empty() => access_as,
        _ => {
            return Err(forbidden(
                "`access_as` is not found under the `user_access` keyword.",
            ));
        }
    };
    if access_as.len() != 1 {
        return Err(forbidden(
            "`access_as` must exist only once under the `user_access` keyword.",
        ));
    }
    if !access_as.contains_key("agent") {
        // `access_as: user` is EE's impersonation; this service answers as an instance
        // without that licence does.
        return Err(forbidden("User impersonation requires EEP license."));
    }
    // The finder gives an admin every grant of the agent; others need the Developer role.
    let member = user.admin
        || project_roles
            .iter()
            .chain(&group_roles)
            .any(|role| *role >= AccessLevel::Developer);
    if !member {
        return Err(forbidden(
            "You must be a member of `projects` or `groups` under the `user_access` keyword.",
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(Authorized {
            agent: AuthorizedAgent {
                id: agent.id,
                config_project: ConfigProject {
                    id: agent.project_id,
                },
            },
            user: AuthorizedUser {
                id: user.id,
                username: user.username,
            },
            access_as: json!({"agent": Map::new()}),
        }),
    ))
}
