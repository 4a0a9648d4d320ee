//! How many returning sessions the memory store keeps through a flood of one-shot sessions.
//!
//! A store of capacity C holds C/2 sessions that came back for a second request; then 2 x C
//! sessions are created and never used again (anonymous requests that each set a CSRF token or a
//! flash). Prints how many of the returning sessions still load, for the store as shipped.

use session_kit::clock::Timestamp;
use session_kit::store::{Meta, Record, Store, StoreKey};
use session_kit::MemoryStore;
use session_kit_bench::runtime;

const CAPACITY: u64 = 10_000;

fn key(i: u64) -> StoreKey {
    StoreKey::parse(&format!("{i:032x}")).expect("32 hex digits are a store key")
}

/// A session created at `ms` with a day of idle time: the later, the later it expires.
fn record(ms: u64) -> Record {
    let at = Timestamp::from_millis(ms);
    Record::new(Meta { idle_deadline: Some(at.after(std::time::Duration::from_secs(86_400))), ..Meta::new(at) })
}

fn main() {
    let kept = runtime().block_on(async {
        let store = MemoryStore::with_capacity(CAPACITY as usize);
        let regulars: Vec<StoreKey> = (0..CAPACITY / 2).map(key).collect();
        for (i, k) in (0u64..).zip(&regulars) {
            let now = Timestamp::from_millis(i);
            store.create(k, &record(i), now).await.expect("the memory store does not fail");
            store.load(k, now).await.expect("the memory store does not fail");
        }
        for i in 0..2 * CAPACITY {
            let at = 1_000_000 + i;
            store.create(&key(CAPACITY + i), &record(at), Timestamp::from_millis(at)).await.expect("create");
        }
        let now = Timestamp::from_millis(2_000_000 + 2 * CAPACITY);
        let mut kept = 0u64;
        for k in &regulars {
            kept += u64::from(store.load(k, now).await.expect("load").is_some());
        }
        kept
    });
    let regulars = CAPACITY / 2;
    #[allow(clippy::print_stdout)] // the binary's whole output
    {
        println!(
            "capacity {CAPACITY}: {kept} of {regulars} returning sessions kept ({:.1}%) after {} one-shot sessions",
            kept as f64 * 100.0 / regulars as f64,
            2 * CAPACITY
        );
    }
}
