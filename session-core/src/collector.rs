//! A background task that removes expired sessions from a store now and then.
//!
//! Expired sessions never load, but server-side stores keep them until something removes
//! them. Start one [`Collector`] per store (per store *directory* or *database*, if several
//! processes share one; more do no harm, only work):
//!
//! ```no_run
//! # async fn demo() -> Result<(), session_core::StoreError> {
//! use std::time::Duration;
//! use session_core::{Collector, FileStore};
//!
//! let store = FileStore::open("sessions").await?;
//! let collector = Collector::spawn(store.clone(), Duration::from_secs(300));
//! // ... serve with `store` ...
//! collector.stop().await;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::store::Store;
use crate::time::{Clock, SystemClock};

/// A running expired-session collector: calls [`Store::collect_expired`] every period.
///
/// The first pass runs one period after the start. Counts are logged at `debug` level (`info`
/// when something was removed); a failed pass is logged as a warning and the next one runs
/// on schedule. Dropping the collector aborts it; [`stop`](Self::stop) lets a running pass
/// finish first.
#[derive(Debug)]
pub struct Collector {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Collector {
    /// Starts collecting expired sessions of `store` every `every` (at least a millisecond),
    /// as of the system clock.
    ///
    /// Give it a clone of the store the layer uses (the stores are cheap to clone, or share an
    /// `Arc`).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn(store: impl Store, every: Duration) -> Self {
        Self::spawn_with_clock(store, every, SystemClock)
    }

