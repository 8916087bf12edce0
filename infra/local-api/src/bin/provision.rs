//! `provision`: the world a deployment serves, kept in a file. `apply` converges a store to a
//! world file (a plan first), `export` writes a store's world back as such a file, and
//! `import-seed` only adds. Serving is `local-api`'s job; this command never serves.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use gl_store::dynamodb::{DynamoConfig, DynamoStore, Timeouts};
use gl_store::embedded::EmbeddedStore;
use gl_store::{Repository, Store};

#[derive(Debug, Parser)]
#[command(
    name = "provision",
    version,
    about = "Provision the world GitLab's internal API serves (users, keys, groups, projects, agents, tokens, settings) from a file: into a deployed stack's DynamoDB table, an emulator's, or the local server's embedded store. To serve the API locally, run `local-api`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply a world file to a store as a plan: create what is missing and update what
    /// differs, each record with its lookup items in one transaction (a revoked token stops
    /// authenticating, a renamed user moves its username); with --prune, delete what an
    /// earlier apply wrote and the file no longer has. Prints the plan, then applies it with
    /// --yes or after a confirmation. Applying the same file again plans nothing; an
    /// interrupted run is finished by running it again.
    Apply(ApplyArgs),
    /// Write the world an apply manages as a world file (tokens as their digests, Gitaly's
    /// token left out), to back a deployment up or review it; applying the output plans
    /// nothing. What the service made itself (SCIM users, minted tokens, billing, KAS state)
    /// is left out and counted on stderr.
    Export(ExportArgs),
    /// Import a seed file into a DynamoDB table: adds what is missing, never changes what
    /// exists. `apply` converges instead.
    ImportSeed(ImportArgs),
}

/// Which store: a DynamoDB table, or the local server's embedded store.
#[derive(Debug, Args)]
struct StoreArgs {
    /// DynamoDB table; without it, the local server's embedded store in DATA_DIR (stop the
    /// server first: the store is one process's at a time).
    #[arg(long)]
    table: Option<String>,
    /// Endpoint of a DynamoDB-compatible server; AWS's own when absent.
    #[arg(long, requires = "table")]
    dynamodb_endpoint: Option<String>,
    /// AWS region; the standard AWS configuration chain when absent.
    #[arg(long, requires = "table")]
    region: Option<String>,
    /// The local server's data directory, for the embedded store.
    #[arg(long, default_value = ".local", conflicts_with = "table")]
    data_dir: PathBuf,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    /// The world file.
    file: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
    /// Create the table when it does not exist (for emulators; in AWS the stack owns it).
    #[arg(long, requires = "table")]
    create_table: bool,
    /// Also delete what an earlier apply wrote and the file no longer has (never what the
    /// service made itself: minted tokens, SCIM users, billing and KAS records).
    #[arg(long)]
    prune: bool,
    /// Only print the plan.
    #[arg(long, conflicts_with = "yes")]
    dry_run: bool,
    /// Apply without asking.
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Args)]
struct ExportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Write the world file here instead of to stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The seed file.
    file: PathBuf,
    /// DynamoDB table to import into.
    #[arg(long)]
    table: String,
    /// Endpoint of a DynamoDB-compatible server; AWS's own when absent.
    #[arg(long)]
    dynamodb_endpoint: Option<String>,
    /// AWS region; the standard AWS configuration chain when absent.
    #[arg(long)]
    region: Option<String>,
    /// Create the table when it does not exist (for emulators; in AWS the stack owns it).
    #[arg(long)]
    create_table: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    gl_http::init_tracing(false);
    let result = match cli.command {
        Command::Apply(args) => apply(args).await,
        Command::Export(args) => export(args).await,
        Command::ImportSeed(args) => import(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("provision: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A table's store, created first when asked (emulators; in AWS the stack owns it).
async fn table(
    table: &str,
    endpoint: Option<String>,
    region: Option<String>,
    create: bool,
) -> Result<DynamoStore, String> {
    let config = DynamoConfig {
        table: table.to_owned(),
        // An endpoint of its own is an emulator: moto answers a busy run's writes in seconds,
        // not milliseconds.
        timeouts: if endpoint.is_some() {
            Timeouts::EMULATOR
        } else {
            Timeouts::default()
        },
        endpoint,
        region,
        http_client: None,
    };
    let store = DynamoStore::connect(&config).await;
    if create {
        store
            .create_table_if_missing()
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(store)
}

/// The store the arguments name, and how to name it in a plan's heading.
async fn open(args: StoreArgs, create: bool) -> Result<(Arc<dyn Store>, String), String> {
    match args.table {
        Some(name) => {
            let store = table(&name, args.dynamodb_endpoint, args.region, create).await?;
            Ok((Arc::new(store), format!("DynamoDB table {name}")))
        }
        None => {
            let path = args.data_dir.join("store.redb");
            let store =
                EmbeddedStore::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok((
                Arc::new(store),
                format!("the embedded store at {}", path.display()),
            ))
        }
    }
}

async fn apply(args: ApplyArgs) -> Result<(), String> {
    let (store, target) = open(args.store, args.create_table).await?;
    let mode = if args.dry_run {
        local_api::apply::Mode::DryRun
    } else if args.yes {
        local_api::apply::Mode::Yes
    } else {
        local_api::apply::Mode::Ask
    };
    local_api::apply::apply_file(
        &Repository::new(store),
        &args.file,
        &target,
        args.prune,
        mode,
        &mut std::io::stdout(),
    )
    .await
}

async fn export(args: ExportArgs) -> Result<(), String> {
    let (store, source) = open(args.store, false).await?;
    let (document, left_out) = gl_http::seed::export(&Repository::new(store))
        .await
        .map_err(|e| e.to_string())?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &document).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => print!("{document}"),
    }
    eprintln!("exported the world of {source}");
    for (what, count) in left_out {
        eprintln!("  left out: {count} {what} (the service made them)");
    }
    Ok(())
}

async fn import(args: ImportArgs) -> Result<(), String> {
    let store = table(
        &args.table,
        args.dynamodb_endpoint,
        args.region,
        args.create_table,
    )
    .await?;
    let repo = Repository::new(Arc::new(store));
    let report = local_api::import_seed_file(&repo, &args.file)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "imported {} into table {}: {} records written, {} already present",
        args.file.display(),
        args.table,
        report.written,
        report.already_present
    );
    Ok(())
}
