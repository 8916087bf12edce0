//! The GitLab.com Admin Area's storage limit exclusions (`admin` function): admin personal
//! access tokens, the GitLab.com gate, root namespaces by id or full path, GitLab's
//! pagination headers, and the round-trip budgets.

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::*;

const LIST: &str = "/api/v4/namespaces/storage/limit_exclusions";
/// The seed's admin token (root, scope `api`).
const ADMIN: &str = "pat-plaintext";

fn exclusion(namespace: &str) -> String {
    format!("/api/v4/namespaces/{namespace}/storage/limit_exclusion")
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Presented<'_>,
    body: Option<&Value>,
) -> TestResponse {
    app.send(admin_request(method, path, token, body)).await
}

async fn create(app: &TestApp, namespace: &str, body: &Value) -> TestResponse {
    call(
        app,
        Method::POST,
        &exclusion(namespace),
        Presented::Header(ADMIN),
        Some(body),
    )
    .await
}

async fn delete(app: &TestApp, namespace: &str) -> TestResponse {
    call(
        app,
        Method::DELETE,
        &exclusion(namespace),
        Presented::Header(ADMIN),
        None,
    )
    .await
}

async fn list(app: &TestApp, query: &str) -> TestResponse {
    call(
        app,
        Method::GET,
        &format!("{LIST}{query}"),
        Presented::Header(ADMIN),
        None,
    )
    .await
}

fn header<'r>(response: &'r TestResponse, name: &str) -> &'r str {
    response
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[track_caller]
fn assert_no_content(response: &TestResponse) {
    assert_eq!(
        (response.status.as_u16(), response.text.as_str()),
        (204, "")
    );
}

on_both_backends!(
    exclusions_are_created_listed_and_removed,
    namespaces_are_root_groups_and_personal_namespaces_only,
    checks_run_in_order_authentication_namespace_parameters,
    reasons_are_validated_as_the_model_does,
    pagination_headers_are_gitlabs,
    the_token_matrix,
    gitlab_com_only,
    round_trips_within_budget,
);

async fn exclusions_are_created_listed_and_removed(app: TestApp) {
    list(&app, "")
        .await
        .assert_snapshot(200, "storage_exclusions_empty");

    let reason = json!({"reason": "a reason to exclude the Namespace"});
    create(&app, "10", &reason)
        .await
        .assert_snapshot(201, "storage_exclusion_created_group");
    create(&app, "10", &reason)
        .await
        .assert_snapshot(400, "storage_exclusion_already_excluded");
    // A personal namespace by its (URL-encoded, case-insensitive) full path.
    create(&app, "alice", &json!({"reason": "support ticket"}))
        .await
        .assert_snapshot(201, "storage_exclusion_created_personal");

    list(&app, "")
        .await
        .assert_snapshot(200, "storage_exclusions_two");

    assert_no_content(&delete(&app, "group").await);
    delete(&app, "10")
        .await
        .assert_snapshot(400, "storage_exclusion_not_excluded");
    // Ids are never handed out twice, as a database sequence does not.
    let again = create(&app, "10", &reason).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.json()["id"], 3);
    let listed = list(&app, "").await.json();
    let ids: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert_eq!(ids, [&json!(2), &json!(3)]);
}

async fn namespaces_are_root_groups_and_personal_namespaces_only(app: TestApp) {
    let reason = json!({"reason": "r"});
    for subgroup in ["11", "group%2Fsubgroup", "GROUP%2Fsubgroup"] {
        create(&app, subgroup, &reason).await.assert_snapshot_for(
            400,
            "storage_exclusion_not_root",
            subgroup,
        );
        delete(&app, subgroup).await.assert_snapshot_for(
            400,
            "storage_exclusion_not_root",
            subgroup,
        );
    }
    // A project's path names no namespace; neither do unknown ids, paths or huge numbers.
    for missing in ["group%2Fprivate", "999", "nope", "99999999999999999999999"] {
        create(&app, missing, &reason).await.assert_snapshot_for(
            404,
            "namespace_not_found",
            missing,
        );
        delete(&app, missing)
            .await
            .assert_snapshot_for(404, "namespace_not_found", missing);
    }
    // The admin's own personal namespace by id.
    let created = create(&app, "1", &reason).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["namespace_name"], "Administrator");
}

