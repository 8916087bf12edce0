//! Upcoming reconciliations (`billing` function): bulk upserts all or nothing, deletes, the
//! GitLab.com gate before authentication, who may call, and the round-trip budgets.

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::*;

const PATH: &str = "/api/v4/internal/upcoming_reconciliations";

/// The seed's admin token (root, scope `api`).
const ADMIN: &str = "pat-plaintext";

fn reconciliation(namespace_id: Value, next: &str, alert: &str) -> Value {
    json!({"namespace_id": namespace_id, "next_reconciliation_date": next,
           "display_alert_from": alert})
}

fn body(items: &[Value]) -> Value {
    json!({ "upcoming_reconciliations": items })
}

fn delete_path(namespace_id: &str) -> String {
    format!("{PATH}?namespace_id={namespace_id}")
}

/// The stored reconciliation of a namespace, as (next date, alert date).
async fn stored(app: &TestApp, namespace_id: i64) -> Option<(String, String)> {
    let key = gl_store::keys::upcoming_reconciliation(namespace_id);
    let item = app.repo.store().get_many(&[key]).await.unwrap().pop()??;
    let text = |name: &str| item.attrs[name].as_str().unwrap().to_owned();
    Some((text("next_reconciliation_date"), text("display_alert_from")))
}

on_both_backends!(
    reconciliations_are_upserted_and_deleted,
    an_invalid_item_stores_nothing,
    the_gitlab_com_gate_comes_before_authentication,
    only_admins_and_customers_dot_may_call,
);

async fn reconciliations_are_upserted_and_deleted(app: TestApp) {
    // The documented request: dates as CustomersDot writes them.
    let documented = body(&[
        reconciliation(json!(10), "13 Jun 2021", "06 Jun 2021"),
        reconciliation(json!(2), "12 Jun 2021", "05 Jun 2021"),
    ]);
    app.as_portal(Method::PUT, PATH, Some(&documented))
        .await
        .assert_snapshot(200, "upcoming_reconciliations_updated");
    assert_eq!(app.take_round_trips(), 2, "one read, one transaction");
    assert_eq!(
        stored(&app, 10).await,
        Some(("2021-06-13".into(), "2021-06-06".into()))
    );

    // Upserted by namespace; within one request the last item for a namespace counts.
    app.as_portal(
        Method::PUT,
        PATH,
        Some(&body(&[
            reconciliation(json!("10"), "2026-07-01", "2026-06-24"),
            reconciliation(json!(10), "2026-08-01", "2026-07-25"),
        ])),
    )
    .await
    .assert_snapshot(200, "upcoming_reconciliations_updated");
    assert_eq!(
        stored(&app, 10).await,
        Some(("2026-08-01".into(), "2026-07-25".into()))
    );
    assert_eq!(
        stored(&app, 2).await,
        Some(("2021-06-12".into(), "2021-06-05".into()))
    );

    // More than one transaction holds: every item is stored.
    let many: Vec<Value> = (0..120)
        .map(|n| {
            reconciliation(
                json!(if n % 2 == 0 { 10 } else { 2 }),
                "2026-09-01",
                "2026-08-25",
            )
        })
        .collect();
    app.as_portal(Method::PUT, PATH, Some(&body(&many)))
        .await
        .assert_snapshot(200, "upcoming_reconciliations_updated");

    app.take_round_trips();
    let deleted = app
        .as_portal(Method::DELETE, &delete_path("10"), None)
        .await;
    assert_eq!(deleted.status.as_u16(), 204, "{}", deleted.text);
    assert_eq!(deleted.text, "");
    assert_eq!(
        app.take_round_trips(),
        1,
        "one conditional delete (the settings are the process's)"
    );
    assert_eq!(stored(&app, 10).await, None);
    app.as_portal(Method::DELETE, &delete_path("10"), None)
        .await
        .assert_snapshot(404, "not_found");
    app.as_portal(Method::DELETE, PATH, None)
        .await
        .assert_snapshot(400, "upcoming_reconciliations_namespace_id_missing");
    app.as_portal(Method::DELETE, &delete_path(""), None)
        .await
        .assert_snapshot(400, "upcoming_reconciliations_namespace_id_empty");
}

