//! SCIM (`scim` function): Okta's and Microsoft Entra ID's request sequences with their own
//! headers and bodies, GitLab's order of checks and every error body, paging over 250
//! identities, and the round-trip budgets (writers at once: `concurrency.rs`).

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{Value, json};

use crate::support::*;

const GROUP_TOKEN: &str = "scim-group";
const INSTANCE_TOKEN: &str = "scim-instance";
const GROUP: &str = "/api/scim/v2/groups/group";
const INSTANCE: &str = "/api/scim/v2/application";

const OKTA_AGENT: &str = "Okta SCIM Client 1.0.0";
const ENTRA_AGENT: &str = "Azure-AD-SCIM-Client";

/// A SCIM call as an identity provider makes it: its user agent, the token as a bearer, and
/// a JSON body in SCIM's media type.
fn scim(
    method: Method,
    path: &str,
    token: Option<&str>,
    agent: &str,
    body: Option<&Value>,
) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("User-Agent", agent)
        .header("Accept", "application/scim+json");
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(body) => {
            request = request.header("Content-Type", "application/scim+json; charset=utf-8");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    request.body(body).expect("request builds")
}

/// Okta's call of the test world's group SCIM API, `path` below its base.
pub(crate) fn group_request(method: Method, path: &str, body: Option<&Value>) -> Request<Body> {
    scim(
        method,
        &format!("{GROUP}{path}"),
        Some(GROUP_TOKEN),
        OKTA_AGENT,
        body,
    )
}

pub(crate) async fn group_call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> TestResponse {
    app.send(group_request(method, path, body)).await
}

/// Okta's create, as its SCIM 2.0 reference shows it.
pub(crate) fn okta_user(external_id: &str, user_name: &str, email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": "Jane Doe",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

fn okta_active(active: bool) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": active}}]
    })
}

/// The group membership of user `user_id` in the test world's group, as stored.
async fn membership(app: &TestApp, user_id: i64) -> Option<Value> {
    let key = gl_store::keys::namespace_member(10, user_id);
    let item = app.repo.store().get_many(&[key]).await.unwrap().pop()??;
    Some(item.attrs["access_level"].clone())
}

/// The id of the user with this primary email.
async fn user_id_by_email(app: &TestApp, email: &str) -> Option<i64> {
    let key = gl_store::keys::email(email);
    let item = app.repo.store().get_many(&[key]).await.unwrap().pop()??;
    item.attrs["user_id"].as_i64()
}

async fn user_state(app: &TestApp, user_id: i64) -> Value {
    let user = app
        .repo
        .store()
        .get_many(&[gl_store::keys::user(user_id)])
        .await
        .unwrap()
        .pop()
        .flatten()
        .expect("the user exists");
    user.attrs["state"].clone()
}

on_both_backends!(
    oktas_sequence_on_a_group,
    entras_sequence_on_the_instance,
    existing_users_are_linked_and_checks_come_in_gitlabs_order,
    errors_are_scim_errors,
    the_last_owner_stays,
    lists_page_over_250_identities,
);

on_both_backends!(unseeded: a_groups_default_role_and_an_instance_without_saml);

/// The test world with the group's default membership role at Developer and no instance SCIM
/// token (no instance SAML).
async fn a_groups_default_role_and_an_instance_without_saml(app: TestApp) {
    let mut world: Value = serde_json::from_str(WORLD).unwrap();
    world["groups"][0]["default_membership_role"] = json!(30);
    world["scim_tokens"] = json!([{"group_path": "group", "token": GROUP_TOKEN}]);
    local_api::import_seed_bytes(
        &app.repo,
        world.to_string().as_bytes(),
        std::path::Path::new("world.json"),
    )
    .await
    .expect("the world imports");
    let created = group_call(
        &app,
        Method::POST,
        "/Users",
        Some(&okta_user("dev-1", "dev", "dev@example.com")),
    )
    .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    let user_id = user_id_by_email(&app, "dev@example.com").await.unwrap();
    assert_eq!(membership(&app, user_id).await, Some(json!(30)));
    app.send(scim(
        Method::GET,
        &format!("{INSTANCE}/Users"),
        Some(INSTANCE_TOKEN),
        ENTRA_AGENT,
        None,
    ))
    .await
    .assert_snapshot(403, "scim_instance_saml_not_enabled");
}

