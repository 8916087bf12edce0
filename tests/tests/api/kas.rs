//! The kas family: KAS JWT and agent token authentication, agent and project info, usage
//! metrics, agent events and configuration, the Starboard module and its policies.

use axum::body::Body;
use axum::http::{Method, Request};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::*;
use gl_model::UsageCounts;
use gl_store::repo::kas::UsageReport;
use kas::starboard_vulnerability::{FindingState, finding_state};
use std::collections::BTreeMap;

const BASE: &str = "/api/v4/internal/kubernetes";

/// Every Starboard finding of `agent_id` by UUID, with its state as of the agent's last scan.
async fn finding_states(app: &TestApp, agent_id: i64) -> BTreeMap<String, FindingState> {
    let found = app.repo.kas().starboard_findings(agent_id).await.unwrap();
    let last_scan = found.last_scan.as_ref();
    found
        .findings
        .iter()
        .map(|f| (f.uuid.clone(), finding_state(f, last_scan)))
        .collect()
}

/// Today's recorded KAS totals of one report.
async fn usage(app: &TestApp, report: UsageReport) -> UsageCounts {
    let today = chrono::Utc::now().date_naive().to_string();
    app.repo.kas().usage(report, &today).await.unwrap()
}

/// KAS on behalf of the seeded agent, below `/internal/kubernetes`.
async fn get(app: &TestApp, path: &str) -> TestResponse {
    app.agent_send(Method::GET, &format!("{BASE}{path}"), None)
        .await
}

async fn send(app: &TestApp, method: Method, path: &str, body: Value) -> TestResponse {
    app.agent_send(method, &format!("{BASE}{path}"), Some(&body))
        .await
}

/// KAS on its own account (no agent token), below `/internal/kubernetes`.
async fn post(app: &TestApp, path: &str, body: &Value) -> TestResponse {
    app.kas_post(&format!("{BASE}{path}"), body).await
}

fn signed(claims: Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap()
}

fn vulnerability(cve: &str) -> Value {
    json!({
        "vulnerability": {
            "name": format!("{cve} in log4j"), "severity": "High", "confidence": "Medium",
            "location": {"image": "registry.example.com/web:1.0",
                         "dependency": {"package": {"name": "log4j"}, "version": "2.14"},
                         "kubernetes_resource": {"namespace": "prod", "name": "web", "kind": "Deployment", "container_name": "app", "agent_id": "7"}},
            "identifiers": [{"type": "cve", "name": cve, "value": cve, "url": "https://cve.example/x"}],
            "description": "bad"
        },
        "scanner": {"id": "starboard_trivy", "name": "Trivy (via Starboard Operator)", "vendor": {"name": "GitLab"}}
    })
}

on_both_backends!(
    kas_jwt_rejections,
    agent_token_rules,
    agent_info_on_both_paths,
    project_info_and_access,
    usage_metrics_bad_input,
    usage_metrics_at_the_integer_limit,
    agent_events_and_configuration,
    starboard_reports_are_idempotent,
    documents_beyond_dynamodb_limits_are_kept,
    large_scans_and_the_scan_after_them,
    starboard_bad_input,
    policies
);

