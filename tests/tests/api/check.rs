//! `GET /internal/check`.

use crate::support::*;

on_both_backends!(reports_version_and_a_healthy_store);

async fn reports_version_and_a_healthy_store(app: TestApp) {
    let response = app.shell_get("/api/v4/internal/check").await;
    response.assert(
        200,
        &format!(
            r#"{{"api_version":"v4","gitlab_version":"{}","gitlab_rev":"{}","redis":true}}"#,
            std::env::var("GITLAB_VERSION")
                .unwrap_or_else(|_| gl_http::config::DEFAULT_GITLAB_VERSION.to_owned()),
            std::env::var("GITLAB_REV")
                .unwrap_or_else(|_| format!("glapi-{}", env!("CARGO_PKG_VERSION"))),
        ),
    );
    assert!(response.json()["redis"].is_boolean());
}
