//! `POST /api/v4/namespaces/:id/minutes` and `PATCH /api/v4/namespaces/:id/minutes/move/:target_id`
//! (and the same under `/api/v4/internal/gitlab_subscriptions/`): compute minute packs
//! CustomersDot sold, and their move to another namespace (`ee/lib/api/ci/minutes.rb`).
//!
//! Checks in this order: authentication (CustomersDot's JWT or an admin token; 401/403), the
//! namespaces (404), the parameters (400), then the services' rules (400).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use serde::Serialize;

use gl_http::billing::{Serve, authenticate_billing_alongside};
use gl_http::grape::{Array, Date, Hash, Integer, Text};
use gl_http::{ApiError, AppState, Declared, Params};
use gl_model::AdditionalPack;
use gl_store::StoreError;
use gl_store::repo::{MAX_PACKS_PER_CREATE, MAX_PACKS_PER_MOVE};

/// Writes that lose a race read again and retry this many times before answering 409.
const WRITE_ATTEMPTS: usize = 5;

/// `validates :purchase_xid, length: { maximum: 50 }`.
const PURCHASE_XID_MAX_CHARS: usize = 50;

/// The create service's one answer to any pack that does not save: nothing of the request
/// is stored.
fn unable_to_save() -> ApiError {
    ApiError::BadRequest(Some("Unable to save additional packs".to_owned()))
}

/// `API::Entities::Ci::Minutes::AdditionalPack`, fields in its order.
#[derive(Debug, Serialize)]
struct Entity<'a> {
    namespace_id: i64,
    expires_at: NaiveDate,
    number_of_minutes: i64,
    purchase_xid: &'a str,
}

impl<'a> From<&'a AdditionalPack> for Entity<'a> {
    fn from(pack: &'a AdditionalPack) -> Self {
        Self {
            namespace_id: pack.namespace_id,
            expires_at: pack.expires_at,
            number_of_minutes: pack.number_of_minutes,
            purchase_xid: &pack.purchase_xid,
        }
    }
}

/// One pack as the request declares it.
struct PackParams {
    number_of_minutes: i64,
    expires_at: NaiveDate,
    purchase_xid: String,
}

/// `requires :packs, type: Array do requires :number_of_minutes, :expires_at, :purchase_xid end`.
fn declare(params: &Params) -> Result<Vec<PackParams>, ApiError> {
    let mut declared = Declared::new(params);
    let packs = declared
        .requires_array("packs", Array(Hash), |pack| {
            (
                pack.requires("number_of_minutes", Integer),
                pack.requires("expires_at", Date),
                pack.requires("purchase_xid", Text),
            )
        })
        .flatten();
    let packs = declared.finish(packs)?;
    Ok(packs
        .into_iter()
        .map(|(number_of_minutes, expires_at, purchase_xid)| PackParams {
            number_of_minutes,
            expires_at,
            purchase_xid,
        })
        .collect())
}

