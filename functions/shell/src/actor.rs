//! `Support::GitAccessActor.from_params`: who is calling, from `key_id`, `user_id`,
//! `username` or `identifier`, first match wins.

use gl_http::{ApiError, Params};
use gl_model::{SshKey, User};
use gl_store::Repository;

/// The resolved actor: a key (user or deploy key) and/or a user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actor {
    pub key: Option<SshKey>,
    pub user: Option<User>,
}

/// `Gitlab::Identifier`: `user-<id>` or `key-<id>`, anchored; anything else is nobody.
enum Identifier {
    User(i64),
    Key(i64),
}

fn parse_identifier(identifier: &str) -> Option<Identifier> {
    if let Some(id) = identifier.strip_prefix("user-") {
        return id
            .parse()
            .ok()
            .filter(|_| id.bytes().all(|b| b.is_ascii_digit()))
            .map(Identifier::User);
    }
    if let Some(id) = identifier.strip_prefix("key-") {
        return id
            .parse()
            .ok()
            .filter(|_| id.bytes().all(|b| b.is_ascii_digit()))
            .map(Identifier::Key);
    }
    None
}

impl Actor {
    /// Resolves the actor in GitLab's order. Only authentication-capable keys count: a
    /// signing-only key leaves the actor empty. A key's user is its owner (for a deploy key,
    /// its creator).
    pub async fn from_params(repo: &Repository, params: &Params) -> Result<Self, ApiError> {
        if params.has("key_id") {
            return Self::from_key(repo, params.id("key_id")).await;
        }
        if params.has("user_id") {
            let user = match params.id("user_id") {
                Some(id) => repo.user_by_id(id).await?,
                None => None,
            };
            return Ok(Self { key: None, user });
        }
        if let Some(username) = params.text("username") {
            let user = repo.user_by_username(&username).await?;
            return Ok(Self { key: None, user });
        }
        if let Some(identifier) = params.text("identifier") {
            return match parse_identifier(&identifier) {
                Some(Identifier::User(id)) => Ok(Self {
                    key: None,
                    user: repo.user_by_id(id).await?,
                }),
                // `Gitlab::Identifier#identify` answers the key's *user* only: no key actor.
                Some(Identifier::Key(id)) => Ok(Self {
                    key: None,
                    user: Self::from_key(repo, Some(id)).await?.user,
                }),
                None => Ok(Self::default()),
            };
        }
        Ok(Self::default())
    }

    async fn from_key(repo: &Repository, id: Option<i64>) -> Result<Self, ApiError> {
        let Some(id) = id else {
            return Ok(Self::default());
        };
        let Some(key) = repo.auth_key_by_id(id).await? else {
            return Ok(Self::default());
        };
        let user = match key.user_id {
            Some(user_id) => repo.user_by_id(user_id).await?,
            None => None,
        };
        Ok(Self {
            key: Some(key),
            user,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_anchored() {
        assert!(matches!(
            parse_identifier("user-7"),
            Some(Identifier::User(7))
        ));
        assert!(matches!(
            parse_identifier("key-12"),
            Some(Identifier::Key(12))
        ));
        for nobody in [
            "user-",
            "user-7x",
            "xuser-7",
            "key--1",
            "user-+7",
            "username-root",
        ] {
            assert!(parse_identifier(nobody).is_none(), "{nobody}");
        }
    }
}
