//! Concurrency: many writers at once, through the HTTP API, on every counter and uniqueness
//! rule, in rounds, each round on a fresh world; exact results on both backends.
//!
//! Each rule (the store condition that keeps it), and its test:
//! - push reference counter (atomic add; a decrement only above zero):
//!   `reference_counters_stay_exact`
//! - KAS usage metrics and agent events (atomic adds, number-set unions):
//!   `kas_usage_sums_exactly`
//! - a minute pack per purchase, anywhere (pack and purchase items `NotExists`):
//!   `minute_packs_are_unique_per_purchase`
//! - minute pack moves (source `Exists`, target `NotExists`, one transaction):
//!   `minute_pack_moves_keep_every_pack_once`
//! - SCIM identities, one per `extern_uid` and one per user in a group; users' usernames,
//!   emails and routes (`NotExists`); the user and namespace id sequences (`VersionEquals`):
//!   `scim_creates_make_one_user_each`
//! - SCIM identity changes (`VersionEquals`; a new `extern_uid` `NotExists`):
//!   `scim_identity_moves_are_unique`
//! - personal access and LFS tokens (id and digest items `NotExists`):
//!   `tokens_minted_at_once_are_all_distinct_and_valid`
//! - a GitLab subscription per namespace (`NotExists`), its updates (`VersionEquals`):
//!   `gitlab_subscription_writes_lose_nothing`
//! - an add-on purchase per namespace and add-on (`NotExists`), its updates
//!   (`VersionEquals`): `add_on_purchase_writes_lose_nothing`
//! - storage limit exclusions: the id sequence (`VersionEquals`), one per namespace
//!   (`NotExists`), removal (`Exists`):
//!   `storage_limit_exclusions_get_distinct_ids_and_one_per_namespace`
//! - an upcoming reconciliation removed once (`Exists`):
//!   `upcoming_reconciliations_are_removed_once`
//! - a group keeps an Owner through SCIM deprovisions (a removed Owner's transaction checks
//!   that another Owner's membership `Exists`): `scim_deprovisions_keep_an_owner`
//!
//! Each writer's request is built first (JWTs and all); then every writer waits at one
//! barrier and all are released together, on a multi-threaded runtime, so the requests
//! meet in the store rather than one after another.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{Value, json};

use crate::minutes::held;
use crate::support::*;

/// Rounds per rule on the embedded store. A lost update needs two writers to read before
/// either writes, which the scheduler may happen not to arrange in one round. Every rule
/// broken on purpose while this suite was written (a condition dropped, a counter made a
/// read-modify-write, an update retried on its first read) failed in the first round of
/// every run; five rounds are the margin, and cost about a second per rule.
const ROUNDS: usize = 5;

/// Rounds per rule on DynamoDB (moto). moto takes one request at a time per table, so a
/// round costs it 2 to 7 s where the embedded store takes a tenth of that, and seeding each
/// round's table another second; two rounds keep this file's DynamoDB half under a minute
/// on two cores. The races are the same: each writer's read still comes before the others'
/// writes, and every broken rule tried failed here too.
const DYNAMO_ROUNDS: usize = 2;

/// Writers per round, for most rules: four times the attempts a handler makes on one
/// record (5) before it answers 409, so the retry loops run out under contention when they
/// can, and their refusals are checked too.
const WRITERS: usize = 20;

/// Runs each named `async fn(backend: Backend)` on the embedded store and on DynamoDB
/// (moto), as `<name>::embedded` and `<name>::dynamodb`, on a runtime with more threads
/// than the machine has cores, so that writers are preempted anywhere.
macro_rules! with_writers_on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use crate::support::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn embedded() {
                super::$name(Backend::Embedded).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn dynamodb() {
                super::$name(Backend::Dynamo).await;
            }
        }
    )+};
}

with_writers_on_both_backends!(
    reference_counters_stay_exact,
    kas_usage_sums_exactly,
    minute_packs_are_unique_per_purchase,
    minute_pack_moves_keep_every_pack_once,
    scim_creates_make_one_user_each,
    scim_identity_moves_are_unique,
    tokens_minted_at_once_are_all_distinct_and_valid,
    gitlab_subscription_writes_lose_nothing,
    add_on_purchase_writes_lose_nothing,
    storage_limit_exclusions_get_distinct_ids_and_one_per_namespace,
    upcoming_reconciliations_are_removed_once,
    scim_deprovisions_keep_an_owner,
);

// ---------------------------------------------------------------------------------------
// The harness: rounds on fresh worlds, writers released together, and the checks.

fn rounds(backend: Backend) -> usize {
    match backend {
        Backend::Embedded => ROUNDS,
        Backend::Dynamo => DYNAMO_ROUNDS,
    }
}

/// Runs `round` [`ROUNDS`] times on `backend` (fewer on DynamoDB: [`DYNAMO_ROUNDS`]), each
/// time on a fresh store holding `world`; nothing when DynamoDB is not configured outside CI.
async fn rounds_of<F, Fut>(backend: Backend, world: &str, round: F)
where
    F: Fn(Arc<TestApp>) -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..rounds(backend) {
        let Some(app) = TestApp::empty(backend).await else {
            return;
        };
        local_api::import_seed_bytes(
            &app.repo,
            world.as_bytes(),
            std::path::Path::new("world.json"),
        )
        .await
        .expect("the world imports");
        app.repo.forget_settings();
        round(Arc::new(app)).await;
    }
}

