//! Which SCIM API a request is for and whether it may use it, in GitLab's order: for a group,
//! the group (404 `Group <path> not found`), its SAML configuration (404 `... does not have
//! SAML SSO configured`), then the token (a plain 401, not a SCIM error: the group's
//! existence is disclosed first, as GitLab discloses it); for the instance, its SAML
//! configuration (403 `SAML not enabled.`), then the token.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{HeaderMap, StatusCode, Uri};

use gl_http::error::refused;
use gl_http::{ApiError, AppState};
use gl_model::{ScimProvider, ScimScope};
use gl_store::repo::{ScimAccess, ScimBase};

use crate::params::ScimParams;

/// A SCIM request as read: its API, its parameters and token, and the resource id its path
/// names.
pub struct ScimRequest {
    pub base: ScimBase,
    pub params: ScimParams,
    pub id: Option<String>,
    path: HashMap<String, String>,
}

/// Every SCIM handler starts from the request as read: axum hands it over whole.
impl FromRequest<AppState> for ScimRequest {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let Path(path) = Path::<HashMap<String, String>>::from_request_parts(&mut parts, state)
            .await
            .map_err(|_| ApiError::RouteNotFound)?;
        let body = axum::body::to_bytes(body, gl_http::MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge)?;
        Self::read(&path, &parts.uri, &parts.headers, &body)
    }
}

impl ScimRequest {
    /// Reads a request whose route named `group_path` (a group's API; none: the instance's)
    /// and maybe `id`.
    pub fn read(
        path: &HashMap<String, String>,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Self, ApiError> {
        let group_path = path.get("group_path");
        let id = path.get("id");
        let mut route: Vec<(&str, &str)> = Vec::new();
        if let Some(group_path) = group_path {
            route.push(("group_path", group_path));
        }
        if let Some(id) = id {
            route.push(("id", id));
        }
        Ok(Self {
            base: match group_path {
                Some(path) => ScimBase::Group(path.clone()),
                None => ScimBase::Instance,
            },
            params: ScimParams::read(uri.query(), headers, body, &route)?,
            id: id.cloned(),
            path: path.clone(),
        })
    }

    /// A parameter the route's path named.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.path.get(name).map(String::as_str)
    }

    /// The digest the presented token is looked up by (of nothing when none was presented:
    /// no token has that digest).
    pub fn token_digest(&self) -> String {
        gl_auth::token_digest(self.params.token.as_deref().unwrap_or_default())
    }

    /// GitLab's checks on what was read: the provider of the API when they pass.
    pub fn authorize(&self, access: ScimAccess) -> Result<ScimProvider, ApiError> {
        let provider = match &self.base {
            ScimBase::Group(path) => {
                if !access.group_found {
                    return Err(scim_error(
                        StatusCode::NOT_FOUND,
                        format!("Group {path} not found"),
                    ));
                }
                access.provider.ok_or_else(|| {
                    scim_error(
                        StatusCode::NOT_FOUND,
                        format!("Group {path} does not have SAML SSO configured"),
                    )
                })?
            }
            ScimBase::Instance => access
                .provider
                .ok_or_else(|| ApiError::Forbidden(Some("SAML not enabled.".to_owned())))?,
        };
        let token_scope = access.token.map(|token| token.scope);
        if self.params.token.is_none() {
            return Err(refused("SCIM token", "missing"));
        }
        match token_scope {
            None => return Err(refused("SCIM token", "unknown")),
            Some(scope) if scope != provider.scope => {
                return Err(refused("SCIM token", "another group's or the instance's"));
            }
            Some(_) => {}
        }
        debug_assert!(matches!(
            (&self.base, &provider.scope),
            (ScimBase::Group(_), ScimScope::Group { .. })
                | (ScimBase::Instance, ScimScope::Instance)
        ));
        Ok(provider)
    }
}

/// A SCIM Error: 404, 409, or GitLab's 412 for everything else.
pub fn scim_error(status: StatusCode, detail: impl Into<String>) -> ApiError {
    ApiError::Scim {
        status,
        detail: detail.into(),
    }
}
