//! Namespaces' GitLab subscriptions (`billing` function): CustomersDot's JWT against a
//! stand-in portal and admin tokens, namespaces by id or full path, the entity's plan, seat
//! and billing fields, every error body, updates that keep losing races, and the round-trip
//! budgets (writers at once: `concurrency.rs`).

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::*;

/// The seed's admin token (root, scope `api`).
const ADMIN: &str = "pat-plaintext";
/// The group with two direct members (users 1 and 6).
const GROUP: &str = "10";

fn path(namespace: &str) -> String {
    format!("/api/v4/namespaces/{namespace}/gitlab_subscription")
}

fn internal_path(namespace: &str) -> String {
    format!("/api/v4/internal/gitlab_subscriptions/namespaces/{namespace}/gitlab_subscription")
}

async fn as_portal(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> TestResponse {
    app.as_portal(method, path, body).await
}

fn premium() -> Value {
    json!({"start_date": "2026-01-15", "end_date": "2036-01-15", "plan_code": "premium",
           "seats": 10, "max_seats_used": 12, "auto_renew": true})
}

on_both_backends!(
    subscriptions_are_created_shown_and_updated,
    free_and_trial_subscriptions_count_members_live,
    a_new_paid_term_resets_the_seat_statistics,
    errors_are_answered_as_gitlab_does,
    customers_dot_tokens_are_verified_against_the_portal,
    admin_tokens_are_accepted_as_for_the_admin_endpoints,
    owners_may_read_their_namespaces_subscription,
    updates_that_keep_losing_races_answer_409,
);

async fn subscriptions_are_created_shown_and_updated(app: TestApp) {
    as_portal(&app, Method::GET, &path(GROUP), None)
        .await
        .assert_snapshot(200, "gitlab_subscription_none");
    assert_eq!(app.take_round_trips(), 1, "GET by id with a JWT reads once");

    let created = as_portal(&app, Method::POST, &path(GROUP), Some(&premium())).await;
    created.assert_snapshot(201, "gitlab_subscription_created_premium");
    assert_eq!(
        app.take_round_trips(),
        2,
        "POST: one read, one conditional write"
    );

    let shown = as_portal(&app, Method::GET, &path(GROUP), None).await;
    assert_eq!(shown.json(), created.json());
    assert_eq!(app.take_round_trips(), 1);

    // The internal mount serves the same handlers; only what is supplied changes.
    let updated = as_portal(
        &app,
        Method::PUT,
        &internal_path(GROUP),
        Some(&json!({"seats": 15, "auto_renew": false})),
    )
    .await;
    updated.assert_snapshot(200, "gitlab_subscription_updated_seats");
    assert_eq!(
        app.take_round_trips(),
        2,
        "PUT: one read, one conditional write"
    );
    let shown = as_portal(&app, Method::GET, &path("group"), None).await;
    assert_eq!(
        shown.json(),
        updated.json(),
        "the full path names the same group"
    );
    assert_eq!(
        app.take_round_trips(),
        2,
        "a full path adds the read of its route"
    );

    // An unknown plan code is stored as no plan: null plan fields, no error.
    as_portal(
        &app,
        Method::PUT,
        &path(GROUP),
        Some(&json!({"plan_code": "platinum"})),
    )
    .await
    .assert_snapshot(200, "gitlab_subscription_unknown_plan");
}

async fn free_and_trial_subscriptions_count_members_live(app: TestApp) {
    // No plan code: the free plan; seats in use are the group's two direct members.
    as_portal(
        &app,
        Method::POST,
        &path("group"),
        Some(&json!({"start_date": "2026-02-01"})),
    )
    .await
    .assert_snapshot(201, "gitlab_subscription_created_free");
    // A personal namespace bills its one user; a trial's seats are counted live too, and
    // its start date defaults `trial_starts_on`.
    as_portal(
        &app,
        Method::POST,
        &path("2"),
        Some(
            &json!({"start_date": "2026-03-01", "plan_code": "ultimate_trial", "seats": 5,
                     "trial": true, "trial_ends_on": "2026-03-31"}),
        ),
    )
    .await
    .assert_snapshot(201, "gitlab_subscription_created_trial");
    // Trial flags stay as sent through an update of something else.
    let updated = as_portal(
        &app,
        Method::PUT,
        &path("2"),
        Some(&json!({"max_seats_used": 3})),
    )
    .await
    .json();
    assert_eq!(updated["plan"]["trial"], json!(true));
    assert_eq!(updated["usage"]["seats_in_use"], json!(1));
    assert_eq!(updated["usage"]["max_seats_used"], json!(3));
    assert_eq!(
        updated["usage"]["seats_owed"],
        json!(0),
        "trials owe nothing"
    );
}

async fn a_new_paid_term_resets_the_seat_statistics(app: TestApp) {
    as_portal(&app, Method::POST, &path(GROUP), Some(&premium()))
        .await
        .assert_snapshot(201, "gitlab_subscription_created_premium");
    // The next term starts where the last ended: max_seats_used starts over from the
    // group's billable members now (2), and so nothing is owed.
    let renewed = as_portal(
        &app,
        Method::PUT,
        &path(GROUP),
        Some(&json!({"start_date": "2036-01-15", "end_date": "2037-01-15"})),
    )
    .await;
    renewed.assert_snapshot(200, "gitlab_subscription_renewed");
}

async fn errors_are_answered_as_gitlab_does(app: TestApp) {
    // Parameters, after the namespace lookup.
    as_portal(&app, Method::POST, &path(GROUP), Some(&json!({"seats": 3})))
        .await
        .assert_snapshot(400, "gitlab_subscription_start_date_missing");
    as_portal(
        &app,
        Method::POST,
        &path(GROUP),
        Some(&json!({"start_date": "2026-02-30", "seats": "many"})),
    )
    .await
    .assert_snapshot(400, "gitlab_subscription_params_invalid");
    // No namespace: unknown id or path, a project's path.
    for missing in ["999", "nope", "group%2Fprivate"] {
        as_portal(&app, Method::POST, &path(missing), Some(&json!({})))
            .await
            .assert_snapshot_for(404, "namespace_not_found", missing);
        as_portal(&app, Method::GET, &path(missing), None)
            .await
            .assert_snapshot_for(404, "namespace_not_found", missing);
    }
    // PUT before any subscription.
    as_portal(&app, Method::PUT, &path(GROUP), Some(&json!({"seats": 1})))
        .await
        .assert_snapshot(404, "gitlab_subscription_not_found");
    // The model's validations.
    as_portal(
        &app,
        Method::POST,
        &path(GROUP),
        Some(&json!({"start_date": "2026-01-01", "trial": true})),
    )
    .await
    .assert_snapshot(400, "gitlab_subscription_trial_ends_on_blank");
    as_portal(
        &app,
        Method::POST,
        &path(GROUP),
        Some(&json!({"start_date": "2026-01-01", "trial": true,
                     "trial_starts_on": "2026-02-01", "trial_ends_on": "2026-01-31"})),
    )
    .await
    .assert_snapshot(400, "gitlab_subscription_trial_ends_before_start");
    assert_eq!(
        as_portal(&app, Method::GET, &path(GROUP), None)
            .await
            .json()["plan"]["code"],
        Value::Null,
        "nothing was stored by invalid requests"
    );
    as_portal(&app, Method::POST, &path(GROUP), Some(&premium()))
        .await
        .assert_snapshot(201, "gitlab_subscription_created_premium");
    as_portal(&app, Method::POST, &path(GROUP), Some(&premium()))
        .await
        .assert_snapshot(400, "gitlab_subscription_already_taken");
    as_portal(
        &app,
        Method::PUT,
        &path(GROUP),
        Some(&json!({"seats": null})),
    )
    .await
    .assert_snapshot(400, "gitlab_subscription_seats_blank");
    // Nothing changed by the refused requests.
    let shown = as_portal(&app, Method::GET, &path(GROUP), None)
        .await
        .json();
    assert_eq!(shown["usage"]["seats_in_subscription"], json!(10));
}

async fn customers_dot_tokens_are_verified_against_the_portal(app: TestApp) {
    let get = |token: String| jwt_request(Method::GET, &path(GROUP), &token, None);
    app.send(get(customers_dot_token()))
        .await
        .assert_snapshot(200, "gitlab_subscription_none");
    let now = chrono::Utc::now().timestamp();
    let mut bad_aud = customers_dot_claims();
    bad_aud["aud"] = json!("gitlab");
    let mut bad_sub = customers_dot_claims();
    bad_sub["sub"] = json!("someone-else");
    let mut expired = customers_dot_claims();
    expired["iat"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let cases = [
        ("aud", customers_dot_jwt(PORTAL_KEY_A, "key-a", &bad_aud)),
        ("sub", customers_dot_jwt(PORTAL_KEY_A, "key-a", &bad_sub)),
        (
            "kid",
            customers_dot_jwt(PORTAL_KEY_A, "key-z", &customers_dot_claims()),
        ),
        (
            "signature",
            customers_dot_jwt(PORTAL_KEY_B, "key-a", &customers_dot_claims()),
        ),
        ("expiry", customers_dot_jwt(PORTAL_KEY_A, "key-a", &expired)),
        ("not a JWT", "garbage".to_owned()),
    ];
    for (case, token) in cases {
        app.counter.reset();
        app.send(get(token))
            .await
            .assert_snapshot_for(401, "unauthorized", case);
        assert_eq!(app.take_round_trips(), 0, "{case}: refused before any read");
    }
    // The header decides: an admin token beside a bad JWT does not help.
    let mut request = get("garbage".to_owned());
    request
        .headers_mut()
        .insert("PRIVATE-TOKEN", ADMIN.parse().unwrap());
    app.send(request).await.assert_snapshot(401, "unauthorized");
}

async fn admin_tokens_are_accepted_as_for_the_admin_endpoints(app: TestApp) {
    // The portal is down: that concerns JWTs only.
    app.portal
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    app.send(jwt_request(
        Method::GET,
        &path(GROUP),
        &customers_dot_token(),
        None,
    ))
    .await
    .assert_snapshot(401, "unauthorized");

    let call = |method: Method, token: Presented<'static>, body: Option<Value>| {
        admin_request(method, &path(GROUP), token, body.as_ref())
    };
    app.counter.reset();
    app.send(call(
        Method::POST,
        Presented::Header(ADMIN),
        Some(premium()),
    ))
    .await
    .assert_snapshot(201, "gitlab_subscription_created_premium");
    assert_eq!(app.take_round_trips(), 3, "a token costs one more round");
    app.send(call(Method::GET, Presented::Bearer(ADMIN), None))
        .await
        .assert_snapshot(200, "gitlab_subscription_created_premium");
    assert_eq!(app.take_round_trips(), 2);
    app.send(call(
        Method::GET,
        Presented::Header("read-api-admin-token"),
        None,
    ))
    .await
    .assert_snapshot(200, "gitlab_subscription_created_premium");
    app.send(call(
        Method::PUT,
        Presented::Header("read-api-admin-token"),
        Some(json!({"seats": 1})),
    ))
    .await
    .assert_snapshot(403, "insufficient_scope_api");
    app.send(call(Method::GET, Presented::Nothing, None))
        .await
        .assert_snapshot(401, "unauthorized");
    app.send(call(Method::GET, Presented::Header("unknown"), None))
        .await
        .assert_snapshot(401, "unauthorized");
    app.send(call(
        Method::GET,
        Presented::Header("alice-api-token"),
        None,
    ))
    .await
    .assert_snapshot(403, "forbidden");
    app.send(call(
        Method::GET,
        Presented::Header("blocked-admin-token"),
        None,
    ))
    .await
    .assert_snapshot(401, "unauthorized");
    // Authentication before the namespace, the namespace before the parameters.
    app.send(admin_request(
        Method::POST,
        &path("999"),
        Presented::Header("alice-api-token"),
        None,
    ))
    .await
    .assert_snapshot(403, "forbidden");
    app.send(admin_request(
        Method::POST,
        &path("999"),
        Presented::Header(ADMIN),
        None,
    ))
    .await
    .assert_snapshot(404, "namespace_not_found");
}

async fn owners_may_read_their_namespaces_subscription(app: TestApp) {
    as_portal(&app, Method::POST, &path("11"), Some(&premium()))
        .await
        .assert_snapshot(201, "gitlab_subscription_created_premium");
    let olive = user_personal_access_token(&app, 7, json!(["read_api"])).await;
    let mia = user_personal_access_token(&app, 6, json!(["api"])).await;
    let get = |namespace: &str, token: &str| {
        admin_request(
            Method::GET,
            &path(namespace),
            Presented::Header(token),
            None,
        )
    };
    app.counter.reset();
    // A group's Owner (olive owns the subgroup), a personal namespace's user (Alice, 2).
    app.send(get("group%2Fsubgroup", &olive))
        .await
        .assert_snapshot(200, "gitlab_subscription_created_premium");
    assert_eq!(app.take_round_trips(), 2, "the route beside the token");
    app.send(get("2", "alice-api-token"))
        .await
        .assert_snapshot(200, "gitlab_subscription_none");
    // Anyone else: a Maintainer (mia in the group), another owner's group, a stranger.
    for (namespace, token) in [
        (GROUP, mia.as_str()),
        (GROUP, &olive),
        ("11", "alice-api-token"),
    ] {
        app.send(get(namespace, token))
            .await
            .assert_snapshot_for(403, "forbidden", namespace);
    }
    // The namespace lookup answers before the ownership check.
    app.send(get("999", &olive))
        .await
        .assert_snapshot(404, "namespace_not_found");
    // Writes stay with admins and CustomersDot.
    let alice_put = admin_request(
        Method::PUT,
        &path("2"),
        Presented::Header("alice-api-token"),
        Some(&json!({"seats": 1})),
    );
    app.send(alice_put).await.assert_snapshot(403, "forbidden");
}

/// Someone else always writes a subscription between its read and its versioned write:
/// every such write then fails its condition.
struct RewritesTheSubscription;

#[async_trait::async_trait]
impl BeforeEachWrite for RewritesTheSubscription {
    async fn before(
        &self,
        store: &dyn gl_store::Store,
        ops: &[gl_store::WriteOp],
    ) -> Result<(), gl_store::StoreError> {
        use gl_store::{Condition, WriteOp};
        for op in ops {
            if let WriteOp::Put {
                item,
                condition: Condition::VersionEquals(version),
            } = op
                && let Some(mut current) = store
                    .get_many(std::slice::from_ref(&item.key))
                    .await?
                    .pop()
                    .flatten()
            {
                current.attrs.insert("version".into(), json!(version + 1));
                current.attrs.insert("seats".into(), json!(99));
                store
                    .write(vec![WriteOp::Put {
                        item: current,
                        condition: Condition::None,
                    }])
                    .await?;
            }
        }
        Ok(())
    }
}

async fn updates_that_keep_losing_races_answer_409(app: TestApp) {
    as_portal(&app, Method::POST, &path(GROUP), Some(&premium()))
        .await
        .assert_snapshot(201, "gitlab_subscription_created_premium");
    // The same store (and table) behind a router whose every update loses its race.
    let meddled = Meddled::app(&app, RewritesTheSubscription);
    as_portal(
        &meddled,
        Method::PUT,
        &path(GROUP),
        Some(&json!({"seats": 3})),
    )
    .await
    .assert_snapshot(409, "gitlab_subscription_conflict");
    // What stands is the other writer's, not half of this request.
    let shown = as_portal(&app, Method::GET, &path(GROUP), None)
        .await
        .json();
    assert_eq!(shown["usage"]["seats_in_subscription"], json!(99));
}
