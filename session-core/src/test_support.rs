//! What this crate's unit tests share.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::id::StoreKey;
use crate::time::Timestamp;

/// The fixed "now" of the stores' unit tests.
pub(crate) const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// A store key made from one byte, so tests can name their keys.
pub(crate) fn key(n: u8) -> StoreKey {
    StoreKey::parse(&format!("{n:02x}{}", "0".repeat(30))).expect("a valid key")
}

/// Counts the warnings logged on this thread while its guard lives: stores log corrupt data as
/// a warning instead of failing, and the tests check that they did.
// The file and SQLite stores' tests count them; the SQL golden tests only need `key` and `NOW`.
#[cfg_attr(not(any(feature = "file", feature = "sqlite")), allow(dead_code))]
struct Warnings(Arc<AtomicUsize>);

impl tracing::Subscriber for Warnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// A counter of this thread's warnings, and the guard that keeps counting.
#[cfg_attr(not(any(feature = "file", feature = "sqlite")), allow(dead_code))]
pub(crate) fn count_warnings() -> (Arc<AtomicUsize>, tracing::dispatcher::DefaultGuard) {
    let count = Arc::new(AtomicUsize::new(0));
    let guard = tracing::dispatcher::set_default(&tracing::Dispatch::new(Warnings(count.clone())));
    (count, guard)
}
