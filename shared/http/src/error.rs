//! One error type for every family, rendering the bodies GitLab's Grape API renders
//! (`lib/api/helpers.rb`): `{"message": ...}` for the helpers, `{"error": ...}` for parameter
//! validation and routing, the API guard's OAuth-style token errors, and the internal API's
//! `{"status":false,"message":...}` refusals. Each body GitLab repeats has one variant here,
//! so a family never writes one by hand.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use gl_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `unauthorized!`
    #[error("401 Unauthorized")]
    Unauthorized,
    /// `forbidden!(reason)`
    #[error("403 Forbidden")]
    Forbidden(Option<String>),
    /// `not_found!(resource)`: "404 Key Not Found", or "404 Not Found" without a resource.
    #[error("404 not found")]
    NotFound(Option<&'static str>),
    /// Grape's catch-all route for paths no endpoint serves.
    #[error("no such route")]
    RouteNotFound,
    /// Grape's answer to a known path with an unsupported method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Grape parameter validation: `{"error":"key is missing"}`.
    #[error("{0} is missing")]
    MissingParam(&'static str),
    /// Grape parameter validation: `{"error":"key is invalid"}`.
    #[error("{0} is invalid")]
    InvalidParam(&'static str),
    /// Grape's one 400 for every failed parameter declaration (see [`crate::grape`]):
    /// `{"error":"a is missing, b is invalid"}`, in declaration order.
    #[error("{}", .0.join(", "))]
    InvalidParams(Vec<String>),
    /// `bad_request!(reason)`
    #[error("400 Bad request")]
    BadRequest(Option<String>),
    /// A JSON body that does not parse (`Grape::Exceptions::InvalidMessageBody`).
    #[error("message body does not match declared format")]
    MalformedBody,
    #[error("request body too large")]
    PayloadTooLarge,
    /// The store is unreachable or throttling: the client may retry (GitLab Shell does on 5xx).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything unexpected; the cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
    /// ActiveRecord's `RecordNotFound` escaping an endpoint (`find!`, `Project.find`):
    /// `{"message":"404 Not found"}`, lower-case "found", unlike `not_found!`.
    #[error("404 record not found")]
    RecordNotFound,
    /// `unprocessable_entity!`
    #[error("422 Unprocessable Entity")]
    UnprocessableEntity,
    /// `render_validation_error!(model)`: 400 `{"message":{"attr":["error", ...]}}`, the
    /// model's errors keyed by attribute, in Rails' words (`can't be blank`).
    #[error("record invalid: {0:?}")]
    RecordInvalid(Vec<(&'static str, Vec<String>)>),
    /// `render_api_error!(message, status)`: the message as it is, with no status prefix.
    #[error("{status}: {message}")]
    Message { status: StatusCode, message: String },
    /// SCIM's Error schema (`EE::API::Entities::Scim::Error`), as `application/scim+json`:
    /// 412 for every SCIM failure that is not a 404 or a 409, `status` a JSON integer as
    /// GitLab sends it.
    #[error("SCIM {status}: {detail}")]
    Scim { status: StatusCode, detail: String },
    /// `render_api_error!({ error: message }, status)`: `{"message":{"error":...}}`.
    #[error("{status}: {error}")]
    MessageError { status: StatusCode, error: String },
    /// The API guard's `ExpiredError` / `RevokedError`: 401 `invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// The API guard's `InsufficientScopeError` for a token lacking the scope.
    #[error("insufficient scope: {0}")]
    InsufficientScope(&'static str),
    /// The internal API's refusals, `response_with_status(code:, success: false, message:)`:
    /// `{"status":false,"message":...}`. `/allowed` answers 401 (not 403: GitLab Shell prints
    /// the message only for 401) or 404.
    #[error("{status}: {message}")]
    Denied { status: StatusCode, message: String },
}

/// The body of the internal API's `response_with_status` answers, refusals and otherwise.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusMessage {
    pub status: bool,
    pub message: String,
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            StoreError::Rejected(cause) => {
                tracing::warn!(%cause, "store rejected the request's data");
                Self::BadRequest(None)
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

/// The cause of a 5xx, carried from the error to the logging middleware so it is logged once,
/// at the boundary, with the request's method and path.
#[derive(Clone, Debug)]
pub(crate) struct FailureCause(pub(crate) String);

impl ApiError {
    /// [`Self::Message`] with this status.
    pub fn message(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Message {
            status,
            message: message.into(),
        }
    }

    /// [`Self::Denied`] with this status.
    pub fn denied(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Denied {
            status,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::MissingParam(_)
            | Self::InvalidParam(_)
            | Self::InvalidParams(_)
            | Self::BadRequest(_)
            | Self::RecordInvalid(_)
            | Self::MalformedBody => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::RecordNotFound => StatusCode::NOT_FOUND,
            Self::UnprocessableEntity => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::Message { status, .. }
            | Self::Scim { status, .. }
            | Self::MessageError { status, .. }
            | Self::Denied { status, .. } => *status,
        }
    }

    pub fn body(&self) -> Value {
        match self {
            Self::Unauthorized => json!({"message": "401 Unauthorized"}),
            Self::Forbidden(None) => json!({"message": "403 Forbidden"}),
            Self::Forbidden(Some(reason)) => {
                json!({"message": format!("403 Forbidden - {reason}")})
            }
            Self::NotFound(None) => json!({"message": "404 Not Found"}),
            Self::NotFound(Some(resource)) => {
                json!({"message": format!("404 {resource} Not Found")})
            }
            Self::RouteNotFound => json!({"error": "404 Not Found"}),
            Self::MethodNotAllowed => json!({"error": "405 Not Allowed"}),
            Self::MissingParam(_)
            | Self::InvalidParam(_)
            | Self::InvalidParams(_)
            | Self::MalformedBody => {
                json!({"error": self.to_string()})
            }
            Self::BadRequest(None) => json!({"message": "400 Bad request"}),
            Self::BadRequest(Some(reason)) => {
                json!({"message": format!("400 Bad request - {reason}")})
            }
            Self::PayloadTooLarge => json!({"message": "413 Request Entity Too Large"}),
            Self::Unavailable(_) => json!({"message": "503 Service Unavailable"}),
            Self::Internal(_) => json!({"message": "500 Internal Server Error"}),
            Self::RecordNotFound => json!({"message": "404 Not found"}),
            Self::UnprocessableEntity => json!({"message": "422 Unprocessable Entity"}),
            Self::RecordInvalid(errors) => {
                let errors: serde_json::Map<String, Value> = errors
                    .iter()
                    .map(|(attribute, messages)| ((*attribute).to_owned(), json!(messages)))
                    .collect();
                json!({ "message": errors })
            }
            Self::Message { message, .. } => json!({ "message": message }),
            Self::MessageError { error, .. } => json!({ "message": { "error": error } }),
            Self::Scim { status, detail } => json!(ScimErrorBody {
                schemas: [SCIM_ERROR_SCHEMA],
                detail,
                status: status.as_u16(),
            }),
            Self::InvalidToken(description) => {
                json!({"error": "invalid_token", "error_description": description})
            }
            Self::InsufficientScope(scope) => json!({
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided by the access token.",
                "scope": scope
            }),
            Self::Denied { message, .. } => json!(StatusMessage {
                status: false,
                message: message.clone(),
            }),
        }
    }
}

/// The schema of SCIM's error responses.
pub const SCIM_ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// SCIM's media type: GitLab's SCIM API answers everything, errors included, as it.
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// SCIM's Error schema, fields in GitLab's entity's order.
#[derive(serde::Serialize)]
struct ScimErrorBody<'a> {
    schemas: [&'static str; 1],
    detail: &'a str,
    status: u16,
}

/// A JSON body served as `application/scim+json`.
pub fn scim_json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    response
}

/// `{"message":{"attr":["error", ...], ...}}`, attributes in the order given, each once.
struct ValidationMessages<'a>(&'a [(&'static str, Vec<String>)]);

impl serde::Serialize for ValidationMessages<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Ordered<'a>(&'a [(&'static str, Vec<String>)]);
        impl serde::Serialize for Ordered<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut merged: Vec<(&str, Vec<&String>)> = Vec::new();
                for (attribute, messages) in self.0 {
                    match merged.iter_mut().find(|(seen, _)| seen == attribute) {
                        Some((_, all)) => all.extend(messages),
                        None => merged.push((attribute, messages.iter().collect())),
                    }
                }
                let mut map = serializer.serialize_map(Some(merged.len()))?;
                for (attribute, messages) in &merged {
                    map.serialize_entry(attribute, messages)?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("message", &Ordered(self.0))?;
        map.end()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match &self {
            // GitLab Shell reads these by name, but the order (`status` first) is pinned too:
            // a serialized struct keeps it, a JSON map would sort it.
            Self::Denied { status, message } => {
                let body = StatusMessage {
                    status: false,
                    message: message.clone(),
                };
                (*status, axum::Json(body)).into_response()
            }
            Self::Scim { status, detail } => {
                let body = ScimErrorBody {
                    schemas: [SCIM_ERROR_SCHEMA],
                    detail,
                    status: status.as_u16(),
                };
                scim_json(*status, &body)
            }
            // `errors.messages` is a Ruby hash: attributes in the order the model declares
            // its validations, which a JSON map would sort.
            Self::RecordInvalid(errors) => {
                let body = ValidationMessages(errors);
                (self.status(), axum::Json(body)).into_response()
            }
            _ => (self.status(), axum::Json(self.body())).into_response(),
        };
        if let Self::Unavailable(cause) | Self::Internal(cause) = &self {
            response
                .extensions_mut()
                .insert(FailureCause(cause.clone()));
        }
        response
    }
}

/// A panic in a handler is GitLab's `500 Internal Server Error` for that request only: the
/// process (a Lambda sandbox, the local server) keeps serving, as Rails answers 500 for an
/// exception and goes on. The release profile unwinds for this (`panic = "unwind"`).
pub(crate) async fn catch_panics(request: Request, next: Next) -> Response {
    use futures_util::FutureExt as _;
    match std::panic::AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            ApiError::Internal(format!("handler panicked: {message}")).into_response()
        }
    }
}

/// A credential refused: one info line saying which kind and why (`missing`, `unknown`,
/// `revoked`, a verifier's reason), never the credential, so a defender can count failed
/// authentications; the answer is whatever the caller renders (GitLab's 401, mostly).
pub fn log_refusal(credential: &'static str, reason: &dyn std::fmt::Display) {
    tracing::info!(credential, %reason, "authentication refused");
}

/// [`log_refusal`], answered with GitLab's `401 Unauthorized`.
pub fn refused(credential: &'static str, reason: &'static str) -> ApiError {
    log_refusal(credential, &reason);
    ApiError::Unauthorized
}
