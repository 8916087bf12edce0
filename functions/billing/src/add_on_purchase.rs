//! `GET`, `POST` and `PUT /api/v4/namespaces/:id/subscription_add_on_purchase/:add_on_name`
//! (and the same under `/api/v4/internal/gitlab_subscriptions/`): how many seats of an add-on
//! (GitLab Duo and the like) a namespace bought, for which term.
//!
//! Checks in this order, as the class's `before` block and Grape run them: authentication
//! (CustomersDot's JWT or an admin token; 401/403), the namespace (404 `Namespace Not Found`),
//! the add-on's name (404 `Subscription Add-on Not Found`), the parameters (400), then the
//! create and update services' rules and the model's validations (400).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use serde::Serialize;

use gl_http::billing::{Serve, authenticate_billing_alongside};
use gl_http::grape::{Boolean, Date, Integer, Text};
use gl_http::{ApiError, AppState, Declared, Params};
use gl_model::{ADD_ON_NAMES, AddOnPurchase, Namespace};
use gl_store::StoreError;
use gl_store::repo::AddOnPurchaseTarget;

/// Updates that lose a race read the purchase again and reapply the request this many times
/// before answering 409.
const WRITE_ATTEMPTS: usize = 5;

/// `validates :purchase_xid, length: { maximum: 255 }`.
const PURCHASE_XID_MAX_CHARS: usize = 255;

/// The add-on named in the path, its purchase and the namespace: one round trip for
/// CustomersDot naming the namespace by id (a full path adds its route, an admin token one
/// more).
struct Found {
    add_on: &'static str,
    namespace: Namespace,
    target: AddOnPurchaseTarget,
}

impl Found {
    /// `add_on_human_reference`: "namespace <name> and add-on <Title>".
    fn reference(&self) -> String {
        format!(
            "namespace {} and add-on {}",
            self.namespace.name,
            titleize(self.add_on)
        )
    }
}

async fn authenticate_and_find(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    (id, add_on_name): &(String, String),
) -> Result<Found, ApiError> {
    let repo = &state.repo;
    let add_on = ADD_ON_NAMES
        .iter()
        .copied()
        .find(|name| name == add_on_name);
    let (_caller, target) = authenticate_billing_alongside(
        Serve::Admins,
        state,
        method,
        headers,
        params,
        repo.identity().namespace_id(id),
        |namespace_id| repo.billing().add_on_purchase_target(namespace_id, add_on),
    )
    .await?;
    let namespace = target
        .namespace
        .clone()
        .ok_or(ApiError::NotFound(Some("Namespace")))?;
    let add_on = add_on.ok_or(ApiError::NotFound(Some("Subscription Add-on")))?;
    Ok(Found {
        add_on,
        namespace,
        target,
    })
}

/// Rails' `titleize` of an add-on's name, as the entity and the messages show it:
/// `code_suggestions` is "Code Suggestions".
fn titleize(name: &str) -> String {
    name.split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `API::Entities::GitlabSubscriptions::AddOnPurchase`, fields in its order.
#[derive(Debug, Serialize)]
struct Entity<'a> {
    namespace_id: i64,
    namespace_name: &'a str,
    add_on: String,
    quantity: i64,
    started_on: NaiveDate,
    expires_on: NaiveDate,
    purchase_xid: &'a str,
    trial: bool,
}

fn entity<'a>(purchase: &'a AddOnPurchase, namespace: &'a Namespace) -> Entity<'a> {
    Entity {
        namespace_id: purchase.namespace_id,
        namespace_name: &namespace.name,
        add_on: titleize(&purchase.add_on),
        quantity: purchase.quantity,
        started_on: purchase.started_on,
        expires_on: purchase.expires_on,
        purchase_xid: &purchase.purchase_xid,
        trial: purchase.trial,
    }
}