async fn oktas_sequence_on_a_group(app: TestApp) {
    let lookup =
        r#"/Users?filter=userName%20eq%20%22jane.doe%40example.com%22&startIndex=1&count=100"#;
    group_call(&app, Method::GET, lookup, None)
        .await
        .assert_scim_snapshot(200, "scim_okta_lookup_empty");
    assert_eq!(app.take_round_trips(), 1, "a list is one round");

    let created = group_call(
        &app,
        Method::POST,
        "/Users",
        Some(&okta_user(
            "00u1okta",
            "jane.doe@example.com",
            "jane.doe@example.com",
        )),
    )
    .await;
    created.assert_scim_snapshot(201, "scim_okta_created");
    assert_eq!(
        app.take_round_trips(),
        2,
        "a create: one read, one transaction"
    );
    let user_id = user_id_by_email(&app, "jane.doe@example.com")
        .await
        .unwrap();
    assert_eq!(membership(&app, user_id).await, Some(json!(10)), "a Guest");

    app.take_round_trips();
    group_call(&app, Method::GET, lookup, None)
        .await
        .assert_scim_snapshot(200, "scim_okta_lookup_found");
    assert_eq!(app.take_round_trips(), 1);

    let deactivated = group_call(
        &app,
        Method::PATCH,
        "/Users/00u1okta",
        Some(&okta_active(false)),
    )
    .await;
    assert_eq!(
        (deactivated.status.as_u16(), deactivated.text.as_str()),
        (204, "")
    );
    assert_eq!(
        app.take_round_trips(),
        2,
        "a deactivation: the identity with the group's members, then one transaction"
    );
    assert_eq!(
        membership(&app, user_id).await,
        None,
        "the member left the group"
    );
    group_call(&app, Method::GET, "/Users/00U1OKTA", None)
        .await
        .assert_scim_snapshot(200, "scim_okta_inactive");
    app.take_round_trips();

    let reactivated = group_call(
        &app,
        Method::PATCH,
        "/Users/00u1okta",
        Some(&okta_active(true)),
    )
    .await;
    assert_eq!(reactivated.status.as_u16(), 204, "{}", reactivated.text);
    assert_eq!(
        app.take_round_trips(),
        2,
        "a reactivation: one read, one transaction"
    );
    assert_eq!(membership(&app, user_id).await, Some(json!(10)));
    group_call(&app, Method::GET, "/Users/00u1okta", None)
        .await
        .assert_scim_snapshot(200, "scim_okta_created");

    // Attributes GitLab no longer syncs are accepted and ignored.
    let renamed = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"userName": "someone.else"}},
                       {"op": "add", "path": "name.formatted", "value": "Someone Else"}]});
    app.take_round_trips();
    let ignored = group_call(&app, Method::PATCH, "/Users/00u1okta", Some(&renamed)).await;
    assert_eq!(ignored.status.as_u16(), 204);
    assert_eq!(app.take_round_trips(), 1, "nothing to write");

    app.take_round_trips();
    let deleted = group_call(&app, Method::DELETE, "/Users/00u1okta", None).await;
    assert_eq!((deleted.status.as_u16(), deleted.text.as_str()), (204, ""));
    assert_eq!(
        app.take_round_trips(),
        2,
        "a delete: one read, one transaction"
    );
    group_call(&app, Method::GET, "/Users/00u1okta", None)
        .await
        .assert_scim_snapshot(200, "scim_okta_inactive");
    assert_eq!(membership(&app, user_id).await, None);

    // Re-POST of the same identity: 201 with it, and the membership is back.
    group_call(
        &app,
        Method::POST,
        "/Users",
        Some(&okta_user(
            "00u1okta",
            "jane.doe@example.com",
            "jane.doe@example.com",
        )),
    )
    .await
    .assert_scim_snapshot(201, "scim_okta_inactive");
    assert_eq!(membership(&app, user_id).await, Some(json!(10)));
}

