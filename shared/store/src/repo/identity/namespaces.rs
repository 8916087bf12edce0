//! Namespaces as the admin and billing endpoints find them (`find_namespace!`): by id or by
//! full path, groups and personal namespaces only (a project's route names no namespace).

use gl_model::{Group, Namespace, NamespaceId};

use super::{Route, RouteSource, UserNamespace};
use crate::repo::{Repository, decode};
use crate::{Item, Key, StoreError, keys};

/// How an endpoint names a namespace, as `find_namespace!` reads its `:id`: digits are an id,
/// anything else a full path (URL-decoded by the router).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceRef {
    Id(NamespaceId),
    FullPath(String),
}

impl NamespaceRef {
    /// `None` for an id too large to be one: `find_by(id:)` finds nothing.
    pub fn parse(id: &str) -> Option<Self> {
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
            id.parse().ok().map(Self::Id)
        } else {
            Some(Self::FullPath(id.to_owned()))
        }
    }
}

/// The items that may hold namespace `id`: a group or a personal namespace.
pub(crate) fn namespace_keys(id: NamespaceId) -> [Key; 2] {
    [keys::group(id), keys::user_namespace(id)]
}

/// The namespace the items of [`namespace_keys`] hold, if any.
pub(crate) fn namespace_from(
    group: Option<&Item>,
    user_namespace: Option<&Item>,
) -> Result<Option<Namespace>, StoreError> {
    if let Some(group) = decode::<Group>(group)? {
        return Ok(Some(Namespace {
            id: group.id,
            name: group.name,
            full_path: group.full_path,
            root: group.parent_id.is_none(),
            group: true,
        }));
    }
    Ok(
        decode::<UserNamespace>(user_namespace)?.map(|namespace| Namespace {
            id: namespace.id,
            name: namespace.name.unwrap_or_else(|| namespace.path.clone()),
            full_path: namespace.path,
            root: true,
            group: false,
        }),
    )
}

/// The namespace a full path routes to; a project's path names none.
pub(crate) async fn namespace_id_by_path(
    repo: &Repository,
    full_path: &str,
) -> Result<Option<NamespaceId>, StoreError> {
    let route: Option<Route> = repo.get(keys::route(full_path)).await?;
    Ok(route
        .filter(|route| route.source_type == RouteSource::Namespace)
        .map(|route| route.source_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_ids_anything_else_a_path() {
        assert_eq!(NamespaceRef::parse("10"), Some(NamespaceRef::Id(10)));
        assert_eq!(
            NamespaceRef::parse("group/sub"),
            Some(NamespaceRef::FullPath("group/sub".into()))
        );
        assert_eq!(
            NamespaceRef::parse("10a"),
            Some(NamespaceRef::FullPath("10a".into()))
        );
        assert_eq!(NamespaceRef::parse("99999999999999999999"), None);
    }
}
