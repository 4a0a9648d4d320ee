//! `name` sets `NAME`; without it, the snake_case struct name is used.

use session_kit::{Session, SessionData};

#[derive(Session)]
#[session(name = "__Host-sid.v2")]
struct Named {
    user_id: Option<u64>,
}

#[derive(Session)]
struct HTTPAuthState {
    user_id: Option<u64>,
}

fn main() {
    assert_eq!(Named::NAME, "__Host-sid.v2");
    assert_eq!(HTTPAuthState::NAME, "http_auth_state");
}