/// The purchases a request names, read before its parameters are validated (so that the
/// read rides along authentication): each pack's `purchase_xid` that could be valid.
fn named_purchases(params: &Params) -> Vec<String> {
    let Some(packs) = params.get("packs").and_then(|packs| packs.as_array()) else {
        return Vec::new();
    };
    let mut named: Vec<String> = Vec::new();
    for pack in packs {
        let xid = match pack.get("purchase_xid") {
            Some(serde_json::Value::String(xid)) => xid.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        if valid_purchase_xid(&xid) && !named.contains(&xid) {
            named.push(xid);
        }
        if named.len() > MAX_PACKS_PER_CREATE {
            break;
        }
    }
    named
}

/// On GitLab.com `purchase_xid` is present and at most 50 characters.
fn valid_purchase_xid(purchase_xid: &str) -> bool {
    !purchase_xid.trim().is_empty() && purchase_xid.chars().count() <= PURCHASE_XID_MAX_CHARS
}

/// 201 with one pack per requested pack, in order: the namespace's existing pack of a
/// purchase unchanged (`find_or_create_by`), or the new one. The new packs are stored in one
/// transaction, or none is: a purchase another namespace holds, an invalid pack, or more new
/// purchases than one transaction carries ([`MAX_PACKS_PER_CREATE`]) is GitLab's 400
/// `Unable to save additional packs`. A concurrent create of the same purchase makes this one
/// read again and answer with the pack it stored.
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let repo = &state.repo;
    let named = named_purchases(&params);
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    let (_caller, mut target) = authenticate_billing_alongside(
        Serve::Admins,
        &state,
        &method,
        &headers,
        &params,
        repo.identity().namespace_id(&id),
        |namespace_id| repo.billing().additional_packs_target(namespace_id, &named),
    )
    .await?;
    let namespace = target
        .namespace
        .clone()
        .ok_or(ApiError::NotFound(Some("Namespace")))?;
    let requested = declare(&params)?;
    if requested
        .iter()
        .any(|pack| !valid_purchase_xid(&pack.purchase_xid))
    {
        return Err(unable_to_save());
    }
    let created_at = gl_model::gitlab_timestamp(Utc::now());
    for _ in 0..WRITE_ATTEMPTS {
        let mut answered: Vec<AdditionalPack> = Vec::with_capacity(requested.len());
        let mut new: Vec<AdditionalPack> = Vec::new();
        for pack in &requested {
            let xid = pack.purchase_xid.as_str();
            if let Some(held) = target.find(xid) {
                answered.push(held.clone());
            } else if let Some(created) = new.iter().find(|new| new.purchase_xid == xid) {
                answered.push(created.clone());
            } else if target.taken_elsewhere(xid) || !named.contains(&xid) {
                return Err(unable_to_save());
            } else {
                let created = AdditionalPack {
                    namespace_id: namespace.id,
                    expires_at: pack.expires_at,
                    number_of_minutes: pack.number_of_minutes,
                    purchase_xid: xid.to_owned(),
                    created_at: created_at.clone(),
                };
                new.push(created.clone());
                answered.push(created);
            }
        }
        if new.len() > MAX_PACKS_PER_CREATE {
            return Err(unable_to_save());
        }
        let written = if new.is_empty() {
            Ok(())
        } else {
            repo.billing().create_additional_packs(&new).await
        };
        match written {
            Ok(()) => {
                let body: Vec<Entity> = answered.iter().map(Entity::from).collect();
                return Ok((StatusCode::CREATED, Json(body)).into_response());
            }
            Err(StoreError::ConditionFailed) => {
                target = repo
                    .billing()
                    .additional_packs_target(Some(namespace.id), &named)
                    .await?;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(conflict())
}

fn conflict() -> ApiError {
    ApiError::Message {
        status: StatusCode::CONFLICT,
        message: "409 Conflict - the namespace's packs kept changing; try again".to_owned(),
    }
}

/// 202 `{"message":"202 Accepted"}` once every pack of the namespace is the target's (also
/// when it had none), in one transaction. Both must be top-level namespaces and differ
/// (`ChangeNamespaceService`'s checks, in its order). A source with more packs than one
/// transaction carries ([`MAX_PACKS_PER_MOVE`]) is refused whole, never moved in part.
pub async fn move_packs(
    State(state): State<AppState>,
    Path((id, target_id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let repo = &state.repo;
    let identity = repo.identity();
    let (_caller, mut read) = authenticate_billing_alongside(
        Serve::Admins,
        &state,
        &method,
        &headers,
        &params,
        async {
            let (source, target) = tokio::join!(
                identity.namespace_id(&id),
                identity.namespace_id(&target_id)
            );
            Ok((source?, target?))
        },
        |(source, target)| repo.billing().minutes_move(source, target),
    )
    .await?;
    let source = read
        .source
        .clone()
        .ok_or(ApiError::NotFound(Some("Namespace")))?;
    let target = read
        .target
        .clone()
        .ok_or(ApiError::NotFound(Some("Target namespace")))?;
    let refuse = |reason: &str| Err(ApiError::BadRequest(Some(reason.to_owned())));
    if !source.root {
        return refuse("Namespace must be a top-level namespace");
    }
    if !target.root {
        return refuse("Target namespace must be a top-level namespace");
    }
    if source.id == target.id {
        return refuse("Namespace and target must be different");
    }
    for _ in 0..WRITE_ATTEMPTS {
        if read.packs.len() > MAX_PACKS_PER_MOVE {
            return Err(ApiError::BadRequest(Some(format!(
                "Namespace holds {} packs; a move carries at most {MAX_PACKS_PER_MOVE}",
                read.packs.len()
            ))));
        }
        if read.packs.is_empty() {
            return Ok(accepted());
        }
        match repo.billing().move_additional_packs(&read).await {
            Ok(()) => return Ok(accepted()),
            Err(StoreError::ConditionFailed) => {
                read = repo
                    .billing()
                    .minutes_move(Some(source.id), Some(target.id))
                    .await?;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(conflict())
}

/// `accepted!`.
fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"message": "202 Accepted"})),
    )
        .into_response()
}
