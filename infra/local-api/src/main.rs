//! `local-api`: serve the whole internal API on localhost. Provisioning a store (local or a
//! deployed table) is the `provision` command's job.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use gl_store::dynamodb::{DynamoConfig, DynamoStore};
use gl_store::embedded::EmbeddedStore;
use gl_store::{Repository, Store};

#[derive(Debug, Parser)]
#[command(
    name = "local-api",
    version,
    about = "GitLab's internal API on localhost, on the embedded store or a DynamoDB endpoint. To provision a store (the embedded one or a deployed DynamoDB table) from a world file, use `provision`."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a fresh JWT for the local server's secrets, valid five minutes: GitLab Shell's
    /// (`Gitlab-Shell-Api-Request`), or with `--kas` KAS's (`Gitlab-Kas-Api-Request`).
    Token(TokenArgs),
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// Where the local server keeps its secrets.
    #[arg(long, default_value = ".local")]
    data_dir: PathBuf,
    /// GitLab Shell secret file [default: DATA_DIR/.gitlab_shell_secret].
    #[arg(long)]
    shell_secret_file: Option<PathBuf>,
    /// KAS's token instead, from DATA_DIR/.gitlab_kas_secret (or --kas-secret-file).
    #[arg(long)]
    kas: bool,
    /// KAS secret file [default: DATA_DIR/.gitlab_kas_secret].
    #[arg(long)]
    kas_secret_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Where the embedded store and the generated secrets live.
    #[arg(long, default_value = ".local")]
    data_dir: PathBuf,
    /// Seed file to import at start (importing the same file twice changes nothing).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Keep the store in memory: nothing survives a restart.
    #[arg(long, conflicts_with = "dynamodb_endpoint")]
    in_memory: bool,
    /// Use a DynamoDB-compatible server at this URL instead of the embedded store.
    #[arg(long)]
    dynamodb_endpoint: Option<String>,
    /// Table on the DynamoDB endpoint (created if missing).
    #[arg(long, default_value = "gitlab-internal-api")]
    table: String,
    /// GitLab Shell secret file [default: DATA_DIR/.gitlab_shell_secret, generated if absent].
    #[arg(long)]
    shell_secret_file: Option<PathBuf>,
    /// KAS secret file [default: DATA_DIR/.gitlab_kas_secret, generated if absent].
    #[arg(long)]
    kas_secret_file: Option<PathBuf>,
    /// File holding OpsTrace's error-tracking access token; without it only the GitLab Shell
    /// JWT authenticates /error_tracking/allowed.
    #[arg(long)]
    error_tracking_token_file: Option<PathBuf>,
    /// CustomersDot's portal URL: its JWTs (`X-Customers-Dot-Internal-Token`) are verified
    /// against `<url>/.well-known/openid-configuration` and its key set.
    #[arg(long)]
    customers_dot_url: Option<String>,
    /// How long the server trusts the instance settings it read, in seconds (GitLab caches
    /// them for 60); 0 reads them with every request, so a seed import is seen at once.
    #[arg(long, default_value_t = 60)]
    settings_cache_seconds: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    gl_http::init_tracing(false);
    let result = match cli.command {
        Some(Command::Token(args)) => token(args),
        None => serve(cli.serve).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("local-api: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load_secret(
    explicit: Option<&Path>,
    default: PathBuf,
    generate: fn() -> String,
) -> Result<(PathBuf, Vec<u8>), String> {
    let (path, create) = match explicit {
        Some(path) => (path.to_owned(), false),
        None => (default, true),
    };
    let bytes = local_api::secret_file(&path, create, generate)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, bytes))
}

