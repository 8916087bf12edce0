//! Every list a request may carry is capped, and so is what one answer can list: no request
//! makes a function hold or send more than a bounded amount, whatever its body.

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::*;
use gl_store::repo::kas::UsageReport;

const KAS: &str = "/api/v4/internal/kubernetes";
const ZERO: &str = "0000000000000000000000000000000000000000";
const NEW: &str = "1111111111111111111111111111111111111111";

on_both_backends!(
    starboard_identifiers_are_capped_and_so_is_the_answer,
    kas_reports_cap_their_lists,
    scan_results_cap_their_uuids,
    post_receive_links_at_most_a_hundred_branches,
    a_day_of_100_000_users_is_counted_in_bounded_space
);

fn report_with_identifiers(identifiers: Vec<Value>) -> Value {
    json!({
        "vulnerability": {
            "name": "CVE-1 in log4j", "severity": "High",
            "location": {"image": "registry.example.com/web:1.0",
                         "dependency": {"package": {"name": "log4j"}},
                         "kubernetes_resource": {"namespace": "prod", "name": "web", "kind": "Deployment", "container_name": "app", "agent_id": "7"}},
            "identifiers": identifiers,
        },
        "scanner": {"id": "starboard_trivy", "name": "Trivy", "vendor": {"name": "GitLab"}}
    })
}

async fn starboard_identifiers_are_capped_and_so_is_the_answer(app: TestApp) {
    let path = format!("{KAS}/modules/starboard_vulnerability");
    let identifier = |n: usize| json!({"type": "cve", "name": format!("CVE-{n}")});
    let twenty = report_with_identifiers((0..20).map(identifier).collect());
    let response = app.agent_send(Method::PUT, &path, Some(&twenty)).await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.text);

    let twenty_one = report_with_identifiers((0..21).map(identifier).collect());
    app.agent_send(Method::PUT, &path, Some(&twenty_one))
        .await
        .assert(
            400,
            r#"{"error":"vulnerability[identifiers] is expected to have length less than or equal to 20"}"#,
        );

    // Each empty identifier fails twice (type and name): without caps, 130 KB in would be
    // more than Lambda's 6 MB out.
    let empty = report_with_identifiers(vec![json!({}); 40_000]);
    let response = app.agent_send(Method::PUT, &path, Some(&empty)).await;
    assert_eq!(response.status.as_u16(), 400);
    assert!(response.text.len() < 200, "{}", response.text);

    // A report whose finding could not be stored (one item, 400 KB) is refused before it is
    // copied, on both backends alike.
    let mut heavy = report_with_identifiers(vec![identifier(1)]);
    heavy["vulnerability"]["description"] = json!("x".repeat(400 * 1024));
    let response = app.agent_send(Method::PUT, &path, Some(&heavy)).await;
    let size = heavy["vulnerability"].to_string().len() + heavy["scanner"].to_string().len();
    response.assert(
        400,
        &format!(
            r#"{{"message":"400 Bad request - vulnerability is too large ({size} bytes; at most 307200)"}}"#
        ),
    );

    // Within the cap, every failure is still named, at most a hundred of them.
    let mut blank = report_with_identifiers(vec![json!({}); 20]);
    blank["vulnerability"]["severity"] = json!(null);
    let response = app.agent_send(Method::PUT, &path, Some(&blank)).await;
    assert_eq!(response.status.as_u16(), 400);
    let error = response.json()["error"].as_str().unwrap().to_owned();
    assert!(error.starts_with(
        "vulnerability[severity] is missing, vulnerability[identifiers][0][type] is missing, "
    ));
    assert_eq!(error.split(", ").count(), 41);
}