async fn an_invalid_item_stores_nothing(app: TestApp) {
    // Unknown namespaces: every failing item is named, in GitLab's JSON-in-a-string form.
    app.as_portal(
        Method::PUT,
        PATH,
        Some(&body(&[
            reconciliation(json!(10), "2026-07-01", "2026-06-24"),
            reconciliation(json!(998), "2026-07-01", "2026-06-24"),
            reconciliation(json!(999), "2026-07-01", "2026-06-24"),
        ])),
    )
    .await
    .assert_snapshot(400, "upcoming_reconciliations_namespaces_unknown");
    assert_eq!(
        stored(&app, 10).await,
        None,
        "the valid item was not stored"
    );

    // Grape's declarations: members named without an index, each message once.
    app.as_portal(
        Method::PUT,
        PATH,
        Some(&body(&[
            reconciliation(json!(""), "2026-07-01", "2026-06-24"),
            reconciliation(json!(" "), "2026-07-01", "2026-06-24"),
        ])),
    )
    .await
    .assert_snapshot(400, "upcoming_reconciliations_namespace_id_empty_in_item");
    app.as_portal(
        Method::PUT,
        PATH,
        Some(&body(&[
            json!({"namespace_id": "ten", "next_reconciliation_date": "soon"}),
        ])),
    )
    .await
    .assert_snapshot(400, "upcoming_reconciliations_items_invalid");
    app.as_portal(Method::PUT, PATH, Some(&json!({})))
        .await
        .assert_snapshot(400, "upcoming_reconciliations_missing");
    assert_eq!(stored(&app, 10).await, None);
}

async fn the_gitlab_com_gate_comes_before_authentication(app: TestApp) {
    app.set_gitlab_com(false).await;
    let item = body(&[reconciliation(json!(10), "2026-07-01", "2026-06-24")]);
    for token in [
        Presented::Nothing,
        Presented::Header("unknown"),
        Presented::Header("alice-api-token"),
        Presented::Header(ADMIN),
    ] {
        app.send(admin_request(Method::PUT, PATH, token, Some(&item)))
            .await
            .assert_snapshot_for(
                403,
                "upcoming_reconciliations_gitlab_com_only",
                format!("{token:?}"),
            );
        app.send(admin_request(
            Method::DELETE,
            &delete_path("10"),
            token,
            None,
        ))
        .await
        .assert_snapshot_for(
            403,
            "upcoming_reconciliations_gitlab_com_only",
            format!("{token:?}"),
        );
    }
    app.send(jwt_request(Method::PUT, PATH, "garbage", Some(&item)))
        .await
        .assert_snapshot(403, "upcoming_reconciliations_gitlab_com_only");
    assert_eq!(stored(&app, 10).await, None);
}

async fn only_admins_and_customers_dot_may_call(app: TestApp) {
    let item = body(&[reconciliation(json!(10), "2026-07-01", "2026-06-24")]);
    for (token, status, name) in [
        (Presented::Nothing, 401, "unauthorized"),
        (
            Presented::Header("expired-admin-seed-token"),
            401,
            "token_expired",
        ),
        (Presented::Header("alice-api-token"), 403, "forbidden"),
        (
            Presented::Header("read-api-admin-token"),
            403,
            "insufficient_scope_api",
        ),
    ] {
        app.send(admin_request(Method::PUT, PATH, token, Some(&item)))
            .await
            .assert_snapshot_for(status, name, format!("{token:?}"));
    }
    app.send(jwt_request(Method::PUT, PATH, "garbage", Some(&item)))
        .await
        .assert_snapshot(401, "unauthorized");
    assert_eq!(stored(&app, 10).await, None);

    app.take_round_trips();
    app.send(admin_request(
        Method::PUT,
        PATH,
        Presented::Param(ADMIN),
        Some(&item),
    ))
    .await
    .assert_snapshot(200, "upcoming_reconciliations_updated");
    assert_eq!(app.take_round_trips(), 3, "a token costs one more round");
    app.send(admin_request(
        Method::DELETE,
        &delete_path("10"),
        Presented::Header(ADMIN),
        None,
    ))
    .await;
    assert_eq!(stored(&app, 10).await, None);
}