fn token(args: TokenArgs) -> Result<(), String> {
    let read = |given: Option<PathBuf>, default: &str| {
        let path = given.unwrap_or_else(|| args.data_dir.join(default));
        std::fs::read(&path)
            .map(|bytes| (path.clone(), bytes))
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let now = chrono::Utc::now().timestamp();
    let token = if args.kas {
        let (path, file) = read(args.kas_secret_file.clone(), ".gitlab_kas_secret")?;
        let key =
            gl_auth::kas_secret_from_file(&file).map_err(|e| format!("{}: {e}", path.display()))?;
        gl_auth::mint_kas_jwt(&key, now)
    } else {
        let (path, file) = read(args.shell_secret_file.clone(), ".gitlab_shell_secret")?;
        let secret = gl_auth::shell_secret_from_file(&file);
        gl_auth::check_shell_secret(&secret).map_err(|e| format!("{}: {e}", path.display()))?;
        gl_auth::mint_shell_jwt(&secret, now, gl_auth::MAX_JWT_LIFETIME_SECONDS)
    };
    println!("{token}");
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("{}: {e}", args.data_dir.display()))?;
    let (_, shell_file) = load_secret(
        args.shell_secret_file.as_deref(),
        args.data_dir.join(".gitlab_shell_secret"),
        gl_auth::new_shell_secret,
    )?;
    // Generated now, like GitLab does on first start; the KAS family verifies with it.
    let (kas_path, kas_file) = load_secret(
        args.kas_secret_file.as_deref(),
        args.data_dir.join(".gitlab_kas_secret"),
        gl_auth::new_kas_secret,
    )?;
    let kas_secret = gl_auth::kas_secret_from_file(&kas_file)
        .map_err(|e| format!("{}: {e}", kas_path.display()))?;
    let shell_secret = gl_auth::shell_secret_from_file(&shell_file);
    let shell_path = args
        .shell_secret_file
        .clone()
        .unwrap_or_else(|| args.data_dir.join(".gitlab_shell_secret"));
    gl_auth::check_shell_secret(&shell_secret)
        .map_err(|reason| format!("{}: {reason}", shell_path.display()))?;

    let (store, described): (Arc<dyn Store>, String) = if let Some(endpoint) =
        &args.dynamodb_endpoint
    {
        let store = DynamoStore::connect(&DynamoConfig {
            table: args.table.clone(),
            endpoint: Some(endpoint.clone()),
            region: None,
            timeouts: Default::default(),
            http_client: None,
        })
        .await;
        store
            .create_table_if_missing()
            .await
            .map_err(|e| format!("{endpoint}: {e}"))?;
        (
            Arc::new(store),
            format!("DynamoDB table {} at {endpoint}", args.table),
        )
    } else if args.in_memory {
        (
            Arc::new(EmbeddedStore::in_memory()),
            "the embedded store, in memory".to_owned(),
        )
    } else {
        let path = args.data_dir.join("store.redb");
        let store = EmbeddedStore::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        (
            Arc::new(store),
            format!("the embedded store at {}", path.display()),
        )
    };

    let repo = Repository::new(Arc::clone(&store));
    if let Some(seed) = &args.seed {
        let report = local_api::import_seed_file(&repo, seed)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "seed {}: {} records written, {} already present",
            seed.display(),
            report.written,
            report.already_present
        );
    } else if !repo
        .seeding()
        .has_been_seeded()
        .await
        .map_err(|e| e.to_string())?
    {
        local_api::import_seed_bytes(
            &repo,
            local_api::DEMO_SEED.as_bytes(),
            Path::new("demo-seed.json"),
        )
        .await
        .map_err(|e| e.to_string())?;
        println!("loaded the demo world (infra/local-api/demo-seed.json)");
    }

    let gitaly = repo
        .identity()
        .settings()
        .await
        .map_err(|e| e.to_string())?
        .gitaly
        .address;
    match shell::gitaly::reachable(&gitaly).await {
        Ok(()) => println!("Gitaly at {gitaly} accepts connections"),
        Err(cause) => println!(
            "warning: Gitaly at {gitaly:?} cannot be reached ({cause}): pushes that update a protected branch forbidding force pushes will be refused"
        ),
    }

    let error_tracking_token = match &args.error_tracking_token_file {
        Some(path) => Some(gl_auth::shell_secret_from_file(
            &std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => None,
    };
    let mut state = local_api::state(store, &shell_secret)
        .with_kas_secret(Some(&kas_secret))
        .with_error_tracking_token(error_tracking_token.as_deref())
        .with_settings_ttl(std::time::Duration::from_secs(
            args.settings_cache_seconds.into(),
        ));
    if let Some(url) = &args.customers_dot_url {
        state =
            state.with_customers_dot(url, Arc::new(gl_auth::customers_dot::HttpFetch::default()));
    }
    let app = local_api::app(state);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("{}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let token = gl_auth::mint_shell_jwt(
        &shell_secret,
        chrono::Utc::now().timestamp(),
        gl_auth::MAX_JWT_LIFETIME_SECONDS,
    );
    println!("serving GitLab's internal API on http://{address} from {described}");
    println!("try (the token is valid for five minutes; `local-api token` prints a fresh one):");
    println!(
        "  curl -s -H 'Gitlab-Shell-Api-Request: {token}' http://{address}/api/v4/internal/check"
    );
    // From here on, stdout has one JSON line per request, as each function writes in Lambda.
    gl_http::request_log::write_to_stdout();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