async fn kas_reports_cap_their_lists(app: TestApp) {
    let ids = |n: usize| (0..n as i64).collect::<Vec<_>>();
    let over = json!({"unique_counters": {"k8s_api_proxy_requests_unique_users_via_ci_access": ids(50_001)}});
    app.kas_post(&format!("{KAS}/usage_metrics"), &over)
        .await
        .assert(
            400,
            r#"{"error":"unique_counters[k8s_api_proxy_requests_unique_users_via_ci_access] is expected to have length less than or equal to 50000"}"#,
        );
    let event = "k8s_api_proxy_requests_unique_users_via_user_access";
    let entries = |n: usize| {
        (0..n)
            .map(|i| json!({"user_id": i, "project_id": 1}))
            .collect::<Vec<_>>()
    };
    app.kas_post(
        &format!("{KAS}/agent_events"),
        &json!({"events": {event: entries(50_001)}}),
    )
    .await
    .assert(
        400,
        &format!(
            r#"{{"error":"events[{event}] is expected to have length less than or equal to 50000"}}"#
        ),
    );
    // Every entry invalid: a hundred of them named, not ten thousand.
    let invalid = vec![json!({"user_id": "x"}); 10_000];
    let response = app
        .kas_post(
            &format!("{KAS}/agent_events"),
            &json!({"events": {event: invalid}}),
        )
        .await;
    assert_eq!(response.status.as_u16(), 400);
    let error = response.json()["error"].as_str().unwrap().to_owned();
    assert_eq!(error.split(", ").count(), 100);
    assert!(error.ends_with(&format!("events[{event}][99][user_id] is invalid")));
    // Nothing was counted by any refused report.
    for report in [UsageReport::Metrics, UsageReport::Events] {
        let usage = app.repo.kas().usage(report, &today()).await.unwrap();
        assert_eq!(usage, Default::default(), "{report:?}");
    }
}

async fn scan_results_cap_their_uuids(app: TestApp) {
    let path = format!("{KAS}/modules/starboard_vulnerability/scan_result");
    let uuids = |n: usize| {
        (0..n)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect::<Vec<_>>()
    };
    app.agent_send(Method::POST, &path, Some(&json!({"uuids": uuids(50_001)})))
        .await
        .assert(
            400,
            r#"{"error":"uuids is expected to have length less than or equal to 50000"}"#,
        );
    // The most a scan may keep is stored, in one transaction.
    let response = app
        .agent_send(Method::POST, &path, Some(&json!({"uuids": uuids(50_000)})))
        .await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.text);
}

async fn post_receive_links_at_most_a_hundred_branches(app: TestApp) {
    let changes: String = (0..150)
        .map(|i| format!("{ZERO} {NEW} refs/heads/topic-{i}\n"))
        .collect();
    let response = app
        .shell_post(
            "/api/v4/internal/post_receive",
            &json!({"changes": changes, "gl_repository": "project-26", "identifier": "user-2"}),
        )
        .await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.text);
    let messages = response.json()["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), 100);
    assert!(
        messages[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("To create a merge request for topic-0, visit:")
    );
    assert!(
        messages[99]["message"]
            .as_str()
            .unwrap()
            .starts_with("To create a merge request for topic-99, visit:")
    );
}

/// Twenty KAS replicas report at once, 5,000 users each, 100,000 in all: the day's unique
/// count is the HyperLogLog estimate of all of them (no report lost), within 5%, and its
/// item stays far below DynamoDB's 400 KB; the counters reported alongside are exact.
async fn a_day_of_100_000_users_is_counted_in_bounded_space(app: TestApp) {
    const COUNTER: &str = "k8s_api_proxy_requests_unique_users_via_user_access";
    let app = std::sync::Arc::new(app);
    let reports: Vec<_> = (0..20i64)
        .map(|replica| {
            let app = app.clone();
            let users: Vec<i64> = (replica * 5_000..(replica + 1) * 5_000).collect();
            let body = json!({"counters": {"k8s_api_proxy_request": 1}, "unique_counters": {COUNTER: users}});
            tokio::spawn(async move {
                let response = app.kas_post(&format!("{KAS}/usage_metrics"), &body).await;
                (response.status.as_u16(), response.text)
            })
        })
        .collect();
    for report in reports {
        assert_eq!(report.await.unwrap(), (204, String::new()));
    }
    let usage = app
        .repo
        .kas()
        .usage(UsageReport::Metrics, &today())
        .await
        .unwrap();
    assert_eq!(usage.counts["k8s_api_proxy_request"], 20);
    let all: Vec<i64> = (0..100_000).collect();
    let expected = gl_model::unique_count::estimate(gl_model::unique_count::observations(&all));
    assert_eq!(
        usage.uniques[COUNTER], expected,
        "every report's users are in"
    );
    assert!(expected.abs_diff(100_000) < 5_000, "{expected}");

    let key = gl_store::keys::kas_unique_counter("USAGE", &today(), COUNTER);
    let stored = app.repo.store().get_many(&[key]).await.unwrap();
    let size = serde_json::to_vec(&stored[0].as_ref().unwrap().attrs)
        .unwrap()
        .len();
    assert!(size < 100_000, "the day's sketch is {size} bytes");
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}
