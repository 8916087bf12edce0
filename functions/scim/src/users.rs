//! `/Users` and `/Users/:id` of a group's (`/api/scim/v2/groups/:group_path`) or the
//! instance's (`/api/scim/v2/application`) SCIM API, as GitLab's `GroupScim` and
//! `InstanceScim` serve them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use gl_http::{ApiError, AppState};
use gl_model::{ScimIdentity, ScimProvider};
use gl_store::StoreError;
use gl_store::repo::{ExistingUser, Membership, NewUser, ProvisioningTarget, ScimBase, UserLookup};

use crate::access::{ScimRequest, scim_error};
use crate::attributes::{Filter, Provisioning, Update, parse_filter};
use crate::deprovision::{deprovision, last_owner, read_for_deprovision, remember_group_id};
use crate::params::Ordered;
use crate::resource::{ListResponse, User, scim_json};
use crate::username;

/// Writes that lose a race read again and retry this many times.
const WRITE_ATTEMPTS: usize = 3;

/// Creates that lose a race read again and retry this many times. Every new user takes the
/// next user and namespace ids, so creates of different users race for the same two
/// sequence items, and a create loses once for each create stored beside it: an identity
/// provider that provisions users in parallel needs as many attempts as it has creates in
/// flight (with [`WRITE_ATTEMPTS`], 13 of 20 distinct users created at once were refused).
/// A race is lost only to a write that was stored, so this bound is never reached unless that
/// many creates run at once; it only caps what one create can spend.
const CREATE_ATTEMPTS: usize = 32;

/// `Kaminari`'s default page size, and the largest `count` GitLab serves.
const DEFAULT_COUNT: i64 = 20;
const MAX_COUNT: i64 = 100;

/// Ruby's `to_i` of a parameter: leading digits (and sign), else 0.
fn to_i(value: Option<&Ordered>) -> Option<i64> {
    match value? {
        value @ (Ordered::Number(_) | Ordered::String(_)) => {
            Some(gl_model::ruby::to_i(&value.to_json()))
        }
        _ => None,
    }
}

/// `GET /Users`: every identity, or those a filter finds, one page of them. A `userName`
/// filter finds the identity with that `extern_uid`, else the identity of the user with that
/// username, else (for an email) of the user with that email, else of the user whose
/// username is the email's local part.
pub async fn index(
    State(state): State<AppState>,
    request: ScimRequest,
) -> Result<Response, ApiError> {
    let filter = request
        .params
        .get("filter")
        .and_then(Ordered::as_str)
        .filter(|filter| !filter.trim().is_empty());
    let parsed = filter.map(parse_filter);
    let lookups = match &parsed {
        Some(Some(Filter::Username(name))) => {
            let mut lookups = vec![UserLookup::Username(name.clone())];
            if let Some((local, _)) = name.split_once('@').filter(|_| name.contains('.')) {
                lookups.push(UserLookup::Email(name.clone()));
                lookups.push(UserLookup::Username(local.to_owned()));
            }
            lookups
        }
        _ => Vec::new(),
    };
    let (access, identities, users) = state
        .repo
        .scim()
        .identities(&request.base, &request.token_digest(), &lookups)
        .await?;
    remember_group_id(&request.base, &request.authorize(access)?);
    let matched: Vec<ScimIdentity> = match parsed {
        None => identities,
        Some(None) => {
            return Err(scim_error(
                StatusCode::PRECONDITION_FAILED,
                "Unsupported Filter",
            ));
        }
        Some(Some(Filter::ExternUid(uid))) => identities
            .into_iter()
            .filter(|identity| identity.extern_uid.eq_ignore_ascii_case(&uid))
            .collect(),
        Some(Some(Filter::Username(name))) => {
            let by_uid = identities
                .iter()
                .find(|identity| identity.extern_uid.eq_ignore_ascii_case(&name));
            let by_user = || {
                users.iter().flatten().find_map(|user_id| {
                    identities
                        .iter()
                        .find(|identity| identity.user_id == *user_id)
                })
            };
            by_uid.or_else(by_user).cloned().into_iter().collect()
        }
    };
    let start_index = to_i(request.params.get("startIndex"));
    let count = to_i(request.params.get("count"))
        .filter(|count| *count > 0)
        .map_or(DEFAULT_COUNT, |count| count.min(MAX_COUNT));
    let offset = start_index.unwrap_or(1).max(1) - 1;
    let page: Vec<ScimIdentity> = matched
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(count as usize)
        .cloned()
        .collect();
    let body = ListResponse::new(matched.len(), count, start_index.unwrap_or(1), &page);
    Ok(scim_json(StatusCode::OK, &body))
}

pub fn resource_not_found(id: &str) -> ApiError {
    scim_error(StatusCode::NOT_FOUND, format!("Resource {id} not found"))
}

