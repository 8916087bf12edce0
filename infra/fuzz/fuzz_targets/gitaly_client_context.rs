//! `gitaly_client_context_bin`, which every internal endpoint of the shell family reads before
//! anything else: `shell::gitaly_client_context::scoped_user_id` (Ruby's lenient
//! `Base64.decode64`, JSON that must be an object, its `scoped-user-id` as Ruby's `to_i`).
//! The input is given twice: as the parameter's text, and base64-encoded (so that the JSON
//! behind the encoding is mutated directly).
//!
//! Invariants: a refusal is a 400; the id read is `to_i` of a present `scoped-user-id` of a
//! JSON object; the encoded input is accepted exactly when it is a JSON object; re-encoding
//! what was decoded reads the same.

#![no_main]

use base64::Engine as _;
use gl_model::ruby;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shell::gitaly_client_context::scoped_user_id;

fn read(encoded: &str) -> Option<Option<i64>> {
    match scoped_user_id(encoded) {
        Ok(id) => {
            let decoded = ruby::decode64(encoded);
            let context: Value = serde_json::from_slice(&decoded).expect("accepted as JSON");
            let scoped = context
                .as_object()
                .expect("accepted as an object")
                .get("scoped-user-id")
                .filter(|v| ruby::is_present(v));
            assert_eq!(id, scoped.map(ruby::to_i));
            let again = base64::engine::general_purpose::STANDARD.encode(&decoded);
            assert_eq!(scoped_user_id(&again).ok(), Some(id), "re-encoded");
            Some(id)
        }
        Err(err) => {
            assert_eq!(err.status().as_u16(), 400, "{err:?}");
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        read(text);
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let is_object = serde_json::from_slice::<Value>(data).is_ok_and(|v| v.is_object());
    assert_eq!(read(&encoded).is_some(), is_object);
});
