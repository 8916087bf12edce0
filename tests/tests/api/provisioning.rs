//! Provisioning that converges: a world file applied again after an edit changes the store so
//! that the next request sees the edit (revoked tokens, blocked users, renames, demotions),
//! record and lookups together; an unchanged file plans nothing.

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::*;
use gl_store::repo::provisioning::{Action, Plan};

on_both_backends!(
    an_edited_world_applied_is_what_the_next_request_sees,
    prune_removes_what_the_file_dropped_and_leaves_what_the_service_made,
    an_export_applied_plans_nothing_and_holds_no_token,
    a_scan_pages_through_every_item_once
);

async fn plan(app: &TestApp, world: &Value) -> Plan {
    plan_pruning(app, world, false).await
}

async fn plan_pruning(app: &TestApp, world: &Value, prune: bool) -> Plan {
    gl_http::seed::plan(&app.repo, world.to_string().as_bytes(), prune)
        .await
        .expect("the world plans")
}

/// Applies `world`; the plan it applied.
async fn apply(app: &TestApp, world: &Value) -> Vec<(String, Action, Vec<String>)> {
    apply_pruning(app, world, false).await
}

async fn apply_pruning(
    app: &TestApp,
    world: &Value,
    prune: bool,
) -> Vec<(String, Action, Vec<String>)> {
    let plan = plan_pruning(app, world, prune).await;
    let mut applied = Vec::new();
    for change in plan.changes {
        let fields = change.fields.iter().map(|f| f.field.clone()).collect();
        applied.push((change.record.clone(), change.action, fields));
        app.repo
            .provisioning()
            .apply(change)
            .await
            .expect("applies");
    }
    app.repo.forget_settings();
    applied
}

fn user_mut(world: &mut Value, id: i64) -> &mut Value {
    world["users"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|user| user["id"] == id)
        .unwrap()
}

async fn allowed(app: &TestApp, who: (&str, i64), project: &str) -> (u16, String) {
    let mut body = json!({"action": "git-upload-pack", "project": project, "changes": "_any", "protocol": "ssh"});
    body[who.0] = json!(who.1.to_string());
    let response = app.shell_post("/api/v4/internal/allowed", &body).await;
    let message = response.json()["message"].as_str().unwrap_or("").to_owned();
    (response.status.as_u16(), message)
}

async fn an_edited_world_applied_is_what_the_next_request_sees(app: TestApp) {
    let mut world: Value = serde_json::from_str(WORLD).unwrap();
    // The seeded world, imported before: applying it adopts every record and changes none.
    let adopted = apply(&app, &world).await;
    assert!(
        adopted.iter().all(|(_, _, fields)| fields.is_empty()),
        "{adopted:?}"
    );
    assert!(
        plan(&app, &world).await.is_empty(),
        "a second apply plans nothing"
    );

    world["agents"][0]["revoked"] = json!(true);
    world["personal_access_tokens"][0]["revoked"] = json!(true);
    user_mut(&mut world, 11)["state"] = json!("blocked");
    user_mut(&mut world, 2)["username"] = json!("Alicia");
    user_mut(&mut world, 2)["name"] = json!("Alicia Smith");
    let private = world["projects"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|project| project["id"] == 26)
        .unwrap();
    for member in private["members"].as_array_mut().unwrap() {
        if member["user_id"] == 5 {
            member["access_level"] = json!(10);
        }
    }
    world["projects"][1]["path"] = json!("internal-renamed");

    assert_eq!(allowed(&app, ("user_id", 5), "group/private").await.0, 200);
    let applied = apply(&app, &world).await;
    let changed: Vec<(&str, &[String])> = applied
        .iter()
        .map(|(record, action, fields)| {
            assert_eq!(*action, Action::Update, "{record}");
            (record.as_str(), fields.as_slice())
        })
        .collect();
    for (record, field) in [
        ("agent 7", "revoked"),
        ("user 11", "state"),
        ("user 2", "username"),
        ("project 26 member 5", "access_level"),
        ("project 27", "path"),
    ] {
        assert!(
            changed
                .iter()
                .any(|(name, fields)| *name == record && fields.iter().any(|f| f == field)),
            "{record} {field}: {changed:?}"
        );
    }
    assert!(plan(&app, &world).await.is_empty(), "applied: nothing left");

    // The revoked agent token and personal access token no longer authenticate.
    let agent_info = app
        .agent_send(Method::GET, "/api/v4/internal/kubernetes/agent_info", None)
        .await;
    assert_eq!(agent_info.status.as_u16(), 401, "{}", agent_info.text);
    app.set_gitlab_com(true).await;
    let listed = app
        .send(private_token_request(
            "/api/v4/namespaces/storage/limit_exclusions",
            Some("pat-plaintext"),
        ))
        .await;
    assert_eq!(listed.status.as_u16(), 401, "{}", listed.text);
    // The blocked user is refused; the member demoted to Guest sees the project but may no
    // longer download its code.
    assert_eq!(
        allowed(&app, ("user_id", 11), "group/private").await,
        (401, "Your account has been blocked.".to_owned())
    );
    assert_eq!(
        allowed(&app, ("user_id", 5), "group/private").await,
        (
            401,
            "You are not allowed to download code from this project.".to_owned()
        )
    );
    // The renamed user is found by the new name only, and so is their namespace's project;
    // the renamed project by its new path only.
    let discovered = app
        .shell_get("/api/v4/internal/discover?username=Alicia")
        .await;
    assert_eq!(
        discovered.json()["username"],
        "Alicia",
        "{}",
        discovered.text
    );
    let old = app
        .shell_get("/api/v4/internal/discover?username=Alice")
        .await;
    assert_eq!(old.text, "null");
    // The owner's name kept on their keys is the new one in /authorized_keys.
    let key_2 = app
        .shell_get(&format!(
            "/api/v4/internal/authorized_keys?key={}",
            crate::query_escape(&crate::world_blob(1))
        ))
        .await;
    let published = key_2.json()["key"].as_str().unwrap().to_owned();
    assert!(
        published.ends_with(" Alicia Smith (gitlab.example.com)"),
        "{published}"
    );
    assert_eq!(allowed(&app, ("key_id", 2), "Alicia/dotfiles").await.0, 200);
    assert_eq!(allowed(&app, ("key_id", 2), "Alice/dotfiles").await.0, 404);
    assert_eq!(
        allowed(&app, ("key_id", 2), "group/internal-renamed")
            .await
            .0,
        200
    );
    assert_eq!(
        allowed(&app, ("key_id", 2), "group/internal-proj").await.0,
        404
    );
}

