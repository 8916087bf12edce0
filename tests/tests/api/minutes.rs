//! Compute minute packs (`billing` function): packs idempotent per purchase, all or nothing,
//! unique across namespaces; moves in one transaction, also when one fails halfway; who may
//! call; and the round-trip budgets (writers at once: `concurrency.rs`).

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::*;

/// The seed's admin token (root, scope `api`).
const ADMIN: &str = "pat-plaintext";
/// The seed's one root group.
const GROUP: &str = "10";
/// Alice's personal namespace: a root namespace too.
const ALICE: &str = "2";

fn path(namespace: &str) -> String {
    format!("/api/v4/namespaces/{namespace}/minutes")
}

fn move_path(namespace: &str, target: &str) -> String {
    format!("/api/v4/namespaces/{namespace}/minutes/move/{target}")
}

fn pack(purchase_xid: &str, minutes: i64) -> Value {
    json!({"number_of_minutes": minutes, "expires_at": "2027-01-01", "purchase_xid": purchase_xid})
}

fn packs(packs: &[Value]) -> Value {
    json!({ "packs": packs })
}

/// The purchases a namespace holds, as stored, sorted.
pub(crate) async fn held(app: &TestApp, namespace: i64) -> Vec<String> {
    let read = app
        .repo
        .billing()
        .minutes_move(Some(namespace), None)
        .await
        .unwrap();
    let mut held: Vec<String> = read
        .packs
        .iter()
        .map(|pack| {
            assert_eq!(pack.namespace_id, namespace, "{pack:?}");
            pack.purchase_xid.clone()
        })
        .collect();
    held.sort();
    held
}

on_both_backends!(
    packs_are_created_once_per_purchase,
    packs_are_saved_all_or_nothing,
    errors_are_answered_as_gitlab_does,
    packs_move_together,
    a_move_that_fails_halfway_changes_nothing,
    only_admins_and_customers_dot_may_call,
);

async fn packs_are_created_once_per_purchase(app: TestApp) {
    let created = app
        .as_portal(
            Method::POST,
            &path(GROUP),
            Some(&packs(&[pack("C-0001", 10_000), pack("C-0002", 500)])),
        )
        .await;
    created.assert_snapshot(201, "minutes_created");
    assert_eq!(app.take_round_trips(), 2, "one read, one transaction");

    // Again with a known purchase (its pack unchanged, whatever the request says), a new one,
    // and the new one twice: one new pack, answered once per requested pack.
    let again = app
        .as_portal(
            Method::POST,
            &format!("/api/v4/internal/gitlab_subscriptions/namespaces/{GROUP}/minutes"),
            Some(&packs(&[
                pack("C-0002", 999_999),
                pack("C-0003", 42),
                pack("C-0003", 43),
            ])),
        )
        .await;
    again.assert_snapshot(201, "minutes_created_again");
    assert_eq!(held(&app, 10).await, ["C-0001", "C-0002", "C-0003"]);

    // Only known purchases: nothing to write, one round trip.
    app.take_round_trips();
    let known = app
        .as_portal(
            Method::POST,
            &path("group"),
            Some(&packs(&[pack("C-0001", 1)])),
        )
        .await;
    assert_eq!(known.status.as_u16(), 201, "{}", known.text);
    assert_eq!(known.json()[0]["number_of_minutes"], json!(10_000));
    assert_eq!(
        app.take_round_trips(),
        2,
        "the route, then the namespace and packs"
    );
}

