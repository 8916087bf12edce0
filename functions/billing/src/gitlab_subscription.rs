//! `GET`, `POST` and `PUT /api/v4/namespaces/:id/gitlab_subscription` (and the same on
//! `/api/v4/internal/gitlab_subscriptions/namespaces/:id/gitlab_subscription`): a
//! namespace's plan, seats and term, as CustomersDot applies what a customer bought.
//!
//! Checks in this order, as GitLab's `before` hooks and Grape run them: authentication
//! (CustomersDot's JWT or an admin token; 401/403), `find_namespace!` (404 `Namespace Not
//! Found`; a project's path names none), the parameters (400), then the model's rules.
//! `POST` and `PUT` serve CustomersDot and admins; `GET` also the namespace's owners (a
//! personal namespace's user, a group's direct Owners), as GitLab's `authorize!
//! :admin_namespace` after the lookup does (anyone else 403).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use serde::Serialize;

use gl_http::billing::{BillingCaller, Serve, authenticate_billing_alongside};
use gl_http::grape::{Boolean, Date, Integer, Text};
use gl_http::{ApiError, AppState, Declared, Params};
use gl_model::{GitlabSubscription, Namespace};
use gl_store::StoreError;
use gl_store::repo::SubscriptionTarget;

use crate::plans::Plan;
use crate::seats::{paid, reset_seats_on_new_term};

/// Updates that lose a race read the subscription again and reapply the request this many
/// times before answering 409.
const WRITE_ATTEMPTS: usize = 5;

/// Authenticates and finds the namespace with its subscription. For CustomersDot naming a
/// namespace by id one round trip; a full path adds the read of its route, an admin token
/// one more (the token beside the route, the user beside the namespace).
async fn authenticate_and_find(
    serve: Serve,
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    id: &str,
) -> Result<(Namespace, SubscriptionTarget), ApiError> {
    let repo = &state.repo;
    let (caller, target) = authenticate_billing_alongside(
        serve,
        state,
        method,
        headers,
        params,
        repo.identity().namespace_id(id),
        |namespace_id| repo.billing().subscription_target(namespace_id),
    )
    .await?;
    let namespace = target
        .namespace
        .clone()
        .ok_or(ApiError::NotFound(Some("Namespace")))?;
    if let BillingCaller::User(caller) = &caller
        && !target.owners.contains(&caller.user.id)
    {
        return Err(ApiError::Forbidden(None));
    }
    Ok((namespace, target))
}

/// The declared parameters; `None` is "not supplied" (nothing changes on a PUT).
#[derive(Debug, Default)]
struct Attributes {
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    plan_code: Option<String>,
    seats: Option<i64>,
    max_seats_used: Option<i64>,
    auto_renew: Option<bool>,
    trial: Option<bool>,
    trial_starts_on: Option<NaiveDate>,
    trial_ends_on: Option<NaiveDate>,
    trial_extension_type: Option<i64>,
    /// `seats: null` was sent: the column may not become blank.
    seats_blank: bool,
}

/// The `params` block: `requires :start_date, type: Date` on create (optional on update),
/// every other attribute optional.
fn declare(params: &Params, create: bool) -> Result<Attributes, ApiError> {
    let mut declared = Declared::new(params);
    let start_date = if create {
        Some(declared.requires("start_date", Date))
    } else {
        None
    };
    let optional_start = if create {
        None
    } else {
        declared.optional("start_date", Date)
    };
    let mut attributes = Attributes {
        end_date: declared.optional("end_date", Date),
        plan_code: declared.optional("plan_code", Text),
        seats: declared.optional("seats", Integer),
        max_seats_used: declared.optional("max_seats_used", Integer),
        auto_renew: declared.optional("auto_renew", Boolean),
        trial: declared.optional("trial", Boolean),
        trial_starts_on: declared.optional("trial_starts_on", Date),
        trial_ends_on: declared.optional("trial_ends_on", Date),
        trial_extension_type: declared.optional("trial_extension_type", Integer),
        seats_blank: params
            .0
            .get("seats")
            .is_some_and(serde_json::Value::is_null),
        ..Attributes::default()
    };
    attributes.start_date = match start_date {
        Some(required) => Some(declared.finish(required)?),
        None => {
            declared.finish(())?;
            optional_start
        }
    };
    Ok(attributes)
}

fn now() -> String {
    gl_model::gitlab_timestamp(Utc::now())
}

