//! `Gitlab::GitAccess` for project repositories and `Gitlab::GitAccessWiki` for their wikis:
//! who may pull and push what, in GitLab's check order and with GitLab's messages. Pure: the
//! caller loads the records, this decides.

use crate::records::{Project, ProtectedBranch, RepoType, SshKey, User, UserState};
use crate::{AccessLevel, Visibility};

/// The git commands GitLab Shell and Gitaly ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitCommand {
    UploadPack,
    UploadArchive,
    ReceivePack,
}

impl GitCommand {
    pub fn parse(action: &str) -> Option<Self> {
        match action {
            "git-upload-pack" => Some(Self::UploadPack),
            "git-upload-archive" => Some(Self::UploadArchive),
            "git-receive-pack" => Some(Self::ReceivePack),
            _ => None,
        }
    }

    /// The `action` GitLab Shell names it by.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UploadPack => "git-upload-pack",
            Self::UploadArchive => "git-upload-archive",
            Self::ReceivePack => "git-receive-pack",
        }
    }

    pub fn is_download(self) -> bool {
        !matches!(self, Self::ReceivePack)
    }
}

/// One line of `changes`: `<oldrev> <newrev> <ref>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub oldrev: String,
    pub newrev: String,
    pub refname: String,
}

fn is_blank_rev(rev: &str) -> bool {
    !rev.is_empty() && rev.bytes().all(|b| b == b'0')
}

fn is_object_id(rev: &str) -> bool {
    (rev.len() == 40 || rev.len() == 64) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Change {
    pub fn is_creation(&self) -> bool {
        is_blank_rev(&self.oldrev)
    }

    pub fn is_deletion(&self) -> bool {
        is_blank_rev(&self.newrev)
    }

    pub fn branch_name(&self) -> Option<&str> {
        self.refname.strip_prefix("refs/heads/")
    }

    pub fn tag_name(&self) -> Option<&str> {
        self.refname.strip_prefix("refs/tags/")
    }
}

/// `changes` as GitLab Shell (`_any`) or Gitaly (one line per ref) send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// GitLab Shell asks before it knows the refs.
    Any,
    List(Vec<Change>),
}

impl Changes {
    /// `Gitlab::ChangesList`: lines are stripped and split on whitespace; blank lines are
    /// skipped. A line that is not three fields with 40- or 64-hex ids is an error naming it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim() == "_any" {
            return Ok(Self::Any);
        }
        let mut changes = Vec::with_capacity(raw.len() / 90 + 1);
        // Ruby's `strip` and `split` (no argument) know ASCII whitespace only.
        for line in raw
            .split('\n')
            .map(|line| line.trim_ascii())
            .filter(|line| !line.is_empty())
        {
            let mut fields = line.split_ascii_whitespace();
            match (fields.next(), fields.next(), fields.next(), fields.next()) {
                (Some(oldrev), Some(newrev), Some(refname), None)
                    if is_object_id(oldrev) && is_object_id(newrev) =>
                {
                    changes.push(Change {
                        oldrev: oldrev.to_owned(),
                        newrev: newrev.to_owned(),
                        refname: refname.to_owned(),
                    })
                }
                _ => return Err(line.to_owned()),
            }
        }
        Ok(Self::List(changes))
    }

    pub fn list(&self) -> &[Change] {
        match self {
            Self::Any => &[],
            Self::List(changes) => changes,
        }
    }
}

/// Who is asking: a user (possibly through their key) or a deploy key, or nobody.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub key: Option<&'a SshKey>,
    pub user: Option<&'a User>,
}

/// A refusal: the HTTP status GitLab uses (401 for forbidden, 404 for not found) and its
/// message, which GitLab Shell prints to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: u16,
    pub message: String,
    /// Why, as the key of the message in GitLab's own tables (`GitAccess::ERROR_MESSAGES`,
    /// `Gitlab::Checks::BranchCheck::ERROR_MESSAGES`, ...): what the access decision's log
    /// line says, where the message is for the user.
    pub reason: &'static str,
}

fn forbidden(reason: &'static str, message: impl Into<String>) -> Denial {
    Denial {
        status: 401,
        message: message.into(),
        reason,
    }
}

pub const PROJECT_NOT_FOUND: &str =
    "The project you were looking for could not be found or you don't have permission to view it.";
pub const WIKI_NOT_FOUND: &str = "The wiki you were looking for could not be found.";
pub const WIKI_DOWNLOAD: &str = "You are not allowed to download files from this wiki.";
pub const WIKI_WRITE: &str = "You are not allowed to write to this project's wiki.";
pub const COMMAND_NOT_ALLOWED: &str = "The command you're trying to execute is not allowed.";
pub const PUSH_CODE: &str = "You are not allowed to push code to this project.";

