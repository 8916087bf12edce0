//! One JSON line per request, for whoever is on call: the request's ids, its family, its route
//! (the router's template, `GET /api/v4/internal/discover`, never the raw path with its ids
//! and keys, never the query string with its tokens), its status, the store's round trips and
//! time, and the time in all. The line is also CloudWatch's Embedded Metric Format: Lambda's
//! log agent turns its `_aws` block into metrics, per route (latency, server errors) and per
//! family (latency, errors, store round trips and time), without a call of ours.
//!
//! Lines go to the sink installed at start: stdout in Lambda and in the local server, a
//! capture in tests, nothing when none is installed.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

/// The CloudWatch namespace of the metrics the lines carry.
pub const METRICS_NAMESPACE: &str = "GitLabInternalApi";

/// Where a request's line goes.
type Sink = Box<dyn Fn(&str) + Send + Sync>;

static SINK: OnceLock<Sink> = OnceLock::new();

/// Lines to stdout, where Lambda's log agent (and a local server's user) reads them. A closed
/// stdout loses lines; it never fails a request.
pub fn write_to_stdout() {
    write_to(|line| {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out
            .write_all(line.as_bytes())
            .and_then(|()| out.write_all(b"\n"));
    });
}

/// Lines to `sink`; the first sink installed in a process stays.
pub fn write_to(sink: impl Fn(&str) + Send + Sync + 'static) {
    let _ = SINK.set(Box::new(sink));
}

/// What the routing inside a family router learnt about a request, for the line.
#[derive(Clone, Debug)]
pub(crate) struct Served {
    family: &'static str,
    route: String,
}

/// The store's share of a request, left on the response by `Server-Timing`'s layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StoreCost {
    pub rounds: u32,
    pub busy: Duration,
}

/// `router`'s routes, tagged with their family and their route template for the line.
/// Unmatched paths stay untagged (GitLab's 404s and 405s come from the fallbacks).
pub fn family(name: &'static str, router: Router) -> Router {
    router.route_layer(axum::middleware::from_fn_with_state(name, tag))
}

async fn tag(State(family): State<&'static str>, request: Request, next: Next) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => format!("{} {}", request.method(), path.as_str()),
        None => format!("{} unmatched", request.method()),
    };
    let mut response = next.run(request).await;
    response.extensions_mut().insert(Served { family, route });
    response
}

/// The ids a line carries: Lambda's request id and API Gateway's (the access log's
/// `requestId`) in AWS, a per-process sequence locally; and GitLab's correlation id when the
/// caller sent one (`X-Request-Id`), if it looks like one.
fn ids(request: &Request) -> (String, Option<String>, Option<String>) {
    static LOCAL: AtomicU64 = AtomicU64::new(1);
    let lambda = request
        .extensions()
        .get::<lambda_http::Context>()
        .map(|context| context.request_id.clone())
        .filter(|id| !id.is_empty());
    let api = request
        .extensions()
        .get::<lambda_http::request::RequestContext>()
        .and_then(|context| match context {
            lambda_http::request::RequestContext::ApiGatewayV1(rest) => rest.request_id.clone(),
            lambda_http::request::RequestContext::ApiGatewayV2(http) => http.request_id.clone(),
            _ => None,
        });
    let correlation = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned);
    let request_id =
        lambda.unwrap_or_else(|| format!("local-{}", LOCAL.fetch_add(1, Ordering::Relaxed)));
    (request_id, api, correlation)
}

fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// The line of one request, with its Embedded Metric Format directives.
fn line(
    (request_id, api_request_id, correlation_id): (String, Option<String>, Option<String>),
    served: Option<&Served>,
    status: u16,
    store: StoreCost,
    took: Duration,
    cause: Option<&str>,
) -> Value {
    let metric = |name: &str, unit: &str| json!({"Name": name, "Unit": unit});
    let (family, route) = served.map_or(("unrouted", "unmatched"), |served| {
        (served.family, served.route.as_str())
    });
    let mut line = json!({
        "_aws": {
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [["family", "route"]],
                    "Metrics": [
                        metric("latency_ms", "Milliseconds"),
                        metric("server_errors", "Count"),
                    ],
                },
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [["family"]],
                    "Metrics": [
                        metric("latency_ms", "Milliseconds"),
                        metric("server_errors", "Count"),
                        metric("client_errors", "Count"),
                        metric("store_ms", "Milliseconds"),
                        metric("store_round_trips", "Count"),
                    ],
                },
            ],
        },
        "message": "request",
        "request_id": request_id,
        "family": family,
        "route": route,
        "status": status,
        "store_round_trips": store.rounds,
        "store_ms": millis(store.busy),
        "latency_ms": millis(took),
        "server_errors": u8::from(status >= 500),
        "client_errors": u8::from((400..500).contains(&status)),
    });
    if let Some(id) = api_request_id {
        line["api_request_id"] = json!(id);
    }
    if let Some(id) = correlation_id {
        line["correlation_id"] = json!(id);
    }
    if let Some(cause) = cause {
        line["cause"] = json!(cause);
    }
    line
}

/// Writes the request's line once its answer is ready.
pub(crate) async fn log_request(request: Request, next: Next) -> Response {
    let Some(sink) = SINK.get() else {
        return next.run(request).await;
    };
    let started = Instant::now();
    let ids = ids(&request);
    let response = next.run(request).await;
    let took = started.elapsed();
    let store = response
        .extensions()
        .get::<StoreCost>()
        .copied()
        .unwrap_or(StoreCost {
            rounds: 0,
            busy: Duration::ZERO,
        });
    let cause = response
        .extensions()
        .get::<crate::error::FailureCause>()
        .map(|cause| cause.0.as_str());
    let line = line(
        ids,
        response.extensions().get::<Served>(),
        response.status().as_u16(),
        store,
        took,
        cause,
    );
    sink(&line.to_string());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_its_dimensions_and_metrics_at_the_root() {
        let served = Served {
            family: "shell",
            route: "GET /api/v4/internal/discover".to_owned(),
        };
        let line = line(
            ("r-1".to_owned(), Some("api-1".to_owned()), None),
            Some(&served),
            503,
            StoreCost {
                rounds: 2,
                busy: Duration::from_micros(1500),
            },
            Duration::from_micros(2250),
            Some("store unavailable"),
        );
        // Every dimension and metric an EMF directive names must be a root member, or
        // CloudWatch drops the metric.
        for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            assert_eq!(directive["Namespace"], METRICS_NAMESPACE);
            for dimension in directive["Dimensions"][0].as_array().unwrap() {
                assert!(line[dimension.as_str().unwrap()].is_string(), "{dimension}");
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                assert!(
                    line[metric["Name"].as_str().unwrap()].is_number(),
                    "{metric}"
                );
            }
        }
        assert_eq!(line["route"], "GET /api/v4/internal/discover");
        assert_eq!(line["store_ms"], 1.5);
        assert_eq!(line["latency_ms"], 2.25);
        assert_eq!(line["server_errors"], 1);
        assert_eq!(line["client_errors"], 0);
        assert_eq!(line["api_request_id"], "api-1");
        assert!(line.get("correlation_id").is_none());
        assert_eq!(line["cause"], "store unavailable");
    }
}
