//! `changes` of `POST /allowed` and the hooks: `gl_model::git_access::Changes::parse`, then the
//! push policy that reads the parsed refs (`git_access::check`, `ancestry_matters`) for a
//! Developer and for a write deploy key on a project with protected branches and tags, and
//! the protected-ref pattern matcher (`ref_pattern_matches`) with the refs as patterns.
//! Input: the `changes` text.
//!
//! Invariants: `_any` is recognised only as itself; parsed lines re-serialise to the same
//! list; a refused line is one of the input's lines; a denial is a 401 or 404 with a message;
//! the pattern matcher agrees with a plain glob matcher.

#![no_main]

use gl_model::git_access::{
    Actor, Changes, ForcePush, GitCommand, Request, ancestry_matters, check, ref_pattern_matches,
};
use gl_model::{
    AccessLevel, DeployKeyProject, KeyUsage, Project, ProtectedBranch, ProtectedTag, RepoType,
    SshKey, User, UserState, Visibility,
};
use libfuzzer_sys::fuzz_target;

fn project() -> Project {
    let branch = |name: &str, push, merge, allow_force_push| ProtectedBranch {
        name: name.to_owned(),
        push_access_level: push,
        merge_access_level: merge,
        allow_force_push,
    };
    Project {
        id: 26,
        namespace_id: 10,
        path: "web".to_owned(),
        name: "Web".to_owned(),
        full_path: "acme/web".to_owned(),
        namespace_ancestor_ids: vec![10],
        visibility: Visibility::Private,
        archived: false,
        lfs_enabled: true,
        default_branch: Some("main".to_owned()),
        protected_branches: vec![
            branch(
                "main",
                AccessLevel::Maintainer,
                AccessLevel::Developer,
                false,
            ),
            branch(
                "release/*",
                AccessLevel::Developer,
                AccessLevel::Developer,
                false,
            ),
            branch("*-stable", AccessLevel::NoAccess, AccessLevel::Admin, true),
            branch(
                "feature/*/wip*",
                AccessLevel::Developer,
                AccessLevel::Maintainer,
                false,
            ),
        ],
        protected_tags: vec![
            ProtectedTag {
                name: "v*".to_owned(),
                create_access_level: AccessLevel::Maintainer,
            },
            ProtectedTag {
                name: "*".to_owned(),
                create_access_level: AccessLevel::Developer,
            },
        ],
        error_tracking_enabled: false,
        created_at: "2024-01-01T00:00:00.000Z".to_owned(),
    }
}

fn user() -> User {
    User {
        id: 1,
        username: "dev".to_owned(),
        name: "Dev".to_owned(),
        email: "dev@example.com".to_owned(),
        admin: false,
        state: UserState::Active,
        two_factor_enabled: false,
        namespace_id: None,
        created_at: "2024-01-01T00:00:00.000Z".to_owned(),
    }
}

fn deploy_key() -> SshKey {
    SshKey {
        id: 5,
        user_id: Some(1),
        owner_name: None,
        title: "deploy".to_owned(),
        key: String::new(),
        algorithm: "ssh-ed25519".to_owned(),
        blob_base64: String::new(),
        fingerprint_sha256: String::new(),
        usage_type: KeyUsage::AuthAndSigning,
        deploy: true,
        deploy_projects: vec![DeployKeyProject {
            project_id: 26,
            can_push: true,
        }],
        created_at: "2024-01-01T00:00:00.000Z".to_owned(),
        expires_at: None,
    }
}

/// `*` matches any run of bytes, everything else itself.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    // matches[j]: pattern[..i] matches name[..j].
    let mut matches = vec![false; name.len() + 1];
    matches[0] = true;
    for &p in pattern {
        if p == b'*' {
            for j in 1..=name.len() {
                matches[j] = matches[j] || matches[j - 1];
            }
        } else {
            for j in (1..=name.len()).rev() {
                matches[j] = matches[j - 1] && name[j - 1] == p;
            }
            matches[0] = false;
        }
    }
    matches[name.len()]
}

fn decide(changes: &Changes, project: &Project, actor: Actor<'_>, member_access: AccessLevel) {
    let request = Request {
        actor,
        project: Some(project),
        repo_type: RepoType::Project,
        member_access,
        command: Some(GitCommand::ReceivePack),
        changes,
        gitlab_url: "https://gitlab.example.com",
        now: 1_700_000_000,
    };
    // Gitaly's answer where it matters: alternately "rewrote", "did not", "could not tell".
    let force_pushes: Vec<ForcePush> = changes
        .list()
        .iter()
        .enumerate()
        .map(
            |(i, change)| match (ancestry_matters(&request, change), i % 3) {
                (false, _) => ForcePush::No,
                (true, 0) => ForcePush::Yes,
                (true, 1) => ForcePush::No,
                (true, _) => ForcePush::Unknown("unknown"),
            },
        )
        .collect();
    match check(&request, &force_pushes) {
        Ok(granted) => assert_eq!(granted.project.id, project.id),
        Err(denial) => {
            assert!(matches!(denial.status, 401 | 404), "{denial:?}");
            assert!(!denial.message.is_empty() && !denial.reason.is_empty());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let changes = match Changes::parse(raw) {
        Ok(changes) => changes,
        Err(line) => {
            assert!(!line.is_empty());
            assert!(
                raw.split('\n').any(|l| l.trim_ascii() == line),
                "refused {line:?} is no line of the input"
            );
            return;
        }
    };
    match &changes {
        Changes::Any => assert_eq!(raw.trim(), "_any"),
        Changes::List(list) => {
            let lines = raw.split('\n').filter(|l| !l.trim_ascii().is_empty());
            assert_eq!(list.len(), lines.count());
            let text: Vec<String> = list
                .iter()
                .map(|c| format!("{} {} {}", c.oldrev, c.newrev, c.refname))
                .collect();
            assert_eq!(Changes::parse(&text.join("\n")), Ok(changes.clone()));
            for change in list {
                for rev in [&change.oldrev, &change.newrev] {
                    assert!(matches!(rev.len(), 40 | 64), "{rev}");
                    assert!(rev.bytes().all(|b| b.is_ascii_hexdigit()));
                }
                assert!(!change.refname.is_empty());
            }
        }
    }
    let project = project();
    let user = user();
    let key = deploy_key();
    decide(
        &changes,
        &project,
        Actor {
            key: None,
            user: Some(&user),
        },
        AccessLevel::Developer,
    );
    decide(
        &changes,
        &project,
        Actor {
            key: Some(&key),
            user: Some(&user),
        },
        AccessLevel::NoAccess,
    );
    // Each ref as a protected-ref pattern against each other ref (a few of them).
    let refs: Vec<&str> = changes
        .list()
        .iter()
        .take(6)
        .map(|c| c.refname.as_str())
        .collect();
    for pattern in &refs {
        for name in &refs {
            assert_eq!(
                ref_pattern_matches(pattern, name),
                glob(pattern.as_bytes(), name.as_bytes()),
                "pattern {pattern:?} against {name:?}"
            );
        }
    }
});