/// Whether a force push really rewrote history is Gitaly's to say (is oldrev an ancestor of
/// newrev?); the caller asks where [`ancestry_matters`] and passes the answer per change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForcePush {
    Yes,
    No,
    /// Gitaly could not answer (unreachable, too slow, an error, none configured): an update
    /// the answer would decide is refused, never silently allowed.
    Unknown(&'static str),
}

/// The refusal of an update whose history Gitaly could not check.
pub const GITALY_UNAVAILABLE: &str = "Gitaly could not tell whether this push rewrites the history of a protected branch that forbids force pushes, so it is refused. Try again later.";

/// Whether Gitaly's answer for `change` can change the outcome: an update (not a creation or
/// a deletion) of a protected branch, none of whose rules allows force pushes, by an actor
/// whom one of those rules lets push. Anyone else is decided without Gitaly.
pub fn ancestry_matters(request: &Request<'_>, change: &Change) -> bool {
    let (Some(project), Some(branch)) = (request.project, change.branch_name()) else {
        return false;
    };
    if change.is_creation() || change.is_deletion() {
        return false;
    }
    let rules = matching_branches(project, branch);
    if rules.is_empty() || rules.iter().any(|rule| rule.allow_force_push) {
        return false;
    }
    let pusher = if is_deploy_actor(request) {
        if !deploy_key_link(request, project).is_some_and(|link| link.can_push) {
            return false;
        }
        Pusher::DeployKey
    } else if request.actor.user.is_some() {
        Pusher::User(role(request))
    } else {
        return false;
    };
    rules
        .iter()
        .any(|rule| pusher.reaches(rule.push_access_level))
}

/// Everything the decision needs about one request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub actor: Actor<'a>,
    pub project: Option<&'a Project>,
    /// The project's code repository or its wiki.
    pub repo_type: RepoType,
    /// The user's highest membership on the project: direct, or inherited from any ancestor
    /// group; Owner for the owner of a personal namespace.
    pub member_access: AccessLevel,
    pub command: Option<GitCommand>,
    pub changes: &'a Changes,
    pub gitlab_url: &'a str,
    /// Seconds since the epoch, for key expiry.
    pub now: i64,
}

/// A successful check: the project it granted access to, and what to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted<'a> {
    pub project: &'a Project,
    pub console_messages: Vec<String>,
}

fn key_expiry(key: &SshKey) -> Option<i64> {
    key.expires_at
        .as_deref()
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.timestamp())
}

/// The effective role: admins act with full rights through the internal API.
fn role(request: &Request<'_>) -> AccessLevel {
    match request.actor.user {
        Some(user) if user.admin => AccessLevel::Admin,
        Some(_) => request.member_access,
        None => AccessLevel::NoAccess,
    }
}

fn deploy_key_link<'a>(
    request: &Request<'a>,
    project: &Project,
) -> Option<&'a crate::records::DeployKeyProject> {
    let key = request.actor.key.filter(|key| key.deploy)?;
    key.deploy_projects
        .iter()
        .find(|link| link.project_id == project.id)
}

fn user_can_read(request: &Request<'_>, project: &Project) -> bool {
    if role(request) >= AccessLevel::Guest {
        return true;
    }
    match project.visibility {
        Visibility::Public => true,
        // Any signed-in user; external users (not modelled yet) would need membership.
        Visibility::Internal => request.actor.user.is_some() && !is_deploy_actor(request),
        Visibility::Private => false,
    }
}

fn is_deploy_actor(request: &Request<'_>) -> bool {
    request.actor.key.is_some_and(|key| key.deploy)
}

