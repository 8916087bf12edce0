//! `Server-Timing` on every answer, local and in Lambda: the time our code took from the
//! request to its answer (`app`), the part of it spent waiting on the store (`store`), and
//! the store round trips (`rounds=N`), as
//! `app;dur=0.041, store;dur=0.012;desc="rounds=2"` (milliseconds). An operator sees any
//! request's cost from outside, and the black-box tests read round trips from it. It says
//! nothing a caller could not time itself: no key, no path, no identity.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use gl_store::timing::RequestStoreTiming;

pub const SERVER_TIMING: &str = "server-timing";

pub(crate) async fn server_timing(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let store = Arc::new(RequestStoreTiming::default());
    let mut response = Arc::clone(&store).scope(next.run(request)).await;
    let value = header_value(started.elapsed(), store.busy(), store.rounds());
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(SERVER_TIMING, value);
    }
    response
        .extensions_mut()
        .insert(crate::request_log::StoreCost {
            rounds: store.rounds(),
            busy: store.busy(),
        });
    response
}

/// Milliseconds with three decimals, from whole microseconds (no float formatting on every
/// answer).
struct Millis(Duration);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let micros = self.0.as_micros();
        write!(f, "{}.{:03}", micros / 1000, micros % 1000)
    }
}

fn header_value(app: Duration, store: Duration, rounds: u32) -> String {
    format!(
        "app;dur={}, store;dur={};desc=\"rounds={rounds}\"",
        Millis(app),
        Millis(store)
    )
}

/// The round trips a `Server-Timing` value reports: what tests and tools read back.
pub fn rounds(value: &str) -> Option<u32> {
    value
        .split(',')
        .find_map(|metric| metric.trim().strip_prefix("store;"))?
        .split(';')
        .find_map(|param| param.trim().strip_prefix("desc=\"rounds="))?
        .strip_suffix('"')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_reads_back() {
        let value = header_value(Duration::from_micros(41), Duration::from_micros(12), 2);
        assert_eq!(value, "app;dur=0.041, store;dur=0.012;desc=\"rounds=2\"");
        assert_eq!(rounds(&value), Some(2));
        assert_eq!(rounds("app;dur=1"), None);
        let slow = header_value(Duration::from_millis(1234), Duration::ZERO, 0);
        assert_eq!(slow, "app;dur=1234.000, store;dur=0.000;desc=\"rounds=0\"");
    }
}