/// Sends every request at once: each writer waits at one barrier, then all go together.
/// The answers come back in the requests' order.
async fn at_once(app: &Arc<TestApp>, requests: Vec<Request<Body>>) -> Vec<TestResponse> {
    let start = Arc::new(tokio::sync::Barrier::new(requests.len()));
    let writers: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let (app, start) = (app.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                app.send(request).await
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(writers.len());
    for writer in writers {
        answers.push(writer.await.expect("the writer finished"));
    }
    answers
}

/// How many answers had each status.
fn statuses(answers: &[TestResponse]) -> BTreeMap<u16, usize> {
    let mut counted = BTreeMap::new();
    for answer in answers {
        *counted.entry(answer.status.as_u16()).or_default() += 1;
    }
    counted
}

/// Every answer is `status` with the body pinned as `snapshot`.
#[track_caller]
fn each_is(answers: &[TestResponse], status: u16, snapshot: &str) {
    for (writer, answer) in answers.iter().enumerate() {
        answer.assert_snapshot_for(status, snapshot, format!("writer {writer}"));
    }
}

/// Exactly one answer has the status `winner`, and `loser` holds of every other (given the
/// writer's index). The winner's index.
#[track_caller]
fn one_wins(answers: &[TestResponse], winner: u16, loser: impl Fn(usize, &TestResponse)) -> usize {
    let won: Vec<usize> = (0..answers.len())
        .filter(|i| answers[*i].status.as_u16() == winner)
        .collect();
    assert_eq!(won.len(), 1, "one {winner}: {:?}", statuses(answers));
    for (writer, answer) in answers.iter().enumerate() {
        if writer != won[0] {
            loser(writer, answer);
        }
    }
    won[0]
}

/// `one_wins`' check of a loser: this status and exact body.
fn answered(status: u16, body: &str) -> impl Fn(usize, &TestResponse) + '_ {
    move |writer, answer| {
        assert_eq!(
            (answer.status.as_u16(), answer.text.as_str()),
            (status, body),
            "writer {writer}"
        );
    }
}

/// `one_wins`' check of a loser: this status, the body pinned as `snapshot`.
fn answered_as(status: u16, snapshot: &str) -> impl Fn(usize, &TestResponse) + '_ {
    move |writer, answer| answer.assert_snapshot_for(status, snapshot, writer)
}

/// Every answer is the first one, status and body.
#[track_caller]
fn all_alike(answers: &[TestResponse]) {
    for (writer, answer) in answers.iter().enumerate() {
        assert_eq!(
            (answer.status, answer.text.as_str()),
            (answers[0].status, answers[0].text.as_str()),
            "writer {writer}"
        );
    }
}

/// One update of a versioned record: the tested field it sets (an index into the fields
/// [`assert_one_at_a_time`] looks at) to a value no other update uses.
struct FieldWrite {
    field: usize,
    value: Value,
}

/// Concurrent updates of one record were applied one at a time, none lost. Each 200
/// answers with the record just after its write, so the answers must chain from `initial`
/// to `last` (the record read afterwards), each the one before with only its own field set
/// to its value. Every other answer must be `refused`, and left no trace: its value, used by
/// no other write, would show in the chain. `fields` are JSON pointers into the record. The
/// taken answers, in the order they were applied.
///
/// The chain is found step by step. From a state the chain reaches, the updates whose answer
/// is that state with their own field changed are the next run of updates of one field, one
/// after another: an update of another field would show the run's value, never this state's.
/// So candidates of two fields mean two updates were both applied to this one state (a lost
/// update). Within a run each value but the last is overwritten at once and shows nowhere
/// later, so those go first and the one whose value shows later (in another answer or in
/// `last`) goes last.
#[track_caller]
fn assert_one_at_a_time(
    fields: &[&str],
    initial: &Value,
    writes: &[FieldWrite],
    answers: &[TestResponse],
    refused: (u16, &str),
    last: &Value,
) -> Vec<Value> {
    let project = |record: &Value| -> Vec<Value> {
        fields
            .iter()
            .map(|field| record.pointer(field).cloned().unwrap_or(Value::Null))
            .collect()
    };
    // (writer, answer, answer projected)
    let mut pending: Vec<(usize, Value, Vec<Value>)> = Vec::new();
    for (writer, answer) in answers.iter().enumerate() {
        if answer.status.as_u16() == 200 {
            let record = answer.json();
            let state = project(&record);
            pending.push((writer, record, state));
        } else {
            assert_eq!(
                (answer.status.as_u16(), answer.text.as_str()),
                refused,
                "writer {writer}"
            );
        }
    }
    assert!(!pending.is_empty(), "some update must be taken");
    let last = project(last);
    let mut current = project(initial);
    let mut applied = Vec::new();
    while !pending.is_empty() {
        let follows = |(writer, _, state): &(usize, Value, Vec<Value>)| {
            let mut expected = current.clone();
            expected[writes[*writer].field] = writes[*writer].value.clone();
            *state == expected
        };
        let next: Vec<usize> = (0..pending.len())
            .filter(|i| follows(&pending[*i]))
            .collect();
        let shown_later = |i: usize| {
            let write = &writes[pending[i].0];
            last[write.field] == write.value
                || (pending.iter().enumerate())
                    .any(|(j, other)| j != i && other.2[write.field] == write.value)
        };
        let writers = |which: &[usize]| which.iter().map(|i| pending[*i].0).collect::<Vec<_>>();
        let field = next.first().map(|i| writes[pending[*i].0].field);
        assert!(
            !next.is_empty(),
            "no taken update follows {current:?}: one was lost or applied from a stale read; \
             the answers left: {:?}",
            pending.iter().map(|p| (p.0, &p.2)).collect::<Vec<_>>()
        );
        assert!(
            next.iter()
                .all(|i| Some(writes[pending[*i].0].field) == field),
            "writers {:?} each applied their update of a different field to {current:?}: all \
             but one were lost",
            writers(&next)
        );
        let hidden: Vec<usize> = next.iter().copied().filter(|i| !shown_later(*i)).collect();
        let chosen = match (hidden.first(), next.as_slice()) {
            (Some(first), _) => *first,
            (None, [only]) => *only,
            (None, several) => panic!(
                "writers {:?} each set their value on {current:?} and each value shows later: \
                 all but one were lost",
                writers(several)
            ),
        };
        let (_, record, state) = pending.remove(chosen);
        current = state;
        applied.push(record);
    }
    assert_eq!(last, current, "the record read afterwards");
    applied
}