/// `GitAccess#check` (project repositories) and `GitAccessWiki#check` (wikis), CE order.
/// `force_pushes[i]` says whether change `i` rewrites history (missing: it does not).
pub fn check<'a>(request: &Request<'a>, force_pushes: &[ForcePush]) -> Result<Granted<'a>, Denial> {
    let mut console_messages = Vec::new();
    // Valid actor: an expired key is refused outright; one expiring within 7 days warns.
    if let Some(key) = request.actor.key
        && let Some(expires) = key_expiry(key)
    {
        if expires <= request.now {
            return Err(forbidden("key_expired", "Your SSH key has expired."));
        }
        if expires - request.now <= 7 * 24 * 3600 {
            console_messages
                .push("INFO: Your SSH key is expiring soon. Please generate a new key.".to_owned());
        }
    }
    // Active user (`Gitlab::Auth::UserAccessDeniedReason`). For a deploy key the user is its
    // creator, who is not the one acting, so only a user actor is checked.
    if let Some(user) = request.actor.user.filter(|_| !is_deploy_actor(request)) {
        match user.state {
            UserState::Active => {}
            UserState::BlockedPendingApproval => {
                return Err(forbidden(
                    "blocked_pending_approval",
                    "Your account is pending approval from your administrator and hence blocked.",
                ));
            }
            UserState::Deactivated => {
                return Err(forbidden(
                    "deactivated",
                    format!(
                        "Your account has been deactivated by your administrator. Please log back in from a web browser to reactivate your account at {}",
                        request.gitlab_url
                    ),
                ));
            }
            UserState::Blocked | UserState::LdapBlocked | UserState::Banned => {
                return Err(forbidden("blocked", "Your account has been blocked."));
            }
        }
    }
    let Some(command) = request.command else {
        return Err(forbidden("command_not_allowed", COMMAND_NOT_ALLOWED));
    };
    // Container: a project the actor cannot read is indistinguishable from none at all.
    let wiki = request.repo_type == RepoType::Wiki;
    let not_found = || Denial {
        status: 404,
        reason: if wiki {
            "wiki_not_found"
        } else {
            "project_not_found"
        },
        message: if wiki {
            WIKI_NOT_FOUND
        } else {
            PROJECT_NOT_FOUND
        }
        .to_owned(),
    };
    let project = request.project.ok_or_else(not_found)?;
    let deploy_link = deploy_key_link(request, project);
    let readable = if is_deploy_actor(request) {
        deploy_link.is_some() || project.visibility == Visibility::Public
    } else {
        user_can_read(request, project)
    };
    if !readable {
        return Err(not_found());
    }

    if command.is_download() && wiki {
        // `download_wiki_code`: Planners, Reporters and up, and whoever may read a public or
        // internal project (`public_access`); not Guests of a private one. A deploy key
        // linked to the project reads its wiki as it reads its code.
        let level = role(request);
        let can_download = deploy_link.is_some()
            || project.visibility == Visibility::Public
            || (!is_deploy_actor(request)
                && request.actor.user.is_some()
                && (level >= AccessLevel::Reporter
                    || level == AccessLevel::Planner
                    || project.visibility == Visibility::Internal));
        if !can_download {
            return Err(forbidden("download", WIKI_DOWNLOAD));
        }
        return Ok(Granted {
            project,
            console_messages,
        });
    }
    if command.is_download() {
        let can_download = deploy_link.is_some()
            || project.visibility == Visibility::Public
            || (!is_deploy_actor(request)
                && request.actor.user.is_some()
                && (role(request) >= AccessLevel::Reporter
                    || (project.visibility == Visibility::Internal)));
        if !can_download {
            return Err(forbidden(
                "download",
                "You are not allowed to download code from this project.",
            ));
        }
        return Ok(Granted {
            project,
            console_messages,
        });
    }

    if project.archived {
        return Err(forbidden(
            "archived",
            "You can't push code to an archived project.",
        ));
    }
    let pusher = if is_deploy_actor(request) {
        if !deploy_link.is_some_and(|link| link.can_push) {
            return Err(forbidden(
                "deploy_key_upload",
                "This deploy key does not have write access to this project.",
            ));
        }
        Pusher::DeployKey
    } else if request.actor.user.is_some() {
        Pusher::User(role(request))
    } else {
        return Err(forbidden(
            "upload",
            "You are not allowed to upload code for this project.",
        ));
    };
    if wiki {
        // `GitAccessWiki#check_change_access!`: `create_wiki` (Planner, Developer and up)
        // replaces every per-ref rule. A deploy key asks through `DeployKeyAccess`, that is
        // with its creator's rights, and only while the creator may use Git.
        let creator_active = request
            .actor
            .user
            .is_some_and(|creator| creator.state == UserState::Active);
        let level = match pusher {
            Pusher::User(level) => level,
            Pusher::DeployKey if creator_active => role(request),
            Pusher::DeployKey => AccessLevel::NoAccess,
        };
        return if level >= AccessLevel::Developer || level == AccessLevel::Planner {
            Ok(Granted {
                project,
                console_messages,
            })
        } else {
            Err(forbidden("write_to_wiki", WIKI_WRITE))
        };
    }
    let can_push_code = match pusher {
        Pusher::DeployKey => true,
        Pusher::User(level) => level >= AccessLevel::Developer,
    };
    if !can_push_code {
        return Err(forbidden("push_code", PUSH_CODE));
    }
    for (i, change) in request.changes.list().iter().enumerate() {
        let force_push = force_pushes.get(i).copied().unwrap_or(ForcePush::No);
        check_change(project, pusher, change, force_push)?;
    }
    Ok(Granted {
        project,
        console_messages,
    })
}

