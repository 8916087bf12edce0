//! The DynamoDB adapter under faults, injected at its HTTP client in front of the emulator:
//! throttling, 500s, reset connections, attempts that time out, a store that never answers,
//! and answers lost after the emulator applied a write. What GitLab's clients must see: the
//! answer they would have had when a retry can still get it, otherwise a prompt
//! `503 {"message":"503 Service Unavailable"}` within the request's deadline; and a write
//! applied once, whole, or not at all.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use axum::http::Method;
use gl_store::dynamodb::{DynamoConfig, DynamoStore, Timeouts};
use serde_json::json;

use crate::scim::{group_call, okta_user};
use crate::support::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// DynamoDB's 400 `ThrottlingException`.
    Throttle,
    /// DynamoDB's 500 `InternalServerError`.
    ServerError,
    /// The connection reset before the request reached the store.
    Reset,
    /// No answer, ever: the attempt (or the request) times out.
    Hang,
    /// The store applies the request, then the connection resets before its answer arrives.
    LoseAnswer,
}

/// Which requests get faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Every,
    Writes,
}

/// The faults to inject and what was sent.
#[derive(Debug)]
struct Plan {
    target: Target,
    /// The faults for the next targeted requests, in order.
    next: VecDeque<Fault>,
    /// The fault for every targeted request once `next` is used up.
    then: Option<Fault>,
    /// Every request sent: its operation (`GetItem`, `TransactWriteItems`, ...) and body.
    sent: Vec<(String, String)>,
}

impl Plan {
    fn fault_for(&mut self, operation: &str) -> Option<Fault> {
        let targeted = match self.target {
            Target::Every => true,
            Target::Writes => matches!(
                operation,
                "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem"
            ),
        };
        if !targeted {
            return None;
        }
        self.next.pop_front().or(self.then)
    }
}

#[derive(Clone, Debug)]
struct Faults(Arc<Mutex<Plan>>);

impl Faults {
    /// From now on: `next` for the first targeted requests, then `then` for every one.
    fn inject(&self, target: Target, next: &[Fault], then: Option<Fault>) {
        let mut plan = self.0.lock().unwrap();
        plan.target = target;
        plan.next = next.iter().copied().collect();
        plan.then = then;
        plan.sent.clear();
    }

    fn clear(&self) {
        self.inject(Target::Every, &[], None);
    }

    fn sent(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap().sent.clone()
    }

    fn unused(&self) -> usize {
        self.0.lock().unwrap().next.len()
    }
}

/// The SDK's HTTP client with the faults of a [`Plan`] in front of it.
#[derive(Clone, Debug)]
struct FaultyClient {
    inner: SharedHttpClient,
    faults: Faults,
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

impl HttpClient for FaultyClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            faults: self.faults.clone(),
        })
    }
}

fn dynamodb_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
        "message": message,
    });
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).expect("a status code"),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

fn reset() -> ConnectorError {
    ConnectorError::io(Box::new(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "connection reset by the fault plan",
    )))
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .trim_start_matches("DynamoDB_20120810.")
            .to_owned();
        let body = request
            .body()
            .bytes()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_default();
        let fault = {
            let mut plan = self.faults.0.lock().unwrap();
            let fault = plan.fault_for(&operation);
            plan.sent.push((operation, body));
            fault
        };
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            match fault {
                None => inner.call(request).await,
                Some(Fault::Throttle) => Ok(dynamodb_error(
                    400,
                    "ThrottlingException",
                    "Rate of requests exceeds the allowed throughput.",
                )),
                Some(Fault::ServerError) => Ok(dynamodb_error(
                    500,
                    "InternalServerError",
                    "Internal server error",
                )),
                Some(Fault::Reset) => Err(reset()),
                Some(Fault::Hang) => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Err(reset())
                }
                Some(Fault::LoseAnswer) => {
                    let _applied = inner.call(request).await;
                    Err(reset())
                }
            }
        })
    }
}

/// Short attempts, so that timed-out attempts make short tests.
const QUICK: Timeouts = Timeouts {
    attempt: Duration::from_millis(500),
    operation: Duration::from_secs(5),
    request: Duration::from_secs(15),
};

/// The test world on a table of its own behind a faulty client; `None` when no emulator is
/// configured outside CI.
async fn faulty_world(timeouts: Timeouts) -> Option<(TestApp, Faults)> {
    let endpoint = dynamo_endpoint()?;
    let faults = Faults(Arc::new(Mutex::new(Plan {
        target: Target::Every,
        next: VecDeque::new(),
        then: None,
        sent: Vec::new(),
    })));
    let client = FaultyClient {
        inner: aws_smithy_http_client::Builder::new().build_http(),
        faults: faults.clone(),
    };
    let store = DynamoStore::connect(&DynamoConfig {
        table: format!("faults-{}", unique_suffix()),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        timeouts,
        http_client: Some(SharedHttpClient::new(client)),
    })
    .await;
    store
        .create_table_if_missing()
        .await
        .expect("the emulator creates the table");
    let app = TestApp::over(Arc::new(store.clone()), Some(store))
        .with_world()
        .await;
    Some((app, faults))
}

async fn discover_root(app: &TestApp) -> TestResponse {
    app.shell_get("/api/v4/internal/discover?username=root")
        .await
}