// ---------------------------------------------------------------------------------------
// The push reference counter.

const PRE_RECEIVE: &str = "/api/v4/internal/pre_receive";
const POST_RECEIVE: &str = "/api/v4/internal/post_receive";

fn shell_post(path: &str, body: &Value) -> Request<Body> {
    shell_post_request(path, "application/json", body.to_string())
}

/// Gitaly's hooks: `ins` pushes counted in and `outs` counted out, interleaved, each with
/// the snapshot of its answer.
fn hooks(ins: usize, outs: usize) -> (Vec<Request<Body>>, Vec<&'static str>) {
    let pre = json!({"gl_repository": "project-27"});
    let post = json!({"gl_repository": "project-27", "identifier": "user-2", "changes": "",
                      "push_options": null});
    let (mut requests, mut snapshots) = (Vec::new(), Vec::new());
    for n in 0..ins.max(outs) {
        if n < ins {
            requests.push(shell_post(PRE_RECEIVE, &pre));
            snapshots.push("pre_receive_increased");
        }
        if n < outs {
            requests.push(shell_post(POST_RECEIVE, &post));
            snapshots.push("post_receive_decreased");
        }
    }
    (requests, snapshots)
}

/// Sends the hooks at once: every answer is as GitLab's.
async fn hooks_at_once(app: &Arc<TestApp>, ins: usize, outs: usize) {
    let (requests, snapshots) = hooks(ins, outs);
    let answers = at_once(app, requests).await;
    for (writer, (answer, snapshot)) in answers.iter().zip(snapshots).enumerate() {
        answer.assert_snapshot_for(200, snapshot, writer);
    }
}

/// The counter as stored (the raw number: a negative one would show).
async fn reference_counter(app: &TestApp) -> i64 {
    app.repo
        .shell()
        .reference_counter("project-27")
        .await
        .unwrap()
}