async fn packs_are_saved_all_or_nothing(app: TestApp) {
    app.as_portal(
        Method::POST,
        &path(GROUP),
        Some(&packs(&[pack("C-0001", 1)])),
    )
    .await
    .assert_snapshot(201, "minutes_created_one");
    // A purchase another namespace holds is unique on GitLab.com: the whole request fails,
    // its valid new pack included.
    app.as_portal(
        Method::POST,
        &path(ALICE),
        Some(&packs(&[pack("C-0009", 1), pack("C-0001", 1)])),
    )
    .await
    .assert_snapshot(400, "minutes_unable_to_save");
    // So does a pack the model refuses: a blank or over-long purchase.
    for bad in ["", &"x".repeat(51)] {
        app.as_portal(
            Method::POST,
            &path(ALICE),
            Some(&packs(&[pack("C-0009", 1), pack(bad, 1)])),
        )
        .await
        .assert_snapshot_for(400, "minutes_unable_to_save", bad.len());
    }
    // And more new purchases than one transaction holds.
    let many: Vec<Value> = (0..51).map(|n| pack(&format!("M-{n:03}"), 1)).collect();
    app.as_portal(Method::POST, &path(ALICE), Some(&packs(&many)))
        .await
        .assert_snapshot(400, "minutes_unable_to_save");
    assert!(held(&app, 2).await.is_empty(), "nothing was stored");
    let fifty: Vec<Value> = (0..50).map(|n| pack(&format!("M-{n:03}"), 1)).collect();
    let created = app
        .as_portal(Method::POST, &path(ALICE), Some(&packs(&fifty)))
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    assert_eq!(held(&app, 2).await.len(), 50);
}

async fn errors_are_answered_as_gitlab_does(app: TestApp) {
    app.as_portal(Method::POST, &path("999"), None)
        .await
        .assert_snapshot(404, "namespace_not_found");
    app.as_portal(Method::POST, &path(GROUP), Some(&json!({})))
        .await
        .assert_snapshot(400, "minutes_packs_missing");
    app.as_portal(
        Method::POST,
        &path(GROUP),
        Some(
            &json!({"packs": [{"number_of_minutes": "many", "expires_at": "2027-13-01"},
                               "not a pack"]}),
        ),
    )
    .await
    .assert_snapshot(400, "minutes_packs_invalid");

    // Moves: the source, then the target, then GitLab's checks in their order.
    for (source, target, status, name) in [
        ("999", GROUP, 404, "namespace_not_found"),
        (GROUP, "999", 404, "minutes_target_not_found"),
        ("group%2Fprivate", GROUP, 404, "namespace_not_found"),
        ("11", GROUP, 400, "minutes_move_not_top_level"),
        (GROUP, "11", 400, "minutes_move_target_not_top_level"),
        (GROUP, "group", 400, "minutes_move_same_namespace"),
    ] {
        app.as_portal(Method::PATCH, &move_path(source, target), None)
            .await
            .assert_snapshot_for(status, name, format!("{source} -> {target}"));
    }
}

async fn packs_move_together(app: TestApp) {
    app.as_portal(
        Method::POST,
        &path(GROUP),
        Some(&packs(&[pack("C-0001", 10), pack("C-0002", 20)])),
    )
    .await
    .assert_snapshot(201, "minutes_created_two");
    app.as_portal(
        Method::POST,
        &path(ALICE),
        Some(&packs(&[pack("C-0003", 30)])),
    )
    .await
    .assert_snapshot(201, "minutes_created_alice");
    app.take_round_trips();
    app.as_portal(Method::PATCH, &move_path(GROUP, ALICE), None)
        .await
        .assert_snapshot(202, "minutes_moved");
    assert_eq!(app.take_round_trips(), 2, "one read, one transaction");
    assert!(held(&app, 10).await.is_empty());
    assert_eq!(held(&app, 2).await, ["C-0001", "C-0002", "C-0003"]);

    // A moved pack is found in its new namespace, and is still unique.
    let found = app
        .as_portal(
            Method::POST,
            &path(ALICE),
            Some(&packs(&[pack("C-0001", 1)])),
        )
        .await;
    assert_eq!(found.json()[0]["namespace_id"], json!(2), "{}", found.text);
    assert_eq!(found.json()[0]["number_of_minutes"], json!(10));
    app.as_portal(
        Method::POST,
        &path(GROUP),
        Some(&packs(&[pack("C-0001", 1)])),
    )
    .await
    .assert_snapshot(400, "minutes_unable_to_save");

    // Nothing to move is accepted too, with no write; the internal mount and full paths work.
    app.take_round_trips();
    app.as_portal(
        Method::PATCH,
        &format!("/api/v4/internal/gitlab_subscriptions/namespaces/group/minutes/move/{ALICE}"),
        None,
    )
    .await
    .assert_snapshot(202, "minutes_moved");
    assert_eq!(
        app.take_round_trips(),
        2,
        "the route, then the namespaces and packs"
    );
}

