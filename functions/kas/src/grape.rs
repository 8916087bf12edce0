//! Grape's parameter coercion as `API::Internal::Kubernetes` declares it: errors are collected
//! and answered together in one 400 `{"error": "<a> is missing, <b> is invalid"}`.

use serde_json::Value;

use gl_http::{ApiError, Params};

/// Grape's `Integer` coercion: JSON integers and integer strings.
pub(crate) fn integer(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// `requires :name, type: Integer`: the value, or Grape's message added to `errors`.
pub(crate) fn required_integer(
    params: &Params,
    name: &str,
    errors: &mut Vec<String>,
) -> Option<i64> {
    match params.get(name) {
        None => {
            errors.push(format!("{name} is missing"));
            None
        }
        Some(value) => {
            let id = integer(value);
            if id.is_none() {
                errors.push(format!("{name} is invalid"));
            }
            id
        }
    }
}

/// The collected errors as Grape answers them.
pub(crate) fn invalid_params(errors: &[String]) -> ApiError {
    ApiError::Custom {
        status: axum::http::StatusCode::BAD_REQUEST,
        body: serde_json::json!({"error": errors.join(", ")}),
    }
}
