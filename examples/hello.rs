//! The smallest session-kit program: `/set?name=X` remembers a name, `/` greets it.
//!
//! The session lives in a sealed cookie, so the server keeps no state at all. The key comes
//! from `SESSION_KEY` (base64 of at least 32 random bytes, e.g. `openssl rand -base64 64`);
//! without it a key is generated and sessions do not survive a restart.
//!
//! ```text
//! cargo run --example hello
//! curl -c jar -b jar 'http://127.0.0.1:3000/set?name=Ada'
//! curl -c jar -b jar http://127.0.0.1:3000/
//! ```

mod common;

use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use session_kit::{CookieStore, Key, KeyRing, Session, SessionLayer};

#[derive(Session)]
#[session(name = "hello")]
struct Hello {
    name: Option<String>,
}

#[derive(Deserialize)]
struct SetName {
    name: String,
}

async fn greet(session: Session<Hello>) -> String {
    match &session.name {
        Some(name) => format!("Name: {name}"),
        None => "No name yet: visit /set?name=...".to_owned(),
    }
}

async fn set(mut session: Session<Hello>, Query(q): Query<SetName>) -> String {
    session.name = Some(q.name.clone());
    format!("Name set to {}", q.name)
}

fn key() -> Key {
    match std::env::var("SESSION_KEY") {
        Ok(encoded) => Key::from_base64(&encoded).expect("SESSION_KEY must be base64 of at least 32 bytes"),
        Err(_) => {
            eprintln!("warning: SESSION_KEY is not set; using a random key, so sessions end on restart");
            Key::generate()
        }
    }
}

#[tokio::main]
async fn main() {
    let app = Router::new()
        .route("/", get(greet))
        .route("/set", get(set))
        .layer(SessionLayer::<Hello>::new(CookieStore::sealed(KeyRing::new(key()))));
    common::serve(app).await;
}
