//! `crate = ".."` for crates that re-export session-kit under another path.

mod my_framework {
    pub mod sessions {
        pub use session_kit::*;
    }
}

use my_framework::sessions::{Session, SessionData};

#[derive(Session)]
#[session(crate = "my_framework::sessions", name = "fw")]
struct App {
    user_id: Option<u64>,
}

#[derive(Session)]
#[session(crate = "::session_kit")]
struct Absolute {
    user_id: Option<u64>,
}

fn main() {
    assert_eq!(App::NAME, "fw");
    assert_eq!(Absolute::FIELDS.len(), 1);
}