async fn kas_jwt_rejections(app: TestApp) {
    let now = chrono::Utc::now().timestamp();
    let base64_text = base64::engine::general_purpose::STANDARD.encode(KAS_KEY);
    let rejected = [
        ("missing", String::new()),
        (
            "wrong issuer",
            signed(
                json!({"iss": "gitlab-shell", "aud": ["gitlab"], "exp": now + 30}),
                KAS_KEY,
            ),
        ),
        (
            "wrong audience",
            signed(
                json!({"iss": "gitlab-kas", "aud": ["gitlab-pages"], "exp": now + 30}),
                KAS_KEY,
            ),
        ),
        (
            "no audience",
            signed(json!({"iss": "gitlab-kas", "exp": now + 30}), KAS_KEY),
        ),
        (
            "raw base64 text as key",
            signed(
                json!({"iss": "gitlab-kas", "aud": ["gitlab"], "exp": now + 30}),
                base64_text.as_bytes(),
            ),
        ),
        (
            "expired, no leeway",
            signed(
                json!({"iss": "gitlab-kas", "aud": ["gitlab"], "exp": now - 2}),
                KAS_KEY,
            ),
        ),
        ("shell JWT", jwt_now()),
        // Stricter than GitLab: a KAS JWT must expire, and within five minutes.
        (
            "no expiry",
            signed(json!({"iss": "gitlab-kas", "aud": ["gitlab"]}), KAS_KEY),
        ),
        (
            "living an hour",
            signed(
                json!({"iss": "gitlab-kas", "aud": ["gitlab"], "iat": now, "exp": now + 3600}),
                KAS_KEY,
            ),
        ),
    ];
    for (case, jwt) in rejected {
        for (method, path, body) in [
            (Method::GET, "/agent_info", None),
            (Method::POST, "/usage_metrics", Some(json!({}))),
            (Method::GET, "/project_info", None),
        ] {
            let response = app
                .send(kas_request(
                    method,
                    &format!("{BASE}{path}"),
                    &jwt,
                    Some(AGENT_TOKEN),
                    body.as_ref(),
                ))
                .await;
            response.assert_snapshot_for(401, "kas_invalid_jwt", format_args!("{case} on {path}"));
        }
    }
    let string_audience = signed(
        json!({"iss": "gitlab-kas", "aud": "gitlab", "exp": now + 30}),
        KAS_KEY,
    );
    let response = app
        .send(kas_request(
            Method::GET,
            &format!("{BASE}/agent_info"),
            &string_audience,
            Some(AGENT_TOKEN),
            None,
        ))
        .await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.text);
}

