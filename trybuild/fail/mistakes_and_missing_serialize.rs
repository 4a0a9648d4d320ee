use serde::Deserialize;
use session_kit::Session;

#[derive(Default, Deserialize)]
struct Cart {
    items: Vec<u32>,
}

// An attribute mistake and a type mistake: both reported in the same build.
#[derive(Session)]
struct App {
    #[session(ttl = "0s")]
    otp: Option<String>,
    cart: Cart,
}

fn main() {
    // The stub impl emitted beside the errors: using the type as a session adds no error.
    fn is_session<T: session_kit::SessionData>() {}
    is_session::<App>();
}