/// Who pushes, for protected-ref rules: deploy keys are held to the rules' deploy-key
/// allowance, which the seed does not model, so they pass only unprotected refs and refs
/// whose rules admit Developers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pusher {
    DeployKey,
    User(AccessLevel),
}

impl Pusher {
    /// `ProtectedRefAccess#check_access`: "No one" admits nobody, "Admin" admins only,
    /// otherwise the pusher's role must reach the level.
    fn reaches(self, level: AccessLevel) -> bool {
        match (self, level) {
            (_, AccessLevel::NoAccess) => false,
            (Self::User(role), level) => role >= level,
            (Self::DeployKey, level) => level <= AccessLevel::Developer,
        }
    }

    fn is_maintainer(self) -> bool {
        matches!(self, Self::User(role) if role >= AccessLevel::Maintainer)
    }
}

/// `ProtectedRef.matching`: exact names, or wildcard patterns where `*` matches any run of
/// characters (slashes included).
pub fn ref_pattern_matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == name;
    }
    let (first, after_first) = pattern.split_once('*').unwrap_or((pattern, ""));
    let (middles, last) = after_first.rsplit_once('*').unwrap_or(("", after_first));
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in middles.split('*').filter(|middle| !middle.is_empty()) {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

fn matching_branches<'a>(project: &'a Project, branch: &str) -> Vec<&'a ProtectedBranch> {
    project
        .protected_branches
        .iter()
        .filter(|rule| ref_pattern_matches(&rule.name, branch))
        .collect()
}

fn check_change(
    project: &Project,
    pusher: Pusher,
    change: &Change,
    force_push: ForcePush,
) -> Result<(), Denial> {
    if let Some(branch) = change.branch_name() {
        return check_branch(project, pusher, change, branch, force_push);
    }
    if let Some(tag) = change.tag_name() {
        return check_tag(project, pusher, change, tag);
    }
    Ok(())
}

/// `Gitlab::Checks::BranchCheck`.
fn check_branch(
    project: &Project,
    pusher: Pusher,
    change: &Change,
    branch: &str,
    force_push: ForcePush,
) -> Result<(), Denial> {
    if change.is_deletion() && project.default_branch.as_deref() == Some(branch) {
        return Err(forbidden(
            "delete_default_branch",
            "The default branch of a project cannot be deleted.",
        ));
    }
    if change.is_creation() && branch.len() == 40 && branch.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(forbidden(
            "prohibited_hex_branch_name",
            "You cannot create a branch with a 40-character hexadecimal branch name.",
        ));
    }
    let rules = matching_branches(project, branch);
    if rules.is_empty() {
        return Ok(());
    }
    let is_update = !change.is_creation() && !change.is_deletion();
    if is_update && !rules.iter().any(|rule| rule.allow_force_push) {
        match force_push {
            ForcePush::Yes => {
                return Err(forbidden(
                    "force_push_protected_branch",
                    "You are not allowed to force push code to a protected branch on this project.",
                ));
            }
            ForcePush::Unknown(message) => return Err(forbidden("force_push_unverified", message)),
            ForcePush::No => {}
        }
    }
    let can_push = rules
        .iter()
        .any(|rule| pusher.reaches(rule.push_access_level));
    let can_merge = rules
        .iter()
        .any(|rule| pusher.reaches(rule.merge_access_level));
    if change.is_creation() {
        if can_push {
            return Ok(());
        }
        if !can_merge {
            return Err(forbidden(
                "create_protected_branch",
                "You are not allowed to create protected branches on this project.",
            ));
        }
        // Creating from a merge right needs Gitaly to confirm the commit already sits on a
        // protected branch; unverified, the safe answer is GitLab's refusal for that case.
        return Err(forbidden(
            "invalid_commit_create_protected_branch",
            "You can only use an existing protected branch ref as the basis of a new protected branch.",
        ));
    }
    if change.is_deletion() {
        if !pusher.is_maintainer() {
            return Err(forbidden(
                "non_master_delete_protected_branch",
                "You are not allowed to delete protected branches from this project. Only a project maintainer or owner can delete a protected branch.",
            ));
        }
        return Err(forbidden(
            "non_web_delete_protected_branch",
            "You can only delete protected branches using the web interface.",
        ));
    }
    if !can_push {
        return Err(forbidden(
            "push_protected_branch",
            "You are not allowed to push code to protected branches on this project.",
        ));
    }
    Ok(())
}

