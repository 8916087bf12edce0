//! Provisioning that converges: a world file applied again after an edit changes the store so
//! that the next request sees the edit (revoked tokens, blocked users, renames, demotions),
//! record and lookups together; an unchanged file plans nothing.

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::*;
use gl_store::repo::provisioning::{Action, Plan};

on_both_backends!(an_edited_world_applied_is_what_the_next_request_sees);

async fn plan(app: &TestApp, world: &Value) -> Plan {
    gl_http::seed::plan(&app.repo, world.to_string().as_bytes())
        .await
        .expect("the world plans")
}

/// Applies `world`; the plan it applied.
async fn apply(app: &TestApp, world: &Value) -> Vec<(String, Action, Vec<String>)> {
    let plan = plan(app, world).await;
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
