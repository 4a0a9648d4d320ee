//! How big a typical session is once stored: the same 5-field session saved with the postcard
//! codec (the default) and with JSON, measured on the record the store holds.
//!
//! ```text
//! cargo run --example record_size --features json
//! ```
//!
//! The clock is fixed, so the numbers are the same on every machine.
#![allow(clippy::print_stdout)] // printing the sizes is the point of this example

use std::error::Error;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use session_kit::clock::{ManualClock, Timestamp};
use session_kit::codec::{Codec, Json, Postcard};
use session_kit::id::SessionId;
use session_kit::integration::{CookieOp, Engine};
use session_kit::store::{Record, Store};
use session_kit::{MemoryStore, Session};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
enum Role {
    #[default]
    Guest,
    Member,
    Admin,
}

/// A typical session: who is logged in, as what, and since when.
#[derive(Session)]
#[session(name = "app")]
struct App {
    user_id: u64,
    name: String,
    role: Role,
    tags: Vec<String>,
    last_seen: u64,
}

/// 2023-11-14T22:13:20Z, in milliseconds: a realistic timestamp of fixed encoded size.
const NOW: u64 = 1_700_000_000_000;

/// Saves the session with `codec` and returns the record the store keeps for it.
async fn stored_record<C: Codec>(codec: C) -> Result<Record, Box<dyn Error>> {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(NOW)));
    let mut engine = Engine::<App>::new(store.clone()).with_codec(codec);
    engine.set_clock(clock);

    let mut state = engine.open(None).await?;
    let app = state.data_mut();
    app.user_id = 4_211_337;
    app.name = "Ada Lovelace".into();
    app.role = Role::Admin;
    app.tags = vec!["beta".into(), "dark-mode".into()];
    app.last_seen = NOW;
    let CookieOp::Set { value: token, .. } = engine.save(state).await? else {
        return Err("a changed session is stored and gets a cookie".into());
    };
    let key = SessionId::new(token)?.store_key("app");
    store.load(&key, Timestamp::from_millis(NOW)).await?.ok_or_else(|| "the record was stored".into())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let postcard = stored_record(Postcard).await?;
    let json = stored_record(Json).await?;

    println!("A 5-field session (user id, name, role, 2 tags, timestamp), sizes in bytes:");
    println!();
    println!("{:<12} {:>9} {:>6}", "field", "postcard", "json");
    for (key, entry) in &postcard.entries {
        let json_len = json.get(key).map_or(0, |e| e.value.len());
        println!("{key:<12} {:>9} {json_len:>6}", entry.value.len());
    }
    let values = |r: &Record| r.entries.iter().map(|(_, e)| e.value.len()).sum::<usize>();
    println!("{:<12} {:>9} {:>6}", "all values", values(&postcard), values(&json));
    println!("{:<12} {:>9} {:>6}", "record", postcard.to_bytes().len(), json.to_bytes().len());
    println!();
    println!("`record` is `Record::to_bytes()`: values plus keys, per-field expiry and metadata,");
    println!("as the cookie, file and memcached stores keep it.");
    Ok(())
}
