//! Add-on purchases (`billing` function): create, show and update on both mounts, GitLab's
//! order of checks and every error body, who may call, and the round-trip budgets (writers at
//! once: `concurrency.rs`).

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::*;

/// The seed's admin token (root, scope `api`).
const ADMIN: &str = "pat-plaintext";
/// The seed's one root group.
const GROUP: &str = "10";

fn path(namespace: &str, add_on: &str) -> String {
    format!("/api/v4/namespaces/{namespace}/subscription_add_on_purchase/{add_on}")
}

fn internal_path(namespace: &str, add_on: &str) -> String {
    format!(
        "/api/v4/internal/gitlab_subscriptions/namespaces/{namespace}/subscription_add_on_purchase/{add_on}"
    )
}

fn duo_pro() -> Value {
    json!({"quantity": 10, "started_on": "2026-01-15", "expires_on": "2027-01-15",
           "purchase_xid": "A-S00012345"})
}

on_both_backends!(
    purchases_are_created_shown_and_updated,
    errors_are_answered_in_gitlabs_order,
    only_admins_and_customers_dot_may_call,
);

async fn purchases_are_created_shown_and_updated(app: TestApp) {
    let code_suggestions = path(GROUP, "code_suggestions");
    app.as_portal(Method::GET, &code_suggestions, None)
        .await
        .assert_snapshot(404, "add_on_purchase_none");
    assert_eq!(app.take_round_trips(), 1, "GET reads once");

    let created = app
        .as_portal(Method::POST, &code_suggestions, Some(&duo_pro()))
        .await;
    created.assert_snapshot(201, "add_on_purchase_created");
    assert_eq!(app.take_round_trips(), 2, "POST: one read, one write");

    let shown = app.as_portal(Method::GET, &code_suggestions, None).await;
    assert_eq!(shown.json(), created.json());
    assert_eq!(app.take_round_trips(), 1);

    // The internal mount serves the same handlers. The dates are always set; absent
    // optional fields keep their values.
    let updated = app
        .as_portal(
            Method::PUT,
            &internal_path(GROUP, "code_suggestions"),
            Some(
                &json!({"started_on": "2026-02-01", "expires_on": "2027-02-01",
                         "quantity": 25}),
            ),
        )
        .await;
    updated.assert_snapshot(200, "add_on_purchase_updated");
    assert_eq!(app.take_round_trips(), 2, "PUT: one read, one write");
    let shown = app
        .as_portal(Method::GET, &path("group", "code_suggestions"), None)
        .await;
    assert_eq!(
        shown.json(),
        updated.json(),
        "the full path names the group"
    );

    // Each add-on has its own purchase; a trial is kept as sent.
    let mut trial = duo_pro();
    trial["trial"] = json!(true);
    trial["quantity"] = json!("3");
    app.as_portal(Method::POST, &path(GROUP, "duo_enterprise"), Some(&trial))
        .await
        .assert_snapshot(201, "add_on_purchase_created_trial");
    let shown = app
        .as_portal(Method::GET, &code_suggestions, None)
        .await
        .json();
    assert_eq!(shown["quantity"], json!(25));
}