/// Sets what the request supplied. `trial_starts_on` defaults to the start date on a trial
/// (`GitlabSubscription#set_trial_starts_on`... as the API's `before_save` does it).
fn apply(subscription: &mut GitlabSubscription, attributes: &Attributes) {
    if let Some(start_date) = attributes.start_date {
        subscription.start_date = start_date;
    }
    if attributes.end_date.is_some() {
        subscription.end_date = attributes.end_date;
    }
    if let Some(plan_code) = &attributes.plan_code {
        subscription.plan_code = Some(plan_code.clone());
    }
    if let Some(seats) = attributes.seats {
        subscription.seats = seats;
    }
    if let Some(max_seats_used) = attributes.max_seats_used {
        subscription.max_seats_used = max_seats_used;
    }
    if attributes.auto_renew.is_some() {
        subscription.auto_renew = attributes.auto_renew;
    }
    if let Some(trial) = attributes.trial {
        subscription.trial = trial;
    }
    if attributes.trial_starts_on.is_some() {
        subscription.trial_starts_on = attributes.trial_starts_on;
    }
    if attributes.trial_ends_on.is_some() {
        subscription.trial_ends_on = attributes.trial_ends_on;
    }
    if attributes.trial_extension_type.is_some() {
        subscription.trial_extension_type = attributes.trial_extension_type;
    }
    if subscription.trial && subscription.trial_starts_on.is_none() {
        subscription.trial_starts_on = Some(subscription.start_date);
    }
}

