//! Users as they are created (by the seed import or by SCIM): the user with its lookups
//! (username, primary email), its personal namespace and route, and the id sequences new
//! users and namespaces are numbered from.

use gl_model::User;
use gl_model::seed::SeedWorld;
use serde::{Deserialize, Serialize};

use super::{Route, RouteSource, UserNamespace, UsernameLookup, route_write};
use crate::repo::put_new;
use crate::repo::seed::SeedRecord;
use crate::{Condition, Item, Key, VERSION_ATTRIBUTE, WriteOp, keys};

/// `EMAIL#...` items: the user whose primary email it is, with what SCIM shows of that user
/// (its resource is answered without a read of the user; nothing renames users here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EmailLookup {
    pub user_id: gl_model::UserId,
    pub username: String,
    pub name: String,
    pub email: String,
}

/// An id sequence: the last id handed out, also its version, as Postgres' sequences never
/// hand one out twice.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct IdSequence {
    pub last_id: i64,
}

/// Moves a sequence read at `read` (none: 0) on to `last_id`, only if no one else moved it
/// since.
pub(crate) fn sequence_write(key: Key, read: Option<IdSequence>, last_id: i64) -> WriteOp {
    WriteOp::Put {
        item: Item::new(key, &IdSequence { last_id }).with(VERSION_ATTRIBUTE, last_id),
        condition: match read {
            Some(read) => Condition::VersionEquals(read.last_id),
            None => Condition::NotExists,
        },
    }
}

/// A user with its username and email lookups and, when it has one, its personal namespace
/// and route.
pub(crate) fn user_writes(user: &User) -> Vec<WriteOp> {
    let mut ops = vec![
        put_new(Item::new(keys::user(user.id), user)),
        put_new(Item::new(
            keys::username(&user.username),
            &UsernameLookup { user_id: user.id },
        )),
        put_new(Item::new(
            keys::email(&user.email),
            &EmailLookup {
                user_id: user.id,
                username: user.username.clone(),
                name: user.name.clone(),
                email: user.email.clone(),
            },
        )),
    ];
    if let Some(id) = user.namespace_id {
        let namespace = UserNamespace {
            id,
            path: user.username.clone(),
            user_id: user.id,
            name: Some(user.name.clone()),
        };
        ops.push(put_new(Item::new(keys::user_namespace(id), &namespace)));
        ops.push(route_write(
            &user.username,
            &Route {
                source_type: RouteSource::Namespace,
                source_id: id,
                namespace_ancestor_ids: Vec::new(),
            },
        ));
    }
    ops
}

/// The sequences after a seed: past every user id and every namespace id it holds.
pub(crate) fn sequences_seed_record(world: &SeedWorld) -> SeedRecord {
    let last_user = world.users.iter().map(|user| user.id).max().unwrap_or(0);
    let last_namespace = world
        .users
        .iter()
        .filter_map(|user| user.namespace_id)
        .chain(world.groups.iter().map(|group| group.id))
        .max()
        .unwrap_or(0);
    SeedRecord::new(
        "id sequences".to_owned(),
        vec![
            sequence_write(keys::user_sequence(), None, last_user),
            sequence_write(keys::namespace_sequence(), None, last_namespace),
        ],
    )
}
