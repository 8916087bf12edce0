//! Deactivating an identity (a deactivating `PATCH`, a `DELETE`): a group's member leaves the
//! group, unless they are its last Owner; an instance user is blocked.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use gl_http::{ApiError, AppState};
use gl_model::{AccessLevel, Member, NamespaceId, ScimIdentity, ScimProvider};
use gl_store::StoreError;
use gl_store::repo::{Membership, ScimBase};

use crate::access::ScimRequest;
use crate::users::resource_not_found;

/// The ids of the groups SCIM paths name, as their providers were last read: a path keeps
/// its group here (nothing renames groups), so a deprovision can query the group's members
/// beside its first read. An entry the provider read contradicts costs one more round, never
/// a wrong answer.
static GROUP_IDS: LazyLock<Mutex<HashMap<String, NamespaceId>>> = LazyLock::new(Default::default);

fn known_group_id(base: &ScimBase) -> Option<NamespaceId> {
    let ScimBase::Group(path) = base else {
        return None;
    };
    GROUP_IDS.lock().ok()?.get(&path.to_lowercase()).copied()
}

pub fn remember_group_id(base: &ScimBase, provider: &ScimProvider) {
    if let (ScimBase::Group(path), Some(id)) = (base, provider.group_id())
        && let Ok(mut known) = GROUP_IDS.lock()
    {
        known.insert(path.to_lowercase(), id);
    }
}

/// A deprovisioning request's first round: the checks' reads, the identity, and the group's
/// members when its id is known; then its provider, the identity, and the members (read now
/// if they were not).
pub async fn read_for_deprovision(
    state: &AppState,
    request: &ScimRequest,
    id: &str,
) -> Result<(ScimProvider, ScimIdentity, Vec<Member>), ApiError> {
    let scim = state.repo.scim();
    let known = known_group_id(&request.base);
    let (access, identity, members) = scim
        .identity_and_members(&request.base, &request.token_digest(), id, known)
        .await?;
    let provider = request.authorize(access)?;
    remember_group_id(&request.base, &provider);
    let identity = identity.ok_or_else(|| resource_not_found(id))?;
    let members = match (provider.group_id(), members) {
        (None, _) => Vec::new(),
        (Some(group_id), Some(members)) if known == Some(group_id) => members,
        (Some(group_id), _) => scim.group_members(group_id).await?,
    };
    Ok((provider, identity, members))
}

/// `DELETE`'s and a deactivating `PATCH`'s refusal: GitLab will not remove a group's last
/// Owner.
pub fn last_owner(members: &[Member], identity: &ScimIdentity) -> bool {
    let owners: Vec<_> = members
        .iter()
        .filter(|member| member.access_level == AccessLevel::Owner)
        .map(|member| member.user_id)
        .collect();
    owners == [identity.user_id]
}

/// Another Owner than `identity`'s user, when that user is an Owner.
fn other_owner(members: &[Member], identity: &ScimIdentity) -> Option<gl_model::UserId> {
    let owners = || {
        members
            .iter()
            .filter(|member| member.access_level == AccessLevel::Owner)
    };
    owners()
        .any(|member| member.user_id == identity.user_id)
        .then(|| {
            owners()
                .map(|member| member.user_id)
                .find(|user_id| *user_id != identity.user_id)
        })
        .flatten()
}

/// Deactivates an identity: a group's member leaves the group, an instance user is blocked.
/// An Owner leaves only while another Owner of `members` (as read) is still a member; a
/// removal that raced that Owner's is a `ConditionFailed`, and the caller reads again.
pub async fn deprovision(
    state: &AppState,
    base: &ScimBase,
    provider: &ScimProvider,
    identity: &ScimIdentity,
    members: &[Member],
) -> Result<(), StoreError> {
    let deactivated = ScimIdentity {
        active: false,
        version: identity.version + 1,
        ..identity.clone()
    };
    let (membership, blocked) = match base {
        ScimBase::Group(_) => (
            Membership::Remove {
                keeping_owner: other_owner(members, identity),
            },
            None,
        ),
        ScimBase::Instance => (Membership::Keep, Some(true)),
    };
    state
        .repo
        .scim()
        .update_identity(
            base,
            provider,
            &identity.extern_uid,
            &deactivated,
            membership,
            blocked,
        )
        .await
}