#[tokio::test]
async fn throttling_server_errors_and_resets_are_retried() {
    let Some((app, faults)) = faulty_world(QUICK).await else {
        return;
    };
    let expected = discover_root(&app).await;
    assert_eq!(expected.status.as_u16(), 200, "{}", expected.text);
    for fault in [
        Fault::Throttle,
        Fault::ServerError,
        Fault::Reset,
        Fault::Hang,
    ] {
        faults.inject(Target::Every, &[fault, fault], None);
        let answer = discover_root(&app).await;
        assert_eq!(
            (answer.status, &answer.text),
            (expected.status, &expected.text),
            "{fault:?} twice, then answers"
        );
        assert_eq!(faults.unused(), 0, "{fault:?}: both faults met");
    }
}

#[tokio::test]
async fn a_store_failing_every_attempt_is_a_503_after_three() {
    let Some((app, faults)) = faulty_world(QUICK).await else {
        return;
    };
    for fault in [
        Fault::Throttle,
        Fault::ServerError,
        Fault::Reset,
        Fault::Hang,
    ] {
        faults.inject(Target::Every, &[], Some(fault));
        let started = Instant::now();
        discover_root(&app).await.assert_snapshot_for(
            503,
            "store_unavailable",
            format!("{fault:?}"),
        );
        // One store call, tried three times: the first failure ends the request.
        assert_eq!(faults.sent().len(), 3, "{fault:?}: {:?}", faults.sent());
        assert!(
            started.elapsed() < QUICK.operation,
            "{fault:?} took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn a_store_that_never_answers_meets_the_request_deadline() {
    // The SDK would wait a minute; the request's deadline is one second.
    let Some((app, faults)) = faulty_world(Timeouts {
        attempt: Duration::from_secs(60),
        operation: Duration::from_secs(60),
        request: Duration::from_secs(1),
    })
    .await
    else {
        return;
    };
    faults.inject(Target::Every, &[], Some(Fault::Hang));
    let started = Instant::now();
    discover_root(&app)
        .await
        .assert_snapshot(503, "store_unavailable");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "took {took:?}"
    );
}

/// The reference counter is a single-item `ADD`: a retry that applied it again would count
/// one push twice, and the repository would look busy forever (until its TTL).
#[tokio::test]
async fn a_counter_write_whose_answer_was_lost_counts_once() {
    let Some((app, faults)) = faulty_world(QUICK).await else {
        return;
    };
    faults.inject(Target::Writes, &[Fault::LoseAnswer], None);
    app.shell_post(
        "/api/v4/internal/pre_receive",
        &json!({"gl_repository": "project-26"}),
    )
    .await
    .assert_snapshot(200, "pre_receive_increased");
    assert_eq!(faults.unused(), 0, "the answer was lost");
    let retries = sends_of(&faults, "TransactWriteItems");
    faults.clear();
    let count = app
        .repo
        .shell()
        .reference_counter("project-26")
        .await
        .unwrap();
    assert_eq!(count, 1, "one push counted once");
    assert_eq!(retries.len(), 2, "sent, then sent again: {retries:?}");
    assert_eq!(retries[0], retries[1], "with the same token");
}

/// What was sent of `operation` since the plan last changed.
fn sends_of(faults: &Faults, operation: &str) -> Vec<(String, String)> {
    faults
        .sent()
        .into_iter()
        .filter(|(sent, _)| sent == operation)
        .collect()
}

/// A SCIM create is one transaction with conditions (the user, its identity, its unique
/// username and email). Its retry after a lost answer must not fail on its own items: the
/// identity provider gets its 201, and there is one user.
#[tokio::test]
async fn a_create_whose_answer_was_lost_is_still_one_create() {
    let Some((app, faults)) = faulty_world(QUICK).await else {
        return;
    };
    let before = group_call(&app, Method::GET, "/Users", None).await.json()["totalResults"]
        .as_i64()
        .unwrap();
    faults.inject(Target::Writes, &[Fault::LoseAnswer], None);
    let created = group_call(
        &app,
        Method::POST,
        "/Users",
        Some(&okta_user("lost-1", "lost", "lost@example.com")),
    )
    .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    assert_eq!(faults.unused(), 0, "the answer was lost");
    let retries = sends_of(&faults, "TransactWriteItems");
    assert_eq!(retries.len(), 2, "sent, then sent again: {retries:?}");
    assert_eq!(retries[0], retries[1], "with the same token");
    faults.clear();
    let after = group_call(&app, Method::GET, "/Users", None).await.json()["totalResults"]
        .as_i64()
        .unwrap();
    assert_eq!(after, before + 1);
}

/// A transaction that never lands answers 503 and leaves nothing behind: once the store is
/// back, the same create is a fresh 201, not a 409 on half of it.
#[tokio::test]
async fn a_write_that_cannot_land_leaves_nothing() {
    let Some((app, faults)) = faulty_world(QUICK).await else {
        return;
    };
    let before = group_call(&app, Method::GET, "/Users", None).await.json()["totalResults"]
        .as_i64()
        .unwrap();
    let user = okta_user("down-1", "down", "down@example.com");
    faults.inject(Target::Writes, &[], Some(Fault::ServerError));
    let refused = group_call(&app, Method::POST, "/Users", Some(&user)).await;
    assert_eq!(refused.status.as_u16(), 503, "{}", refused.text);
    faults.clear();
    let listed = group_call(&app, Method::GET, "/Users", None).await.json();
    assert_eq!(listed["totalResults"].as_i64(), Some(before), "{listed}");
    let created = group_call(&app, Method::POST, "/Users", Some(&user)).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
}
