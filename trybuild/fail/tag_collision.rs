use session_kit::Session;

// "pw" and "tp" hash to the same 16-bit cookie tag.
#[derive(Session)]
struct App {
    pw: Option<String>,
    tp: Option<String>,
}

fn main() {
    // The stub impl emitted beside the errors: using the type as a session adds no error.
    fn is_session<T: session_kit::SessionData>() {}
    is_session::<App>();
}
