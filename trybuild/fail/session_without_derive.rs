use session_kit::Session;

// No `#[derive(Session)]`: a plain struct is not a session type.
struct NotDerived {
    user_id: Option<u64>,
}

async fn handler(session: Session<NotDerived>) -> Option<u64> {
    session.user_id
}

fn main() {
    let _ = NotDerived { user_id: None };
    let _ = handler;
}
