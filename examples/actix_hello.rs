//! The smallest session-kit program on actix-web: `/set?name=X` remembers a name, `/` greets
//! it. The same program as the `hello` example, which runs on axum.
//!
//! The session lives in a sealed cookie, so the server keeps no state at all. The key comes
//! from `SESSION_KEY` (base64 of at least 32 random bytes, e.g. `openssl rand -base64 64`);
//! without it a key is generated and sessions do not survive a restart.
//!
//! ```text
//! cargo run --example actix_hello --features actix
//! curl -c jar -b jar 'http://127.0.0.1:3000/set?name=Ada'
//! curl -c jar -b jar http://127.0.0.1:3000/
//! ```

mod actix_common;

use actix_web::{web, App, HttpServer};
use serde::Deserialize;
use session_kit::actix::{Session, SessionMiddleware};
use session_kit::{CookieStore, Key, KeyRing};

#[derive(session_kit::Session)]
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

async fn set(mut session: Session<Hello>, q: web::Query<SetName>) -> String {
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

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // Built once: every worker's app shares the key (and, with a server-side store, the store).
    let sessions = SessionMiddleware::<Hello>::new(CookieStore::sealed(KeyRing::new(key())));
    HttpServer::new(move || {
        App::new().route("/", web::get().to(greet)).route("/set", web::get().to(set)).wrap(sessions.clone())
    })
    .listen(actix_common::listener())?
    .run()
    .await
}
