use serde::Deserialize;
use session_kit::Session;

#[derive(Default, Deserialize)]
struct Cart {
    items: Vec<u32>,
}

#[derive(Session)]
struct App {
    user_id: Option<u64>,
    cart: Cart,
}

fn main() {
    // The stub impl emitted beside the errors: using the type as a session adds no error.
    fn is_session<T: session_kit::SessionData>() {}
    is_session::<App>();
}
