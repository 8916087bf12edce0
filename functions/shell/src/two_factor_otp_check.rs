//! `POST /internal/two_factor_manual_otp_check` and `two_factor_push_otp_check`: GitLab
//! Shell's `2fa_verify` command.

use axum::response::Response;

use gl_http::ShellJwtVerified;

use crate::account::failure;
use crate::gitaly_client_context::InternalParams;

/// `POST /internal/two_factor_manual_otp_check` and `two_factor_push_otp_check`: GitLab CE's
/// answer. OTP verification over SSH is an EE feature that needs a licence; without it GitLab
/// says so, and GitLab Shell prints the message.
pub async fn otp_check_unavailable(_: ShellJwtVerified, _: InternalParams) -> Response {
    failure("Feature is not available")
}
