//! `#[session(skip)]` fields are not listed, and field indices count stored fields only.

use session_kit::codec::Postcard;
use session_kit::{Session, SessionData};

#[derive(Session)]
struct App {
    #[session(skip)]
    scratch: Vec<u32>,
    user_id: Option<u64>,
    #[session(skip)]
    hits: u32,
}

fn main() {
    assert_eq!(App::FIELDS.len(), 1);
    assert_eq!(App::FIELDS[0].key, "user_id");
    let mut app = App::fresh();
    app.user_id = Some(3);
    app.scratch.push(1);
    let mut out = Vec::new();
    app.encode_field(0, &Postcard, &mut out).unwrap();
    assert_eq!(out, [1, 3]);
    app.reset_field(0);
    assert_eq!((app.user_id, app.hits, app.scratch), (None, 0, vec![1]));
}
