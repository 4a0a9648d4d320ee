use session_kit::Session;

fn guest() -> String {
    "guest".into()
}

#[derive(Session)]
struct App {
    #[session(default = "guest")]
    user_id: u64,
}

fn main() {
    // The stub impl emitted beside the errors: using the type as a session adds no error.
    fn is_session<T: session_kit::SessionData>() {}
    is_session::<App>();
}