/// `Gitlab::Checks::TagCheck`.
fn check_tag(project: &Project, pusher: Pusher, change: &Change, tag: &str) -> Result<(), Denial> {
    // "You are not allowed to change existing tags on this project." needs `admin_tag`, which
    // GitLab grants with `push_code` (write deploy keys included): every pusher that got this
    // far has it, so the check cannot fail here.
    if change.is_creation() {
        if project.default_branch.as_deref() == Some(tag) {
            return Err(forbidden(
                "default_branch_collision",
                "You cannot use default branch name to create a tag",
            ));
        }
        if tag.starts_with("refs/") {
            return Err(forbidden(
                "prohibited_tag_name",
                "You cannot create a tag with a prohibited pattern.",
            ));
        }
        if is_object_id(tag) {
            return Err(forbidden(
                "prohibited_sha_tag_name",
                "You cannot create a tag with a SHA-1 or SHA-256 tag name.",
            ));
        }
    }
    let rules: Vec<_> = project
        .protected_tags
        .iter()
        .filter(|rule| ref_pattern_matches(&rule.name, tag))
        .collect();
    if rules.is_empty() {
        return Ok(());
    }
    if change.is_deletion() {
        if !pusher.is_maintainer() {
            return Err(forbidden(
                "delete_protected_tag",
                "You are not allowed to delete protected tags from this project. Only a project maintainer or owner can delete a protected tag.",
            ));
        }
        return Err(forbidden(
            "delete_protected_tag_non_web",
            "You can only delete protected tags using the web interface.",
        ));
    }
    if !change.is_creation() {
        return Err(forbidden(
            "update_protected_tag",
            "Protected tags cannot be updated.",
        ));
    }
    if !rules
        .iter()
        .any(|rule| pusher.reaches(rule.create_access_level))
    {
        return Err(forbidden(
            "create_protected_tag",
            "You are not allowed to create this tag as it is protected.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn changes_parse_like_changes_list() {
        assert_eq!(Changes::parse("_any"), Ok(Changes::Any));
        let raw = format!("{Z} {A} refs/heads/main\n\n  {A} {Z} refs/tags/v1  \n");
        let changes = Changes::parse(&raw).unwrap();
        assert_eq!(changes.list().len(), 2);
        assert!(changes.list()[0].is_creation());
        assert_eq!(changes.list()[0].branch_name(), Some("main"));
        assert!(changes.list()[1].is_deletion());
        assert_eq!(changes.list()[1].tag_name(), Some("v1"));
        let sha256 = "a".repeat(64);
        assert!(Changes::parse(&format!("{sha256} {sha256} refs/heads/x")).is_ok());
        assert_eq!(
            Changes::parse("abc def refs/heads/x"),
            Err("abc def refs/heads/x".to_owned())
        );
        assert!(Changes::parse(&format!("{A} {A}")).is_err());
        assert_eq!(Changes::parse(""), Ok(Changes::List(Vec::new())));
    }

    #[test]
    fn wildcard_patterns_match_like_protected_refs() {
        assert!(ref_pattern_matches("main", "main"));
        assert!(!ref_pattern_matches("main", "main2"));
        assert!(ref_pattern_matches("release/*", "release/1.0"));
        assert!(ref_pattern_matches("release/*", "release/a/b"));
        assert!(!ref_pattern_matches("release/*", "releases/1"));
        assert!(ref_pattern_matches("*-stable", "13-0-stable"));
        assert!(ref_pattern_matches("v*", "v1.2"));
        assert!(ref_pattern_matches("a*b*c", "axxbyyc"));
        assert!(!ref_pattern_matches("a*b*c", "axxc"));
        assert!(!ref_pattern_matches("ab*ba", "aba"));
    }

    #[test]
    fn commands_are_the_three_git_actions() {
        assert_eq!(
            GitCommand::parse("git-upload-pack"),
            Some(GitCommand::UploadPack)
        );
        assert_eq!(
            GitCommand::parse("git-receive-pack"),
            Some(GitCommand::ReceivePack)
        );
        assert_eq!(
            GitCommand::parse("git-upload-archive"),
            Some(GitCommand::UploadArchive)
        );
        assert_eq!(GitCommand::parse("git-lfs-transfer"), None);
    }
}