async fn entras_sequence_on_the_instance(app: TestApp) {
    let call = |method: Method, path: &str, body: Option<Value>| {
        scim(
            method,
            &format!("{INSTANCE}{path}"),
            Some(INSTANCE_TOKEN),
            ENTRA_AGENT,
            body.as_ref(),
        )
    };
    // Test Connection: a user that does not exist.
    app.send(call(
        Method::GET,
        "/Users?filter=userName+eq+%22e6b5b5ef-0b0d-4c7f-9c8c-91fb1f1a2b8f%22",
        None,
    ))
    .await
    .assert_scim_snapshot(200, "scim_entra_lookup_empty");

    let entra_user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "Ryan3",
        "userName": "Ryan3@contoso.com",
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": "Ryan3@contoso.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ryan Leenay", "familyName": "Leenay", "givenName": "Ryan"},
        "roles": []
    });
    app.send(call(Method::POST, "/Users", Some(entra_user)))
        .await
        .assert_scim_snapshot(201, "scim_entra_created");
    app.send(call(
        Method::GET,
        "/Users?filter=externalId+eq+%22Ryan3%22",
        None,
    ))
    .await
    .assert_scim_snapshot(200, "scim_entra_found");
    let user_id = user_id_by_email(&app, "ryan3@contoso.com").await.unwrap();
    assert_eq!(
        membership(&app, user_id).await,
        None,
        "the instance adds no membership"
    );

    let disable = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let disabled = app
        .send(call(Method::PATCH, "/Users/Ryan3", Some(disable)))
        .await;
    assert_eq!(disabled.status.as_u16(), 204, "{}", disabled.text);
    assert_eq!(user_state(&app, user_id).await, json!("blocked"));

    // Entra's updates: capitalized ops, paths GitLab ignores, `active` as a string.
    let enable = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@contoso.com"},
            {"op": "Replace", "path": "name.familyName", "value": "Leenay-Smith"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "7"},
            {"op": "Replace", "path": "active", "value": "True"}]});
    let enabled = app
        .send(call(Method::PATCH, "/Users/Ryan3", Some(enable)))
        .await;
    assert_eq!(enabled.status.as_u16(), 204, "{}", enabled.text);
    assert_eq!(user_state(&app, user_id).await, json!("active"));
    app.send(call(Method::GET, "/Users/ryan3", None))
        .await
        .assert_scim_snapshot(200, "scim_entra_created");

    // A new externalId moves the resource.
    let moved = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "externalId", "value": "Ryan3-new"}]});
    assert_eq!(
        app.send(call(Method::PATCH, "/Users/Ryan3", Some(moved)))
            .await
            .status
            .as_u16(),
        204
    );
    app.send(call(Method::GET, "/Users/Ryan3", None))
        .await
        .assert_scim_snapshot(404, "scim_resource_moved_away");
    let found = app.send(call(Method::GET, "/Users/Ryan3-new", None)).await;
    assert_eq!(found.json()["id"], json!("Ryan3-new"));

    let deleted = app
        .send(call(Method::DELETE, "/Users/Ryan3-new", None))
        .await;
    assert_eq!((deleted.status.as_u16(), deleted.text.as_str()), (204, ""));
    assert_eq!(user_state(&app, user_id).await, json!("blocked"));
    let shown = app.send(call(Method::GET, "/Users/Ryan3-new", None)).await;
    assert_eq!(shown.json()["active"], json!(false));
}

