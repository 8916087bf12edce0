//! Domain types and pure policy of GitLab's internal API. No AWS, no HTTP, no async: everything
//! here is plain data and functions, so the policy can be unit-tested exhaustively.

pub mod access;
pub mod billing;
pub mod fingerprint;
pub mod git_access;
pub mod json_text;
pub mod records;
pub mod ruby;
pub mod scim;
pub mod secret_text;
pub mod seed;
pub mod unique_count;

pub use access::{AccessLevel, Visibility};
pub use billing::*;
pub use records::*;
pub use scim::{ScimIdentity, ScimProvider};
pub use secret_text::SecretText;