async fn checks_run_in_order_authentication_namespace_parameters(app: TestApp) {
    let path = exclusion("999");
    // Unauthenticated: 401 whatever the namespace and parameters.
    call(&app, Method::POST, &path, Presented::Nothing, None)
        .await
        .assert_snapshot(401, "unauthorized");
    // A non-admin: 403 before the namespace is looked at.
    call(
        &app,
        Method::POST,
        &path,
        Presented::Header("alice-api-token"),
        None,
    )
    .await
    .assert_snapshot(403, "forbidden");
    // An admin: the namespace before the parameters.
    create(&app, "999", &json!({}))
        .await
        .assert_snapshot(404, "namespace_not_found");
    // The parameters before the root check and the duplicate check.
    create(&app, "11", &json!({}))
        .await
        .assert_snapshot(400, "storage_exclusion_reason_missing");
    create(&app, "10", &json!({"reason": ["not", "a", "string"]}))
        .await
        .assert_snapshot(400, "storage_exclusion_reason_invalid");
}

async fn reasons_are_validated_as_the_model_does(app: TestApp) {
    create(&app, "10", &json!({"reason": "  "}))
        .await
        .assert_snapshot(400, "storage_exclusion_reason_blank");
    create(&app, "10", &json!({"reason": "x".repeat(256)}))
        .await
        .assert_snapshot(400, "storage_exclusion_reason_too_long");
    // Exactly 255 characters (not bytes) is fine; a number is a string to Grape.
    assert_eq!(
        create(&app, "10", &json!({"reason": "é".repeat(255)}))
            .await
            .status,
        201
    );
    let numeric = create(&app, "alice", &json!({"reason": 42})).await;
    assert_eq!(
        (numeric.status.as_u16(), &numeric.json()["reason"]),
        (201, &json!("42"))
    );
    // Nothing was stored by the refused requests.
    assert_eq!(list(&app, "").await.json().as_array().unwrap().len(), 2);
}

async fn pagination_headers_are_gitlabs(app: TestApp) {
    for namespace in ["10", "1", "2"] {
        assert_eq!(
            create(&app, namespace, &json!({"reason": "r"}))
                .await
                .status,
            201
        );
    }
    let first = list(&app, "").await;
    assert_eq!(first.json().as_array().unwrap().len(), 3);
    assert_eq!(header(&first, "x-total"), "3");
    assert_eq!(header(&first, "x-total-pages"), "1");
    assert_eq!(header(&first, "x-per-page"), "20");
    assert_eq!(header(&first, "x-page"), "1");
    assert_eq!(header(&first, "x-next-page"), "");
    assert_eq!(header(&first, "x-prev-page"), "");
    let base = "https://gitlab.example.com:8443/api/v4/namespaces/storage/limit_exclusions";
    assert_eq!(
        header(&first, "link"),
        format!(
            "<{base}?page=1&per_page=20>; rel=\"first\", <{base}?page=1&per_page=20>; rel=\"last\""
        )
    );

    let middle = list(&app, "?per_page=1&page=2&sort=asc").await;
    middle.assert_snapshot(200, "storage_exclusions_page_2_of_3");
    assert_eq!(header(&middle, "x-total"), "3");
    assert_eq!(header(&middle, "x-total-pages"), "3");
    assert_eq!(header(&middle, "x-per-page"), "1");
    assert_eq!(header(&middle, "x-page"), "2");
    assert_eq!(header(&middle, "x-next-page"), "3");
    assert_eq!(header(&middle, "x-prev-page"), "1");
    let link =
        |page: u8, rel: &str| format!("<{base}?page={page}&per_page=1&sort=asc>; rel=\"{rel}\"");
    assert_eq!(
        header(&middle, "link"),
        [
            link(1, "prev"),
            link(3, "next"),
            link(1, "first"),
            link(3, "last")
        ]
        .join(", ")
    );

    // Past the last page: an empty page, no neighbours; over 100 per page reads as 100.
    let past = list(&app, "?page=9").await;
    assert_eq!((past.status.as_u16(), past.text.as_str()), (200, "[]"));
    assert_eq!(header(&past, "x-prev-page"), "");
    assert_eq!(
        header(&list(&app, "?per_page=500").await, "x-per-page"),
        "100"
    );
    // The token given as a parameter never appears in the links.
    let by_param = call(&app, Method::GET, LIST, Presented::Param(ADMIN), None).await;
    assert!(!header(&by_param, "link").contains(ADMIN));

    list(&app, "?page=first&per_page=x")
        .await
        .assert_snapshot(400, "storage_exclusions_pagination_invalid");
}