async fn prune_removes_what_the_file_dropped_and_leaves_what_the_service_made(app: TestApp) {
    use crate::{query_escape, world_blob};
    let mut world: Value = serde_json::from_str(WORLD).unwrap();
    apply(&app, &world).await;
    // What the service makes itself: a token minted over SSH, a user SCIM provisions.
    let minted = app
        .shell_post(
            "/api/v4/internal/personal_access_token",
            &json!({"key_id": "2", "name": "laptop", "scopes": ["read_api"]}),
        )
        .await;
    let minted = minted.json()["token"].as_str().unwrap().to_owned();
    let scim_user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "externalId": "prune-1", "userName": "scimmed", "active": true,
        "name": {"formatted": "Scim Med", "givenName": "Scim", "familyName": "Med"}, "emails": [{"primary": true, "type": "work", "value": "scimmed@example.com"}]});
    let created = app
        .send(
            axum::http::Request::post("/api/scim/v2/groups/group/Users")
                .header("Authorization", "Bearer scim-group")
                .header("Content-Type", "application/scim+json")
                .body(axum::body::Body::from(scim_user.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    let key_6 = format!(
        "/api/v4/internal/authorized_keys?key={}",
        query_escape(&world_blob(5))
    );
    assert_eq!(app.shell_get(&key_6).await.status.as_u16(), 200);

    // The file drops key 6 and a group membership, and replaces the group's SCIM token (as
    // GitLab revokes one: a new token is generated in its place).
    world["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|key| key["id"] != 6);
    world["scim_tokens"][0]["token"] = json!("scim-group-regenerated");
    world["groups"][0]["members"]
        .as_array_mut()
        .unwrap()
        .retain(|member| member["user_id"] != 6);
    assert_eq!(
        plan(&app, &world).await.counts(),
        (1, 0, 0),
        "without --prune nothing is deleted"
    );

    let pruning = plan_pruning(&app, &world, true).await;
    let deleted: Vec<&str> = pruning
        .changes
        .iter()
        .filter(|change| change.action == Action::Delete)
        .map(|change| change.record.as_str())
        .collect();
    assert_eq!(deleted.len(), 3, "{deleted:?}");
    assert_eq!(
        pruning.counts(),
        (1, 0, 3),
        "the new token created, three deleted"
    );
    for record in ["key 6", "a scim token", "group 10 member 6"] {
        assert!(deleted.contains(&record), "{record}: {deleted:?}");
    }
    assert_eq!(
        pruning.left_alone["personal access tokens minted through /personal_access_token"],
        1
    );
    assert_eq!(
        pruning.left_alone["users created through SCIM (or imported before apply)"],
        1
    );
    apply_pruning(&app, &world, true).await;
    assert!(
        plan_pruning(&app, &world, true).await.is_empty(),
        "converged"
    );

    // The next requests see it: the key is gone, the SCIM token refused, the member out.
    assert_eq!(app.shell_get(&key_6).await.status.as_u16(), 404);
    let scim = app
        .send(
            axum::http::Request::get("/api/scim/v2/groups/group/Users")
                .header("Authorization", "Bearer scim-group")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(scim.status.as_u16(), 401, "{}", scim.text);
    let regenerated = app
        .send(
            axum::http::Request::get("/api/scim/v2/groups/group/Users")
                .header("Authorization", "Bearer scim-group-regenerated")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(regenerated.status.as_u16(), 200, "{}", regenerated.text);
    assert_eq!(allowed(&app, ("user_id", 6), "group/private").await.0, 404);
    // And what the service made is still there.
    let token = app
        .repo
        .identity()
        .personal_access_token_by_digest(&gl_auth::token_digest(&minted))
        .await
        .unwrap();
    assert!(token.is_some(), "the minted token survives a prune");
    let user = app
        .shell_get("/api/v4/internal/discover?username=scimmed")
        .await;
    assert_eq!(
        user.json()["username"],
        "scimmed",
        "the SCIM user survives a prune"
    );
}

/// `provision export`: the managed world written back in the file format. Applying it, even
/// with prune, plans nothing; it names tokens only by digest; what the service made is left out.
async fn an_export_applied_plans_nothing_and_holds_no_token(app: TestApp) {
    let world: Value = serde_json::from_str(WORLD).unwrap();
    apply(&app, &world).await;
    let minted = app
        .shell_post(
            "/api/v4/internal/personal_access_token",
            &json!({"key_id": "2", "name": "laptop", "scopes": ["read_api"]}),
        )
        .await;
    assert_eq!(minted.status.as_u16(), 200, "{}", minted.text);

    let (document, left_out) = gl_http::seed::export(&app.repo).await.expect("exports");
    let exported: Value = serde_json::from_str(&document).expect("an export is JSON");
    for kind in [
        "users",
        "keys",
        "groups",
        "projects",
        "agents",
        "personal_access_tokens",
        "scim_tokens",
    ] {
        assert_eq!(
            exported[kind].as_array().map(Vec::len),
            world[kind].as_array().map(Vec::len),
            "{kind}"
        );
    }
    let mut plaintexts: Vec<String> = ["agents", "personal_access_tokens", "scim_tokens"]
        .iter()
        .flat_map(|kind| world[*kind].as_array().unwrap().clone())
        .map(|record| record["token"].as_str().unwrap().to_owned())
        .collect();
    plaintexts.push(
        world["settings"]["gitaly"]["token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    plaintexts.push(minted.json()["token"].as_str().unwrap().to_owned());
    for plaintext in plaintexts.iter().filter(|text| !text.is_empty()) {
        assert!(
            !document.contains(plaintext.as_str()),
            "{plaintext} exported"
        );
    }
    assert!(!document.contains("\"token\""), "{document}");
    assert_eq!(
        left_out["personal access tokens minted through /personal_access_token"],
        1
    );

    let replanned = plan_pruning(&app, &exported, true).await;
    assert!(
        replanned.is_empty(),
        "{:?}",
        replanned
            .changes
            .iter()
            .map(|c| &c.record)
            .collect::<Vec<_>>()
    );
    let stored_gitaly = app.repo.identity().settings().await.unwrap().gitaly.token;
    assert_eq!(
        stored_gitaly.expose(),
        world["settings"]["gitaly"]["token"].as_str().unwrap(),
        "a file without Gitaly's token keeps the stored one"
    );
    let (again, _) = gl_http::seed::export(&app.repo).await.unwrap();
    assert_eq!(again, document, "an export is stable");

    // An edit to the export is planned like any other file's.
    let mut edited = exported.clone();
    edited["agents"][0]["revoked"] = json!(true);
    let plan = plan(&app, &edited).await;
    assert_eq!(plan.counts(), (0, 1, 0));
    assert_eq!(plan.changes[0].record, "agent 7");
}

/// The store's whole-table scan (what a prune reads) returns every item exactly once, however
/// it is paged.
async fn a_scan_pages_through_every_item_once(app: TestApp) {
    let store = app.repo.store();
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store.scan(after.as_ref(), 1000).await.unwrap();
        all.extend(page.items.into_iter().map(|item| item.key));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert!(all.len() > 50, "{}", all.len());
    let mut paged = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store.scan(after.as_ref(), 7).await.unwrap();
        assert!(page.items.len() <= 7);
        pages += 1;
        paged.extend(page.items.into_iter().map(|item| item.key));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert!(pages > 5);
    all.sort();
    paged.sort();
    let distinct: std::collections::BTreeSet<_> = paged.iter().collect();
    assert_eq!(distinct.len(), paged.len(), "no item twice");
    assert_eq!(paged, all);
}
