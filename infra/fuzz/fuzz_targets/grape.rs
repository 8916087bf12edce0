//! `gl_http::grape`: Grape's parameter declarations over parsed parameters. The request is
//! read as `params` reads it (query line, `Content-Type` line, body); then one endpoint's
//! `params do ... end`, using every type, option and block shape the endpoints use, is
//! declared over it. Ruby's `Date.parse` (`gl_model::ruby::parse_date`), which the `Date` type
//! runs, is also fed every string parameter and the raw body.
//!
//! Invariants: a refusal is one 400 naming at most `MAX_ERRORS` distinct failures; a required
//! value that came out is what its type's own coercion gives; coercions agree with their
//! documented rules (booleans from their fixed lists, integers never from floats).

#![no_main]

use gl_fuzz::Request;
use gl_http::grape::{
    Any, Array, Boolean, Date, Hash, Integer, JsonArray, JsonString, MAX_ERRORS, Present, Text,
    Type,
};
use gl_http::{ApiError, Declared, Params};
use gl_model::ruby::parse_date;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const LEVELS: [&str; 3] = ["low", "medium", "high"];

fn lowercase(text: String) -> String {
    text.to_lowercase()
}

fn check_refusal(err: &ApiError) {
    assert_eq!(err.status().as_u16(), 400, "{err:?}");
    let body = err.body();
    let message = body["error"].as_str().expect("Grape's {\"error\": ...}");
    if let ApiError::InvalidParams(errors) = err {
        assert!(!errors.is_empty() || message.is_empty());
        assert!(
            errors.len() <= MAX_ERRORS,
            "{} failures named",
            errors.len()
        );
        for (i, error) in errors.iter().enumerate() {
            assert!(!errors[..i].contains(error), "{error} named twice");
        }
    }
}

fn declare(params: &Params) {
    let mut d = Declared::new(params);
    let id = d.requires("id", Integer);
    let kind = d.requires("kind", Text.coerce_with(lowercase).values(&LEVELS));
    let name = d.optional("name", JsonString.not_blank());
    let trial = d.optional_or("trial", Boolean, false);
    let start = d.optional("start_date", Date);
    let ids = d.optional("ids", Array(Integer).at_most(5));
    let seats = d.optional("seats", Integer.values(&[1, 5, 10]));
    let config = d.requires_hash("config", Hash, |config| {
        config.optional("wants", Integer.not_blank());
        let deep = config.requires_hash("nested", Present(Any), |nested| {
            nested.requires("deep", Date)
        });
        deep.flatten()
    });
    let events = d.optional_array("events", Array(Hash).at_most(50), |event| {
        let user = event.requires("user_id", Integer);
        event.optional_array("tags", Any, |tag| {
            tag.requires("name", Present(Any));
        });
        user
    });
    let items = d.optional_array("items", JsonArray, |item| {
        item.requires("namespace_id", Integer.not_blank())
    });
    if kind.peek().is_some_and(|kind| kind == "high") {
        d.requires("reason", Text.not_blank());
    }
    let _ = (trial, start, events, items);

    // What came out agrees with the types' own rules.
    if let Some(id) = id.peek() {
        assert_eq!(Integer.coerce(params.get("id").unwrap()), Ok(*id));
        assert!(!params.get("id").unwrap().is_f64());
    }
    if let Some(kind) = kind.peek() {
        assert!(LEVELS.contains(&kind.as_str()), "{kind}");
    }
    if let Some(name) = &name {
        assert!(!name.trim().is_empty());
    }
    if let Some(ids) = &ids {
        assert!(ids.len() <= 5);
    }
    if let Some(seats) = seats {
        assert!([1, 5, 10].contains(&seats));
    }
    match d.finish((id, kind, config)) {
        Ok((id, kind, date)) => {
            assert_eq!(params.id("id").or(Some(id)), Some(id));
            assert!(LEVELS.contains(&kind.as_str()));
            let _ = date;
        }
        Err(err) => check_refusal(&err),
    }
}

/// Every coercion of one value, checked against its documented rule.
fn coerce_all(value: &Value) {
    if let Ok(flag) = Boolean.coerce(value) {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let listed = if flag {
            [
                "1", "on", "On", "ON", "t", "true", "True", "TRUE", "T", "y", "yes", "Yes", "YES",
                "Y",
            ]
            .as_slice()
        } else {
            [
                "0", "off", "Off", "OFF", "f", "false", "False", "FALSE", "F", "n", "no", "No",
                "NO", "N",
            ]
            .as_slice()
        };
        assert!(listed.contains(&text.as_str()), "{text} as {flag}");
    }
    if Integer.coerce(value).is_ok() {
        assert!(!value.is_f64(), "{value}");
    }
    if let Ok(text) = Text.coerce(value) {
        assert!(value.is_string() || value.is_number());
        let _ = text;
    }
    let _ = (
        Date.coerce(value),
        Hash.coerce(value),
        JsonArray.coerce(value),
        Array(Integer).coerce(value),
        Present(Any).is_absent(value),
    );
    if let Value::String(s) = value {
        let _ = parse_date(s);
    }
}

fuzz_target!(|data: &[u8]| {
    let request = Request::split(data);
    if let Ok(body) = std::str::from_utf8(request.body) {
        let _ = parse_date(body);
    }
    let params = match Params::parse(request.query, request.content_type, request.body) {
        Ok(params) => params,
        Err(err) => {
            check_refusal(&err);
            return;
        }
    };
    for value in params.0.values() {
        coerce_all(value);
        if let Value::Array(elements) = value {
            elements.iter().take(16).for_each(coerce_all);
        }
    }
    declare(&params);
});
