//! What a git access decision reads (`/allowed`, `/lfs_authenticate`): the actor, the project
//! or its wiki, the user's memberships and the settings, in two round trips whatever the
//! request.

use gl_model::{AccessLevel, Project, ProjectId, RepoType, Settings, SshKey, User};

use super::identity::{FoundActor, Route, project_membership_keys};
use super::shell::NewLfsToken;
use super::{Repository, decode};
use crate::{Item, Key, StoreError, keys};

pub use super::identity::ActorQuery;

/// How a request names the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectQuery {
    Id(ProjectId),
    FullPath(String),
    /// A git repository path as typed on the SSH command line, without `.git`: a project, or
    /// `<project>.wiki` for its wiki. Resolved as `Gitlab::RepoPath.parse` does, the project
    /// reading first; GitLab refuses a project path that clashes with another's wiki.
    RepositoryPath(String),
    Nothing,
}

/// Everything a git access decision reads.
#[derive(Debug, Clone, PartialEq)]
pub struct GitAccessRecords {
    pub key: Option<SshKey>,
    pub user: Option<User>,
    pub project: Option<Project>,
    /// The user's highest role on the project (direct, inherited, or personal-namespace owner).
    pub member_access: AccessLevel,
    /// Whether a `RepositoryPath` named the project's wiki rather than its code.
    pub repo_type: RepoType,
    pub settings: Settings,
}

#[derive(Clone, Copy)]
pub struct GitAccess<'r> {
    pub(super) repo: &'r Repository,
}

/// A project id with its namespace chain, nearest first.
type ProjectChain = (ProjectId, Vec<i64>);

/// The project item(s) round 1 found, as a route or the record itself.
fn found_project(
    query: &ProjectQuery,
    items: &[Option<Item>],
) -> Result<(Option<Project>, Option<ProjectChain>, RepoType), StoreError> {
    if let ProjectQuery::Id(_) = query {
        let project: Option<Project> = decode(items.first().and_then(Option::as_ref))?;
        let target = project
            .as_ref()
            .map(|found| (found.id, found.namespace_ancestor_ids.clone()));
        return Ok((project, target, RepoType::Project));
    }
    let routes: Vec<Option<ProjectChain>> = items
        .iter()
        .map(|item| Ok(decode::<Route>(item.as_ref())?.and_then(Route::project)))
        .collect::<Result<_, StoreError>>()?;
    Ok(match routes.as_slice() {
        // `<path>.wiki` is the wiki only when `<path>.wiki` is no project of its own.
        [None, Some(wiki)] => (None, Some(wiki.clone()), RepoType::Wiki),
        [code, ..] => (None, code.clone(), RepoType::Project),
        [] => (None, None, RepoType::Project),
    })
}

impl GitAccess<'_> {
    /// Round 1 reads the actor's item, the project (or its route, which carries the namespace
    /// chain) and the settings; round 2 reads what those point to: the user, the project, and
    /// the membership items of the project and of every ancestor namespace.
    pub async fn load(
        self,
        actor: &ActorQuery,
        project: &ProjectQuery,
    ) -> Result<GitAccessRecords, StoreError> {
        self.load_inner(actor, project, None).await
    }

    /// [`Self::load`], storing `token` for whoever round 1 identifies (`user-<id>` or
    /// `key-<id>`) and the project it found, alongside round 2. The token lands even if the
    /// request is then refused, which is harmless: nobody was given it.
    pub async fn load_and_store_lfs_token(
        self,
        actor: &ActorQuery,
        project: &ProjectQuery,
        token: &NewLfsToken,
    ) -> Result<GitAccessRecords, StoreError> {
        self.load_inner(actor, project, Some(token)).await
    }

    async fn load_inner(
        self,
        actor: &ActorQuery,
        project: &ProjectQuery,
        lfs_token: Option<&NewLfsToken>,
    ) -> Result<GitAccessRecords, StoreError> {
        let actor_key = actor.key();
        let project_keys = match project {
            ProjectQuery::Id(id) => vec![keys::project(*id)],
            ProjectQuery::FullPath(path) => vec![keys::route(path)],
            ProjectQuery::RepositoryPath(path) => {
                let wiki = path
                    .strip_suffix(RepoType::Wiki.path_suffix())
                    .filter(|project_path| !project_path.is_empty());
                std::iter::once(path.as_str())
                    .chain(wiki)
                    .map(keys::route)
                    .collect()
            }
            ProjectQuery::Nothing => Vec::new(),
        };
        let mut first_keys: Vec<Key> = actor_key.iter().cloned().collect();
        first_keys.extend(project_keys);
        let (first, settings) = self.repo.get_many_with_settings(&first_keys).await?;
        let actor_item = match actor_key {
            Some(_) => first[0].as_ref(),
            None => None,
        };
        let project_items = &first[usize::from(actor_key.is_some())..];
        let FoundActor {
            key,
            mut user,
            user_id,
        } = actor.resolve(actor_item)?;
        let (mut project_record, target, repo_type) = found_project(project, project_items)?;

        let mut second_keys = Vec::new();
        if user.is_none()
            && let Some(id) = user_id
        {
            second_keys.push(keys::user(id));
        }
        if project_record.is_none()
            && let Some((id, _)) = &target
        {
            second_keys.push(keys::project(*id));
        }
        let membership_start = second_keys.len();
        if let (Some(uid), Some((pid, ancestors))) = (user_id, &target) {
            second_keys.extend(project_membership_keys(*pid, ancestors, uid));
        }
        let identifier = match (actor, &key) {
            (ActorQuery::KeyId(_), Some(key)) => Some(format!("key-{}", key.id)),
            (ActorQuery::KeyId(_), None) => None,
            _ => user_id.map(|id| format!("user-{id}")),
        };
        let side_write = async {
            match (lfs_token, identifier, &target) {
                (Some(token), Some(actor), Some((project_id, _))) => {
                    self.repo
                        .write(vec![token.write(&actor, *project_id)])
                        .await
                }
                _ => Ok(()),
            }
        };
        let reads = async {
            if second_keys.is_empty() {
                Ok(Vec::new())
            } else {
                self.repo.get_many(&second_keys).await
            }
        };
        let (written, second) = tokio::join!(side_write, reads);
        written?;
        let second = second?;
        let mut next = 0;
        if user.is_none() && user_id.is_some() {
            user = decode(second[next].as_ref())?;
            next += 1;
        }
        if project_record.is_none() && target.is_some() {
            project_record = decode(second[next].as_ref())?;
        }
        let member_access = match user_id {
            Some(user_id) => super::identity::highest_role(
                &second_keys[membership_start..],
                &second[membership_start..],
                user_id,
            )?,
            None => AccessLevel::NoAccess,
        };
        Ok(GitAccessRecords {
            key,
            user,
            project: project_record,
            member_access,
            repo_type,
            settings,
        })
    }
}
