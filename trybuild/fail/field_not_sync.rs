use std::cell::Cell;

use session_kit::Session;

// Sessions are shared across threads by the server: every field must be `Send + Sync`.
#[derive(Session)]
struct App {
    visits: Cell<u32>,
}

fn main() {}
