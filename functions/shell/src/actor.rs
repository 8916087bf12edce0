//! `Support::GitAccessActor.from_params`: who is calling, from `key_id`, `user_id`,
//! `username` or `identifier`, first match wins. Every shell endpoint names its actor here.

use gl_http::Params;
use gl_store::repo::ActorQuery;

/// `Gitlab::Identifier`: `user-<id>` or `key-<id>`, anchored; anything else is nobody.
fn parse_identifier(identifier: &str) -> ActorQuery {
    let id = |digits: &str| {
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    if let Some(user_id) = identifier.strip_prefix("user-").and_then(id) {
        return ActorQuery::UserId(user_id);
    }
    if let Some(key_id) = identifier.strip_prefix("key-").and_then(id) {
        return ActorQuery::KeyOwner(key_id);
    }
    ActorQuery::Nobody
}

/// The actor in GitLab's order. An id that is not an integer names nobody. Only
/// authentication-capable keys count (the store's resolution drops a signing-only key), and a
/// key's user is its owner (for a deploy key, its creator).
pub fn actor_query(params: &Params) -> ActorQuery {
    if params.has("key_id") {
        return params
            .id("key_id")
            .map_or(ActorQuery::Nobody, ActorQuery::KeyId);
    }
    if params.has("user_id") {
        return params
            .id("user_id")
            .map_or(ActorQuery::Nobody, ActorQuery::UserId);
    }
    if let Some(username) = params.text("username") {
        return ActorQuery::Username(username);
    }
    match params.text("identifier") {
        Some(identifier) => parse_identifier(&identifier),
        None => ActorQuery::Nobody,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_anchored() {
        assert_eq!(parse_identifier("user-7"), ActorQuery::UserId(7));
        assert_eq!(parse_identifier("key-12"), ActorQuery::KeyOwner(12));
        for nobody in [
            "user-",
            "user-7x",
            "xuser-7",
            "key--1",
            "user-+7",
            "username-root",
        ] {
            assert_eq!(parse_identifier(nobody), ActorQuery::Nobody, "{nobody}");
        }
    }
}