    /// Like [`spawn`](Self::spawn), with time read from `clock`: use the clock the layer uses.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn_with_clock(store: impl Store, every: Duration, clock: impl Clock) -> Self {
        let every = every.max(Duration::from_millis(1));
        let (stop, stopped) = oneshot::channel();
        // The first deadline counts from now, not from whenever the task is first polled.
        let first = Instant::now() + every;
        let task = tokio::spawn(run(Arc::new(store), every, first, Arc::new(clock), stopped));
        Self { stop: Some(stop), task: Some(task) }
    }

    /// Stops collecting: waits for a pass in progress to finish, then returns.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            // The task may have ended already; then there is nobody to tell.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                if e.is_panic() {
                    tracing::error!(error = %e, "session collector panicked");
                }
            }
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    every: Duration,
    mut next: Instant,
    clock: Arc<dyn Clock>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        if tokio::time::timeout_at(next, &mut stopped).await.is_ok() {
            // Asked to stop (or the handle is gone).
            return;
        }
        match store.collect_expired(clock.now()).await {
            Ok(0) => tracing::debug!("session collector: no expired sessions"),
            Ok(removed) => tracing::info!(removed, "session collector: removed expired sessions"),
            Err(error) => tracing::warn!(%error, "session collector: collecting expired sessions failed"),
        }
        // Counted from the end of the pass, so a slow pass never causes a burst of them.
        next = Instant::now() + every;
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use tokio::sync::mpsc;

    use super::*;
    use crate::error::StoreError;
    use crate::id::StoreKey;
    use crate::record::{Change, Record};
    use crate::store::{Applied, Created, Renamed};
    use crate::time::{ManualClock, Timestamp};

    /// Reports every collection, with the `now` it was given; fails when told to.
    struct Probe {
        calls: mpsc::UnboundedSender<Timestamp>,
        fail: bool,
    }

    #[async_trait]
    impl Store for Probe {
        async fn load(&self, _: &StoreKey, _: Timestamp) -> Result<Option<Record>, StoreError> {
            Ok(None)
        }
        async fn create(&self, _: &StoreKey, _: &Record, _: Timestamp) -> Result<Created, StoreError> {
            Ok(Created::Stored)
        }
        async fn apply(&self, _: &StoreKey, _: &Change, _: Timestamp) -> Result<Applied, StoreError> {
            Ok(Applied::Gone)
        }
        async fn delete(&self, _: &StoreKey) -> Result<(), StoreError> {
            Ok(())
        }
        async fn rename(&self, _: &StoreKey, _: &StoreKey, _: Timestamp) -> Result<Renamed, StoreError> {
            Ok(Renamed::Gone)
        }
        async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
            let _ = self.calls.send(now);
            if self.fail {
                // What a store whose backend is down reports.
                Err(StoreError::backend("probe", "probe failure"))
            } else {
                Ok(1)
            }
        }
    }

    fn probe(fail: bool) -> (Probe, mpsc::UnboundedReceiver<Timestamp>) {
        let (calls, rx) = mpsc::unbounded_channel();
        (Probe { calls, fail }, rx)
    }

    const EVERY: Duration = Duration::from_secs(60);

    // With paused time, tokio jumps the clock to the next timer whenever every task is idle:
    // awaiting the probe's channel runs the collector exactly as far as its next pass.

    #[tokio::test(start_paused = true)]
    async fn passes_run_every_period_with_the_clocks_time() {
        let (store, mut calls) = probe(false);
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(5_000)));
        let collector = Collector::spawn_with_clock(store, EVERY, clock.clone());
        let start = Instant::now();
        assert_eq!(calls.recv().await, Some(Timestamp::from_millis(5_000)));
        assert_eq!(start.elapsed(), EVERY, "the first pass comes one period after the start");
        clock.advance(Duration::from_secs(1));
        assert_eq!(calls.recv().await, Some(Timestamp::from_millis(6_000)));
        assert_eq!(start.elapsed(), 2 * EVERY);
        collector.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_runs_before_the_first_period() {
        let (store, mut calls) = probe(false);
        let collector = Collector::spawn(store, EVERY);
        tokio::time::advance(EVERY - Duration::from_millis(1)).await;
        assert!(calls.try_recv().is_err(), "a pass ran before its period was up");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(calls.recv().await.is_some());
        drop(collector);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_pass_is_logged_and_the_next_one_still_runs() {
        let (store, mut calls) = probe(true);
        let collector = Collector::spawn(store, EVERY);
        let start = Instant::now();
        assert!(calls.recv().await.is_some());
        assert!(calls.recv().await.is_some(), "no pass after a failed one");
        assert_eq!(start.elapsed(), 2 * EVERY);
        collector.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn stop_ends_the_task_and_releases_the_store() {
        let (store, mut calls) = probe(false);
        let collector = Collector::spawn(store, EVERY);
        assert!(calls.recv().await.is_some());
        collector.stop().await;
        // The task owned the only store, hence the only sender: a closed channel proves the
        // task is gone. Were it alive, time would jump to its next pass and this would be Some.
        assert_eq!(calls.recv().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn drop_aborts_the_task() {
        let (store, mut calls) = probe(false);
        let collector = Collector::spawn(store, EVERY);
        assert!(calls.recv().await.is_some());
        drop(collector);
        assert_eq!(calls.recv().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_period_does_not_spin() {
        let (store, mut calls) = probe(false);
        let collector = Collector::spawn(store, Duration::ZERO);
        let start = Instant::now();
        assert!(calls.recv().await.is_some());
        assert!(calls.recv().await.is_some());
        assert_eq!(start.elapsed(), Duration::from_millis(2));
        collector.stop().await;
    }

    #[cfg(feature = "memory")]
    #[tokio::test(start_paused = true)]
    async fn collects_a_real_store() {
        let store = Arc::new(crate::store::MemoryStore::new());
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let meta = crate::record::Meta {
            idle_deadline: Some(Timestamp::from_millis(10)),
            ..crate::record::Meta::new(Timestamp::from_millis(0))
        };
        let key = StoreKey::parse(&"a".repeat(32)).expect("key");
        store.create(&key, &Record::new(meta), Timestamp::from_millis(0)).await.expect("create");
        assert_eq!(store.len(), 1);
        let collector = Collector::spawn_with_clock(store.clone(), EVERY, clock);
        // Virtual time: just past the first pass, which runs to its end before time moves on.
        tokio::time::sleep(EVERY + Duration::from_millis(1)).await;
        collector.stop().await;
        assert_eq!(store.len(), 0, "the expired record was not collected");
    }
}
