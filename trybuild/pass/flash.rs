//! `#[flash]` and `#[session(flash)]` on every accepted spelling of `Option` and `Vec`.

use session_kit::integration::FieldKind;
use session_kit::{Session, SessionData};

#[derive(Session)]
struct Flashes {
    #[flash]
    notice: Option<String>,
    #[session(flash)]
    alerts: Vec<String>,
    #[flash]
    qualified: std::option::Option<u8>,
    #[flash]
    #[session(rename = "e", ttl = "1m")]
    errors: ::std::vec::Vec<String>,
}

fn main() {
    assert!(Flashes::FIELDS.iter().all(|f| f.kind == FieldKind::Flash));
    assert_eq!(Flashes::FIELDS[3].key, "e");
    assert_eq!(Flashes::NAME, "flashes");
}
