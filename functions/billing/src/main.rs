//! The `billing` Lambda function.

use gl_http::config::Config;

#[tokio::main]
async fn main() -> Result<(), gl_http::lambda::Error> {
    let config = Config::from_env(&[])?;
    gl_http::init_tracing(config.json_logs);
    let state = gl_http::state::AppState::for_lambda(&config)
        .await
        .with_customers_dot_from(&config);
    gl_http::lambda::run(billing::router(state)).await
}
