//! The seed file's validation: every error names its record and field.

use super::*;
use crate::AccessLevel;

const NOW: &str = "2026-01-01T00:00:00.000Z";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMzna5aq8PDltRbXkTJV8x951Pl7NXp3IYEEAI3XhPBb root@laptop";

fn digest(token: &str) -> String {
    format!("digest:{}", token.len())
}

fn world(json: serde_json::Value) -> Result<SeedWorld, SeedError> {
    parse(json.to_string().as_bytes(), NOW, &digest)
}

fn base() -> serde_json::Value {
    serde_json::json!({
        "users": [{"id": 1, "username": "root", "name": "Administrator", "email": "admin@example.com",
                   "admin": true, "state": "active", "two_factor_enabled": false, "namespace_id": 1}],
        "keys": [{"id": 1, "user_id": 1, "title": "root@laptop", "key": KEY}],
        "groups": [{"id": 10, "path": "group", "name": "Group", "parent_id": null,
                    "members": [{"user_id": 1, "access_level": 50}]},
                   {"id": 11, "path": "sub", "name": "Sub", "parent_id": 10}],
        "projects": [{"id": 26, "namespace_id": 11, "path": "private", "visibility": "private",
                      "protected_branches": [{"name": "main", "push_access_level": 40,
                                              "merge_access_level": 40, "allow_force_push": false}]}],
        "agents": [{"id": 7, "name": "agent1", "project_id": 26, "token": "secret-agent"}],
        "scim_tokens": [{"group_path": "group", "token": "t"}, {"instance": true, "token": "u"}]
    })
}

#[test]
fn builds_full_paths_ancestors_and_digests() {
    let world = world(base()).unwrap();
    assert_eq!(world.projects[0].full_path, "group/sub/private");
    assert_eq!(world.projects[0].namespace_ancestor_ids, vec![11, 10]);
    assert_eq!(world.projects[0].root_namespace_id(), 10);
    assert_eq!(world.keys[0].owner_name.as_deref(), Some("Administrator"));
    assert_eq!(world.keys[0].created_at, NOW);
    assert_eq!(world.agents[0].token_digest, "digest:12");
    assert_eq!(
        world.group_members,
        vec![(
            10,
            Member {
                user_id: 1,
                access_level: AccessLevel::Owner
            }
        )]
    );
    assert_eq!(
        world.scim_tokens[0].scope,
        ScimScope::Group { group_id: 10 }
    );
}

#[test]
fn unknown_field_names_record_and_field() {
    let mut seed = base();
    seed["users"][0]["usrname"] = "x".into();
    let error = world(seed).unwrap_err();
    assert_eq!(error.record, "users[0]");
    assert_eq!(error.field, "usrname");
}

#[test]
fn mistyped_field_names_record_and_field() {
    let mut seed = base();
    seed["projects"][0]["archived"] = "yes".into();
    let error = world(seed).unwrap_err();
    assert_eq!(
        (error.record.as_str(), error.field.as_str()),
        ("projects[0]", "archived")
    );
}

#[test]
fn semantic_errors_name_the_record() {
    type Mutation = fn(&mut serde_json::Value);
    let cases: Vec<(Mutation, &str, &str)> = vec![
        (
            |s| s["keys"][0]["key"] = "ssh-ed25519 nope".into(),
            "keys[0] (id 1)",
            "key",
        ),
        (
            |s| s["keys"][0]["user_id"] = 5.into(),
            "keys[0] (id 1)",
            "user_id",
        ),
        (
            |s| s["groups"][1]["parent_id"] = 99.into(),
            "groups[1] (id 11)",
            "parent_id",
        ),
        (
            |s| s["projects"][0]["namespace_id"] = 99.into(),
            "projects[0] (id 26)",
            "namespace_id",
        ),
        (
            |s| s["agents"][0]["project_id"] = 1.into(),
            "agents[0] (id 7)",
            "project_id",
        ),
        (
            |s| s["users"][0]["username"] = "-bad".into(),
            "users[0] (id 1)",
            "username",
        ),
        (
            |s| s["scim_tokens"][0]["group_path"] = "group/sub".into(),
            "scim_tokens[0]",
            "group_path",
        ),
        (
            |s| s["projects"][0]["protected_branches"][0]["push_access_level"] = 35.into(),
            "projects[0].protected_branches[0]",
            "push_access_level",
        ),
    ];
    for (mutate, record, field) in cases {
        let mut seed = base();
        mutate(&mut seed);
        let error = world(seed).unwrap_err();
        assert_eq!(
            (error.record.as_str(), error.field.as_str()),
            (record, field),
            "{error}"
        );
    }
}

#[test]
fn group_cycles_are_rejected() {
    let mut seed = base();
    seed["groups"][0]["parent_id"] = 11.into();
    assert!(world(seed).unwrap_err().message.contains("cycle"));
}

