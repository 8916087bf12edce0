//! `POST` and `DELETE /api/v4/namespaces/:id/storage/limit_exclusion`: exclude a root
//! namespace from the GitLab.com storage limit, or end its exclusion.
//!
//! Checks in this order: `authenticated_as_admin!` (401/403), the GitLab.com gate (403),
//! `find_namespace!` (404 `Namespace Not Found`; a project's path names none), then the
//! parameters (400), then `must use a root namespace` and `already excluded` / `not excluded`
//! (400). GitLab itself validates `reason` before it authenticates (its admin check runs in
//! the endpoint body, after Grape's validation); here authentication comes first, as for
//! every admin endpoint of this service, so an unauthenticated caller learns nothing about
//! the parameters.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use gl_http::admin::{AdminAuthenticated, authenticate_admin_alongside};
use gl_http::grape::Text;
use gl_http::{ApiError, AppState, Declared, Params};
use gl_model::Namespace;
use gl_store::StoreError;
use gl_store::repo::ExclusionTarget;

use crate::gitlab_com_only;

/// `validates :reason, length: { maximum: 255 }`.
const REASON_MAX_CHARS: usize = 255;

/// Writes that lose a race (another exclusion took the next id) read again and retry this
/// many times before answering 500. Exclusions of different namespaces race for the one id
/// sequence, and a create loses once for each exclusion stored beside it, so a create needs as
/// many attempts as there are creates in flight (with 5, 7 of 24 creates of 16 namespaces at
/// once answered 500). A race is lost only to an exclusion that was stored, so this bound is
/// never reached unless that many creates run at once; it only caps what one create can spend.
const WRITE_ATTEMPTS: usize = 32;

/// Authenticates and finds the namespace with its exclusion, in two round trips: the route of
/// a full path is read beside the token, the namespace and its exclusion beside the user.
async fn authenticate_and_find(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    id: &str,
) -> Result<(AdminAuthenticated, ExclusionTarget), ApiError> {
    let repo = &state.repo;
    let (admin, target) = authenticate_admin_alongside(
        state,
        method,
        headers,
        params,
        repo.identity().namespace_id(id),
        |namespace_id| repo.billing().storage_limit_exclusion_target(namespace_id),
    )
    .await?;
    gitlab_com_only(&admin.settings)?;
    Ok((admin, target))
}

fn found(target: &ExclusionTarget) -> Result<&Namespace, ApiError> {
    target
        .namespace
        .as_ref()
        .ok_or(ApiError::NotFound(Some("Namespace")))
}

fn root(namespace: &Namespace) -> Result<(), ApiError> {
    if namespace.root {
        Ok(())
    } else {
        Err(ApiError::BadRequest(Some(
            "must use a root namespace".to_owned(),
        )))
    }
}

/// `LimitExclusion` validations: `reason` present (not blank) and at most 255 characters.
fn validate_reason(reason: &str) -> Result<(), ApiError> {
    let error = if reason.trim().is_empty() {
        "can't be blank".to_owned()
    } else if reason.chars().count() > REASON_MAX_CHARS {
        format!("is too long (maximum is {REASON_MAX_CHARS} characters)")
    } else {
        return Ok(());
    };
    Err(ApiError::RecordInvalid(vec![("reason", vec![error])]))
}

/// `requires :reason, type: String`; 201 with the exclusion, written with its namespace's
/// marker and the id sequence in one transaction. Three round trips.
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let (_admin, mut target) =
        authenticate_and_find(&state, &method, &headers, &params, &id).await?;
    found(&target)?;
    let mut declared = Declared::new(&params);
    let reason = declared.requires("reason", Text);
    let reason = declared.finish(reason)?;
    for _ in 0..WRITE_ATTEMPTS {
        let namespace = found(&target)?;
        root(namespace)?;
        if target.exclusion.is_some() {
            return Err(ApiError::BadRequest(Some("already excluded".to_owned())));
        }
        validate_reason(&reason)?;
        match state
            .repo
            .billing()
            .create_storage_limit_exclusion(&target, namespace, &reason)
            .await
        {
            Ok(exclusion) => return Ok((StatusCode::CREATED, Json(exclusion)).into_response()),
            Err(StoreError::ConditionFailed) => {
                let namespace_id = Some(namespace.id);
                target = state
                    .repo
                    .billing()
                    .storage_limit_exclusion_target(namespace_id)
                    .await?;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Internal(
        "storage limit exclusion: the id sequence kept moving".to_owned(),
    ))
}

/// 204 once the exclusion and its namespace's marker are gone, in one transaction. A removal
/// that finds them already removed by a concurrent one is a success too, as GitLab's
/// `destroy` of a row already deleted is. Three round trips.
pub async fn destroy(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let (_admin, target) = authenticate_and_find(&state, &method, &headers, &params, &id).await?;
    root(found(&target)?)?;
    let exclusion = target
        .exclusion
        .ok_or_else(|| ApiError::BadRequest(Some("not excluded".to_owned())))?;
    match state
        .repo
        .billing()
        .delete_storage_limit_exclusion(&exclusion)
        .await
    {
        Ok(()) | Err(StoreError::ConditionFailed) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_validated_in_rails_words() {
        assert!(validate_reason("support ticket 123").is_ok());
        assert!(validate_reason(&"é".repeat(255)).is_ok());
        assert_eq!(
            validate_reason("  ").unwrap_err().body(),
            serde_json::json!({"message": {"reason": ["can't be blank"]}})
        );
        assert_eq!(
            validate_reason(&"x".repeat(256)).unwrap_err().body(),
            serde_json::json!({"message": {"reason": ["is too long (maximum is 255 characters)"]}})
        );
    }
}