async fn agent_token_rules(app: TestApp) {
    for token in [None, Some("unknown"), Some("revoked-agent-token"), Some("")] {
        app.send(kas_request(
            Method::GET,
            &format!("{BASE}/agent_info"),
            &kas_jwt(),
            token,
            None,
        ))
        .await
        .assert_snapshot(401, "unauthorized");
    }
    let basic = Request::get(format!("{BASE}/agent_info"))
        .header("Gitlab-Kas-Api-Request", kas_jwt())
        .header("Authorization", format!("Basic {AGENT_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    app.send(basic).await.assert_snapshot(401, "unauthorized");
    // The newer agentk header stands in when there is no Authorization header.
    let agentk = Request::get(format!("{BASE}/agent_info"))
        .header("Gitlab-Kas-Api-Request", kas_jwt())
        .header("Gitlab-Agentk-Api-Request", AGENT_TOKEN)
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(agentk).await.status.as_u16(), 200);
    // Endpoints without an agent do not demand a token.
    let metrics = post(&app, "/usage_metrics", &json!({})).await;
    assert_eq!(metrics.status.as_u16(), 204, "{}", metrics.text);
}

async fn agent_info_on_both_paths(app: TestApp) {
    get(&app, "/agent_info")
        .await
        .assert_snapshot(200, "kas_agent_info");
    let alias = app
        .agent_send(
            Method::GET,
            "/api/v4/internal/agents/agentk/agent_info",
            None,
        )
        .await;
    alias.assert_snapshot(200, "kas_agent_info");
    app.take_round_trips();
    get(&app, "/agent_info").await;
    assert_eq!(app.take_round_trips(), 2);
}

async fn project_info_and_access(app: TestApp) {
    get(&app, "/project_info?id=26")
        .await
        .assert_snapshot(200, "kas_project_info_26");
    let public = get(&app, "/project_info?id=group%2Fsubgroup%2Fpublic-proj").await;
    assert_eq!(public.json()["project_id"], 28, "{}", public.text);
    for id in [
        "27",
        "group%2Finternal-proj",
        "999",
        "group%2Fnope",
        "group",
    ] {
        get(&app, &format!("/project_info?id={id}"))
            .await
            .assert_snapshot(404, "not_found");
        let denied = get(&app, &format!("/verify_project_access?id={id}")).await;
        denied.assert_snapshot_for(404, "not_found", id);
    }
    // No `id` finds no project; the agent token is still checked first.
    get(&app, "/project_info")
        .await
        .assert_snapshot(404, "not_found");
    assert_eq!(
        get(&app, "/verify_project_access").await.status.as_u16(),
        404
    );
    let no_agent = kas_request(
        Method::GET,
        &format!("{BASE}/project_info"),
        &kas_jwt(),
        Some("unknown-token"),
        None,
    );
    app.send(no_agent)
        .await
        .assert_snapshot(401, "unauthorized");
    let allowed = get(&app, "/verify_project_access?id=26").await;
    assert_eq!((allowed.status.as_u16(), allowed.text.as_str()), (204, ""));

    // Grants in the agent's configuration do not open other private projects: GitLab
    // allows only public projects and the agent's own.
    let config = json!({"agent_id": 7, "agent_config": {"ci_access": {"projects": [{"id": "group/internal-proj"}], "groups": [{"id": "alice"}]}}});
    let response = post(&app, "/agent_configuration", &config).await;
    assert_eq!(
        (response.status.as_u16(), response.text.as_str()),
        (204, "")
    );
    get(&app, "/project_info?id=27")
        .await
        .assert_snapshot(404, "not_found");
    assert_eq!(
        get(&app, "/verify_project_access?id=alice%2Fdotfiles")
            .await
            .status
            .as_u16(),
        404
    );

    app.take_round_trips();
    get(&app, "/project_info?id=group%2Finternal-proj").await;
    assert_eq!(app.take_round_trips(), 2);
}

/// Found by Schemathesis: a count of i64::MAX added to a counter that already held one was
/// once a 500 (an overflow in the embedded store). Every report is taken.
async fn usage_metrics_at_the_integer_limit(app: TestApp) {
    let huge = json!({"counters": {"k8s_api_proxy_request": i64::MAX}});
    for _ in 0..2 {
        let response = post(&app, "/usage_metrics", &huge).await;
        assert_eq!(
            (response.status.as_u16(), response.text),
            (204, String::new())
        );
    }
    let small = json!({"counters": {"k8s_api_proxy_request": 1}});
    assert_eq!(
        post(&app, "/usage_metrics", &small).await.status.as_u16(),
        204
    );
}

async fn usage_metrics_bad_input(app: TestApp) {
    let cases = [
        (
            json!({"counters": {"k8s_api_proxy_request": "many"}}),
            400,
            "kas_usage_metrics_counter_invalid",
        ),
        (
            json!({"counters": {"k8s_api_proxy_request": 1.5}}),
            400,
            "kas_usage_metrics_counter_invalid",
        ),
        (
            json!({"counters": [1]}),
            400,
            "kas_usage_metrics_counters_invalid",
        ),
        (
            json!({"unique_counters": {"flux_git_push_notified_unique_projects": 5}}),
            400,
            "kas_usage_metrics_unique_counter_invalid",
        ),
        (
            json!({"unique_counters": {"flux_git_push_notified_unique_projects": ["a"]}}),
            400,
            "kas_usage_metrics_unique_counter_invalid",
        ),
        (
            json!({"counters": {"k8s_api_proxy_request": -1}}),
            400,
            "kas_usage_metrics_negative_count",
        ),
        // Every invalid member is named, as Grape joins its errors; validation wins over
        // the negative count found in the endpoint body.
        (
            json!({"counters": {"k8s_api_proxy_request": -1, "flux_git_push_notifications_total": "x"}, "unique_counters": {"flux_git_push_notified_unique_projects": 5}}),
            400,
            "kas_usage_metrics_every_invalid_member",
        ),
    ];
    for (body, status, snapshot) in cases {
        let response = post(&app, "/usage_metrics", &body).await;
        response.assert_snapshot(status, snapshot);
    }
    let metrics = usage(&app, UsageReport::Metrics).await;
    assert_eq!(
        metrics,
        UsageCounts::default(),
        "rejected reports record nothing"
    );
}

async fn agent_events_and_configuration(app: TestApp) {
    let events = json!({"events": {"k8s_api_proxy_requests_unique_users_via_ci_access": [{"user_id": 2, "project_id": 26}, {"user_id": 2, "project_id": 27}],
                                   "register_agent_at_kas": [{"project_id": 26, "agent_version": "v17.6.0", "architecture": "arm64", "agent_id": 7}]}});
    let response = post(&app, "/agent_events", &events).await;
    assert_eq!(
        (response.status.as_u16(), response.text.as_str()),
        (204, "")
    );
    let recorded = usage(&app, UsageReport::Events).await;
    assert_eq!(
        recorded.counts["k8s_api_proxy_requests_unique_users_via_ci_access"],
        2
    );
    assert_eq!(
        recorded.uniques["k8s_api_proxy_requests_unique_users_via_ci_access_users"],
        1
    );
    assert_eq!(recorded.counts["register_agent_at_kas"], 1);
    let bad = json!({"events": {"register_agent_at_kas": [{"project_id": "x"}]}});
    post(&app, "/agent_events", &bad)
        .await
        .assert_snapshot(400, "kas_agent_events_invalid");
    let two_bad = json!({"events": {"register_agent_at_kas": [{"project_id": "x"}, 5]}});
    post(&app, "/agent_events", &two_bad)
        .await
        .assert_snapshot(400, "kas_agent_events_two_invalid");

    post(&app, "/agent_configuration", &json!({}))
        .await
        .assert_snapshot(400, "kas_agent_configuration_missing");
    post(
        &app,
        "/agent_configuration",
        &json!({"agent_id": "x", "agent_config": {}}),
    )
    .await
    .assert_snapshot(400, "kas_agent_configuration_agent_id_invalid");
    post(&app, "/agent_configuration", &json!({"agent_id": "x"}))
        .await
        .assert_snapshot(400, "kas_agent_configuration_invalid_and_missing");
    post(
        &app,
        "/agent_configuration",
        &json!({"agent_id": 999, "agent_config": {}}),
    )
    .await
    .assert_snapshot(404, "not_found_lowercase");
    let stored = json!({"gitops": {"manifest_projects": [{"id": "group/private"}]}});
    let response = post(
        &app,
        "/agent_configuration",
        &json!({"agent_id": 7, "agent_config": stored}),
    )
    .await;
    assert_eq!(response.status.as_u16(), 204);
    let configuration = app.repo.kas().agent_configuration(7).await.unwrap();
    assert_eq!(configuration.map(|c| c.agent_config), Some(stored));
}

/// Found by Schemathesis: JSON a client sends as it likes (Starboard's documents, an agent's
/// configuration) may hold numbers DynamoDB's cannot (2.2e-308, 1e300) and nest deeper than
/// its maps (32): stored as text, they are kept and read back whole on both backends.
async fn documents_beyond_dynamodb_limits_are_kept(app: TestApp) {
    let deep = (0..40).fold(
        json!({"tiny": 2.2250738585072014e-308, "huge": 1e300}),
        |inner, _| json!({"nested": inner}),
    );
    let mut report = vulnerability("CVE-2021-44228");
    report["vulnerability"]["location"]["extra"] = deep.clone();
    report["scanner"]["extra"] = deep.clone();
    let response = send(
        &app,
        Method::PUT,
        "/modules/starboard_vulnerability",
        report,
    )
    .await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.text);
    let stored = json!({"gitops": {"manifest_projects": [{"id": "group/private"}]}, "extra": deep,
                        "user_access": {"access_as": {"agent": {"limit": 1e300}}}});
    let response = post(
        &app,
        "/agent_configuration",
        &json!({"agent_id": 7, "agent_config": stored}),
    )
    .await;
    assert_eq!(response.status.as_u16(), 204, "{}", response.text);
    let configuration = app.repo.kas().agent_configuration(7).await.unwrap();
    assert_eq!(configuration.map(|c| c.agent_config), Some(stored));
}

