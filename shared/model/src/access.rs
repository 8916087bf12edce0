//! GitLab's access levels and visibility levels, with the integer values GitLab puts on the wire.

use serde::{Deserialize, Serialize};

/// `Gitlab::Access`: member roles as the integers the API and the seed use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum AccessLevel {
    NoAccess,
    MinimalAccess,
    Guest,
    Planner,
    Reporter,
    Developer,
    Maintainer,
    Owner,
    /// `Gitlab::Access::ADMIN`, used by protected refs to mean "instance admins only".
    Admin,
}

impl AccessLevel {
    pub const fn value(self) -> i64 {
        match self {
            Self::NoAccess => 0,
            Self::MinimalAccess => 5,
            Self::Guest => 10,
            Self::Planner => 15,
            Self::Reporter => 20,
            Self::Developer => 30,
            Self::Maintainer => 40,
            Self::Owner => 50,
            Self::Admin => 60,
        }
    }
}

impl TryFrom<i64> for AccessLevel {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Ok(match value {
            0 => Self::NoAccess,
            5 => Self::MinimalAccess,
            10 => Self::Guest,
            15 => Self::Planner,
            20 => Self::Reporter,
            30 => Self::Developer,
            40 => Self::Maintainer,
            50 => Self::Owner,
            60 => Self::Admin,
            other => {
                return Err(format!(
                    "{other} is not a GitLab access level (0, 5, 10, 15, 20, 30, 40, 50, 60)"
                ));
            }
        })
    }
}

impl From<AccessLevel> for i64 {
    fn from(level: AccessLevel) -> Self {
        level.value()
    }
}

/// `Gitlab::VisibilityLevel`, named as the REST API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Private,
    Internal,
    Public,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_levels_round_trip_through_their_integers() {
        for level in [
            AccessLevel::NoAccess,
            AccessLevel::MinimalAccess,
            AccessLevel::Guest,
            AccessLevel::Planner,
            AccessLevel::Reporter,
            AccessLevel::Developer,
            AccessLevel::Maintainer,
            AccessLevel::Owner,
            AccessLevel::Admin,
        ] {
            assert_eq!(AccessLevel::try_from(level.value()), Ok(level));
        }
        assert!(AccessLevel::try_from(35).is_err());
        assert!(AccessLevel::Developer < AccessLevel::Maintainer);
    }

    #[test]
    fn visibility_uses_gitlab_names() {
        assert_eq!(
            serde_json::to_string(&Visibility::Internal).unwrap(),
            "\"internal\""
        );
        assert!(serde_json::from_str::<Visibility>("\"secret\"").is_err());
    }
}