/// The model's validations, in the order GitLab declares them: `seats` present, one
/// subscription per namespace, trial dates present on a trial, and a trial that ends after it
/// starts. `render_validation_error!` answers with all of them.
fn validate(
    subscription: &GitlabSubscription,
    attributes: &Attributes,
    taken: bool,
) -> Result<(), ApiError> {
    let blank = || vec!["can't be blank".to_owned()];
    let mut errors: Vec<(&'static str, Vec<String>)> = Vec::new();
    if attributes.seats_blank {
        errors.push(("seats", blank()));
    }
    if taken {
        errors.push(("namespace_id", vec!["has already been taken".to_owned()]));
    }
    if subscription.trial {
        if subscription.trial_ends_on.is_none() {
            errors.push(("trial_ends_on", blank()));
        }
        if let (Some(starts), Some(ends)) =
            (subscription.trial_starts_on, subscription.trial_ends_on)
            && ends <= starts
        {
            errors.push((
                "trial_ends_on",
                vec!["must be after trial_starts_on".to_owned()],
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::RecordInvalid(errors))
    }
}

/// `GitlabSubscriptions::API::Entities::Internal::GitlabSubscription`, fields in its order.
#[derive(Debug, Serialize)]
struct Entity {
    plan: PlanEntity,
    usage: Usage,
    billing: Billing,
}

#[derive(Debug, Default, Serialize)]
struct PlanEntity {
    code: Option<&'static str>,
    name: Option<&'static str>,
    trial: Option<bool>,
    auto_renew: Option<bool>,
    upgradable: Option<bool>,
    exclude_guests: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
struct Usage {
    seats_in_subscription: Option<i64>,
    seats_in_use: Option<i64>,
    max_seats_used: Option<i64>,
    seats_owed: Option<i64>,
}

#[derive(Debug, Default, Serialize)]
struct Billing {
    subscription_start_date: Option<NaiveDate>,
    subscription_end_date: Option<NaiveDate>,
    trial_ends_on: Option<NaiveDate>,
}

/// The entity of `subscription`, or of an empty one (every field null) for a namespace
/// without. `seats_in_use` is the stored column for a paid subscription and the live count
/// of billable members otherwise; `seats_owed` is `max(0, max_seats_used - seats)` for a
/// paid one, else 0; `upgradable` is false on a top plan, else whether the subscription is
/// paid and not expired.
fn entity(subscription: Option<&GitlabSubscription>, billable_members: i64) -> Entity {
    let Some(subscription) = subscription else {
        return Entity {
            plan: PlanEntity::default(),
            usage: Usage::default(),
            billing: Billing::default(),
        };
    };
    let plan = subscription.plan_code.as_deref().and_then(Plan::find);
    let paid = paid(subscription);
    let expired = subscription
        .end_date
        .is_some_and(|end| end < Utc::now().date_naive());
    Entity {
        plan: PlanEntity {
            code: plan.map(|plan| plan.name),
            name: plan.map(|plan| plan.title),
            trial: Some(subscription.trial),
            auto_renew: subscription.auto_renew,
            upgradable: Some(!plan.is_some_and(Plan::top) && paid && !expired),
            exclude_guests: Some(plan.is_some_and(Plan::excludes_guests)),
        },
        usage: Usage {
            seats_in_subscription: Some(subscription.seats),
            seats_in_use: Some(if paid {
                subscription.seats_in_use
            } else {
                billable_members
            }),
            max_seats_used: Some(subscription.max_seats_used),
            seats_owed: Some(if paid {
                (subscription.max_seats_used - subscription.seats).max(0)
            } else {
                0
            }),
        },
        billing: Billing {
            subscription_start_date: Some(subscription.start_date),
            subscription_end_date: subscription.end_date,
            trial_ends_on: subscription.trial_ends_on,
        },
    }
}

/// 200 with the namespace's subscription (all fields null without one).
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let (_namespace, target) = authenticate_and_find(
        Serve::AdminsAndOthers,
        &state,
        &method,
        &headers,
        &params,
        &id,
    )
    .await?;
    Ok(Json(entity(
        target.subscription.as_ref(),
        target.billable_members,
    ))
    .into_response())
}

/// 201 with the new subscription; its plan is `free` when no `plan_code` is given. A second
/// one for the namespace is refused by the write's condition, not by the read alone.
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let (namespace, target) =
        authenticate_and_find(Serve::Admins, &state, &method, &headers, &params, &id).await?;
    let attributes = declare(&params, true)?;
    let created_at = now();
    let mut subscription = GitlabSubscription {
        namespace_id: namespace.id,
        plan_code: Some("free".to_owned()),
        seats: 0,
        seats_in_use: 0,
        max_seats_used: 0,
        start_date: attributes.start_date.unwrap_or_default(),
        end_date: None,
        auto_renew: None,
        trial: false,
        trial_starts_on: None,
        trial_ends_on: None,
        trial_extension_type: None,
        max_seats_used_changed_at: None,
        created_at: created_at.clone(),
        updated_at: created_at,
        version: 1,
    };
    apply(&mut subscription, &attributes);
    validate(&subscription, &attributes, target.subscription.is_some())?;
    match state
        .repo
        .billing()
        .create_subscription(&subscription)
        .await
    {
        Ok(()) => Ok((
            StatusCode::CREATED,
            Json(entity(Some(&subscription), target.billable_members)),
        )
            .into_response()),
        // Another create won the race since the read: the uniqueness validation's answer.
        Err(StoreError::ConditionFailed) => Err(ApiError::RecordInvalid(vec![(
            "namespace_id",
            vec!["has already been taken".to_owned()],
        )])),
        Err(err) => Err(err.into()),
    }
}

/// 200 with the updated subscription; only what the request supplied changes. A write that
/// finds the subscription changed since it was read reads it again and reapplies the
/// request, so concurrent updates are all kept; after [`WRITE_ATTEMPTS`] 409.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let (namespace, mut target) =
        authenticate_and_find(Serve::Admins, &state, &method, &headers, &params, &id).await?;
    let attributes = declare(&params, false)?;
    for _ in 0..WRITE_ATTEMPTS {
        let old = target
            .subscription
            .as_ref()
            .ok_or(ApiError::NotFound(Some("GitlabSubscription")))?;
        let mut subscription = old.clone();
        apply(&mut subscription, &attributes);
        validate(&subscription, &attributes, false)?;
        reset_seats_on_new_term(old, &mut subscription, target.billable_members);
        subscription.updated_at = now();
        subscription.version = old.version + 1;
        match state
            .repo
            .billing()
            .update_subscription(&subscription)
            .await
        {
            Ok(()) => {
                return Ok(
                    Json(entity(Some(&subscription), target.billable_members)).into_response()
                );
            }
            Err(StoreError::ConditionFailed) => {
                target = state
                    .repo
                    .billing()
                    .subscription_target(Some(namespace.id))
                    .await?;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Message {
        status: StatusCode::CONFLICT,
        message: "409 Conflict - the subscription kept changing; try again".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn premium() -> GitlabSubscription {
        GitlabSubscription {
            namespace_id: 10,
            plan_code: Some("premium".to_owned()),
            seats: 10,
            seats_in_use: 4,
            max_seats_used: 12,
            start_date: date("2026-01-01"),
            end_date: Some(date("2027-01-01")),
            auto_renew: None,
            trial: false,
            trial_starts_on: None,
            trial_ends_on: None,
            trial_extension_type: None,
            max_seats_used_changed_at: None,
            created_at: String::new(),
            updated_at: String::new(),
            version: 1,
        }
    }

    #[test]
    fn trial_defaults_its_start_to_the_start_date_and_must_end_after_it() {
        let mut subscription = premium();
        let attributes = Attributes {
            trial: Some(true),
            trial_ends_on: Some(date("2026-01-01")),
            ..Attributes::default()
        };
        apply(&mut subscription, &attributes);
        assert_eq!(subscription.trial_starts_on, Some(date("2026-01-01")));
        assert_eq!(
            validate(&subscription, &attributes, false)
                .unwrap_err()
                .body(),
            serde_json::json!({"message": {"trial_ends_on": ["must be after trial_starts_on"]}})
        );
    }
}
