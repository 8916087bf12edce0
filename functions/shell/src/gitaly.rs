//! What the shell family needs to ask Gitaly. GitLab tells a force push by asking Gitaly
//! whether the old revision is an ancestor of the new one; until a Gitaly client exists, the
//! default port cannot tell and says so.

use async_trait::async_trait;

use gl_model::Project;

#[async_trait]
pub trait Ancestry: Send + Sync + 'static {
    /// `Some(true)` when `ancestor` is an ancestor of `descendant` in the project's
    /// repository, `Some(false)` when not (a force push), `None` when it cannot be told.
    async fn is_ancestor(
        &self,
        project: &Project,
        ancestor: &str,
        descendant: &str,
    ) -> Option<bool>;
}

/// No Gitaly connection: every push counts as a fast-forward. A known gap (README): a force
/// push to a protected branch that forbids it is not caught here; Gitaly's own hooks still
/// run the push.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unverified;

#[async_trait]
impl Ancestry for Unverified {
    async fn is_ancestor(
        &self,
        project: &Project,
        _ancestor: &str,
        _descendant: &str,
    ) -> Option<bool> {
        tracing::warn!(
            project_id = project.id,
            "force-push ancestry not verified: no Gitaly client"
        );
        None
    }
}
