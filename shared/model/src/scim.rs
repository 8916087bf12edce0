//! SCIM provisioning's records: a group's (or the instance's) SAML provider, which makes it
//! SCIM-enabled, and the SCIM identities that link an identity provider's users to GitLab
//! users.

use serde::{Deserialize, Serialize};

use crate::{AccessLevel, NamespaceId, ScimScope, UserId};

/// What GitLab's `SamlProvider` (group) or instance SAML configuration gives SCIM: where
/// its identities live and which role provisioned members get. A group has one when it has
/// a SCIM token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimProvider {
    pub scope: ScimScope,
    /// The group's name, for messages ("Cannot remove ... from <group name>").
    #[serde(default)]
    pub group_name: String,
    pub default_membership_role: AccessLevel,
}

impl ScimProvider {
    pub fn group_id(&self) -> Option<NamespaceId> {
        match self.scope {
            ScimScope::Group { group_id } => Some(group_id),
            ScimScope::Instance => None,
        }
    }
}

/// `ScimIdentity` (group) / the instance's SCIM `Identity`: an identity provider's user, by
/// its `extern_uid` (the SCIM resource's `id`), linked to a GitLab user. It keeps the user's
/// username, primary email and name as they were when linked: the SCIM resource shows them
/// without a read of the user (nothing renames users or changes their emails here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimIdentity {
    pub extern_uid: String,
    pub user_id: UserId,
    /// `active`; a deprovisioned identity stays, inactive.
    pub active: bool,
    pub username: String,
    pub email: String,
    pub name: String,
    pub created_at: String,
    /// Bumped by every write: concurrent updates are conditioned on it.
    pub version: i64,
}
