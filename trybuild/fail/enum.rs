use session_kit::Session;

#[derive(Session)]
enum App {
    Anonymous,
    User { id: u64 },
}

fn main() {
    // The stub impl emitted beside the errors: using the type as a session adds no error.
    fn is_session<T: session_kit::SessionData>() {}
    is_session::<App>();
}