/// A token, and what a GET and a write answer with it: status and snapshot.
type TokenCase<'t> = (Presented<'t>, (u16, &'static str), (u16, &'static str));

async fn the_token_matrix(app: TestApp) {
    let minted = personal_access_token(&app, json!({"key_id": "1"}), json!(["api"])).await;
    let minted_read =
        personal_access_token(&app, json!({"key_id": "1"}), json!(["read_api"])).await;
    let minted_alice = personal_access_token(&app, json!({"key_id": "2"}), json!(["api"])).await;
    let body = json!({"reason": "r"});
    let cases: Vec<TokenCase<'_>> = vec![
        (
            Presented::Nothing,
            (401, "unauthorized"),
            (401, "unauthorized"),
        ),
        (
            Presented::Header(""),
            (401, "unauthorized"),
            (401, "unauthorized"),
        ),
        (
            Presented::Header("glpat-unknown"),
            (401, "unauthorized"),
            (401, "unauthorized"),
        ),
        (
            Presented::Bearer("glpat-unknown"),
            (401, "unauthorized"),
            (401, "unauthorized"),
        ),
        (
            Presented::Header("expired-admin-seed-token"),
            (401, "token_expired"),
            (401, "token_expired"),
        ),
        (
            Presented::Header("revoked-admin-seed-token"),
            (401, "token_revoked"),
            (401, "token_revoked"),
        ),
        (
            Presented::Header("read-user-admin-token"),
            (403, "insufficient_scope_api_read_api"),
            (403, "insufficient_scope_api"),
        ),
        (
            Presented::Header("read-api-admin-token"),
            (200, "storage_exclusions_empty"),
            (403, "insufficient_scope_api"),
        ),
        (
            Presented::Header(&minted_read),
            (200, "storage_exclusions_empty"),
            (403, "insufficient_scope_api"),
        ),
        (
            Presented::Header("alice-api-token"),
            (403, "forbidden"),
            (403, "forbidden"),
        ),
        (
            Presented::Header(&minted_alice),
            (403, "forbidden"),
            (403, "forbidden"),
        ),
        (
            Presented::Header("blocked-admin-token"),
            (401, "unauthorized"),
            (401, "unauthorized"),
        ),
    ];
    for (token, (get_status, get_snapshot), (post_status, post_snapshot)) in cases {
        call(&app, Method::GET, LIST, token, None)
            .await
            .assert_snapshot_for(get_status, get_snapshot, format_args!("GET {token:?}"));
        call(&app, Method::POST, &exclusion("10"), token, Some(&body))
            .await
            .assert_snapshot_for(post_status, post_snapshot, format_args!("POST {token:?}"));
        call(&app, Method::DELETE, &exclusion("10"), token, None)
            .await
            .assert_snapshot_for(post_status, post_snapshot, format_args!("DELETE {token:?}"));
    }
    // An admin's token, wherever it is presented; a token minted over SSH works too.
    for token in [
        Presented::Header(ADMIN),
        Presented::Bearer(ADMIN),
        Presented::Param(ADMIN),
        Presented::Header(&minted),
    ] {
        let created = call(&app, Method::POST, &exclusion("10"), token, Some(&body)).await;
        assert_eq!(created.status, 201, "{token:?}: {}", created.text);
        let listed = call(&app, Method::GET, LIST, token, None).await;
        assert_eq!(listed.json().as_array().unwrap().len(), 1, "{token:?}");
        assert_no_content(&call(&app, Method::DELETE, &exclusion("10"), token, None).await);
    }
    // The `private_token` parameter may come in the body too.
    let in_body = call(
        &app,
        Method::POST,
        &exclusion("10"),
        Presented::Nothing,
        Some(&json!({"reason": "r", "private_token": ADMIN})),
    )
    .await;
    assert_eq!(in_body.status, 201, "{}", in_body.text);
    // The `private_token` parameter wins over the header, as GitLab reads them.
    let both = call(
        &app,
        Method::GET,
        &format!("{LIST}?private_token={ADMIN}"),
        Presented::Header("alice-api-token"),
        None,
    )
    .await;
    assert_eq!(both.status, 200, "{}", both.text);
}

