//! Parameters of the internal API, with the `before` hook GitLab runs on every endpoint of
//! `API::Internal::Base` after authentication: `gitaly_client_context_bin`, when given, must be
//! base64 of a JSON object, and a `scoped-user-id` in it must name an existing user.

use axum::extract::{FromRequest, Request};
use base64::Engine as _;
use serde_json::{Value, json};

use gl_http::{ApiError, Params};

use crate::ShellState;

/// [`Params`] that passed the `gitaly_client_context_bin` hook.
#[derive(Debug, Clone)]
pub struct InternalParams(pub Params);

impl FromRequest<ShellState> for InternalParams {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ShellState) -> Result<Self, Self::Rejection> {
        let params = Params::from_request(request, state).await?;
        check_gitaly_client_context(&params, state).await?;
        Ok(Self(params))
    }
}

async fn check_gitaly_client_context(params: &Params, state: &ShellState) -> Result<(), ApiError> {
    let Some(encoded) = params.text("gitaly_client_context_bin") else {
        return Ok(());
    };
    let malformed = || ApiError::BadRequest(Some("malformed gitaly_client_context_bin".to_owned()));
    let decoded = decode64(&encoded).ok_or_else(malformed)?;
    let context: Value = serde_json::from_slice(&decoded).map_err(|_| malformed())?;
    let Value::Object(context) = context else {
        return Err(ApiError::BadRequest(Some(
            "Decoded gitaly_client_context_bin is not a valid JSON object".to_owned(),
        )));
    };
    if let Some(scoped) = context.get("scoped-user-id").filter(|v| is_present(v)) {
        let id = ruby_to_i(scoped);
        if state.app.repo.user_by_id(id).await?.is_none() {
            // `not_found!("User ID #{id} not found")`: the resource-name quirk appends "Not Found".
            return Err(ApiError::Custom {
                status: axum::http::StatusCode::NOT_FOUND,
                body: json!({"message": format!("404 User ID {id} not found Not Found")}),
            });
        }
    }
    Ok(())
}

/// Ruby's `Base64.decode64`: characters outside the alphabet are skipped and padding is
/// optional. `None` only when what is left cannot be base64 at all.
fn decode64(encoded: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    let mut symbols: String = encoded
        .split('=')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
        .collect();
    if symbols.len() % 4 == 1 {
        symbols.pop();
    }
    LENIENT.decode(symbols).ok()
}

/// Ruby's `present?`: not nil, not false, not a blank string, not empty.
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Ruby's `to_i` on what JSON can hold: leading digits of a string (0 when none), a float
/// truncated.
fn ruby_to_i(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n
            .as_i64()
            .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
        Value::String(s) => {
            let s = s.trim_start();
            let (sign, digits) = match s.strip_prefix('-') {
                Some(rest) => (-1, rest),
                None => (1, s.strip_prefix('+').unwrap_or(s)),
            };
            let end = digits
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(digits.len());
            digits[..end].parse::<i64>().map_or(0, |n| sign * n)
        }
        _ => 0,
    }
}