/// `GET /Users/:id`: the identity whose `extern_uid` is `id` (case-insensitively).
pub async fn show(
    State(state): State<AppState>,
    request: ScimRequest,
) -> Result<Response, ApiError> {
    let id = request.id.clone().unwrap_or_default();
    let (access, identity) = state
        .repo
        .scim()
        .identity(&request.base, &request.token_digest(), &id)
        .await?;
    remember_group_id(&request.base, &request.authorize(access)?);
    let identity = identity.ok_or_else(|| resource_not_found(&id))?;
    Ok(scim_json(StatusCode::OK, &User::from(&identity)))
}

/// The username a new user gets: the sanitized `userName`, or with 1, 2, ... appended, the
/// first no user or namespace holds and GitLab does not reserve.
fn free_username(candidates: &[String], target: &ProvisioningTarget) -> Option<String> {
    candidates
        .iter()
        .find(|candidate| {
            !username::refused(candidate)
                && !target.taken_usernames.contains(&candidate.to_lowercase())
        })
        .cloned()
}

/// `POST /Users`: 201 with the identity, new or (idempotently) the one already there. A
/// group's create links the user with the requested email, or creates one, and makes them a
/// member with the group's default role; the instance's the same without the membership.
pub async fn create(
    State(state): State<AppState>,
    request: ScimRequest,
) -> Result<Response, ApiError> {
    let wanted = Provisioning::parse(&request.params.params);
    let candidates = wanted
        .username
        .as_deref()
        .map(|name| username::candidates(&username::sanitize(name)))
        .unwrap_or_default();
    let saving_error = |status: StatusCode, message: &str| {
        scim_error(
            status,
            format!(
                "Error saving user with {}: {message}",
                request.params.inspect()
            ),
        )
    };
    let scim = state.repo.scim();
    let digest = request.token_digest();
    let extern_uid = wanted.extern_uid.clone().unwrap_or_default();
    let email = wanted.email.clone().unwrap_or_default();
    for _ in 0..CREATE_ATTEMPTS {
        let (access, target) = scim
            .provisioning_target(&request.base, &digest, &extern_uid, &email, &candidates)
            .await?;
        let provider = request.authorize(access)?;
        remember_group_id(&request.base, &provider);
        if let Some(missing) = wanted.missing() {
            return Err(saving_error(StatusCode::PRECONDITION_FAILED, &missing));
        }
        let outcome = provision(
            &state,
            &request.base,
            &provider,
            &target,
            &extern_uid,
            &wanted,
            &candidates,
        )
        .await;
        match outcome {
            Ok(identity) => return Ok(scim_json(StatusCode::CREATED, &User::from(&identity))),
            Err(Refusal::Invalid(status, message)) => {
                return Err(saving_error(status, &message));
            }
            Err(Refusal::Store(StoreError::ConditionFailed)) => {
                // A concurrent create took something this one wanted: an existing user
                // linked elsewhere, or the race is lost and the read tells the rest.
                if let Some(user) = &target.user_by_email
                    && target.identity.is_none()
                    && scim.user_has_identity(&request.base, user.user_id).await?
                {
                    let again = scim.identity(&request.base, &digest, &extern_uid).await?.1;
                    if again.is_none() {
                        return Err(saving_error(
                            StatusCode::CONFLICT,
                            "User has already been taken",
                        ));
                    }
                }
            }
            Err(Refusal::Store(err)) => return Err(err.into()),
        }
    }
    Err(saving_error(
        StatusCode::CONFLICT,
        "Extern uid has already been taken",
    ))
}

