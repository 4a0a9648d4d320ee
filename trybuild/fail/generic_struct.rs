use session_kit::Session;

#[derive(Session)]
struct App<T> {
    user: Option<T>,
}

fn main() {
    // The stub impl emitted beside the error: using the type as a session adds no error.
    fn is_session<T: session_kit::SessionData>() {}
    is_session::<App<u64>>();
}
