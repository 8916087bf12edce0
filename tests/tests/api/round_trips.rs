//! Each endpoint within its round-trip budget (`design.md`): authorized_keys 1, discover 2.

use crate::support::*;
use crate::{query_escape, world_blob};

on_both_backends!(budgets_hold);

async fn budgets_hold(app: TestApp) {
    let cases = [
        (
            format!(
                "/api/v4/internal/authorized_keys?key={}",
                query_escape(&world_blob(0))
            ),
            1,
        ),
        (
            "/api/v4/internal/authorized_keys?key=whatever".to_owned(),
            1,
        ),
        ("/api/v4/internal/discover?key_id=1".to_owned(), 2),
        ("/api/v4/internal/discover?username=alice".to_owned(), 2),
        ("/api/v4/internal/discover?user_id=1".to_owned(), 1),
        ("/api/v4/internal/check".to_owned(), 1),
    ];
    for (path, budget) in cases {
        app.take_round_trips();
        let response = app.shell_get(&path).await;
        assert!(
            response.status.is_success() || response.status.as_u16() == 404,
            "{path}: {}",
            response.text
        );
        assert_eq!(app.take_round_trips(), budget, "{path}");
    }
}
