//! `rename` sets the storage key; keys may swap names with other fields without colliding.

use session_kit::{Session, SessionData};

#[derive(Session)]
struct App {
    #[session(rename = "b")]
    a: u8,
    #[session(rename = "a")]
    b: u8,
    #[session(rename = "user.id")]
    user_id: Option<u64>,
    #[session(skip)]
    c: u8,
    // A stored key may equal a skipped field's name: skipped fields have no key.
    #[session(rename = "c")]
    d: u8,
}

fn main() {
    let keys: Vec<&str> = App::FIELDS.iter().map(|f| f.key).collect();
    assert_eq!(keys, ["b", "a", "user.id", "c"]);
}