async fn existing_users_are_linked_and_checks_come_in_gitlabs_order(app: TestApp) {
    // Alice has an account: her identity links to it, and she joins the group as a Guest.
    let linked = group_call(
        &app,
        Method::POST,
        "/Users",
        Some(&okta_user("alice-idp", "whatever", "ALICE@example.com")),
    )
    .await;
    linked.assert_scim_snapshot(201, "scim_linked_alice");
    assert_eq!(membership(&app, 2).await, Some(json!(10)));
    // A member keeps the role they have.
    group_call(
        &app,
        Method::POST,
        "/Users",
        Some(&okta_user("mia-idp", "mia", "mia@example.com")),
    )
    .await;
    assert_eq!(
        membership(&app, 6).await,
        Some(json!(40)),
        "Mia stays a Maintainer"
    );

    // A second identity for the same user in one group: 409.
    group_call(
        &app,
        Method::POST,
        "/Users",
        Some(&okta_user("alice-again", "alice2", "alice@example.com")),
    )
    .await
    .assert_scim_snapshot(409, "scim_user_already_taken");

    // A taken username is made unique; a reserved one too.
    for (external_id, user_name, email) in [
        ("bob-idp", "bob", "bob.two@example.com"),
        ("admin-idp", "admin@corp.example", "admin.two@example.com"),
    ] {
        let created = group_call(
            &app,
            Method::POST,
            "/Users",
            Some(&okta_user(external_id, user_name, email)),
        )
        .await;
        assert_eq!(created.status.as_u16(), 201, "{}", created.text);
        assert_eq!(
            created.json()["userName"],
            json!(format!("{}1", user_name.split('@').next().unwrap()))
        );
    }

    // userName filters fall back to the username, the email and its local part.
    for filter in [
        "userName%20eq%20%22Alice%22",
        "userName%20eq%20%22alice%40example.com%22",
        "userName%20eq%20%22alice-idp%22",
        "externalId%20eq%20%22ALICE-IDP%22",
        "id%20eq%20%22alice-idp%22",
    ] {
        let found = group_call(&app, Method::GET, &format!("/Users?filter={filter}"), None).await;
        assert_eq!(
            found.json()["Resources"][0]["id"],
            json!("alice-idp"),
            "{filter}"
        );
    }
    // The first clause answers; what follows is ignored.
    let found = group_call(
        &app,
        Method::GET,
        "/Users?filter=userName+eq+%22mia%22+and+externalId+eq+%22nobody%22",
        None,
    )
    .await;
    assert_eq!(found.json()["totalResults"], json!(1));
}

async fn errors_are_scim_errors(app: TestApp) {
    let get = |path: &str, token: Option<&str>| scim(Method::GET, path, token, OKTA_AGENT, None);
    // The group, its SAML configuration, then the token (a plain 401).
    app.send(get("/api/scim/v2/groups/nope/Users", None))
        .await
        .assert_scim_snapshot(404, "scim_group_not_found");
    app.send(get("/api/scim/v2/groups/Alice/Users", Some(GROUP_TOKEN)))
        .await
        .assert_scim_snapshot(404, "scim_personal_namespace_not_a_group");
    app.send(get("/api/scim/v2/groups/group%2Fsubgroup/Users", None))
        .await
        .assert_scim_snapshot(404, "scim_group_without_saml");
    for (path, token) in [
        (GROUP, None),
        (GROUP, Some("wrong")),
        (GROUP, Some(INSTANCE_TOKEN)),
        (INSTANCE, Some(GROUP_TOKEN)),
        (INSTANCE, None),
    ] {
        app.send(get(&format!("{path}/Users"), token))
            .await
            .assert_snapshot_for(401, "unauthorized", format!("{path} {token:?}"));
    }
    assert_eq!(
        app.send(get(
            &format!("{GROUP}/Users?access_token={GROUP_TOKEN}"),
            None
        ))
        .await
        .status
        .as_u16(),
        200,
        "the token as a parameter"
    );

    group_call(
        &app,
        Method::GET,
        "/Users?filter=displayName%20eq%20%22x%22",
        None,
    )
    .await
    .assert_scim_snapshot(412, "scim_unsupported_filter");
    group_call(
        &app,
        Method::GET,
        "/Users?filter=userName%20ne%20%22x%22",
        None,
    )
    .await
    .assert_scim_snapshot(412, "scim_unsupported_filter");
    group_call(
        &app,
        Method::POST,
        "/Users",
        Some(&json!({"userName": "jd", "password": "hunter2", "name": {"formatted": "J D"}})),
    )
    .await
    .assert_scim_snapshot(412, "scim_missing_params");
    group_call(
        &app,
        Method::POST,
        "/Users",
        Some(&json!({"externalId": "e", "userName": "jd", "emails": [{"primary": true, "value": "jd@example.com"}]})),
    )
    .await
    .assert_scim_snapshot(412, "scim_name_blank");
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        group_call(&app, method, "/Users/nobody", Some(&okta_active(false)))
            .await
            .assert_scim_snapshot(404, "scim_resource_not_found");
    }
    group_call(
        &app,
        Method::PUT,
        "/Users/nobody",
        Some(&okta_active(false)),
    )
    .await
    .assert_scim_snapshot(405, "scim_method_not_allowed");
    group_call(&app, Method::GET, "/Groups", None)
        .await
        .assert_scim_snapshot(404, "scim_not_found");
    app.send(scim(
        Method::POST,
        &format!("{GROUP}/Users"),
        Some(GROUP_TOKEN),
        OKTA_AGENT,
        None,
    ))
    .await
    .assert_scim_snapshot(412, "scim_missing_all_params");
}

