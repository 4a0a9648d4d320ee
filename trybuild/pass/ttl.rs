//! `ttl` takes humane durations and stores whole milliseconds.

use std::time::Duration;

use session_kit::{Session, SessionData};

#[derive(Session)]
struct Ttls {
    #[session(ttl = "30s")]
    a: Option<u8>,
    #[session(ttl = "10m")]
    b: Option<u8>,
    #[session(ttl = "12h")]
    c: Option<u8>,
    #[session(ttl = "7d")]
    d: Option<u8>,
    #[session(ttl = "1h 30m")]
    e: Option<u8>,
    #[session(ttl = "250ms")]
    f: Option<u8>,
    g: Option<u8>,
}

fn main() {
    let ttls: Vec<Option<Duration>> = Ttls::FIELDS.iter().map(|f| f.ttl).collect();
    let secs = |s| Some(Duration::from_secs(s));
    assert_eq!(
        ttls,
        [secs(30), secs(600), secs(12 * 3600), secs(7 * 86400), secs(5400), Some(Duration::from_millis(250)), None]
    );
}