#[test]
fn paths_follow_gitlab_rules() {
    assert!(valid_path("gnuwget"));
    assert!(valid_path("my.project_1-x"));
    for bad in ["", "-x", ".x", "x.git", "x.atom", "a/b", "sp ace", "x."] {
        assert!(!valid_path(bad), "{bad}");
    }
}

#[test]
fn expired_and_revoked_tokens_are_valid_data() {
    let mut seed = base();
    seed["personal_access_tokens"] = serde_json::json!([
        {"user_id": 1, "name": "old", "token": "a", "scopes": ["api"], "expires_at": "2020-01-01"},
        {"user_id": 1, "name": "gone", "token": "bb", "scopes": ["api"], "revoked": true}
    ]);
    let world = world(seed).unwrap();
    let tokens = &world.personal_access_tokens;
    assert_eq!(tokens[0].expires_at.as_deref(), Some("2020-01-01"));
    assert!(!tokens[0].revoked);
    assert!(tokens[1].revoked);
    assert_eq!((tokens[0].id, tokens[1].id), (1, 2));
}

#[test]
fn gitlab_com_defaults_to_on_and_can_be_turned_off() {
    let mut seed = base();
    seed["settings"] = serde_json::json!({"gitlab_url": "https://gitlab.example.com",
        "gitaly": {"address": "tcp://gitaly:8075", "token": "t", "storage": "default"}});
    assert!(world(seed.clone()).unwrap().settings.unwrap().gitlab_com);
    seed["settings"]["gitlab_com"] = false.into();
    assert!(!world(seed.clone()).unwrap().settings.unwrap().gitlab_com);
    seed["settings"]["gitlab_com"] = "no".into();
    assert_eq!(world(seed).unwrap_err().field, "gitlab_com");
}

fn hex_digest(token: &str) -> String {
    format!("{:064x}", token.len())
}

#[test]
fn an_export_validates_back_into_the_same_world() {
    let mut seed = base();
    seed["personal_access_tokens"] = serde_json::json!([
        {"id": 4, "user_id": 1, "name": "ci", "token": "glpat-x", "scopes": ["api"],
         "expires_at": "2030-01-01", "revoked": true}
    ]);
    seed["projects"][0]["members"] = serde_json::json!([{"user_id": 1, "access_level": 30}]);
    seed["projects"][0]["error_tracking"] = serde_json::json!({"enabled": true,
        "client_keys": [{"public_key": "pk", "active": true}]});
    seed["settings"] = serde_json::json!({"gitlab_url": "https://gitlab.example.com",
        "gitaly": {"address": "tcp://gitaly:8075", "token": "gitaly-secret", "storage": "default"}});
    let original = parse(seed.to_string().as_bytes(), NOW, &hex_digest).unwrap();

    let exported = serde_json::to_string(&original.to_file()).unwrap();
    assert!(!exported.contains("secret-agent") && !exported.contains("gitaly-secret"));
    assert!(!exported.contains("\"token\""), "{exported}");
    let mut again = parse(exported.as_bytes(), "2027-01-01T00:00:00.000Z", &|_| {
        unreachable!("an export carries digests, not tokens")
    })
    .unwrap();
    assert!(again.keeps_gitaly_token);
    assert_eq!(
        again.settings_over(original.settings.as_ref()),
        original.settings
    );
    again.settings = original.settings.clone();
    again.keeps_gitaly_token = false;
    // Agents and tokens carry no timestamp in the file: they were given `now` both times.
    for agent in &mut again.agents {
        agent.created_at = NOW.to_owned();
    }
    for token in &mut again.personal_access_tokens {
        token.created_at = NOW.to_owned();
    }
    let mut original = original;
    for world in [&mut again, &mut original] {
        world
            .scim_tokens
            .sort_by_key(|token| (token.token_digest.clone(), format!("{:?}", token.scope)));
    }
    assert_eq!(again, original);
}

#[test]
fn a_token_or_its_digest_but_not_both() {
    let cases = [
        (serde_json::json!({"token_digest": "ab"}), "token_digest"),
        (
            serde_json::json!({"token_digest": "A".repeat(64)}),
            "token_digest",
        ),
        (
            serde_json::json!({"token": "t", "token_digest": "a".repeat(64)}),
            "token",
        ),
        (serde_json::json!({}), "token"),
        (serde_json::json!({"token": ""}), "token"),
    ];
    for (token, field) in cases {
        let mut seed = base();
        let mut agent = serde_json::json!({"id": 7, "name": "agent1", "project_id": 26});
        agent
            .as_object_mut()
            .unwrap()
            .extend(token.as_object().unwrap().clone());
        seed["agents"] = serde_json::json!([agent]);
        let error = world(seed).unwrap_err();
        assert_eq!(
            (error.record.as_str(), error.field.as_str()),
            ("agents[0] (id 7)", field),
            "{error}"
        );
    }
    let mut seed = base();
    seed["agents"][0] = serde_json::json!({"id": 7, "name": "agent1", "project_id": 26,
        "token_digest": "a".repeat(64)});
    assert_eq!(world(seed).unwrap().agents[0].token_digest, "a".repeat(64));
}
