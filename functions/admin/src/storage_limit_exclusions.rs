//! `GET /api/v4/namespaces/storage/limit_exclusions`: every exclusion, paginated by id.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};

use gl_http::admin::authenticate_admin_alongside;
use gl_http::{ApiError, AppState, Declared, Params};

use crate::gitlab_com_only;
use crate::pagination::Pagination;

/// `authenticated_as_admin!`, the GitLab.com gate, then `paginate(LimitExclusion.all)`. Two
/// round trips: the list is read beside the admin's user record.
pub async fn index(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let repo = &state.repo;
    let (admin, exclusions) =
        authenticate_admin_alongside(&state, &method, &headers, &params, async { Ok(()) }, |()| {
            repo.billing().storage_limit_exclusions()
        })
        .await?;
    gitlab_com_only(&admin.settings)?;
    let mut declared = Declared::new(&params);
    let pagination = Pagination::declare(&mut declared);
    declared.finish(())?;
    let (page, headers) = pagination.paginate(exclusions, &uri, &admin.settings);
    Ok((headers, Json(page)).into_response())
}
