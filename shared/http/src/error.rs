//! One error type for every family, rendering the bodies GitLab's Grape API renders
//! (`lib/api/helpers.rb`): `{"message": ...}` for the helpers, `{"error": ...}` for parameter
//! validation and routing, and whatever a family needs beyond that as a custom body.

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
    /// A family-specific body, such as `/allowed`'s `{"status":false,"message":...}`.
    #[error("{status}")]
    Custom { status: StatusCode, body: Value },
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
struct FailureCause(String);

impl ApiError {
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
            | Self::MalformedBody => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Custom { status, .. } => *status,
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
            Self::Custom { body, .. } => body.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Self::Unavailable(cause) | Self::Internal(cause) = &self {
            response
                .extensions_mut()
                .insert(FailureCause(cause.clone()));
        }
        response
    }
}

/// Logs every request's outcome once; server-side failures carry their cause, which the client
/// never sees. Paths are logged without their query string: `/authorized_keys?key=` holds key
/// material and other endpoints may carry tokens.
pub(crate) async fn log_failures(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    match response.extensions().get::<FailureCause>() {
        Some(FailureCause(cause)) => {
            tracing::error!(%method, %path, status, micros, cause = %cause, "request failed");
        }
        None => tracing::debug!(%method, %path, status, micros, "request"),
    }
    response
}
