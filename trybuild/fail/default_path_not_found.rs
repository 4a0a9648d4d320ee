use serde::{Deserialize, Serialize};
use session_kit::Session;

#[derive(Serialize, Deserialize)]
enum Theme {
    Light,
    Dark,
}

#[derive(Session)]
struct App {
    #[session(default = "default_theme")]
    theme: Theme,
}

fn main() {
    // The stub impl emitted beside the errors: using the type as a session adds no error.
    fn is_session<T: session_kit::SessionData>() {}
    is_session::<App>();
}
