//! What one request cost the store: its round trips and the time at least one store call was
//! in flight. The HTTP layer opens a [`RequestStoreTiming`] per request and reports it in a
//! `Server-Timing` header; [`MeteredStore`] adds every call made inside it. Calls issued
//! together (a `join`) overlap: they count as one round and their time once, as a DynamoDB
//! client would see them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::{Item, Key, Page, ScanPage, Store, StoreError, WriteOp};

tokio::task_local! {
    static CURRENT: Arc<RequestStoreTiming>;
}

/// One request's store accounting, from when the request began.
#[derive(Debug)]
pub struct RequestStoreTiming {
    rounds: AtomicU32,
    in_flight: AtomicU32,
    busy_nanos: AtomicU64,
    /// When the calls now in flight began, as nanoseconds after `origin`.
    busy_since: AtomicU64,
    /// When the request began.
    origin: Instant,
}

impl Default for RequestStoreTiming {
    fn default() -> Self {
        Self {
            rounds: AtomicU32::new(0),
            in_flight: AtomicU32::new(0),
            busy_nanos: AtomicU64::new(0),
            busy_since: AtomicU64::new(0),
            origin: Instant::now(),
        }
    }
}

/// How long ago the current request began; `None` outside one. The DynamoDB adapter measures
/// its per-request deadline from here.
pub fn request_elapsed() -> Option<Duration> {
    CURRENT.try_with(|timing| timing.origin.elapsed()).ok()
}

impl RequestStoreTiming {
    /// Runs `request` with this accounting current, so the store calls it makes are counted.
    pub async fn scope<F: std::future::Future>(self: Arc<Self>, request: F) -> F::Output {
        CURRENT.scope(self, request).await
    }

    /// Sequential round trips so far.
    pub fn rounds(&self) -> u32 {
        self.rounds.load(Ordering::Relaxed)
    }

    /// Time with at least one store call in flight.
    pub fn busy(&self) -> Duration {
        Duration::from_nanos(self.busy_nanos.load(Ordering::Relaxed))
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn started(&self) {
        if self.in_flight.fetch_add(1, Ordering::Relaxed) == 0 {
            self.rounds.fetch_add(1, Ordering::Relaxed);
            self.busy_since.store(self.now(), Ordering::Relaxed);
        }
    }

    fn finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            let since = self.busy_since.load(Ordering::Relaxed);
            self.busy_nanos
                .fetch_add(self.now().saturating_sub(since), Ordering::Relaxed);
        }
    }
}

/// Ends a call's accounting even when its future is dropped half way (a request cancelled).
struct InFlight(Option<Arc<RequestStoreTiming>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(timing) = &self.0 {
            timing.finished();
        }
    }
}

async fn metered<T>(call: impl std::future::Future<Output = T>) -> T {
    let timing = CURRENT.try_with(Arc::clone).ok();
    if let Some(timing) = &timing {
        timing.started();
    }
    let _in_flight = InFlight(timing);
    call.await
}

/// A store whose calls count towards the current request's [`RequestStoreTiming`]; outside a
/// request (provisioning, start-up) it only passes calls on.
pub struct MeteredStore {
    inner: Arc<dyn Store>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl Store for MeteredStore {
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        metered(self.inner.get_many(keys)).await
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        metered(self.inner.query(pk, sk_prefix, start_after, limit)).await
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        metered(self.inner.write(ops)).await
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<ScanPage, StoreError> {
        metered(self.inner.scan(after, limit)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        metered(self.inner.ping()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedStore;
    use crate::keys;

    #[tokio::test]
    async fn overlapping_calls_are_one_round_and_outside_a_request_nothing_counts() {
        // The counting store yields before each call, as a network call would, so that calls
        // issued together are in flight together.
        let counting = crate::CountingStore::new(Arc::new(EmbeddedStore::in_memory()));
        let store = MeteredStore::new(Arc::new(counting));
        store.get_many(&[keys::user(1)]).await.unwrap();
        let second = [keys::user(2)];
        let timing = Arc::new(RequestStoreTiming::default());
        Arc::clone(&timing)
            .scope(async {
                store.get_many(&[keys::user(1)]).await.unwrap();
                let (a, b) =
                    tokio::join!(store.get_many(&second), store.query("USER#2", "", None, 10));
                a.unwrap();
                b.unwrap();
                store.ping().await.unwrap();
            })
            .await;
        assert_eq!(timing.rounds(), 3);
        assert!(timing.busy() > Duration::ZERO);
        assert_eq!(timing.in_flight.load(Ordering::Relaxed), 0);
    }
}
