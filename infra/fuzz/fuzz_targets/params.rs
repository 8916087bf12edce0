//! `gl_http::Params::parse`: the query string, then a form or JSON body as Grape merges them.
//! Input: query line, `Content-Type` line, body (see `gl_fuzz::Request`).
//!
//! Invariants: the accessors never panic; what parsed re-serialises to a JSON body that parses
//! back to the same parameters; a JSON object body's members all reach the parameters, winning
//! over the query; a refusal is Grape's 400.

#![no_main]

use gl_fuzz::Request;
use gl_http::Params;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Equal, floats within a few units in the last place.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y
                || (x.is_sign_positive() == y.is_sign_positive()
                    && x.to_bits().abs_diff(y.to_bits()) <= 4)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, x), (ky, y))| kx == ky && same(x, y))
        }
        _ => a == b,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fuzz_target!(|data: &[u8]| {
    let request = Request::split(data);
    let params = match Params::parse(request.query, request.content_type, request.body) {
        Ok(params) => params,
        Err(err) => {
            assert_eq!(err.status().as_u16(), 400, "{err:?}");
            assert!(err.body().is_object());
            return;
        }
    };
    for (name, value) in &params.0 {
        let _ = (params.text(name), params.id(name), params.has(name));
        if let Some(id) = params.id(name) {
            // An id is an integer or the trimmed text of one.
            match value {
                Value::Number(n) => assert_eq!(n.as_i64(), Some(id)),
                Value::String(s) => assert_eq!(s.trim().parse::<i64>().ok(), Some(id)),
                other => panic!("id {id} from {other}"),
            }
        }
        if let Some(text) = params.text(name) {
            assert!(
                !value.is_null() && !value.is_array() && !value.is_object(),
                "{text}"
            );
        }
    }
    // Re-serialised as a JSON body, the parameters read the same, but for two quirks of
    // serde_json as built here: an object whose first key is `$serde_json::private::RawValue`
    // is read as the JSON text of its value (`raw_value` is on, through axum and lambda_http),
    // and a float with more digits than a double holds may read one unit in the last place
    // off (no `float_roundtrip`), so its shortest form can read back as its neighbour.
    let body = serde_json::to_vec(&params.0).expect("a JSON map serialises");
    if !contains(&body, b"$serde_json::private::") {
        let again =
            Params::parse(None, Some("application/json"), &body).expect("our own JSON parses");
        assert!(
            same(
                &Value::Object(again.0.clone()),
                &Value::Object(params.0.clone())
            ),
            "re-serialised: {}\n{again:?}\n{params:?}",
            String::from_utf8_lossy(&body)
        );
    }
    // A JSON object body's members win over the query.
    let media_type = request
        .content_type
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if (media_type == "application/json" || media_type.ends_with("+json"))
        && let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(request.body)
    {
        for (name, value) in fields {
            assert_eq!(params.0.get(&name), Some(&value), "{name}");
        }
    }
});