async fn starboard_reports_are_idempotent(app: TestApp) {
    let first = send(
        &app,
        Method::PUT,
        "/modules/starboard_vulnerability",
        vulnerability("CVE-2021-44228"),
    )
    .await;
    assert_eq!(first.status.as_u16(), 200, "{}", first.text);
    let uuid = first.json()["uuid"].as_str().unwrap().to_owned();
    first.assert(200, &format!(r#"{{"uuid":"{uuid}"}}"#));
    // agentk's module path has a trailing slash.
    let again = send(
        &app,
        Method::PUT,
        "/modules/starboard_vulnerability/",
        vulnerability("CVE-2021-44228"),
    )
    .await;
    again.assert(200, &format!(r#"{{"uuid":"{uuid}"}}"#));
    assert_eq!(finding_states(&app, 7).await.len(), 1);
    let other = send(
        &app,
        Method::PUT,
        "/modules/starboard_vulnerability",
        vulnerability("CVE-2022-0001"),
    )
    .await
    .json();
    assert_ne!(other["uuid"], json!(uuid));

    // scan_result resolves every finding not in the list.
    let kept = json!({"uuids": [uuid]});
    let response = send(
        &app,
        Method::POST,
        "/modules/starboard_vulnerability/scan_result",
        kept,
    )
    .await;
    response.assert_snapshot(200, "kas_starboard_scan_result");
    let findings = finding_states(&app, 7).await;
    assert_eq!(findings[uuid.as_str()], FindingState::Detected);
    let other_uuid = other["uuid"].as_str().unwrap();
    assert_eq!(findings[other_uuid], FindingState::Resolved);
    // Reported again, a resolved finding is detected again.
    send(
        &app,
        Method::PUT,
        "/modules/starboard_vulnerability",
        vulnerability("CVE-2022-0001"),
    )
    .await;
    let findings = finding_states(&app, 7).await;
    assert!(findings.values().all(|s| *s == FindingState::Detected));

    app.take_round_trips();
    send(
        &app,
        Method::PUT,
        "/modules/starboard_vulnerability",
        vulnerability("CVE-2021-44228"),
    )
    .await;
    assert_eq!(app.take_round_trips(), 2);
    send(
        &app,
        Method::POST,
        "/modules/starboard_vulnerability/scan_result",
        json!({"uuids": []}),
    )
    .await
    .assert_snapshot(200, "kas_starboard_scan_result");
    assert_eq!(app.take_round_trips(), 2);
    let findings = finding_states(&app, 7).await;
    assert!(findings.values().all(|s| *s == FindingState::Resolved));
}

async fn large_scans_and_the_scan_after_them(app: TestApp) {
    let mut reported = Vec::new();
    for cve in ["CVE-2021-44228", "CVE-2022-0001"] {
        let response = send(
            &app,
            Method::PUT,
            "/modules/starboard_vulnerability",
            vulnerability(cve),
        )
        .await;
        reported.push(response.json()["uuid"].as_str().unwrap().to_owned());
    }
    // 16,000 UUIDs that sort first push the two reported ones into the scan's third item;
    // the reported ones are sent upper-cased (UUIDs compare as UUIDs), and strings that are
    // no UUID are dropped.
    assert!(reported.iter().all(|uuid| !uuid.starts_with("00000000")));
    let mut uuids: Vec<String> = (0..16_000)
        .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
        .collect();
    uuids.extend(reported.iter().map(|uuid| uuid.to_uppercase()));
    uuids.push("not-a-uuid".to_owned());
    app.take_round_trips();
    send(
        &app,
        Method::POST,
        "/modules/starboard_vulnerability/scan_result",
        json!({"uuids": uuids}),
    )
    .await
    .assert_snapshot(200, "kas_starboard_scan_result");
    assert_eq!(app.take_round_trips(), 2);
    let findings = finding_states(&app, 7).await;
    assert_eq!(findings.len(), 2);
    assert!(
        findings.values().all(|s| *s == FindingState::Detected),
        "{findings:?}"
    );
    // A smaller scan replaces it; the larger scan's later items no longer count.
    send(
        &app,
        Method::POST,
        "/modules/starboard_vulnerability/scan_result",
        json!({"uuids": ["00000000-0000-0000-0000-000000000001"]}),
    )
    .await
    .assert_snapshot(200, "kas_starboard_scan_result");
    let findings = finding_states(&app, 7).await;
    assert!(
        findings.values().all(|s| *s == FindingState::Resolved),
        "{findings:?}"
    );
    // Other agents' findings are untouched by this agent's scans.
    assert!(finding_states(&app, 8).await.is_empty());
}

async fn starboard_bad_input(app: TestApp) {
    const REPORT: &str = "/modules/starboard_vulnerability";
    const SCAN: &str = "/modules/starboard_vulnerability/scan_result";
    let mut bad_severity = vulnerability("CVE-1");
    bad_severity["vulnerability"]["severity"] = json!("catastrophic");
    let mut bad_confidence = vulnerability("CVE-1");
    bad_confidence["vulnerability"]["confidence"] = json!("sure");
    let mut no_location = vulnerability("CVE-1");
    no_location["vulnerability"]
        .as_object_mut()
        .unwrap()
        .remove("location");
    let cases = [
        (
            Method::PUT,
            REPORT,
            bad_severity,
            "kas_starboard_bad_severity",
        ),
        (
            Method::PUT,
            REPORT,
            bad_confidence,
            "kas_starboard_bad_confidence",
        ),
        (
            Method::PUT,
            REPORT,
            no_location,
            "kas_starboard_no_location",
        ),
        (Method::PUT, REPORT, json!({}), "kas_starboard_nothing"),
        (
            Method::POST,
            SCAN,
            json!({"uuids": "x"}),
            "kas_starboard_uuids_invalid",
        ),
        (Method::POST, SCAN, json!({}), "kas_starboard_uuids_missing"),
    ];
    for (method, path, body, snapshot) in cases {
        send(&app, method, path, body)
            .await
            .assert_snapshot(400, snapshot);
    }
    assert!(finding_states(&app, 7).await.is_empty());
}

async fn policies(app: TestApp) {
    get(
        &app,
        "/modules/starboard_vulnerability/policies_configuration",
    )
    .await
    .assert_snapshot(200, "kas_starboard_policies_configuration");
    let policies = get(
        &app,
        "/modules/starboard_vulnerability/scan_execution_policies",
    )
    .await
    .json();
    let names: Vec<&str> = policies["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nightly", "paused"]);
    let nightly = &policies["policies"][0];
    assert_eq!(nightly["enabled"], true);
    assert_eq!(nightly["updated_at"], "2024-05-06T07:08:09.123Z");
    assert!(
        nightly["yaml"]
            .as_str()
            .unwrap()
            .contains("cadence: \"30 2 * * *\"")
    );
    app.take_round_trips();
    get(
        &app,
        "/modules/starboard_vulnerability/policies_configuration",
    )
    .await;
    assert_eq!(app.take_round_trips(), 2);
}

async fn pat(app: &TestApp, user_id: i64, scopes: Value) -> String {
    user_personal_access_token(app, user_id, scopes).await
}

async fn configure(app: &TestApp, agent_id: i64, user_access: Value) {
    let body = json!({"agent_id": agent_id, "agent_config": {"user_access": user_access}});
    let response = post(app, "/agent_configuration", &body).await;
    assert_eq!(response.status.as_u16(), 204, "{}", response.text);
}

/// `authorize_proxy_user` as KAS sends it: JWT only, protojson body.
async fn authorize(app: &TestApp, body: Value) -> TestResponse {
    post(app, "/authorize_proxy_user", &body).await
}

on_both_backends!(
    proxy_users_authorized_by_user_access,
    proxy_user_credentials_and_parameters
);

async fn proxy_users_authorized_by_user_access(app: TestApp) {
    configure(
        &app,
        7,
        json!({
            "access_as": {"agent": {}},
            // alice/dotfiles is outside the agent's root namespace, nope/x does not exist.
            "projects": [{"id": "group/private"}, {"id": "alice/dotfiles"}, {"id": "nope/x"}],
            "groups": [{"id": "Group/SubGroup"}],
        }),
    )
    .await;
    let request = |token: &str| json!({"agent_id": 7, "access_type": "personal_access_token", "access_key": token});

    let alice = pat(&app, 2, json!(["k8s_proxy"])).await;
    app.take_round_trips();
    authorize(&app, request(&alice))
        .await
        .assert_snapshot(201, "kas_proxy_user_authorized");
    assert_eq!(app.take_round_trips(), 2);
    // Developer or more on a granted project or group, directly or inherited.
    for (user, expected) in [
        (7, 201),
        (6, 201),
        (1, 201),
        (5, 403),
        (11, 403),
        (4, 403),
        (8, 403),
    ] {
        let token = pat(&app, user, json!(["k8s_proxy"])).await;
        let response = authorize(&app, request(&token)).await;
        assert_eq!(
            response.status.as_u16(),
            expected,
            "user {user}: {}",
            response.text
        );
        if expected == 403 {
            response.assert_snapshot(403, "kas_proxy_user_not_a_member");
        }
    }
    // A personal project's owner is no member of a grant under another root.
    let owner = pat(&app, 2, json!(["k8s_proxy", "api"])).await;
    configure(
        &app,
        7,
        json!({"access_as": {"agent": {}}, "projects": [{"id": "alice/dotfiles"}]}),
    )
    .await;
    authorize(&app, request(&owner))
        .await
        .assert_snapshot(403, "kas_proxy_user_no_user_access");

    for (user_access, snapshot) in [
        (
            json!({"projects": [{"id": "group/private"}]}),
            "kas_proxy_user_no_user_access",
        ),
        (
            json!({"access_as": {}, "projects": [{"id": "group/private"}]}),
            "kas_proxy_user_no_access_as",
        ),
        (
            json!({"access_as": {"agent": {}, "user": {}}, "groups": [{"id": "group"}]}),
            "kas_proxy_user_access_as_twice",
        ),
        (
            json!({"access_as": {"user": {}}, "groups": [{"id": "group"}]}),
            "kas_proxy_user_impersonation",
        ),
    ] {
        configure(&app, 7, user_access).await;
        authorize(&app, request(&alice))
            .await
            .assert_snapshot(403, snapshot);
    }
    // GitLab keeps the first 500 entries of each list: a grant far down a long list counts,
    // and reading every named route is still one round trip, as is every membership.
    let mut projects: Vec<Value> = (0..450)
        .map(|i| json!({"id": format!("group/missing-{i}")}))
        .collect();
    projects.push(json!({"id": "GROUP/Private"}));
    let groups: Vec<Value> = (0..300)
        .map(|i| json!({"id": format!("group/sub-{i}")}))
        .collect();
    app.take_round_trips();
    configure(
        &app,
        7,
        json!({"access_as": {"agent": {}}, "projects": projects, "groups": groups}),
    )
    .await;
    assert_eq!(
        app.take_round_trips(),
        2,
        "agent_configuration naming 751 paths"
    );
    authorize(&app, request(&alice))
        .await
        .assert_snapshot(201, "kas_proxy_user_authorized");
    assert_eq!(app.take_round_trips(), 2);
    let mut too_far: Vec<Value> = (0..500)
        .map(|i| json!({"id": format!("group/missing-{i}")}))
        .collect();
    too_far.push(json!({"id": "group/private"}));
    configure(
        &app,
        7,
        json!({"access_as": {"agent": {}}, "projects": too_far}),
    )
    .await;
    authorize(&app, request(&alice))
        .await
        .assert_snapshot(403, "kas_proxy_user_no_user_access");

    // An agent that never reported a configuration has no grants.
    authorize(
        &app,
        json!({"agent_id": 8, "access_type": "personal_access_token", "access_key": alice}),
    )
    .await
    .assert_snapshot(403, "kas_proxy_user_no_user_access");
}

async fn proxy_user_credentials_and_parameters(app: TestApp) {
    configure(
        &app,
        7,
        json!({"access_as": {"agent": {}}, "groups": [{"id": "group"}]}),
    )
    .await;
    let request = |token: &str| json!({"agent_id": 7, "access_type": "personal_access_token", "access_key": token});
    let alice = pat(&app, 2, json!(["k8s_proxy"])).await;
    authorize(&app, request(&alice))
        .await
        .assert_snapshot(403, "kas_proxy_user_not_a_member");

    let api_only = pat(&app, 2, json!(["api"])).await;
    authorize(&app, request(&api_only))
        .await
        .assert_snapshot(403, "kas_proxy_user_insufficient_scope");
    stored_personal_access_token(&app, "expired-k8s-token", 2, "2020-01-01", false).await;
    authorize(&app, request("expired-k8s-token"))
        .await
        .assert_snapshot(401, "token_expired");
    stored_personal_access_token(&app, "revoked-k8s-token", 2, "2099-01-01", true).await;
    authorize(&app, request("revoked-k8s-token"))
        .await
        .assert_snapshot(401, "token_revoked");
    for unknown in ["no-such-token", ""] {
        authorize(&app, request(unknown))
            .await
            .assert_snapshot(400, "kas_proxy_user_unknown_user");
    }
    // The user comes before the agent.
    let mia = pat(&app, 6, json!(["k8s_proxy"])).await;
    authorize(
        &app,
        json!({"agent_id": 999, "access_type": "personal_access_token", "access_key": mia}),
    )
    .await
    .assert_snapshot(404, "not_found_lowercase");
    authorize(&app, json!({"agent_id": 999, "access_type": "personal_access_token", "access_key": "no-such-token"})).await
        .assert_snapshot(400, "kas_proxy_user_unknown_user");
    // A blocked user's token opens nothing.
    stored_personal_access_token(&app, "blocked-k8s-token", 3, "2099-01-01", false).await;
    authorize(&app, request("blocked-k8s-token"))
        .await
        .assert_snapshot(401, "unauthorized");

    // Session cookies are GitLab web sessions, which this service never holds.
    authorize(&app, json!({"agent_id": 7, "access_type": "session_cookie", "access_key": "cookie", "csrf_token": "csrf"})).await
        .assert_snapshot(400, "kas_proxy_user_invalid_access_key");
    authorize(
        &app,
        json!({"agent_id": 7, "access_type": "session_cookie", "access_key": "cookie"}),
    )
    .await
    .assert_snapshot(400, "kas_proxy_user_csrf_token_missing");
    authorize(&app, json!({}))
        .await
        .assert_snapshot(400, "kas_proxy_user_parameters_missing");
    authorize(
        &app,
        json!({"agent_id": "x", "access_type": "oidc_id_token", "access_key": "k"}),
    )
    .await
    .assert_snapshot(400, "kas_proxy_user_parameters_invalid");
    // KAS's JWT is required; no agent token is.
    let body = request(&mia);
    app.send(kas_request(
        Method::POST,
        &format!("{BASE}/authorize_proxy_user"),
        "",
        None,
        Some(&body),
    ))
    .await
    .assert_snapshot(401, "kas_invalid_jwt");
}