/// Every hook answers as GitLab does, and the counter is exact: pushes in at once all count;
/// as many in as out at once leave it where it was (it never reaches zero on the way, so no
/// decrement is skipped); more out than it holds leave it at zero, never below.
async fn reference_counters_stay_exact(backend: Backend) {
    rounds_of(backend, WORLD, |app| async move {
        hooks_at_once(&app, WRITERS, 0).await;
        assert_eq!(reference_counter(&app).await, WRITERS as i64);
        hooks_at_once(&app, WRITERS, WRITERS).await;
        assert_eq!(reference_counter(&app).await, WRITERS as i64);
        hooks_at_once(&app, 0, WRITERS + WRITERS / 2).await;
        assert_eq!(reference_counter(&app).await, 0);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// KAS usage.

const USAGE_METRICS: &str = "/api/v4/internal/kubernetes/usage_metrics";
const AGENT_EVENTS: &str = "/api/v4/internal/kubernetes/agent_events";
const CI_USERS: &str = "k8s_api_proxy_requests_unique_users_via_ci_access";

fn kas_post(path: &str, body: &Value) -> Request<Body> {
    kas_request(Method::POST, path, &kas_jwt(), None, Some(body))
}

/// The estimate a sketch of exactly `ids` gives: what the stored union must answer.
fn estimate_of(ids: impl IntoIterator<Item = i64>) -> u64 {
    let ids: Vec<i64> = ids.into_iter().collect();
    gl_model::unique_count::estimate(gl_model::unique_count::observations(&ids))
}

/// Each writer sends KAS's usage report and its agent events at once: counters sum exactly,
/// unique counters hold exactly the union of every report's ids (the sketch of the union),
/// counters GitLab does not know and zero counts are not stored, and a report is one round
/// trip.
async fn kas_usage_sums_exactly(backend: Backend) {
    use gl_store::repo::kas::UsageReport;
    rounds_of(backend, WORLD, |app| async move {
        let day = chrono::Utc::now().date_naive().to_string();
        let mut requests = Vec::new();
        for writer in 0..WRITERS as i64 {
            let report = json!({
                "counters": {"k8s_api_proxy_request": writer + 1,
                             "k8s_api_proxy_requests_via_ci_access": 2,
                             "flux_git_push_notifications_total": 0, "future_counter": 99},
                "unique_counters": {CI_USERS: [1, 2, 100 + writer], "future_unique": [5]}});
            requests.push(kas_post(USAGE_METRICS, &report));
            let events = json!({"events": {CI_USERS: [
                {"user_id": 1 + writer % 3, "project_id": 26},
                {"user_id": 200 + writer, "project_id": 26}]}});
            requests.push(kas_post(AGENT_EVENTS, &events));
        }
        for answer in at_once(&app, requests).await {
            assert_eq!((answer.status.as_u16(), answer.text.as_str()), (204, ""));
        }
        if chrono::Utc::now().date_naive().to_string() != day {
            eprintln!("the day changed during the round: its reports went to two days");
            return;
        }
        let writers = WRITERS as i64;
        let metrics = app
            .repo
            .kas()
            .usage(UsageReport::Metrics, &day)
            .await
            .unwrap();
        assert_eq!(
            metrics.counts,
            BTreeMap::from([
                (
                    "k8s_api_proxy_request".to_owned(),
                    writers * (writers + 1) / 2
                ),
                (
                    "k8s_api_proxy_requests_via_ci_access".to_owned(),
                    2 * writers
                ),
            ])
        );
        let ids = [1, 2].into_iter().chain((0..writers).map(|w| 100 + w));
        assert_eq!(
            metrics.uniques,
            BTreeMap::from([(CI_USERS.to_owned(), estimate_of(ids))])
        );
        assert_eq!(
            metrics.uniques[CI_USERS],
            WRITERS as u64 + 2,
            "small sets are exact"
        );

        let events = app
            .repo
            .kas()
            .usage(UsageReport::Events, &day)
            .await
            .unwrap();
        assert_eq!(
            events.counts,
            BTreeMap::from([(CI_USERS.to_owned(), 2 * writers)])
        );
        let users = (1..=3).chain((0..writers).map(|w| 200 + w));
        assert_eq!(
            events.uniques,
            BTreeMap::from([(format!("{CI_USERS}_users"), estimate_of(users))])
        );

        app.take_round_trips();
        app.send(kas_post(
            USAGE_METRICS,
            &json!({"counters": {"k8s_api_proxy_request": 1}}),
        ))
        .await;
        assert_eq!(app.take_round_trips(), 1, "a report is one transaction");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Compute minute packs.

fn minutes_path(namespace: i64) -> String {
    format!("/api/v4/namespaces/{namespace}/minutes")
}

fn pack(purchase_xid: &str, minutes: i64) -> Value {
    json!({"number_of_minutes": minutes, "expires_at": "2027-01-01", "purchase_xid": purchase_xid})
}

fn create_packs(namespace: i64, packs: &[Value]) -> Request<Body> {
    jwt_request(
        Method::POST,
        &minutes_path(namespace),
        &customers_dot_token(),
        Some(&json!({ "packs": packs })),
    )
}

/// The same packs created at once make one each, every writer answered with them; distinct
/// packs created at once all land; one new purchase claimed by three namespaces at once is
/// held by one, whose writers are all answered with its pack, and refused to the others.
async fn minute_packs_are_unique_per_purchase(backend: Backend) {
    rounds_of(backend, WORLD, |app| async move {
        let same = || create_packs(10, &[pack("C-0001", 10), pack("C-0002", 20)]);
        let answers = at_once(&app, (0..WRITERS).map(|_| same()).collect()).await;
        each_is(&answers, 201, "minutes_created_concurrently");
        assert_eq!(held(&app, 10).await, ["C-0001", "C-0002"]);

        let distinct = (0..WRITERS)
            .map(|writer| create_packs(10, &[pack(&format!("D-{writer:04}"), 5)]))
            .collect();
        let answers = at_once(&app, distinct).await;
        assert_eq!(statuses(&answers), BTreeMap::from([(201, WRITERS)]));
        let mut all: Vec<String> = (0..WRITERS).map(|w| format!("D-{w:04}")).collect();
        all.extend(["C-0001".to_owned(), "C-0002".to_owned()]);
        all.sort();
        assert_eq!(held(&app, 10).await, all);

        let namespaces = [10, 2, 1];
        let claims = (0..WRITERS)
            .map(|writer| create_packs(namespaces[writer % 3], &[pack("C-0003", 30)]))
            .collect();
        let answers = at_once(&app, claims).await;
        let mut holders = Vec::new();
        for namespace in namespaces {
            if held(&app, namespace).await.contains(&"C-0003".to_owned()) {
                holders.push(namespace);
            }
        }
        assert_eq!(holders.len(), 1, "one holder: {holders:?}");
        for (writer, answer) in answers.iter().enumerate() {
            if namespaces[writer % 3] == holders[0] {
                assert_eq!(answer.status.as_u16(), 201, "{}", answer.text);
                assert_eq!(answer.json()[0]["namespace_id"], json!(holders[0]));
            } else {
                answer.assert_snapshot_for(400, "minutes_unable_to_save", writer);
            }
        }
    })
    .await;
}

/// Moves in every direction between three namespaces at once: every move is taken (202) or
/// gives up after its retries (409), and every pack ends in exactly one namespace, none lost,
/// none doubled. (Between two namespaces only, a move that ignored a pack already moved
/// would still leave one copy; a third is what a second move of the same pack would double.)
async fn minute_pack_moves_keep_every_pack_once(backend: Backend) {
    const NAMESPACES: [i64; 3] = [10, 2, 1];
    rounds_of(backend, WORLD, |app| async move {
        let mut all: Vec<String> = Vec::new();
        for (n, namespace) in NAMESPACES.into_iter().enumerate() {
            let purchases: Vec<String> = (0..8).map(|p| format!("M-{n}-{p}")).collect();
            let packs: Vec<Value> = purchases.iter().map(|xid| pack(xid, 10)).collect();
            let created = app.send(create_packs(namespace, &packs)).await;
            assert_eq!(created.status.as_u16(), 201, "{}", created.text);
            all.extend(purchases);
        }
        let moves = (0..WRITERS)
            .map(|writer| {
                let from = NAMESPACES[writer % 3];
                let to = NAMESPACES[(writer + 1 + writer / 3 % 2) % 3];
                jwt_request(
                    Method::PATCH,
                    &format!("/api/v4/namespaces/{from}/minutes/move/{to}"),
                    &customers_dot_token(),
                    None,
                )
            })
            .collect();
        let answers = at_once(&app, moves).await;
        for (writer, answer) in answers.iter().enumerate() {
            match answer.status.as_u16() {
                202 => answer.assert_snapshot_for(202, "minutes_moved", writer),
                _ => assert_eq!(
                    (answer.status.as_u16(), answer.text.as_str()),
                    (
                        409,
                        r#"{"message":"409 Conflict - the namespace's packs kept changing; try again"}"#
                    ),
                    "writer {writer}"
                ),
            }
        }
        let mut held_anywhere = Vec::new();
        for namespace in NAMESPACES {
            held_anywhere.extend(held(&app, namespace).await);
        }
        held_anywhere.sort();
        all.sort();
        assert_eq!(held_anywhere, all);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// SCIM.

fn scim_create(external_id: &str, user_name: &str, email: &str) -> Request<Body> {
    let body = crate::scim::okta_user(external_id, user_name, email);
    crate::scim::group_request(Method::POST, "/Users", Some(&body))
}

fn scim_move(id: &str, new_external_id: &str) -> Request<Body> {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "externalId", "value": new_external_id}]
    });
    crate::scim::group_request(Method::PATCH, &format!("/Users/{id}"), Some(&body))
}

/// The group's SCIM identities (their ids, the `extern_uid`s), sorted.
async fn scim_ids(app: &TestApp) -> Vec<String> {
    let listed = crate::scim::group_call(app, Method::GET, "/Users?count=100", None)
        .await
        .json();
    let mut ids: Vec<String> = listed["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .map(|user| user["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(listed["totalResults"], json!(ids.len()), "{listed}");
    ids
}

/// The stored user behind a primary email.
async fn user_by_email(app: &TestApp, email: &str) -> Option<Value> {
    let store = app.repo.store();
    let key = gl_store::keys::email(email);
    let lookup = store.get_many(&[key]).await.unwrap().pop()??;
    let id = lookup.attrs["user_id"].as_i64()?;
    let user = store
        .get_many(&[gl_store::keys::user(id)])
        .await
        .unwrap()
        .pop()??;
    Some(Value::Object(user.attrs))
}

/// The same user created by every writer at once: one user, and every writer answered with
/// its identity (GitLab's create is idempotent by `externalId`). One new user wanted by as
/// many identities at once: one is created, every other refused as GitLab refuses a second
/// identity for a user (409). Distinct users at once: all created, with consecutive user
/// and namespace ids past the world's, never one twice.
async fn scim_creates_make_one_user_each(backend: Backend) {
    rounds_of(backend, WORLD, |app| async move {
        let same = (0..WRITERS)
            .map(|_| scim_create("dup-1", "dup", "dup@example.com"))
            .collect();
        let answers = at_once(&app, same).await;
        answers[0].assert_scim_snapshot(201, "scim_duplicate_created");
        all_alike(&answers);
        assert_eq!(scim_ids(&app).await, ["dup-1"]);

        let racers = (0..WRITERS)
            .map(|writer| scim_create(&format!("race-{writer}"), "racer", "racer@example.com"))
            .collect();
        let answers = at_once(&app, racers).await;
        let winner = one_wins(&answers, 201, |writer, answer| {
            let taken = r#": User has already been taken","status":409}"#;
            assert!(
                answer.status.as_u16() == 409 && answer.text.ends_with(taken),
                "writer {writer}: {} {}",
                answer.status,
                answer.text
            );
        });
        assert_eq!(
            scim_ids(&app).await,
            ["dup-1".to_owned(), format!("race-{winner}")]
        );

        let distinct = (0..WRITERS)
            .map(|w| {
                scim_create(
                    &format!("u-{w:02}"),
                    &format!("user{w}"),
                    &format!("u{w}@example.com"),
                )
            })
            .collect();
        let answers = at_once(&app, distinct).await;
        for (writer, answer) in answers.iter().enumerate() {
            assert_eq!(
                answer.status.as_u16(),
                201,
                "writer {writer}: {}",
                answer.text
            );
        }
        let mut users = BTreeSet::new();
        let mut namespaces = BTreeSet::new();
        for writer in 0..WRITERS {
            let user = user_by_email(&app, &format!("u{writer}@example.com"))
                .await
                .expect("the user exists");
            assert_eq!(user["username"], json!(format!("user{writer}")));
            users.insert(user["id"].as_i64().unwrap());
            namespaces.insert(user["namespace_id"].as_i64().unwrap());
        }
        // The world's last user is 12 and last namespace 11; dup and racer took one each.
        let first = |last: i64| (last + 3..last + 3 + WRITERS as i64).collect::<BTreeSet<_>>();
        assert_eq!((users, namespaces), (first(12), first(11)));
        assert_eq!(scim_ids(&app).await.len(), 2 + WRITERS);
    })
    .await;
}

/// Every identity moved at once to one new `externalId`: one gets it, every other is
/// refused (412) and keeps its own. Then one identity moved at once to as many new
/// `externalId`s: one move is taken, every other finds the identity gone (404); it is under
/// exactly one new id, the old one is free.
async fn scim_identity_moves_are_unique(backend: Backend) {
    const IDENTITIES: usize = WRITERS / 2;
    rounds_of(backend, WORLD, |app| async move {
        for n in 0..IDENTITIES {
            let created = app
                .send(scim_create(
                    &format!("m-{n:02}"),
                    &format!("mover{n}"),
                    &format!("m{n}@example.com"),
                ))
                .await;
            assert_eq!(created.status.as_u16(), 201, "{}", created.text);
        }
        let onto_one = (0..IDENTITIES)
            .map(|n| scim_move(&format!("m-{n:02}"), "shared"))
            .collect();
        let answers = at_once(&app, onto_one).await;
        let winner = one_wins(&answers, 204, |writer, answer| {
            assert!(
                answer.status.as_u16() == 412
                    && answer.text.contains(r#""detail":"Error updating"#),
                "writer {writer}: {} {}",
                answer.status,
                answer.text
            );
        });
        let mut expected: Vec<String> = (0..IDENTITIES)
            .filter(|n| *n != winner)
            .map(|n| format!("m-{n:02}"))
            .collect();
        expected.push("shared".to_owned());
        expected.sort();
        assert_eq!(scim_ids(&app).await, expected);

        let apart = (0..WRITERS)
            .map(|writer| scim_move("shared", &format!("apart-{writer:02}")))
            .collect();
        let answers = at_once(&app, apart).await;
        let gone = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"Resource shared not found","status":404}"#;
        let winner = one_wins(&answers, 204, answered(404, gone));
        expected.retain(|id| id != "shared");
        expected.push(format!("apart-{winner:02}"));
        expected.sort();
        assert_eq!(scim_ids(&app).await, expected);
    })
    .await;
}

/// Deprovisions of the group's two owners at once (half the writers remove one, half the
/// other): one owner goes, the other is refused as the last owner (412), or its writers give
/// up on an identity that kept changing (409); an owner always stays.
/// Each deprovision reads two owners; without the check on the other's membership, both
/// went and the group was left with no owner at all.
async fn scim_deprovisions_keep_an_owner(backend: Backend) {
    rounds_of(backend, WORLD, |app| async move {
        use gl_store::{Condition, Item, WriteOp, keys};
        // Mia (user 6), the group's Maintainer, made its second Owner beside root.
        let owner = json!({"user_id": 6, "access_level": 50});
        let put = WriteOp::Put {
            item: Item::new(keys::namespace_member(10, 6), &owner),
            condition: Condition::None,
        };
        app.repo.store().write(vec![put]).await.unwrap();
        for (id, name, email) in [
            ("root-idp", "root", "admin@example.com"),
            ("mia-idp", "mia", "mia@example.com"),
        ] {
            let linked = app.send(scim_create(id, name, email)).await;
            assert_eq!(linked.status.as_u16(), 201, "{}", linked.text);
        }
        let removals = (0..WRITERS)
            .map(|writer| {
                let id = if writer % 2 == 0 {
                    "root-idp"
                } else {
                    "mia-idp"
                };
                crate::scim::group_request(Method::DELETE, &format!("/Users/{id}"), None)
            })
            .collect();
        let answers = at_once(&app, removals).await;
        for (writer, answer) in answers.iter().enumerate() {
            assert!(
                [204, 409, 412].contains(&answer.status.as_u16()),
                "writer {writer}: {}",
                answer.text
            );
        }
        let members = app.repo.scim().group_members(10).await.unwrap();
        let owners = members
            .iter()
            .filter(|member| member.access_level == gl_model::AccessLevel::Owner)
            .count();
        assert_eq!(owners, 1, "{:?}; members: {members:?}", statuses(&answers));
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Tokens.

/// Personal access tokens minted at once for one user, and LFS tokens handed out at once for
/// one key: every one its own, stored with its digest lookup, and every personal access token
/// authenticates.
async fn tokens_minted_at_once_are_all_distinct_and_valid(backend: Backend) {
    rounds_of(backend, WORLD, |app| async move {
        let mint = json!({"key_id": "1", "name": "t", "scopes": ["api"]});
        let lfs = json!({"operation": "download", "project": "/group/private.git", "key_id": "2"});
        let requests = (0..2 * WRITERS)
            .map(|writer| {
                if writer % 2 == 0 {
                    shell_post("/api/v4/internal/personal_access_token", &mint)
                } else {
                    shell_post("/api/v4/internal/lfs_authenticate", &lfs)
                }
            })
            .collect();
        let answers = at_once(&app, requests).await;
        let probe = crate::private_token::admin_probe(&app);
        let (mut personal, mut lfs) = (BTreeSet::new(), BTreeSet::new());
        for (writer, answer) in answers.iter().enumerate() {
            assert_eq!(
                answer.status.as_u16(),
                200,
                "writer {writer}: {}",
                answer.text
            );
            let body = answer.json();
            if writer % 2 == 0 {
                let token = body["token"].as_str().unwrap().to_owned();
                let call = send_to(
                    &probe,
                    private_token_request("/api/v4/admin-probe", Some(&token)),
                );
                assert_eq!(call.await.status, 200, "{token}");
                assert!(personal.insert(token), "a personal access token twice");
            } else {
                let token = body["lfs_token"].as_str().unwrap().to_owned();
                let stored = app
                    .repo
                    .shell()
                    .lfs_token(&gl_auth::token_digest(&token))
                    .await
                    .unwrap()
                    .expect("the LFS token is stored");
                assert_eq!((stored.actor.as_str(), stored.project_id), ("key-2", 26));
                assert!(lfs.insert(token), "an LFS token twice");
            }
        }
        assert_eq!((personal.len(), lfs.len()), (WRITERS, WRITERS));
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Versioned billing records.

fn portal(method: Method, path: &str, body: Option<&Value>) -> Request<Body> {
    jwt_request(method, path, &customers_dot_token(), body)
}

/// Creates of one namespace's subscription at once: one stored, every other refused as the
/// uniqueness validation refuses. Updates of disjoint fields at once: each taken or refused
/// with 409 after its retries, the taken ones applied one at a time with none lost.
async fn gitlab_subscription_writes_lose_nothing(backend: Backend) {
    rounds_of(backend, WORLD, |app| async move {
        let personal = "/api/v4/namespaces/2/gitlab_subscription";
        let body = json!({"start_date": "2026-01-01", "seats": 1});
        let creates = (0..WRITERS)
            .map(|_| portal(Method::POST, personal, Some(&body)))
            .collect();
        let answers = at_once(&app, creates).await;
        one_wins(
            &answers,
            201,
            answered_as(400, "gitlab_subscription_already_taken"),
        );

        let group = "/api/v4/namespaces/10/gitlab_subscription";
        let premium = json!({"start_date": "2026-01-15", "end_date": "2036-01-15",
            "plan_code": "premium", "seats": 10, "max_seats_used": 12, "auto_renew": true});
        let initial = app.send(portal(Method::POST, group, Some(&premium))).await;
        initial.assert_snapshot(201, "gitlab_subscription_created_premium");
        let writes: Vec<FieldWrite> = (0..WRITERS as i64)
            .map(|writer| match writer % 3 {
                0 => FieldWrite {
                    field: 0,
                    value: json!(100 + writer),
                },
                1 => FieldWrite {
                    field: 1,
                    value: json!(200 + writer),
                },
                _ => FieldWrite {
                    field: 2,
                    value: json!(format!("2040-01-{:02}", writer + 1)),
                },
            })
            .collect();
        let fields = [
            "/usage/seats_in_subscription",
            "/usage/max_seats_used",
            "/billing/subscription_end_date",
        ];
        let names = ["seats", "max_seats_used", "end_date"];
        let updates = writes
            .iter()
            .map(|write| {
                let body = json!({ names[write.field]: write.value });
                portal(Method::PUT, group, Some(&body))
            })
            .collect();
        let answers = at_once(&app, updates).await;
        let last = app.send(portal(Method::GET, group, None)).await.json();
        let applied = assert_one_at_a_time(
            &fields,
            &initial.json(),
            &writes,
            &answers,
            (
                409,
                r#"{"message":"409 Conflict - the subscription kept changing; try again"}"#,
            ),
            &last,
        );
        assert_eq!(applied.last(), Some(&last));
    })
    .await;
}

/// The same for an add-on purchase: creates at once make one, and updates of its quantity or
/// its purchase id at once are applied one at a time, none lost.
async fn add_on_purchase_writes_lose_nothing(backend: Backend) {
    rounds_of(backend, WORLD, |app| async move {
        let target = "/api/v4/namespaces/10/subscription_add_on_purchase/code_suggestions";
        let duo_pro = json!({"quantity": 10, "started_on": "2026-01-15",
            "expires_on": "2027-01-15", "purchase_xid": "A-S00012345"});
        let creates = (0..WRITERS)
            .map(|_| portal(Method::POST, target, Some(&duo_pro)))
            .collect();
        let answers = at_once(&app, creates).await;
        let exists = r#"{"message":"400 Bad request - Add-on purchase for namespace Group and add-on Code Suggestions already exists, update the existing record"}"#;
        let winner = one_wins(&answers, 201, answered(400, exists));
        answers[winner].assert_snapshot(201, "add_on_purchase_created");
        let created = answers[winner].json();

        let writes: Vec<FieldWrite> = (0..WRITERS as i64)
            .map(|writer| {
                if writer % 2 == 0 {
                    FieldWrite { field: 0, value: json!(100 + writer) }
                } else {
                    FieldWrite { field: 1, value: json!(format!("A-S{writer:08}")) }
                }
            })
            .collect();
        let names = ["quantity", "purchase_xid"];
        let updates = writes
            .iter()
            .map(|write| {
                let body = json!({"started_on": "2026-01-15", "expires_on": "2027-01-15",
                                  names[write.field]: write.value});
                portal(Method::PUT, target, Some(&body))
            })
            .collect();
        let answers = at_once(&app, updates).await;
        let last = app.send(portal(Method::GET, target, None)).await.json();
        let applied = assert_one_at_a_time(
            &["/quantity", "/purchase_xid"],
            &created,
            &writes,
            &answers,
            (409, r#"{"message":"409 Conflict - the add-on purchase kept changing; try again"}"#),
            &last,
        );
        assert_eq!(applied.last(), Some(&last));
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Storage limit exclusions.

/// Root namespaces the exclusion writers spread over: personal namespaces of users added to
/// the test world.
const EXCLUDED: usize = 16;

/// The test world with [`EXCLUDED`] more users, each with a personal namespace (ids 100...).
fn world_with_namespaces() -> String {
    let mut world: Value = serde_json::from_str(WORLD).expect("world is JSON");
    let users = world["users"].as_array_mut().expect("users");
    for n in 0..EXCLUDED {
        users.push(json!({"id": 100 + n, "username": format!("owner{n}"),
            "name": format!("Owner {n}"), "email": format!("owner{n}@example.com"),
            "state": "active", "two_factor_enabled": false, "namespace_id": 100 + n}));
    }
    world.to_string()
}

fn exclusion(method: Method, namespace: usize, body: Option<&Value>) -> Request<Body> {
    admin_request(
        method,
        &format!("/api/v4/namespaces/{namespace}/storage/limit_exclusion"),
        Presented::Header("pat-plaintext"),
        body,
    )
}

/// Exclusions of [`EXCLUDED`] namespaces, some asked for twice, at once: one per namespace,
/// the second refused, and the ids 1, 2, ... each handed out once. Removals of one at once:
/// those that found it answer 204 (also when another removed it first, as GitLab's `destroy`
/// of a deleted row does), those that came after are told it is not excluded; it is gone,
/// and the next exclusion takes the next id (none is reused).
async fn storage_limit_exclusions_get_distinct_ids_and_one_per_namespace(backend: Backend) {
    let world = world_with_namespaces();
    rounds_of(backend, &world, |app| async move {
        let reason = json!({"reason": "r"});
        let namespace = |writer: usize| 100 + writer % EXCLUDED;
        let writers = EXCLUDED + EXCLUDED / 2;
        let creates = (0..writers)
            .map(|writer| exclusion(Method::POST, namespace(writer), Some(&reason)))
            .collect();
        let answers = at_once(&app, creates).await;
        let mut ids = BTreeMap::new();
        for (writer, answer) in answers.iter().enumerate() {
            if answer.status.as_u16() == 201 {
                let created = answer.json();
                assert_eq!(created["namespace_id"], json!(namespace(writer)));
                let id = created["id"].as_i64().unwrap();
                assert!(
                    ids.insert(namespace(writer), id).is_none(),
                    "namespace {} excluded twice",
                    namespace(writer)
                );
            } else {
                answer.assert_snapshot_for(400, "storage_exclusion_already_excluded", writer);
            }
        }
        assert_eq!(ids.len(), EXCLUDED, "every namespace excluded");
        let handed_out: BTreeSet<i64> = ids.values().copied().collect();
        assert_eq!(handed_out, (1..=EXCLUDED as i64).collect());
        let listed = app
            .send(admin_request(
                Method::GET,
                "/api/v4/namespaces/storage/limit_exclusions?per_page=100",
                Presented::Header("pat-plaintext"),
                None,
            ))
            .await
            .json();
        let listed: BTreeMap<usize, i64> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["namespace_id"].as_u64().unwrap() as usize,
                    e["id"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(listed, ids);

        let removals = (0..WRITERS)
            .map(|_| exclusion(Method::DELETE, 100, None))
            .collect();
        let answers = at_once(&app, removals).await;
        for (writer, answer) in answers.iter().enumerate() {
            let answered = (answer.status.as_u16(), answer.text.as_str());
            let not_excluded = r#"{"message":"400 Bad request - not excluded"}"#;
            assert!(
                answered == (204, "") || answered == (400, not_excluded),
                "writer {writer}: {answered:?}"
            );
        }
        assert!(
            statuses(&answers).contains_key(&204),
            "{:?}",
            statuses(&answers)
        );
        let again = app.send(exclusion(Method::POST, 100, Some(&reason))).await;
        assert_eq!(
            (again.status.as_u16(), &again.json()["id"]),
            (201, &json!(EXCLUDED + 1))
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Upcoming reconciliations.

/// Removals of one namespace's upcoming reconciliation at once: one removes it (204), every
/// other finds none (404).
async fn upcoming_reconciliations_are_removed_once(backend: Backend) {
    rounds_of(backend, WORLD, |app| async move {
        let path = "/api/v4/internal/upcoming_reconciliations";
        let upsert = json!({"upcoming_reconciliations": [{"namespace_id": 10,
            "next_reconciliation_date": "2026-06-13", "display_alert_from": "2026-06-06"}]});
        let stored = app.send(portal(Method::PUT, path, Some(&upsert))).await;
        stored.assert_snapshot(200, "upcoming_reconciliations_updated");
        let removals = (0..WRITERS)
            .map(|_| portal(Method::DELETE, &format!("{path}?namespace_id=10"), None))
            .collect();
        let answers = at_once(&app, removals).await;
        let winner = one_wins(&answers, 204, answered_as(404, "not_found"));
        assert_eq!(answers[winner].text, "");
    })
    .await;
}
