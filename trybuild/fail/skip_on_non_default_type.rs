use session_kit::Session;

struct Connection;

#[derive(Session)]
struct App {
    user_id: Option<u64>,
    #[session(skip)]
    connection: Connection,
}

fn main() {
    // The stub impl emitted beside the errors: using the type as a session adds no error.
    fn is_session<T: session_kit::SessionData>() {}
    is_session::<App>();
}
