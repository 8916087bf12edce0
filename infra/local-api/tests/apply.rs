//! `provision apply` and `provision export` as an operator runs them: the plan printed, applied
//! with --yes, nothing planned the second time, an edit planned field by field, bad input
//! refused before writing, no apply without --yes when there is no terminal to confirm on, and
//! an export that applies as nothing.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_provision");

const WORLD: &str = r#"{
  "users": [{"id": 1, "username": "root", "name": "Administrator", "email": "admin@example.com", "admin": true}],
  "agents": [],
  "personal_access_tokens": [{"id": 1, "user_id": 1, "name": "admin", "token": "plan-test-token", "scopes": ["api"]}],
  "settings": {"gitlab_url": "https://gitlab.example.com", "gitaly": {"address": "tcp://gitaly:8075", "token": "secret-gitaly-token", "storage": "default"}}
}"#;

fn run(dir: &Path, world: &str, flags: &[&str]) -> Output {
    let file = dir.join("world.json");
    std::fs::write(&file, world).unwrap();
    Command::new(BIN)
        .arg("apply")
        .arg(&file)
        .args(["--data-dir", dir.to_str().unwrap()])
        .args(flags)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn a_world_is_planned_applied_and_then_converged() {
    let dir = tempfile::tempdir().unwrap();
    let dry = stdout(&run(dir.path(), WORLD, &["--dry-run"]));
    assert!(dry.contains("  + user 1\n"), "{dry}");
    assert!(dry.contains("  + personal access token 1\n"), "{dry}");
    assert!(
        dry.contains("to create, 0 to update, 0 to delete, 0 unchanged"),
        "{dry}"
    );
    let again = stdout(&run(dir.path(), WORLD, &["--dry-run"]));
    assert_eq!(again, dry, "a dry run writes nothing");

    let refused = run(dir.path(), WORLD, &[]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("pass --yes"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let applied = stdout(&run(dir.path(), WORLD, &["--yes"]));
    assert!(applied.contains("applied 4 of 4 changes"), "{applied}");
    let converged = stdout(&run(dir.path(), WORLD, &["--yes"]));
    assert!(
        converged.contains("0 to create, 0 to update, 0 to delete, 4 unchanged"),
        "{converged}"
    );

    let edited = WORLD
        .replace(r#""name": "Administrator""#, r#""name": "Root""#)
        .replace(
            r#""scopes": ["api"]}"#,
            r#""scopes": ["api"], "revoked": true}"#,
        )
        .replace("secret-gitaly-token", "new-secret-gitaly-token");
    let plan = stdout(&run(dir.path(), &edited, &["--dry-run"]));
    assert!(
        plan.contains("  ~ user 1\n      name: \"Administrator\" → \"Root\"\n"),
        "{plan}"
    );
    assert!(
        plan.contains("  ~ personal access token 1\n      revoked: false → true\n"),
        "{plan}"
    );
    assert!(plan.contains("  ~ settings\n"), "{plan}");
    assert!(
        !plan.contains("gitaly-token"),
        "a plan never prints a token: {plan}"
    );
    assert!(plan.contains("0 to create, 3 to update"), "{plan}");
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let bad = WORLD.replace(r#""admin": true"#, r#""admin": true, "colour": "red""#);
    let output = run(dir.path(), &bad, &["--yes"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("users[0]"), "{stderr}");
    assert!(stderr.contains("colour"), "{stderr}");
    let dry = stdout(&run(dir.path(), WORLD, &["--dry-run"]));
    assert!(dry.contains("0 unchanged"), "nothing was written: {dry}");
}

#[test]
fn an_export_applied_plans_nothing() {
    let dir = tempfile::tempdir().unwrap();
    stdout(&run(dir.path(), WORLD, &["--yes"]));
    let exported = dir.path().join("exported.json");
    let output = Command::new(BIN)
        .arg("export")
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .arg("--output")
        .arg(&exported)
        .output()
        .unwrap();
    stdout(&output);
    let document = std::fs::read_to_string(&exported).unwrap();
    for secret in ["plan-test-token", "secret-gitaly-token"] {
        assert!(!document.contains(secret), "{document}");
    }
    assert!(document.contains("\"token_digest\""), "{document}");
    let replanned = stdout(&run(dir.path(), &document, &["--dry-run", "--prune"]));
    assert!(
        replanned.contains("0 to create, 0 to update, 0 to delete, 4 unchanged"),
        "{replanned}"
    );
}

#[test]
fn serving_and_provisioning_are_two_commands() {
    let serve = Command::new(env!("CARGO_BIN_EXE_local-api"))
        .arg("--help")
        .output()
        .unwrap();
    let serve = stdout(&serve);
    assert!(serve.contains("`provision`"), "{serve}");
    assert!(!serve.contains("apply"), "{serve}");
    let provision = stdout(&Command::new(BIN).arg("--help").output().unwrap());
    for command in ["apply", "export", "import-seed", "`local-api`"] {
        assert!(provision.contains(command), "{command}: {provision}");
    }
}