enum Refusal {
    /// The model's refusal: 409 when something "has already been taken", else 412.
    Invalid(StatusCode, String),
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// The provisioning services' decision, on what was read.
async fn provision(
    state: &AppState,
    base: &ScimBase,
    provider: &ScimProvider,
    target: &ProvisioningTarget,
    extern_uid: &str,
    wanted: &Provisioning,
    candidates: &[String],
) -> Result<ScimIdentity, Refusal> {
    let scim = state.repo.scim();
    let now = gl_model::gitlab_timestamp(Utc::now());
    if let Some(identity) = &target.identity {
        // The group's service answers an identity whose user is a member as it is; one whose
        // user left the group (a deprovisioned one) gets the membership back, its `active`
        // unchanged. The instance's answers any identity as it is.
        if base != &ScimBase::Instance && !identity.active {
            let unchanged = ScimIdentity {
                version: identity.version + 1,
                ..identity.clone()
            };
            scim.update_identity(
                base,
                provider,
                &identity.extern_uid,
                &unchanged,
                Membership::Ensure,
                None,
            )
            .await?;
            return Ok(unchanged);
        }
        return Ok(identity.clone());
    }
    if let Some(ExistingUser {
        user_id,
        username,
        name,
        email,
    }) = &target.user_by_email
    {
        let identity = ScimIdentity {
            extern_uid: extern_uid.to_owned(),
            user_id: *user_id,
            active: true,
            username: username.clone(),
            email: email.clone(),
            name: name.clone(),
            created_at: now,
            version: 1,
        };
        scim.link_identity(base, provider, &identity).await?;
        return Ok(identity);
    }
    let Some(name) = wanted.name.clone() else {
        return Err(Refusal::Invalid(
            StatusCode::PRECONDITION_FAILED,
            "Name can't be blank".to_owned(),
        ));
    };
    let Some(username) = free_username(candidates, target) else {
        return Err(Refusal::Invalid(
            StatusCode::CONFLICT,
            "Username has already been taken".to_owned(),
        ));
    };
    let user = NewUser {
        username,
        name,
        email: wanted.email.clone().unwrap_or_default(),
        created_at: now,
    };
    Ok(scim
        .provision_new_user(base, provider, target, extern_uid, &user)
        .await?)
}

/// `PATCH /Users/:id`: 204 whatever it changed. `active: false` deprovisions; any other
/// PATCH of an inactive identity reprovisions it; a new `externalId` (or `id`) moves the
/// identity (its resource id changes with it); anything else is accepted and ignored, as
/// GitLab has done since 15.0.
pub async fn update(
    State(state): State<AppState>,
    request: ScimRequest,
) -> Result<Response, ApiError> {
    let id = request.id.clone().unwrap_or_default();
    let scim = state.repo.scim();
    let digest = request.token_digest();
    let wanted = Update::parse(&request.params.params);
    for _ in 0..WRITE_ATTEMPTS {
        let (provider, identity, members) = if wanted.deprovisions() {
            read_for_deprovision(&state, &request, &id).await?
        } else {
            let (access, identity) = scim.identity(&request.base, &digest, &id).await?;
            let provider = request.authorize(access)?;
            remember_group_id(&request.base, &provider);
            let identity = identity.ok_or_else(|| resource_not_found(&id))?;
            (provider, identity, Vec::new())
        };
        let updating_error = || {
            scim_error(
                StatusCode::PRECONDITION_FAILED,
                format!(
                    "Error updating {} with {}",
                    identity.name,
                    request.params.inspect()
                ),
            )
        };
        let written = if wanted.deprovisions() {
            if last_owner(&members, &identity) {
                return Err(updating_error());
            }
            deprovision(&state, &request.base, &provider, &identity, &members).await
        } else if !identity.active {
            let reactivated = ScimIdentity {
                active: true,
                version: identity.version + 1,
                ..identity.clone()
            };
            let (membership, blocked) = match request.base {
                ScimBase::Group(_) => (Membership::Ensure, None),
                ScimBase::Instance => (Membership::Keep, Some(false)),
            };
            scim.update_identity(
                &request.base,
                &provider,
                &identity.extern_uid,
                &reactivated,
                membership,
                blocked,
            )
            .await
        } else if let Some(extern_uid) = wanted
            .extern_uid
            .as_ref()
            .filter(|uid| **uid != identity.extern_uid)
        {
            if extern_uid.trim().is_empty() {
                return Err(updating_error());
            }
            let moved = ScimIdentity {
                extern_uid: extern_uid.clone(),
                version: identity.version + 1,
                ..identity.clone()
            };
            match scim
                .update_identity(
                    &request.base,
                    &provider,
                    &identity.extern_uid,
                    &moved,
                    Membership::Keep,
                    None,
                )
                .await
            {
                // The new `extern_uid` is another identity's.
                Err(StoreError::ConditionFailed)
                    if scim
                        .identity(&request.base, &digest, extern_uid)
                        .await?
                        .1
                        .is_some() =>
                {
                    return Err(updating_error());
                }
                other => other,
            }
        } else {
            Ok(())
        };
        match written {
            Ok(()) => return Ok(StatusCode::NO_CONTENT.into_response()),
            Err(StoreError::ConditionFailed) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(scim_error(
        StatusCode::CONFLICT,
        "The identity kept changing; try again",
    ))
}

/// `DELETE /Users/:id`: 204 once the identity is inactive (a group's member has left the
/// group; an instance user is blocked). The identity stays: a later GET shows it inactive.
pub async fn destroy(
    State(state): State<AppState>,
    request: ScimRequest,
) -> Result<Response, ApiError> {
    let id = request.id.clone().unwrap_or_default();
    for _ in 0..WRITE_ATTEMPTS {
        let (provider, identity, members) = read_for_deprovision(&state, &request, &id).await?;
        if last_owner(&members, &identity) {
            return Err(scim_error(
                StatusCode::PRECONDITION_FAILED,
                format!(
                    "Could not remove {} from {}. Cannot remove last group owner.",
                    identity.name, provider.group_name
                ),
            ));
        }
        match deprovision(&state, &request.base, &provider, &identity, &members).await {
            Ok(()) => return Ok(StatusCode::NO_CONTENT.into_response()),
            Err(StoreError::ConditionFailed) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(scim_error(
        StatusCode::CONFLICT,
        "The identity kept changing; try again",
    ))
}
