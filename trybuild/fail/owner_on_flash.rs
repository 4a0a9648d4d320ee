use session_kit::Session;

#[derive(Session)]
struct App {
    #[flash]
    #[session(owner)]
    user_id: Option<u64>,
}

fn main() {
    // The stub impl emitted beside the errors: using the type as a session adds no error.
    fn is_session<T: session_kit::SessionData>() {}
    is_session::<App>();
}