async fn errors_are_answered_in_gitlabs_order(app: TestApp) {
    // The namespace, then the add-on's name, then the parameters.
    app.as_portal(Method::POST, &path("999", "nonsense"), None)
        .await
        .assert_snapshot(404, "namespace_not_found");
    app.as_portal(
        Method::POST,
        &path("group%2Fprivate", "code_suggestions"),
        None,
    )
    .await
    .assert_snapshot(404, "namespace_not_found");
    app.as_portal(Method::POST, &path(GROUP, "nonsense"), None)
        .await
        .assert_snapshot(404, "add_on_unknown");
    app.as_portal(Method::GET, &path(GROUP, "nonsense"), None)
        .await
        .assert_snapshot(404, "add_on_unknown");
    app.as_portal(
        Method::POST,
        &path(GROUP, "code_suggestions"),
        Some(&json!({})),
    )
    .await
    .assert_snapshot(400, "add_on_purchase_params_missing");
    app.as_portal(
        Method::POST,
        &path(GROUP, "code_suggestions"),
        Some(
            &json!({"quantity": 1.5, "started_on": "never", "expires_on": "2027-01-01",
                     "purchase_xid": "x", "trial": "maybe"}),
        ),
    )
    .await
    .assert_snapshot(400, "add_on_purchase_params_invalid");

    // On GitLab.com only root groups buy add-ons.
    app.as_portal(
        Method::POST,
        &path("11", "code_suggestions"),
        Some(&duo_pro()),
    )
    .await
    .assert_snapshot(400, "add_on_purchase_not_root");
    app.as_portal(
        Method::POST,
        &path("2", "code_suggestions"),
        Some(&duo_pro()),
    )
    .await
    .assert_snapshot(400, "add_on_purchase_namespace_invalid");

    // The model's validations, all at once.
    let mut invalid = duo_pro();
    invalid["quantity"] = json!(0);
    invalid["purchase_xid"] = json!(" ");
    app.as_portal(
        Method::POST,
        &path(GROUP, "code_suggestions"),
        Some(&invalid),
    )
    .await
    .assert_snapshot(400, "add_on_purchase_invalid");
    invalid["quantity"] = json!(1);
    invalid["purchase_xid"] = json!("x".repeat(256));
    app.as_portal(
        Method::POST,
        &path(GROUP, "code_suggestions"),
        Some(&invalid),
    )
    .await
    .assert_snapshot(400, "add_on_purchase_purchase_xid_too_long");

    // Updating what does not exist, and creating what does.
    let dates = json!({"started_on": "2026-01-01", "expires_on": "2027-01-01"});
    app.as_portal(Method::PUT, &path(GROUP, "duo_core"), Some(&dates))
        .await
        .assert_snapshot(400, "add_on_purchase_does_not_exist");
    app.as_portal(
        Method::PUT,
        &path(GROUP, "duo_core"),
        Some(&json!({"quantity": 2})),
    )
    .await
    .assert_snapshot(400, "add_on_purchase_update_dates_missing");
    app.as_portal(Method::POST, &path(GROUP, "duo_core"), Some(&duo_pro()))
        .await
        .assert_snapshot(201, "add_on_purchase_created_duo_core");
    let mut again = duo_pro();
    again["quantity"] = json!(99);
    app.as_portal(Method::POST, &path(GROUP, "duo_core"), Some(&again))
        .await
        .assert_snapshot(400, "add_on_purchase_already_exists");
    let mut zero = dates.clone();
    zero["quantity"] = json!(0);
    app.as_portal(Method::PUT, &path(GROUP, "duo_core"), Some(&zero))
        .await
        .assert_snapshot(400, "add_on_purchase_quantity_invalid");
    // Nothing changed by the refused requests.
    app.as_portal(Method::GET, &path(GROUP, "duo_core"), None)
        .await
        .assert_snapshot(200, "add_on_purchase_created_duo_core");

    // Off GitLab.com any namespace may buy.
    app.set_gitlab_com(false).await;
    let created = app
        .as_portal(
            Method::POST,
            &path("2", "code_suggestions"),
            Some(&duo_pro()),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    assert_eq!(created.json()["namespace_name"], json!("Alice Liddell"));
}

async fn only_admins_and_customers_dot_may_call(app: TestApp) {
    let target = path(GROUP, "code_suggestions");
    let call = |method: Method, token: Presented<'static>, body: Option<Value>| {
        admin_request(method, &target, token, body.as_ref())
    };
    app.send(call(Method::POST, Presented::Nothing, Some(duo_pro())))
        .await
        .assert_snapshot(401, "unauthorized");
    app.send(call(
        Method::POST,
        Presented::Header("unknown"),
        Some(duo_pro()),
    ))
    .await
    .assert_snapshot(401, "unauthorized");
    app.send(call(
        Method::POST,
        Presented::Header("alice-api-token"),
        Some(duo_pro()),
    ))
    .await
    .assert_snapshot(403, "forbidden");
    app.send(call(
        Method::POST,
        Presented::Header("read-api-admin-token"),
        Some(duo_pro()),
    ))
    .await
    .assert_snapshot(403, "insufficient_scope_api");
    let mut bad_aud = customers_dot_claims();
    bad_aud["aud"] = json!("gitlab");
    app.send(jwt_request(
        Method::POST,
        &target,
        &customers_dot_jwt(PORTAL_KEY_A, "key-a", &bad_aud),
        Some(&duo_pro()),
    ))
    .await
    .assert_snapshot(401, "unauthorized");

    app.counter.reset();
    app.send(call(
        Method::POST,
        Presented::Header(ADMIN),
        Some(duo_pro()),
    ))
    .await
    .assert_snapshot(201, "add_on_purchase_created");
    assert_eq!(app.take_round_trips(), 3, "a token costs one more round");
    app.send(call(
        Method::GET,
        Presented::Header("read-api-admin-token"),
        None,
    ))
    .await
    .assert_snapshot(200, "add_on_purchase_created");
    // Unlike the subscription, the purchase is not for the namespace's owners.
    app.send(admin_request(
        Method::GET,
        &path("2", "code_suggestions"),
        Presented::Header("alice-api-token"),
        None,
    ))
    .await
    .assert_snapshot(403, "forbidden");
}
