//! `POST /internal/pre_receive`: Gitaly's hook before every push counts the push in on
//! GitLab's per-repository reference counter (a push in flight).

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use gl_http::ShellJwtVerified;

use crate::ShellState;
use crate::gitaly_client_context::InternalParams;

#[derive(Debug, Serialize)]
pub struct PreReceiveResponse {
    reference_counter_increased: bool,
}

/// Counts a push in. `false` (which makes Gitaly reject the push) only when the store failed,
/// as GitLab answers `false` only when Redis raised. `gl_repository` is not validated.
pub async fn pre_receive(
    _: ShellJwtVerified,
    State(state): State<ShellState>,
    InternalParams(params): InternalParams,
) -> Json<PreReceiveResponse> {
    let gl_repository = params.text("gl_repository").unwrap_or_default();
    let increased = match state
        .app
        .repo
        .shell()
        .increase_reference_counter(&gl_repository)
        .await
    {
        Ok(()) => true,
        Err(err) => {
            tracing::error!(error = %err, "reference counter increase failed");
            false
        }
    };
    Json(PreReceiveResponse {
        reference_counter_increased: increased,
    })
}