/// The model's validations that a request can break, in the order GitLab declares them:
/// on GitLab.com only root groups buy add-ons; `quantity` at least 1; `purchase_xid` present
/// and at most 255 characters.
fn validate(found: &Found, purchase: &AddOnPurchase) -> Result<(), ApiError> {
    let mut errors: Vec<(&'static str, Vec<String>)> = Vec::new();
    if found.target.settings.gitlab_com && !(found.namespace.root && found.namespace.group) {
        errors.push(("namespace", vec!["is invalid".to_owned()]));
    }
    if purchase.quantity < 1 {
        errors.push((
            "quantity",
            vec!["must be greater than or equal to 1".to_owned()],
        ));
    }
    if purchase.purchase_xid.trim().is_empty() {
        errors.push(("purchase_xid", vec!["can't be blank".to_owned()]));
    } else if purchase.purchase_xid.chars().count() > PURCHASE_XID_MAX_CHARS {
        errors.push((
            "purchase_xid",
            vec![format!(
                "is too long (maximum is {PURCHASE_XID_MAX_CHARS} characters)"
            )],
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::RecordInvalid(errors))
    }
}

fn now() -> String {
    gl_model::gitlab_timestamp(Utc::now())
}

/// 200 with the namespace's purchase of the add-on; none is ActiveRecord's `404 Not found`.
pub async fn show(
    State(state): State<AppState>,
    Path(path): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let found = authenticate_and_find(&state, &method, &headers, &params, &path).await?;
    let purchase = found
        .target
        .purchase
        .as_ref()
        .ok_or(ApiError::RecordNotFound)?;
    Ok(Json(entity(purchase, &found.namespace)).into_response())
}

/// 201 with the new purchase. On GitLab.com a namespace that is not a root one is refused
/// first, then a second purchase of the add-on (as the create service checks them), then the
/// model's validations.
pub async fn create(
    State(state): State<AppState>,
    Path(path): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let found = authenticate_and_find(&state, &method, &headers, &params, &path).await?;
    let mut declared = Declared::new(&params);
    let quantity = declared.requires("quantity", Integer);
    let started_on = declared.requires("started_on", Date);
    let expires_on = declared.requires("expires_on", Date);
    let purchase_xid = declared.requires("purchase_xid", Text);
    let trial = declared.optional_or("trial", Boolean, false);
    let (quantity, started_on, expires_on, purchase_xid) =
        declared.finish((quantity, started_on, expires_on, purchase_xid))?;

    if found.target.settings.gitlab_com && !found.namespace.root {
        return Err(ApiError::BadRequest(Some(format!(
            "Namespace {} is not a root namespace",
            found.namespace.name
        ))));
    }
    let already_exists = || {
        ApiError::BadRequest(Some(format!(
            "Add-on purchase for {} already exists, update the existing record",
            found.reference()
        )))
    };
    if found.target.purchase.is_some() {
        return Err(already_exists());
    }
    let created_at = now();
    let purchase = AddOnPurchase {
        namespace_id: found.namespace.id,
        add_on: found.add_on.to_owned(),
        quantity,
        started_on,
        expires_on,
        purchase_xid,
        trial,
        created_at: created_at.clone(),
        updated_at: created_at,
        version: 1,
    };
    validate(&found, &purchase)?;
    match state.repo.billing().create_add_on_purchase(&purchase).await {
        Ok(()) => Ok((
            StatusCode::CREATED,
            Json(entity(&purchase, &found.namespace)),
        )
            .into_response()),
        // Another create won the race since the read.
        Err(StoreError::ConditionFailed) => Err(already_exists()),
        Err(err) => Err(err.into()),
    }
}

/// 200 with the updated purchase: the dates always, `quantity`, `purchase_xid` and `trial`
/// when supplied. No purchase yet is the update service's 400. A write that finds the
/// purchase changed since it was read reads it again and reapplies the request; after
/// [`WRITE_ATTEMPTS`] 409.
pub async fn update(
    State(state): State<AppState>,
    Path(path): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let mut found = authenticate_and_find(&state, &method, &headers, &params, &path).await?;
    let mut declared = Declared::new(&params);
    let started_on = declared.requires("started_on", Date);
    let expires_on = declared.requires("expires_on", Date);
    let quantity = declared.optional("quantity", Integer);
    let purchase_xid = declared.optional("purchase_xid", Text);
    let trial = declared.optional("trial", Boolean);
    let (started_on, expires_on) = declared.finish((started_on, expires_on))?;

    for _ in 0..WRITE_ATTEMPTS {
        let Some(old) = &found.target.purchase else {
            return Err(ApiError::BadRequest(Some(format!(
                "Add-on purchase for {} does not exist, create a new record instead",
                found.reference()
            ))));
        };
        let purchase = AddOnPurchase {
            quantity: quantity.unwrap_or(old.quantity),
            started_on,
            expires_on,
            purchase_xid: purchase_xid
                .clone()
                .unwrap_or_else(|| old.purchase_xid.clone()),
            trial: trial.unwrap_or(old.trial),
            updated_at: now(),
            version: old.version + 1,
            ..old.clone()
        };
        validate(&found, &purchase)?;
        match state.repo.billing().update_add_on_purchase(&purchase).await {
            Ok(()) => return Ok(Json(entity(&purchase, &found.namespace)).into_response()),
            Err(StoreError::ConditionFailed) => {
                found.target = state
                    .repo
                    .billing()
                    .add_on_purchase_target(Some(found.namespace.id), Some(found.add_on))
                    .await?;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Message {
        status: StatusCode::CONFLICT,
        message: "409 Conflict - the add-on purchase kept changing; try again".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::titleize;

    #[test]
    fn add_on_names_titleize_as_rails_does() {
        assert_eq!(titleize("code_suggestions"), "Code Suggestions");
        assert_eq!(titleize("duo_amazon_q"), "Duo Amazon Q");
        assert_eq!(titleize("gitlab_credits"), "Gitlab Credits");
    }
}
