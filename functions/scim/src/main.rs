//! The `scim` Lambda function.

use gl_http::config::Config;

#[tokio::main]
async fn main() -> Result<(), gl_http::lambda::Error> {
    let config = Config::from_env(&[])?;
    gl_http::init_tracing(config.json_logs);
    let state = gl_http::state::AppState::for_lambda(&config).await;
    gl_http::lambda::run(scim::router(state)).await
}
