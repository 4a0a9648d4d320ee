//! No attributes at all: keys are field names (raw identifiers unprefixed), the name is the
//! struct name in snake_case, and the struct itself needs no `Default`.

use session_kit::integration::FieldSpec;
use session_kit::{Session, SessionData};

#[derive(Session)]
struct AppSession {
    user_id: Option<u64>,
    r#type: String,
    visits: u32,
}

fn main() {
    assert_eq!(AppSession::NAME, "app_session");
    let keys: Vec<&str> = AppSession::FIELDS.iter().map(|f| f.key).collect();
    assert_eq!(keys, ["user_id", "type", "visits"]);
    assert!(AppSession::FIELDS.iter().all(|f| *f == FieldSpec::plain(f.key)));
    let s = AppSession::fresh();
    assert_eq!((s.user_id, s.r#type.as_str(), s.visits), (None, "", 0));
}
