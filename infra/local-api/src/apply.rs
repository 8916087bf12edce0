//! `local-api apply`: a world file applied to a store as a plan, printed first.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::Path;

use futures_util::StreamExt as _;
use gl_store::Repository;
use gl_store::repo::provisioning::{Action, FieldChange, Plan, RecordChange};

/// How many record transactions are in flight at once.
const CONCURRENT_WRITES: usize = 16;

/// What the caller wants done with the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Print the plan only.
    DryRun,
    /// Apply without asking.
    Yes,
    /// Ask on the terminal; refuse when there is none.
    Ask,
}

/// Plans `file` against `repo`, prints the plan to `out`, and applies it as `mode` says. Bad
/// input is refused before anything is written, naming the record and field.
pub async fn apply_file(
    repo: &Repository,
    file: &Path,
    target: &str,
    prune: bool,
    mode: Mode,
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|err| format!("{}: {err}", file.display()))?;
    let plan = gl_http::seed::plan(repo, &bytes, prune)
        .await
        .map_err(|err| format!("{}: {err}", file.display()))?;
    print_plan(&plan, &format!("{} → {target}", file.display()), out)
        .map_err(|err| err.to_string())?;
    if plan.is_empty() || mode == Mode::DryRun {
        return Ok(());
    }
    if mode == Mode::Ask && !confirmed()? {
        writeln!(out, "nothing applied").map_err(|err| err.to_string())?;
        return Ok(());
    }
    let total = plan.changes.len();
    let started = std::time::Instant::now();
    let mut done = 0usize;
    let mut writes = futures_util::stream::iter(plan.changes)
        .map(|change| repo.provisioning().apply(change))
        .buffer_unordered(CONCURRENT_WRITES);
    let mut failures = Vec::new();
    let progress = Progress::new(total as u64);
    while let Some(result) = writes.next().await {
        match result {
            Ok(()) => done += 1,
            Err(err) => failures.push(err.to_string()),
        }
        progress.advance(done, total, started, out)?;
    }
    progress.finish();
    writeln!(
        out,
        "applied {done} of {total} changes in {:.1} s",
        started.elapsed().as_secs_f64()
    )
    .map_err(|err| err.to_string())?;
    if failures.is_empty() {
        Ok(())
    } else {
        // What was applied stays applied; running apply again plans only the rest.
        Err(failures.join("\n"))
    }
}

/// Progress on a long run: a bar with counts, rate and time left on a terminal; a plain line
/// every 1,000 records otherwise (logs, CI).
enum Progress {
    Bar(indicatif::ProgressBar),
    Lines,
}

impl Progress {
    fn new(total: u64) -> Self {
        if !std::io::stdout().is_terminal() {
            return Self::Lines;
        }
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} records, {per_sec}, {eta} left",
        ) {
            bar.set_style(style);
        }
        Self::Bar(bar)
    }

    fn advance(
        &self,
        done: usize,
        total: usize,
        started: std::time::Instant,
        out: &mut dyn std::io::Write,
    ) -> Result<(), String> {
        match self {
            Self::Bar(bar) => bar.inc(1),
            Self::Lines if done > 0 && done.is_multiple_of(1000) => {
                let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
                writeln!(out, "applied {done}/{total} ({rate:.0} records/s)")
                    .map_err(|err| err.to_string())?;
            }
            Self::Lines => {}
        }
        Ok(())
    }

    fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn confirmed() -> Result<bool, String> {
    if !std::io::stdin().is_terminal() {
        return Err(
            "not a terminal: pass --yes to apply, or --dry-run to only print the plan".to_owned(),
        );
    }
    eprint!("apply these changes? [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|err| err.to_string())?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// The plan as an operator reads it: one line per record (`+` create, `~` update with its
/// fields, old → new), then the totals.
pub fn print_plan(plan: &Plan, heading: &str, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(out, "plan: {heading}")?;
    for change in &plan.changes {
        print_change(change, out)?;
    }
    for (what, count) in &plan.left_alone {
        writeln!(
            out,
            "  = left alone: {count} {what} (the service made them)"
        )?;
    }
    let (creates, updates, deletes) = plan.counts();
    writeln!(
        out,
        "{creates} to create, {updates} to update, {deletes} to delete, {} unchanged",
        plan.unchanged
    )
}

fn print_change(change: &RecordChange, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    match change.action {
        Action::Create => writeln!(out, "  + {}", change.record),
        Action::Delete => writeln!(out, "  - {}", change.record),
        Action::Update if change.fields.is_empty() => {
            writeln!(out, "  ~ {} (its lookups)", change.record)
        }
        Action::Update => {
            writeln!(out, "  ~ {}", change.record)?;
            for FieldChange { field, from, to } in &change.fields {
                let shown = |value: &Option<serde_json::Value>| {
                    value.as_ref().map_or_else(
                        || "(none)".to_owned(),
                        |value| redacted(value.clone()).to_string(),
                    )
                };
                writeln!(out, "      {field}: {} → {}", shown(from), shown(to))?;
            }
            Ok(())
        }
    }
}

/// A value with every `token` member replaced: a plan is printed, and the settings hold
/// Gitaly's token in plain.
fn redacted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(name, value)| {
                    let value = if name == "token" {
                        Value::String("<redacted>".to_owned())
                    } else {
                        redacted(value)
                    };
                    (name, value)
                })
                .collect(),
        ),
        Value::Array(values) => Value::Array(values.into_iter().map(redacted).collect()),
        other => other,
    }
}