async fn gitlab_com_only(app: TestApp) {
    let settings = app.repo.identity().settings().await.unwrap();
    assert!(settings.gitlab_com, "GitLab.com is the default");
    app.set_gitlab_com(false).await;
    let body = json!({"reason": "r"});
    list(&app, "")
        .await
        .assert_snapshot(403, "storage_exclusions_gitlab_com_only");
    create(&app, "10", &body)
        .await
        .assert_snapshot(403, "storage_exclusions_gitlab_com_only");
    // The gate comes after authentication, and before the namespace is looked up.
    create(&app, "999", &json!({}))
        .await
        .assert_snapshot(403, "storage_exclusions_gitlab_com_only");
    delete(&app, "10")
        .await
        .assert_snapshot(403, "storage_exclusions_gitlab_com_only");
    call(&app, Method::GET, LIST, Presented::Nothing, None)
        .await
        .assert_snapshot(401, "unauthorized");
    call(
        &app,
        Method::GET,
        LIST,
        Presented::Header("alice-api-token"),
        None,
    )
    .await
    .assert_snapshot(403, "forbidden");
}

/// PAT authentication takes two round trips (the token with the settings, then its user);
/// the endpoint's one read rides along them and a write adds one: GET 2, POST and DELETE 3,
/// by id or by full path. (With CustomersDot's JWT, which needs no read, these would be the
/// design's reads 1, writes 2.)
async fn round_trips_within_budget(app: TestApp) {
    let body = json!({"reason": "r"});
    let cases: Vec<(Method, String, Option<&Value>, u16, u64)> = vec![
        (Method::GET, LIST.to_owned(), None, 200, 2),
        (Method::POST, exclusion("10"), Some(&body), 201, 3),
        (Method::POST, exclusion("alice"), Some(&body), 201, 3),
        (Method::GET, format!("{LIST}?per_page=1"), None, 200, 2),
        (Method::POST, exclusion("group"), Some(&body), 400, 2),
        (Method::DELETE, exclusion("group"), None, 204, 3),
        (Method::DELETE, exclusion("2"), None, 204, 3),
        (
            Method::POST,
            exclusion("group%2Fprivate"),
            Some(&body),
            404,
            2,
        ),
    ];
    for (method, path, body, status, budget) in cases {
        app.take_round_trips();
        let response = call(&app, method.clone(), &path, Presented::Header(ADMIN), body).await;
        assert_eq!(
            response.status, status,
            "{method} {path}: {}",
            response.text
        );
        assert_eq!(app.take_round_trips(), budget, "{method} {path}");
    }
    // No token: nothing is read.
    app.take_round_trips();
    call(
        &app,
        Method::POST,
        &exclusion("group"),
        Presented::Nothing,
        Some(&body),
    )
    .await;
    assert_eq!(app.take_round_trips(), 0);
}