/// A concurrent writer takes, just before each transaction that moves packs, the place of
/// the last pack in the target: every move then fails at its last item.
struct TakesTheTarget;

#[async_trait::async_trait]
impl BeforeEachWrite for TakesTheTarget {
    async fn before(
        &self,
        store: &dyn gl_store::Store,
        ops: &[gl_store::WriteOp],
    ) -> Result<(), gl_store::StoreError> {
        use gl_store::{Condition, WriteOp};
        let moves = ops.iter().any(
            |op| matches!(op, WriteOp::Delete { key, .. } if key.pk.starts_with("MINUTE_PACKS#")),
        );
        if moves && let Some(WriteOp::Put { item, .. }) = ops.last() {
            store
                .write(vec![WriteOp::Put {
                    item: item.clone(),
                    condition: Condition::None,
                }])
                .await?;
        }
        Ok(())
    }
}

async fn a_move_that_fails_halfway_changes_nothing(app: TestApp) {
    app.as_portal(
        Method::POST,
        &path(GROUP),
        Some(&packs(&[
            pack("C-0001", 10),
            pack("C-0002", 20),
            pack("C-0003", 30),
        ])),
    )
    .await
    .assert_snapshot(201, "minutes_created_three");
    // The same store behind a router whose every move meets the concurrent writer.
    let meddled = Meddled::app(&app, TakesTheTarget);
    meddled
        .as_portal(Method::PATCH, &move_path(GROUP, ALICE), None)
        .await
        .assert_snapshot(409, "minutes_conflict");
    // Every pack is still the source's; the target holds only what the other writer put.
    assert_eq!(held(&app, 10).await, ["C-0001", "C-0002", "C-0003"]);
    assert_eq!(held(&app, 2).await, ["C-0003"]);
}

async fn only_admins_and_customers_dot_may_call(app: TestApp) {
    let body = packs(&[pack("C-0001", 10)]);
    for (token, status, name) in [
        (Presented::Nothing, 401, "unauthorized"),
        (Presented::Header("unknown"), 401, "unauthorized"),
        (Presented::Header("alice-api-token"), 403, "forbidden"),
        (
            Presented::Header("read-api-admin-token"),
            403,
            "insufficient_scope_api",
        ),
    ] {
        app.send(admin_request(
            Method::POST,
            &path(GROUP),
            token,
            Some(&body),
        ))
        .await
        .assert_snapshot_for(status, name, format!("{token:?}"));
        app.send(admin_request(
            Method::PATCH,
            &move_path(GROUP, ALICE),
            token,
            None,
        ))
        .await
        .assert_snapshot_for(status, name, format!("move, {token:?}"));
    }
    assert!(held(&app, 10).await.is_empty());
    app.counter.reset();
    app.send(admin_request(
        Method::POST,
        &path(GROUP),
        Presented::Header(ADMIN),
        Some(&body),
    ))
    .await
    .assert_snapshot(201, "minutes_created_one_by_admin");
    assert_eq!(app.take_round_trips(), 3, "a token costs one more round");
    app.send(admin_request(
        Method::PATCH,
        &move_path(GROUP, ALICE),
        Presented::Bearer(ADMIN),
        None,
    ))
    .await
    .assert_snapshot(202, "minutes_moved");
    assert_eq!(held(&app, 2).await, ["C-0001"]);
}