async fn the_last_owner_stays(app: TestApp) {
    // Root is the group's one Owner: linked by email, then refused removal both ways.
    group_call(
        &app,
        Method::POST,
        "/Users",
        Some(&okta_user("root-idp", "root", "admin@example.com")),
    )
    .await
    .assert_scim_snapshot(201, "scim_linked_root");
    assert_eq!(membership(&app, 1).await, Some(json!(50)), "still an Owner");
    group_call(&app, Method::DELETE, "/Users/root-idp", None)
        .await
        .assert_scim_snapshot(412, "scim_last_owner");
    group_call(
        &app,
        Method::PATCH,
        "/Users/root-idp",
        Some(&okta_active(false)),
    )
    .await
    .assert_scim_snapshot(412, "scim_last_owner_patch");
    assert_eq!(
        membership(&app, 1).await,
        Some(json!(50)),
        "nothing changed"
    );
    group_call(&app, Method::GET, "/Users/root-idp", None)
        .await
        .assert_scim_snapshot(200, "scim_linked_root");
}

async fn lists_page_over_250_identities(app: TestApp) {
    // 250 identities stored directly (creating them one by one is what the other tests do;
    // here it would only slow the emulator down), in transactions of 100.
    let identities: Vec<gl_model::ScimIdentity> = (0..250)
        .map(|n| gl_model::ScimIdentity {
            extern_uid: format!("idp-{n:03}"),
            user_id: 1000 + n,
            active: true,
            username: format!("user{n:03}"),
            email: format!("user{n:03}@example.com"),
            name: format!("User {n:03}"),
            created_at: "2026-12-01T00:00:00.000Z".to_owned(),
            version: 1,
        })
        .collect();
    for chunk in identities.chunks(100) {
        let ops = chunk
            .iter()
            .map(|identity| gl_store::WriteOp::Put {
                item: gl_store::Item::new(
                    gl_store::keys::scim_identity(Some("group"), &identity.extern_uid),
                    identity,
                ),
                condition: gl_store::Condition::NotExists,
            })
            .collect();
        app.repo.store().write(ops).await.unwrap();
    }
    let page = |query: &str| {
        let app = &app;
        let query = query.to_owned();
        async move {
            group_call(app, Method::GET, &format!("/Users?{query}"), None)
                .await
                .json()
        }
    };
    let mut seen = Vec::new();
    for start in [1, 101, 201] {
        app.take_round_trips();
        let listed = page(&format!("startIndex={start}&count=100")).await;
        assert_eq!(app.take_round_trips(), 1, "any page is one round");
        assert_eq!(
            (
                &listed["totalResults"],
                &listed["itemsPerPage"],
                &listed["startIndex"]
            ),
            (&json!(250), &json!(100), &json!(start))
        );
        for resource in listed["Resources"].as_array().unwrap() {
            seen.push(resource["id"].as_str().unwrap().to_owned());
        }
    }
    let expected: Vec<String> = (0..250).map(|n| format!("idp-{n:03}")).collect();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "every identity once over the pages");
    // GitLab's paging rules: no count is 20, over 100 is 100, a start below 1 is 1 (echoed).
    let default = page("").await;
    assert_eq!(
        (
            &default["itemsPerPage"],
            default["Resources"].as_array().unwrap().len()
        ),
        (&json!(20), 20)
    );
    let capped = page("count=500&startIndex=0").await;
    assert_eq!(
        (
            &capped["itemsPerPage"],
            &capped["startIndex"],
            capped["Resources"].as_array().unwrap().len()
        ),
        (&json!(100), &json!(0), 100)
    );
    let beyond = page("startIndex=251").await;
    assert_eq!(
        (
            &beyond["totalResults"],
            beyond["Resources"].as_array().unwrap().len()
        ),
        (&json!(250), 0)
    );
}
