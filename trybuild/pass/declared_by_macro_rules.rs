//! Types passed through `macro_rules!` arrive in invisible groups; `#[flash]` still sees `Option`.

use session_kit::{Session, SessionData};

macro_rules! session {
    ($name:ident { $($(#[$attr:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Session)]
        struct $name { $($(#[$attr])* $field: $ty),* }
    };
}

session!(App {
    #[flash]
    notice: Option<String>,
    #[session(ttl = "5m")]
    code: Option<u32>,
});

fn main() {
    assert_eq!(App::FIELDS.len(), 2);
    let app = App::fresh();
    assert!(app.notice.is_none() && app.code.is_none());
}
