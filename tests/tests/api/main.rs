//! The whole API, black box, through the merged router, on the embedded store and on a
//! DynamoDB-wire server (moto). Exact bodies are pinned as the bytes GitLab sends, in
//! `snapshots/` (see `TestResponse::assert_snapshot`).

mod support;

mod account;
mod add_on_purchase;
mod allowed;
mod attacks;
mod authentication;
mod authorized_keys;
mod bounded;
mod captured_logs;
mod check;
mod concurrency;
mod discover;
mod error_tracking;
mod faults;
mod git_audit_event;
mod gitaly;
mod gitlab_subscription;
mod kas;
mod lfs;
mod minutes;
mod private_token;
mod provisioning;
mod reference_counter;
mod round_trips;
mod routing;
mod scim;
mod seed_import;
mod storage_limit_exclusions;
mod unavailable;
mod upcoming_reconciliations;

/// The OpenSSH line of key `index` in the test world.
pub fn world_key(index: usize) -> String {
    let world: serde_json::Value = serde_json::from_str(support::WORLD).expect("world is JSON");
    world["keys"][index]["key"]
        .as_str()
        .expect("key line")
        .to_owned()
}

/// The base64 blob (second field) of key `index` in the test world.
pub fn world_blob(index: usize) -> String {
    world_key(index)
        .split_whitespace()
        .nth(1)
        .expect("blob")
        .to_owned()
}

/// Go's `url.QueryEscape`, which GitLab Shell's `url.Values.Encode()` applies.
pub fn query_escape(value: &str) -> String {
    value
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}
