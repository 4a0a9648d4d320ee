use session_kit::Session;

#[derive(Session)]
struct App {
    // A float has no stable key (NaN, -0.0): not an owner.
    #[session(owner)]
    user_id: Option<f64>,
}

fn main() {}
