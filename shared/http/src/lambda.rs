//! Runs a family router under `lambda_http`. Production sends API Gateway REST (v1) events,
//! whose `uri()` carries the stage (`/prod/api/v4/...`); routing uses the raw resource path
//! instead, so the same router serves Lambda, the local server and tests.

use axum::Router;
use axum::http::Uri;
use axum::response::Response;
use lambda_http::RequestExt;
use tower::ServiceExt;

/// Rewrites the request to GitLab's path (stage stripped), keeping the query string.
pub fn to_gitlab_path(mut request: lambda_http::Request) -> lambda_http::Request {
    let raw = request.raw_http_path();
    if !raw.is_empty() && raw != request.uri().path() {
        let path_and_query = match request.uri().query() {
            Some(query) => format!("{raw}?{query}"),
            None => raw.to_owned(),
        };
        if let Ok(uri) = Uri::builder().path_and_query(path_and_query).build() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Handles one Lambda HTTP request with `router`; what `run` does per event, and what tests
/// call with API Gateway fixtures.
pub async fn handle(router: Router, request: lambda_http::Request) -> Response {
    match router.oneshot(to_gitlab_path(request)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The Lambda entry point of every family binary.
pub use lambda_http::Error;

pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    crate::request_log::write_to_stdout();
    let router = crate::with_gitlab_fallbacks(router);
    lambda_http::run(lambda_http::service_fn(
        move |request: lambda_http::Request| {
            let router = router.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(router, request).await) }
        },
    ))
    .await
}
